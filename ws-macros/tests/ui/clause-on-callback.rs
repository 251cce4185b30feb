use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    #[frame(Text(_))]
    fn open(&mut self) -> Reply {
        Reply::ok()
    }
}

fn main() {}
