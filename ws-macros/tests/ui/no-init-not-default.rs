use lariat::prelude::*;

struct Chat {
    nick: String,
}

#[websocket_handler]
impl Chat {
    #[frame(Text(text))]
    fn say(&mut self, text: String) -> Reply {
        Reply::text(format!("{}: {text}", self.nick))
    }
}

fn main() {}
