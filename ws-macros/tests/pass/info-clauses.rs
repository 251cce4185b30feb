//! `#[info]` clauses: variants with and without fields, struct patterns,
//! `..`, or-patterns, guards, a catch-all name and `_`, `ctx`, async.

use lariat::prelude::*;

#[derive(Debug)]
enum Msg {
    Tick,
    Stop,
    Say { from: String, text: String },
    Code(CloseCode),
    Count(u32),
    Other(u8),
}

#[derive(Default)]
struct Listener {
    ticks: u32,
}

#[websocket_handler(info = Msg)]
impl Listener {
    #[info(Msg::Tick)]
    fn tick(&mut self, ctx: &mut Ctx<Msg>) -> Reply {
        self.ticks += 1;
        ctx.send_after(Duration::from_secs(1), Msg::Tick);
        Reply::ok()
    }

    #[info(Msg::Say { from, .. } if from == "admin")]
    async fn admin(&mut self, from: String) -> Reply {
        Reply::text(from)
    }

    #[info(Msg::Say { text, from: _from })]
    fn say(&mut self, text: String) -> Reply {
        Reply::text(text)
    }

    #[info(Msg::Code(_) | Msg::Count(0) if self.ticks > 1000)]
    fn never(&mut self) -> Reply {
        Reply::ok()
    }

    #[info(Msg::Code(code))]
    fn close(&mut self, code: CloseCode) -> Reply {
        Reply::close(code)
    }

    #[info(Msg::Count(n) if n > 10)]
    fn many(&mut self, n: u32) -> Reply {
        Reply::text(n.to_string())
    }

    #[info(msg)]
    fn rest(&mut self, msg: Msg) -> Reply {
        Reply::text(format!("{msg:?}"))
    }
}

/// `_` as the last clause covers the rest.
#[derive(Default)]
struct Stopper;

#[websocket_handler(info = Msg)]
impl Stopper {
    #[info(Msg::Stop)]
    fn stop(&mut self) -> Reply {
        Reply::shutdown()
    }

    #[info(_)]
    fn ignore(&mut self) -> Reply {
        Reply::ok()
    }
}

fn main() {
    let _ = (Listener::handler(), Stopper::handler());
    let _ = Msg::Other(0);
}
