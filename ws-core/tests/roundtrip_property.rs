//! Round-trip properties of the sans-IO connection: any valid sequence of
//! frames, encoded and fed back in arbitrary chunks (down to one byte at a
//! time), yields the same events, and the replies (pongs, the close echo) are
//! exactly the ones RFC 6455 asks for.
//!
//! Next to the properties are deterministic tests of the fail-fast UTF-8 rule
//! (RFC 6455 §8.1), which a round trip of valid input cannot express.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::Buf;
use proptest::prelude::*;
use proptest::sample::Index;
use ws_core::frame::{FrameHeader, OpCode};
use ws_core::mask::apply_mask;
use ws_core::send_buffer::SendBuffer;
use ws_core::{CloseCode, CloseFrame, Config, Connection, Frame, ProtocolError, Role, State};

// ---------------------------------------------------------------------------
// Wire helpers
// ---------------------------------------------------------------------------

/// Limits high enough that no generated message comes near them.
fn roomy_config() -> Config {
    Config {
        max_frame_size: 16 << 20,
        max_message_size: 16 << 20,
        ..Config::default()
    }
}

/// Appends one frame as it goes on the wire: header, then the payload,
/// masked when `mask` is given (as a client sends it).
fn encode_frame(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: OpCode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let header = FrameHeader {
        fin,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask,
        payload_len: payload.len() as u64,
    };
    header.encode(out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

/// Everything queued in a send buffer, drained through its `Buf` impl.
fn drain(buf: &mut SendBuffer) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.remaining());
    while buf.has_remaining() {
        let chunk = buf.chunk();
        assert!(!chunk.is_empty(), "empty chunk with bytes remaining");
        out.extend_from_slice(chunk);
        let n = chunk.len();
        buf.advance(n);
    }
    out
}

/// A frame decoded independently of the connection: header and unmasked payload.
#[derive(Debug)]
struct RawFrame {
    header: FrameHeader,
    payload: Vec<u8>,
}

/// Splits a byte stream into frames with `FrameHeader::parse`; the stream
/// must hold whole frames only.
fn split_frames(mut wire: &[u8]) -> Vec<RawFrame> {
    let mut frames = Vec::new();
    while !wire.is_empty() {
        let (header, header_len) = FrameHeader::parse(wire)
            .expect("valid header")
            .expect("whole header");
        let len = usize::try_from(header.payload_len).unwrap();
        let mut payload = wire[header_len..header_len + len].to_vec();
        if let Some(key) = header.mask {
            apply_mask(&mut payload, key, 0);
        }
        wire = &wire[header_len + len..];
        frames.push(RawFrame { header, payload });
    }
    frames
}

/// Feeds `wire` to `conn` in chunks of the given sizes (cycled), polling
/// until `Ok(None)` after each chunk; returns every frame reported.
fn feed_in_chunks(
    conn: &mut Connection,
    wire: &[u8],
    sizes: &[usize],
) -> Result<Vec<Frame>, ProtocolError> {
    let mut frames = Vec::new();
    let mut rest = wire;
    let mut sizes = sizes.iter().copied().cycle();
    loop {
        while let Some(frame) = conn.poll_frame()? {
            frames.push(frame);
        }
        if rest.is_empty() {
            return Ok(frames);
        }
        let n = sizes.next().unwrap_or(1).clamp(1, rest.len());
        let (chunk, tail) = rest.split_at(n);
        conn.handle_bytes(chunk);
        rest = tail;
    }
}

/// Moves everything `from` has queued to `to`, taking at most one size (cycled)
/// per step out of the send buffer's current chunk, and polls after each step.
fn transfer_in_chunks(
    from: &mut Connection,
    to: &mut Connection,
    sizes: &[usize],
) -> Result<Vec<Frame>, ProtocolError> {
    let mut frames = Vec::new();
    let mut sizes = sizes.iter().copied().cycle();
    loop {
        let buf = from.send_buffer();
        if !buf.has_remaining() {
            return Ok(frames);
        }
        let chunk = buf.chunk();
        assert!(!chunk.is_empty(), "empty chunk with bytes remaining");
        let n = sizes.next().unwrap_or(1).clamp(1, chunk.len());
        let piece = chunk[..n].to_vec();
        buf.advance(n);
        to.handle_bytes(&piece);
        while let Some(frame) = to.poll_frame()? {
            frames.push(frame);
        }
    }
}

/// Checks what an endpoint queued in reply to `received`: one pong per ping
/// (same payload, same order) and, if a close was received, one close frame
/// echoing its code last; masked exactly when `masked`.
fn check_replies(out: &[u8], received: &[Frame], masked: bool) {
    let replies = split_frames(out);
    let mut expected_pings = Vec::new();
    let mut close = None;
    for frame in received {
        match frame {
            Frame::Ping(payload) => expected_pings.push(payload.to_vec()),
            Frame::Close(c) => close = Some(c.clone()),
            _ => {}
        }
    }
    let expected_len = expected_pings.len() + usize::from(close.is_some());
    assert_eq!(replies.len(), expected_len, "replies: {replies:?}");
    for reply in &replies {
        let h = &reply.header;
        assert!(h.fin && !h.rsv1 && !h.rsv2 && !h.rsv3, "reply header {h:?}");
        assert_eq!(h.mask.is_some(), masked, "reply masking {h:?}");
    }
    for (reply, ping) in replies.iter().zip(&expected_pings) {
        assert_eq!(reply.header.opcode, OpCode::Pong);
        assert_eq!(&reply.payload, ping, "pong payload");
    }
    if let Some(close) = close {
        let echo = replies.last().unwrap();
        assert_eq!(echo.header.opcode, OpCode::Close);
        match close {
            None => assert!(echo.payload.is_empty(), "empty close echoed as empty"),
            Some(close) => {
                assert!(echo.payload.len() >= 2, "close echo without a code");
                assert_eq!(
                    echo.payload[..2],
                    close.code().as_u16().to_be_bytes(),
                    "close echo code"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The model of a client's byte stream
// ---------------------------------------------------------------------------

/// A ping or pong as the client sends it.
#[derive(Debug, Clone)]
struct Control {
    ping: bool,
    payload: Vec<u8>,
    key: [u8; 4],
}

impl Control {
    fn encode(&self, out: &mut Vec<u8>) {
        let opcode = if self.ping {
            OpCode::Ping
        } else {
            OpCode::Pong
        };
        encode_frame(out, true, opcode, &self.payload, Some(self.key));
    }

    fn frame(&self) -> Frame {
        if self.ping {
            Frame::try_ping(self.payload.clone()).unwrap()
        } else {
            Frame::try_pong(self.payload.clone()).unwrap()
        }
    }
}

/// A text or binary message, cut into fragments at byte positions (text may
/// be cut inside a code point), with control frames between the fragments.
#[derive(Debug, Clone)]
struct DataMessage {
    text: bool,
    payload: Vec<u8>,
    /// Sorted cut positions; `cuts.len() + 1` fragments, some possibly empty.
    cuts: Vec<usize>,
    /// One masking key per fragment.
    keys: Vec<[u8; 4]>,
    /// The control frames sent after fragment `i`, for each gap `i`.
    interleaved: Vec<Vec<Control>>,
}

impl DataMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut bounds = vec![0];
        bounds.extend_from_slice(&self.cuts);
        bounds.push(self.payload.len());
        let fragments = bounds.len() - 1;
        for i in 0..fragments {
            let opcode = match (i, self.text) {
                (0, true) => OpCode::Text,
                (0, false) => OpCode::Binary,
                _ => OpCode::Continuation,
            };
            let fin = i + 1 == fragments;
            let piece = &self.payload[bounds[i]..bounds[i + 1]];
            encode_frame(out, fin, opcode, piece, Some(self.keys[i]));
            if !fin {
                for control in &self.interleaved[i] {
                    control.encode(out);
                }
            }
        }
    }

    /// The events a receiver reports: the interleaved controls at once, then
    /// the whole message.
    fn expected(&self, events: &mut Vec<Frame>) {
        for control in self.interleaved.iter().take(self.cuts.len()).flatten() {
            events.push(control.frame());
        }
        events.push(if self.text {
            Frame::text(String::from_utf8(self.payload.clone()).unwrap())
        } else {
            Frame::binary(self.payload.clone())
        });
    }
}

#[derive(Debug, Clone)]
enum Item {
    Data(DataMessage),
    Control(Control),
}

/// A client's whole stream: items, an optional close, and frames sent after
/// the close (which must be ignored), fed in chunks of `chunk_sizes`.
#[derive(Debug, Clone)]
struct Scenario {
    items: Vec<Item>,
    /// `Some(None)`: a close with no body; `Some(Some(..))`: a code and reason.
    close: Option<(Option<CloseFrame>, [u8; 4])>,
    after_close: Vec<Item>,
    chunk_sizes: Vec<usize>,
}

impl Scenario {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for item in &self.items {
            encode_item(item, &mut out);
        }
        if let Some((close, key)) = &self.close {
            let mut body = Vec::new();
            if let Some(close) = close {
                body.extend_from_slice(&close.code().as_u16().to_be_bytes());
                body.extend_from_slice(close.reason().as_bytes());
            }
            encode_frame(&mut out, true, OpCode::Close, &body, Some(*key));
            for item in &self.after_close {
                encode_item(item, &mut out);
            }
        }
        out
    }

    fn expected(&self) -> Vec<Frame> {
        let mut events = Vec::new();
        for item in &self.items {
            match item {
                Item::Data(message) => message.expected(&mut events),
                Item::Control(control) => events.push(control.frame()),
            }
        }
        if let Some((close, _)) = &self.close {
            events.push(Frame::Close(close.clone()));
        }
        events
    }
}

fn encode_item(item: &Item, out: &mut Vec<u8>) {
    match item {
        Item::Data(message) => message.encode(out),
        Item::Control(control) => control.encode(out),
    }
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

fn mask_key() -> impl Strategy<Value = [u8; 4]> {
    any::<[u8; 4]>()
}

fn control_payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=125)
}

fn control() -> impl Strategy<Value = Control> {
    (any::<bool>(), control_payload(), mask_key()).prop_map(|(ping, payload, key)| Control {
        ping,
        payload,
        key,
    })
}

/// Any Unicode text, multi-byte code points included.
fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..300).prop_map(String::from_iter)
}

/// Mostly small payloads (7-bit and 16-bit length forms); now and then one
/// past 65 535 bytes for the 64-bit form (filled cheaply from a seed).
fn binary() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        24 => prop::collection::vec(any::<u8>(), 0..2000),
        1 => (65_536usize..70_000, any::<u8>()).prop_map(|(len, seed)| {
            (0..len).map(|i| (i as u8).wrapping_mul(31) ^ seed).collect()
        }),
    ]
}

fn data_message() -> impl Strategy<Value = DataMessage> {
    (
        prop_oneof![
            text().prop_map(|t| (true, t.into_bytes())),
            binary().prop_map(|b| (false, b)),
        ],
        prop::collection::vec(any::<Index>(), 0..=4),
        prop::collection::vec(mask_key(), 5),
        prop::collection::vec(prop::collection::vec(control(), 0..=2), 4),
    )
        .prop_map(|((text, payload), cuts, keys, interleaved)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
            cuts.sort_unstable();
            DataMessage {
                text,
                payload,
                cuts,
                keys,
                interleaved,
            }
        })
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        3 => data_message().prop_map(Item::Data),
        1 => control().prop_map(Item::Control),
    ]
}

/// A code valid to send: 1000-1003, 1007-1014, 3000-4999.
fn close_code() -> impl Strategy<Value = CloseCode> {
    prop_oneof![1000u16..=1003, 1007u16..=1014, 3000u16..=4999]
        .prop_map(|code| CloseCode::new(code).unwrap())
}

/// Short reasons of any Unicode text: at most 30 code points, so at most 120
/// bytes, under the 123-byte limit.
fn close_body() -> impl Strategy<Value = Option<CloseFrame>> {
    prop::option::of(
        (
            close_code(),
            prop::collection::vec(any::<char>(), 0..=30).prop_map(String::from_iter),
        )
            .prop_map(|(code, reason)| CloseFrame::try_new(code, reason).unwrap()),
    )
}

/// Chunk sizes to cut a byte stream with: all single bytes, small odd pieces,
/// or large pieces.
fn chunk_sizes() -> impl Strategy<Value = Vec<usize>> {
    prop_oneof![
        1 => Just(vec![1]),
        3 => prop::collection::vec(1usize..=40, 1..16),
        1 => prop::collection::vec(1usize..=5000, 1..6),
        1 => Just(vec![usize::MAX]),
    ]
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(item(), 0..20),
        prop::option::of((close_body(), mask_key())),
        prop::collection::vec(item(), 0..3),
        chunk_sizes(),
    )
        .prop_map(|(items, close, after_close, chunk_sizes)| Scenario {
            items,
            close,
            after_close,
            chunk_sizes,
        })
}

/// A frame a handler may send (close frames apart).
fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        text().prop_map(Frame::text),
        binary().prop_map(Frame::binary),
        control_payload().prop_map(|p| Frame::try_ping(p).unwrap()),
        control_payload().prop_map(|p| Frame::try_pong(p).unwrap()),
    ]
}

/// Frames to send, an optional close, and frames the sender tries after it.
fn send_sequence() -> impl Strategy<Value = (Vec<Frame>, Option<Frame>, Vec<Frame>, Vec<usize>)> {
    (
        prop::collection::vec(frame(), 0..20),
        prop::option::of(close_body().prop_map(Frame::Close)),
        prop::collection::vec(frame(), 0..3),
        chunk_sizes(),
    )
}

/// One endpoint sends `frames` (then `close`, then tries `after`) with
/// `Connection::send`; the other is fed the output in chunks and must report
/// the same frames and reply as RFC 6455 says.
fn send_and_receive(
    sender_role: Role,
    frames: Vec<Frame>,
    close: Option<Frame>,
    after: Vec<Frame>,
    sizes: &[usize],
) -> Result<(), TestCaseError> {
    let receiver_role = match sender_role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };
    let mut sender = Connection::new(sender_role, roomy_config());
    let mut receiver = Connection::new(receiver_role, roomy_config());
    let mut expected = frames.clone();
    for frame in frames {
        prop_assert_eq!(sender.send(frame), Ok(()));
    }
    if let Some(close) = close {
        expected.push(close.clone());
        prop_assert_eq!(sender.send(close), Ok(()));
        prop_assert_eq!(sender.state(), State::CloseSent);
        for frame in after {
            prop_assert_eq!(sender.send(frame), Err(ws_core::SendError::Closed));
        }
    }
    let got = transfer_in_chunks(&mut sender, &mut receiver, sizes)
        .map_err(|e| TestCaseError::fail(format!("receiver failed: {e}")))?;
    prop_assert_eq!(&got, &expected);
    let replies = drain(receiver.send_buffer());
    check_replies(&replies, &got, receiver_role == Role::Client);
    let closed = expected
        .last()
        .is_some_and(|f| matches!(f, Frame::Close(_)));
    prop_assert_eq!(receiver.is_closed(), closed);
    prop_assert_eq!(receiver.buffered_input(), 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Client frames (fragmented, masked, controls interleaved) fed to a
    /// server in any chunking come out as the same messages, in order.
    #[test]
    fn server_reports_any_valid_client_stream_in_any_chunking(scenario in scenario()) {
        let wire = scenario.encode();
        let mut server = Connection::new(Role::Server, roomy_config());
        let got = feed_in_chunks(&mut server, &wire, &scenario.chunk_sizes)
            .map_err(|e| TestCaseError::fail(format!("server failed: {e}")))?;
        let expected = scenario.expected();
        prop_assert_eq!(&got, &expected);
        let replies = drain(server.send_buffer());
        check_replies(&replies, &got, false);
        match scenario.close {
            Some(_) => prop_assert_eq!(server.state(), State::Closed),
            None => {
                prop_assert_eq!(server.state(), State::Open);
                prop_assert_eq!(server.buffered_input(), 0);
            }
        }
    }

    /// What a server queues with `send` a client decodes back to the same frames.
    #[test]
    fn client_receives_what_the_server_sends(
        (frames, close, after, sizes) in send_sequence()
    ) {
        send_and_receive(Role::Server, frames, close, after, &sizes)?;
    }

    /// What a client queues with `send` (masked) a server decodes back to the
    /// same frames.
    #[test]
    fn server_receives_what_the_client_sends(
        (frames, close, after, sizes) in send_sequence()
    ) {
        send_and_receive(Role::Client, frames, close, after, &sizes)?;
    }
}

// ---------------------------------------------------------------------------
// Fail-fast UTF-8 (RFC 6455 §8.1)
// ---------------------------------------------------------------------------

const KEY: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

/// Asserts the server queued exactly one close frame, with `code`.
fn assert_closed_with(server: &mut Connection, code: u16) {
    assert_eq!(server.state(), State::Closed);
    let frames = split_frames(&drain(server.send_buffer()));
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].header.opcode, OpCode::Close);
    assert_eq!(frames[0].header.mask, None);
    assert_eq!(frames[0].payload, code.to_be_bytes());
}

#[test]
fn invalid_utf8_fails_as_soon_as_the_bad_byte_arrives_mid_frame() {
    // A 12-byte single-frame text message; 0xFF can never appear in UTF-8.
    let payload = b"hello \xff world";
    let mut wire = Vec::new();
    encode_frame(&mut wire, true, OpCode::Text, payload, Some(KEY));
    let bad_at = wire.len() - payload.len() + 6;

    let mut server = Connection::new(Role::Server, Config::default());
    for byte in &wire[..bad_at] {
        server.handle_bytes(std::slice::from_ref(byte));
        assert_eq!(server.poll_frame(), Ok(None));
    }
    server.handle_bytes(&wire[bad_at..=bad_at]);
    assert_eq!(server.poll_frame(), Err(ProtocolError::InvalidUtf8));
    assert_closed_with(&mut server, 1007);

    // The rest of the frame is ignored.
    server.handle_bytes(&wire[bad_at + 1..]);
    assert_eq!(server.poll_frame(), Ok(None));
    assert!(!server.wants_write());
}

#[test]
fn invalid_utf8_fails_fast_when_header_and_bad_prefix_arrive_together() {
    // U+10FFFF is the last code point: F4 8F.. is fine, F4 90.. is not.
    let payload = "κόσμε\u{10FFFF}".as_bytes().iter().copied();
    let payload: Vec<u8> = payload.chain(*b"\xf4\x90\x80\x80tail").collect();
    let mut wire = Vec::new();
    encode_frame(&mut wire, true, OpCode::Text, &payload, Some(KEY));
    let bad_at = wire.len() - 7; // the 0x90 after 0xF4

    let mut server = Connection::new(Role::Server, Config::default());
    server.handle_bytes(&wire[..bad_at]);
    assert_eq!(server.poll_frame(), Ok(None));
    server.handle_bytes(&wire[bad_at..=bad_at]);
    assert_eq!(server.poll_frame(), Err(ProtocolError::InvalidUtf8));
    assert_closed_with(&mut server, 1007);
}

#[test]
fn invalid_utf8_fails_fast_across_fragments_with_a_cut_code_point() {
    // The first fragment ends with two of the three bytes of '€' (E2 82 AC);
    // the continuation starts with 'a', which cannot complete it.
    let mut first = Vec::new();
    encode_frame(
        &mut first,
        false,
        OpCode::Text,
        b"price: \xe2\x82",
        Some(KEY),
    );
    let mut second = Vec::new();
    encode_frame(
        &mut second,
        true,
        OpCode::Continuation,
        b"a and more",
        Some([9, 8, 7, 6]),
    );
    let header_len = second.len() - 10;

    let mut server = Connection::new(Role::Server, Config::default());
    server.handle_bytes(&first);
    assert_eq!(server.poll_frame(), Ok(None));
    server.handle_bytes(&second[..header_len]);
    assert_eq!(server.poll_frame(), Ok(None));
    server.handle_bytes(&second[header_len..=header_len]);
    assert_eq!(server.poll_frame(), Err(ProtocolError::InvalidUtf8));
    assert_closed_with(&mut server, 1007);

    server.handle_bytes(&second[header_len + 1..]);
    assert_eq!(server.poll_frame(), Ok(None));
}

#[test]
fn invalid_utf8_fails_fast_across_fragments_with_a_ping_between() {
    // A cut 4-byte sequence (F0 9F) with a ping between the fragments; the
    // continuation byte 0x28 is not a continuation byte.
    let mut wire = Vec::new();
    encode_frame(&mut wire, false, OpCode::Text, b"\xf0\x9f", Some(KEY));
    encode_frame(&mut wire, true, OpCode::Ping, b"p", Some(KEY));
    encode_frame(
        &mut wire,
        true,
        OpCode::Continuation,
        b"\x28rest",
        Some(KEY),
    );
    let bad_at = wire.len() - 5;

    let mut server = Connection::new(Role::Server, Config::default());
    server.handle_bytes(&wire[..bad_at]);
    assert_eq!(server.poll_frame(), Ok(Some(Frame::ping(b"p"))));
    assert_eq!(server.poll_frame(), Ok(None));
    server.handle_bytes(&wire[bad_at..=bad_at]);
    assert_eq!(server.poll_frame(), Err(ProtocolError::InvalidUtf8));

    // The pong for the ping, then the close 1007.
    assert_eq!(server.state(), State::Closed);
    let frames = split_frames(&drain(server.send_buffer()));
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(frames[0].header.opcode, OpCode::Pong);
    assert_eq!(frames[0].payload, b"p");
    assert_eq!(frames[1].header.opcode, OpCode::Close);
    assert_eq!(frames[1].payload, 1007u16.to_be_bytes());
}

#[test]
fn a_text_message_ending_inside_a_code_point_is_invalid() {
    let mut wire = Vec::new();
    encode_frame(&mut wire, false, OpCode::Text, b"ok \xe2", Some(KEY));
    encode_frame(&mut wire, true, OpCode::Continuation, b"\x82", Some(KEY));

    let mut server = Connection::new(Role::Server, Config::default());
    server.handle_bytes(&wire);
    assert_eq!(server.poll_frame(), Err(ProtocolError::InvalidUtf8));
    assert_closed_with(&mut server, 1007);
}

#[test]
fn a_code_point_cut_across_fragments_and_chunks_is_valid() {
    // The deterministic counterpart of the property: '€' cut 1|2 across
    // fragments, fed one byte at a time.
    let mut wire = Vec::new();
    encode_frame(&mut wire, false, OpCode::Text, b"\xe2", Some(KEY));
    encode_frame(&mut wire, false, OpCode::Continuation, b"\x82", Some(KEY));
    encode_frame(&mut wire, true, OpCode::Continuation, b"\xac!", Some(KEY));

    let mut server = Connection::new(Role::Server, Config::default());
    let got = feed_in_chunks(&mut server, &wire, &[1]).unwrap();
    assert_eq!(got, [Frame::text("€!")]);
    assert!(!server.wants_write());
    assert_eq!(server.state(), State::Open);
}
