//! RFC 6455 conformance of the echo server, part 1: the opening handshake
//! (§4), masking (§5.1, §5.3), framing and payload lengths (§5.2), reserved
//! bits and opcodes, fragmentation (§5.4), control frames, pings and pongs
//! (§5.5), data frames (§5.6) and size limits (§10.4) — Autobahn's sections
//! 1-5, 9 and 10.
//!
//! A raw client of our own (`tests/conformance_support`) writes exact
//! bytes over loopback and checks the server's exact answers, frame by
//! frame, to the TCP close. Every case runs twice: against the echo handler
//! of `examples/echo.rs` (`CASE::echo`) and against the same echo
//! hibernating after every event (`CASE::hibernate`).
//!
//! UTF-8 is in `conformance_utf8.rs`, the closing handshake in
//! `conformance_close.rs`, permessage-deflate in `conformance_deflate.rs`.
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

/// Every combination of the three reserved bits.
const RESERVED_BITS: [u8; 7] = [
    RSV1,
    RSV2,
    RSV3,
    RSV1 | RSV2,
    RSV1 | RSV3,
    RSV2 | RSV3,
    RSV1 | RSV2 | RSV3,
];

/// Every reserved opcode: 3-7 (data), 11-15 (control).
const RESERVED_OPCODES: [u8; 10] = [0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf];

/// The payload-length boundaries of §5.2, and their neighbours.
const BOUNDARIES: [usize; 9] = [0, 1, 125, 126, 127, 128, 65535, 65536, 65537];

// ---------------------------------------------------------------------------
// §4 The opening handshake
// ---------------------------------------------------------------------------

conformance! {
    /// §4.2.2: a valid request is answered with 101, `Upgrade: websocket`,
    /// `Connection: Upgrade` and the §1.3 accept value; no extension or
    /// subprotocol nobody offered. (`connect` checks each of these.)
    async fn rfc6455_4_2_2_valid_request_is_answered_with_101_and_the_accept_key(target) {
        let mut client = target.connect().await;
        assert!(client.response.header("sec-websocket-extensions").is_none());
        client.close_handshake(1000, "").await;
    }

    /// §4.2.1 / §4.2.2: a request that is not a valid handshake gets an
    /// HTTP error and no WebSocket: a missing key is 400.
    async fn rfc6455_4_2_1_request_without_a_key_is_refused_with_400(target) {
        let request = format!(
            "GET / HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n",
            target.addr
        );
        let (response, _stream, _) = target.exchange(request.as_bytes()).await;
        assert_eq!(response.status, 400, "{}", response.head);
        assert!(response.header("sec-websocket-accept").is_none());
    }

    /// §4.2.2 item 4: an unsupported version is answered with 426 and a
    /// `Sec-WebSocket-Version` header naming the versions the server speaks.
    async fn rfc6455_4_2_2_unsupported_version_is_refused_with_426_and_the_versions(target) {
        let request = upgrade_request(&target.addr.to_string())
            .replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 12")
            + "\r\n";
        let (response, _stream, _) = target.exchange(request.as_bytes()).await;
        assert_eq!(response.status, 426, "{}", response.head);
        let versions = response.header("sec-websocket-version").unwrap_or_default();
        assert!(
            versions.split(',').any(|v| v.trim() == "13"),
            "Sec-WebSocket-Version: {versions:?}"
        );
    }

    /// §4.2.1 item 1: the handshake is a GET.
    async fn rfc6455_4_2_1_post_upgrade_is_refused(target) {
        let request = upgrade_request(&target.addr.to_string()).replacen("GET", "POST", 1) + "\r\n";
        let (response, _stream, _) = target.exchange(request.as_bytes()).await;
        assert_eq!(response.status, 400, "{}", response.head);
    }
}

// ---------------------------------------------------------------------------
// §5.1, §5.3 Masking
// ---------------------------------------------------------------------------

conformance! {
    /// §5.1: "a server MUST close the connection upon receiving a frame that
    /// is not masked" (1002), for data and control frames alike.
    async fn rfc6455_5_1_unmasked_frame_is_closed_with_1002(target) {
        for first in [FIN | OP_TEXT, FIN | OP_BINARY, FIN | OP_PING, FIN | OP_PONG, OP_TEXT] {
            let mut client = target.connect().await;
            client.send(unmasked_frame(first, b"Hello")).await;
            client.expect_failure(1002).await;
        }
        // Also after a valid message, and an unmasked close is no close.
        let mut client = target.connect().await;
        client
            .send(cat(&[text("ok"), unmasked_frame(FIN | OP_CLOSE, &1000u16.to_be_bytes())]))
            .await;
        client.expect_text("ok").await;
        client.expect_failure(1002).await;
    }

    /// §5.3: the payload is unmasked with octet i XOR key[i mod 4], for any
    /// key, the all-zero key included, and at every offset modulo 4.
    async fn rfc6455_5_3_every_masking_key_unmasks_the_payload(target) {
        let mut client = target.connect().await;
        for key in KEYS {
            for len in [1, 2, 3, 4, 5, 7, 8, 9, 125, 126, 1000] {
                let payload = bytes_of(len, len as u64 + 7);
                client.send(frame_with_key(FIN | OP_BINARY, &payload, key)).await;
                client.expect_binary(payload).await;
                let text = text_of(len);
                client.send(frame_with_key(FIN | OP_TEXT, text.as_bytes(), key)).await;
                client.expect_text(text).await;
            }
        }
        client.close_handshake(1000, "").await;
    }

    /// §5.3: each frame has its own key; the fragments of one message and a
    /// ping between them are unmasked each with theirs.
    async fn rfc6455_5_3_every_frame_has_its_own_key(target) {
        let mut client = target.connect().await;
        let message = text_of(300);
        let parts = [&message.as_bytes()[..97], &message.as_bytes()[97..201], &message.as_bytes()[201..]];
        client
            .send(cat(&[
                frame_with_key(OP_TEXT, parts[0], KEYS[0]),
                frame_with_key(FIN | OP_PING, b"between", KEYS[1]),
                frame_with_key(OP_CONT, parts[1], KEYS[2]),
                frame_with_key(FIN | OP_CONT, parts[2], KEYS[3]),
            ]))
            .await;
        client.expect_pong(b"between".to_vec()).await;
        client.expect_text(message).await;
        client.close_handshake(1000, "").await;
    }
}

// ---------------------------------------------------------------------------
// §5.2 Framing and payload lengths
// ---------------------------------------------------------------------------

conformance! {
    /// §5.2 (Autobahn 1.1.1-1.1.7): text of every length boundary, 7-, 16-
    /// and 64-bit forms, is echoed unchanged, with the minimal length form.
    async fn rfc6455_5_2_text_of_every_length_boundary_is_echoed(target) {
        let mut client = target.connect().await;
        for len in BOUNDARIES {
            let message = text_of(len);
            client.send(text(&message)).await;
            let echo = client.next_frame().await.expect("an echo");
            assert_eq!(echo.opcode, OP_TEXT, "{len}");
            assert!(echo.fin && !echo.rsv1, "{len}: {echo:?}");
            assert_eq!(echo.form, LenForm::minimal(len as u64), "{len}");
            assert!(echo.payload == message.as_bytes(), "text of {len} bytes changed");
        }
        client.close_handshake(1000, "").await;
    }

    /// §5.2 (Autobahn 1.2.1-1.2.7): the same for binary.
    async fn rfc6455_5_2_binary_of_every_length_boundary_is_echoed(target) {
        let mut client = target.connect().await;
        for len in BOUNDARIES {
            let message = bytes_of(len, 1);
            client.send(binary(&message)).await;
            let echo = client.next_frame().await.expect("an echo");
            assert_eq!(echo.opcode, OP_BINARY, "{len}");
            assert!(echo.fin && !echo.rsv1, "{len}: {echo:?}");
            assert_eq!(echo.form, LenForm::minimal(len as u64), "{len}");
            assert!(echo.payload == message, "binary of {len} bytes changed");
        }
        client.close_handshake(1000, "").await;
    }

    /// §5.2: any length form may carry any length on the way in; a 64-bit
    /// form for a small length is read by its value (lariat accepts
    /// non-minimal forms, which only senders are bound to avoid).
    async fn rfc6455_5_2_length_is_read_in_each_of_its_three_forms(target) {
        let mut client = target.connect().await;
        for (len, form) in [
            (0, LenForm::Short),
            (125, LenForm::Short),
            (126, LenForm::Medium),
            (65535, LenForm::Medium),
            (65536, LenForm::Long),
        ] {
            let payload = bytes_of(len, 9);
            let key = next_key();
            let mut bytes = header_in(FIN | OP_BINARY, len as u64, form, Some(key));
            bytes.extend_from_slice(&mask(&payload, key, 0));
            client.send(bytes).await;
            client.expect_binary(payload).await;
        }
        client.close_handshake(1000, "").await;
    }

    /// §5.2: "the most significant bit MUST be 0" in a 64-bit length.
    async fn rfc6455_5_2_64_bit_length_with_the_top_bit_set_is_closed_with_1002(target) {
        let mut client = target.connect().await;
        let mut bytes = vec![FIN | OP_BINARY, 0x80 | 127];
        bytes.extend_from_slice(&(0x8000_0000_0000_0005u64).to_be_bytes());
        bytes.extend_from_slice(&KEYS[0]);
        client.send(bytes).await;
        client.expect_failure(1002).await;
    }

    /// §5.2 (Autobahn 1.1.8, 1.2.8, 2.6): frames arrive in any pieces; one
    /// byte at a time they are read as well.
    async fn rfc6455_5_2_frames_arriving_one_byte_at_a_time_are_read(target) {
        let mut client = target.connect().await;
        let message = text_of(300);
        client.send_bytewise(text(&message)).await;
        client.expect_text(message).await;
        client.send_bytewise(ping(vec![0x5a; 125])).await;
        client.expect_pong(vec![0x5a; 125]).await;
        let data = bytes_of(70_000, 3);
        client.send_chunked(binary(&data), 997).await;
        client.expect_binary(data).await;
        client.send_bytewise(close(1000, "bye")).await;
        client.expect_close_echo(1000, "bye").await;
    }

    /// §5.2: many frames in one write (pipelined) are each answered, in
    /// order, pongs included.
    async fn rfc6455_5_2_many_frames_in_one_write_are_answered_in_order(target) {
        let mut client = target.connect().await;
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for i in 0..200usize {
            match i % 4 {
                0 => {
                    bytes.extend(text(format!("message {i}")));
                    expected.push(Event::text(format!("message {i}")));
                }
                1 => {
                    let data = bytes_of(i * 13, i as u64);
                    bytes.extend(binary(&data));
                    expected.push(Event::binary(data));
                }
                2 => {
                    bytes.extend(ping(format!("ping {i}")));
                    expected.push(Event::pong(format!("ping {i}").into_bytes()));
                }
                _ => {
                    let message = text_of(i * 7);
                    bytes.extend(fragments(OP_TEXT, message.as_bytes(), 50));
                    expected.push(Event::text(message));
                }
            }
        }
        client.pipeline(bytes, &expected).await;
        client.close_handshake(1000, "done").await;
    }

    /// §5.2: pipelined messages larger than the socket buffers: the server
    /// keeps reading while it writes the echoes.
    async fn rfc6455_5_2_pipelined_large_messages_are_all_echoed(target) {
        let mut client = target.connect().await;
        let mut bytes = Vec::new();
        let mut expected = Vec::new();
        for i in 0..48u64 {
            let data = bytes_of(64 * 1024 + i as usize, i);
            bytes.extend(binary(&data));
            expected.push(Event::Binary(data));
        }
        client.pipeline(bytes, &expected).await;
        client.close_handshake(1000, "").await;
    }

    /// §5.4 (Autobahn 9.3.1, 9.4.1, 9.5.1): a 4 MiB text message in
    /// 65 536 fragments of 64 bytes, a 4 MiB binary one in 256-byte
    /// fragments, and 1 MiB written in 64-byte chops are echoed.
    async fn rfc6455_5_4_4_mib_in_64_byte_fragments_is_echoed(target) {
        let mut client = target.connect().await;
        let message = text_of(4 << 20);
        client.send(fragments(OP_TEXT, message.as_bytes(), 64)).await;
        client.expect_text(message).await;
        let data = bytes_of(4 << 20, 94);
        client.send(fragments(OP_BINARY, &data, 256)).await;
        client.expect_binary(data).await;
        let message = text_of(1 << 20);
        client.send_chunked(text(&message), 64).await;
        client.expect_text(message).await;
        client.close_handshake(1000, "").await;
    }

    /// §5.2 (Autobahn 9.7, 9.8): 1000 small messages, each sent after the
    /// echo of the previous one.
    async fn rfc6455_5_2_a_thousand_round_trips_in_a_row(target) {
        let mut client = target.connect().await;
        for i in 0..1000usize {
            let message = text_of(i % 200);
            client.send(text(&message)).await;
            client.expect_text(message).await;
        }
        client.close_handshake(1000, "").await;
    }

    /// §5.2 (Autobahn 9.1.6, 9.2.6): a 16 MiB text frame, the echo's limit,
    /// is echoed.
    async fn rfc6455_5_2_text_frame_of_16_mib_is_echoed(target) {
        let mut client = target.connect().await;
        let message = text_of(MAX_MESSAGE);
        client.send(text(&message)).await;
        let echo = client.next_frame().await.expect("the echo");
        assert_eq!((echo.opcode, echo.fin, echo.form), (OP_TEXT, true, LenForm::Long));
        assert!(echo.payload == message.as_bytes(), "16 MiB text changed");
        client.close_handshake(1000, "").await;
    }

    /// §5.2: a 16 MiB binary frame is echoed.
    async fn rfc6455_5_2_binary_frame_of_16_mib_is_echoed(target) {
        let mut client = target.connect().await;
        let data = bytes_of(MAX_MESSAGE, 16);
        client.send(binary(&data)).await;
        client.expect_binary(data).await;
        client.close_handshake(1000, "").await;
    }
}

// ---------------------------------------------------------------------------
// §5.2 Reserved bits and opcodes
// ---------------------------------------------------------------------------

/// Sends `bad` between a valid message and a ping, in one write or in three,
/// and expects the echo, then close 1002 and nothing more (no pong).
async fn assert_fails_between_valid_frames(target: &Target, bad: &[u8], what: &str) {
    for one_write in [true, false] {
        let mut client = target.connect().await;
        let parts = [text(b"before"), bad.to_vec(), ping(b"after")];
        if one_write {
            client.send(cat(&parts)).await;
        } else {
            client.send(&parts[0]).await;
            client.expect_text("before").await;
            client.send(&parts[1]).await;
            client.send_lenient(&parts[2]).await;
        }
        if one_write {
            let got = client.next_event().await;
            assert_eq!(got, Event::text("before"), "{what}");
        }
        match client.next_event().await {
            Event::Close(Some(1002), _) => {}
            other => panic!("{what}: expected close 1002, got {other:?}"),
        }
        client.send_lenient(close(1002, b"")).await;
        client.expect_eof().await;
    }
}

conformance! {
    /// §5.2: "MUST be 0 unless an extension is negotiated that defines
    /// meanings for non-zero values. If a nonzero value is received and none
    /// of the negotiated extensions defines the meaning of such a nonzero
    /// value, the receiving endpoint MUST _Fail the WebSocket Connection_"
    /// (Autobahn 3.1-3.7): every combination of RSV1-3, on text, binary,
    /// continuation, ping, pong and close frames, alone and between valid
    /// frames, without extensions.
    async fn rfc6455_5_2_reserved_bits_without_extension_are_closed_with_1002(target) {
        for rsv in RESERVED_BITS {
            for (name, bad) in [
                ("text", frame(FIN | rsv | OP_TEXT, b"Hello")),
                ("binary", frame(FIN | rsv | OP_BINARY, &[0, 1, 2])),
                ("ping", frame(FIN | rsv | OP_PING, b"ping")),
                ("pong", frame(FIN | rsv | OP_PONG, b"pong")),
                ("close", frame(FIN | rsv | OP_CLOSE, &1000u16.to_be_bytes())),
                ("empty text", frame(FIN | rsv | OP_TEXT, b"")),
            ] {
                let what = format!("RSV {rsv:#04x} on {name}");
                let mut client = target.connect().await;
                client.send(&bad).await;
                client.expect_failure(1002).await;
                assert_fails_between_valid_frames(&target, &bad, &what).await;
            }
            // On a continuation frame.
            let mut client = target.connect().await;
            client
                .send(cat(&[text_start(b"Hel"), frame(FIN | rsv | OP_CONT, b"lo")]))
                .await;
            client.expect_failure(1002).await;
        }
    }

    /// §5.2: "If an unknown opcode is received, the receiving endpoint MUST
    /// _Fail the WebSocket Connection_" (Autobahn 4.1.1-4.2.5): opcodes 3-7
    /// and 11-15, empty or not, FIN or not, alone and between valid frames.
    async fn rfc6455_5_2_reserved_opcodes_are_closed_with_1002(target) {
        for opcode in RESERVED_OPCODES {
            for (fin, payload) in [(FIN, &b""[..]), (FIN, b"reserved"), (0, b"reserved")] {
                let what = format!("opcode {opcode:#x}, fin {fin:#x}, {} bytes", payload.len());
                let bad = frame(fin | opcode, payload);
                let mut client = target.connect().await;
                client.send(&bad).await;
                client.expect_failure(1002).await;
                assert_fails_between_valid_frames(&target, &bad, &what).await;
            }
            // Inside a fragmented message.
            let mut client = target.connect().await;
            client
                .send(cat(&[text_start(b"Hel"), frame(FIN | opcode, b""), cont_fin(b"lo")]))
                .await;
            client.expect_failure(1002).await;
        }
    }
}

// ---------------------------------------------------------------------------
// §5.4 Fragmentation
// ---------------------------------------------------------------------------

conformance! {
    /// §5.4 (Autobahn 5.3-5.5, 6.2): a message in 1..N fragments is
    /// delivered whole; text may be split inside a code point.
    async fn rfc6455_5_4_messages_in_1_to_n_fragments_are_echoed_whole(target) {
        let mut client = target.connect().await;
        let message = text_of(1000);
        let data = bytes_of(1000, 5);
        for size in [1000, 999, 500, 333, 100, 7, 1] {
            client.send(fragments(OP_TEXT, message.as_bytes(), size)).await;
            client.expect_text(message.clone()).await;
            client.send(fragments(OP_BINARY, &data, size)).await;
            client.expect_binary(data.clone()).await;
        }
        // The same fragments, each in its own write.
        for part in [text_start(&message.as_bytes()[..3]), cont(&message.as_bytes()[3..600])] {
            client.send(part).await;
        }
        client.send(cont_fin(&message.as_bytes()[600..])).await;
        client.expect_text(message).await;
        client.close_handshake(1000, "").await;
    }

    /// §5.4 (Autobahn 6.1.2, 6.1.3): empty fragments are fragments: all
    /// empty, empty first, empty in the middle, empty last.
    async fn rfc6455_5_4_empty_fragments_are_allowed(target) {
        let mut client = target.connect().await;
        client.send(cat(&[text_start(b""), cont(b""), cont_fin(b"")])).await;
        client.expect_text("").await;
        client.send(cat(&[binary_start(b""), cont_fin(b"")])).await;
        client.expect_binary(Vec::new()).await;
        client.send(cat(&[text_start(b""), cont(b"middle"), cont_fin(b"")])).await;
        client.expect_text("middle").await;
        client.send(cat(&[text_start(b"first"), cont(b""), cont(b""), cont_fin(b" last")])).await;
        client.expect_text("first last").await;
        client.send(text(b"")).await;
        client.expect_text("").await;
        client.send(binary(b"")).await;
        client.expect_binary(Vec::new()).await;
        client.close_handshake(1000, "").await;
    }

    /// §5.4: "Control frames MAY be injected in the middle of a fragmented
    /// message" and §5.5.2 "an endpoint MUST send a Pong frame in response"
    /// (Autobahn 5.6-5.8, 5.19, 5.20): a ping between fragments is answered
    /// at once, before the message is complete.
    async fn rfc6455_5_4_ping_between_fragments_is_answered_at_once(target) {
        let mut client = target.connect().await;
        client.send(text_start(b"fragment1 ")).await;
        client.send(ping(b"first ping")).await;
        client.expect_pong(b"first ping".to_vec()).await;
        client.send(cont(b"fragment2 ")).await;
        client.send(ping(b"second ping")).await;
        client.expect_pong(b"second ping".to_vec()).await;
        client.send(cont(b"fragment3 ")).await;
        client.send(cont_fin(b"fragment4")).await;
        client.expect_text("fragment1 fragment2 fragment3 fragment4").await;
        // Binary, in one write.
        client
            .send(cat(&[binary_start([1]), ping(b"a"), cont([2]), ping(b"b"), cont_fin([3])]))
            .await;
        client.expect_pong(b"a".to_vec()).await;
        client.expect_pong(b"b".to_vec()).await;
        client.expect_binary(vec![1, 2, 3]).await;
        client.close_handshake(1000, "").await;
    }

    /// §5.4, §5.5.3: a pong between fragments is accepted and not answered.
    async fn rfc6455_5_4_pong_between_fragments_is_accepted(target) {
        let mut client = target.connect().await;
        client
            .send(cat(&[text_start(b"frag"), pong(b"unsolicited"), cont_fin(b"mented")]))
            .await;
        client.expect_text("fragmented").await;
        client.close_handshake(1000, "").await;
    }

    /// §5.4, §5.5.3: unsolicited pongs between fragments, each in its own
    /// write. Their events write nothing, so the `hibernate` variant really
    /// releases its buffers while the message is incomplete: the fragments
    /// already read must survive.
    async fn rfc6455_5_4_pongs_between_fragments_in_separate_writes_keep_the_message(target) {
        let mut client = target.connect().await;
        let message = text_of(5000);
        let bytes = message.as_bytes();
        client
            .send_parts(&[
                text_start(&bytes[..1000]),
                pong(b"1"),
                cont(&bytes[1000..1001]),
                pong(b"2"),
                pong(b"3"),
                cont(&bytes[1001..4000]),
                pong(b"4"),
                cont_fin(&bytes[4000..]),
            ])
            .await;
        client.expect_text(message).await;
        let data = bytes_of(300_000, 8);
        client
            .send_parts(&[binary_start(&data[..100_000]), pong(b""), cont_fin(&data[100_000..])])
            .await;
        client.expect_binary(data).await;
        client.close_handshake(1000, "").await;
    }

    /// §5.4: a continuation frame with no message to continue fails the
    /// connection (Autobahn 5.9-5.14): FIN or not, empty or not, first or
    /// after a complete message.
    async fn rfc6455_5_4_continuation_without_start_is_closed_with_1002(target) {
        for bad in [cont_fin(b"fragment"), cont(b"fragment"), cont_fin(b""), cont(b"")] {
            let mut client = target.connect().await;
            client.send(&bad).await;
            client.expect_failure(1002).await;
            assert_fails_between_valid_frames(&target, &bad, "continuation").await;
        }
        // Autobahn 5.15: one message, then a continuation of nothing.
        let mut client = target.connect().await;
        client
            .send(cat(&[
                text_start(b"fragment1"),
                cont_fin(b"fragment2"),
                cont(b"fragment3"),
                text(b"fragment4"),
            ]))
            .await;
        client.expect_text("fragment1fragment2").await;
        client.expect_failure(1002).await;
        // Autobahn 5.16/5.17: a message started with a continuation, twice.
        let mut client = target.connect().await;
        client
            .send(cat(&[cont(b"fragment1"), text(b"fragment2"), cont_fin(b"fragment3")]))
            .await;
        client.expect_failure(1002).await;
    }

    /// §5.4: "the fragments of one message MUST NOT be interleaved between
    /// the fragments of another message" (Autobahn 5.18): a text or binary
    /// frame inside a fragmented message fails the connection.
    async fn rfc6455_5_4_data_frame_inside_a_fragmented_message_is_closed_with_1002(target) {
        for (start, intruder) in [
            (text_start(b"fragment1"), text(b"fragment2")),
            (text_start(b"fragment1"), text_start(b"fragment2")),
            (text_start(b"fragment1"), binary(b"fragment2")),
            (binary_start(b"fragment1"), binary(b"fragment2")),
            (binary_start(b"fragment1"), text(b"")),
        ] {
            let mut client = target.connect().await;
            client.send(cat(&[start.clone(), intruder.clone()])).await;
            client.expect_failure(1002).await;
            // In two writes, after a ping proves the first was taken.
            let mut client = target.connect().await;
            client.send(cat(&[start, ping(b"x")])).await;
            client.expect_pong(b"x".to_vec()).await;
            client.send(intruder).await;
            client.expect_failure(1002).await;
        }
    }

    /// §5.5: "Control frames themselves MUST NOT be fragmented" (Autobahn
    /// 5.1, 5.2): ping, pong and close without FIN fail the connection.
    async fn rfc6455_5_5_fragmented_control_frame_is_closed_with_1002(target) {
        for opcode in [OP_PING, OP_PONG, OP_CLOSE] {
            let bad = cat(&[frame(opcode, b"frag"), cont_fin(b"mented")]);
            let mut client = target.connect().await;
            client.send(&bad).await;
            client.expect_failure(1002).await;
            assert_fails_between_valid_frames(&target, &frame(opcode, b"frag"), "no FIN").await;
        }
    }
}

// ---------------------------------------------------------------------------
// §5.5 Control frames: ping and pong
// ---------------------------------------------------------------------------

conformance! {
    /// §5.5: "All control frames MUST have a payload length of 125 bytes or
    /// less" (Autobahn 2.5, 7.3.6): 126 bytes in a ping, pong or close fails
    /// the connection, without a pong.
    async fn rfc6455_5_5_control_frame_over_125_bytes_is_closed_with_1002(target) {
        for opcode in [OP_PING, OP_PONG, OP_CLOSE] {
            for len in [126, 127, 65535] {
                let mut payload = vec![b'x'; len];
                payload[..2].copy_from_slice(&1000u16.to_be_bytes());
                let bad = frame(FIN | opcode, &payload);
                let mut client = target.connect().await;
                client.send(&bad).await;
                client.expect_failure(1002).await;
            }
            let bad = frame(FIN | opcode, &[b'x'; 126]);
            assert_fails_between_valid_frames(&target, &bad, "126-byte control frame").await;
        }
    }

    /// §5.5.2: "the Pong frame sent in response to a Ping frame must have
    /// identical Application data" (Autobahn 2.1-2.4): 0, 1 and 125 bytes,
    /// text and binary.
    async fn rfc6455_5_5_2_ping_is_answered_with_a_pong_of_the_same_payload(target) {
        let mut client = target.connect().await;
        for payload in [
            Vec::new(),
            b"!".to_vec(),
            b"Hello, world!".to_vec(),
            vec![0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff],
            bytes_of(125, 125),
            vec![0xfe; 125],
        ] {
            client.send(ping(&payload)).await;
            let pong = client.next_frame().await.expect("a pong");
            assert_eq!((pong.opcode, pong.fin), (OP_PONG, true));
            assert_eq!(pong.payload, payload);
        }
        client.close_handshake(1000, "").await;
    }

    /// §5.5.3: "A Pong frame MAY be sent unsolicited ... A response to an
    /// unsolicited Pong frame is not expected" (Autobahn 2.7-2.9).
    async fn rfc6455_5_5_3_unsolicited_pong_is_ignored(target) {
        let mut client = target.connect().await;
        client.send(cat(&[pong(b""), pong(b"unsolicited pong payload"), pong([0xff; 125])])).await;
        client.send(ping(b"ping payload")).await;
        client.expect_pong(b"ping payload".to_vec()).await;
        client.close_handshake(1000, "").await;
    }

    /// §5.5.2 (Autobahn 2.10, 2.11): 10 pings in a row get 10 pongs, in
    /// order; in one write, and one byte at a time.
    async fn rfc6455_5_5_2_ten_pings_get_ten_pongs_in_order(target) {
        let mut client = target.connect().await;
        let pings: Vec<Vec<u8>> = (0..10).map(|i| ping(format!("payload-{i}"))).collect();
        client.send(cat(&pings)).await;
        for i in 0..10 {
            client.expect_pong(format!("payload-{i}").into_bytes()).await;
        }
        for i in 0..10 {
            client.send_bytewise(ping(format!("chopped-{i}"))).await;
        }
        for i in 0..10 {
            client.expect_pong(format!("chopped-{i}").into_bytes()).await;
        }
        client.close_handshake(1000, "").await;
    }

    /// §5.5.2, §5.2: pings among messages are answered in order with them.
    async fn rfc6455_5_5_2_pings_among_messages_are_answered_in_order(target) {
        let mut client = target.connect().await;
        client
            .send(cat(&[text(b"one"), ping(b"1"), binary([2]), ping(b"2"), ping(b"3"), text(b"four")]))
            .await;
        for want in [
            Event::text("one"),
            Event::pong(b"1".to_vec()),
            Event::binary(vec![2]),
            Event::pong(b"2".to_vec()),
            Event::pong(b"3".to_vec()),
            Event::text("four"),
        ] {
            client.expect(want).await;
        }
        client.close_handshake(1000, "").await;
    }
}

// ---------------------------------------------------------------------------
// §5.6 Data frames
// ---------------------------------------------------------------------------

conformance! {
    /// §5.6: the opcode says how to read the data: binary is any bytes,
    /// invalid UTF-8 included, and comes back binary; text comes back text.
    async fn rfc6455_5_6_binary_is_any_bytes_and_stays_binary(target) {
        let mut client = target.connect().await;
        let all: Vec<u8> = (0..=255).collect();
        client.send(binary(&all)).await;
        client.expect_binary(all).await;
        client.send(binary(b"\xed\xa0\x80\xff")).await;
        client.expect_binary(b"\xed\xa0\x80\xff".to_vec()).await;
        client.send(text(b"text")).await;
        client.expect_text("text").await;
        client.close_handshake(1000, "").await;
    }
}

// ---------------------------------------------------------------------------
// §10.4 Limits
// ---------------------------------------------------------------------------

conformance! {
    /// §10.4, §7.4.1 (1009 "message too big"): a frame announcing more than
    /// the 16 MiB limit is refused from its header, before its payload.
    async fn rfc6455_10_4_frame_over_16_mib_is_closed_with_1009_from_its_header(target) {
        for first in [FIN | OP_BINARY, FIN | OP_TEXT, OP_BINARY] {
            let mut client = target.connect().await;
            client.send(header(first, MAX_MESSAGE as u64 + 1, Some(next_key()))).await;
            // The close arrives although not one payload byte was sent.
            client.expect_failure(1009).await;
        }
        let mut client = target.connect().await;
        client.send(header(FIN | OP_BINARY, u64::MAX >> 1, Some(next_key()))).await;
        client.expect_failure(1009).await;
    }

    /// §10.4, §7.1.1: a client still sending the payload of the message the
    /// server refused (32 MiB against the 16 MiB limit; more than the
    /// sockets' buffers hold) gets
    /// the 1009 close, then a FIN: the server reads and discards the rest
    /// until the close timeout, never dropping the socket with bytes unread
    /// (a reset, which would destroy the close frame before it is read).
    async fn rfc6455_10_4_refused_message_sent_in_full_still_gets_its_1009(target) {
        let mut client = target.connect().await;
        let len = 2 * MAX_MESSAGE;
        let key = next_key();
        let mut frame = header(FIN | OP_BINARY, len as u64, Some(key));
        frame.extend_from_slice(&mask(&vec![0x55u8; len], key, 0));
        // The whole write succeeds: the server keeps reading (and
        // discarding) after its close, so the client meets no reset.
        client.send(frame).await;
        client.expect_failure(1009).await;
    }

    /// §10.4: a fragmented message whose fragments add up to more than
    /// 16 MiB is refused when the fragment that crosses the limit announces
    /// itself, before its payload.
    async fn rfc6455_10_4_fragmented_message_over_16_mib_is_closed_with_1009(target) {
        let mut client = target.connect().await;
        let first = bytes_of(MAX_MESSAGE - 10, 4);
        client.send(binary_start(&first)).await;
        client.send(ping(b"still open")).await;
        client.expect_pong(b"still open".to_vec()).await;
        client.send(header(FIN | OP_CONT, 11, Some(next_key()))).await;
        client.expect_failure(1009).await;
    }

    /// §10.4: a message of exactly 16 MiB in fragments is within the limit.
    async fn rfc6455_10_4_fragmented_message_of_exactly_16_mib_is_echoed(target) {
        let mut client = target.connect().await;
        let message = text_of(MAX_MESSAGE);
        client.send(fragments(OP_TEXT, message.as_bytes(), 5 << 20)).await;
        client.expect_text(message).await;
        client.close_handshake(1000, "").await;
    }
}
