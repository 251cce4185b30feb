use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Text(text) if)]
    fn say(&mut self, text: String) -> Reply {
        Reply::text(text)
    }
}

fn main() {}
