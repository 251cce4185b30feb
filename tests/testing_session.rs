//! `lariat::testing::Session`: a handler on the real driver over an
//! in-memory pipe, under paused tokio time, so timers and timeouts fire
//! exactly and at once.
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
use lariat::{Config, Timer};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Under paused time a stuck await makes the clock jump to this (virtual)
/// deadline at once, so a bug fails fast instead of hanging. It is longer
/// than every timer and timeout the handlers below set.
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(3600), future).await {
        Ok(output) => output,
        Err(_) => panic!("nothing happened for an hour (virtual) waiting for {what}"),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Msg {
    Tick(u32),
    Say(String),
}

/// Registered as state: `terminate` reports here (for a rejected `init`).
type Reasons = mpsc::UnboundedSender<String>;

/// Greets `?nick=`, echoes with the nick, counts ticks from two timers (at
/// 1 s and 2 s) and cancels the first on "cancel".
#[derive(Debug)]
struct Pal {
    nick: String,
    heard: Vec<String>,
    ticks: Vec<u32>,
    first_timer: Option<Timer>,
    reasons: Option<Reasons>,
}

impl Handler for Pal {
    type Info = Msg;

    async fn init(req: &Request) -> Init<Self> {
        let reasons = req.try_state::<Reasons>().cloned();
        let Some(nick) = req.query("nick").map(|n| n.into_owned()) else {
            return Init::reject(Response::new(400).body("nick is required"));
        };
        let pal = Pal {
            nick,
            heard: Vec::new(),
            ticks: Vec::new(),
            first_timer: None,
            reasons,
        };
        if pal.nick == "mallory" {
            return Init::reject_with(pal, Response::new(403).body("not you"));
        }
        Init::upgrade(pal).idle_timeout(Duration::from_secs(30))
    }

    async fn open(&mut self, ctx: &mut Ctx<Msg>) -> Reply {
        self.first_timer = Some(ctx.send_after(Duration::from_secs(1), Msg::Tick(1)));
        ctx.send_after(Duration::from_secs(2), Msg::Tick(2));
        Reply::text(format!("hi {}", self.nick))
    }

    async fn handle(&mut self, frame: Frame, ctx: &mut Ctx<Msg>) -> Reply {
        match frame {
            Frame::Text(text) if text == "cancel" => {
                let cancelled = self
                    .first_timer
                    .take()
                    .and_then(|timer| ctx.cancel_timer(timer));
                Reply::text(format!("cancelled {cancelled:?}"))
            }
            Frame::Text(text) if text == "bye" => Reply::close(close!(4000, "see you")),
            Frame::Text(text) => {
                self.heard.push(text.to_string());
                Reply::text(format!("{}: {text}", self.nick))
            }
            other => lariat::unmatched(&other),
        }
    }

    async fn info(&mut self, msg: Msg, _ctx: &mut Ctx<Msg>) -> Reply {
        match msg {
            Msg::Tick(n) => {
                self.ticks.push(n);
                Reply::text(format!("tick {n}"))
            }
            Msg::Say(text) => Reply::text(text),
        }
    }

    async fn terminate(&mut self, reason: &Terminate) {
        if let Some(reasons) = &self.reasons {
            let _ = reasons.send(format!("{reason:?}"));
        }
    }
}

async fn connect(target: &str) -> Session<Pal> {
    within(
        "connect",
        Session::<Pal>::connect(TestRequest::get(target).build()),
    )
    .await
    .expect("init upgrades")
}

async fn recv(session: &mut Session<Pal>) -> Frame {
    within("a frame", session.recv())
        .await
        .expect("the connection ended")
}

async fn expect_text(session: &mut Session<Pal>, expected: &str) {
    assert_eq!(recv(session).await, Frame::text(expected.to_owned()));
}

fn close_code(frame: &Frame) -> u16 {
    match frame {
        Frame::Close(Some(close)) => close.code().as_u16(),
        other => panic!("expected a close frame with a code, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn session_connects_with_the_query_and_exchanges_frames() {
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    session.send(Frame::text("hello")).await;
    expect_text(&mut session, "bob: hello").await;
    session.send(Frame::ping(b"p")).await;
    assert_eq!(recv(&mut session).await, Frame::pong(b"p"));
    session.send(Frame::text("again")).await;
    expect_text(&mut session, "bob: again").await;
    session.send(Frame::close(CloseCode::NORMAL)).await;
    assert_eq!(close_code(&recv(&mut session).await), 1000);
    let (pal, reason) = within("finish", session.finish()).await;
    assert_eq!(pal.heard, ["hello", "again"]);
    assert!(
        matches!(&reason, Terminate::RemoteClose { code, payload }
            if *code == CloseCode::NORMAL && payload.is_empty()),
        "{reason:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn info_messages_reach_the_handler_in_order() {
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    for n in 0..5 {
        session.info(Msg::Say(format!("say {n}"))).await.unwrap();
    }
    session
        .addr()
        .send(Msg::Say("via addr".into()))
        .await
        .unwrap();
    for n in 0..5 {
        expect_text(&mut session, &format!("say {n}")).await;
    }
    expect_text(&mut session, "via addr").await;
    let (pal, reason) = within("disconnect", session.disconnect()).await;
    assert!(pal.ticks.is_empty(), "no time passed: {:?}", pal.ticks);
    assert!(matches!(reason, Terminate::Closed), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn advancing_time_fires_send_after_timers_when_due() {
    let start = Instant::now();
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    session.advance(Duration::from_millis(999)).await;
    session.info(Msg::Say("not yet".into())).await.unwrap();
    expect_text(&mut session, "not yet").await;
    session.advance(Duration::from_millis(1)).await;
    expect_text(&mut session, "tick 1").await;
    assert_eq!(start.elapsed(), Duration::from_secs(1));
    session.advance(Duration::from_secs(1)).await;
    expect_text(&mut session, "tick 2").await;
    assert_eq!(start.elapsed(), Duration::from_secs(2));
    let (pal, _) = within("disconnect", session.disconnect()).await;
    assert_eq!(pal.ticks, [1, 2]);
}

#[tokio::test(start_paused = true)]
async fn cancel_timer_prevents_delivery() {
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    session.send(Frame::text("cancel")).await;
    expect_text(&mut session, "cancelled Some(Tick(1))").await;
    session.advance(Duration::from_secs(2)).await;
    // The next thing after two seconds is the second timer, not the first.
    expect_text(&mut session, "tick 2").await;
    // Cancelling again finds nothing.
    session.send(Frame::text("cancel")).await;
    expect_text(&mut session, "cancelled None").await;
    let (pal, _) = within("disconnect", session.disconnect()).await;
    assert_eq!(pal.ticks, [2]);
}

#[tokio::test(start_paused = true)]
async fn idle_timeout_closes_with_1000_and_terminates_with_timeout() {
    let start = Instant::now();
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    session.advance(Duration::from_secs(2)).await;
    expect_text(&mut session, "tick 1").await;
    expect_text(&mut session, "tick 2").await;
    session.advance(Duration::from_secs(28)).await;
    assert_eq!(close_code(&recv(&mut session).await), 1000);
    assert_eq!(start.elapsed(), Duration::from_secs(30));
    let (pal, reason) = within("finish", session.finish()).await;
    assert_eq!(pal.ticks, [1, 2]);
    assert!(matches!(reason, Terminate::Timeout), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn timers_due_before_the_idle_timeout_are_delivered_before_it() {
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    // One jump over both timers (1 s, 2 s) and the idle timeout (30 s):
    // events come in the order of their deadlines, as they would in real time.
    session.advance(Duration::from_secs(30)).await;
    let mut got = Vec::new();
    while let Some(frame) = within("a frame", session.recv()).await {
        let done = matches!(frame, Frame::Close(_));
        got.push(frame);
        if done {
            break;
        }
    }
    assert_eq!(
        got,
        [
            Frame::text("tick 1"),
            Frame::text("tick 2"),
            Frame::close(CloseCode::NORMAL)
        ]
    );
    let (pal, reason) = within("finish", session.finish()).await;
    assert_eq!(pal.ticks, [1, 2]);
    assert!(matches!(reason, Terminate::Timeout), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn data_from_the_client_restarts_the_idle_timeout() {
    let start = Instant::now();
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    session.send(Frame::text("cancel")).await;
    expect_text(&mut session, "cancelled Some(Tick(1))").await;
    session.advance(Duration::from_secs(20)).await;
    expect_text(&mut session, "tick 2").await;
    session.send(Frame::text("still here")).await;
    expect_text(&mut session, "bob: still here").await;
    // 20 s + 20 s is past the first 30 s, but data came at 20 s.
    session.advance(Duration::from_secs(20)).await;
    session
        .info(Msg::Say("alive at 40 s".into()))
        .await
        .unwrap();
    expect_text(&mut session, "alive at 40 s").await;
    // Info messages are not data from the peer: the close comes at 50 s.
    assert_eq!(close_code(&recv(&mut session).await), 1000);
    assert_eq!(start.elapsed(), Duration::from_secs(50));
    let (_, reason) = within("finish", session.finish()).await;
    assert!(matches!(reason, Terminate::Timeout), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn finish_returns_the_handler_and_the_reason_of_its_own_close() {
    let mut session = connect("/x?nick=ann").await;
    expect_text(&mut session, "hi ann").await;
    session.send(Frame::text("one")).await;
    expect_text(&mut session, "ann: one").await;
    session.send(Frame::text("bye")).await;
    match recv(&mut session).await {
        Frame::Close(Some(close)) => {
            assert_eq!(close.code().as_u16(), 4000);
            assert_eq!(close.reason(), "see you");
        }
        other => panic!("expected close 4000, got {other:?}"),
    }
    let (pal, reason) = within("finish", session.finish()).await;
    assert_eq!(pal.nick, "ann");
    assert_eq!(pal.heard, ["one"]);
    assert!(matches!(reason, Terminate::Shutdown), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn disconnect_terminates_with_closed() {
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    let (pal, reason) = within("disconnect", session.disconnect()).await;
    assert_eq!(pal.nick, "bob");
    assert!(matches!(reason, Terminate::Closed), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn rejected_init_returns_the_http_response() {
    let result = within(
        "connect",
        Session::<Pal>::connect(TestRequest::get("/x").build()),
    )
    .await;
    let Err(response) = result else {
        panic!("init should have rejected a request without a nick");
    };
    assert_eq!(response.status(), 400);
    assert_eq!(&response.body_bytes()[..], b"nick is required");
}

#[tokio::test(start_paused = true)]
async fn reject_with_state_returns_the_response_and_terminates_with_normal() {
    let (tx, mut reasons) = mpsc::unbounded_channel::<String>();
    let request = TestRequest::get("/x?nick=mallory").state(tx).build();
    let Err(response) = within("connect", Session::<Pal>::connect(request)).await else {
        panic!("init should have rejected mallory");
    };
    assert_eq!(response.status(), 403);
    assert_eq!(reasons.try_recv().ok().as_deref(), Some("Normal"));
    assert!(reasons.try_recv().is_err(), "terminate ran twice");
}

#[tokio::test(start_paused = true)]
async fn shutdown_server_closes_with_1001_and_terminates_with_shutdown() {
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    session.shutdown_server();
    assert_eq!(close_code(&recv(&mut session).await), 1001);
    let (_, reason) = within("finish", session.finish()).await;
    assert!(matches!(reason, Terminate::Shutdown), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn invalid_utf8_from_send_raw_closes_with_1007_and_terminates_with_bad_encoding() {
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    // A masked text frame (key 0) with the payload 0xFF.
    session.send_raw(&[0x81, 0x81, 0, 0, 0, 0, 0xff]).await;
    assert_eq!(close_code(&recv(&mut session).await), 1007);
    let (_, reason) = within("finish", session.finish()).await;
    assert!(matches!(reason, Terminate::BadEncoding), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn unmatched_binary_closes_with_1003() {
    let mut session = connect("/x?nick=bob").await;
    expect_text(&mut session, "hi bob").await;
    session.send(Frame::binary(vec![1, 2, 3])).await;
    assert_eq!(close_code(&recv(&mut session).await), 1003);
    let (_, reason) = within("finish", session.finish()).await;
    assert!(matches!(reason, Terminate::Shutdown), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn connect_with_applies_server_limits() {
    let request = TestRequest::get("/x?nick=bob").build();
    let config = Config {
        max_message_size: 8,
        ..Config::default()
    };
    let mut session = within("connect", Session::<Pal>::connect_with(request, config))
        .await
        .expect("init upgrades");
    expect_text(&mut session, "hi bob").await;
    session.send(Frame::text("12345678")).await;
    expect_text(&mut session, "bob: 12345678").await;
    session.send(Frame::text("123456789")).await;
    assert_eq!(close_code(&recv(&mut session).await), 1009);
    let (_, reason) = within("finish", session.finish()).await;
    assert!(matches!(reason, Terminate::BadFrame), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn session_answers_the_chosen_subprotocol_in_meta() {
    /// Reports its meta values.
    struct Meta;
    impl Handler for Meta {
        type Info = lariat::Never;
        async fn init(_req: &Request) -> Init<Self> {
            Init::upgrade(Meta).protocol("b")
        }
        async fn open(&mut self, ctx: &mut Ctx<Self::Info>) -> Reply {
            let meta = ctx.meta();
            Reply::text(format!(
                "{} {:?} {}",
                meta.version, meta.protocol, meta.peer
            ))
        }
    }
    let request = TestRequest::get("/m")
        .protocol("a")
        .protocol("b")
        .peer(([10, 0, 0, 7], 5555).into())
        .build();
    let mut session = within("connect", Session::<Meta>::connect(request))
        .await
        .expect("init upgrades");
    let frame = within("a frame", session.recv()).await;
    assert_eq!(frame, Some(Frame::text("13 Some(\"b\") 10.0.0.7:5555")));
    let (_, reason) = within("disconnect", session.disconnect()).await;
    assert!(matches!(reason, Terminate::Closed), "{reason:?}");
}
