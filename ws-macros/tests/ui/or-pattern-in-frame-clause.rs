use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Text("/quit") | Text("/exit"))]
    fn quit(&mut self) -> Reply {
        Reply::shutdown()
    }
}

fn main() {}
