//! What the connection-driving targets share: feeding a byte stream to a
//! `Connection` in reads of chosen sizes, recording what it reports and
//! queues, and the invariants that hold whatever the input.

// Each target uses its own subset.
#![allow(dead_code)]

use bytes::Buf;
use ws_core::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode};
use ws_core::{Connection, Frame, ProtocolError, SendError, State};

/// At most this many reads per stream: long streams get longer reads, so an
/// execution stays fast while short inputs are still cut byte by byte.
pub const MAX_READS: usize = 2048;

/// How a stream is cut into reads.
pub struct Reads {
    /// Read sizes, used in turn.
    pub sizes: Vec<usize>,
    /// Append through `input_mut` instead of `handle_bytes`.
    pub input_mut: bool,
}

impl Reads {
    /// Read sizes from fuzz bytes: `< 0x80` → 1..=128 bytes, otherwise a
    /// multiple of 512 up to 64 KiB. No bytes: the whole stream at once.
    pub fn new(size_bytes: &[u8], input_mut: bool) -> Reads {
        let mut sizes: Vec<usize> = size_bytes
            .iter()
            .map(|&b| {
                if b < 0x80 {
                    usize::from(b) + 1
                } else {
                    usize::from(b - 0x7f) * 512
                }
            })
            .collect();
        if sizes.is_empty() {
            sizes.push(usize::MAX);
        }
        Reads { sizes, input_mut }
    }
}

/// What a connection reported, in order: messages, control frames, and
/// the error that failed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Frame(Frame),
    Error(ProtocolError),
}

pub struct Observed {
    pub events: Vec<Event>,
    /// Everything the connection queued to send, drained after every read.
    pub output: Vec<u8>,
}

/// Feeds `stream` to `conn` read by read, polling until `Ok(None)` after
/// each, and checks the lifecycle invariants on the way: nothing is
/// reported after an error or a peer close, both leave the connection
/// `Closed` with no input kept and `send` refused, and the connection never
/// closes on its own.
pub fn drive(mut conn: Connection, stream: &[u8], reads: &Reads, max_message: usize) -> Observed {
    let mut events = Vec::new();
    let mut output = Vec::new();
    let mut ended = false;
    let mut rest = stream;
    let mut sizes = reads.sizes.iter().cycle();
    let min_size = stream.len().div_ceil(MAX_READS);
    while !rest.is_empty() {
        let size = sizes.next().copied().unwrap_or(usize::MAX);
        let size = size.max(min_size).min(rest.len());
        let (chunk, tail) = rest.split_at(size);
        rest = tail;
        if reads.input_mut {
            conn.input_mut().extend_from_slice(chunk);
        } else {
            conn.handle_bytes(chunk);
        }
        loop {
            match conn.poll_frame() {
                Ok(Some(frame)) => {
                    assert!(!ended, "{frame:?} reported after the connection ended");
                    check_frame(&frame, max_message);
                    if matches!(frame, Frame::Close(_)) {
                        ended = true;
                        assert_eq!(conn.state(), State::Closed, "peer close answered");
                    } else {
                        assert_eq!(conn.state(), State::Open, "closed on its own");
                    }
                    events.push(Event::Frame(frame));
                }
                Ok(None) => break,
                Err(error) => {
                    assert!(!ended, "error {error:?} after the connection ended");
                    assert_eq!(conn.state(), State::Closed, "state after {error:?}");
                    ended = true;
                    events.push(Event::Error(error));
                }
            }
        }
        if ended {
            assert!(conn.is_closed());
            assert_eq!(conn.buffered_input(), 0, "input kept after the end");
            assert_eq!(conn.send(Frame::text("late")), Err(SendError::Closed));
        } else {
            assert_eq!(conn.state(), State::Open);
        }
        drain(&mut conn, &mut output);
    }
    // Polling a finished (or idle) connection again changes nothing.
    assert_eq!(conn.poll_frame(), Ok(None));
    drain(&mut conn, &mut output);
    Observed { events, output }
}

/// Drains the send buffer through `bytes::Buf`, a piece at a time, as a
/// runtime writing to a socket would.
pub fn drain(conn: &mut Connection, output: &mut Vec<u8>) {
    assert_eq!(conn.wants_write(), conn.send_buffer().has_remaining());
    let buf = conn.send_buffer();
    while buf.has_remaining() {
        let chunk = buf.chunk();
        assert!(
            !chunk.is_empty(),
            "empty chunk with {} remaining",
            buf.remaining()
        );
        let take = chunk.len().min(1000);
        output.extend_from_slice(chunk.get(..take).unwrap_or_default());
        buf.advance(take);
    }
    assert!(!conn.wants_write());
}

/// Invariants of one reported frame.
pub fn check_frame(frame: &Frame, max_message: usize) {
    match frame {
        Frame::Text(text) => {
            assert!(text.len() <= max_message, "text of {} bytes", text.len());
            assert!(std::str::from_utf8(text.as_bytes()).is_ok());
        }
        Frame::Binary(data) => assert!(data.len() <= max_message, "binary of {}", data.len()),
        Frame::Ping(payload) | Frame::Pong(payload) => {
            assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        }
        Frame::Close(None) => {}
        Frame::Close(Some(close)) => {
            assert!(
                code_valid_on_wire(close.code().as_u16()),
                "received close code {} accepted",
                close.code().as_u16()
            );
            assert!(close.payload_len() <= MAX_CONTROL_PAYLOAD);
        }
    }
}

/// RFC 6455 §7.4 and the IANA registry, written out independently of
/// `CloseCode`: the codes a close frame may carry.
pub fn code_valid_on_wire(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The bytes a server must have queued for these events: an unmasked pong
/// echoing each ping, then one close frame if the connection ended.
pub fn expected_server_output(events: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut put = |opcode: OpCode, payload: &[u8]| {
        FrameHeader::new(opcode, payload.len(), None).encode(&mut out);
        out.extend_from_slice(payload);
    };
    for event in events {
        match event {
            Event::Frame(Frame::Ping(payload)) => put(OpCode::Pong, payload),
            Event::Frame(Frame::Close(None)) => put(OpCode::Close, &[]),
            // §5.5.1: echo the status code (lariat sends no reason back).
            Event::Frame(Frame::Close(Some(close))) => {
                put(OpCode::Close, &close.code().as_u16().to_be_bytes());
            }
            Event::Error(error) => put(OpCode::Close, &error.close_code().as_u16().to_be_bytes()),
            Event::Frame(Frame::Text(_) | Frame::Binary(_) | Frame::Pong(_)) => {}
        }
    }
    out
}

/// At most 24 bytes as hex, and the length: payloads run to 64 KiB.
pub fn hex(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(24).map(|b| format!("{b:02x}")).collect();
    let more = if bytes.len() > 24 { "…" } else { "" };
    format!("[{} B: {shown}{more}]", bytes.len())
}

/// Events with their payloads shortened.
pub fn brief(events: &[Event]) -> String {
    let items: Vec<String> = events
        .iter()
        .map(|event| match event {
            Event::Frame(Frame::Text(text)) => format!("Text{}", hex(text.as_bytes())),
            Event::Frame(Frame::Binary(data)) => format!("Binary{}", hex(data)),
            Event::Frame(Frame::Ping(payload)) => format!("Ping{}", hex(payload)),
            Event::Frame(Frame::Pong(payload)) => format!("Pong{}", hex(payload)),
            Event::Frame(Frame::Close(close)) => format!("{close:?}"),
            Event::Error(error) => format!("Error({error:?})"),
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// Pieces of valid UTF-8 of every length, for text that stays valid when it
/// is cut at arbitrary byte positions.
pub const SNIPPETS: [&str; 16] = [
    "a",
    "hello ",
    "é",
    "κόσμε",
    "€",
    "𝄞",
    "\u{7f}",
    "\u{80}",
    "\u{7ff}",
    "\u{800}",
    "\u{ffff}",
    "\u{10000}",
    "\u{10ffff}",
    "\u{d7ff}",
    "\u{e000}",
    "\u{fffd}",
];

/// A cursor over the fuzz input.
pub struct Material<'a> {
    bytes: &'a [u8],
    /// Valid UTF-8 not yet handed out.
    text: Vec<u8>,
    snippet: usize,
}

impl<'a> Material<'a> {
    pub fn new(bytes: &'a [u8]) -> Material<'a> {
        Material {
            bytes,
            text: Vec::new(),
            snippet: 0,
        }
    }

    pub fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(first)
    }

    pub fn take(&mut self, n: usize) -> Vec<u8> {
        let (taken, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        taken.to_vec()
    }

    /// The next `n` bytes of an endless valid UTF-8 stream, so consecutive
    /// pieces split code points wherever the lengths fall.
    pub fn text(&mut self, n: usize) -> Vec<u8> {
        while self.text.len() < n {
            let pick = match self.byte() {
                Some(b) => usize::from(b),
                None => {
                    self.snippet += 1;
                    self.snippet
                }
            };
            let snippet = SNIPPETS.get(pick % SNIPPETS.len()).copied().unwrap_or("a");
            self.text.extend_from_slice(snippet.as_bytes());
        }
        self.text.drain(..n).collect()
    }

    /// Valid UTF-8 of exactly `n` bytes or fewer (a cut code point is
    /// dropped), for whole text messages.
    pub fn whole_text(&mut self, n: usize) -> String {
        let bytes = self.text(n);
        match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => {
                let valid = err.utf8_error().valid_up_to();
                let mut bytes = err.into_bytes();
                bytes.truncate(valid);
                // The cut code point's other bytes must not start the next piece.
                self.text.clear();
                String::from_utf8(bytes).unwrap_or_default()
            }
        }
    }
}
