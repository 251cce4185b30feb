//! Keepalive (`Init::keepalive(interval, pong_timeout)`): the server pings
//! every interval with an 8-byte counter, a peer that answers stays and
//! `ctx.latency()` reports the round trip, a peer that does not is closed
//! with 1011 and the handler terminates with `Terminate::Timeout`.
//!
//! Most tests run a `testing::Session` under paused time, so intervals and
//! timeouts are exact; two run over a real loopback socket.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use std::future::Future;

use lariat::prelude::*;
use lariat::testing::{Session, TestRequest};
use support::{Ended, RawClient, Reporter, bind, reports, start, within};
use tokio::time::Instant;

const INTERVAL: Duration = Duration::from_secs(10);
const PONG_TIMEOUT: Duration = Duration::from_secs(5);

/// Pings every `?interval_ms` (default [`INTERVAL`]) and waits
/// `?timeout_ms` (default [`PONG_TIMEOUT`]) for the pong; answers "latency"
/// with `format!("{:?}", ctx.latency())`.
struct Alive {
    reports: Option<Reporter>,
}

fn millis(req: &Request, name: &str, default: Duration) -> Duration {
    req.query(name)
        .and_then(|v| v.parse().ok())
        .map_or(default, Duration::from_millis)
}

impl Handler for Alive {
    type Info = lariat::Never;

    async fn init(req: &Request) -> Init<Self> {
        Init::upgrade(Alive {
            reports: req.try_state::<Reporter>().cloned(),
        })
        .keepalive(
            millis(req, "interval_ms", INTERVAL),
            millis(req, "timeout_ms", PONG_TIMEOUT),
        )
    }

    async fn handle(&mut self, frame: Frame, ctx: &mut Ctx<Self::Info>) -> Reply {
        match frame {
            Frame::Text(text) if text == "latency" => Reply::text(format!("{:?}", ctx.latency())),
            _ => Reply::ok(),
        }
    }

    async fn terminate(&mut self, reason: &Terminate) {
        if let Some(reports) = &self.reports {
            let _ = reports.send(reason.into());
        }
    }
}

/// Under paused time a stuck await jumps the clock to this virtual
/// deadline at once, so a bug fails fast instead of hanging.
async fn virtual_within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(Duration::from_secs(3600), future).await {
        Ok(output) => output,
        Err(_) => panic!("nothing happened for an hour (virtual) waiting for {what}"),
    }
}

async fn connect() -> Session<Alive> {
    virtual_within(
        "connect",
        Session::<Alive>::connect(TestRequest::get("/alive").build()),
    )
    .await
    .expect("init upgrades")
}

async fn recv(session: &mut Session<Alive>) -> Frame {
    virtual_within("a frame", session.recv())
        .await
        .expect("the connection ended")
}

fn ping(n: u64) -> Frame {
    Frame::try_ping(n.to_be_bytes().to_vec()).unwrap()
}

fn close_code(frame: &Frame) -> u16 {
    match frame {
        Frame::Close(Some(close)) => close.code().as_u16(),
        other => panic!("expected a close frame with a code, got {other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn keepalive_pings_every_interval_with_an_eight_byte_counter() {
    let start = Instant::now();
    let mut session = connect().await;
    for n in 1..=5u64 {
        // `recv` answers each ping with a pong, as a live client does.
        assert_eq!(recv(&mut session).await, ping(n));
        assert_eq!(start.elapsed(), INTERVAL * n as u32, "ping {n}");
    }
    session.send(Frame::close(CloseCode::NORMAL)).await;
    assert_eq!(close_code(&recv(&mut session).await), 1000);
    let (_, reason) = virtual_within("finish", session.finish()).await;
    assert!(
        matches!(reason, Terminate::RemoteClose { .. }),
        "{reason:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_client_that_answers_pings_stays_connected_and_latency_becomes_some() {
    let start = Instant::now();
    let mut session = connect().await;
    session.send(Frame::text("latency")).await;
    assert_eq!(recv(&mut session).await, Frame::text("None"));
    // Ten intervals: 100 s, longer than the default 60 s idle timeout too
    // (pongs are data from the peer).
    for n in 1..=10u64 {
        assert_eq!(recv(&mut session).await, ping(n));
        session.send(Frame::text("latency")).await;
        // Paused time: the pong answered in no time at all.
        assert_eq!(recv(&mut session).await, Frame::text("Some(0ns)"));
    }
    assert_eq!(start.elapsed(), INTERVAL * 10);
    session.send(Frame::close(CloseCode::NORMAL)).await;
    assert_eq!(close_code(&recv(&mut session).await), 1000);
    let (_, reason) = virtual_within("finish", session.finish()).await;
    assert!(
        matches!(&reason, Terminate::RemoteClose { code, .. } if *code == CloseCode::NORMAL),
        "the client closed, not the keepalive: {reason:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn latency_is_the_time_the_pong_took() {
    let mut session = connect().await;
    // The client reads the ping late: 1.5 s after it left.
    let start = Instant::now();
    tokio::time::sleep_until(start + INTERVAL + Duration::from_millis(1500)).await;
    assert_eq!(recv(&mut session).await, ping(1));
    session.send(Frame::text("latency")).await;
    assert_eq!(recv(&mut session).await, Frame::text("Some(1.5s)"));
    let (_, reason) = virtual_within("disconnect", session.disconnect()).await;
    assert!(matches!(reason, Terminate::Closed), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn a_client_that_does_not_answer_is_closed_with_1011_and_terminates_with_timeout() {
    let start = Instant::now();
    let mut session = connect().await;
    // The client reads nothing (so answers nothing) for longer than one
    // interval and the pong timeout.
    tokio::time::sleep_until(start + INTERVAL + PONG_TIMEOUT + Duration::from_millis(1)).await;
    let mut pings = Vec::new();
    let close = loop {
        match recv(&mut session).await {
            Frame::Ping(payload) => pings.push(payload),
            frame => break frame,
        }
    };
    // The second ping would be due at 20 s: only the first went out.
    assert_eq!(pings.len(), 1);
    assert_eq!(Frame::Ping(pings.remove(0)), ping(1));
    assert_eq!(close_code(&close), 1011);
    let (_, reason) = virtual_within("finish", session.finish()).await;
    assert!(matches!(reason, Terminate::Timeout), "{reason:?}");
}

#[tokio::test(start_paused = true)]
async fn a_pong_just_before_the_timeout_keeps_the_connection() {
    let start = Instant::now();
    let mut session = connect().await;
    tokio::time::sleep_until(start + INTERVAL + PONG_TIMEOUT - Duration::from_millis(1)).await;
    // Reading answers the ping 1 ms before its deadline.
    assert_eq!(recv(&mut session).await, ping(1));
    assert_eq!(recv(&mut session).await, ping(2));
    assert_eq!(start.elapsed(), INTERVAL * 2);
    session.send(Frame::text("latency")).await;
    assert_eq!(recv(&mut session).await, Frame::text("Some(0ns)"));
    session.send(Frame::close(CloseCode::NORMAL)).await;
    assert_eq!(close_code(&recv(&mut session).await), 1000);
    let (_, reason) = virtual_within("finish", session.finish()).await;
    assert!(
        matches!(reason, Terminate::RemoteClose { .. }),
        "{reason:?}"
    );
}

#[tokio::test]
async fn keepalive_over_a_socket_closes_a_silent_peer_with_1011() {
    let (tx, mut reports) = reports();
    let server = start(bind().await.state(tx).route("/alive", Alive::handler()));
    // Connected, but reads nothing and so sends no pong.
    let silent = RawClient::connect(&server, "/alive?interval_ms=100&timeout_ms=250").await;
    let started = std::time::Instant::now();
    // The transcript reads every frame but answers only the close.
    let frames = silent.transcript().await;
    let after = started.elapsed();
    assert!(
        after >= Duration::from_millis(350),
        "closed after {after:?}, before the first ping (100 ms) plus the pong timeout (250 ms)"
    );
    assert_eq!(reports.next().await, Ended::Timeout);
    let (close, pings) = frames.split_last().expect("no frame at all");
    assert_eq!(close.close_code(), Some(1011), "transcript {frames:?}");
    assert!(!pings.is_empty(), "no ping before the close: {frames:?}");
    for (n, frame) in pings.iter().enumerate() {
        let expected = (n as u64 + 1).to_be_bytes();
        assert_eq!(
            frame.opcode,
            lariat::core::frame::OpCode::Ping,
            "{frames:?}"
        );
        assert_eq!(frame.payload, expected, "ping {} of {frames:?}", n + 1);
    }
    server.shutdown().await;
}

#[tokio::test]
async fn keepalive_over_a_socket_keeps_a_client_that_answers_and_measures_latency() {
    let (tx, mut reports) = reports();
    let server = start(bind().await.state(tx).route("/alive", Alive::handler()));
    let mut client = RawClient::connect(&server, "/alive?interval_ms=100&timeout_ms=1000").await;
    client.send(Frame::text("latency")).await;
    client.expect_text("None").await;
    // Fifteen intervals (1.5 s), longer than the pong timeout.
    for n in 1..=15u64 {
        // `recv` answers the ping with a pong.
        assert_eq!(client.recv().await, Some(ping(n)));
    }
    client.send(Frame::text("latency")).await;
    match client.recv().await {
        Some(Frame::Text(text)) => {
            assert!(text.starts_with("Some("), "latency {text:?}");
        }
        other => panic!("expected the latency, got {other:?}"),
    }
    client.send(Frame::close(CloseCode::NORMAL)).await;
    // A ping may cross our close; the server's close follows.
    loop {
        match client.recv().await {
            Some(Frame::Ping(_)) => {}
            Some(frame) => {
                assert_eq!(frame, Frame::close(CloseCode::NORMAL));
                break;
            }
            None => panic!("no close frame"),
        }
    }
    assert_eq!(client.recv().await, None);
    drop(client);
    assert_eq!(
        within("the end", reports.next()).await,
        Ended::RemoteClose(1000, String::new())
    );
    server.shutdown().await;
}
