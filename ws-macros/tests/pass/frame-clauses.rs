//! Every form of `#[frame]` clause: each kind, names, `_`, `..`, literals,
//! guards, qualified kinds, every parameter type a payload converts to,
//! ignored `_name` bindings, `&self` and `self`-less clauses, `ctx`.

use lariat::prelude::*;
use lariat::ControlPayload;

#[derive(Default)]
struct Everything {
    log: Vec<String>,
    muted: bool,
}

#[websocket_handler]
impl Everything {
    #[frame(Text("/mute"))]
    fn mute(&mut self) -> Reply {
        self.muted = true;
        Reply::ok()
    }

    #[frame(Text(_) if self.muted)]
    fn muted(&self) -> Reply {
        Reply::ok()
    }

    #[frame(Text(cmd) if cmd.starts_with('/') && cmd.len() > 1)]
    fn command(&mut self, cmd: &str) -> Reply {
        self.log.push(cmd[1..].to_owned());
        Reply::ok()
    }

    #[frame(Frame::Text(line) if line.ends_with('!'))]
    fn shout(line: Text) -> Reply {
        Reply::text(line)
    }

    #[frame(Text(_ignored) if false)]
    fn never() -> Reply {
        Reply::ok()
    }

    #[frame(Text(text))]
    fn say(&mut self, text: String, ctx: &mut Ctx<lariat::Never>) -> Reply {
        let _ = ctx.meta();
        self.log.push(text);
        Reply::ok()
    }

    #[frame(Binary(b"\x00"))]
    fn zero(&mut self) -> Reply {
        Reply::binary(&b"\x00"[..])
    }

    #[frame(Binary(data) if data.len() > 1024)]
    fn big(&mut self, data: &[u8]) -> Reply {
        Reply::text(data.len().to_string())
    }

    #[frame(Binary(data) if data.first() == Some(&1))]
    fn owned(&mut self, data: Vec<u8>) -> Reply {
        Reply::binary(data)
    }

    #[frame(lariat::Frame::Binary(data))]
    fn shared(&mut self, data: Bytes, _ctx: &Ctx<lariat::Never>) -> Reply {
        Reply::binary(data)
    }

    #[frame(Ping(b"hello"))]
    fn hello(&mut self) -> Reply {
        Reply::text("hello yourself")
    }

    #[frame(Ping(payload) if payload.is_empty())]
    fn empty_ping(&mut self, payload: ControlPayload) -> Reply {
        Reply::binary(payload.into_bytes())
    }

    #[frame(Ping(payload) if payload.len() == 1)]
    fn byte_ping(&mut self, payload: Vec<u8>) -> Reply {
        Reply::binary(payload)
    }

    #[frame(Ping(payload))]
    fn any_ping(&mut self, payload: &[u8]) -> Reply {
        Reply::binary(payload.to_vec())
    }

    #[frame(Pong(payload) if !payload.is_empty())]
    fn pong(&mut self, payload: Bytes) -> Reply {
        Reply::binary(payload)
    }

    #[frame(Pong(..))]
    fn any_pong(&mut self) -> Reply {
        Reply::ok()
    }

    /// An ordinary method: no clause attribute, not a callback name.
    fn lines(&self) -> usize {
        self.log.len()
    }
}

fn main() {
    let _ = Everything::handler();
    assert_eq!(Everything::default().lines(), 0);
}
