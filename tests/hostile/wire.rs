//! The hostile clients' side of the wire: raw TCP from a chosen loopback
//! source, exact request heads and frames, transcripts that say how the
//! server ended the connection (FIN or reset), a well-behaved probe client,
//! and a deflate bomb.
#![allow(unreachable_pub, dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use lariat::core::frame::OpCode;
use lariat::core::handshake;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::support::{HttpResponse, RawFrame, client_frame, parse_http_response, within};

/// Client source addresses: 127.0.0.2 up to 127.0.0.(1 + SOURCES), so that
/// tens of thousands of connections never run out of ephemeral ports.
pub const SOURCES: usize = 10;

/// Opens a TCP connection to `server` from source address number `index`
/// (modulo [`SOURCES`]).
pub async fn tcp_from(server: SocketAddr, index: usize) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    let source = Ipv4Addr::new(127, 0, 0, 2 + (index % SOURCES) as u8);
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    within("TCP connect", socket.connect(server))
        .await
        .unwrap_or_else(|error| panic!("connect to {server} from {source}: {error}"))
}

/// How the server ended a connection, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    /// A FIN: the server closed its side in order.
    Eof,
    /// A RST: the connection was reset.
    Reset,
    /// Any other read error.
    Error(std::io::ErrorKind),
}

impl End {
    fn of(result: &std::io::Result<usize>) -> Option<End> {
        match result {
            Ok(0) => Some(End::Eof),
            Ok(_) => None,
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => Some(End::Reset),
            Err(error) => Some(End::Error(error.kind())),
        }
    }
}

/// Reads until the server ends the connection; returns what it sent and how
/// it ended.
pub async fn read_to_end(stream: &mut TcpStream) -> (Vec<u8>, End) {
    let mut bytes = Vec::new();
    let end = within("the server to end the connection", async {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let result = stream.read(&mut chunk).await;
            if let Some(end) = End::of(&result) {
                return end;
            }
            bytes.extend_from_slice(&chunk[..result.unwrap()]);
        }
    })
    .await;
    (bytes, end)
}

/// Writes `request` (the server may stop reading and answer early: write
/// errors are ignored) and reads the HTTP answer to the end.
pub async fn http_answer(server: SocketAddr, index: usize, request: &[u8]) -> (HttpResponse, End) {
    let (bytes, end) = http_bytes(server, index, request).await;
    (parse_http_response(&bytes), end)
}

/// [`http_answer`]'s bytes, unparsed: everything the server sent.
pub async fn http_bytes(server: SocketAddr, index: usize, request: &[u8]) -> (Vec<u8>, End) {
    let mut stream = tcp_from(server, index).await;
    let _ = within("writing the request", stream.write_all(request)).await;
    read_to_end(&mut stream).await
}

/// An upgraded connection driven byte by byte.
#[derive(Debug)]
pub struct Raw {
    pub stream: TcpStream,
    /// The 101 response head.
    pub head: String,
    /// Bytes read and not yet taken as frames.
    pub input: Vec<u8>,
    /// Where the untaken bytes of `input` start.
    start: usize,
}

impl Raw {
    /// Connects from source `index` and upgrades on `path`, with extra
    /// request header lines (each ending in `\r\n`).
    pub async fn upgrade(server: SocketAddr, index: usize, path: &str, extra: &str) -> Raw {
        let stream = tcp_from(server, index).await;
        Raw::upgrade_stream(stream, path, extra).await
    }

    /// Upgrades an open TCP connection.
    pub async fn upgrade_stream(mut stream: TcpStream, path: &str, extra: &str) -> Raw {
        let key = handshake::client_key(&[7; 16]);
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n\
             Sec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        within(
            "writing the upgrade request",
            stream.write_all(request.as_bytes()),
        )
        .await
        .unwrap();
        let mut buffer = Vec::new();
        let used = within("the 101 response", async {
            loop {
                if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                    return at + 4;
                }
                let mut chunk = [0u8; 1024];
                let n = stream.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the server closed during the handshake");
                buffer.extend_from_slice(&chunk[..n]);
            }
        })
        .await;
        let head = String::from_utf8_lossy(&buffer[..used]).into_owned();
        assert!(head.starts_with("HTTP/1.1 101 "), "no 101: {head:?}");
        let input = buffer[used..].to_vec();
        Raw {
            stream,
            head,
            input,
            start: 0,
        }
    }

    /// The next whole frame from the server; `None` once TCP ended.
    pub async fn next_frame(&mut self) -> Option<RawFrame> {
        let mut frames = FrameReader {
            reader: &mut self.stream,
            input: std::mem::take(&mut self.input),
            start: self.start,
        };
        let frame = frames.next_frame().await;
        self.input = frames.input;
        self.start = frames.start;
        frame
    }

    /// The bytes read and not yet taken as frames (the read half of a
    /// split stream continues from them).
    pub fn take_input(&mut self) -> Vec<u8> {
        let rest = self.input.split_off(self.start);
        self.input.clear();
        self.start = 0;
        rest
    }

    /// Gives back bytes read from a split stream's read half.
    pub fn put_input(&mut self, input: Vec<u8>) {
        self.input = input;
        self.start = 0;
    }

    /// Writes bytes as they are.
    pub async fn send(&mut self, bytes: &[u8]) {
        within("a raw write", self.stream.write_all(bytes))
            .await
            .unwrap();
    }

    /// Writes bytes, ignoring a failure (the server may have closed first).
    pub async fn send_lossy(&mut self, bytes: &[u8]) {
        let _ = within("a raw write", self.stream.write_all(bytes)).await;
    }

    /// Reads until the server ends the connection, answering its first
    /// close frame with the same code as a client must; returns every frame
    /// and how TCP ended.
    pub async fn transcript(mut self) -> Transcript {
        let mut buffer = self.input.split_off(self.start);
        let mut frames = Vec::new();
        let mut answered = false;
        let end = within("the server to close the connection", async {
            loop {
                while let Some((frame, taken)) = RawFrame::parse(&buffer) {
                    buffer.drain(..taken);
                    if frame.opcode == OpCode::Close && !answered {
                        answered = true;
                        let body = frame.payload.get(..2).unwrap_or_default().to_vec();
                        let _ = self.stream.write_all(&client_frame(0x88, &body)).await;
                    }
                    frames.push(frame);
                }
                let mut chunk = vec![0u8; 64 * 1024];
                let result = self.stream.read(&mut chunk).await;
                if let Some(end) = End::of(&result) {
                    return end;
                }
                buffer.extend_from_slice(&chunk[..result.unwrap()]);
            }
        })
        .await;
        Transcript {
            frames,
            end,
            partial: buffer.len(),
        }
    }
}

/// Reads whole frames from any reader (the read half of a split stream).
#[derive(Debug)]
pub struct FrameReader<R> {
    pub reader: R,
    input: Vec<u8>,
    start: usize,
}

impl<R: tokio::io::AsyncRead + Unpin> FrameReader<R> {
    /// Reads frames from `reader`, `input` first.
    pub fn new(reader: R, input: Vec<u8>) -> FrameReader<R> {
        FrameReader {
            reader,
            input,
            start: 0,
        }
    }

    /// The bytes read and not yet taken as frames.
    pub fn into_input(mut self) -> Vec<u8> {
        self.input.split_off(self.start)
    }

    /// The next whole frame; `None` once TCP ended.
    pub async fn next_frame(&mut self) -> Option<RawFrame> {
        loop {
            if let Some((frame, taken)) = RawFrame::parse(&self.input[self.start..]) {
                self.start += taken;
                return Some(frame);
            }
            if self.start > 0 {
                self.input.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = within("a frame from the server", self.reader.read(&mut chunk))
                .await
                .unwrap_or(0);
            if n == 0 {
                return None;
            }
            self.input.extend_from_slice(&chunk[..n]);
        }
    }
}

/// What a server sent on an upgraded connection until TCP ended.
#[derive(Debug)]
pub struct Transcript {
    pub frames: Vec<RawFrame>,
    pub end: End,
    /// Bytes of an incomplete frame at the end.
    pub partial: usize,
}

impl Transcript {
    /// The close code of the last frame, which must be the only close frame.
    pub fn close_code(&self) -> Option<u16> {
        let closes: Vec<&RawFrame> = self
            .frames
            .iter()
            .filter(|f| f.opcode == OpCode::Close)
            .collect();
        assert_eq!(
            closes.len(),
            1,
            "exactly one close frame: {:?}",
            self.frames
        );
        assert_eq!(
            self.frames.last().map(|f| f.opcode),
            Some(OpCode::Close),
            "nothing after the close frame: {:?}",
            self.frames
        );
        closes[0].close_code()
    }

    /// Asserts the connection ended with one close frame with `code`, no
    /// partial frame, and a FIN.
    pub fn assert_closed_with(&self, code: u16, what: &str) {
        assert_eq!(self.close_code(), Some(code), "{what}: {:?}", self.frames);
        assert_eq!(self.partial, 0, "{what}: a partial frame at the end");
        assert_eq!(self.end, End::Eof, "{what}: TCP must end with a FIN");
    }
}

/// A masked frame with any first byte and a payload length field that
/// claims `claimed` bytes in the 64-bit form, followed by no payload.
pub fn claimed_length_header(first: u8, claimed: u64) -> Vec<u8> {
    let mut out = vec![first, 0x80 | 127];
    out.extend_from_slice(&claimed.to_be_bytes());
    out.extend_from_slice(&[1, 2, 3, 4]);
    out
}

/// Masked frames carrying `payload` as one message of `opcode` split in
/// fragments of `size` bytes (`rsv1` on the first: compressed).
pub fn fragments(opcode: u8, rsv1: bool, payload: &[u8], size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + payload.len() / size.max(1) * 14 + 14);
    let chunks: Vec<&[u8]> = payload.chunks(size.max(1)).collect();
    let last = chunks.len().saturating_sub(1);
    for (i, chunk) in chunks.iter().enumerate() {
        let mut first = if i == 0 { opcode } else { 0 };
        if i == 0 && rsv1 {
            first |= 0x40;
        }
        if i == last {
            first |= 0x80;
        }
        out.extend_from_slice(&client_frame(first, chunk));
    }
    out
}

// ---------------------------------------------------------------------------
// A deflate bomb
// ---------------------------------------------------------------------------

/// RFC 1951 bits, least significant first.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    count: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.count;
        self.count += count;
        while self.count >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.count -= 8;
        }
    }

    /// A Huffman code, sent most significant bit first.
    fn code(&mut self, code: u32, len: u32) {
        let reversed = code.reverse_bits() >> (32 - len);
        self.put(reversed, len);
    }

    fn align(&mut self) {
        if self.count > 0 {
            self.put(0, 8 - self.count);
        }
    }
}

/// A permessage-deflate message body (RFC 7692 §7.2.1: sync-flushed, its
/// `00 00 ff ff` trailer removed) that inflates to `inflated` zero bytes:
/// one fixed-Huffman block of a literal 0 and then 258-byte matches at
/// distance 1, 13 bits each, so about 160 times smaller than what it
/// inflates to.
pub fn deflate_bomb(inflated: usize) -> Vec<u8> {
    let mut bits = Bits {
        out: Vec::with_capacity(inflated / 150 + 16),
        acc: 0,
        count: 0,
    };
    // BFINAL 0, BTYPE 01 (fixed Huffman).
    bits.put(0b010, 3);
    // Literal 0: codes 0-143 are 0x30 + value, 8 bits.
    bits.code(0x30, 8);
    let mut left = inflated.saturating_sub(1);
    while left >= 258 {
        // Length 258: code 285, fixed codes 280-287 are 0xC0 + (n - 280), 8 bits.
        bits.code(0xC0 + 5, 8);
        // Distance 1: distance code 0, 5 bits, no extra bits.
        bits.code(0, 5);
        left -= 258;
    }
    for _ in 0..left {
        bits.code(0x30, 8);
    }
    // End of block: code 256, 7 zero bits.
    bits.code(0, 7);
    // The sync flush's empty stored block: BFINAL 0, BTYPE 00, aligned,
    // then LEN 0 / NLEN 0xffff, which the receiver adds back.
    bits.put(0, 3);
    bits.align();
    bits.out
}

// ---------------------------------------------------------------------------
// The well-behaved client
// ---------------------------------------------------------------------------

/// A well-behaved client's whole life on a fresh connection: handshake, a
/// text and a 64 KiB binary echo, a normal close. Returns how long it took.
pub async fn probe(server: SocketAddr, what: &str) -> Duration {
    let started = Instant::now();
    let url = format!("ws://{server}/probe");
    let (mut ws, response) = within(
        &format!("the probe's handshake {what}"),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .unwrap_or_else(|error| panic!("the probe's handshake {what} failed: {error}"));
    assert_eq!(response.status().as_u16(), 101);
    let text = format!("probe {what}");
    let binary: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    for message in [Message::text(text), Message::binary(binary)] {
        within(
            &format!("the probe's send {what}"),
            ws.send(message.clone()),
        )
        .await
        .unwrap();
        match within(&format!("the probe's echo {what}"), ws.next()).await {
            Some(Ok(echo)) => assert_eq!(echo, message, "the probe's echo {what}"),
            other => panic!("the probe {what} got {other:?} instead of its echo"),
        }
    }
    within(&format!("the probe's close {what}"), ws.close(None))
        .await
        .unwrap();
    within(&format!("the probe's close echo {what}"), async {
        while let Some(Ok(message)) = ws.next().await {
            assert!(message.is_close(), "{what}: data after close: {message:?}");
        }
    })
    .await;
    started.elapsed()
}
