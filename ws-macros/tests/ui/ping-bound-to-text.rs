use lariat::prelude::*;

#[derive(Default)]
struct Pinger;

#[websocket_handler]
impl Pinger {
    #[frame(Ping(payload))]
    fn ping(&mut self, payload: Text) -> Reply {
        Reply::text(payload)
    }
}

fn main() {}
