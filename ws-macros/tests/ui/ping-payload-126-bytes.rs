use lariat::prelude::*;

#[derive(Default)]
struct Pinger;

#[websocket_handler]
impl Pinger {
    #[frame(Text("ping"))]
    fn ping(&mut self) -> Reply {
        Reply::frame(Frame::ping(&[0; 126]))
    }
}

fn main() {
    // `Frame::ping` checks its length when the call is compiled to code, so
    // the clause must be reachable: a route to the handler makes it so.
    let _ = Pinger::handler();
}
