use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    #[frame(Txt(text))]
    fn echo(&mut self, text: Text) -> Reply {
        Reply::text(text)
    }
}

fn main() {}
