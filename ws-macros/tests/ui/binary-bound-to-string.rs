use lariat::prelude::*;

#[derive(Default)]
struct Upload;

#[websocket_handler]
impl Upload {
    #[frame(Binary(data))]
    fn store(&mut self, data: String) -> Reply {
        Reply::text(data)
    }
}

fn main() {}
