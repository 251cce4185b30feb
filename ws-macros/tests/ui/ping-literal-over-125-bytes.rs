use lariat::prelude::*;

#[derive(Default)]
struct Pinger;

#[websocket_handler]
impl Pinger {
    #[frame(Ping(b"................................................................................................................................"))]
    fn long(&mut self) -> Reply {
        Reply::ok()
    }
}

fn main() {}
