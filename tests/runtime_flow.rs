//! Flow control and the mailbox over real loopback sockets: `.active(false)`
//! pauses reading, `Addr` delivers in order, a full mailbox refuses
//! `try_send` and makes `send` wait, a gone connection refuses both.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use lariat::prelude::*;
use lariat::{Config, SendError};
use support::{
    Ended, Reporter, TestServer, assert_no_more_reports, bind, reports, start, within, ws_connect,
    ws_echo, ws_expect_close, ws_expect_text, ws_finish, ws_next, ws_send,
};
use tokio::sync::{Notify, mpsc};
use tokio_tungstenite::tungstenite::Message;

/// What the tests tell a `Flow` connection through its `Addr`.
#[derive(Debug, PartialEq, Eq)]
enum Ctl {
    Resume,
    Num(u32),
    Shutdown,
}

/// Where a `Flow` publishes its address when it opens.
type AddrBook = mpsc::UnboundedSender<Addr<Ctl>>;

/// Held by a `Flow` opened with `?gate`: `open` waits on it, so the
/// connection takes nothing from its mailbox until the test notifies.
type Gate = Arc<Notify>;

struct Flow {
    reports: Option<Reporter>,
}

impl Handler for Flow {
    type Info = Ctl;

    async fn init(req: &Request) -> Init<Self> {
        Init::upgrade(Flow {
            reports: req.try_state::<Reporter>().cloned(),
        })
    }

    async fn open(&mut self, ctx: &mut Ctx<Ctl>) -> Reply {
        let _ = ctx.request().state::<AddrBook>().send(ctx.addr());
        if ctx.request().query("gate").is_some() {
            let gate = ctx.request().state::<Gate>().clone();
            gate.notified().await;
        }
        Reply::text("open")
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Ctl>) -> Reply {
        match frame {
            Frame::Text(text) if text == "pause" => Reply::text("paused").active(false),
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            _ => Reply::ok(),
        }
    }

    async fn info(&mut self, msg: Ctl, _ctx: &mut Ctx<Ctl>) -> Reply {
        match msg {
            Ctl::Resume => Reply::text("resumed").active(true),
            Ctl::Num(n) => Reply::text(n.to_string()),
            Ctl::Shutdown => Reply::shutdown(),
        }
    }

    async fn terminate(&mut self, reason: &Terminate) {
        if let Some(reports) = &self.reports {
            let _ = reports.send(reason.into());
        }
    }
}

struct Setup {
    server: TestServer,
    reports: support::Reports,
    addrs: mpsc::UnboundedReceiver<Addr<Ctl>>,
    gate: Gate,
}

async fn flow_server(config: Config) -> Setup {
    let (tx, reports) = reports();
    let (book, addrs) = mpsc::unbounded_channel::<Addr<Ctl>>();
    let gate = Gate::default();
    let server = start(
        bind()
            .await
            .config(config)
            .state(tx)
            .state(book)
            .state(gate.clone())
            .route("/", Flow::handler()),
    );
    Setup {
        server,
        reports,
        addrs,
        gate,
    }
}

async fn next_addr(addrs: &mut mpsc::UnboundedReceiver<Addr<Ctl>>) -> Addr<Ctl> {
    within("the connection's address", addrs.recv())
        .await
        .expect("the address book closed")
}

#[tokio::test]
async fn active_false_pauses_reading_until_an_info_reply_resumes_it() {
    let Setup {
        server,
        mut reports,
        mut addrs,
        ..
    } = flow_server(Config::default()).await;
    let mut ws = ws_connect(&server, "/").await;
    let addr = next_addr(&mut addrs).await;
    ws_expect_text(&mut ws, "open").await;
    ws_send(&mut ws, Message::text("pause")).await;
    ws_expect_text(&mut ws, "paused").await;
    // Sent while paused: not read, so not handled...
    ws_send(&mut ws, Message::text("sent while paused")).await;
    // ...while info messages still are (the driver prefers socket input
    // over the mailbox, so a readable text would have come first).
    addr.send(Ctl::Num(1)).await.unwrap();
    ws_expect_text(&mut ws, "1").await;
    addr.send(Ctl::Resume).await.unwrap();
    ws_expect_text(&mut ws, "resumed").await;
    ws_expect_text(&mut ws, "sent while paused").await;
    ws_echo(&mut ws, "reading again").await;
    ws_send(&mut ws, Message::Close(None)).await;
    assert_eq!(ws_expect_close(ws).await, None);
    assert_eq!(reports.next().await, Ended::Remote);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn a_paused_connection_closing_itself_completes_the_closing_handshake_promptly() {
    let Setup {
        server,
        mut reports,
        mut addrs,
        ..
    } = flow_server(Config {
        close_timeout: Duration::from_secs(3),
        ..Config::default()
    })
    .await;
    let mut ws = ws_connect(&server, "/").await;
    let addr = next_addr(&mut addrs).await;
    ws_expect_text(&mut ws, "open").await;
    ws_send(&mut ws, Message::text("pause")).await;
    ws_expect_text(&mut ws, "paused").await;
    addr.send(Ctl::Shutdown).await.unwrap();
    match ws_next(&mut ws).await {
        Message::Close(Some(close)) => assert_eq!(u16::from(close.code), 1000),
        other => panic!("expected close 1000, got {other:?}"),
    }
    let received = Instant::now();
    // The client answers the close at once; the server must read that
    // answer although the handler paused reading, and close TCP. Waiting
    // out the close timeout instead means a paused connection never closes
    // cleanly.
    ws_finish(ws).await;
    let finished = received.elapsed();
    assert_eq!(reports.next().await, Ended::Shutdown);
    let terminated = received.elapsed();
    assert!(
        finished < Duration::from_millis(1500) && terminated < Duration::from_millis(1500),
        "after the close frame, the server closed TCP in {finished:?} and terminate ran \
         in {terminated:?} (close_timeout is 3 s)"
    );
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn addr_send_from_another_task_arrives_in_order() {
    let Setup {
        server,
        mut reports,
        mut addrs,
        ..
    } = flow_server(Config {
        // Small, so the sender also waits for room on the way.
        mailbox_capacity: 4,
        ..Config::default()
    })
    .await;
    let mut ws = ws_connect(&server, "/").await;
    let addr = next_addr(&mut addrs).await;
    ws_expect_text(&mut ws, "open").await;
    let sender = tokio::spawn(async move {
        for n in 0..100 {
            addr.send(Ctl::Num(n)).await.unwrap();
        }
    });
    for n in 0..100 {
        ws_expect_text(&mut ws, &n.to_string()).await;
    }
    within("the sending task", sender).await.unwrap();
    drop(ws);
    assert_eq!(reports.next().await, Ended::Closed);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn full_mailbox_refuses_try_send_and_makes_send_wait() {
    let Setup {
        server,
        mut reports,
        mut addrs,
        gate,
    } = flow_server(Config {
        mailbox_capacity: 1,
        ..Config::default()
    })
    .await;
    // `open` waits on the gate, so nothing leaves the mailbox meanwhile.
    let mut ws = ws_connect(&server, "/?gate").await;
    let addr = next_addr(&mut addrs).await;
    addr.try_send(Ctl::Num(0)).unwrap();
    match addr.try_send(Ctl::Num(1)) {
        Err(SendError::Full(msg)) => assert_eq!(msg, Ctl::Num(1)),
        other => panic!("expected SendError::Full, got {other:?}"),
    }
    let waiting = addr.send(Ctl::Num(1));
    tokio::pin!(waiting);
    assert!(
        waiting.as_mut().now_or_never().is_none(),
        "send did not wait for room in a full mailbox"
    );
    gate.notify_one();
    ws_expect_text(&mut ws, "open").await;
    within("send to find room", waiting).await.unwrap();
    ws_expect_text(&mut ws, "0").await;
    ws_expect_text(&mut ws, "1").await;
    addr.try_send(Ctl::Num(2)).unwrap();
    ws_expect_text(&mut ws, "2").await;
    drop(ws);
    assert_eq!(reports.next().await, Ended::Closed);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn addr_of_a_gone_connection_refuses_messages_with_closed() {
    let Setup {
        server,
        mut reports,
        mut addrs,
        ..
    } = flow_server(Config::default()).await;
    let mut ws = ws_connect(&server, "/").await;
    let addr = next_addr(&mut addrs).await;
    ws_expect_text(&mut ws, "open").await;
    assert!(!addr.is_closed());
    ws_send(&mut ws, Message::Close(None)).await;
    assert_eq!(ws_expect_close(ws).await, None);
    // terminate runs after the connection let go of its mailbox.
    assert_eq!(reports.next().await, Ended::Remote);
    assert!(addr.is_closed());
    match addr.send(Ctl::Num(7)).await {
        Err(SendError::Closed(msg)) => assert_eq!(msg, Ctl::Num(7)),
        other => panic!("expected SendError::Closed, got {other:?}"),
    }
    match addr.try_send(Ctl::Num(8)) {
        Err(error @ SendError::Closed(_)) => assert_eq!(error.into_inner(), Ctl::Num(8)),
        other => panic!("expected SendError::Closed, got {other:?}"),
    }
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn addresses_tell_connections_apart() {
    let Setup {
        server,
        mut reports,
        mut addrs,
        ..
    } = flow_server(Config::default()).await;
    let mut first = ws_connect(&server, "/").await;
    let a = next_addr(&mut addrs).await;
    let mut second = ws_connect(&server, "/").await;
    let b = next_addr(&mut addrs).await;
    assert!(a.same_connection(&a.clone()));
    assert!(!a.same_connection(&b));
    ws_expect_text(&mut first, "open").await;
    ws_expect_text(&mut second, "open").await;
    b.send(Ctl::Num(2)).await.unwrap();
    a.send(Ctl::Num(1)).await.unwrap();
    ws_expect_text(&mut second, "2").await;
    ws_expect_text(&mut first, "1").await;
    drop((first, second));
    assert_eq!(reports.next_n(2).await, [Ended::Closed, Ended::Closed]);
    assert_no_more_reports(reports, server).await;
}
