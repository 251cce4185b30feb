//! `init`, `open` and `terminate` in every accepted shape: sync and async,
//! with and without their optional parameters, `-> ()` spelled out.

use lariat::prelude::*;

struct Sync;

#[websocket_handler]
impl Sync {
    fn init() -> Init<Self> {
        Init::upgrade(Sync)
    }

    fn open(&mut self) -> Reply {
        Reply::text("hi")
    }

    fn terminate(&mut self) -> () {}
}

struct Async {
    path: String,
}

#[websocket_handler]
impl Async {
    async fn init(request: &Request) -> Init<Self> {
        Init::upgrade(Async { path: request.path().to_owned() })
    }

    async fn open(&mut self, context: &mut Ctx<lariat::Never>) -> Reply {
        let _ = context.addr();
        Reply::text(self.path.clone())
    }

    async fn terminate(&mut self, why: &Terminate) {
        let _ = why;
    }
}

/// Only a terminate: `Default` starts it.
#[derive(Default)]
struct Quiet;

#[websocket_handler]
impl Quiet {
    fn terminate(&self, _reason: &Terminate) {}
}

fn main() {
    let _ = (Sync::handler(), Async::handler(), Quiet::handler());
}
