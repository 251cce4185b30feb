use lariat::prelude::*;

struct Echo;

#[websocket_handler]
impl Echo {
    async fn init(_req: &Request) -> Self {
        Echo
    }
}

fn main() {}
