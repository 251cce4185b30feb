//! RFC 6455 conformance of the echo server, part 3: the closing handshake
//! (§5.5.1, §7) and close codes (§7.4) — Autobahn's section 7.
//!
//! A close from the client is answered with a close carrying the same code
//! (§5.5.1: "It SHOULD do so by sending the status code it received"; the
//! reason may be dropped), after which the server sends nothing and closes
//! TCP first (§7.1.1). Invalid close frames fail the connection (§7.1.7).
//!
//! Every case runs against the echo (`CASE::echo`) and the echo that
//! hibernates after every event (`CASE::hibernate`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[macro_use]
mod conformance_support;

use conformance_support::*;

/// Codes a client may send and the server must echo (§7.4.1, §7.4.2, the
/// IANA registry): Autobahn 7.7.1-7.7.13 plus 1012-1014 and the range ends.
const VALID_CODES: [u16; 17] = [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4500,
    4999,
];

/// Codes that must not appear in a close frame (Autobahn 7.9.1-7.9.9,
/// 7.13.1, 7.13.2, and 1015): reserved, unassigned, or out of range.
const INVALID_CODES: [u16; 13] = [
    0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535, 1,
];

conformance! {
    /// §5.5.1 (Autobahn 7.7.x): every valid code, with and without a
    /// reason, is echoed with the same code, then the server closes TCP.
    async fn rfc6455_5_5_1_close_with_a_valid_code_is_echoed_with_that_code(target) {
        for code in VALID_CODES {
            for reason in ["", "a reason", "κόσμε"] {
                let mut client = target.connect().await;
                client.close_handshake(code, reason).await;
            }
        }
    }

    /// §7.4.1, §7.4.2 (Autobahn 7.9.x, 7.13.x): a close code that must not
    /// be sent (0-999, 1004-1006, 1015, unassigned 1016-2999, above 4999)
    /// fails the connection with 1002, with or without a reason.
    async fn rfc6455_7_4_invalid_close_code_is_closed_with_1002(target) {
        for code in INVALID_CODES {
            for reason in ["", "reason"] {
                let mut client = target.connect().await;
                client.send(close(code, reason)).await;
                match client.next_event().await {
                    Event::Close(Some(1002), _) => {}
                    other => panic!("close code {code}: expected close 1002, got {other:?}"),
                }
                client.expect_eof().await;
            }
        }
    }

    /// §5.5.1 (Autobahn 7.3.1): a close with an empty body is answered with
    /// a close with an empty body (there is no code to echo).
    async fn rfc6455_5_5_1_empty_close_is_echoed_empty(target) {
        let mut client = target.connect().await;
        client.close_empty_handshake().await;
    }

    /// §5.5.1 (Autobahn 7.3.2): a body, if present, starts with a 2-byte
    /// code: a 1-byte body fails the connection with 1002.
    async fn rfc6455_5_5_1_one_byte_close_body_is_closed_with_1002(target) {
        for byte in [0x00, 0x03, 0xe8] {
            let mut client = target.connect().await;
            client.send(frame(FIN | OP_CLOSE, &[byte])).await;
            match client.next_event().await {
                Event::Close(Some(1002), _) => {}
                other => panic!("1-byte close {byte:#x}: expected close 1002, got {other:?}"),
            }
            client.expect_eof().await;
        }
    }

    /// §5.5.1, §5.5 (Autobahn 7.3.3-7.3.5): code only, code and reason, and
    /// a 125-byte body (code and a 123-byte reason) are valid.
    async fn rfc6455_5_5_1_close_body_up_to_125_bytes_is_valid(target) {
        let mut client = target.connect().await;
        client.close_handshake(1000, "").await;
        let mut client = target.connect().await;
        client.close_handshake(1000, "Hello World!").await;
        let mut client = target.connect().await;
        client.close_handshake(1000, &"*".repeat(123)).await;
        // 123 bytes of 2-byte code points, minus one byte: 61 × "é" + "!".
        let mut client = target.connect().await;
        client.close_handshake(1000, &("é".repeat(61) + "!")).await;
    }

    /// §5.5 (Autobahn 7.3.6): a 126-byte close body is a control frame over
    /// 125 bytes: 1002.
    async fn rfc6455_5_5_close_body_of_126_bytes_is_closed_with_1002(target) {
        let mut client = target.connect().await;
        client.send(close(1000, "*".repeat(124))).await;
        match client.next_event().await {
            Event::Close(Some(1002), _) => {}
            other => panic!("expected close 1002, got {other:?}"),
        }
        client.expect_eof().await;
    }

    /// §5.5.1, §8.1 (Autobahn 7.5.1): the reason is UTF-8; an invalid one
    /// fails the connection with 1007, whatever the kind of invalidity.
    async fn rfc6455_5_5_1_close_reason_with_invalid_utf8_is_closed_with_1007(target) {
        for reason in [
            &b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"[..],
            b"\xff",
            b"truncated \xe2\x82",
            b"\xc0\xaf overlong",
            b"\xf4\x90\x80\x80",
        ] {
            let mut client = target.connect().await;
            client.send(close(1000, reason)).await;
            match client.next_event().await {
                Event::Close(Some(1007), _) => {}
                other => panic!("reason {reason:02x?}: expected close 1007, got {other:?}"),
            }
            client.expect_eof().await;
        }
    }

    /// §7.1.1: "the server SHOULD close [the TCP connection] first": after
    /// the echo the server closes TCP without waiting for the client.
    async fn rfc6455_7_1_1_server_closes_tcp_after_the_closing_handshake(target) {
        let mut client = target.connect().await;
        client.send(text("hello")).await;
        client.expect_text("hello").await;
        client.send(close(1000, "")).await;
        assert_eq!(client.next_event().await, Event::Close(Some(1000), String::new()));
        // We neither send nor close: the end of the stream is the server's.
        client.expect_eof().await;
    }

    /// §7.1.7: after failing the connection the server closes TCP even if
    /// the client never answers its close frame.
    async fn rfc6455_7_1_7_server_closes_tcp_after_failing_even_unanswered(target) {
        let mut client = target.connect().await;
        client.send(frame(FIN | RSV2 | OP_TEXT, b"bad")).await;
        client.expect_failure_unanswered(1002).await;
        let mut client = target.connect().await;
        client.send(text(b"\xff")).await;
        client.expect_failure_unanswered(1007).await;
    }

    /// §5.5.1: "after sending a Close frame, the endpoint MUST NOT send any
    /// further data frames" and §1.4 the peer "discards any further data"
    /// (Autobahn 7.1.3, 7.1.4): a ping or text after the client's close,
    /// in the same write, gets nothing.
    async fn rfc6455_5_5_1_frames_after_the_clients_close_get_nothing(target) {
        for after in [ping(b"ping after close"), text("text after close"), binary([1, 2, 3])] {
            let mut client = target.connect().await;
            client.send(cat(&[close(1000, ""), after])).await;
            client.expect_close_echo(1000, "").await;
        }
        // In a later write (the server may already be gone: lenient).
        let mut client = target.connect().await;
        client.send(close(3000, "")).await;
        client.send_lenient(cat(&[ping(b"late"), text("late")])).await;
        client.expect_close_echo(3000, "").await;
    }

    /// §5.5.1 (Autobahn 7.1.2): a second close is not answered again.
    async fn rfc6455_5_5_1_second_close_is_not_answered(target) {
        let mut client = target.connect().await;
        client.send(cat(&[close(1000, ""), close(1001, "again")])).await;
        client.expect_close_echo(1000, "").await;
    }

    /// §5.5.1, §5.4 (Autobahn 7.1.5): a close between the fragments of a
    /// message ends the connection; the message is never delivered.
    async fn rfc6455_5_5_1_close_inside_a_fragmented_message_ends_it_undelivered(target) {
        let mut client = target.connect().await;
        client
            .send(cat(&[text_start(b"fragment1"), close(1000, ""), cont_fin(b"fragment2")]))
            .await;
        client.expect_close_echo(1000, "").await;
    }

    /// §5.5.1 (Autobahn 7.1.1, 7.1.6): what came before the close is
    /// answered in order, the close is echoed last, and what came after it
    /// is not answered, all in one write: a 256 KiB message, a short one,
    /// the close, a ping.
    async fn rfc6455_5_5_1_messages_before_the_close_are_echoed_in_order(target) {
        let mut client = target.connect().await;
        let big: String = "BAsd7&jh23".repeat(256 * 1024 / 10 + 1)[..256 * 1024].to_owned();
        client
            .send(cat(&[
                text(&big),
                text("Hello World!"),
                close(1000, ""),
                ping(b"after close"),
            ]))
            .await;
        client.expect_text(big).await;
        client.expect_text("Hello World!").await;
        client.expect_close_echo(1000, "").await;
    }

    /// §7.1.7: after failing the connection nothing else is sent: frames
    /// pipelined after the bad one get no answer.
    async fn rfc6455_7_1_7_frames_after_a_protocol_error_get_nothing(target) {
        let mut client = target.connect().await;
        client
            .send(cat(&[
                ping(b"before"),
                frame(FIN | 0x3, b""),
                ping(b"after"),
                text("after"),
                close(1000, ""),
            ]))
            .await;
        client.expect_pong(b"before".to_vec()).await;
        client.expect_failure(1002).await;
    }

    /// §7.1.1, §7.1.5: a client that drops TCP without a close frame only
    /// ends its own connection; the server keeps serving others.
    async fn rfc6455_7_1_5_tcp_close_without_a_close_frame_ends_only_that_connection(target) {
        let mut other = target.connect().await;
        for _ in 0..3 {
            let mut client = target.connect().await;
            client.send(text_start(b"half a mess")).await;
            drop(client);
        }
        other.send(text("still here")).await;
        other.expect_text("still here").await;
        other.close_handshake(1000, "").await;
    }
}
