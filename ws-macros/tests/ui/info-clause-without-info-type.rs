use lariat::prelude::*;

enum Notice {
    Tick,
}

#[derive(Default)]
struct Clock;

#[websocket_handler]
impl Clock {
    #[info(Notice::Tick)]
    fn tick(&mut self) -> Reply {
        Reply::ok()
    }
}

fn main() {
    let _ = Notice::Tick;
}
