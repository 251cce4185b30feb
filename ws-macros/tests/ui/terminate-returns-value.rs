use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    fn terminate(&mut self, reason: &Terminate) -> bool {
        matches!(reason, Terminate::Normal)
    }
}

fn main() {}
