//! The chat handler of DESIGN §2, exactly as written there, on the
//! runtime's `Topic`. The server is built in `serve`, which is not run: a
//! pass case runs `main`.

use lariat::prelude::*;

/// Messages the rest of the app sends to one connection (Cowboy's Erlang messages).
#[derive(Clone)]
pub enum Notice { Said { from: String, text: String }, Tick, Kick(CloseCode) }

pub struct Chat { nick: String, room: Topic<Notice> }

#[websocket_handler(info = Notice)]
impl Chat {
    /// Cowboy init/2: runs on the upgrade request. Upgrade or refuse with HTTP.
    async fn init(req: &Request) -> Init<Self> {
        let Some(nick) = req.query("nick") else {
            return Init::reject(Response::new(400).body("nick is required"));
        };
        Init::upgrade(Chat { nick: nick.into(), room: req.state::<Topic<Notice>>().clone() })
            .idle_timeout(Duration::from_secs(60))
            .compress(true)
    }

    /// Cowboy websocket_init/1: the connection is a WebSocket now.
    async fn open(&mut self, ctx: &mut Ctx<Notice>) -> Reply {
        self.room.subscribe(ctx.addr());
        ctx.send_after(Duration::from_secs(30), Notice::Tick);
        Reply::text(format!("welcome {}", self.nick))
    }

    // websocket_handle clauses, tried top to bottom like Erlang function clauses.
    #[frame(Text("/quit"))]
    fn quit(&mut self) -> Reply { Reply::close(close!(1000, "bye")) }

    #[frame(Text(cmd) if cmd.starts_with("/nick "))]
    fn rename(&mut self, cmd: &str) -> Reply { self.nick = cmd[6..].into(); Reply::ok() }

    #[frame(Text(text))]
    fn say(&mut self, text: String) -> Reply {
        self.room.publish(Notice::Said { from: self.nick.clone(), text });
        Reply::ok().hibernate()
    }

    // websocket_info clauses: one per variant, checked for exhaustiveness.
    #[info(Notice::Said { from, text })]
    fn relay(&mut self, from: String, text: String) -> Reply {
        Reply::text(format!("{from}: {text}"))
    }

    #[info(Notice::Tick)]
    fn tick(&mut self, ctx: &mut Ctx<Notice>) -> Reply {
        ctx.send_after(Duration::from_secs(30), Notice::Tick);
        Reply::frame(Frame::ping(b""))
    }

    #[info(Notice::Kick(code))]
    fn kick(&mut self, code: CloseCode) -> Reply { Reply::close(code) }

    /// Cowboy terminate/3: always called once, with the reason.
    fn terminate(&mut self, reason: &Terminate) { tracing::info!(?reason, "left"); }
}

#[allow(dead_code)]
async fn serve() -> std::io::Result<()> {
    Server::bind("127.0.0.1:8080").await?
        .state(Topic::<Notice>::new())
        .route("/chat", Chat::handler())
        .serve().await
}

fn main() {}
