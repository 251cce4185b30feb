//! The gallery examples, each run over a real loopback socket (and, for
//! their timers, under paused time with `lariat::testing::Session`).
//!
//! Every example keeps its handler and a `server(addr)` function in the
//! example file; this test includes the file as a module and serves it on
//! 127.0.0.1:0. The `main` functions are not called, hence `dead_code`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

#[allow(dead_code)]
#[path = "../examples/auth.rs"]
mod auth;
#[allow(dead_code)]
#[path = "../examples/backpressure.rs"]
mod backpressure;
#[allow(dead_code)]
#[path = "../examples/game.rs"]
mod game;
#[allow(dead_code)]
#[path = "../examples/json.rs"]
mod json;
#[allow(dead_code)]
#[path = "../examples/shutdown.rs"]
mod shutdown;
#[allow(dead_code)]
#[path = "../examples/ticker.rs"]
mod ticker;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lariat::testing::{Session, TestRequest};
use lariat::{Frame, Server, Terminate};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// How long any one wait of a real-socket test may take.
const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test after [`LIMIT`] instead of hanging.
async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(LIMIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {LIMIT:?} waiting for {what}"),
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Serves `server` in the background; returns its address.
fn start(server: Server) -> SocketAddr {
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.serve());
    addr
}

async fn connect(addr: SocketAddr, target: &str) -> Ws {
    let url = format!("ws://{addr}{target}");
    let (ws, _response) = within("the handshake", tokio_tungstenite::connect_async(url))
        .await
        .unwrap();
    ws
}

async fn send(ws: &mut Ws, text: &str) {
    within("a send", ws.send(Message::text(text)))
        .await
        .unwrap();
}

/// The next data or close message, skipping pings and pongs.
async fn next(ws: &mut Ws) -> Message {
    loop {
        match within("a message", ws.next()).await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(message)) => return message,
            other => panic!("the connection ended instead: {other:?}"),
        }
    }
}

async fn recv_text(ws: &mut Ws) -> String {
    match next(ws).await {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

async fn recv_json(ws: &mut Ws) -> Value {
    serde_json::from_str(&recv_text(ws).await).unwrap()
}

/// The server's close frame, then the end of the stream (tokio-tungstenite
/// answers the close while it is read to the end).
async fn recv_close(ws: &mut Ws) -> (u16, String) {
    let close = match next(ws).await {
        Message::Close(Some(frame)) => (u16::from(frame.code), frame.reason.as_str().to_owned()),
        other => panic!("expected a close frame, got {other:?}"),
    };
    while let Some(Ok(_)) = within("the end of the stream", ws.next()).await {}
    close
}

/// The status and headers of a refused upgrade.
async fn refused(
    addr: SocketAddr,
    target: &str,
    headers: &[(&'static str, &str)],
) -> (u16, Vec<(String, String)>) {
    let mut request = format!("ws://{addr}{target}")
        .into_client_request()
        .unwrap();
    for (name, value) in headers {
        request
            .headers_mut()
            .insert(*name, HeaderValue::from_str(value).unwrap());
    }
    match within("the refusal", tokio_tungstenite::connect_async(request)).await {
        Err(WsError::Http(response)) => {
            let headers = response
                .headers()
                .iter()
                .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
                .collect();
            (response.status().as_u16(), headers)
        }
        Err(other) => panic!("expected an HTTP refusal, got {other}"),
        Ok(_) => panic!("expected an HTTP refusal, but the upgrade succeeded"),
    }
}

/// The next frame a `Session` sends and the paused time it took to come.
async fn session_recv<H: lariat::Handler>(session: &mut Session<H>) -> (Frame, Duration) {
    let start = Instant::now();
    let frame = session.recv().await.expect("a frame");
    (frame, start.elapsed())
}

fn text_of(frame: &Frame) -> &str {
    match frame {
        Frame::Text(text) => text.as_str(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

fn close_of(frame: &Frame) -> (u16, &str) {
    match frame {
        Frame::Close(Some(close)) => (close.code().as_u16(), close.reason()),
        other => panic!("expected a close frame, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// ticker
// ---------------------------------------------------------------------------

fn is_price(line: &str, symbol: &str) -> bool {
    let Some(price) = line.strip_prefix(symbol).and_then(|p| p.strip_prefix(' ')) else {
        return false;
    };
    let Some((units, cents)) = price.split_once('.') else {
        return false;
    };
    units.parse::<u64>().is_ok() && cents.len() == 2 && cents.parse::<u8>().is_ok()
}

/// The next text that is not a price of `symbol`.
async fn recv_skipping_prices(ws: &mut Ws, symbol: &str) -> String {
    loop {
        let line = recv_text(ws).await;
        if !is_price(&line, symbol) {
            return line;
        }
    }
}

#[tokio::test]
async fn ticker_pushes_prices_until_paused() {
    let addr = start(ticker::server("127.0.0.1:0").await.unwrap());
    let mut ws = connect(addr, "/ticker?symbol=abc&every=50").await;
    assert_eq!(recv_text(&mut ws).await, "ticking ABC every 50 ms");
    for _ in 0..3 {
        let line = recv_text(&mut ws).await;
        assert!(is_price(&line, "ABC"), "not a price: {line}");
    }
    send(&mut ws, "pause").await;
    // Prices already on their way may come first.
    assert_eq!(recv_skipping_prices(&mut ws, "ABC").await, "paused");
    send(&mut ws, "every 60").await;
    assert_eq!(recv_text(&mut ws).await, "every 60 ms");
    send(&mut ws, "resume").await;
    assert_eq!(recv_text(&mut ws).await, "resumed");
    assert!(is_price(&recv_text(&mut ws).await, "ABC"));
    send(&mut ws, "what").await;
    assert_eq!(
        recv_skipping_prices(&mut ws, "ABC").await,
        "commands: pause, resume, every MS"
    );
    within("a binary send", ws.send(Message::binary(vec![1, 2, 3])))
        .await
        .unwrap();
    loop {
        match next(&mut ws).await {
            Message::Text(line) => assert!(is_price(&line, "ABC")),
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 1003);
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test]
async fn ticker_refuses_bad_queries() {
    let addr = start(ticker::server("127.0.0.1:0").await.unwrap());
    assert_eq!(refused(addr, "/ticker?every=10", &[]).await.0, 400);
    assert_eq!(refused(addr, "/ticker?symbol=no%20way", &[]).await.0, 400);
}

#[tokio::test(start_paused = true)]
async fn ticker_timers_fire_on_time_and_cancel() {
    let request = TestRequest::get("/ticker?symbol=LRT&every=500&for=3").build();
    let mut session = Session::<ticker::Ticker>::connect(request).await.unwrap();
    let (hello, _) = session_recv(&mut session).await;
    assert_eq!(text_of(&hello), "ticking LRT every 500 ms");

    // The walk is seeded by the symbol: the same prices every time.
    let mut expected = ticker::Ticker::new("LRT", Duration::from_millis(500));
    for _ in 0..2 {
        let (price, after) = session_recv(&mut session).await;
        assert_eq!(after, Duration::from_millis(500));
        assert_eq!(text_of(&price), expected.quote());
    }
    // t = 1.0 s: pause. The cancelled timer never fires: the next frame is
    // the end of the session at t = 3 s, nothing before.
    session.send(Frame::text("pause")).await;
    let (paused, _) = session_recv(&mut session).await;
    assert_eq!(text_of(&paused), "paused");
    let (end, after) = session_recv(&mut session).await;
    assert_eq!(close_of(&end), (1000, "session over"));
    assert_eq!(after, Duration::from_secs(2));
    let (_, reason) = session.finish().await;
    assert!(matches!(reason, Terminate::Shutdown), "{reason:?}");
}

// ---------------------------------------------------------------------------
// json
// ---------------------------------------------------------------------------

#[tokio::test]
async fn json_commands_get_json_answers() {
    let addr = start(json::server("127.0.0.1:0").await.unwrap());
    let mut ws = connect(addr, "/json").await;
    assert_eq!(recv_json(&mut ws).await["type"], "hello");

    let exchanges = [
        (
            json!({"type": "set", "key": "a", "value": [1, 2, 3]}),
            json!({"type": "stored", "key": "a", "replaced": false}),
        ),
        (
            json!({"type": "set", "key": "a", "value": {"x": null}}),
            json!({"type": "stored", "key": "a", "replaced": true}),
        ),
        (
            json!({"type": "set", "key": "b", "value": "two"}),
            json!({"type": "stored", "key": "b", "replaced": false}),
        ),
        (
            json!({"type": "get", "key": "a"}),
            json!({"type": "value", "key": "a", "value": {"x": null}}),
        ),
        (
            json!({"type": "get", "key": "zz"}),
            json!({"type": "value", "key": "zz", "value": null}),
        ),
        (
            json!({"type": "keys"}),
            json!({"type": "keys", "keys": ["a", "b"]}),
        ),
        (
            json!({"type": "add", "numbers": [1, 2.5, -0.5]}),
            json!({"type": "sum", "total": 3.0}),
        ),
        (
            json!({"type": "delete", "key": "a"}),
            json!({"type": "deleted", "key": "a", "existed": true}),
        ),
        (
            json!({"type": "delete", "key": "a"}),
            json!({"type": "deleted", "key": "a", "existed": false}),
        ),
    ];
    for (command, answer) in exchanges {
        send(&mut ws, &command.to_string()).await;
        assert_eq!(recv_json(&mut ws).await, answer, "for {command}");
    }
    send(&mut ws, r#"{"type":"bye"}"#).await;
    assert_eq!(recv_close(&mut ws).await, (1000, "bye".to_owned()));
}

#[tokio::test]
async fn json_mistakes_close_with_a_code_that_says_which() {
    let addr = start(json::server("127.0.0.1:0").await.unwrap());
    let cases: [(Message, u16, &str); 5] = [
        (Message::text("{not json"), 1007, "invalid JSON"),
        (
            Message::text(r#"{"type":"launch"}"#),
            4400,
            "unknown variant `launch`",
        ),
        (
            Message::text(r#"{"type":"get"}"#),
            4400,
            "missing field `key`",
        ),
        (
            Message::text(r#"{"type":"keys","extra":1}"#),
            4400,
            "unknown field `extra`",
        ),
        (Message::binary(b"{}".to_vec()), 1003, ""),
    ];
    for (message, code, reason) in cases {
        let mut ws = connect(addr, "/json").await;
        recv_json(&mut ws).await;
        within("a send", ws.send(message.clone())).await.unwrap();
        let (got_code, got_reason) = recv_close(&mut ws).await;
        assert_eq!(got_code, code, "for {message:?}: {got_reason}");
        assert!(
            got_reason.starts_with(reason),
            "for {message:?}: reason {got_reason:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// auth
// ---------------------------------------------------------------------------

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn auth_refuses_without_a_good_token() {
    let addr = start(auth::server("127.0.0.1:0").await.unwrap());

    let (status, headers) = refused(addr, "/auth", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        header(&headers, "www-authenticate"),
        Some(r#"Bearer realm="lariat""#)
    );

    let (status, headers) = refused(addr, "/auth?token=guess", &[]).await;
    assert_eq!(status, 401);
    assert_eq!(
        header(&headers, "www-authenticate"),
        Some(r#"Bearer realm="lariat", error="invalid_token""#)
    );

    let (status, _) = refused(addr, "/auth", &[("authorization", "Bearer nope")]).await;
    assert_eq!(status, 401);

    // A good token, but only subprotocols the server does not speak.
    let (status, _) = refused(
        addr,
        "/auth?token=ada-secret",
        &[("sec-websocket-protocol", "mqtt, graphql-ws")],
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn auth_picks_a_subprotocol_the_client_offered() {
    let addr = start(auth::server("127.0.0.1:0").await.unwrap());

    // Offered in the client's order; the server prefers v2.
    let mut request = format!("ws://{addr}/auth").into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer ada-secret"),
    );
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("chat, lariat.v1, lariat.v2"),
    );
    let (mut ws, response) = within("the handshake", tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "lariat.v2"
    );
    assert_eq!(
        recv_json(&mut ws).await,
        json!({"hello": "ada", "protocol": "lariat.v2"})
    );
    send(&mut ws, "whoami").await;
    assert_eq!(
        recv_json(&mut ws).await,
        json!({"user": "ada", "lifetime": 3600})
    );
    send(&mut ws, "logout").await;
    assert_eq!(recv_close(&mut ws).await, (4000, "logged out".to_owned()));

    // The query token, and v1 only.
    let mut request = format!("ws://{addr}/auth?token=eve-short")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("lariat.v1"),
    );
    let (mut ws, response) = within("the handshake", tokio_tungstenite::connect_async(request))
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("sec-websocket-protocol").unwrap(),
        "lariat.v1"
    );
    assert_eq!(recv_text(&mut ws).await, "hello eve, protocol lariat.v1");
    send(&mut ws, "whoami").await;
    assert_eq!(recv_text(&mut ws).await, "eve (token valid 30 s)");

    // No subprotocol offered: none answered, plain text.
    let (mut ws, response) = within(
        "the handshake",
        tokio_tungstenite::connect_async(format!("ws://{addr}/auth?token=ada-secret")),
    )
    .await
    .unwrap();
    assert!(response.headers().get("sec-websocket-protocol").is_none());
    assert_eq!(recv_text(&mut ws).await, "hello ada, protocol none");
}

#[tokio::test(start_paused = true)]
async fn auth_closes_with_4001_when_the_token_expires() {
    let request = TestRequest::get("/auth?token=eve-short")
        .protocol("lariat.v1")
        .build();
    let mut session = Session::<auth::Authed>::connect(request).await.unwrap();
    let (hello, _) = session_recv(&mut session).await;
    assert_eq!(text_of(&hello), "hello eve, protocol lariat.v1");
    let (end, after) = session_recv(&mut session).await;
    assert_eq!(close_of(&end), (4001, "token expired"));
    assert_eq!(after, auth::ACCOUNTS[1].lifetime);
    let (_, reason) = session.finish().await;
    assert!(matches!(reason, Terminate::Shutdown), "{reason:?}");

    let refused = Session::<auth::Authed>::connect(TestRequest::get("/auth").build()).await;
    assert_eq!(refused.map(|_| ()).unwrap_err().status(), 401);
}

// ---------------------------------------------------------------------------
// game
// ---------------------------------------------------------------------------

/// Plays one round by bisection over a real socket; returns the last answer.
async fn bisect(ws: &mut Ws) -> String {
    let (mut low, mut high) = (1_u32, 100_u32);
    loop {
        let guess = (low + high) / 2;
        send(ws, &format!("guess {guess}")).await;
        let answer = recv_text(ws).await;
        if answer.starts_with(&format!("{guess} is too low")) {
            low = guess + 1;
        } else if answer.starts_with(&format!("{guess} is too high")) {
            high = guess - 1;
        } else {
            return answer;
        }
    }
}

#[tokio::test]
async fn game_walks_lobby_playing_finished() {
    let addr = start(game::server("127.0.0.1:0").await.unwrap());
    let mut ws = connect(addr, "/game?seed=42").await;
    assert_eq!(recv_text(&mut ws).await, "lobby: join NAME, then start");

    // The same words mean different things in different phases.
    send(&mut ws, "start").await;
    assert_eq!(
        recv_text(&mut ws).await,
        "`start` does not work in the lobby; say join NAME"
    );
    send(&mut ws, "guess 50").await;
    assert_eq!(
        recv_text(&mut ws).await,
        "`guess 50` does not work in the lobby; say join NAME"
    );
    send(&mut ws, "join ada").await;
    assert_eq!(recv_text(&mut ws).await, "welcome ada; say start");
    send(&mut ws, "start").await;
    assert!(
        recv_text(&mut ws)
            .await
            .starts_with("round 1: guess my number")
    );
    send(&mut ws, "join bob").await;
    assert_eq!(
        recv_text(&mut ws).await,
        "`join bob` does not work while playing; say guess N"
    );
    send(&mut ws, "guess 500").await;
    assert_eq!(recv_text(&mut ws).await, "guess a number from 1 to 100");

    // Bisection finds 1..=100 in at most 7 tries.
    let won = bisect(&mut ws).await;
    assert!(won.contains("is right, found in"), "{won}");
    assert!(
        won.ends_with("ada won 1 of 1 rounds; say again or quit"),
        "{won}"
    );
    send(&mut ws, "guess 1").await;
    assert_eq!(
        recv_text(&mut ws).await,
        "`guess 1` does not work after a round; say again, quit"
    );
    send(&mut ws, "again").await;
    assert!(recv_text(&mut ws).await.starts_with("round 2:"));
    let won = bisect(&mut ws).await;
    assert!(
        won.ends_with("ada won 2 of 2 rounds; say again or quit"),
        "{won}"
    );
    send(&mut ws, "quit").await;
    assert_eq!(recv_close(&mut ws).await, (1000, "bye".to_owned()));
}

/// Plays one round by bisection in a session; returns the last answer.
async fn bisect_session(session: &mut Session<game::Game>) -> String {
    let (mut low, mut high) = (1_u32, 100_u32);
    loop {
        let guess = (low + high) / 2;
        session.send(Frame::text(format!("guess {guess}"))).await;
        let (frame, _) = session_recv(session).await;
        let answer = text_of(&frame).to_owned();
        if answer.starts_with(&format!("{guess} is too low")) {
            low = guess + 1;
        } else if answer.starts_with(&format!("{guess} is too high")) {
            high = guess - 1;
        } else {
            return answer;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn game_rounds_time_out_and_old_timers_are_ignored() {
    let request = TestRequest::get("/game?seed=7").build();
    let mut session = Session::<game::Game>::connect(request).await.unwrap();
    session_recv(&mut session).await;
    for command in ["join eve", "start"] {
        session.send(Frame::text(command)).await;
        session_recv(&mut session).await;
    }
    // Round 1 is left alone: its timer ends it after 60 s.
    let (frame, after) = session_recv(&mut session).await;
    assert_eq!(after, Duration::from_secs(60));
    assert!(text_of(&frame).starts_with("time is up in round 1: it was "));

    // Round 2 is won at once; 30 s later round 3 starts. Round 2's timer
    // (due at 120 s) must not end round 3: the next frame is round 3's
    // own time-up at 150 s.
    session.send(Frame::text("again")).await;
    session_recv(&mut session).await;
    let won = bisect_session(&mut session).await;
    assert!(won.contains("is right"), "{won}");
    session.advance(Duration::from_secs(30)).await;
    session.send(Frame::text("again")).await;
    let (frame, _) = session_recv(&mut session).await;
    assert!(text_of(&frame).starts_with("round 3:"));
    let (frame, after) = session_recv(&mut session).await;
    assert_eq!(after, Duration::from_secs(60));
    assert!(text_of(&frame).starts_with("time is up in round 3"));
    assert!(text_of(&frame).ends_with("eve won 1 of 3 rounds; say again or quit"));
}

// ---------------------------------------------------------------------------
// backpressure
// ---------------------------------------------------------------------------

#[tokio::test]
async fn backpressure_jobs_are_done_one_at_a_time() {
    let addr = start(backpressure::server("127.0.0.1:0").await.unwrap());
    let mut ws = connect(addr, "/slow?delay_ms=20").await;
    assert_eq!(
        recv_text(&mut ws).await,
        "slow consumer: every message takes 20 ms"
    );
    let started = std::time::Instant::now();
    for i in 1..=10 {
        within("a feed", ws.feed(Message::text("x".repeat(i))))
            .await
            .unwrap();
    }
    within("a flush", ws.flush()).await.unwrap();
    for i in 1..=10 {
        assert_eq!(
            recv_text(&mut ws).await,
            format!("done {i}: {i} bytes after 20 ms")
        );
    }
    // Ten jobs of 20 ms, one after the other.
    assert!(started.elapsed() >= Duration::from_millis(200));
}

/// A masked binary frame of `len` bytes, with a zero mask (valid: the
/// payload goes as is).
fn masked_binary_frame(len: usize) -> Vec<u8> {
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(len as u64).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.resize(frame.len() + len, b'x');
    frame
}

#[tokio::test]
async fn backpressure_reaches_a_fast_client() {
    let server = backpressure::server("127.0.0.1:0").await.unwrap();
    let stats = server.stats();
    let addr = start(server);

    // A raw client, so the test sees exactly when its writes stall.
    let mut stream = within("connect", TcpStream::connect(addr)).await.unwrap();
    stream
        .write_all(
            b"GET /slow?delay_ms=10000 HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0];
        within("the response head", stream.read_exact(&mut byte))
            .await
            .unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );

    // Write 64 KiB messages as fast as the socket takes them. The first
    // job takes 10 s and the server stops reading meanwhile, so the kernel
    // buffers fill and the socket stops taking data: a stall of 500 ms.
    let frame = masked_binary_frame(64 * 1024);
    let cap = 256 << 20;
    let mut written = 0_usize;
    let mut offset = 0;
    loop {
        assert!(
            written < cap,
            "wrote {written} bytes without a stall: the server keeps reading"
        );
        match stream.try_write(&frame[offset..]) {
            Ok(n) => {
                written += n;
                offset = (offset + n) % frame.len();
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                let wait = tokio::time::timeout(Duration::from_millis(500), stream.writable());
                if wait.await.is_err() {
                    break;
                }
            }
            Err(error) => panic!("write failed: {error}"),
        }
    }
    // The server holds at most a read or two of it; the rest waits in the
    // kernel's buffers and, past them, in the client.
    let read = stats.snapshot().bytes_in;
    assert!(written > 1 << 20, "only {written} bytes written");
    assert!(
        read <= 256 * 1024,
        "the server read {read} of {written} bytes while paused"
    );
}

#[tokio::test(start_paused = true)]
async fn backpressure_acknowledges_at_the_consumers_pace() {
    let request = TestRequest::get("/slow?delay_ms=100").build();
    let mut session = Session::<backpressure::Slow>::connect(request)
        .await
        .unwrap();
    session_recv(&mut session).await;
    for i in 0..3 {
        session.send(Frame::binary(vec![0; 10 + i])).await;
    }
    for i in 1..=3 {
        let (frame, after) = session_recv(&mut session).await;
        assert_eq!(after, Duration::from_millis(100));
        assert_eq!(
            text_of(&frame),
            format!("done {i}: {} bytes after 100 ms", 9 + i)
        );
    }
}

// ---------------------------------------------------------------------------
// shutdown
// ---------------------------------------------------------------------------

#[tokio::test]
async fn shutdown_closes_every_client_with_1001() {
    let tally = Arc::new(shutdown::Tally::default());
    let server = shutdown::server("127.0.0.1:0", tally.clone())
        .await
        .unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(shutdown::run(server, tally, async {
        let _ = stopped.await;
    }));

    let mut clients = Vec::new();
    for (i, path) in ["/", "/a", "/b/c"].into_iter().enumerate() {
        let mut ws = connect(addr, path).await;
        assert_eq!(
            recv_text(&mut ws).await,
            format!(
                "connection {}: lines come back until the server stops",
                i + 1
            )
        );
        send(&mut ws, "ping?").await;
        assert_eq!(recv_text(&mut ws).await, "ping?");
        clients.push(ws);
    }

    stop.send(()).unwrap();
    for mut ws in clients {
        assert_eq!(recv_close(&mut ws).await.0, 1001);
        // Closing TCP ends the server's wait for this connection.
    }
    let closed = within("the server to stop", serving)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(closed, 3);
    // Nobody listens any more.
    assert!(TcpStream::connect(addr).await.is_err());
}
