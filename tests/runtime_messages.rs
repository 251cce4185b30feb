//! Messages over real loopback sockets: echo of every length class,
//! fragmented input joined into one message, pings, unmatched data (1003),
//! and no frame after a close frame.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use lariat::core::frame::OpCode;
use lariat::prelude::*;
use support::{
    FIN, OP_BINARY, OP_CONTINUATION, OP_PING, OP_TEXT, RawClient, Reporter, assert_no_more_reports,
    bind, client_frame, reports, start, ws_connect, ws_expect_close, ws_next, ws_send,
};
use tokio_tungstenite::tungstenite::Message;

/// Sizes at the edges of the three length encodings (RFC 6455 §5.2), and 1 MiB.
const SIZES: [usize; 6] = [0, 125, 126, 65_535, 65_536, 1 << 20];

/// Echoes text and binary; says what it saw for pings and pongs; a few
/// commands end or misuse the connection.
struct Echo {
    reports: Option<Reporter>,
}

impl Handler for Echo {
    type Info = lariat::Never;

    async fn init(req: &Request) -> Init<Self> {
        Init::upgrade(Echo {
            reports: req.try_state::<Reporter>().cloned(),
        })
        .max_frame_size(2 << 20)
        .max_message_size(2 << 20)
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Self::Info>) -> Reply {
        match frame {
            Frame::Text(text) if text == "close-then-text" => Reply::frames([
                Frame::close(close!(4002, "last words")),
                Frame::text("after"),
            ]),
            Frame::Text(text) if text == "close-then-more" => Reply::close(close!(4003))
                .and(Frame::text("after"))
                .and(Frame::binary(vec![1, 2, 3]))
                .and(Frame::ping(b"after")),
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            Frame::Ping(payload) => Reply::text(format!(
                "saw ping {}",
                String::from_utf8_lossy(payload.as_bytes())
            )),
            Frame::Pong(payload) => Reply::text(format!(
                "saw pong {}",
                String::from_utf8_lossy(payload.as_bytes())
            )),
            Frame::Close(_) => Reply::ok(),
        }
    }

    async fn terminate(&mut self, reason: &Terminate) {
        if let Some(reports) = &self.reports {
            let _ = reports.send(reason.into());
        }
    }
}

/// Takes text only; everything else goes to `lariat::unmatched`.
struct TextOnly {
    reports: Reporter,
}

impl Handler for TextOnly {
    type Info = lariat::Never;

    async fn init(req: &Request) -> Init<Self> {
        Init::upgrade(TextOnly {
            reports: req.state::<Reporter>().clone(),
        })
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Self::Info>) -> Reply {
        match frame {
            Frame::Text(text) => Reply::text(text),
            other => lariat::unmatched(&other),
        }
    }

    async fn terminate(&mut self, reason: &Terminate) {
        let _ = self.reports.send(reason.into());
    }
}

/// Keeps the default `Handler::handle`.
struct Deaf {
    reports: Reporter,
}

impl Handler for Deaf {
    type Info = lariat::Never;

    async fn init(req: &Request) -> Init<Self> {
        Init::upgrade(Deaf {
            reports: req.state::<Reporter>().clone(),
        })
    }

    async fn open(&mut self, _ctx: &mut Ctx<Self::Info>) -> Reply {
        Reply::text("open")
    }

    async fn terminate(&mut self, reason: &Terminate) {
        let _ = self.reports.send(reason.into());
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn text_of(len: usize) -> String {
    (0..len)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

#[tokio::test]
async fn text_messages_of_every_length_class_are_echoed_unchanged() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut ws = ws_connect(&server, "/").await;
    for len in SIZES {
        let text = text_of(len);
        ws_send(&mut ws, Message::text(text.clone())).await;
        match ws_next(&mut ws).await {
            Message::Text(echo) => {
                assert_eq!(echo.len(), len);
                assert!(echo.as_str() == text, "text of {len} bytes changed");
            }
            other => panic!("expected text of {len} bytes, got {other:?}"),
        }
    }
    ws_send(&mut ws, Message::Close(None)).await;
    assert_eq!(ws_expect_close(ws).await, None);
    server.shutdown().await;
}

#[tokio::test]
async fn binary_messages_of_every_length_class_are_echoed_unchanged() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut ws = ws_connect(&server, "/").await;
    for len in SIZES {
        let data = pattern(len);
        ws_send(&mut ws, Message::binary(data.clone())).await;
        match ws_next(&mut ws).await {
            Message::Binary(echo) => {
                assert_eq!(echo.len(), len);
                assert!(echo[..] == data[..], "binary of {len} bytes changed");
            }
            other => panic!("expected binary of {len} bytes, got {other:?}"),
        }
    }
    drop(ws);
    server.shutdown().await;
}

#[tokio::test]
async fn echoed_frames_use_the_shortest_length_encoding_and_no_mask() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut client = RawClient::connect(&server, "/").await;
    for len in [0, 125, 126, 65_535, 65_536] {
        client.send(Frame::binary(pattern(len))).await;
    }
    client.send(Frame::close(CloseCode::NORMAL)).await;
    let frames = client.transcript().await;
    let data: Vec<usize> = frames
        .iter()
        .filter(|f| f.opcode == OpCode::Binary)
        .map(|f| {
            assert!(f.fin && !f.masked && f.rsv == 0, "{f:?}");
            f.payload.len()
        })
        .collect();
    assert_eq!(data, [0, 125, 126, 65_535, 65_536]);
    assert_eq!(frames.last().unwrap().close_code(), Some(1000));
    server.shutdown().await;
}

#[tokio::test]
async fn fragmented_text_from_a_raw_client_is_delivered_as_one_message() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut client = RawClient::connect(&server, "/").await;
    // "héllo wörld" split inside both two-byte characters, with a ping
    // between the fragments (control frames may be interleaved, §5.4).
    let whole = "héllo wörld".as_bytes();
    client.send_raw(&client_frame(OP_TEXT, &whole[..2])).await;
    client
        .send_raw(&client_frame(OP_CONTINUATION, &whole[2..9]))
        .await;
    client
        .send_raw(&client_frame(FIN | OP_PING, b"mid-message"))
        .await;
    client
        .send_raw(&client_frame(FIN | OP_CONTINUATION, &whole[9..]))
        .await;
    assert_eq!(client.recv().await, Some(Frame::pong(b"mid-message")));
    client.expect_text("saw ping mid-message").await;
    client.expect_text("héllo wörld").await;
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn fragmented_binary_from_a_raw_client_is_delivered_as_one_message() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut client = RawClient::connect(&server, "/").await;
    let data = pattern(200_000);
    // One write with many fragments, some empty.
    let mut wire = client_frame(OP_BINARY, &data[..1]);
    wire.extend(client_frame(OP_CONTINUATION, &[]));
    for chunk in data[1..].chunks(70_000) {
        wire.extend(client_frame(OP_CONTINUATION, chunk));
    }
    wire.extend(client_frame(FIN | OP_CONTINUATION, &[]));
    client.send_raw(&wire).await;
    assert_eq!(client.recv().await, Some(Frame::binary(data)));
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn a_frame_written_one_byte_at_a_time_is_echoed() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut client = RawClient::connect(&server, "/").await;
    for byte in client_frame(FIN | OP_TEXT, b"slowly") {
        client.send_raw(&[byte]).await;
    }
    client.expect_text("slowly").await;
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn frames_sent_together_with_the_upgrade_request_are_handled() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut early = client_frame(FIN | OP_TEXT, b"first");
    early.extend(client_frame(FIN | OP_TEXT, b"second"));
    let mut client = RawClient::connect_with(&server, "/", &[], &early).await;
    client.expect_text("first").await;
    client.expect_text("second").await;
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn ping_is_answered_with_pong_by_the_runtime_and_delivered_to_handle() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut ws = ws_connect(&server, "/").await;
    ws_send(&mut ws, Message::Ping(b"are you there".to_vec().into())).await;
    // The runtime's pong goes out before the handler's reply.
    assert_eq!(
        ws_next(&mut ws).await,
        Message::Pong(b"are you there".to_vec().into())
    );
    assert_eq!(
        ws_next(&mut ws).await,
        Message::text("saw ping are you there")
    );
    drop(ws);
    server.shutdown().await;
}

#[tokio::test]
async fn unsolicited_pong_is_delivered_to_handle_and_not_answered() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut client = RawClient::connect(&server, "/").await;
    client.send(Frame::pong(b"beat")).await;
    client.expect_text("saw pong beat").await;
    client.send(Frame::close(CloseCode::NORMAL)).await;
    let frames = client.transcript().await;
    assert_eq!(frames.len(), 1, "only the close reply: {frames:?}");
    assert_eq!(frames[0].close_code(), Some(1000));
    server.shutdown().await;
}

#[tokio::test]
async fn default_handle_answers_text_with_close_1003() {
    let (tx, mut reports) = reports();
    let server = start(bind().await.state(tx).route("/", Deaf::handler()));
    let mut ws = ws_connect(&server, "/").await;
    assert_eq!(ws_next(&mut ws).await, Message::text("open"));
    ws_send(&mut ws, Message::text("anyone?")).await;
    assert_eq!(ws_expect_close(ws).await.map(|c| c.0), Some(1003));
    assert_eq!(reports.next().await, support::Ended::Shutdown);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn default_handle_answers_binary_with_close_1003() {
    let (tx, mut reports) = reports();
    let server = start(bind().await.state(tx).route("/", Deaf::handler()));
    let mut ws = ws_connect(&server, "/").await;
    assert_eq!(ws_next(&mut ws).await, Message::text("open"));
    ws_send(&mut ws, Message::binary(vec![1, 2, 3])).await;
    assert_eq!(ws_expect_close(ws).await.map(|c| c.0), Some(1003));
    assert_eq!(reports.next().await, support::Ended::Shutdown);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn default_handle_ignores_pings_and_pongs_and_keeps_the_connection_open() {
    let (tx, mut reports) = reports();
    let server = start(bind().await.state(tx).route("/", Deaf::handler()));
    let mut ws = ws_connect(&server, "/").await;
    assert_eq!(ws_next(&mut ws).await, Message::text("open"));
    ws_send(&mut ws, Message::Pong(b"unasked".to_vec().into())).await;
    ws_send(&mut ws, Message::Ping(b"one".to_vec().into())).await;
    assert_eq!(
        ws_next(&mut ws).await,
        Message::Pong(b"one".to_vec().into())
    );
    ws_send(&mut ws, Message::Ping(b"two".to_vec().into())).await;
    assert_eq!(
        ws_next(&mut ws).await,
        Message::Pong(b"two".to_vec().into())
    );
    ws_send(&mut ws, Message::Close(None)).await;
    assert_eq!(ws_expect_close(ws).await, None);
    assert_eq!(reports.next().await, support::Ended::Remote);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn unmatched_binary_is_answered_with_close_1003_while_text_is_taken() {
    let (tx, mut reports) = reports();
    let server = start(bind().await.state(tx).route("/", TextOnly::handler()));
    let mut ws = ws_connect(&server, "/").await;
    ws_send(&mut ws, Message::text("taken")).await;
    assert_eq!(ws_next(&mut ws).await, Message::text("taken"));
    ws_send(&mut ws, Message::Ping(b"p".to_vec().into())).await;
    assert_eq!(ws_next(&mut ws).await, Message::Pong(b"p".to_vec().into()));
    ws_send(&mut ws, Message::binary(vec![0xde, 0xad])).await;
    assert_eq!(ws_expect_close(ws).await.map(|c| c.0), Some(1003));
    assert_eq!(reports.next().await, support::Ended::Shutdown);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn frames_queued_after_a_close_frame_are_not_sent() {
    let (tx, mut reports) = reports();
    let server = start(bind().await.state(tx).route("/", Echo::handler()));
    let mut client = RawClient::connect(&server, "/").await;
    client.send(Frame::text("close-then-text")).await;
    let frames = client.transcript().await;
    assert_eq!(frames.len(), 1, "only the close frame: {frames:?}");
    assert_eq!(frames[0].close_code(), Some(4002));
    assert_eq!(frames[0].close_reason(), "last words");
    assert_eq!(reports.next().await, support::Ended::Shutdown);
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn frames_appended_with_and_after_a_close_are_not_sent() {
    let server = start(bind().await.route("/", Echo::handler()));
    let mut client = RawClient::connect(&server, "/").await;
    client.send(Frame::text("before")).await;
    client.send(Frame::text("close-then-more")).await;
    let frames = client.transcript().await;
    assert_eq!(frames.len(), 2, "the echo and the close only: {frames:?}");
    assert_eq!(frames[0].payload, b"before");
    assert_eq!(frames[1].close_code(), Some(4003));
    server.shutdown().await;
}
