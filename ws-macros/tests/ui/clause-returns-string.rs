use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    #[frame(Text(text))]
    fn echo(&mut self, text: String) -> String {
        text
    }
}

fn main() {}
