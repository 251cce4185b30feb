//! Every mistake in the block is reported in one go, each at its own tokens.
use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Close(_))]
    fn closing(&mut self) -> Reply {
        Reply::ok()
    }

    #[frame(Text(text))]
    fn say(&mut self, message: String) -> Reply {
        Reply::text(message)
    }

    #[frame(Binary(data))]
    fn store(&mut self, data: Bytes) -> Vec<u8> {
        data.to_vec()
    }

    fn terminate(&mut self, _reason: &Terminate) -> bool {
        true
    }
}

fn main() {}
