use lariat::prelude::*;

enum Notice {
    Tick,
}

#[derive(Default)]
struct Clock;

#[websocket_handler(info = Notice)]
impl Clock {
    #[frame(Text(_))]
    fn ignore(&mut self) -> Reply {
        Reply::ok()
    }
}

fn main() {
    let _ = Notice::Tick;
}
