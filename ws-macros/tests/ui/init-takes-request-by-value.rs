use lariat::prelude::*;

struct Echo;

#[websocket_handler]
impl Echo {
    fn init(req: Request) -> Init<Self> {
        let _ = req;
        Init::upgrade(Echo)
    }
}

fn main() {}
