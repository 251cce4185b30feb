use lariat::prelude::*;

struct Echo;

#[websocket_handler]
impl Echo {
    async fn init(&self, _req: &Request) -> Init<Self> {
        Init::upgrade(Echo)
    }
}

fn main() {}
