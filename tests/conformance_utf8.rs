//! RFC 6455 conformance of the echo server, part 2: UTF-8 in text messages
//! (§5.6, §8.1) — Autobahn's section 6, fail-fast included.
//!
//! §8.1: "When an endpoint is to interpret a byte stream as UTF-8 but finds
//! that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint
//! MUST _Fail the WebSocket Connection_" (close 1007, §7.4.1). Failing fast
//! means at the first byte no continuation could make valid, even when the
//! rest of the frame or message has not been sent yet: the cases here send
//! up to that byte and wait for the close before sending the rest.
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

use conformance_support::utf8::{KOSME, first_invalid_byte, vectors};
use conformance_support::*;

/// Autobahn 6.2's text: 1-, 2- and 4-byte sequences.
const HELLO_UTF8: &str = "Hello-µ@ßöäüàá-UTF-8!!";

/// Valid text after an invalid vector, so that a frame is still unfinished
/// when the invalid byte arrives.
const TAIL: &[u8] = b" and the rest of the message, which is never needed";

conformance! {
    /// §8.1, §5.6 (Autobahn 6.1.1, 6.2.1, 6.5, 6.7, 6.8, 6.11, 6.22, 6.23):
    /// every valid vector (first and last sequences of each length, plane
    /// boundaries, noncharacters, specials) is echoed as one frame.
    async fn rfc6455_8_1_valid_utf8_vectors_are_echoed(target) {
        let mut client = target.connect().await;
        client.send(text(b"")).await;
        client.expect_text("").await;
        for vector in vectors().into_iter().filter(|v| v.valid) {
            let expected = String::from_utf8(vector.bytes.clone()).unwrap();
            client.send(text(&vector.bytes)).await;
            client.expect_text(expected).await;
        }
        client.close_handshake(1000, "").await;
    }

    /// §5.4, §8.1 (Autobahn 6.2.2-6.2.4): valid text fragmented at code
    /// points, inside code points (one byte per fragment), and written one
    /// byte at a time, is valid: validity is of the whole message.
    async fn rfc6455_8_1_valid_text_split_anywhere_is_valid(target) {
        let mut client = target.connect().await;
        let bytes = HELLO_UTF8.as_bytes();
        client.send(text(bytes)).await;
        client.expect_text(HELLO_UTF8).await;
        let at_code_points: Vec<Vec<u8>> = HELLO_UTF8
            .char_indices()
            .map(|(i, c)| bytes[i..i + c.len_utf8()].to_vec())
            .collect();
        let last = at_code_points.len() - 1;
        let mut message = Vec::new();
        for (i, part) in at_code_points.iter().enumerate() {
            let opcode = if i == 0 { OP_TEXT } else { OP_CONT };
            let fin = if i == last { FIN } else { 0 };
            message.extend(frame(fin | opcode, part));
        }
        client.send(message).await;
        client.expect_text(HELLO_UTF8).await;
        client.send(fragments(OP_TEXT, bytes, 1)).await;
        client.expect_text(HELLO_UTF8).await;
        client.send_bytewise(text(bytes)).await;
        client.expect_text(HELLO_UTF8).await;
        for vector in vectors().into_iter().filter(|v| v.valid && v.bytes.len() > 1) {
            client.send(fragments(OP_TEXT, &vector.bytes, 1)).await;
            client.expect_text(String::from_utf8(vector.bytes).unwrap()).await;
        }
        client.close_handshake(1000, "").await;
    }

    /// §8.1: a code point split between two fragments with a ping in
    /// between is still one valid code point (the validator's state
    /// survives the ping, and hibernation in the `hibernate` variant).
    async fn rfc6455_8_1_code_point_split_around_a_ping_is_valid(target) {
        let mut client = target.connect().await;
        client.send(text_start(b"\xf0\x9d")).await;
        client.send(ping(b"mid code point")).await;
        client.expect_pong(b"mid code point".to_vec()).await;
        client.send(cont(b"\x84")).await;
        client.send(ping(b"again")).await;
        client.expect_pong(b"again".to_vec()).await;
        client.send(cont_fin(b"\x9e clef")).await;
        client.expect_text("𝄞 clef").await;
        client.close_handshake(1000, "").await;
    }

    /// §8.1: the same with unsolicited pongs, whose events write nothing,
    /// so the `hibernate` variant releases its buffers mid-code-point; and
    /// an invalid continuation after such a pause still fails fast.
    async fn rfc6455_8_1_code_point_split_around_pongs_is_valid(target) {
        let mut client = target.connect().await;
        client
            .send_parts(&[
                text_start(b"\xe2"),
                pong(b"a"),
                cont(b"\x82"),
                pong(b"b"),
                cont_fin(b"\xac euro"),
            ])
            .await;
        client.expect_text("€ euro").await;
        client.send_parts(&[text_start(b"ok \xf0\x9f"), pong(b"c"), cont(b"\x98")]).await;
        client.send(cont(b"\x28")).await;
        client.expect_failure(1007).await;
    }

    /// §8.1: text with every kind of code point (a sample of each plane,
    /// surrogates excluded) in one 1 MiB message is valid.
    async fn rfc6455_8_1_text_with_code_points_from_every_plane_is_echoed(target) {
        let mut client = target.connect().await;
        let message: String = (0..=0x10ffffu32)
            .step_by(7)
            .filter_map(char::from_u32)
            .collect();
        assert!(message.len() > 500_000);
        client.send(text(&message)).await;
        client.expect_text(message.clone()).await;
        client.send(fragments(OP_TEXT, message.as_bytes(), 4093)).await;
        client.expect_text(message).await;
        client.close_handshake(1000, "").await;
    }

    /// §8.1 (Autobahn 6.3, 6.6, 6.8-6.21): every invalid vector (lone
    /// continuations, lonely start bytes, truncated sequences, impossible
    /// bytes, overlongs, surrogates, above U+10FFFF, 5- and 6-byte forms)
    /// in one text frame fails the connection with 1007, and nothing is
    /// echoed.
    async fn rfc6455_8_1_invalid_utf8_vectors_are_closed_with_1007(target) {
        for vector in vectors().into_iter().filter(|v| !v.valid) {
            let mut client = target.connect().await;
            client.send(cat(&[text(&vector.bytes), ping(b"after")])).await;
            match client.next_event().await {
                Event::Close(Some(1007), _) => {}
                other => panic!("{vector:?}: expected close 1007, got {other:?}"),
            }
            client.send_lenient(close(1007, b"")).await;
            client.expect_eof().await;
        }
    }

    /// §8.1 (Autobahn 6.4.3, 6.4.4): fail fast within a frame. For every
    /// invalid vector with a byte no continuation can repair, the frame is
    /// announced whole but sent only up to that byte: the close with 1007
    /// must arrive before the rest is sent.
    async fn rfc6455_8_1_invalid_utf8_fails_fast_at_the_first_invalid_byte_of_a_frame(target) {
        let mut checked = 0;
        for vector in vectors().into_iter().filter(|v| !v.valid) {
            let Some(at) = first_invalid_byte(&vector.bytes) else {
                continue;
            };
            let payload = cat(&[&vector.bytes[..], TAIL]);
            let key = next_key();
            let mut client = target.connect().await;
            let mut head = header(FIN | OP_TEXT, payload.len() as u64, Some(key));
            head.extend(mask(&payload[..=at], key, 0));
            client.send(head).await;
            match client.next_event().await {
                Event::Close(Some(1007), _) => {}
                other => panic!("{vector:?} cut after byte {at}: expected close 1007, got {other:?}"),
            }
            client.send_lenient(mask(&payload[at + 1..], key, at + 1)).await;
            client.send_lenient(close(1007, b"")).await;
            client.expect_eof().await;
            checked += 1;
        }
        assert!(checked >= 50, "only {checked} vectors have an invalid byte");
    }

    /// §8.1 (Autobahn 6.4.1, 6.4.2): fail fast across fragments. The bytes
    /// before the invalid one go in a first fragment (accepted: a ping after
    /// it is answered), the invalid byte alone in a second fragment, and the
    /// close with 1007 must arrive before the third is sent.
    async fn rfc6455_8_1_invalid_utf8_fails_fast_at_the_fragment_with_the_invalid_byte(target) {
        for vector in vectors().into_iter().filter(|v| !v.valid) {
            let Some(at) = first_invalid_byte(&vector.bytes) else {
                continue;
            };
            let mut client = target.connect().await;
            client.send(text_start(&vector.bytes[..at])).await;
            client.send(ping(b"first fragment taken")).await;
            match client.next_event().await {
                Event::Pong(payload) if payload == b"first fragment taken" => {}
                other => panic!("{vector:?}: the valid first fragment was refused: {other:?}"),
            }
            client.send(cont(&vector.bytes[at..=at])).await;
            match client.next_event().await {
                Event::Close(Some(1007), _) => {}
                other => panic!("{vector:?}, fragment from byte {at}: expected close 1007, got {other:?}"),
            }
            client.send_lenient(cont_fin(cat(&[&vector.bytes[at + 1..], TAIL]))).await;
            client.send_lenient(close(1007, b"")).await;
            client.expect_eof().await;
        }
    }

    /// §8.1: text that ends inside a code point is invalid, whether the
    /// message is one frame (in one write or byte by byte), fragments, or
    /// fragments with an empty last one.
    async fn rfc6455_8_1_text_ending_inside_a_code_point_is_closed_with_1007(target) {
        let truncated: Vec<Vec<u8>> = vectors()
            .into_iter()
            .filter(|v| !v.valid && first_invalid_byte(&v.bytes).is_none())
            .map(|v| v.bytes)
            .collect();
        assert!(truncated.len() >= 10);
        for bytes in truncated {
            for (message, bytewise) in [
                (text(&bytes), false),
                (fragments(OP_TEXT, &bytes, 1), false),
                (cat(&[text_start(&bytes), cont_fin(b"")]), false),
                (text(&bytes), true),
            ] {
                let mut client = target.connect().await;
                if bytewise {
                    // The frame arrives in pieces: validated as it streams.
                    client.send_bytewise(message).await;
                } else {
                    client.send(message).await;
                }
                match client.next_event().await {
                    Event::Close(Some(1007), _) => {}
                    other => panic!("{bytes:02x?}: expected close 1007, got {other:?}"),
                }
                client.send_lenient(close(1007, b"")).await;
                client.expect_eof().await;
            }
        }
    }

    /// Autobahn 6.4.1 exactly: "κόσμε", then U+110000's 4-byte form in a
    /// second fragment, then "edited": 1007 after the second fragment.
    async fn rfc6455_8_1_autobahn_6_4_1_fails_on_the_second_of_three_fragments(target) {
        let mut client = target.connect().await;
        client.send(text_start(KOSME)).await;
        client.assert_alive().await;
        client.send(cont(b"\xf4\x90\x80\x80")).await;
        client.expect_failure(1007).await;
    }

    /// Autobahn 6.4.2 exactly: the second fragment is only the octet that
    /// makes the message invalid (0x90 after 0xf4 ending the first).
    async fn rfc6455_8_1_autobahn_6_4_2_fails_on_a_one_byte_fragment(target) {
        let mut client = target.connect().await;
        client.send(text_start(cat(&[KOSME, b"\xf4"]))).await;
        client.assert_alive().await;
        client.send(cont(b"\x90")).await;
        client.expect_failure(1007).await;
    }

    /// Autobahn 6.4.3 and 6.4.4 exactly: one frame in three writes; the
    /// close comes after the second write, before the third.
    async fn rfc6455_8_1_autobahn_6_4_3_and_6_4_4_fail_within_one_frame(target) {
        let payload = cat(&[KOSME, b"\xf4\x90\x80\x80", b"edited"]);
        for second_end in [15, 13] {
            let key = next_key();
            let mut client = target.connect().await;
            let mut first = header(FIN | OP_TEXT, payload.len() as u64, Some(key));
            first.extend(mask(&payload[..12], key, 0));
            client.send(first).await;
            client.send(mask(&payload[12..second_end], key, 12)).await;
            match client.next_event().await {
                Event::Close(Some(1007), _) => {}
                other => panic!("expected close 1007 after byte {second_end}, got {other:?}"),
            }
            client.send_lenient(mask(&payload[second_end..], key, second_end)).await;
            client.send_lenient(close(1007, b"")).await;
            client.expect_eof().await;
        }
    }

    /// §8.1: fail fast in a large frame: 1 MiB of valid text, an invalid
    /// byte, and 1 MiB more announced but never sent.
    async fn rfc6455_8_1_invalid_byte_after_1_mib_fails_before_the_next_mib(target) {
        let valid = text_of(1 << 20);
        let payload_len = valid.len() + 1 + (1 << 20);
        let key = next_key();
        let mut client = target.connect().await;
        let mut bytes = header(FIN | OP_TEXT, payload_len as u64, Some(key));
        bytes.extend(mask(&cat(&[valid.as_bytes(), b"\xff"]), key, 0));
        client.send(bytes).await;
        client.expect_failure(1007).await;
    }

    /// §8.1: the same in a fragmented message: the invalid byte in the
    /// middle of the third of four 256 KiB fragments.
    async fn rfc6455_8_1_invalid_byte_in_a_later_fragment_fails_before_its_end(target) {
        let valid = text_of(256 * 1024);
        let key = next_key();
        let mut client = target.connect().await;
        client.send(cat(&[text_start(&valid), cont(&valid)])).await;
        let mut third = header(OP_CONT, valid.len() as u64, Some(key));
        third.extend(mask(&cat(&[&valid.as_bytes()[..1000], b"\xc0"]), key, 0));
        client.send(third).await;
        client.expect_failure(1007).await;
    }

    /// §8.1: invalid UTF-8 in a binary message is not looked at.
    async fn rfc6455_8_1_binary_is_not_validated(target) {
        let mut client = target.connect().await;
        for vector in vectors().into_iter().filter(|v| !v.valid) {
            client.send(binary(&vector.bytes)).await;
            client.expect_binary(vector.bytes).await;
        }
        client.close_handshake(1000, "").await;
    }
}
