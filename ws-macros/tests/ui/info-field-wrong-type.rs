use lariat::prelude::*;

enum Notice {
    Kick(CloseCode),
}

#[derive(Default)]
struct Room;

#[websocket_handler(info = Notice)]
impl Room {
    #[info(Notice::Kick(code))]
    fn kick(&mut self, code: u16) -> Reply {
        Reply::text(code.to_string())
    }
}

fn main() {}
