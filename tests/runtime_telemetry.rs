//! Telemetry over real loopback sockets: `Server::stats()` counts
//! connections, refused handshakes, messages and bytes per opcode both ways,
//! and protocol errors. A scripted exchange with a raw client (exact bytes
//! on the wire) must leave exactly the expected counts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use lariat::prelude::*;
use lariat::{ByOpcode, Stats, StatsSnapshot};
use support::{
    Ended, OP_BINARY, OP_TEXT, RawClient, Reporter, bind, frame_bytes, http_exchange, reports,
    start, upgrade_request, within,
};

/// Echoes data, ignores pings and pongs (the runtime answers pings), sends a
/// ping of its own on "ping me", refuses `?reject` in `init`.
struct Tele {
    reports: Option<Reporter>,
}

impl Handler for Tele {
    type Info = lariat::Never;

    async fn init(req: &Request) -> Init<Self> {
        if req.query("reject").is_some() {
            return Init::reject(Response::new(403).body("not you"));
        }
        Init::upgrade(Tele {
            reports: req.try_state::<Reporter>().cloned(),
        })
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Self::Info>) -> Reply {
        match frame {
            Frame::Text(text) if text == "ping me" => {
                Reply::frame(Frame::try_ping(&b"srv"[..]).unwrap())
            }
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            _ => Reply::ok(),
        }
    }

    async fn terminate(&mut self, reason: &Terminate) {
        if let Some(reports) = &self.reports {
            let _ = reports.send(reason.into());
        }
    }
}

/// A server running `Tele` on `/` and a page on `/page`, and its counters
/// (taken before it serves, as the docs say).
async fn tele_server() -> (support::TestServer, support::Reports, Stats) {
    let (tx, reports) = reports();
    let server = bind()
        .await
        .state(tx)
        .route("/", Tele::handler())
        .page("/page", "<p>hi</p>");
    let stats = server.stats();
    (start(server), reports, stats)
}

/// Bytes of a masked client frame: 2 header bytes, 4 mask bytes, payload
/// (payloads under 126 bytes).
fn masked_len(payload: usize) -> u64 {
    2 + 4 + payload as u64
}

/// Bytes of an unmasked server frame (payloads under 126 bytes).
fn plain_len(payload: usize) -> u64 {
    2 + payload as u64
}

#[tokio::test]
async fn stats_count_connections_refusals_messages_bytes_and_protocol_errors_exactly() {
    let (server, mut reports, stats) = tele_server().await;
    assert_eq!(stats.snapshot(), StatsSnapshot::default());

    // Refused handshakes: an unsupported version (426) and `Init::reject`.
    let response = http_exchange(server.addr, &upgrade_request("/", "12")).await;
    assert_eq!(response.status, 426);
    let response = http_exchange(server.addr, &upgrade_request("/?reject", "13")).await;
    assert_eq!(response.status, 403);
    // A plain page is no WebSocket handshake at all: not counted.
    let response = http_exchange(
        server.addr,
        b"GET /page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    assert_eq!(response.status, 200);

    // A well-behaved client: text, binary, a pong of its own, a ping the
    // runtime answers, a server ping, and a normal close.
    let mut a = RawClient::connect(&server, "/").await;
    a.send(Frame::text("hello")).await;
    a.expect_text("hello").await;
    // A connection counts as open once its driver runs: it has answered.
    assert_eq!(stats.snapshot().connections_open, 1);
    a.send(Frame::binary(&[1u8, 2, 3][..])).await;
    assert_eq!(a.recv().await, Some(Frame::binary(&[1u8, 2, 3][..])));
    a.send(Frame::try_pong(&b"unasked"[..]).unwrap()).await;
    a.send(Frame::text("ping me")).await;
    // The server's ping; `recv` answers it with a pong.
    assert_eq!(a.recv().await, Some(Frame::try_ping(&b"srv"[..]).unwrap()));
    a.send(Frame::close(CloseCode::NORMAL)).await;
    assert_eq!(a.recv().await, Some(Frame::close(CloseCode::NORMAL)));
    assert_eq!(a.recv().await, None);
    assert_eq!(
        reports.next().await,
        Ended::RemoteClose(1000, String::new())
    );

    // Two clients that break the protocol: an unmasked frame (1002) and
    // invalid UTF-8 in a text message (1007).
    let b = RawClient::connect(&server, "/").await;
    let unmasked = frame_bytes(0x80 | OP_TEXT, b"x", false);
    let mut b = b;
    b.send_raw(&unmasked).await;
    let close = b.expect_close_transcript(1002).await;
    assert_eq!(close.close_code(), Some(1002));
    assert_eq!(reports.next().await, Ended::BadFrame);

    let mut c = RawClient::connect(&server, "/").await;
    let bad_utf8 = frame_bytes(0x80 | OP_TEXT, &[0xff, 0xfe], true);
    c.send_raw(&bad_utf8).await;
    c.expect_close_transcript(1007).await;
    assert_eq!(reports.next().await, Ended::BadEncoding);

    // One more, left open while the counters are read.
    let mut d = RawClient::connect(&server, "/").await;
    d.send(Frame::binary(&[9u8; 10][..])).await;
    assert_eq!(d.recv().await, Some(Frame::binary(&[9u8; 10][..])));
    let open = stats.snapshot();
    assert_eq!(open.connections_open, 1, "{open:#?}");
    assert_eq!(open.connections_total, 4, "{open:#?}");
    assert_eq!(open.handshakes_refused, 2, "{open:#?}");
    drop(d);
    assert_eq!(reports.next().await, Ended::Closed);

    let got = stats.snapshot();
    // Received: hello, [1,2,3], the pong, "ping me", the pong answering the
    // server ping, A's close, D's 10 bytes.
    let received = ByOpcode {
        text: 2,
        binary: 2,
        ping: 0,
        pong: 2,
        close: 1,
    };
    // Sent by the handler or the driver itself: the two echoes of A, the
    // server ping, D's echo. The close frames are checked below.
    let bytes_in = masked_len(5) // hello
        + masked_len(3) // [1, 2, 3]
        + masked_len(7) // unasked pong
        + masked_len(7) // ping me
        + masked_len(3) // pong answering "srv"
        + masked_len(2) // close 1000
        + unmasked.len() as u64
        + bad_utf8.len() as u64
        + masked_len(10);
    let expected = StatsSnapshot {
        connections_open: 0,
        connections_total: 4,
        handshakes_refused: 2,
        received,
        sent: ByOpcode {
            // A's close echo, the 1002 and the 1007 all went out.
            close: 3,
            ..ByOpcode {
                text: 1,
                binary: 2,
                ping: 1,
                pong: 0,
                close: 0,
            }
        },
        bytes_in,
        bytes_out: plain_len(5) // hello
            + plain_len(3) // [1, 2, 3]
            + plain_len(3) // ping "srv"
            + plain_len(2) // close 1000 echo
            + plain_len(2) // close 1002
            + plain_len(2) // close 1007
            + plain_len(10),
        protocol_errors: 2,
    };
    assert_eq!(got, expected);
    server.shutdown().await;
}

#[tokio::test]
async fn automatic_pongs_and_close_replies_count_as_sent_frames() {
    // ws-core answers a ping with a pong, and a peer's close with a close,
    // by itself; both go out on the wire and are in `bytes_out`, so
    // `sent` ("messages and control frames sent") counts them too.
    let (server, mut reports, stats) = tele_server().await;
    let mut client = RawClient::connect(&server, "/").await;
    client
        .send(Frame::try_ping(&b"are you there"[..]).unwrap())
        .await;
    assert_eq!(
        client.recv().await,
        Some(Frame::try_pong(&b"are you there"[..]).unwrap())
    );
    client.send(Frame::close(CloseCode::NORMAL)).await;
    assert_eq!(client.recv().await, Some(Frame::close(CloseCode::NORMAL)));
    assert_eq!(client.recv().await, None);
    assert_eq!(
        reports.next().await,
        Ended::RemoteClose(1000, String::new())
    );
    let got = stats.snapshot();
    assert_eq!(
        got.bytes_out,
        plain_len(13) + plain_len(2),
        "the pong and the close left: {got:#?}"
    );
    assert_eq!(
        got.sent,
        ByOpcode {
            pong: 1,
            close: 1,
            ..ByOpcode::default()
        },
        "{got:#?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn frames_sent_with_the_upgrade_request_count_as_received_bytes() {
    // A client may send its first frames in the same write as the request
    // head; they are WebSocket bytes like any other.
    let (server, mut reports, stats) = tele_server().await;
    let first = frame_bytes(0x80 | OP_BINARY, &[7u8; 20], true);
    let mut client = RawClient::connect_with(&server, "/", &[], &first).await;
    assert_eq!(client.recv().await, Some(Frame::binary(&[7u8; 20][..])));
    drop(client);
    assert_eq!(reports.next().await, Ended::Closed);
    let got = stats.snapshot();
    assert_eq!(got.received.binary, 1, "{got:#?}");
    assert_eq!(got.bytes_in, masked_len(20), "{got:#?}");
    assert_eq!(got.bytes_out, plain_len(20), "{got:#?}");
    server.shutdown().await;
}

#[tokio::test]
async fn connections_open_goes_up_and_down_with_the_connections() {
    let (server, mut reports, stats) = tele_server().await;
    let mut clients = Vec::new();
    for n in 1..=5u64 {
        let mut client = RawClient::connect(&server, "/").await;
        client.send(Frame::text("up")).await;
        client.expect_text("up").await;
        assert_eq!(stats.snapshot().connections_open, n);
        clients.push(client);
    }
    for n in (0..5u64).rev() {
        drop(clients.pop());
        assert_eq!(reports.next().await, Ended::Closed);
        let now = stats.snapshot();
        assert_eq!(now.connections_open, n, "{now:#?}");
        assert_eq!(now.connections_total, 5, "{now:#?}");
    }
    within("shutdown", server.shutdown()).await;
}
