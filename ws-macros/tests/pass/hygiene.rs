//! User names that match what the generated code uses internally (`frame`,
//! `ctx`, `msg`, `req`, `payload`, `reason`) and items named like the
//! handler's trait methods do not collide with it.

use lariat::prelude::*;

enum Msg {
    Frame(Frame),
}

#[derive(Default)]
struct Names;

#[allow(dead_code)]
#[websocket_handler(info = Msg)]
impl Names {
    const GREETING: &'static str = "hi";

    fn init(req: &Request) -> Init<Self> {
        let _ = req;
        Init::upgrade(Names)
    }

    #[frame(Text(frame) if frame == Self::GREETING)]
    fn frame(&mut self, frame: &str, msg: &mut Ctx<Msg>) -> Reply {
        let _ = msg;
        Reply::text(frame.to_owned())
    }

    #[frame(Binary(payload))]
    fn payload(&mut self, payload: Bytes) -> Reply {
        Reply::binary(payload)
    }

    #[info(Msg::Frame(frame))]
    fn msg(&mut self, frame: Frame, ctx: &mut Ctx<Msg>) -> Reply {
        let _ = ctx;
        Reply::frame(frame)
    }

    fn terminate(&mut self, reason: &Terminate) {
        let _ = reason;
    }

    /// Inherent methods named like `Handler`'s own.
    fn handle(&self) {}
    fn info(&self) {}
}

fn main() {
    let _ = Names::handler();
    Names.handle();
    Names.info();
}
