//! The server over real loopback sockets: pages, 404 and the fallback, bad
//! handshakes (426, 400, 408), what `init` sees of the request, and
//! graceful shutdown.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use std::time::Instant;

use lariat::Config;
use lariat::prelude::*;
use support::{
    Ended, Reporter, assert_no_more_reports, bind, http_exchange, reports, start, upgrade_request,
    within, ws_connect, ws_connect_with, ws_echo, ws_expect_close, ws_expect_text, ws_finish,
    ws_next, ws_send,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

const PAGE: &str = "<!doctype html><h1>lariat</h1>";

/// Echoes text; "pause" pauses reading.
struct Echo {
    reports: Option<Reporter>,
}

impl Handler for Echo {
    type Info = lariat::Never;

    async fn init(req: &Request) -> Init<Self> {
        Init::upgrade(Echo {
            reports: req.try_state::<Reporter>().cloned(),
        })
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Self::Info>) -> Reply {
        match frame {
            Frame::Text(text) if text == "pause" => Reply::text("paused").active(false),
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

/// Shared state a `Greeter` reads in `init`.
struct Greeting(&'static str);

/// Greets with what `init` learned from the request.
struct Greeter {
    line: String,
}

impl Handler for Greeter {
    type Info = lariat::Never;

    async fn init(req: &Request) -> Init<Self> {
        let Some(nick) = req.query("nick") else {
            return Init::reject(Response::new(400).body("nick is required"));
        };
        let line = format!(
            "{} {nick}; trace={}; method={} path={} query={}; loopback={}",
            req.state::<Greeting>().0,
            req.header("x-trace").unwrap_or("-"),
            req.method(),
            req.path(),
            req.query_string().unwrap_or("-"),
            req.peer().ip().is_loopback(),
        );
        Init::upgrade(Greeter { line })
    }

    async fn open(&mut self, _ctx: &mut Ctx<Self::Info>) -> Reply {
        Reply::text(self.line.clone())
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Self::Info>) -> Reply {
        lariat::unmatched(&frame)
    }
}

fn get(path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
}

#[tokio::test]
async fn page_answers_a_plain_get_with_200_and_the_html() {
    let server = start(bind().await.page("/", PAGE).route("/ws", Echo::handler()));
    let response = http_exchange(server.addr, &get("/")).await;
    assert_eq!(response.status, 200);
    assert!(
        response
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        response.headers
    );
    assert_eq!(response.body_text(), PAGE);
    server.shutdown().await;
}

#[tokio::test]
async fn unknown_path_answers_404() {
    let server = start(bind().await.page("/", PAGE).route("/ws", Echo::handler()));
    let response = http_exchange(server.addr, &get("/nowhere")).await;
    assert_eq!(response.status, 404);
    // An upgrade request on a path without a route is not upgraded either.
    let response = http_exchange(server.addr, &upgrade_request("/nowhere", "13")).await;
    assert_eq!(response.status, 404);
    server.shutdown().await;
}

#[tokio::test]
async fn fallback_replaces_the_404() {
    let server = start(bind().await.page("/", PAGE).fallback(|req| {
        Response::new(418)
            .header("X-Asked", req.path())
            .body(format!("no page at {}", req.path()))
    }));
    let response = http_exchange(server.addr, &get("/teapot?x=1")).await;
    assert_eq!(response.status, 418);
    assert_eq!(response.header("x-asked"), Some("/teapot"));
    assert_eq!(response.body_text(), "no page at /teapot");
    // Pages still win over the fallback.
    let response = http_exchange(server.addr, &get("/")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body_text(), PAGE);
    server.shutdown().await;
}

#[tokio::test]
async fn a_page_and_a_websocket_route_share_one_path() {
    let server = start(bind().await.page("/", PAGE).route("/", Echo::handler()));
    let response = http_exchange(server.addr, &get("/")).await;
    assert_eq!(response.status, 200);
    assert_eq!(response.body_text(), PAGE);
    let mut ws = ws_connect(&server, "/").await;
    ws_echo(&mut ws, "same port, same path").await;
    drop(ws);
    server.shutdown().await;
}

#[tokio::test]
async fn unsupported_websocket_version_gets_426_with_the_supported_versions() {
    let (tx, reports) = reports();
    let server = start(bind().await.state(tx).route("/ws", Echo::handler()));
    let response = http_exchange(server.addr, &upgrade_request("/ws", "12")).await;
    assert_eq!(response.status, 426);
    assert_eq!(response.header("sec-websocket-version"), Some("13, 8, 7"));
    // init never ran: no handler, no terminate.
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn malformed_requests_get_400() {
    let (tx, reports) = reports();
    let server = start(
        bind()
            .await
            .state(tx)
            .page("/", PAGE)
            .route("/ws", Echo::handler()),
    );
    let cases: [(&str, &[u8]); 4] = [
        (
            "a header line without a colon",
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon here\r\n\r\n",
        ),
        (
            "not HTTP at all",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        ),
        (
            "an upgrade without a key",
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n",
        ),
        (
            "an upgrade with a key of the wrong length",
            b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
              Connection: Upgrade\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\
              Sec-WebSocket-Version: 13\r\n\r\n",
        ),
    ];
    for (what, request) in cases {
        let response = http_exchange(server.addr, request).await;
        assert_eq!(response.status, 400, "{what}");
    }
    assert_no_more_reports(reports, server).await;
}

#[tokio::test]
async fn a_client_that_sends_no_request_gets_408_after_the_handshake_timeout() {
    let server = start(bind().await.config(Config {
        handshake_timeout: Duration::from_millis(200),
        ..Config::default()
    }));
    let mut stream = within("TCP connect", TcpStream::connect(server.addr))
        .await
        .unwrap();
    let started = Instant::now();
    let mut bytes = Vec::new();
    within("the 408", stream.read_to_end(&mut bytes))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!(support::parse_http_response(&bytes).status, 408);
    server.shutdown().await;
}

#[tokio::test]
async fn init_sees_the_query_the_headers_and_the_shared_state() {
    let server = start(
        bind()
            .await
            .state(Greeting("howdy"))
            .route("/greet", Greeter::handler()),
    );
    let (mut ws, _) = ws_connect_with(
        &server,
        "/greet?lang=en&nick=b%C3%B6b+jr",
        &[("X-Trace", "42")],
    )
    .await;
    ws_expect_text(
        &mut ws,
        "howdy böb jr; trace=42; method=GET path=/greet query=lang=en&nick=b%C3%B6b+jr; loopback=true",
    )
    .await;
    drop(ws);
    server.shutdown().await;
}

#[tokio::test]
async fn init_can_answer_a_request_without_a_parameter_with_400() {
    let server = start(
        bind()
            .await
            .state(Greeting("howdy"))
            .route("/greet", Greeter::handler()),
    );
    let response = http_exchange(server.addr, &upgrade_request("/greet", "13")).await;
    assert_eq!(response.status, 400);
    assert_eq!(response.body_text(), "nick is required");
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_closes_every_connection_with_1001_and_serve_returns() {
    let (tx, mut reports) = reports();
    let mut server = start(bind().await.state(tx).route("/", Echo::handler()));
    let addr = server.addr;
    let mut first = ws_connect(&server, "/").await;
    let mut second = ws_connect(&server, "/").await;
    ws_echo(&mut first, "one").await;
    ws_echo(&mut second, "two").await;
    server.signal_shutdown();
    assert_eq!(ws_expect_close(first).await, Some((1001, String::new())));
    assert_eq!(ws_expect_close(second).await, Some((1001, String::new())));
    server.join().await;
    assert_eq!(reports.next_n(2).await, [Ended::Shutdown, Ended::Shutdown]);
    assert_eq!(reports.rest().await, []);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is still open after serve returned"
    );
}

#[tokio::test]
async fn shutdown_with_an_idle_server_returns_at_once() {
    let server = start(bind().await.route("/", Echo::handler()));
    let started = Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[tokio::test]
async fn shutdown_completes_promptly_for_a_paused_connection() {
    let (tx, mut reports) = reports();
    let mut server = start(
        bind()
            .await
            .config(Config {
                close_timeout: Duration::from_secs(3),
                ..Config::default()
            })
            .state(tx)
            .route("/", Echo::handler()),
    );
    let mut ws = ws_connect(&server, "/").await;
    ws_send(&mut ws, Message::text("pause")).await;
    ws_expect_text(&mut ws, "paused").await;
    server.signal_shutdown();
    match ws_next(&mut ws).await {
        Message::Close(Some(close)) => assert_eq!(u16::from(close.code), 1001),
        other => panic!("expected close 1001, got {other:?}"),
    }
    let received = Instant::now();
    // The client answers the close at once. The server must take that
    // answer although the handler paused reading.
    ws_finish(ws).await;
    server.join().await;
    let took = received.elapsed();
    assert_eq!(reports.next().await, Ended::Shutdown);
    assert!(
        took < Duration::from_millis(1500),
        "serve_with_shutdown returned {took:?} after the client answered close 1001 \
         (close_timeout is 3 s)"
    );
    assert_eq!(reports.rest().await, []);
}

#[tokio::test]
async fn a_connection_in_its_handshake_at_shutdown_does_not_hold_the_server() {
    let server = start(
        bind()
            .await
            .config(Config {
                handshake_timeout: Duration::from_secs(3),
                close_timeout: Duration::from_secs(3),
                ..Config::default()
            })
            .route("/", Echo::handler()),
    );
    // Connected, but the request head never completes.
    let mut stream = within("TCP connect", TcpStream::connect(server.addr))
        .await
        .unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    // Connections are accepted in order: once a later one is answered, the
    // half-open one is being served too.
    let response = http_exchange(server.addr, &get("/elsewhere")).await;
    assert_eq!(response.status, 404);
    let started = Instant::now();
    server.shutdown().await;
    let took = started.elapsed();
    // The handshake timeout is 3 s and the shutdown grace 6 s: returning
    // well before either shows the half-open handshake was not waited for.
    assert!(
        took < Duration::from_secs(2),
        "shutdown waited {took:?} for a client that never finished its request"
    );
}
