//! Shared helpers of the integration tests: a server on a loopback port, the
//! terminate-reason channel, a tokio-tungstenite client, a raw client built
//! on `lariat::core` that can send exact (also invalid) bytes, and plain HTTP.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lariat::core::connection::{Config as CoreConfig, Connection, Role};
use lariat::core::frame::{FrameHeader, OpCode};
use lariat::core::handshake::{self, ClientResponse};
use lariat::core::mask::apply_mask;
use lariat::{CloseCode, Frame, Server, Terminate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single await of a test may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(10);

/// Awaits `future`, failing the test (instead of hanging) after [`LIMIT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(LIMIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {LIMIT:?} waiting for {what}"),
    }
}

// ---------------------------------------------------------------------------
// Terminate reasons
// ---------------------------------------------------------------------------

/// A terminate reason as the test handlers report it: an owned, comparable
/// mirror of [`Terminate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    Normal,
    Remote,
    RemoteClose(u16, String),
    Shutdown,
    Timeout,
    Crash(String),
    BadEncoding,
    BadFrame,
    Closed,
    Error(io::ErrorKind),
    /// A reason added to `Terminate` after these tests were written.
    Other(String),
}

impl From<&Terminate> for Ended {
    fn from(reason: &Terminate) -> Ended {
        match reason {
            Terminate::Normal => Ended::Normal,
            Terminate::Remote => Ended::Remote,
            Terminate::RemoteClose { code, payload } => {
                Ended::RemoteClose(code.as_u16(), payload.clone())
            }
            Terminate::Shutdown => Ended::Shutdown,
            Terminate::Timeout => Ended::Timeout,
            Terminate::Crash(message) => Ended::Crash(message.clone()),
            Terminate::BadEncoding => Ended::BadEncoding,
            Terminate::BadFrame => Ended::BadFrame,
            Terminate::Closed => Ended::Closed,
            Terminate::Error(error) => Ended::Error(error.kind()),
            other => Ended::Other(format!("{other:?}")),
        }
    }
}

/// What test handlers register as shared state and report into from `terminate`.
pub type Reporter = mpsc::UnboundedSender<Ended>;

/// The test's end of the terminate-reason channel.
#[derive(Debug)]
pub struct Reports {
    rx: mpsc::UnboundedReceiver<Ended>,
}

/// A reporter to register with `Server::state` and the reports it feeds.
pub fn reports() -> (Reporter, Reports) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, Reports { rx })
}

impl Reports {
    /// The next terminate reason any handler reported.
    pub async fn next(&mut self) -> Ended {
        within("a terminate reason", self.rx.recv())
            .await
            .expect("every handler is gone but no terminate reason arrived")
    }

    /// The next `n` reasons, sorted by their debug text (connections end in
    /// no particular order).
    pub async fn next_n(&mut self, n: usize) -> Vec<Ended> {
        let mut all = Vec::with_capacity(n);
        for _ in 0..n {
            all.push(self.next().await);
        }
        all.sort_by_key(|ended| format!("{ended:?}"));
        all
    }

    /// Stops the server, waits until it and every connection are gone (the
    /// channel closes when the last handler and the server's state are
    /// dropped), and returns the reasons reported meanwhile: after every
    /// expected reason was taken, this must be empty ("exactly once").
    pub async fn rest_after_shutdown(self, server: TestServer) -> Vec<Ended> {
        server.shutdown().await;
        self.rest().await
    }

    /// The reasons still to come until the channel closes: call it once the
    /// server has returned.
    pub async fn rest(mut self) -> Vec<Ended> {
        let mut rest = Vec::new();
        within("the terminate channel to close after shutdown", async {
            while let Some(ended) = self.rx.recv().await {
                rest.push(ended);
            }
        })
        .await;
        rest
    }
}

/// Asserts that, once the server is shut down, no further terminate reason
/// arrives.
pub async fn assert_no_more_reports(reports: Reports, server: TestServer) {
    let rest = reports.rest_after_shutdown(server).await;
    assert!(
        rest.is_empty(),
        "terminate ran more often than once: extra reasons {rest:?}"
    );
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

/// Binds a server on a fresh loopback port.
pub async fn bind() -> Server {
    Server::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0")
}

/// A server running on a task, with its shutdown signal.
#[derive(Debug)]
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
}

/// Spawns `serve_with_shutdown` on a task.
pub fn start(server: Server) -> TestServer {
    let addr = server.local_addr().expect("local_addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve_with_shutdown(async move {
        let _ = stopped.await;
    }));
    TestServer {
        addr,
        stop: Some(stop),
        task,
    }
}

impl TestServer {
    /// `ws://addr{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("ws://{}{}", self.addr, path)
    }

    /// Fires the shutdown signal without waiting.
    pub fn signal_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Fires the shutdown signal and waits until `serve_with_shutdown` returns.
    pub async fn shutdown(mut self) {
        self.signal_shutdown();
        within("serve_with_shutdown to return", &mut self.task)
            .await
            .expect("the server task panicked")
            .expect("serve_with_shutdown failed");
    }

    /// Waits until `serve_with_shutdown` returns (after `signal_shutdown`).
    pub async fn join(mut self) {
        within("serve_with_shutdown to return", &mut self.task)
            .await
            .expect("the server task panicked")
            .expect("serve_with_shutdown failed");
    }
}

// ---------------------------------------------------------------------------
// tokio-tungstenite client
// ---------------------------------------------------------------------------

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connects with tokio-tungstenite; the handshake must succeed.
pub async fn ws_connect(server: &TestServer, path: &str) -> Ws {
    let (ws, response) = within(
        "the WebSocket handshake",
        tokio_tungstenite::connect_async(server.url(path)),
    )
    .await
    .unwrap_or_else(|error| panic!("handshake to {path} failed: {error}"));
    assert_eq!(response.status().as_u16(), 101);
    ws
}

/// Connects with extra request headers.
pub async fn ws_connect_with(
    server: &TestServer,
    path: &str,
    headers: &[(&'static str, &'static str)],
) -> (
    Ws,
    tokio_tungstenite::tungstenite::handshake::client::Response,
) {
    let mut request = server.url(path).into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().insert(
            *name,
            tokio_tungstenite::tungstenite::http::HeaderValue::from_static(value),
        );
    }
    within(
        "the WebSocket handshake",
        tokio_tungstenite::connect_async(request),
    )
    .await
    .unwrap_or_else(|error| panic!("handshake to {path} failed: {error}"))
}

/// The next message; fails on the end of the stream or an error.
pub async fn ws_next(ws: &mut Ws) -> Message {
    match within("a message from the server", ws.next()).await {
        Some(Ok(message)) => message,
        Some(Err(error)) => panic!("the client failed while reading: {error}"),
        None => panic!("the connection ended while a message was expected"),
    }
}

/// Sends a message.
pub async fn ws_send(ws: &mut Ws, message: Message) {
    within("a send to the server", ws.send(message))
        .await
        .expect("send failed");
}

/// Sends a text message and expects it back unchanged.
pub async fn ws_echo(ws: &mut Ws, text: &str) {
    ws_send(ws, Message::text(text)).await;
    assert_eq!(ws_next(ws).await, Message::text(text));
}

/// Expects a text message.
pub async fn ws_expect_text(ws: &mut Ws, expected: &str) {
    match ws_next(ws).await {
        Message::Text(text) => assert_eq!(text.as_str(), expected),
        other => panic!("expected text {expected:?}, got {other:?}"),
    }
}

/// Reads until the server's close frame, skipping nothing: any other message
/// first fails the test. Then reads to the end of the stream (so the client
/// answers the close and sees the server finish) and drops the connection.
/// Returns the code and reason, `None` for a close without a code.
pub async fn ws_expect_close(mut ws: Ws) -> Option<(u16, String)> {
    let close = match ws_next(&mut ws).await {
        Message::Close(close) => close.map(|f| (u16::from(f.code), f.reason.as_str().to_owned())),
        other => panic!("expected a close frame, got {other:?}"),
    };
    ws_finish(ws).await;
    close
}

/// Reads to the end of the stream (errors included) and drops the client.
pub async fn ws_finish(mut ws: Ws) {
    within("the end of the connection", async {
        while let Some(Ok(message)) = ws.next().await {
            assert!(
                !matches!(message, Message::Text(_) | Message::Binary(_)),
                "data after the close frame: {message:?}"
            );
        }
    })
    .await;
}

// ---------------------------------------------------------------------------
// Raw client on lariat::core
// ---------------------------------------------------------------------------

pub const FIN: u8 = 0x80;
pub const RSV1: u8 = 0x40;
pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

const MASK_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The bytes of one frame: `first` is the whole first byte (FIN, RSV bits,
/// any opcode, reserved ones included), the payload is masked with a fixed
/// key when `masked`.
pub fn frame_bytes(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask = masked.then_some(MASK_KEY);
    let header = FrameHeader::new(OpCode::Binary, payload.len(), mask);
    let mut out = Vec::with_capacity(header.encoded_len() + payload.len());
    header.encode(&mut out);
    out[0] = first;
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
    out
}

/// A masked client frame, as a well-behaved client would send it.
pub fn client_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    frame_bytes(first, payload, true)
}

/// A frame exactly as it was on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub fin: bool,
    pub rsv: u8,
    pub opcode: OpCode,
    pub masked: bool,
    pub payload: Vec<u8>,
}

impl fmt::Debug for RawFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}{}{} {:?}",
            self.opcode,
            if self.fin { "" } else { " (no FIN)" },
            if self.masked { " (masked)" } else { "" },
            String::from_utf8_lossy(&self.payload[..self.payload.len().min(64)])
        )
    }
}

impl RawFrame {
    /// The whole frame at the start of `buffered` and the bytes it takes;
    /// `None` while more bytes are needed.
    pub fn parse(buffered: &[u8]) -> Option<(RawFrame, usize)> {
        let (header, header_len) =
            FrameHeader::parse(buffered).expect("the server sent a bad header")?;
        let len = usize::try_from(header.payload_len).unwrap();
        let payload = buffered.get(header_len..header_len + len)?.to_vec();
        let frame = RawFrame {
            fin: header.fin,
            rsv: u8::from(header.rsv1) << 2 | u8::from(header.rsv2) << 1 | u8::from(header.rsv3),
            opcode: header.opcode,
            masked: header.mask.is_some(),
            payload,
        };
        Some((frame, header_len + len))
    }

    /// The code of a close frame, `None` for an empty close body.
    pub fn close_code(&self) -> Option<u16> {
        assert_eq!(self.opcode, OpCode::Close, "not a close frame: {self:?}");
        match self.payload.as_slice() {
            [] => None,
            [high, low, ..] => Some(u16::from_be_bytes([*high, *low])),
            [_] => panic!("one-byte close body"),
        }
    }

    /// The reason of a close frame.
    pub fn close_reason(&self) -> String {
        String::from_utf8(self.payload.get(2..).unwrap_or_default().to_vec()).unwrap()
    }
}

/// A client that speaks exact bytes: ws-core's client `Connection` masks
/// and decodes the well-formed traffic, `send_raw` writes anything.
#[derive(Debug)]
pub struct RawClient {
    pub stream: TcpStream,
    pub conn: Connection,
    pub response: ClientResponse,
}

/// The raw client's ws-core configuration: no limits on what it receives.
fn client_config() -> CoreConfig {
    CoreConfig {
        max_frame_size: usize::MAX,
        max_message_size: usize::MAX,
        ..CoreConfig::default()
    }
}

impl RawClient {
    /// Connects and completes the handshake; `extra` bytes (frames) are
    /// written in the same write as the request head.
    pub async fn connect_with(
        server: &TestServer,
        path: &str,
        protocols: &[&str],
        extra: &[u8],
    ) -> RawClient {
        let key = handshake::client_key(&[42; 16]);
        let mut request =
            handshake::client_request(&server.addr.to_string(), path, &key, protocols, None);
        request.extend_from_slice(extra);
        RawClient::handshake(server, &request, &key).await
    }

    /// Sends `request` (a whole upgrade request head, written by the test)
    /// and completes the handshake it starts; `key` is its
    /// `Sec-WebSocket-Key`.
    pub async fn handshake(server: &TestServer, request: &[u8], key: &str) -> RawClient {
        let mut stream = within("TCP connect", TcpStream::connect(server.addr))
            .await
            .unwrap();
        stream.write_all(request).await.unwrap();
        let mut buffer = Vec::new();
        let (response, used) = within("the 101 response", async {
            loop {
                if let Some(done) = handshake::parse_response(&buffer, key)
                    .unwrap_or_else(|error| panic!("handshake failed: {error}"))
                {
                    return done;
                }
                let mut chunk = [0u8; 1024];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the server closed during the handshake");
                buffer.extend_from_slice(&chunk[..n]);
            }
        })
        .await;
        let mut conn = Connection::new(Role::Client, client_config());
        conn.handle_bytes(&buffer[used..]);
        RawClient {
            stream,
            conn,
            response,
        }
    }

    /// Connects to `path` and completes the handshake.
    pub async fn connect(server: &TestServer, path: &str) -> RawClient {
        RawClient::connect_with(server, path, &[], &[]).await
    }

    /// Sends a well-formed frame (masked by ws-core).
    pub async fn send(&mut self, frame: Frame) {
        self.conn.send(frame).expect("the client already closed");
        self.flush().await;
    }

    /// Writes bytes as they are.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        within("a raw write", self.stream.write_all(bytes))
            .await
            .unwrap();
    }

    async fn flush(&mut self) {
        within(
            "a write",
            self.stream.write_all_buf(self.conn.send_buffer()),
        )
        .await
        .unwrap();
    }

    /// The next frame from the server, decoded by ws-core (pongs and close
    /// replies are answered); `None` at the end of the connection.
    pub async fn recv(&mut self) -> Option<Frame> {
        within("a frame from the server", async {
            loop {
                match self.conn.poll_frame() {
                    Ok(Some(frame)) => {
                        self.flush().await;
                        return Some(frame);
                    }
                    Ok(None) if self.conn.is_closed() => {
                        self.flush().await;
                        return None;
                    }
                    Ok(None) => {}
                    Err(error) => panic!("the server broke the protocol: {error}"),
                }
                let input = self.conn.input_mut();
                input.reserve(64 * 1024);
                match self.stream.read_buf(input).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
    }

    /// Expects a text frame.
    pub async fn expect_text(&mut self, expected: &str) {
        match self.recv().await {
            Some(Frame::Text(text)) => assert_eq!(text.as_str(), expected),
            other => panic!("expected text {expected:?}, got {other:?}"),
        }
    }

    /// Reads every frame until the server closes TCP, answering the
    /// server's close frame with its code, and returns them exactly as
    /// they were on the wire (frames after a close included).
    pub async fn transcript(mut self) -> Vec<RawFrame> {
        let mut buffer: Vec<u8> = self.conn.input_mut().split().to_vec();
        let mut frames = Vec::new();
        let mut answered = false;
        within("the server to close the connection", async {
            loop {
                while let Some((frame, taken)) = RawFrame::parse(&buffer) {
                    buffer.drain(..taken);
                    if frame.opcode == OpCode::Close && !answered {
                        answered = true;
                        let echo = frame
                            .close_code()
                            .and_then(CloseCode::new)
                            .map_or(Frame::Close(None), Frame::close);
                        if self.conn.send(echo).is_ok() {
                            // The server may have closed already; that is fine.
                            let _ = self.stream.write_all_buf(self.conn.send_buffer()).await;
                        }
                    }
                    frames.push(frame);
                }
                let mut chunk = vec![0u8; 64 * 1024];
                match self.stream.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buffer.extend_from_slice(&chunk[..n]),
                }
            }
        })
        .await;
        assert!(
            buffer.is_empty(),
            "{} bytes of a partial frame at the end",
            buffer.len()
        );
        frames
    }

    /// Reads the transcript and expects it to end with one close frame with
    /// `code`, with no data frame anywhere; returns the close frame.
    pub async fn expect_close_transcript(self, code: u16) -> RawFrame {
        let frames = self.transcript().await;
        let last = frames
            .last()
            .unwrap_or_else(|| panic!("no close frame, nothing at all"))
            .clone();
        assert_eq!(last.opcode, OpCode::Close, "transcript {frames:?}");
        assert_eq!(last.close_code(), Some(code), "transcript {frames:?}");
        assert!(!last.masked, "the server masked its frame");
        assert_eq!(
            frames.iter().filter(|f| f.opcode == OpCode::Close).count(),
            1,
            "transcript {frames:?}"
        );
        last
    }
}

// ---------------------------------------------------------------------------
// Plain HTTP
// ---------------------------------------------------------------------------

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` as it is and reads the response until the server closes.
pub async fn http_exchange(addr: SocketAddr, request: &[u8]) -> HttpResponse {
    let mut stream = within("TCP connect", TcpStream::connect(addr))
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut bytes = Vec::new();
    within("the HTTP response", stream.read_to_end(&mut bytes))
        .await
        .expect("reading the HTTP response");
    parse_http_response(&bytes)
}

/// Parses a whole HTTP/1.1 response (head and `Content-Length` body).
pub fn parse_http_response(bytes: &[u8]) -> HttpResponse {
    let response = parse_http_head(bytes);
    if let Some(len) = response.header("content-length") {
        assert_eq!(
            response.body.len(),
            len.parse::<usize>().unwrap(),
            "Content-Length and body disagree"
        );
    }
    response
}

/// Parses an HTTP/1.1 response head; `body` is whatever follows it, which
/// for an answer to HEAD must be nothing, whatever `Content-Length` says
/// (RFC 9110 §9.3.2).
pub fn parse_http_head(bytes: &[u8]) -> HttpResponse {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| {
            panic!(
                "no complete HTTP head in {:?}",
                String::from_utf8_lossy(bytes)
            )
        });
    let head = String::from_utf8_lossy(&bytes[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(
        parts.next(),
        Some("HTTP/1.1"),
        "status line {status_line:?}"
    );
    let status = parts.next().unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').expect("a header line");
            (name.trim().to_owned(), value.trim().to_owned())
        })
        .collect();
    HttpResponse {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    }
}

/// The `Sec-WebSocket-Key` of [`upgrade_request`] (RFC 6455 §1.3's sample).
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A WebSocket upgrade request head with a given `Sec-WebSocket-Version`.
pub fn upgrade_request(path: &str, version: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\n\
         Host: 127.0.0.1\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\n\
         Sec-WebSocket-Version: {version}\r\n\r\n"
    )
    .into_bytes()
}

// ---------------------------------------------------------------------------
// Memory of this process
// ---------------------------------------------------------------------------

/// A `VmXxx:` line of `/proc/self/status`, in bytes.
fn proc_status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|line| line.starts_with(field))
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"));
    let kib: u64 = line[field.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("unexpected line {line:?}"));
    kib * 1024
}

/// The resident set size of this process now, in bytes (`VmRSS`).
pub fn rss_bytes() -> u64 {
    proc_status_bytes("VmRSS:")
}

/// The peak resident set size since the start or the last
/// [`reset_peak_rss`], in bytes (`VmHWM`).
pub fn peak_rss_bytes() -> u64 {
    proc_status_bytes("VmHWM:")
}

/// Resets the peak resident set size to the current one (Linux: `echo 5 >
/// /proc/self/clear_refs`).
pub fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").expect("write /proc/self/clear_refs");
}

/// Set in a test's own process by [`in_own_process`]: the test it runs.
const OWN_PROCESS_VAR: &str = "LARIAT_TEST_OWN_PROCESS";

/// Runs test `name` (the calling test) again in a fresh process of this
/// test binary, so that what it measures of the process's memory is its
/// own: memory other tests freed would otherwise be reused without showing
/// in the resident set size. Returns `true` in that process, where the
/// test runs; in the calling process it waits for the other one, fails if
/// that failed, forwards its output, and returns `false`.
pub fn in_own_process(name: &str) -> bool {
    if std::env::var(OWN_PROCESS_VAR).as_deref() == Ok(name) {
        return true;
    }
    let output = std::process::Command::new(std::env::current_exe().expect("current_exe"))
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(OWN_PROCESS_VAR, name)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run the test in a process of its own");
    eprint!("{}", String::from_utf8_lossy(&output.stdout));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "{name} failed in its own process ({})",
        output.status
    );
    false
}
