use lariat::prelude::*;

struct Echo;

#[websocket_handler]
impl Handler for Echo {
    type Info = lariat::Never;

    async fn init(_req: &Request) -> Init<Self> {
        Init::upgrade(Echo)
    }
}

fn main() {}
