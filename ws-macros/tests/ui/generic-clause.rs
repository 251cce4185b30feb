use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    #[frame(Text(text))]
    fn echo<T: From<Text> + Into<Text>>(&mut self, text: T) -> Reply {
        Reply::text(text)
    }
}

fn main() {}
