use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Text("/quit"))]
    fn quit(&mut self) -> Reply {
        Reply::close(close!(
            4000,
            "this reason goes on and on about why the connection is closing, far past the one hundred and twenty-three bytes a close frame can carry"
        ))
    }
}

fn main() {}
