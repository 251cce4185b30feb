use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler(info)]
impl Echo {
    #[frame(Text(text))]
    fn echo(&mut self, text: Text) -> Reply {
        Reply::text(text)
    }
}

fn main() {}
