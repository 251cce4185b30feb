use lariat::prelude::*;

#[derive(Default)]
struct Greeter;

#[websocket_handler]
impl Greeter {
    async fn open(&mut self) -> String {
        "welcome".to_owned()
    }
}

fn main() {}
