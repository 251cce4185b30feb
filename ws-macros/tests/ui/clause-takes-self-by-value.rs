use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    #[frame(Text(text))]
    fn echo(self, text: Text) -> Reply {
        Reply::text(text)
    }
}

fn main() {}
