//! One test per RFC 6455 rule the connection enforces, each fed the exact
//! bytes a client would send and checking the exact bytes answered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::Buf;
use ws_core::frame::{FrameHeader, OpCode};
use ws_core::mask::apply_mask;
use ws_core::{
    CloseCode, CloseFrame, Config, Connection, Frame, ProtocolError, Role, SendError, State, close,
};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// A masked client frame with raw first-byte bits.
fn raw(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let header = FrameHeader {
        fin: first & 0x80 != 0,
        rsv1: first & 0x40 != 0,
        rsv2: first & 0x20 != 0,
        rsv3: first & 0x10 != 0,
        opcode: OpCode::from_u8(first & 0x0F).unwrap(),
        mask: Some(KEY),
        payload_len: payload.len() as u64,
    };
    header.encode(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], KEY, 0);
    out
}

fn server() -> Connection {
    Connection::new(Role::Server, Config::default())
}

fn server_with(max_frame_size: usize, max_message_size: usize) -> Connection {
    Connection::new(
        Role::Server,
        Config {
            max_frame_size,
            max_message_size,
            ..Config::default()
        },
    )
}

/// Everything the connection queued to send.
fn output(conn: &mut Connection) -> Vec<u8> {
    let buf = conn.send_buffer();
    buf.copy_to_bytes(buf.remaining()).to_vec()
}

/// Feeds bytes and collects frames until more bytes are needed.
fn feed(conn: &mut Connection, bytes: &[u8]) -> Result<Vec<Frame>, ProtocolError> {
    conn.handle_bytes(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = conn.poll_frame()? {
        frames.push(frame);
    }
    Ok(frames)
}

/// Asserts the connection failed with `error` and queued exactly a close
/// frame with `code`.
fn assert_fails(conn: &mut Connection, bytes: &[u8], error: ProtocolError, code: u16) {
    assert_eq!(feed(conn, bytes), Err(error));
    assert_eq!(conn.state(), State::Closed);
    let [hi, lo] = code.to_be_bytes();
    assert_eq!(output(conn), [0x88, 0x02, hi, lo]);
    // §7.1.7: nothing more is processed once the connection has failed.
    assert_eq!(feed(conn, &raw(0x81, b"late")), Ok(vec![]));
}

#[test]
fn rfc_5_7_single_frame_masked_text() {
    let mut conn = server();
    let wire = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(feed(&mut conn, &wire), Ok(vec![Frame::text("Hello")]));
}

#[test]
fn rfc_5_7_fragmented_text_is_joined() {
    // The RFC's unmasked example, masked here because it comes from a client.
    let mut conn = server();
    assert_eq!(feed(&mut conn, &raw(0x01, b"Hel")), Ok(vec![]));
    assert_eq!(
        feed(&mut conn, &raw(0x80, b"lo")),
        Ok(vec![Frame::text("Hello")])
    );
}

#[test]
fn rfc_5_7_masked_ping_is_answered_with_an_unmasked_pong() {
    let mut conn = server();
    let ping = feed(&mut conn, &raw(0x89, b"Hello")).unwrap();
    assert_eq!(ping, vec![Frame::try_ping(&b"Hello"[..]).unwrap()]);
    // §5.7 unmasked pong "Hello": a server never masks (§5.1).
    assert_eq!(
        output(&mut conn),
        [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );
}

#[test]
fn server_frames_are_never_masked_and_use_minimal_lengths() {
    let mut conn = server();
    conn.send(Frame::binary(vec![0u8; 256])).unwrap();
    let out = output(&mut conn);
    // §5.7: 256 bytes binary message in a single unmasked frame.
    assert_eq!(&out[..4], [0x82, 0x7E, 0x01, 0x00]);
    assert_eq!(out.len(), 4 + 256);

    conn.send(Frame::binary(vec![0u8; 65536])).unwrap();
    let out = output(&mut conn);
    assert_eq!(&out[..10], [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
}

#[test]
fn client_frames_are_always_masked() {
    let mut client = Connection::new(Role::Client, Config::default());
    client.send(Frame::text("Hello")).unwrap();
    let out = output(&mut client);
    let (header, len) = FrameHeader::parse(&out).unwrap().unwrap();
    let key = header.mask.expect("client frames are masked");
    let mut payload = out[len..].to_vec();
    apply_mask(&mut payload, key, 0);
    assert_eq!(payload, b"Hello");
}

#[test]
fn server_rejects_unmasked_client_frames_with_1002() {
    let mut conn = server();
    assert_fails(
        &mut conn,
        &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o'],
        ProtocolError::UnmaskedFrame,
        1002,
    );
}

#[test]
fn client_rejects_masked_server_frames_with_1002() {
    let mut conn = Connection::new(Role::Client, Config::default());
    assert_eq!(
        feed(&mut conn, &raw(0x81, b"hi")),
        Err(ProtocolError::MaskedFrame)
    );
    assert_eq!(conn.state(), State::Closed);
}

#[test]
fn reserved_bits_without_an_extension_fail_with_1002() {
    for (first, bits) in [(0xC1, 0b100), (0xA1, 0b010), (0x91, 0b001), (0xF1, 0b111)] {
        let mut conn = server();
        assert_fails(
            &mut conn,
            &raw(first, b"x"),
            ProtocolError::ReservedBits(bits),
            1002,
        );
    }
}

#[test]
fn reserved_opcodes_fail_with_1002() {
    for opcode in [3u8, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
        let mut conn = server();
        let wire = [0x80 | opcode, 0x80, 1, 2, 3, 4];
        assert_fails(
            &mut conn,
            &wire,
            ProtocolError::ReservedOpcode(opcode),
            1002,
        );
    }
}

#[test]
fn sixty_four_bit_length_with_msb_set_fails_with_1002() {
    let mut conn = server();
    let wire = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
    assert_fails(&mut conn, &wire, ProtocolError::LengthMsbSet, 1002);
}

#[test]
fn control_frame_over_125_bytes_fails_with_1002() {
    let mut conn = server();
    assert_fails(
        &mut conn,
        &raw(0x89, &[0; 126]),
        ProtocolError::ControlFrameTooLong(126),
        1002,
    );
}

#[test]
fn control_frame_of_exactly_125_bytes_is_accepted() {
    let mut conn = server();
    let frames = feed(&mut conn, &raw(0x89, &[7; 125])).unwrap();
    assert_eq!(frames, vec![Frame::try_ping(vec![7; 125]).unwrap()]);
}

#[test]
fn fragmented_control_frame_fails_with_1002() {
    let mut conn = server();
    assert_fails(
        &mut conn,
        &raw(0x09, b"ping"),
        ProtocolError::FragmentedControlFrame,
        1002,
    );
}

#[test]
fn continuation_without_a_started_message_fails_with_1002() {
    let mut conn = server();
    assert_fails(
        &mut conn,
        &raw(0x80, b"orphan"),
        ProtocolError::ContinuationWithoutStart,
        1002,
    );
}

#[test]
fn new_data_frame_inside_a_fragmented_message_fails_with_1002() {
    let mut conn = server();
    feed(&mut conn, &raw(0x01, b"first")).unwrap();
    assert_fails(
        &mut conn,
        &raw(0x82, b"second"),
        ProtocolError::DataFrameInsideFragmentedMessage,
        1002,
    );
}

#[test]
fn control_frames_between_fragments_are_handled_at_once() {
    let mut conn = server();
    let mut wire = raw(0x01, b"fra");
    wire.extend(raw(0x89, b"p1"));
    wire.extend(raw(0x00, b"gme"));
    wire.extend(raw(0x8A, b"unsolicited"));
    wire.extend(raw(0x80, b"nted"));
    let frames = feed(&mut conn, &wire).unwrap();
    assert_eq!(
        frames,
        vec![
            Frame::try_ping(&b"p1"[..]).unwrap(),
            Frame::try_pong(&b"unsolicited"[..]).unwrap(),
            Frame::text("fragmented"),
        ]
    );
    // An unsolicited pong needs no answer (§5.5.3); the ping gets one.
    assert_eq!(output(&mut conn), [0x8A, 0x02, b'p', b'1']);
}

#[test]
fn empty_fragments_and_empty_messages_are_valid() {
    let mut conn = server();
    let mut wire = raw(0x01, b"");
    wire.extend(raw(0x00, b""));
    wire.extend(raw(0x80, b""));
    wire.extend(raw(0x82, b""));
    let frames = feed(&mut conn, &wire).unwrap();
    assert_eq!(frames, vec![Frame::text(""), Frame::binary(Vec::new())]);
}

#[test]
fn invalid_utf8_in_a_single_frame_fails_with_1007() {
    let mut conn = server();
    assert_fails(
        &mut conn,
        &raw(
            0x81,
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
        ),
        ProtocolError::InvalidUtf8,
        1007,
    );
}

#[test]
fn invalid_utf8_fails_fast_in_the_middle_of_a_frame() {
    // §8.1 and Autobahn 6.4.x: the header announces 20 bytes, the invalid byte
    // is in the first 5, and the connection fails before the rest arrives.
    let mut payload = b"ab\xf4\x90\x80".to_vec();
    payload.resize(20, b'x');
    let wire = raw(0x81, &payload);
    let mut conn = server();
    let header_len = 6;
    assert_fails(
        &mut conn,
        &wire[..header_len + 4],
        ProtocolError::InvalidUtf8,
        1007,
    );
}

#[test]
fn invalid_utf8_fails_fast_across_fragments() {
    let mut conn = server();
    // The first fragment ends inside a 4-byte code point...
    assert_eq!(feed(&mut conn, &raw(0x01, b"ok\xf0\x9f")), Ok(vec![]));
    // ...and the next fragment's first byte cannot continue it.
    let mut wire = raw(0x00, b"\x28more");
    wire.truncate(7);
    assert_fails(&mut conn, &wire, ProtocolError::InvalidUtf8, 1007);
}

#[test]
fn code_points_cut_across_fragments_are_valid() {
    let mut conn = server();
    let euro = "€".as_bytes();
    feed(&mut conn, &raw(0x01, &euro[..1])).unwrap();
    feed(&mut conn, &raw(0x00, &euro[1..2])).unwrap();
    let frames = feed(&mut conn, &raw(0x80, &euro[2..])).unwrap();
    assert_eq!(frames, vec![Frame::text("€")]);
}

#[test]
fn a_message_ending_inside_a_code_point_fails_with_1007() {
    let mut conn = server();
    feed(&mut conn, &raw(0x01, b"ok")).unwrap();
    assert_fails(
        &mut conn,
        &raw(0x80, b"\xe2\x82"),
        ProtocolError::InvalidUtf8,
        1007,
    );
}

#[test]
fn binary_messages_are_not_validated_as_utf8() {
    let mut conn = server();
    let frames = feed(&mut conn, &raw(0x82, b"\xff\xfe")).unwrap();
    assert_eq!(frames, vec![Frame::binary(&b"\xff\xfe"[..])]);
}

#[test]
fn peer_close_is_echoed_with_its_code_and_ends_the_connection() {
    let mut conn = server();
    let frames = feed(&mut conn, &raw(0x88, b"\x03\xe8bye")).unwrap();
    assert_eq!(frames, vec![Frame::close(close!(1000, "bye"))]);
    // §5.5.1: echo the status code.
    assert_eq!(output(&mut conn), [0x88, 0x02, 0x03, 0xe8]);
    assert!(conn.is_closed());
}

#[test]
fn empty_peer_close_is_echoed_empty() {
    let mut conn = server();
    assert_eq!(
        feed(&mut conn, &raw(0x88, b"")),
        Ok(vec![Frame::Close(None)])
    );
    assert_eq!(output(&mut conn), [0x88, 0x00]);
}

#[test]
fn frames_after_a_received_close_are_ignored() {
    let mut conn = server();
    let mut wire = raw(0x88, b"\x03\xe8");
    wire.extend(raw(0x81, b"after"));
    wire.extend(raw(0x89, b"ping"));
    let frames = feed(&mut conn, &wire).unwrap();
    assert_eq!(frames, vec![Frame::close(CloseCode::NORMAL)]);
    assert_eq!(feed(&mut conn, &raw(0x81, b"more")), Ok(vec![]));
    // Only the echo went out: no pong after the close.
    assert_eq!(output(&mut conn), [0x88, 0x02, 0x03, 0xe8]);
}

#[test]
fn close_with_a_one_byte_payload_fails_with_1002() {
    let mut conn = server();
    assert_fails(
        &mut conn,
        &raw(0x88, b"\x03"),
        ProtocolError::CloseFrameOneByte,
        1002,
    );
}

#[test]
fn every_received_close_code_is_checked() {
    for number in [
        0u16, 999, 1000, 1003, 1004, 1005, 1006, 1007, 1014, 1015, 1016, 2999, 3000, 4999, 5000,
        65535,
    ] {
        let mut conn = server();
        let valid = matches!(number, 1000..=1003 | 1007..=1014 | 3000..=4999);
        let payload = number.to_be_bytes();
        if valid {
            let frames = feed(&mut conn, &raw(0x88, &payload)).unwrap();
            let code = CloseCode::new(number).unwrap();
            assert_eq!(frames, vec![Frame::close(code)], "code {number}");
            assert_eq!(output(&mut conn), [0x88, 0x02, payload[0], payload[1]]);
        } else {
            assert_fails(
                &mut conn,
                &raw(0x88, &payload),
                ProtocolError::InvalidCloseCode(number),
                1002,
            );
        }
    }
}

#[test]
fn close_reason_with_invalid_utf8_fails_with_1007() {
    let mut conn = server();
    assert_fails(
        &mut conn,
        &raw(
            0x88,
            b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
        ),
        ProtocolError::InvalidCloseReason,
        1007,
    );
}

#[test]
fn nothing_is_sent_after_our_close() {
    let mut conn = server();
    conn.send(Frame::close(close!(1001, "going away"))).unwrap();
    assert_eq!(conn.state(), State::CloseSent);
    assert_eq!(conn.send(Frame::text("late")), Err(SendError::Closed));
    assert_eq!(conn.send(Frame::ping(b"")), Err(SendError::Closed));
    let out = output(&mut conn);
    assert_eq!(&out[..4], [0x88, 12, 0x03, 0xe9]);
    assert_eq!(&out[4..], b"going away");
    // A ping before the peer's close is reported but not answered.
    assert_eq!(
        feed(&mut conn, &raw(0x89, b"p")).unwrap(),
        vec![Frame::ping(b"p")]
    );
    assert!(output(&mut conn).is_empty());
    // The peer's close completes the handshake without another close.
    let frames = feed(&mut conn, &raw(0x88, b"\x03\xe9")).unwrap();
    assert_eq!(frames, vec![Frame::close(CloseCode::GOING_AWAY)]);
    assert!(conn.is_closed());
    assert!(output(&mut conn).is_empty());
}

#[test]
fn frame_over_max_frame_size_fails_with_1009_at_the_header() {
    let mut conn = server_with(100, 1000);
    let wire = raw(0x82, &[0; 101]);
    // Only the header: the payload is never waited for.
    assert_fails(
        &mut conn,
        &wire[..8],
        ProtocolError::FrameTooBig { len: 101, max: 100 },
        1009,
    );
}

#[test]
fn message_over_max_message_size_fails_with_1009_before_the_excess_is_read() {
    let mut conn = server_with(100, 250);
    feed(&mut conn, &raw(0x02, &[0; 100])).unwrap();
    feed(&mut conn, &raw(0x00, &[0; 100])).unwrap();
    let third = raw(0x80, &[0; 51]);
    assert_fails(
        &mut conn,
        &third[..6],
        ProtocolError::MessageTooBig { len: 251, max: 250 },
        1009,
    );
}

#[test]
fn message_of_exactly_max_message_size_is_accepted() {
    let mut conn = server_with(100, 200);
    feed(&mut conn, &raw(0x02, &[1; 100])).unwrap();
    let frames = feed(&mut conn, &raw(0x80, &[1; 100])).unwrap();
    assert_eq!(frames, vec![Frame::binary(vec![1; 200])]);
    // The next message starts its count from zero.
    let frames = feed(&mut conn, &raw(0x82, &[2; 100])).unwrap();
    assert_eq!(frames, vec![Frame::binary(vec![2; 100])]);
}

#[test]
fn payload_length_boundaries_roundtrip() {
    for len in [0usize, 125, 126, 65535, 65536] {
        let mut conn = server_with(1 << 20, 1 << 20);
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let frames = feed(&mut conn, &raw(0x82, &payload)).unwrap();
        assert_eq!(frames, vec![Frame::binary(payload.clone())], "length {len}");
        conn.send(frames.into_iter().next().unwrap()).unwrap();
        let out = output(&mut conn);
        let (header, header_len) = FrameHeader::parse(&out).unwrap().unwrap();
        assert_eq!(header.payload_len as usize, len);
        assert_eq!(&out[header_len..], &payload[..]);
    }
}

#[test]
fn bytes_arriving_one_at_a_time_yield_the_same_frames() {
    let mut wire = raw(0x01, "κόσ".as_bytes());
    wire.extend(raw(0x89, b"mid"));
    wire.extend(raw(0x80, "με".as_bytes()));
    wire.extend(raw(0x82, &[9; 300]));
    let mut conn = server();
    let mut frames = Vec::new();
    for byte in wire {
        frames.extend(feed(&mut conn, &[byte]).unwrap());
    }
    assert_eq!(
        frames,
        vec![
            Frame::ping(b"mid"),
            Frame::text("κόσμε"),
            Frame::binary(vec![9; 300]),
        ]
    );
}

#[test]
fn close_frame_reason_is_sent_after_the_code() {
    let mut conn = server();
    let reason = CloseFrame::try_new(CloseCode::new(4000).unwrap(), "é".repeat(61)).unwrap();
    conn.send(Frame::close(reason)).unwrap();
    let out = output(&mut conn);
    assert_eq!(out[1] as usize, 2 + 122);
    assert_eq!(&out[2..4], [0x0f, 0xa0]);
}

#[test]
fn without_fail_fast_utf8_invalid_text_fails_when_the_message_completes() {
    let mut conn = Connection::new(
        Role::Server,
        Config {
            fail_fast_utf8: false,
            ..Config::default()
        },
    );
    // The bad byte arrives in the first fragment but is only judged at the end.
    assert_eq!(feed(&mut conn, &raw(0x01, b"ok\xc0")), Ok(vec![]));
    assert_fails(
        &mut conn,
        &raw(0x80, b"tail"),
        ProtocolError::InvalidUtf8,
        1007,
    );
    let mut conn = Connection::new(
        Role::Server,
        Config {
            fail_fast_utf8: false,
            ..Config::default()
        },
    );
    feed(&mut conn, &raw(0x01, "€".as_bytes().get(..1).unwrap())).unwrap();
    let frames = feed(&mut conn, &raw(0x80, "€".as_bytes().get(1..).unwrap())).unwrap();
    assert_eq!(frames, vec![Frame::text("€")]);
}

/// The room a runtime should make for the rest of a frame: the payload's
/// length minus what is buffered, once the header is decoded; 0 between
/// frames and before the header is whole.
#[test]
fn input_wanted_is_what_the_frame_being_read_still_lacks() {
    let mut conn = server();
    assert_eq!(conn.input_wanted(), 0);
    let payload = vec![7u8; 100_000];
    let wire = raw(0x82, &payload);
    // A 64-bit length header is 2 + 8 bytes, then the 4-byte mask key.
    let header_len = 14;
    conn.handle_bytes(&wire[..header_len - 1]);
    assert!(conn.poll_frame().unwrap().is_none());
    assert_eq!(conn.input_wanted(), 0, "the header is not whole yet");
    conn.handle_bytes(&wire[header_len - 1..header_len + 1000]);
    assert!(conn.poll_frame().unwrap().is_none());
    assert_eq!(conn.input_wanted(), 99_000);
    conn.handle_bytes(&wire[header_len + 1000..]);
    assert_eq!(conn.input_wanted(), 0);
    match conn.poll_frame().unwrap() {
        Some(Frame::Binary(bytes)) => assert_eq!(bytes.as_ref(), &payload[..]),
        other => panic!("expected the binary frame, got {other:?}"),
    }
    assert_eq!(conn.input_wanted(), 0);
}
