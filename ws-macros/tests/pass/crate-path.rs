//! `crate = path`: generated code reaches lariat through a re-export.

mod framework {
    pub use lariat::*;
}

use framework::prelude::*;

#[derive(Default)]
struct Echo;

#[framework::websocket_handler(crate = crate::framework)]
impl Echo {
    #[frame(Text(text))]
    fn echo(&mut self, text: Text) -> Reply {
        Reply::text(text)
    }
}

fn main() {
    let _ = Echo::handler();
}
