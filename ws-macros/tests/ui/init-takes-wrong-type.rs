use lariat::prelude::*;

struct Echo;

#[websocket_handler]
impl Echo {
    fn init(path: &str) -> Init<Self> {
        let _ = path;
        Init::upgrade(Echo)
    }
}

fn main() {}
