//! `terminate` runs exactly once, with the right reason, in every way a
//! connection can end; each case over a real loopback socket.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use std::time::Instant;

use lariat::prelude::*;
use support::{
    Ended, FIN, OP_BINARY, OP_CLOSE, OP_CONTINUATION, OP_PING, OP_TEXT, RSV1, RawClient, Reporter,
    assert_no_more_reports, bind, client_frame, frame_bytes, reports, start, within, ws_connect,
    ws_echo, ws_expect_close, ws_expect_text, ws_next, ws_send,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as WsCloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;

/// Messages the tests send to a `Probe` through its `Addr`.
#[derive(Debug)]
enum Poke {
    Say(String),
    Crash,
}

/// Where a `Probe` publishes its address when it opens.
type AddrBook = mpsc::UnboundedSender<Addr<Poke>>;

/// A handler whose behaviour the request picks (`?mode=..`, `?idle_ms=..`,
/// `?max=..`) and whose text commands end the connection in each way.
struct Probe {
    reports: Reporter,
}

fn query_u64(req: &Request, name: &str) -> Option<u64> {
    req.query(name).map(|value| value.parse().unwrap())
}

impl Handler for Probe {
    type Info = Poke;

    async fn init(req: &Request) -> Init<Self> {
        let probe = Probe {
            reports: req.state::<Reporter>().clone(),
        };
        match req.query("mode").as_deref() {
            Some("reject") => {
                return Init::reject(Response::new(401).body("who are you?"));
            }
            Some("reject_with") => {
                return Init::reject_with(probe, Response::new(403).body("go away"));
            }
            _ => {}
        }
        let mut init = Init::upgrade(probe);
        if let Some(ms) = query_u64(req, "idle_ms") {
            init = init.idle_timeout(Duration::from_millis(ms));
        }
        if let Some(max) = query_u64(req, "max") {
            init = init.max_message_size(max as usize);
        }
        if let Some(max) = query_u64(req, "max_frame") {
            init = init.max_frame_size(max as usize);
        }
        init
    }

    async fn open(&mut self, ctx: &mut Ctx<Poke>) -> Reply {
        if let Some(book) = ctx.request().try_state::<AddrBook>() {
            let _ = book.send(ctx.addr());
        }
        if ctx.request().query("mode").as_deref() == Some("crash_open") {
            panic!("open blew up");
        }
        Reply::ok()
    }

    async fn handle(&mut self, frame: Frame, ctx: &mut Ctx<Poke>) -> Reply {
        let Frame::Text(text) = frame else {
            return Reply::frame(frame);
        };
        match text.as_str() {
            "boom" => panic!("boom: the handler blew up"),
            "shutdown" => Reply::shutdown(),
            "close" => Reply::close(close!(4001, "done")),
            "long" => {
                ctx.send_after(Duration::from_millis(600), Poke::Say("tick".into()));
                Reply::text("long").idle_timeout(Duration::from_secs(5))
            }
            "short" => Reply::text("short").idle_timeout(Duration::from_millis(100)),
            _ => Reply::text(text),
        }
    }

    async fn info(&mut self, msg: Poke, _ctx: &mut Ctx<Poke>) -> Reply {
        match msg {
            Poke::Say(text) => Reply::text(text),
            Poke::Crash => panic!("info blew up"),
        }
    }

    async fn terminate(&mut self, reason: &Terminate) {
        let _ = self.reports.send(reason.into());
    }
}

/// A server running `Probe` on every path, with its terminate reports.
async fn probe_server() -> (support::TestServer, support::Reports) {
    let (tx, reports) = reports();
    let server = start(bind().await.state(tx).route_any(Probe::handler()));
    (server, reports)
}

#[tokio::test]
async fn reject_with_state_answers_http_403_and_terminates_with_normal() {
    let (server, mut reports) = probe_server().await;
    let error = within(
        "the handshake",
        tokio_tungstenite::connect_async(server.url("/?mode=reject_with")),
    )
    .await
    .expect_err("init rejected the upgrade");
    match error {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status().as_u16(), 403);
            assert_eq!(response.body().as_deref(), Some(&b"go away"[..]));
        }
        other => panic!("expected an HTTP answer, got {other}"),
    }
    assert_eq!(reports.next().await, Ended::Normal);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn reject_without_state_answers_http_and_never_terminates() {
    let (server, reports) = probe_server().await;
    let response = support::http_exchange(
        server.addr,
        &support::upgrade_request("/?mode=reject", "13"),
    )
    .await;
    assert_eq!(response.status, 401);
    assert_eq!(response.body_text(), "who are you?");
    // No handler value was made, so nothing can be terminated.
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn close_without_code_from_the_client_terminates_with_remote() {
    let (server, mut reports) = probe_server().await;
    let mut ws = ws_connect(&server, "/").await;
    ws_echo(&mut ws, "hello").await;
    ws_send(&mut ws, Message::Close(None)).await;
    // The server answers a close without a code with a close without a code.
    assert_eq!(ws_expect_close(ws).await, None);
    assert_eq!(reports.next().await, Ended::Remote);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn close_with_code_and_reason_terminates_with_remote_close() {
    let (server, mut reports) = probe_server().await;
    let mut ws = ws_connect(&server, "/").await;
    ws_echo(&mut ws, "hello").await;
    ws_send(
        &mut ws,
        Message::Close(Some(WsCloseFrame {
            code: WsCloseCode::Library(4000),
            reason: "bye".into(),
        })),
    )
    .await;
    // RFC 6455 §5.5.1: the reply echoes the status code.
    assert_eq!(ws_expect_close(ws).await.map(|c| c.0), Some(4000));
    assert_eq!(
        reports.next().await,
        Ended::RemoteClose(4000, "bye".to_owned())
    );
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn reply_shutdown_closes_with_1000_and_terminates_with_shutdown() {
    let (server, mut reports) = probe_server().await;
    let mut ws = ws_connect(&server, "/").await;
    ws_send(&mut ws, Message::text("shutdown")).await;
    assert_eq!(ws_expect_close(ws).await, Some((1000, String::new())));
    assert_eq!(reports.next().await, Ended::Shutdown);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn reply_close_sends_code_and_reason_and_terminates_with_shutdown() {
    let (server, mut reports) = probe_server().await;
    let mut ws = ws_connect(&server, "/").await;
    ws_send(&mut ws, Message::text("close")).await;
    assert_eq!(ws_expect_close(ws).await, Some((4001, "done".to_owned())));
    assert_eq!(reports.next().await, Ended::Shutdown);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn idle_timeout_closes_with_1000_and_terminates_with_timeout() {
    let (server, mut reports) = probe_server().await;
    let opened = Instant::now();
    let ws = ws_connect(&server, "/?idle_ms=200").await;
    assert_eq!(ws_expect_close(ws).await, Some((1000, String::new())));
    assert!(
        opened.elapsed() >= Duration::from_millis(200),
        "closed after {:?}, before the idle timeout",
        opened.elapsed()
    );
    assert_eq!(reports.next().await, Ended::Timeout);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn reply_idle_timeout_replaces_the_timeout_from_the_next_event_on() {
    let (server, mut reports) = probe_server().await;
    let mut ws = ws_connect(&server, "/?idle_ms=300").await;
    // 5 s from now on: the "tick" timer at 600 ms arrives although the
    // 300 ms of init have passed by then with no data from the client.
    ws_send(&mut ws, Message::text("long")).await;
    ws_expect_text(&mut ws, "long").await;
    ws_expect_text(&mut ws, "tick").await;
    // 100 ms from now on: the close comes long before 5 s.
    let shortened = Instant::now();
    ws_send(&mut ws, Message::text("short")).await;
    ws_expect_text(&mut ws, "short").await;
    assert_eq!(ws_expect_close(ws).await, Some((1000, String::new())));
    let waited = shortened.elapsed();
    assert!(
        waited >= Duration::from_millis(100) && waited < Duration::from_secs(3),
        "closed {waited:?} after the 100 ms idle timeout was set"
    );
    assert_eq!(reports.next().await, Ended::Timeout);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn panic_in_handle_closes_with_1011_and_leaves_other_connections_alone() {
    let (server, mut reports) = probe_server().await;
    let mut before = ws_connect(&server, "/").await;
    ws_echo(&mut before, "before").await;
    let mut victim = ws_connect(&server, "/").await;
    ws_echo(&mut victim, "fine so far").await;
    ws_send(&mut victim, Message::text("boom")).await;
    assert_eq!(ws_expect_close(victim).await.map(|c| c.0), Some(1011));
    match reports.next().await {
        Ended::Crash(message) => assert!(
            message.contains("boom: the handler blew up"),
            "crash message {message:?}"
        ),
        other => panic!("expected Crash, got {other:?}"),
    }
    let mut after = ws_connect(&server, "/").await;
    ws_echo(&mut after, "after").await;
    ws_echo(&mut before, "still before").await;
    for ws in [before, after] {
        let mut ws = ws;
        ws_send(&mut ws, Message::Close(None)).await;
        assert_eq!(ws_expect_close(ws).await, None);
    }
    assert_eq!(reports.next_n(2).await, [Ended::Remote, Ended::Remote]);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn panic_in_open_closes_with_1011_and_terminates_with_crash() {
    let (server, mut reports) = probe_server().await;
    let ws = ws_connect(&server, "/?mode=crash_open").await;
    assert_eq!(ws_expect_close(ws).await.map(|c| c.0), Some(1011));
    match reports.next().await {
        Ended::Crash(message) => assert!(message.contains("open blew up"), "{message:?}"),
        other => panic!("expected Crash, got {other:?}"),
    }
    let mut other = ws_connect(&server, "/").await;
    ws_echo(&mut other, "unaffected").await;
    drop(other);
    assert_eq!(reports.next().await, Ended::Closed);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn panic_in_info_closes_with_1011_and_terminates_with_crash() {
    let (tx, mut reports) = reports();
    let (book, mut addrs) = mpsc::unbounded_channel::<Addr<Poke>>();
    let server = start(
        bind()
            .await
            .state(tx)
            .state(book)
            .route_any(Probe::handler()),
    );
    let mut ws = ws_connect(&server, "/").await;
    let addr = within("the connection's address", addrs.recv())
        .await
        .unwrap();
    addr.send(Poke::Say("from outside".into())).await.unwrap();
    ws_expect_text(&mut ws, "from outside").await;
    addr.send(Poke::Crash).await.unwrap();
    assert_eq!(ws_expect_close(ws).await.map(|c| c.0), Some(1011));
    match reports.next().await {
        Ended::Crash(message) => assert!(message.contains("info blew up"), "{message:?}"),
        other => panic!("expected Crash, got {other:?}"),
    }
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn invalid_utf8_in_text_closes_with_1007_and_terminates_with_bad_encoding() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    client
        .send_raw(&client_frame(FIN | OP_TEXT, b"ok \xff\xfe not ok"))
        .await;
    client.expect_close_transcript(1007).await;
    assert_eq!(reports.next().await, Ended::BadEncoding);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn invalid_utf8_in_a_first_fragment_fails_before_the_message_is_whole() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    // No final fragment follows: the server must not wait for one (§8.1).
    client
        .send_raw(&client_frame(OP_TEXT, b"fine \xc0\xaf"))
        .await;
    client.expect_close_transcript(1007).await;
    assert_eq!(reports.next().await, Ended::BadEncoding);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn reserved_opcode_closes_with_1002_and_terminates_with_bad_frame() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    client.send_raw(&client_frame(FIN | 0x3, b"what")).await;
    client.expect_close_transcript(1002).await;
    assert_eq!(reports.next().await, Ended::BadFrame);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn unmasked_client_frame_closes_with_1002_and_terminates_with_bad_frame() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    client
        .send_raw(&frame_bytes(FIN | OP_TEXT, b"naked", false))
        .await;
    client.expect_close_transcript(1002).await;
    assert_eq!(reports.next().await, Ended::BadFrame);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn rsv1_without_an_extension_closes_with_1002_and_terminates_with_bad_frame() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    client
        .send_raw(&client_frame(FIN | RSV1 | OP_TEXT, b"deflated?"))
        .await;
    client.expect_close_transcript(1002).await;
    assert_eq!(reports.next().await, Ended::BadFrame);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn close_frame_with_a_code_not_to_be_sent_closes_with_1002() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    // 1005 only reports a missing code; it must not be on the wire (§7.4.1).
    client
        .send_raw(&client_frame(FIN | OP_CLOSE, &1005u16.to_be_bytes()))
        .await;
    client.expect_close_transcript(1002).await;
    assert_eq!(reports.next().await, Ended::BadFrame);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn close_reason_with_invalid_utf8_closes_with_1007() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    client
        .send_raw(&client_frame(FIN | OP_CLOSE, b"\x03\xe8bad \xff"))
        .await;
    client.expect_close_transcript(1007).await;
    assert_eq!(reports.next().await, Ended::BadEncoding);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn ping_over_125_bytes_closes_with_1002() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    client
        .send_raw(&client_frame(FIN | OP_PING, &[0; 126]))
        .await;
    client.expect_close_transcript(1002).await;
    assert_eq!(reports.next().await, Ended::BadFrame);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn message_over_the_limit_closes_with_1009_and_terminates_with_bad_frame() {
    let (server, mut reports) = probe_server().await;
    let mut ws = ws_connect(&server, "/?max=1000").await;
    ws_send(&mut ws, Message::binary(vec![7; 1000])).await;
    assert_eq!(ws_next(&mut ws).await, Message::binary(vec![7; 1000]));
    ws_send(&mut ws, Message::binary(vec![7; 1001])).await;
    assert_eq!(ws_expect_close(ws).await.map(|c| c.0), Some(1009));
    assert_eq!(reports.next().await, Ended::BadFrame);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn fragmented_message_over_the_limit_closes_with_1009() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/?max=1000").await;
    client.send_raw(&client_frame(OP_BINARY, &[1; 600])).await;
    client
        .send_raw(&client_frame(FIN | OP_CONTINUATION, &[2; 600]))
        .await;
    client.expect_close_transcript(1009).await;
    assert_eq!(reports.next().await, Ended::BadFrame);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn frame_over_the_frame_limit_closes_with_1009() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/?max_frame=100").await;
    client
        .send_raw(&client_frame(FIN | OP_BINARY, &[1; 100]))
        .await;
    assert_eq!(client.recv().await, Some(Frame::binary(vec![1; 100])));
    client
        .send_raw(&client_frame(FIN | OP_BINARY, &[1; 101]))
        .await;
    client.expect_close_transcript(1009).await;
    assert_eq!(reports.next().await, Ended::BadFrame);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn dropping_tcp_without_a_close_frame_terminates_with_closed() {
    let (server, mut reports) = probe_server().await;
    let mut ws = ws_connect(&server, "/").await;
    ws_echo(&mut ws, "about to vanish").await;
    drop(ws);
    assert_eq!(reports.next().await, Ended::Closed);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn half_closing_tcp_without_a_close_frame_terminates_with_closed() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    client.send(Frame::text("hi")).await;
    client.expect_text("hi").await;
    client.stream.shutdown().await.unwrap();
    assert_eq!(reports.next().await, Ended::Closed);
    // The server closes its side too, without a close frame of its own
    // (there is no one left to read it).
    let frames = client.transcript().await;
    assert!(frames.is_empty(), "{frames:?}");
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn tcp_reset_by_the_client_terminates_once_with_error_or_closed() {
    let (server, mut reports) = probe_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    client.send(Frame::text("hi")).await;
    client.expect_text("hi").await;
    // SO_LINGER 0: close() sends RST instead of FIN.
    client.stream.set_zero_linger().unwrap();
    drop(client);
    let ended = reports.next().await;
    // Observed on Linux: the read fails with ECONNRESET, so `Error`.
    assert!(
        matches!(
            ended,
            Ended::Error(std::io::ErrorKind::ConnectionReset) | Ended::Closed
        ),
        "a reset connection ended with {ended:?}"
    );
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn many_connections_each_terminate_exactly_once() {
    let (server, mut reports) = probe_server().await;
    let mut endings = Vec::new();
    for i in 0..8 {
        let mut ws = ws_connect(&server, "/").await;
        ws_echo(&mut ws, &format!("conn {i}")).await;
        match i % 4 {
            0 => {
                ws_send(&mut ws, Message::Close(None)).await;
                assert_eq!(ws_expect_close(ws).await, None);
                endings.push(Ended::Remote);
            }
            1 => {
                ws_send(&mut ws, Message::text("shutdown")).await;
                assert_eq!(ws_expect_close(ws).await.map(|c| c.0), Some(1000));
                endings.push(Ended::Shutdown);
            }
            2 => {
                drop(ws);
                endings.push(Ended::Closed);
            }
            _ => {
                ws_send(&mut ws, Message::text("boom")).await;
                assert_eq!(ws_expect_close(ws).await.map(|c| c.0), Some(1011));
                endings.push(Ended::Crash("boom: the handler blew up".into()));
            }
        }
    }
    endings.sort_by_key(|ended| format!("{ended:?}"));
    assert_eq!(reports.next_n(endings.len()).await, endings);
    assert_no_more_reports(reports, server).await;
}
