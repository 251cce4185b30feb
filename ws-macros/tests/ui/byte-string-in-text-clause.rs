use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Text(b"/quit"))]
    fn quit(&mut self) -> Reply {
        Reply::shutdown()
    }
}

fn main() {}
