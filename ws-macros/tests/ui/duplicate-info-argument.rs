use lariat::prelude::*;

enum Notice {
    Tick,
}

#[derive(Default)]
struct Clock;

#[websocket_handler(info = Notice, info = Notice)]
impl Clock {
    #[info(Notice::Tick)]
    fn tick(&mut self) -> Reply {
        Reply::ok()
    }
}

fn main() {}
