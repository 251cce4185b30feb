use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Text("/quit"))]
    fn quit(&mut self) -> Reply {
        Reply::close(close!(1005))
    }
}

fn main() {}
