//! Generated code is quiet under strict lint levels in the user's crate.
#![deny(
    warnings,
    unused,
    unused_qualifications,
    unused_results,
    unused_import_braces,
    unreachable_pub,
    rust_2018_idioms,
    missing_debug_implementations,
    trivial_casts,
    trivial_numeric_casts,
    single_use_lifetimes,
    unit_bindings,
    let_underscore_drop
)]
#![forbid(unsafe_code)]

use lariat::prelude::*;

#[derive(Debug)]
enum Msg {
    Tick,
    Say(String),
}

#[derive(Debug, Default)]
struct Strict {
    said: Vec<String>,
}

#[websocket_handler(info = Msg)]
impl Strict {
    async fn open(&mut self, ctx: &mut Ctx<Msg>) -> Reply {
        let _timer = ctx.send_after(Duration::from_secs(1), Msg::Tick);
        Reply::ok()
    }

    #[frame(Text("x"))]
    fn x(&mut self) -> Reply {
        Reply::ok()
    }

    #[frame(Text(text) if !text.is_empty())]
    async fn say(&mut self, text: String) -> Reply {
        self.said.push(text);
        Reply::ok()
    }

    #[frame(Binary(_))]
    fn binary(&mut self) -> Reply {
        Reply::ok()
    }

    #[frame(Ping(payload))]
    fn ping(&mut self, payload: &[u8], ctx: &mut Ctx<Msg>) -> Reply {
        let _ = (payload, ctx);
        Reply::ok()
    }

    #[info(Msg::Tick)]
    fn tick(&mut self) -> Reply {
        Reply::ok()
    }

    #[info(Msg::Say(text))]
    fn relay(&mut self, text: String) -> Reply {
        Reply::text(text)
    }

    async fn terminate(&mut self, reason: &Terminate) {
        let _ = reason;
    }
}

fn main() {
    let _route = Strict::handler();
    let _msg = Msg::Say(String::new());
}
