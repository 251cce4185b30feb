//! The conformance suite's harness: the echo server of `examples/echo.rs`
//! (and a twin that hibernates after every event) on a loopback port, and
//! a raw WebSocket client of our own that writes exact bytes, valid or not,
//! and reads the server's exact answers.
//!
//! The client shares no protocol code with lariat: frames are built and
//! parsed here, masking is done here, and compressed messages go through
//! the independent codec in [`deflate`]. Every frame the server sends is
//! checked against the rules a server must follow whatever the case
//! (RFC 6455 §5.1 no masking, §5.2 minimal length and no reserved bits,
//! §5.4 fragmentation, §5.5 control frames, §5.5.1 close payloads, §8.1
//! UTF-8 text, RFC 7692 §6 and §7 for compressed messages), so each case
//! also proves the server's side of the conversation.
//!
//! [`conformance!`] turns one async case into two tests, `echo` and
//! `hibernate`, which must behave the same.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod deflate;
pub mod utf8;

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lariat::Config;
use lariat::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::oneshot;

use self::deflate::{Deflater, Inflater};

/// Runs one case against both servers: `NAME::echo` and `NAME::hibernate`.
///
/// ```ignore
/// conformance! {
///     /// What the rule says.
///     async fn rfc6455_x_y_rule(target) {
///         let mut client = target.connect().await;
///         ...
///     }
/// }
/// ```
macro_rules! conformance {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($target:ident) $body:block
    )*) => {$(
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn case($target: Target) $body

            #[tokio::test]
            async fn echo() {
                case(Target::start(Variant::Echo).await).await;
            }

            #[tokio::test]
            async fn hibernate() {
                case(Target::start(Variant::Hibernate).await).await;
            }
        }
    )*};
}

// ---------------------------------------------------------------------------
// Time limits
// ---------------------------------------------------------------------------

/// How long any one await may take before the case fails instead of
/// hanging. Generous: 16 MiB messages are compressed in debug builds.
pub const LIMIT: Duration = Duration::from_secs(30);

/// Awaits `future`, failing the case after [`LIMIT`].
pub async fn within<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(LIMIT, future).await {
        Ok(output) => output,
        Err(_) => panic!("timed out after {LIMIT:?} waiting for {what}"),
    }
}

// ---------------------------------------------------------------------------
// The servers under test
// ---------------------------------------------------------------------------

/// The echo's limits: 16 MiB frames and messages.
pub const MAX_MESSAGE: usize = 16 << 20;

/// `examples/echo.rs`'s handler, line for line.
struct Echo;

impl Handler for Echo {
    type Info = lariat::Never;

    async fn init(_req: &Request) -> Init<Self> {
        Init::upgrade(Echo)
            .compress(true)
            .max_frame_size(MAX_MESSAGE)
            .max_message_size(MAX_MESSAGE)
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Self::Info>) -> Reply {
        match frame {
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            _ => Reply::ok(),
        }
    }
}

/// The same echo, hibernating after every event (Cowboy's `h1_hibernate`
/// group): buffers, and the decompressor where allowed, are released
/// between messages, between fragments (a ping in the middle of a message
/// is an event too) and right after the handshake.
struct HibernatingEcho;

impl Handler for HibernatingEcho {
    type Info = lariat::Never;

    async fn init(_req: &Request) -> Init<Self> {
        Init::upgrade(HibernatingEcho)
            .compress(true)
            .max_frame_size(MAX_MESSAGE)
            .max_message_size(MAX_MESSAGE)
    }

    async fn open(&mut self, _ctx: &mut Ctx<Self::Info>) -> Reply {
        Reply::ok().hibernate()
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Self::Info>) -> Reply {
        match frame {
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame).hibernate(),
            _ => Reply::ok().hibernate(),
        }
    }
}

/// Which handler a case runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Echo,
    Hibernate,
}

/// The server config of `examples/echo.rs`, except the close timeout: 60 s,
/// beyond [`LIMIT`], so every TCP close the suite sees in time was the
/// server's own decision and not a timer's.
pub fn echo_config() -> Config {
    Config {
        max_frame_size: MAX_MESSAGE,
        max_message_size: MAX_MESSAGE,
        close_timeout: Duration::from_secs(60),
        ..Config::default()
    }
}

/// A running server; it stops when the case's runtime ends.
#[derive(Debug)]
pub struct Target {
    pub addr: SocketAddr,
    pub variant: Variant,
    _stop: oneshot::Sender<()>,
}

impl Target {
    /// Starts the echo (`variant`) on a fresh loopback port.
    pub async fn start(variant: Variant) -> Target {
        let server = Server::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let addr = server.local_addr().unwrap();
        let server = server.config(echo_config());
        let server = match variant {
            Variant::Echo => server.route_any(Echo::handler()),
            Variant::Hibernate => server.route_any(HibernatingEcho::handler()),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(server.serve_with_shutdown(async move {
            let _ = stopped.await;
        }));
        Target {
            addr,
            variant,
            _stop: stop,
        }
    }

    /// Connects without extensions; the handshake must succeed.
    pub async fn connect(&self) -> Client {
        self.connect_with(&[]).await
    }

    /// Connects offering permessage-deflate with `offer` (the header
    /// value); the server must accept, and its answer must be one a client
    /// may accept for that offer (RFC 7692 §7.1).
    pub async fn connect_deflate(&self, offer: &str) -> Client {
        let client = self
            .connect_with(&[("Sec-WebSocket-Extensions", offer)])
            .await;
        assert!(
            client.deflate.is_some(),
            "permessage-deflate was declined for the offer {offer:?}"
        );
        client
    }

    /// Connects with extra request header lines; the handshake must succeed
    /// (RFC 6455 §4.2.2), and the client applies what it negotiated.
    pub async fn connect_with(&self, headers: &[(&str, &str)]) -> Client {
        let mut request = upgrade_request(&self.addr.to_string());
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        let (response, stream, leftover) = self.exchange(request.as_bytes()).await;
        assert_eq!(response.status, 101, "handshake refused: {}", response.head);
        check_switching_protocols(&response);
        let offers: Vec<&str> = headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("sec-websocket-extensions"))
            .map(|(_, value)| *value)
            .collect();
        let deflate = response.header("sec-websocket-extensions").map(|answer| {
            assert!(
                !offers.is_empty(),
                "RFC 6455 §9.1: the server answered with extensions nobody offered: {answer}"
            );
            check_deflate_answer(&offers.join(", "), answer)
        });
        assert!(
            response.headers_named("sec-websocket-extensions").count() <= 1,
            "more than one Sec-WebSocket-Extensions line in {}",
            response.head
        );
        Client::new(stream, leftover, response, deflate)
    }

    /// Sends `request` as it is and reads the response head: for handshake
    /// cases that expect a refusal. Returns the connection too.
    pub async fn exchange(&self, request: &[u8]) -> (HttpResponse, TcpStream, Vec<u8>) {
        let mut stream = within("TCP connect", TcpStream::connect(self.addr))
            .await
            .expect("connect to the server");
        stream.set_nodelay(true).unwrap();
        within("the request write", stream.write_all(request))
            .await
            .unwrap();
        let mut buffer = Vec::new();
        loop {
            if let Some(end) = find(&buffer, b"\r\n\r\n") {
                let head = String::from_utf8(buffer[..end].to_vec())
                    .expect("the response head is not UTF-8");
                let leftover = buffer[end + 4..].to_vec();
                return (HttpResponse::parse(&head), stream, leftover);
            }
            let mut chunk = [0u8; 4096];
            let n = within("the handshake response", stream.read(&mut chunk))
                .await
                .expect("reading the handshake response");
            assert!(n > 0, "the server closed before answering the handshake");
            buffer.extend_from_slice(&chunk[..n]);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------
// Handshake
// ---------------------------------------------------------------------------

/// RFC 6455 §1.3's sample key and the accept value it must produce.
pub const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// A valid upgrade request head without its final empty line.
pub fn upgrade_request(host: &str) -> String {
    format!(
        "GET /conformance HTTP/1.1\r\n\
         Host: {host}\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\n\
         Sec-WebSocket-Version: 13\r\n"
    )
}

/// A response head: status and header lines.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub head: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
}

impl HttpResponse {
    fn parse(head: &str) -> HttpResponse {
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(
            parts.next(),
            Some("HTTP/1.1"),
            "status line {status_line:?}"
        );
        let status = parts
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("status line {status_line:?}"));
        let headers = lines
            .map(|line| {
                let (name, value) = line
                    .split_once(':')
                    .unwrap_or_else(|| panic!("header line {line:?}"));
                (name.trim().to_owned(), value.trim().to_owned())
            })
            .collect();
        HttpResponse {
            head: head.to_owned(),
            status,
            headers,
        }
    }

    /// Every value of the header `name` (case-insensitive).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first value of the header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// RFC 6455 §4.2.2 item 5: the 101 answer's required fields.
pub fn check_switching_protocols(response: &HttpResponse) {
    let head = &response.head;
    assert!(
        response
            .header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
        "§4.2.2: Upgrade: websocket missing in {head}"
    );
    assert!(
        response.headers_named("connection").any(|v| v
            .split(',')
            .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))),
        "§4.2.2: Connection: Upgrade missing in {head}"
    );
    assert_eq!(
        response.header("sec-websocket-accept"),
        Some(SAMPLE_ACCEPT),
        "§4.2.2: Sec-WebSocket-Accept for the §1.3 sample key, in {head}"
    );
    assert_eq!(
        response.header("sec-websocket-protocol"),
        None,
        "§4.2.2: no subprotocol was offered, in {head}"
    );
}

/// permessage-deflate parameters in force, from the server's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeflateParams {
    pub server_no_context_takeover: bool,
    pub client_no_context_takeover: bool,
    pub server_max_window_bits: Option<u8>,
    pub client_max_window_bits: Option<u8>,
}

/// Parses one `name; p; q=v` element.
fn parse_element(element: &str) -> (String, Vec<(String, Option<String>)>) {
    let mut parts = element.split(';').map(str::trim);
    let name = parts.next().unwrap_or_default().to_owned();
    let params = parts
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (
                k.trim().to_owned(),
                Some(v.trim().trim_matches('"').to_owned()),
            ),
            None => (p.to_owned(), None),
        })
        .collect();
    (name, params)
}

/// RFC 7692 §5 and §7.1: checks the server's answer the way a strict
/// client must before accepting it, against the offers (a header value,
/// offers separated by commas), and returns the parameters in force.
pub fn check_deflate_answer(offers: &str, answer: &str) -> DeflateParams {
    assert!(
        !answer.contains(','),
        "RFC 7692 §5: the server accepted more than one extension: {answer:?}"
    );
    let (name, params) = parse_element(answer);
    assert_eq!(
        name, "permessage-deflate",
        "unknown extension in {answer:?}"
    );
    let mut seen = Vec::new();
    let mut result = DeflateParams::default();
    for (param, value) in &params {
        assert!(
            !seen.contains(param),
            "RFC 7692 §7: parameter {param} twice in {answer:?}"
        );
        seen.push(param.clone());
        let bits = || -> u8 {
            let v = value
                .as_deref()
                .unwrap_or_else(|| panic!("RFC 7692 §7.1.2: {param} needs a value in {answer:?}"));
            assert!(
                !v.starts_with('0') && v.bytes().all(|b| b.is_ascii_digit()),
                "RFC 7692 §7.1.2: {param}={v} in {answer:?}"
            );
            let bits: u8 = v.parse().unwrap();
            assert!((8..=15).contains(&bits), "RFC 7692 §7.1.2: {param}={v}");
            bits
        };
        match param.as_str() {
            "server_no_context_takeover" => {
                assert!(value.is_none(), "a value on {param} in {answer:?}");
                result.server_no_context_takeover = true;
            }
            "client_no_context_takeover" => {
                assert!(value.is_none(), "a value on {param} in {answer:?}");
                result.client_no_context_takeover = true;
            }
            "server_max_window_bits" => result.server_max_window_bits = Some(bits()),
            "client_max_window_bits" => result.client_max_window_bits = Some(bits()),
            other => panic!("RFC 7692 §7: unknown parameter {other} in {answer:?}"),
        }
    }
    // The answer must fit one of the offers (RFC 7692 §5.1, §7.1).
    let fits = offers
        .split(',')
        .map(parse_element)
        .any(|(offered, oparams)| {
            let has = |p: &str| oparams.iter().any(|(k, _)| k == p);
            let value = |p: &str| -> Option<u8> {
                oparams
                    .iter()
                    .find(|(k, _)| k == p)
                    .and_then(|(_, v)| v.as_deref()?.parse().ok())
            };
            offered.eq_ignore_ascii_case("permessage-deflate")
            // §7.1.1.1: an offered server_no_context_takeover is answered.
            && (!has("server_no_context_takeover") || result.server_no_context_takeover)
            // §7.1.2.1: no larger window than offered; when offered, answered.
            && match value("server_max_window_bits") {
                Some(offered) => result.server_max_window_bits.is_some_and(|b| b <= offered),
                None => true,
            }
            // §7.1.2.2: client_max_window_bits only when offered, and no larger.
            && match (has("client_max_window_bits"), result.client_max_window_bits) {
                (false, Some(_)) => false,
                (true, Some(bits)) => value("client_max_window_bits").is_none_or(|o| bits <= o),
                _ => true,
            }
        });
    assert!(
        fits,
        "RFC 7692 §7.1: the answer {answer:?} fits none of the offers {offers:?}"
    );
    result
}

// ---------------------------------------------------------------------------
// Frames on the wire
// ---------------------------------------------------------------------------

pub const FIN: u8 = 0x80;
pub const RSV1: u8 = 0x40;
pub const RSV2: u8 = 0x20;
pub const RSV3: u8 = 0x10;
pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Masking keys the suite cycles through, frame after frame: RFC 6455
/// §5.7's key, all zeros (the mask changes nothing), all ones, and others.
pub const KEYS: [[u8; 4]; 6] = [
    [0x37, 0xfa, 0x21, 0x3d],
    [0x00, 0x00, 0x00, 0x00],
    [0xff, 0xff, 0xff, 0xff],
    [0x01, 0x02, 0x04, 0x08],
    [0xa5, 0x5a, 0xc3, 0x3c],
    [0x80, 0x00, 0x00, 0x01],
];

static NEXT_KEY: AtomicUsize = AtomicUsize::new(0);

/// The next masking key of the cycle.
pub fn next_key() -> [u8; 4] {
    KEYS[NEXT_KEY.fetch_add(1, Ordering::Relaxed) % KEYS.len()]
}

/// `data` masked with `key`, as if it started `offset` bytes into a payload
/// (RFC 6455 §5.3: octet i is XORed with key[i mod 4]).
pub fn mask(data: &[u8], key: [u8; 4], offset: usize) -> Vec<u8> {
    data.iter()
        .enumerate()
        .map(|(i, byte)| byte ^ key[(offset + i) % 4])
        .collect()
}

/// How the payload length is written (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenForm {
    /// 7 bits: 0-125.
    Short,
    /// 126 and 16 bits.
    Medium,
    /// 127 and 64 bits.
    Long,
}

impl LenForm {
    /// The form RFC 6455 §5.2 requires ("the minimal number of bytes").
    pub fn minimal(len: u64) -> LenForm {
        match len {
            0..=125 => LenForm::Short,
            126..=65535 => LenForm::Medium,
            _ => LenForm::Long,
        }
    }
}

/// A frame header: `first` is the whole first byte (FIN, RSV bits, any
/// opcode), then the length in `form` and the masking key, if any.
pub fn header_in(first: u8, len: u64, form: LenForm, key: Option<[u8; 4]>) -> Vec<u8> {
    let mask_bit = if key.is_some() { 0x80 } else { 0 };
    let mut out = vec![first];
    match form {
        LenForm::Short => out.push(mask_bit | len as u8),
        LenForm::Medium => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        LenForm::Long => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
    }
    if let Some(key) = key {
        out.extend_from_slice(&key);
    }
    out
}

/// A header with the minimal length form.
pub fn header(first: u8, len: u64, key: Option<[u8; 4]>) -> Vec<u8> {
    header_in(first, len, LenForm::minimal(len), key)
}

/// A masked frame with a given key.
pub fn frame_with_key(first: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = header(first, payload.len() as u64, Some(key));
    out.extend_from_slice(&mask(payload, key, 0));
    out
}

/// A masked frame, as a client must send it, with the next key of the cycle.
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    frame_with_key(first, payload, next_key())
}

/// An unmasked frame, which a client must never send (RFC 6455 §5.1).
pub fn unmasked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = header(first, payload.len() as u64, None);
    out.extend_from_slice(payload);
    out
}

pub fn text(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(FIN | OP_TEXT, payload.as_ref())
}

pub fn binary(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(FIN | OP_BINARY, payload.as_ref())
}

pub fn ping(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(FIN | OP_PING, payload.as_ref())
}

pub fn pong(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(FIN | OP_PONG, payload.as_ref())
}

/// A close frame with a code and reason bytes (any bytes, valid or not).
pub fn close(code: u16, reason: impl AsRef<[u8]>) -> Vec<u8> {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_ref());
    frame(FIN | OP_CLOSE, &payload)
}

/// A close frame with an empty body.
pub fn close_empty() -> Vec<u8> {
    frame(FIN | OP_CLOSE, b"")
}

/// The first frame of a fragmented text message.
pub fn text_start(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(OP_TEXT, payload.as_ref())
}

/// The first frame of a fragmented binary message.
pub fn binary_start(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(OP_BINARY, payload.as_ref())
}

/// A continuation frame, not the last.
pub fn cont(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(OP_CONT, payload.as_ref())
}

/// The last continuation frame.
pub fn cont_fin(payload: impl AsRef<[u8]>) -> Vec<u8> {
    frame(FIN | OP_CONT, payload.as_ref())
}

/// `payload` as one message in frames of at most `size` bytes (at least one
/// frame, even for an empty payload), `first_opcode` on the first.
pub fn fragments(first_opcode: u8, payload: &[u8], size: usize) -> Vec<u8> {
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(size.max(1)).collect()
    };
    let last = chunks.len() - 1;
    let mut out = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let opcode = if i == 0 { first_opcode } else { OP_CONT };
        let fin = if i == last { FIN } else { 0 };
        out.extend_from_slice(&frame(fin | opcode, chunk));
    }
    out
}

/// Joins byte strings (frames) into one write.
pub fn cat<T: AsRef<[u8]>>(parts: &[T]) -> Vec<u8> {
    parts.iter().flat_map(|p| p.as_ref().to_vec()).collect()
}

/// `len` bytes of valid, compressible multi-byte UTF-8 text.
pub fn text_of(len: usize) -> String {
    const ROW: &str = "{\"user\":\"ada\",\"text\":\"hello, κόσμε ✓ 𝄞\",\"n\":12345}\n";
    let mut out = String::with_capacity(len + ROW.len());
    while out.len() < len {
        out.push_str(ROW);
    }
    let mut cut = len;
    while !out.is_char_boundary(cut) {
        cut -= 1;
    }
    out.truncate(cut);
    while out.len() < len {
        out.push('.');
    }
    out
}

/// `len` pseudo-random bytes (xorshift), every byte value present.
pub fn bytes_of(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A frame exactly as the server sent it.
#[derive(Clone, PartialEq, Eq)]
pub struct WireFrame {
    pub fin: bool,
    pub rsv1: bool,
    pub opcode: u8,
    pub form: LenForm,
    pub payload: Vec<u8>,
}

impl fmt::Debug for WireFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame(op {:#x}{}{}, {} bytes: {:02x?}{})",
            self.opcode,
            if self.fin { "" } else { ", no FIN" },
            if self.rsv1 { ", RSV1" } else { "" },
            self.payload.len(),
            &self.payload[..self.payload.len().min(24)],
            if self.payload.len() > 24 { "…" } else { "" }
        )
    }
}

/// What the server said, messages whole.
#[derive(Clone, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame: its code (none for an empty body) and reason.
    Close(Option<u16>, String),
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn short(bytes: &[u8]) -> String {
            let shown = String::from_utf8_lossy(&bytes[..bytes.len().min(40)]).into_owned();
            let more = if bytes.len() > 40 { "…" } else { "" };
            format!("{} bytes {shown:?}{more}", bytes.len())
        }
        match self {
            Event::Text(t) => write!(f, "Text({})", short(t.as_bytes())),
            Event::Binary(b) => write!(f, "Binary({})", short(b)),
            Event::Ping(p) => write!(f, "Ping({})", short(p)),
            Event::Pong(p) => write!(f, "Pong({})", short(p)),
            Event::Close(code, reason) => write!(f, "Close({code:?}, {reason:?})"),
        }
    }
}

impl Event {
    pub fn text(t: impl Into<String>) -> Event {
        Event::Text(t.into())
    }
    pub fn binary(b: impl Into<Vec<u8>>) -> Event {
        Event::Binary(b.into())
    }
    pub fn pong(p: impl Into<Vec<u8>>) -> Event {
        Event::Pong(p.into())
    }
}

/// Codes a server may put in a close frame (RFC 6455 §7.4.1, §7.4.2 and
/// the IANA registry): never 1004-1006, 1015, 1016-2999 or above 4999.
pub fn valid_to_send(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A data message being assembled from the server's frames.
#[derive(Debug)]
struct Partial {
    opcode: u8,
    compressed: bool,
    data: Vec<u8>,
}

/// The raw client.
#[derive(Debug)]
pub struct Client {
    reader: OwnedReadHalf,
    writer: Option<OwnedWriteHalf>,
    input: Vec<u8>,
    pub response: HttpResponse,
    /// permessage-deflate in force, if negotiated.
    pub deflate: Option<DeflateParams>,
    /// Decodes the server's compressed messages, checking its promises.
    pub inflater: Option<Inflater>,
    /// Compresses ours within what we promised.
    pub deflater: Option<Deflater>,
    partial: Option<Partial>,
    closed: bool,
    /// Whether the last data message from the server was compressed.
    pub last_compressed: bool,
}

impl Client {
    fn new(
        stream: TcpStream,
        leftover: Vec<u8>,
        response: HttpResponse,
        deflate: Option<DeflateParams>,
    ) -> Client {
        let inflater = deflate.map(|p| {
            Inflater::new(
                p.server_max_window_bits.unwrap_or(15),
                !p.server_no_context_takeover,
            )
        });
        let deflater = deflate.map(|p| {
            Deflater::new(
                p.client_max_window_bits.unwrap_or(15),
                !p.client_no_context_takeover,
            )
        });
        let (reader, writer) = stream.into_split();
        Client {
            reader,
            writer: Some(writer),
            input: leftover,
            response,
            deflate,
            inflater,
            deflater,
            partial: None,
            closed: false,
            last_compressed: false,
        }
    }

    fn writer(&mut self) -> &mut OwnedWriteHalf {
        self.writer
            .as_mut()
            .expect("the writer is out with a concurrent send")
    }

    /// Writes `bytes` in one write; it must succeed.
    pub async fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let bytes = bytes.as_ref();
        within("a write to the server", self.writer().write_all(bytes))
            .await
            .unwrap_or_else(|error| panic!("writing {} bytes failed: {error}", bytes.len()));
    }

    /// Writes `bytes`, ignoring errors: for bytes sent after the server may
    /// have closed.
    pub async fn send_lenient(&mut self, bytes: impl AsRef<[u8]>) {
        let _ = tokio::time::timeout(LIMIT, self.writer().write_all(bytes.as_ref())).await;
    }

    /// Writes `bytes` one byte per write, letting the server run between
    /// bytes, so frames arrive in as many pieces as the kernel allows.
    pub async fn send_bytewise(&mut self, bytes: impl AsRef<[u8]>) {
        for byte in bytes.as_ref() {
            self.send([*byte]).await;
            tokio::task::yield_now().await;
        }
    }

    /// Writes each part in its own write, letting the server run between
    /// them, so each tends to arrive, and be handled, on its own.
    pub async fn send_parts<T: AsRef<[u8]>>(&mut self, parts: &[T]) {
        for part in parts {
            self.send(part).await;
            tokio::task::yield_now().await;
        }
    }

    /// Writes `bytes` in writes of `size` bytes.
    pub async fn send_chunked(&mut self, bytes: impl AsRef<[u8]>, size: usize) {
        for chunk in bytes.as_ref().chunks(size) {
            self.send(chunk).await;
            tokio::task::yield_now().await;
        }
    }

    /// Writes `bytes` while reading the `expected` events, then checks them:
    /// for pipelined traffic larger than the socket buffers.
    pub async fn pipeline(&mut self, bytes: Vec<u8>, expected: &[Event]) {
        let mut writer = self.writer.take().unwrap();
        let write = tokio::spawn(async move {
            let result = writer.write_all(&bytes).await;
            (writer, result)
        });
        for (i, want) in expected.iter().enumerate() {
            let got = self.next_event().await;
            assert_eq!(&got, want, "event {i} of {}", expected.len());
        }
        let (writer, result) = within("the pipelined write", write).await.unwrap();
        result.expect("the pipelined write failed");
        self.writer = Some(writer);
    }

    /// Sends a message compressed with our [`Deflater`], in frames of at
    /// most `fragment` bytes of compressed payload (RSV1 on the first only,
    /// RFC 7692 §6.1).
    pub async fn send_compressed(&mut self, opcode: u8, data: &[u8], fragment: usize) {
        let bytes = self.compressed(opcode, data, fragment);
        self.send(bytes).await;
    }

    /// The frames of a compressed message (see [`Client::send_compressed`]).
    pub fn compressed(&mut self, opcode: u8, data: &[u8], fragment: usize) -> Vec<u8> {
        cat(&self.compressed_list(opcode, data, fragment))
    }

    /// The frames of a compressed message, one by one.
    pub fn compressed_list(&mut self, opcode: u8, data: &[u8], fragment: usize) -> Vec<Vec<u8>> {
        let payload = self
            .deflater
            .as_mut()
            .expect("permessage-deflate is not negotiated")
            .message(data);
        compressed_frame_list(opcode, &payload, fragment)
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = vec![0u8; 256 * 1024];
        match within("bytes from the server", self.reader.read(&mut chunk)).await {
            Ok(0) => false,
            Ok(n) => {
                self.input.extend_from_slice(&chunk[..n]);
                true
            }
            Err(error) => panic!(
                "the connection failed instead of closing cleanly: {error} \
                 (RFC 6455 §7.1.1: the server closes TCP after the closing handshake)"
            ),
        }
    }

    /// The next frame exactly as the server sent it, `None` at a clean end
    /// of the stream. Checks the rules every server frame follows.
    pub async fn next_frame(&mut self) -> Option<WireFrame> {
        loop {
            if let Some(frame) = self.parse_frame() {
                return Some(frame);
            }
            if !self.fill().await {
                assert!(
                    self.input.is_empty(),
                    "the server closed TCP in the middle of a frame: {:02x?}",
                    &self.input[..self.input.len().min(32)]
                );
                return None;
            }
        }
    }

    fn parse_frame(&mut self) -> Option<WireFrame> {
        let input = &self.input;
        if input.len() < 2 {
            return None;
        }
        let (first, second) = (input[0], input[1]);
        assert_eq!(
            second & 0x80,
            0,
            "RFC 6455 §5.1: the server masked a frame: {:02x?}",
            &input[..input.len().min(16)]
        );
        let (len, form, at) = match second & 0x7f {
            126 if input.len() >= 4 => (
                u64::from(u16::from_be_bytes([input[2], input[3]])),
                LenForm::Medium,
                4,
            ),
            127 if input.len() >= 10 => (
                u64::from_be_bytes(input[2..10].try_into().unwrap()),
                LenForm::Long,
                10,
            ),
            126 | 127 => return None,
            short => (u64::from(short), LenForm::Short, 2),
        };
        assert_eq!(
            form,
            LenForm::minimal(len),
            "RFC 6455 §5.2: the server encoded length {len} in the {form:?} form, not the minimal one"
        );
        let len = usize::try_from(len).unwrap();
        if input.len() < at + len {
            return None;
        }
        let frame = WireFrame {
            fin: first & FIN != 0,
            rsv1: first & RSV1 != 0,
            opcode: first & 0x0f,
            form,
            payload: input[at..at + len].to_vec(),
        };
        assert_eq!(
            first & (RSV2 | RSV3),
            0,
            "RFC 6455 §5.2: the server set RSV2/RSV3 (no extension defines them): {frame:?}"
        );
        assert!(
            matches!(frame.opcode, 0x0..=0x2 | 0x8..=0xa),
            "RFC 6455 §5.2: the server sent reserved opcode {:#x}",
            frame.opcode
        );
        if frame.opcode >= 0x8 {
            assert!(
                frame.fin && frame.payload.len() <= 125,
                "RFC 6455 §5.5: control frames are at most 125 bytes and not fragmented: {frame:?}"
            );
            assert!(
                !frame.rsv1,
                "RFC 7692 §6: RSV1 on a control frame: {frame:?}"
            );
        }
        self.input.drain(..at + len);
        Some(frame)
    }

    /// The next event: a whole message (fragments joined, decompressed,
    /// text checked as UTF-8) or a control frame. Fails at the end of the
    /// stream.
    pub async fn next_event(&mut self) -> Event {
        loop {
            let Some(frame) = self.next_frame().await else {
                panic!("the server closed TCP while an event was expected");
            };
            assert!(
                !self.closed,
                "RFC 6455 §5.5.1: the server sent a frame after its close frame: {frame:?}"
            );
            if let Some(event) = self.assemble(frame) {
                if matches!(event, Event::Close(..)) {
                    self.closed = true;
                }
                return event;
            }
        }
    }

    fn assemble(&mut self, frame: WireFrame) -> Option<Event> {
        match frame.opcode {
            OP_PING => return Some(Event::Ping(frame.payload)),
            OP_PONG => return Some(Event::Pong(frame.payload)),
            OP_CLOSE => return Some(parse_close(&frame.payload)),
            _ => {}
        }
        match (&mut self.partial, frame.opcode) {
            (None, OP_TEXT | OP_BINARY) => {
                assert!(
                    !frame.rsv1 || self.deflate.is_some(),
                    "RFC 6455 §5.2: RSV1 without a negotiated extension: {frame:?}"
                );
                self.partial = Some(Partial {
                    opcode: frame.opcode,
                    compressed: frame.rsv1,
                    data: frame.payload,
                });
            }
            (None, _) => {
                panic!("RFC 6455 §5.4: the server sent a continuation without a start: {frame:?}")
            }
            (Some(partial), OP_CONT) => {
                assert!(
                    !frame.rsv1,
                    "RFC 7692 §6.1: RSV1 on a continuation frame: {frame:?}"
                );
                partial.data.extend_from_slice(&frame.payload);
            }
            (Some(_), _) => {
                panic!("RFC 6455 §5.4: the server started a message inside another: {frame:?}")
            }
        }
        if !frame.fin {
            return None;
        }
        let Partial {
            opcode,
            compressed,
            data,
        } = self.partial.take().unwrap();
        self.last_compressed = compressed;
        let data = if compressed {
            self.inflater
                .as_mut()
                .unwrap()
                .message(&data)
                .unwrap_or_else(|error| {
                    panic!("RFC 7692: the server's compressed message is wrong: {error}")
                })
        } else {
            data
        };
        Some(if opcode == OP_TEXT {
            Event::Text(String::from_utf8(data).unwrap_or_else(|error| {
                panic!("RFC 6455 §8.1: the server sent invalid UTF-8 text: {error}")
            }))
        } else {
            Event::Binary(data)
        })
    }

    /// Expects `want` next.
    pub async fn expect(&mut self, want: Event) {
        let got = self.next_event().await;
        assert_eq!(got, want);
    }

    pub async fn expect_text(&mut self, want: impl Into<String>) {
        self.expect(Event::Text(want.into())).await;
    }

    pub async fn expect_binary(&mut self, want: impl Into<Vec<u8>>) {
        self.expect(Event::Binary(want.into())).await;
    }

    pub async fn expect_pong(&mut self, want: impl Into<Vec<u8>>) {
        self.expect(Event::Pong(want.into())).await;
    }

    /// Expects the end of the stream: no byte more, then EOF.
    pub async fn expect_eof(&mut self) {
        if let Some(frame) = self.next_frame().await {
            panic!("expected the server to close TCP, got {frame:?}");
        }
    }

    /// The server fails the connection (RFC 6455 §7.1.7): the next frame
    /// is its close with `code`, nothing before it; we answer like a client
    /// (§5.5.1), then the server closes TCP (§7.1.1) with nothing after.
    pub async fn expect_failure(&mut self, code: u16) {
        match self.next_event().await {
            Event::Close(Some(got), _) if got == code => {}
            other => panic!("expected the server to close with {code}, got {other:?}"),
        }
        self.send_lenient(close(code, b"")).await;
        self.expect_eof().await;
    }

    /// Like [`Client::expect_failure`], but without answering the close:
    /// the server must close TCP on its own.
    pub async fn expect_failure_unanswered(&mut self, code: u16) {
        match self.next_event().await {
            Event::Close(Some(got), _) if got == code => {}
            other => panic!("expected the server to close with {code}, got {other:?}"),
        }
        self.expect_eof().await;
    }

    /// Starts the closing handshake with `code` and `reason` and expects
    /// the echo (RFC 6455 §5.5.1: the same code; the reason may be
    /// dropped, or echoed unchanged), then the server's TCP close.
    pub async fn close_handshake(&mut self, code: u16, reason: &str) {
        self.send(close(code, reason)).await;
        self.expect_close_echo(code, reason).await;
    }

    /// Expects the echo of our close with `code` and `reason`, then EOF.
    pub async fn expect_close_echo(&mut self, code: u16, reason: &str) {
        match self.next_event().await {
            Event::Close(Some(got), echoed) if got == code => assert!(
                echoed.is_empty() || echoed == reason,
                "the echoed reason {echoed:?} is neither empty nor ours ({reason:?})"
            ),
            other => panic!("expected the echo of close {code}, got {other:?}"),
        }
        self.expect_eof().await;
    }

    /// Sends an empty close and expects an empty close back, then EOF.
    pub async fn close_empty_handshake(&mut self) {
        self.send(close_empty()).await;
        assert_eq!(self.next_event().await, Event::Close(None, String::new()));
        self.expect_eof().await;
    }

    /// Proves the connection is open and in order: a ping is answered now.
    pub async fn assert_alive(&mut self) {
        self.send(ping(b"alive?")).await;
        self.expect_pong(b"alive?".to_vec()).await;
    }
}

/// Splits a compressed payload into frames of at most `fragment` bytes,
/// RSV1 on the first only.
pub fn compressed_frames(opcode: u8, payload: &[u8], fragment: usize) -> Vec<u8> {
    cat(&compressed_frame_list(opcode, payload, fragment))
}

/// The frames of [`compressed_frames`], one by one.
pub fn compressed_frame_list(opcode: u8, payload: &[u8], fragment: usize) -> Vec<Vec<u8>> {
    let chunks: Vec<&[u8]> = if payload.is_empty() {
        vec![&[][..]]
    } else {
        payload.chunks(fragment.max(1)).collect()
    };
    let last = chunks.len() - 1;
    chunks
        .iter()
        .enumerate()
        .map(|(i, chunk)| {
            let first = match (i == 0, i == last) {
                (true, true) => FIN | RSV1 | opcode,
                (true, false) => RSV1 | opcode,
                (false, true) => FIN | OP_CONT,
                (false, false) => OP_CONT,
            };
            frame(first, chunk)
        })
        .collect()
}

/// A close frame body as the server sent it, checked (RFC 6455 §5.5.1,
/// §7.4): no 1-byte body, a code valid to send, a UTF-8 reason.
fn parse_close(payload: &[u8]) -> Event {
    match payload {
        [] => Event::Close(None, String::new()),
        [_] => panic!("RFC 6455 §5.5.1: the server sent a 1-byte close body"),
        [high, low, reason @ ..] => {
            let code = u16::from_be_bytes([*high, *low]);
            assert!(
                valid_to_send(code),
                "RFC 6455 §7.4: the server sent close code {code}, which must not be sent"
            );
            let reason = String::from_utf8(reason.to_vec()).unwrap_or_else(|_| {
                panic!("RFC 6455 §5.5.1: the server's close reason is not UTF-8")
            });
            Event::Close(Some(code), reason)
        }
    }
}
