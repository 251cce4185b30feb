use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Text(text))]
    fn say(&mut self, text: String) -> Reply {
        Reply::text(text)
    }

    #[frame(Text("/quit"))]
    fn quit(&mut self) -> Reply {
        Reply::close(CloseCode::NORMAL)
    }
}

fn main() {}
