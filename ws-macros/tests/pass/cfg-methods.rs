//! `#[cfg]` on a method carries over to what is generated for it.

use lariat::prelude::*;

enum Msg {
    Tick,
}

#[derive(Default)]
struct Configured;

#[websocket_handler(info = Msg)]
impl Configured {
    // Two `init`s under complementary cfgs: one is generated, per build.
    #[cfg(debug_assertions)]
    fn init() -> Init<Self> {
        Init::upgrade(Configured)
    }

    #[cfg(not(debug_assertions))]
    async fn init(_req: &Request) -> Init<Self> {
        Init::upgrade(Configured)
    }

    // Compiled out: the generated `match` has no arm for it.
    #[cfg(any())]
    #[frame(Text(text))]
    fn gone(&mut self, text: NoSuchType) -> Reply {
        Reply::text(text)
    }

    // A catch-all under `#[cfg]` may be compiled out, so the clause below
    // it is not unreachable.
    #[cfg(any())]
    #[frame(Text(_))]
    fn also_gone(&mut self) -> Reply {
        Reply::ok()
    }

    #[cfg(all())]
    #[frame(Text(text))]
    fn kept(&mut self, text: String) -> Reply {
        Reply::text(text)
    }

    #[cfg(all())]
    #[info(Msg::Tick)]
    fn tick(&mut self) -> Reply {
        Reply::ok()
    }

    #[cfg(any())]
    fn open(&mut self) -> Reply {
        Reply::text(NoSuchValue)
    }
}

/// Only a cfg'd-out `init`: `Default` starts it.
#[derive(Default)]
struct MaybeInit;

#[websocket_handler]
impl MaybeInit {
    #[cfg(any())]
    fn init() -> Init<Self> {
        unreachable!()
    }
}

fn main() {
    let _ = (Configured::handler(), MaybeInit::handler());
}
