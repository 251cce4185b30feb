use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    #[frame(message)]
    fn echo(&mut self, message: Frame) -> Reply {
        Reply::frame(message)
    }
}

fn main() {}
