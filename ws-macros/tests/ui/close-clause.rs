use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    #[frame(Text(text))]
    fn echo(&mut self, text: Text) -> Reply {
        Reply::text(text)
    }

    #[frame(Close(_))]
    fn closing(&mut self) -> Reply {
        Reply::ok()
    }
}

fn main() {}
