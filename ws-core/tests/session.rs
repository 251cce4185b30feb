//! Whole sessions between a client and a server `Connection` wired together
//! in memory, with no sockets: the opening handshake, messages both ways,
//! fragmentation with interleaved pings, both closing handshakes, and the
//! ways a server fails the connection (protocol errors, size limits).
//!
//! The "wire" moves bytes from one side's send buffer to the other side's
//! `handle_bytes` seven bytes at a time and polls after every piece, so every
//! frame and every HTTP head arrives cut at odd places.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::Buf;
use ws_core::frame::{FrameHeader, OpCode};
use ws_core::handshake::{
    DEFAULT_MAX_HEAD_SIZE, HandshakeError, client_key, client_request, parse_request,
    parse_response, switching_protocols, validate_upgrade,
};
use ws_core::mask::apply_mask;
use ws_core::send_buffer::SendBuffer;
use ws_core::{
    CloseCode, Config, Connection, Frame, ProtocolError, Role, SendError, State, Terminate, close,
};

/// How many bytes the wire moves at a time.
const CHUNK: usize = 7;

// ---------------------------------------------------------------------------
// The in-memory wire
// ---------------------------------------------------------------------------

/// What one side reported while bytes arrived: frames in order, and the
/// protocol error that failed the connection, if any.
#[derive(Debug, Default)]
struct Received {
    frames: Vec<Frame>,
    error: Option<ProtocolError>,
}

/// Polls `conn` until it needs more bytes, recording frames and the error.
fn poll_all(conn: &mut Connection, got: &mut Received) {
    loop {
        match conn.poll_frame() {
            Ok(Some(frame)) => {
                assert!(got.error.is_none(), "frame {frame:?} after an error");
                got.frames.push(frame);
            }
            Ok(None) => return,
            Err(error) => {
                assert!(got.error.is_none(), "second error {error}");
                assert!(conn.is_closed(), "an error closes the connection");
                got.error = Some(error);
            }
        }
    }
}

/// Delivers raw bytes to `to`, `CHUNK` at a time, polling after each piece.
fn deliver(to: &mut Connection, bytes: &[u8]) -> Received {
    let mut got = Received::default();
    for piece in bytes.chunks(CHUNK) {
        to.handle_bytes(piece);
        poll_all(to, &mut got);
    }
    got
}

/// Moves everything `from` queued to `to`, `CHUNK` bytes at a time taken
/// through the send buffer's `Buf` impl, polling after each piece.
fn pump(from: &mut Connection, to: &mut Connection) -> Received {
    let mut got = Received::default();
    loop {
        let out = from.send_buffer();
        if !out.has_remaining() {
            return got;
        }
        let n = out.chunk().len().min(CHUNK);
        assert!(n > 0, "empty chunk with bytes remaining");
        let piece = out.chunk()[..n].to_vec();
        out.advance(n);
        to.handle_bytes(&piece);
        poll_all(to, &mut got);
    }
}

/// Everything queued in a send buffer.
fn drain(buf: &mut SendBuffer) -> Vec<u8> {
    let mut out = Vec::new();
    while buf.has_remaining() {
        let n = buf.chunk().len();
        assert!(n > 0, "empty chunk with bytes remaining");
        out.extend_from_slice(buf.chunk());
        buf.advance(n);
    }
    out
}

/// Reads an HTTP head off a byte stream arriving `CHUNK` bytes at a time:
/// `parse` is retried on the growing buffer until the head is complete.
/// Returns the parsed head and every byte after it (already frames).
fn read_head<T>(
    stream: &[u8],
    parse: impl Fn(&[u8]) -> Result<Option<(T, usize)>, HandshakeError>,
) -> (T, Vec<u8>) {
    let mut buf = Vec::new();
    for (i, piece) in stream.chunks(CHUNK).enumerate() {
        buf.extend_from_slice(piece);
        match parse(&buf) {
            Ok(None) => {}
            Ok(Some((head, used))) => {
                assert!(used <= buf.len());
                let mut rest = buf[used..].to_vec();
                let read = ((i + 1) * CHUNK).min(stream.len());
                rest.extend_from_slice(&stream[read..]);
                return (head, rest);
            }
            Err(error) => panic!("head rejected: {error:?}"),
        }
    }
    panic!("the head never completed");
}

/// Appends one frame as a client sends it: masked with `key`.
fn masked_frame(out: &mut Vec<u8>, fin: bool, opcode: OpCode, payload: &[u8], key: [u8; 4]) {
    let header = FrameHeader {
        fin,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: Some(key),
        payload_len: payload.len() as u64,
    };
    header.encode(out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], key, 0);
}

/// The close frame's code, or `None` for a close frame without a body;
/// panics on anything but a single close frame.
fn close_code_of(frames: &[Frame]) -> Option<u16> {
    match frames {
        [Frame::Close(close)] => close.as_ref().map(|c| c.code().as_u16()),
        other => panic!("expected one close frame, got {other:?}"),
    }
}

/// A client and a server after a minimal handshake over the wire.
fn connect(server_config: Config) -> (Connection, Connection) {
    let key = client_key(b"0123456789abcdef");
    let request = client_request("localhost", "/", &key, &[], None);
    let (req, rest) = read_head(&request, |b| parse_request(b, DEFAULT_MAX_HEAD_SIZE));
    assert!(rest.is_empty());
    let upgrade = validate_upgrade(&req).unwrap();
    let response = switching_protocols(&upgrade.key, None, None, &[]);
    let (resp, rest) = read_head(&response, |b| parse_response(b, &key));
    assert!(rest.is_empty());
    assert_eq!(resp.protocol, None);
    (
        Connection::new(Role::Client, Config::default()),
        Connection::new(Role::Server, server_config),
    )
}

// ---------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------

#[test]
fn full_session_handshake_messages_fragments_pings_and_client_close() {
    // --- Opening handshake (RFC 6455 §4), with frames pipelined after each head.
    let key = client_key(b"a sixteen b nonc");
    let mut client = Connection::new(Role::Client, Config::default());
    client.send(Frame::text("pipelined")).unwrap();
    let mut request = client_request("chat.example", "/room/1", &key, &["chat.v2", "chat"], None);
    request.extend_from_slice(&drain(client.send_buffer()));

    let (req, after_request) = read_head(&request, |b| parse_request(b, DEFAULT_MAX_HEAD_SIZE));
    assert_eq!(req.path(), "/room/1");
    let upgrade = validate_upgrade(&req).unwrap();
    assert_eq!(upgrade.key, key);
    assert_eq!(upgrade.protocols, ["chat.v2", "chat"]);

    let mut server = Connection::new(Role::Server, Config::default());
    let got = deliver(&mut server, &after_request);
    assert_eq!(got.error, None);
    assert_eq!(
        got.frames,
        [Frame::text("pipelined")],
        "bytes after the request head kept"
    );

    server.send(Frame::text("welcome")).unwrap();
    let mut response = switching_protocols(&upgrade.key, Some("chat"), None, &[]);
    response.extend_from_slice(&drain(server.send_buffer()));

    // The client checks Sec-WebSocket-Accept against its own key.
    let other_key = client_key(b"not the same key");
    assert_eq!(
        parse_response(&response, &other_key),
        Err(HandshakeError::BadAccept)
    );
    let (resp, after_response) = read_head(&response, |b| parse_response(b, &key));
    assert_eq!(resp.protocol.as_deref(), Some("chat"));
    let got = deliver(&mut client, &after_response);
    assert_eq!(got.error, None);
    assert_eq!(
        got.frames,
        [Frame::text("welcome")],
        "bytes after the 101 head kept"
    );

    // --- Text and binary both ways; 70 000 bytes takes the 64-bit length
    // form and the server's shared (uncopied) payload path.
    let big: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    client.send(Frame::text("héllo wörld €𝄞")).unwrap();
    client.send(Frame::binary(big.clone())).unwrap();
    client.send(Frame::binary(vec![0u8, 1, 2])).unwrap();
    let got = pump(&mut client, &mut server);
    assert_eq!(got.error, None);
    assert_eq!(
        got.frames,
        [
            Frame::text("héllo wörld €𝄞"),
            Frame::binary(big.clone()),
            Frame::binary(vec![0u8, 1, 2]),
        ]
    );
    server.send(Frame::text("ünïcödé back")).unwrap();
    server.send(Frame::binary(big.clone())).unwrap();
    server.send(Frame::text("")).unwrap();
    let got = pump(&mut server, &mut client);
    assert_eq!(got.error, None);
    assert_eq!(
        got.frames,
        [
            Frame::text("ünïcödé back"),
            Frame::binary(big),
            Frame::text(""),
        ]
    );

    // --- A fragmented text message from the client, cut inside code points,
    // with pings between the fragments.
    let message = "fragments: κόσμε 𝄞 end";
    let bytes = message.as_bytes();
    let cut1 = message.find('ό').unwrap() + 1; // inside 'ό'
    let cut2 = message.find('𝄞').unwrap() + 2; // inside '𝄞'
    let mut head = Vec::new();
    masked_frame(&mut head, false, OpCode::Text, &bytes[..cut1], [1, 2, 3, 4]);
    masked_frame(&mut head, true, OpCode::Ping, b"p1", [5, 6, 7, 8]);
    masked_frame(
        &mut head,
        false,
        OpCode::Continuation,
        &bytes[cut1..cut2],
        [9, 10, 11, 12],
    );
    masked_frame(&mut head, true, OpCode::Ping, b"p2", [13, 14, 15, 16]);
    let mut tail = Vec::new();
    masked_frame(
        &mut tail,
        true,
        OpCode::Continuation,
        &bytes[cut2..],
        [17, 18, 19, 20],
    );

    let got = deliver(&mut server, &head);
    assert_eq!(got.error, None);
    assert_eq!(
        got.frames,
        [Frame::ping(b"p1"), Frame::ping(b"p2")],
        "pings are reported at once, before the message completes"
    );
    assert!(server.wants_write(), "the pongs are queued at once");
    let got = deliver(&mut server, &tail);
    assert_eq!(got.error, None);
    assert_eq!(got.frames, [Frame::text(message)]);

    let got = pump(&mut server, &mut client);
    assert_eq!(got.error, None);
    assert_eq!(got.frames, [Frame::pong(b"p1"), Frame::pong(b"p2")]);

    // --- The client closes (RFC 6455 §7.1.2); the server echoes the code.
    client.send(Frame::close(close!(1000, "done"))).unwrap();
    assert_eq!(client.state(), State::CloseSent);
    assert_eq!(client.send(Frame::text("late")), Err(SendError::Closed));

    let got = pump(&mut client, &mut server);
    assert_eq!(got.error, None);
    assert_eq!(got.frames, [Frame::close(close!(1000, "done"))]);
    assert_eq!(server.state(), State::Closed);
    // The server's terminate reason comes from the frame: the peer's code and reason.
    let terminate = match &got.frames[0] {
        Frame::Close(Some(cf)) => Terminate::RemoteClose {
            code: cf.code(),
            payload: cf.reason().to_owned(),
        },
        Frame::Close(None) => Terminate::Remote,
        other => panic!("not a close: {other:?}"),
    };
    assert!(
        matches!(&terminate, Terminate::RemoteClose { code, payload }
            if *code == CloseCode::NORMAL && payload == "done"),
        "{terminate:?}"
    );

    let got = pump(&mut server, &mut client);
    assert_eq!(got.error, None);
    assert_eq!(close_code_of(&got.frames), Some(1000));
    assert_eq!(client.state(), State::Closed);
    assert!(client.is_closed() && server.is_closed());
    assert!(!client.wants_write() && !server.wants_write());
}

#[test]
fn close_initiated_by_the_server_is_echoed_and_ends_both_sides() {
    let (mut client, mut server) = connect(Config::default());
    server
        .send(Frame::close(close!(1001, "going away")))
        .unwrap();
    assert_eq!(server.state(), State::CloseSent);
    assert_eq!(server.send(Frame::text("late")), Err(SendError::Closed));
    assert_eq!(
        server.send(Frame::binary(vec![1u8])),
        Err(SendError::Closed)
    );
    assert_eq!(server.send(Frame::ping(b"x")), Err(SendError::Closed));

    let got = pump(&mut server, &mut client);
    assert_eq!(got.error, None);
    assert_eq!(got.frames, [Frame::close(close!(1001, "going away"))]);
    assert_eq!(client.state(), State::Closed);

    // The client is closed: what it tries to send now is not produced.
    assert_eq!(client.send(Frame::text("too late")), Err(SendError::Closed));
    let echo = drain(client.send_buffer());
    // Decode what the client queued on a fresh server: only the echo.
    let mut replay = Connection::new(Role::Server, Config::default());
    let got = deliver(&mut replay, &echo);
    assert_eq!(
        close_code_of(&got.frames),
        Some(1001),
        "only the echo is queued"
    );

    let got = deliver(&mut server, &echo);
    assert_eq!(got.error, None);
    assert_eq!(close_code_of(&got.frames), Some(1001));
    assert_eq!(server.state(), State::Closed);
    assert!(!server.wants_write());
}

#[test]
fn close_without_a_code_is_echoed_without_a_code_both_ways() {
    // Initiated by the client.
    let (mut client, mut server) = connect(Config::default());
    client.send(Frame::Close(None)).unwrap();
    let got = pump(&mut client, &mut server);
    assert_eq!(got.frames, [Frame::Close(None)]);
    assert_eq!(server.state(), State::Closed);
    let echo = drain(server.send_buffer());
    assert_eq!(echo, [0x88, 0x00], "an unmasked close frame with no body");
    let got = deliver(&mut client, &echo);
    assert_eq!(got.frames, [Frame::Close(None)]);
    assert!(client.is_closed() && server.is_closed());

    // Initiated by the server.
    let (mut client, mut server) = connect(Config::default());
    server.close(None).unwrap();
    assert_eq!(server.state(), State::CloseSent);
    let got = pump(&mut server, &mut client);
    assert_eq!(got.frames, [Frame::Close(None)]);
    assert_eq!(client.state(), State::Closed);
    let got = pump(&mut client, &mut server);
    assert_eq!(got.frames, [Frame::Close(None)]);
    assert!(client.is_closed() && server.is_closed());
}

#[test]
fn protocol_violations_close_with_1002() {
    const KEY: [u8; 4] = [0xa1, 0xb2, 0xc3, 0xd4];
    let unmasked_text = {
        let mut out = Vec::new();
        FrameHeader::new(OpCode::Text, 2, None).encode(&mut out);
        out.extend_from_slice(b"hi");
        out
    };
    let with_rsv = |rsv1: bool, rsv2: bool, rsv3: bool| {
        let mut out = Vec::new();
        FrameHeader {
            rsv1,
            rsv2,
            rsv3,
            ..FrameHeader::new(OpCode::Binary, 0, Some(KEY))
        }
        .encode(&mut out);
        out
    };
    let fragmented_ping = {
        let mut out = Vec::new();
        masked_frame(&mut out, false, OpCode::Ping, b"x", KEY);
        out
    };
    let continuation_without_start = {
        let mut out = Vec::new();
        masked_frame(&mut out, true, OpCode::Continuation, b"x", KEY);
        out
    };
    let text_inside_fragmented = {
        let mut out = Vec::new();
        masked_frame(&mut out, false, OpCode::Text, b"a", KEY);
        masked_frame(&mut out, true, OpCode::Text, b"b", KEY);
        out
    };
    let long_ping = {
        let mut out = Vec::new();
        masked_frame(&mut out, true, OpCode::Ping, &[0; 126], KEY);
        out
    };
    let one_byte_close = {
        let mut out = Vec::new();
        masked_frame(&mut out, true, OpCode::Close, &[0x03], KEY);
        out
    };
    let close_1005 = {
        let mut out = Vec::new();
        masked_frame(&mut out, true, OpCode::Close, &1005u16.to_be_bytes(), KEY);
        out
    };
    let cases: Vec<(&str, Vec<u8>, ProtocolError)> = vec![
        (
            "unmasked frame",
            unmasked_text,
            ProtocolError::UnmaskedFrame,
        ),
        (
            "reserved opcode 0x3",
            vec![0x83, 0x80, 1, 2, 3, 4],
            ProtocolError::ReservedOpcode(0x3),
        ),
        (
            "reserved opcode 0xB",
            vec![0x8B, 0x80, 1, 2, 3, 4],
            ProtocolError::ReservedOpcode(0xB),
        ),
        (
            "RSV1",
            with_rsv(true, false, false),
            ProtocolError::ReservedBits(0b100),
        ),
        (
            "RSV2",
            with_rsv(false, true, false),
            ProtocolError::ReservedBits(0b010),
        ),
        (
            "RSV3",
            with_rsv(false, false, true),
            ProtocolError::ReservedBits(0b001),
        ),
        (
            "64-bit length with the MSB set",
            vec![0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4],
            ProtocolError::LengthMsbSet,
        ),
        (
            "fragmented ping",
            fragmented_ping,
            ProtocolError::FragmentedControlFrame,
        ),
        (
            "continuation without start",
            continuation_without_start,
            ProtocolError::ContinuationWithoutStart,
        ),
        (
            "text inside a fragmented message",
            text_inside_fragmented,
            ProtocolError::DataFrameInsideFragmentedMessage,
        ),
        (
            "ping over 125 bytes",
            long_ping,
            ProtocolError::ControlFrameTooLong(126),
        ),
        (
            "one-byte close",
            one_byte_close,
            ProtocolError::CloseFrameOneByte,
        ),
        (
            "close code 1005",
            close_1005,
            ProtocolError::InvalidCloseCode(1005),
        ),
    ];
    for (name, violation, expected) in cases {
        let (mut client, mut server) = connect(Config::default());
        // A valid message first: the connection works until the violation.
        client.send(Frame::text("fine")).unwrap();
        let got = pump(&mut client, &mut server);
        assert_eq!(got.frames, [Frame::text("fine")], "{name}");

        let got = deliver(&mut server, &violation);
        assert_eq!(got.frames, [], "{name}");
        assert_eq!(got.error, Some(expected.clone()), "{name}");
        assert_eq!(expected.close_code(), CloseCode::PROTOCOL_ERROR, "{name}");
        assert_eq!(server.state(), State::Closed, "{name}");
        assert_eq!(
            server.send(Frame::text("after failure")),
            Err(SendError::Closed),
            "{name}"
        );

        let got = pump(&mut server, &mut client);
        assert_eq!(got.error, None, "{name}");
        assert_eq!(close_code_of(&got.frames), Some(1002), "{name}");
        assert_eq!(client.state(), State::Closed, "{name}");
    }
}

#[test]
fn message_over_the_limit_closes_with_1009_when_the_header_announces_it() {
    let config = Config {
        max_message_size: 100,
        ..Config::default()
    };
    let (mut client, mut server) = connect(config);
    let mut wire = Vec::new();
    masked_frame(&mut wire, false, OpCode::Binary, &[1; 40], [1, 1, 1, 1]);
    masked_frame(
        &mut wire,
        false,
        OpCode::Continuation,
        &[2; 40],
        [2, 2, 2, 2],
    );
    let got = deliver(&mut server, &wire);
    assert_eq!((got.frames.len(), got.error), (0, None));

    // The third fragment brings the message to 120 bytes: its header alone
    // fails the connection, before any of its payload arrives.
    let mut third = Vec::new();
    masked_frame(
        &mut third,
        true,
        OpCode::Continuation,
        &[3; 40],
        [3, 3, 3, 3],
    );
    let header_len = third.len() - 40;
    let got = deliver(&mut server, &third[..header_len]);
    assert_eq!(got.frames, []);
    assert_eq!(
        got.error,
        Some(ProtocolError::MessageTooBig { len: 120, max: 100 })
    );
    assert_eq!(server.state(), State::Closed);

    let got = deliver(&mut server, &third[header_len..]);
    assert_eq!(
        (got.frames.len(), got.error),
        (0, None),
        "the rest is ignored"
    );

    let got = pump(&mut server, &mut client);
    assert_eq!(close_code_of(&got.frames), Some(1009));
    assert_eq!(client.state(), State::Closed);
    let echo = pump(&mut client, &mut server);
    assert_eq!(echo.frames, [], "a failed server reads nothing more");
}
