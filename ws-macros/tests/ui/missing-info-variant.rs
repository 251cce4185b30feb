use lariat::prelude::*;

enum Notice {
    Tick,
    Say(String),
    Kick(CloseCode),
}

#[derive(Default)]
struct Room;

#[websocket_handler(info = Notice)]
impl Room {
    #[info(Notice::Tick)]
    fn tick(&mut self) -> Reply {
        Reply::ok()
    }

    #[info(Notice::Say(text))]
    fn say(&mut self, text: String) -> Reply {
        Reply::text(text)
    }
}

fn main() {}
