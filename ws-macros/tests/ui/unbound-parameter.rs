use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Text(text))]
    fn say(&mut self, message: String) -> Reply {
        Reply::text(message)
    }
}

fn main() {}
