use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    fn terminate(&mut self, reason: Terminate) {
        let _ = reason;
    }
}

fn main() {}
