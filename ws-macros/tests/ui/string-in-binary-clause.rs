use lariat::prelude::*;

#[derive(Default)]
struct Device;

#[websocket_handler]
impl Device {
    #[frame(Binary("reset"))]
    fn reset(&mut self) -> Reply {
        Reply::ok()
    }
}

fn main() {}
