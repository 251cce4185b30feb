use lariat::prelude::*;

enum Notice {
    Tick,
    Stop,
}

#[derive(Default)]
struct Clock;

#[websocket_handler(info = Notice)]
impl Clock {
    #[info(_)]
    fn anything(&mut self) -> Reply {
        Reply::ok()
    }

    #[info(Notice::Stop)]
    fn stop(&mut self) -> Reply {
        Reply::shutdown()
    }
}

fn main() {
    let _ = Notice::Tick;
}
