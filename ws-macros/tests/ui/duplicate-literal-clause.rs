use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Text("/quit"))]
    fn quit(&mut self) -> Reply {
        Reply::shutdown()
    }

    #[frame(Text("/quit"))]
    fn leave(&mut self) -> Reply {
        Reply::close(CloseCode::GOING_AWAY)
    }
}

fn main() {}
