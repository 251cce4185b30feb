//! A macro-generated handler on the real driver (`lariat::testing::Session`,
//! paused time): clauses run in source order, guards and literals select,
//! info messages dispatch by pattern, `ctx` timers fire, sync and async
//! clauses behave alike, unmatched data closes with 1003, and `terminate`
//! runs once with the reason.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

use std::future::Future;

use lariat::prelude::*;
use lariat::testing::{Session, TestRequest};

/// Under paused time a stuck await jumps the clock to this deadline at
/// once, so a bug fails fast instead of hanging.
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(3600), future).await {
        Ok(output) => output,
        Err(_) => panic!("nothing happened for an hour (virtual) waiting for {what}"),
    }
}

#[derive(Debug)]
enum Cmd {
    Say(String),
    Later { ms: u64, text: String },
    Count(u32),
    Stop,
}

/// Every feature of the macro, each recording what ran.
#[derive(Debug)]
struct Probe {
    name: String,
    loud: bool,
    ran: Vec<String>,
}

#[websocket_handler(info = Cmd)]
impl Probe {
    async fn init(req: &Request) -> Init<Self> {
        let Some(name) = req.query("name") else {
            return Init::reject(Response::new(400).body("name is required"));
        };
        Init::upgrade(Probe {
            name: name.into_owned(),
            loud: false,
            ran: vec!["init".to_owned()],
        })
    }

    fn open(&mut self, ctx: &mut Ctx<Cmd>) -> Reply {
        self.ran.push("open".to_owned());
        ctx.send_after(Duration::from_secs(5), Cmd::Say("five seconds".to_owned()));
        Reply::text(format!("hello {}", self.name))
    }

    #[frame(Text("/quit"))]
    fn quit(&mut self) -> Reply {
        self.ran.push("quit".to_owned());
        Reply::close(close!(4000, "bye"))
    }

    #[frame(Text("/loud"))]
    fn loud(&mut self) -> Reply {
        self.ran.push("loud".to_owned());
        self.loud = true;
        Reply::text("ok")
    }

    #[frame(Text(cmd) if cmd.starts_with("/later "))]
    async fn later(&mut self, cmd: &str, ctx: &mut Ctx<Cmd>) -> Reply {
        self.ran.push("later".to_owned());
        tokio::task::yield_now().await;
        ctx.send_after(Duration::from_secs(1), Cmd::Say(cmd[7..].to_owned()));
        Reply::ok()
    }

    #[frame(Text(text) if self.loud)]
    fn shout(&mut self, text: String) -> Reply {
        self.ran.push("shout".to_owned());
        Reply::text(text.to_uppercase())
    }

    #[frame(Text(text))]
    async fn echo(&mut self, text: Text) -> Reply {
        self.ran.push("echo".to_owned());
        Reply::text(text)
    }

    #[frame(Binary(b"\x00"))]
    fn zero(&mut self) -> Reply {
        self.ran.push("zero".to_owned());
        Reply::binary(vec![0xff])
    }

    #[frame(Binary(data) if data.len() > 3)]
    fn long(&mut self, data: &[u8]) -> Reply {
        self.ran.push("long".to_owned());
        Reply::text(data.len().to_string())
    }

    #[frame(Ping(payload))]
    fn ping(&mut self, payload: Bytes) -> Reply {
        self.ran.push(format!("ping {payload:?}"));
        Reply::ok()
    }

    #[info(Cmd::Say(text))]
    fn say(&mut self, text: String) -> Reply {
        self.ran.push("say".to_owned());
        Reply::text(text)
    }

    #[info(Cmd::Later { ms, text })]
    async fn later_info(&mut self, text: String, ms: u64, ctx: &mut Ctx<Cmd>) -> Reply {
        self.ran.push("later_info".to_owned());
        ctx.send_after(Duration::from_millis(ms), Cmd::Say(text));
        Reply::ok()
    }

    #[info(Cmd::Count(n) if n > 100)]
    fn many(&mut self, n: u32) -> Reply {
        Reply::text(format!("many: {n}"))
    }

    #[info(Cmd::Count(n))]
    fn few(&mut self, n: u32) -> Reply {
        Reply::text(format!("few: {n}"))
    }

    #[info(Cmd::Stop)]
    fn stop(&mut self) -> Reply {
        Reply::shutdown()
    }

    async fn terminate(&mut self, reason: &Terminate) {
        self.ran.push(format!("terminate {reason:?}"));
    }

    /// An ordinary method, still callable.
    fn ran(&self) -> Vec<&str> {
        self.ran.iter().map(String::as_str).collect()
    }
}

async fn connect(target: &str) -> Session<Probe> {
    let mut session = within(
        "connect",
        Session::<Probe>::connect(TestRequest::get(target).build()),
    )
    .await
    .expect("init upgrades");
    expect(&mut session, Frame::text("hello ann")).await;
    session
}

async fn expect<H: Handler>(session: &mut Session<H>, frame: Frame) {
    let got = within("a frame", session.recv()).await;
    assert_eq!(got, Some(frame));
}

fn close_code(frame: Option<Frame>) -> u16 {
    match frame {
        Some(Frame::Close(Some(close))) => close.code().as_u16(),
        other => panic!("expected a close frame with a code, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn init_can_refuse_with_http() {
    let refused = within(
        "connect",
        Session::<Probe>::connect(TestRequest::get("/x").build()),
    )
    .await
    .expect_err("no name, no upgrade");
    assert_eq!(refused.status(), 400);
    assert_eq!(&refused.body_bytes()[..], b"name is required");
}

#[tokio::test(start_paused = true)]
async fn clauses_are_tried_top_to_bottom_with_literals_and_guards() {
    let mut session = connect("/x?name=ann").await;
    // The catch-all runs: the guard of `shout` is false.
    session.send(Frame::text("hi")).await;
    expect(&mut session, Frame::text("hi")).await;
    // A literal above the guarded clause.
    session.send(Frame::text("/loud")).await;
    expect(&mut session, Frame::text("ok")).await;
    // Now the guard that reads `self` holds, and `shout` wins over `echo`.
    session.send(Frame::text("hi")).await;
    expect(&mut session, Frame::text("HI")).await;
    // Binary: a literal, a guard on the binding.
    session.send(Frame::binary(vec![0])).await;
    expect(&mut session, Frame::binary(vec![0xff])).await;
    session.send(Frame::binary(vec![1, 2, 3, 4])).await;
    expect(&mut session, Frame::text("4")).await;
    // The literal clause ends the connection with its close frame.
    session.send(Frame::text("/quit")).await;
    assert_eq!(close_code(session.recv().await), 4000);
    let (probe, reason) = within("finish", session.finish()).await;
    assert_eq!(
        probe.ran(),
        [
            "init",
            "open",
            "echo",
            "loud",
            "shout",
            "zero",
            "long",
            "quit",
            "terminate Shutdown"
        ]
    );
    assert!(matches!(reason, Terminate::Shutdown), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn a_data_message_no_clause_matches_closes_with_1003() {
    let mut session = connect("/x?name=ann").await;
    // Too short for `long`, not the `zero` literal, and there is no
    // binary catch-all.
    session.send(Frame::binary(vec![1, 2])).await;
    assert_eq!(close_code(session.recv().await), 1003);
    let (probe, reason) = within("finish", session.finish()).await;
    assert_eq!(probe.ran(), ["init", "open", "terminate Shutdown"]);
    assert!(matches!(reason, Terminate::Shutdown), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn pings_reach_their_clause_after_the_runtime_answers() {
    let mut session = connect("/x?name=ann").await;
    session.send(Frame::ping(b"p")).await;
    expect(&mut session, Frame::pong(b"p")).await;
    session.send(Frame::close(CloseCode::NORMAL)).await;
    assert_eq!(close_code(session.recv().await), 1000);
    let (probe, reason) = within("finish", session.finish()).await;
    assert_eq!(probe.ran()[2], "ping b\"p\"");
    assert!(
        matches!(reason, Terminate::RemoteClose { code, .. } if code == CloseCode::NORMAL),
        "{reason:?}"
    );
    assert_eq!(
        probe.ran().len(),
        4,
        "terminate runs once: {:?}",
        probe.ran()
    );
}

#[tokio::test(start_paused = true)]
async fn info_messages_dispatch_by_pattern_and_guard() {
    let mut session = connect("/x?name=ann").await;
    session.info(Cmd::Say("hello".to_owned())).await.unwrap();
    expect(&mut session, Frame::text("hello")).await;
    session.info(Cmd::Count(1000)).await.unwrap();
    expect(&mut session, Frame::text("many: 1000")).await;
    session.info(Cmd::Count(3)).await.unwrap();
    expect(&mut session, Frame::text("few: 3")).await;
    session.info(Cmd::Stop).await.unwrap();
    assert_eq!(close_code(session.recv().await), 1000);
    let (probe, reason) = within("finish", session.finish()).await;
    assert_eq!(probe.ran(), ["init", "open", "say", "terminate Shutdown"]);
    assert!(matches!(reason, Terminate::Shutdown), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn ctx_timers_set_from_clauses_fire_through_info_clauses() {
    let mut session = connect("/x?name=ann").await;
    // From an async frame clause with `ctx`.
    session.send(Frame::text("/later soon")).await;
    session.advance(Duration::from_millis(999)).await;
    session.info(Cmd::Say("first".to_owned())).await.unwrap();
    expect(&mut session, Frame::text("first")).await;
    session.advance(Duration::from_millis(1)).await;
    expect(&mut session, Frame::text("soon")).await;
    // From an async info clause with `ctx`.
    session
        .info(Cmd::Later {
            ms: 250,
            text: "later".to_owned(),
        })
        .await
        .unwrap();
    session.advance(Duration::from_millis(250)).await;
    expect(&mut session, Frame::text("later")).await;
    // And the timer `open` set.
    session.advance(Duration::from_secs(4)).await;
    expect(&mut session, Frame::text("five seconds")).await;
    let (probe, reason) = within("disconnect", session.disconnect()).await;
    assert_eq!(
        probe.ran(),
        [
            "init",
            "open",
            "later",
            "say",
            "say",
            "later_info",
            "say",
            "say",
            "terminate Closed"
        ]
    );
    assert!(matches!(reason, Terminate::Closed), "{reason:?}");
}

/// No `init` (so `Default`), no `#[info]` (so `Info = Never`), no `open`.
#[derive(Debug, Default)]
struct Minimal {
    seen: usize,
}

#[websocket_handler]
impl Minimal {
    #[frame(Text(_))]
    fn count(&mut self) -> Reply {
        self.seen += 1;
        Reply::text(self.seen.to_string())
    }
}

#[tokio::test(start_paused = true)]
async fn a_default_handler_without_info() {
    let mut session = within(
        "connect",
        Session::<Minimal>::connect(TestRequest::get("/").build()),
    )
    .await
    .expect("a Default handler upgrades");
    session.send(Frame::text("a")).await;
    expect(&mut session, Frame::text("1")).await;
    session.send(Frame::text("b")).await;
    expect(&mut session, Frame::text("2")).await;
    session.send(Frame::binary(vec![1])).await;
    assert_eq!(close_code(session.recv().await), 1003);
    let (minimal, _) = within("finish", session.finish()).await;
    assert_eq!(minimal.seen, 2);
}

/// The chat handler of DESIGN §2, on two connections sharing a `Topic`.
mod chat {
    use lariat::prelude::*;

    #[derive(Clone, Debug)]
    pub(crate) enum Notice {
        Said { from: String, text: String },
        Tick,
        Kick(CloseCode),
    }

    #[derive(Debug)]
    pub(crate) struct Chat {
        pub(crate) nick: String,
        room: Topic<Notice>,
    }

    #[websocket_handler(info = Notice)]
    impl Chat {
        async fn init(req: &Request) -> Init<Self> {
            let Some(nick) = req.query("nick") else {
                return Init::reject(Response::new(400).body("nick is required"));
            };
            Init::upgrade(Chat {
                nick: nick.into(),
                room: req.state::<Topic<Notice>>().clone(),
            })
            .idle_timeout(Duration::from_secs(60))
        }

        async fn open(&mut self, ctx: &mut Ctx<Notice>) -> Reply {
            self.room.subscribe(ctx.addr());
            ctx.send_after(Duration::from_secs(30), Notice::Tick);
            Reply::text(format!("welcome {}", self.nick))
        }

        #[frame(Text("/quit"))]
        fn quit(&mut self) -> Reply {
            Reply::close(close!(1000, "bye"))
        }

        #[frame(Text(cmd) if cmd.starts_with("/nick "))]
        fn rename(&mut self, cmd: &str) -> Reply {
            self.nick = cmd[6..].into();
            Reply::ok()
        }

        #[frame(Text(text))]
        fn say(&mut self, text: String) -> Reply {
            self.room.publish(Notice::Said {
                from: self.nick.clone(),
                text,
            });
            Reply::ok().hibernate()
        }

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
        fn kick(&mut self, code: CloseCode) -> Reply {
            Reply::close(code)
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_chat_handler_of_the_design() {
    use chat::{Chat, Notice};

    let room = Topic::<Notice>::new();
    let join = |nick: &str| {
        Session::<Chat>::connect(
            TestRequest::get(format!("/chat?nick={nick}"))
                .state(room.clone())
                .build(),
        )
    };
    let refused = within(
        "connect",
        Session::<Chat>::connect(TestRequest::get("/chat").build()),
    )
    .await
    .expect_err("no nick, no upgrade");
    assert_eq!(refused.status(), 400);

    let mut ann = within("ann joins", join("ann")).await.expect("upgrade");
    expect(&mut ann, Frame::text("welcome ann")).await;
    let mut bob = within("bob joins", join("bob")).await.expect("upgrade");
    expect(&mut bob, Frame::text("welcome bob")).await;

    // `say` publishes to the room; `relay` answers on every connection.
    ann.send(Frame::text("hi")).await;
    expect(&mut ann, Frame::text("ann: hi")).await;
    expect(&mut bob, Frame::text("ann: hi")).await;

    // The guarded clause before the catch-all.
    bob.send(Frame::text("/nick robert")).await;
    bob.send(Frame::text("hello")).await;
    expect(&mut ann, Frame::text("robert: hello")).await;
    expect(&mut bob, Frame::text("robert: hello")).await;

    // The timer `open` set, and the one `tick` sets again.
    ann.advance(Duration::from_secs(30)).await;
    expect(&mut ann, Frame::ping(b"")).await;
    expect(&mut bob, Frame::ping(b"")).await;

    // An info clause binding a field of the message.
    bob.info(Notice::Kick(close!(4001))).await.unwrap();
    assert_eq!(close_code(bob.recv().await), 4001);
    let (bob, _) = within("bob leaves", bob.finish()).await;
    assert_eq!(bob.nick, "robert");

    // The literal clause.
    ann.send(Frame::text("/quit")).await;
    assert_eq!(close_code(ann.recv().await), 1000);
    let (_, reason) = within("ann leaves", ann.finish()).await;
    assert!(matches!(reason, Terminate::Shutdown), "{reason:?}");
}
