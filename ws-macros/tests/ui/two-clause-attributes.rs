use lariat::prelude::*;

#[derive(Default)]
struct Echo;

#[websocket_handler]
impl Echo {
    #[frame(Text(_))]
    #[frame(Binary(_))]
    fn refuse(&mut self) -> Reply {
        Reply::shutdown()
    }
}

fn main() {}
