use lariat::prelude::*;

#[derive(Default)]
struct Chat;

#[websocket_handler]
impl Chat {
    #[frame(Binary(data))]
    fn ignore(&mut self) -> Reply {
        Reply::ok()
    }
}

fn main() {}
