//! RFC 7692 conformance of the echo server: permessage-deflate negotiation
//! (§5, §7.1), compressed messages (§6, §7.2) and their misuse — Autobahn's
//! sections 12 and 13, and more.
//!
//! The client compresses with the suite's own DEFLATE encoder and decodes
//! the server's replies with the suite's own decoder
//! (`tests/conformance_support/deflate.rs`), which fails on anything the
//! server agreed not to do: a back-reference beyond its window
//! (`server_max_window_bits`), into an earlier message
//! (`server_no_context_takeover`), RSV1 on a continuation or control frame.
//! Every handshake answer is checked the way a strict client must (§7.1)
//! and compared with the exact expected header.
//!
//! Every case runs against the echo (`CASE::echo`) and the echo that
//! hibernates after every event (`CASE::hibernate`): hibernation releases
//! the decompressor only when the client takes over no context.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

#[macro_use]
mod conformance_support;

use conformance_support::deflate::{self, Deflater, Inflater};
use conformance_support::*;

const PMD: &str = "permessage-deflate";
const SNCT: &str = "permessage-deflate; server_no_context_takeover";

/// Offers and the exact answers the echo gives them. lariat compresses each
/// message on its own, so it adds `server_no_context_takeover` (§7.1.1.1
/// lets a server do so unasked), answers `server_max_window_bits` with the
/// offered value (§7.1.2.1) and a valueless `client_max_window_bits` with
/// 15 (§7.1.2.2).
fn negotiation_table() -> Vec<(String, String)> {
    let mut table: Vec<(String, String)> = vec![
        (PMD.into(), SNCT.into()),
        (format!("{PMD}; server_no_context_takeover"), SNCT.into()),
        (
            format!("{PMD}; client_no_context_takeover"),
            format!("{SNCT}; client_no_context_takeover"),
        ),
        (
            format!("{PMD}; server_no_context_takeover; client_no_context_takeover"),
            format!("{SNCT}; client_no_context_takeover"),
        ),
        (
            format!("{PMD}; client_max_window_bits"),
            format!("{SNCT}; client_max_window_bits=15"),
        ),
        (
            format!(
                "{PMD}; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=12"
            ),
            format!(
                "{SNCT}; client_no_context_takeover; server_max_window_bits=10; \
                 client_max_window_bits=12"
            ),
        ),
        // Parameters in another order, no spaces, a quoted value (§7.1:
        // the value after unquoting is what counts).
        (
            format!("{PMD};client_max_window_bits;server_max_window_bits=9"),
            format!("{SNCT}; server_max_window_bits=9; client_max_window_bits=15"),
        ),
        (
            format!("{PMD}; server_max_window_bits=\"11\""),
            format!("{SNCT}; server_max_window_bits=11"),
        ),
        (
            format!("{PMD}; client_max_window_bits=\"9\""),
            format!("{SNCT}; client_max_window_bits=9"),
        ),
        // Autobahn 13.x's client offers.
        (
            format!("{PMD}; client_no_context_takeover; client_max_window_bits"),
            format!("{SNCT}; client_no_context_takeover; client_max_window_bits=15"),
        ),
        (
            format!(
                "{PMD}; client_no_context_takeover; client_max_window_bits; \
                 server_max_window_bits=8"
            ),
            format!(
                "{SNCT}; client_no_context_takeover; server_max_window_bits=8; \
                 client_max_window_bits=15"
            ),
        ),
        (
            format!(
                "{PMD}; client_no_context_takeover; client_max_window_bits; \
                 server_no_context_takeover; server_max_window_bits=15"
            ),
            format!(
                "{SNCT}; client_no_context_takeover; server_max_window_bits=15; \
                 client_max_window_bits=15"
            ),
        ),
    ];
    for bits in 8..=15 {
        table.push((
            format!("{PMD}; server_max_window_bits={bits}"),
            format!("{SNCT}; server_max_window_bits={bits}"),
        ));
        table.push((
            format!("{PMD}; client_max_window_bits={bits}"),
            format!("{SNCT}; client_max_window_bits={bits}"),
        ));
        table.push((
            format!("{PMD}; server_max_window_bits={bits}; client_max_window_bits={bits}"),
            format!("{SNCT}; server_max_window_bits={bits}; client_max_window_bits={bits}"),
        ));
    }
    table
}

/// Offers a server must decline (§7.1: "MUST decline an extension
/// negotiation offer" with an unknown or repeated parameter, a missing,
/// extra or invalid value), and headers that offer nothing usable.
const DECLINED: [&str; 22] = [
    "permessage-deflate; unknown_parameter",
    "permessage-deflate; unknown_parameter=1",
    "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
    "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
    "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
    "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
    "permessage-deflate; server_max_window_bits",
    "permessage-deflate; server_max_window_bits=7",
    "permessage-deflate; server_max_window_bits=16",
    "permessage-deflate; server_max_window_bits=0",
    "permessage-deflate; server_max_window_bits=08",
    "permessage-deflate; server_max_window_bits=1a",
    "permessage-deflate; server_max_window_bits=-9",
    "permessage-deflate; client_max_window_bits=7",
    "permessage-deflate; client_max_window_bits=16",
    "permessage-deflate; client_max_window_bits=015",
    "permessage-deflate; server_no_context_takeover=1",
    "permessage-deflate; client_no_context_takeover=true",
    "permessage-deflate; server_max_window_bits=\"1 0\"",
    "permessage-deflate; x=\"unterminated",
    "x-webkit-deflate-frame",
    "deflate-frame; no_context_takeover",
];

/// Message sizes for compressed round trips: empty, below and above the
/// server's 64-byte compression threshold, the §5.2 length boundaries.
const SIZES: [usize; 10] = [0, 1, 63, 64, 125, 126, 1000, 65535, 65536, 200_000];

/// A client offering `offer` that exchanges compressed messages of every
/// size, text and binary, in `fragment`-byte frames, and checks each echo.
async fn round_trips(target: &Target, offer: &str, fragment: usize) -> Client {
    let mut client = target.connect_deflate(offer).await;
    for size in SIZES {
        let message = text_of(size);
        client
            .send_compressed(OP_TEXT, message.as_bytes(), fragment)
            .await;
        client.expect_text(message).await;
        let data = cat(&[
            text_of(size / 2).as_bytes(),
            &bytes_of(size - size / 2, size as u64),
        ]);
        client.send_compressed(OP_BINARY, &data, fragment).await;
        client.expect_binary(data).await;
    }
    client
}

// ---------------------------------------------------------------------------
// The suite's own codec
// ---------------------------------------------------------------------------

/// The decoder reads RFC 7692 §7.2.3's examples, and refuses the shared-
/// window one without context takeover.
#[test]
fn codec_decodes_the_rfc7692_examples() {
    let mut inflater = Inflater::new(15, true);
    let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
    assert_eq!(inflater.message(&hello).unwrap(), b"Hello");
    assert_eq!(
        inflater.message(&[0xf2, 0x00, 0x11, 0x00, 0x00]).unwrap(),
        b"Hello"
    );
    let mut fresh = Inflater::new(15, false);
    for wire in [
        &[
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ][..],
        &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
        &[
            0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00,
        ],
    ] {
        assert_eq!(fresh.message(wire).unwrap(), b"Hello", "{wire:02x?}");
    }
    assert!(fresh.message(&[0xf2, 0x00, 0x11, 0x00, 0x00]).is_err());
}

/// The encoder round-trips through the decoder at every window, with and
/// without context takeover, and never reaches beyond its window.
#[test]
fn codec_round_trips_at_every_window() {
    let text = text_of(60_000);
    for bits in 8..=15 {
        for takeover in [false, true] {
            let mut deflater = Deflater::new(bits, takeover);
            let mut inflater = Inflater::new(bits, takeover);
            for message in [
                text.as_bytes(),
                b"",
                &text.as_bytes()[..100],
                text.as_bytes(),
            ] {
                let wire = deflater.message(message);
                assert_eq!(inflater.message(&wire).unwrap(), message);
            }
            assert!(inflater.max_distance <= 1 << bits);
        }
    }
    let data = bytes_of(70_000, 1);
    assert_eq!(
        Inflater::new(15, false)
            .message(&deflate::stored(&data))
            .unwrap(),
        data
    );
}

// ---------------------------------------------------------------------------
// §5, §7.1 Negotiation
// ---------------------------------------------------------------------------

conformance! {
    /// §7.1 (Autobahn 13.1-13.6): every parameter, window bits 8-15 for
    /// both directions, with and without values, is accepted; the answer
    /// is exactly the expected one, passes a strict client's checks, and
    /// the parameters then work for a compressed round trip.
    async fn rfc7692_7_1_every_parameter_is_accepted_with_the_exact_answer(target) {
        for (offer, answer) in negotiation_table() {
            let mut client = target.connect_deflate(&offer).await;
            assert_eq!(
                client.response.header("sec-websocket-extensions"),
                Some(answer.as_str()),
                "offer {offer:?}"
            );
            let message = text_of(3000);
            client.send_compressed(OP_TEXT, message.as_bytes(), usize::MAX).await;
            client.expect_text(message.clone()).await;
            client.send_compressed(OP_TEXT, message.as_bytes(), 100).await;
            client.expect_text(message).await;
            client.close_handshake(1000, "").await;
        }
    }

    /// §5.1, §7.1 (Autobahn 13.7): of several offers the server accepts
    /// the first it can, whether in one header line or several, after other
    /// extensions or declined offers.
    async fn rfc7692_5_1_the_first_acceptable_offer_is_accepted(target) {
        let cases: [(&[&str], &str); 5] = [
            (
                &["permessage-deflate; client_no_context_takeover; server_max_window_bits=8, \
                   permessage-deflate; client_no_context_takeover, permessage-deflate"],
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=8",
            ),
            (
                &["permessage-deflate; server_max_window_bits=7, \
                   permessage-deflate; client_max_window_bits=10, permessage-deflate"],
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=10",
            ),
            (
                &["x-webkit-deflate-frame, permessage-deflate; client_max_window_bits"],
                "permessage-deflate; server_no_context_takeover; client_max_window_bits=15",
            ),
            (
                &["foo; bar=1", "permessage-deflate; server_max_window_bits=12"],
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=12",
            ),
            (
                &["permessage-deflate; bogus", "permessage-deflate"],
                "permessage-deflate; server_no_context_takeover",
            ),
        ];
        for (lines, answer) in cases {
            let headers: Vec<(&str, &str)> =
                lines.iter().map(|l| ("Sec-WebSocket-Extensions", *l)).collect();
            let mut client = target.connect_with(&headers).await;
            assert_eq!(
                client.response.header("sec-websocket-extensions"),
                Some(answer),
                "offers {lines:?}"
            );
            client.send_compressed(OP_TEXT, b"Hello, Hello, Hello, Hello", 5).await;
            client.expect_text("Hello, Hello, Hello, Hello").await;
            client.close_handshake(1000, "").await;
        }
    }

    /// §7.1: malformed offers are declined, and the handshake still
    /// succeeds, without the extension: no Sec-WebSocket-Extensions in the
    /// answer, RSV1 then fails the connection (§5.2), plain messages work.
    async fn rfc7692_7_1_malformed_offers_are_declined_and_the_handshake_succeeds(target) {
        for offer in DECLINED {
            let mut client = target.connect_with(&[("Sec-WebSocket-Extensions", offer)]).await;
            assert_eq!(
                client.response.header("sec-websocket-extensions"),
                None,
                "offer {offer:?} was accepted"
            );
            client.send(text("plain")).await;
            client.expect_text("plain").await;
            client
                .send(frame(FIN | RSV1 | OP_TEXT, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))
                .await;
            client.expect_failure(1002).await;
        }
    }

    /// §5.1: without an offer, no extension: the answer has no
    /// Sec-WebSocket-Extensions and RSV1 fails the connection.
    async fn rfc7692_5_1_no_offer_no_extension(target) {
        let mut client = target.connect().await;
        assert_eq!(client.response.header("sec-websocket-extensions"), None);
        client
            .send(frame(FIN | RSV1 | OP_TEXT, &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]))
            .await;
        client.expect_failure(1002).await;
    }
}

// ---------------------------------------------------------------------------
// §6, §7.2 Compressed messages
// ---------------------------------------------------------------------------

conformance! {
    /// §7.2.3.1-§7.2.3.5: the RFC's own examples, byte for byte (masked):
    /// "Hello" compressed, in two fragments, twice sharing the window,
    /// in a stored block, in a block with BFINAL set, in two blocks.
    async fn rfc7692_7_2_3_the_rfcs_examples_are_understood(target) {
        let mut client = target.connect_deflate(PMD).await;
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        client.send(frame(FIN | RSV1 | OP_TEXT, &hello)).await;
        client.expect_text("Hello").await;
        client
            .send(cat(&[frame(RSV1 | OP_TEXT, &hello[..3]), frame(FIN | OP_CONT, &hello[3..])]))
            .await;
        client.expect_text("Hello").await;
        // §7.2.3.2: the second message refers to the first; the client
        // takes over context (no client_no_context_takeover).
        let mut shared = target.connect_deflate(PMD).await;
        shared.send(frame(FIN | RSV1 | OP_TEXT, &hello)).await;
        shared.expect_text("Hello").await;
        shared.send(frame(FIN | RSV1 | OP_TEXT, &[0xf2, 0x00, 0x11, 0x00, 0x00])).await;
        shared.expect_text("Hello").await;
        shared.close_handshake(1000, "").await;
        for payload in [
            &[0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00][..],
            &[0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00],
            &[0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07, 0x00],
        ] {
            client.send(frame(FIN | RSV1 | OP_TEXT, payload)).await;
            client.expect_text("Hello").await;
        }
        client.close_handshake(1000, "").await;
    }

    /// §7.2.3.6, §5.4: empty compressed messages (an empty stored block, an
    /// empty fixed block) and empty fragments of compressed messages (an
    /// empty first frame carrying RSV1, an empty last continuation).
    async fn rfc7692_7_2_3_6_empty_compressed_messages_and_fragments(target) {
        let mut client = target.connect_deflate(PMD).await;
        client.send(frame(FIN | RSV1 | OP_TEXT, &[0x00])).await;
        client.expect_text("").await;
        client.send(frame(FIN | RSV1 | OP_BINARY, &[0x02, 0x00])).await;
        client.expect_binary(Vec::new()).await;
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        client
            .send(cat(&[frame(RSV1 | OP_TEXT, &[]), frame(FIN | OP_CONT, &hello)]))
            .await;
        client.expect_text("Hello").await;
        client
            .send(cat(&[frame(RSV1 | OP_TEXT, &hello), frame(OP_CONT, &[]), frame(FIN | OP_CONT, &[])]))
            .await;
        client.expect_text("Hello").await;
        client.send_compressed(OP_TEXT, b"", usize::MAX).await;
        client.expect_text("").await;
        client.close_handshake(1000, "").await;
    }

    /// §7.2 (Autobahn 12.x.1-12.x.10): compressed text and binary of every
    /// size round-trip, with the client taking over context and not.
    async fn rfc7692_7_2_compressed_messages_of_every_size_are_echoed(target) {
        for offer in [PMD, "permessage-deflate; client_no_context_takeover"] {
            let mut client = round_trips(&target, offer, usize::MAX).await;
            client.close_handshake(1000, "").await;
        }
    }

    /// §7.2.1, §5.4 (Autobahn 12.x.11-12.x.18, 13.x): compressed messages
    /// fragmented at 1, 7, 256, 1024, 4096 and 32768 bytes of compressed
    /// data round-trip, under every takeover mode.
    async fn rfc7692_7_2_fragmented_compressed_messages_are_echoed(target) {
        for (offer, fragment) in [
            (PMD, 1),
            (PMD, 256),
            ("permessage-deflate; client_no_context_takeover", 7),
            ("permessage-deflate; client_no_context_takeover", 1024),
            ("permessage-deflate; server_no_context_takeover; client_max_window_bits=9", 4096),
            ("permessage-deflate; client_max_window_bits", 32768),
        ] {
            let mut client = target.connect_deflate(offer).await;
            for i in 0..20usize {
                let message = text_of(1000 + i * 3000);
                client.send_compressed(OP_TEXT, message.as_bytes(), fragment).await;
                client.expect_text(message).await;
            }
            client.close_handshake(1000, "").await;
        }
    }

    /// §5.4, §5.5.2 with §6.1: a ping between the fragments of a compressed
    /// message is answered at once, and the message still inflates.
    async fn rfc7692_6_1_ping_between_compressed_fragments_is_answered_at_once(target) {
        for offer in [PMD, "permessage-deflate; client_no_context_takeover"] {
        let mut client = target.connect_deflate(offer).await;
        let message = text_of(50_000);
        let frames = client.compressed_list(OP_TEXT, message.as_bytes(), 100);
        assert!(frames.len() > 3);
        client.send(&frames[0]).await;
        client.send(ping(b"mid compressed")).await;
        client.expect_pong(b"mid compressed".to_vec()).await;
        client.send(cat(&frames[1..3])).await;
        client.send(ping(b"again")).await;
        client.expect_pong(b"again".to_vec()).await;
        client.send(cat(&frames[3..])).await;
        client.expect_text(message.clone()).await;
        // The next message, after the decompressor was (maybe) released.
        client.send_compressed(OP_TEXT, message.as_bytes(), 100).await;
        client.expect_text(message).await;
        client.close_handshake(1000, "").await;
        }
    }

    /// §6.1, §7.1.1.2: unsolicited pongs between compressed fragments,
    /// each in its own write: their events write nothing, so the
    /// `hibernate` variant releases buffers mid-message; the decompressor
    /// must survive (with and without client context takeover), and with
    /// takeover it must also survive between messages.
    async fn rfc7692_6_1_pongs_between_compressed_fragments_keep_the_decompressor(target) {
        for offer in [PMD, "permessage-deflate; client_no_context_takeover"] {
            let mut client = target.connect_deflate(offer).await;
            for round in 0..3 {
                let message = text_of(20_000 + round);
                let frames = client.compressed_list(OP_TEXT, message.as_bytes(), 64);
                assert!(frames.len() >= 3, "{} frames", frames.len());
                let mut parts = Vec::new();
                for (i, frame) in frames.into_iter().enumerate() {
                    parts.push(frame);
                    if i % 2 == 0 {
                        parts.push(pong(format!("pause {i}")));
                    }
                }
                client.send_parts(&parts).await;
                client.expect_text(message).await;
                client.send_parts(&[pong(b"between messages")]).await;
            }
            client.close_handshake(1000, "").await;
        }
    }

    /// §7.2.1: messages need not be compressed: an uncompressed message in
    /// a permessage-deflate session is echoed as well, between compressed
    /// ones.
    async fn rfc7692_7_2_1_uncompressed_messages_are_allowed_with_deflate(target) {
        let mut client = target.connect_deflate(PMD).await;
        for i in 0..6 {
            let message = text_of(500 + i);
            if i % 2 == 0 {
                client.send(text(&message)).await;
            } else {
                client.send_compressed(OP_TEXT, message.as_bytes(), usize::MAX).await;
            }
            client.expect_text(message).await;
        }
        client.send(fragments(OP_BINARY, &bytes_of(3000, 3), 700)).await;
        client.expect_binary(bytes_of(3000, 3)).await;
        client.close_handshake(1000, "").await;
    }

    /// §7.2.3.2, §7.1.2.2: with context takeover the client may refer back
    /// across messages up to its full window: for every window of 8-15
    /// bits, a message copying 258 bytes from exactly 2^bits bytes back,
    /// the first byte of the previous message, is inflated right.
    async fn rfc7692_7_1_2_2_back_reference_to_the_window_edge_across_messages(target) {
        for bits in 8..=15u8 {
            let offer = format!("permessage-deflate; client_max_window_bits={bits}");
            let mut client = target.connect_deflate(&offer).await;
            let window = 1usize << bits;
            let first = bytes_of(window, u64::from(bits));
            client.send(frame(FIN | RSV1 | OP_BINARY, &deflate::stored(&first))).await;
            client.expect_binary(first.clone()).await;
            let second = deflate::literals_then_reference(b"", 258, window);
            client.send(frame(FIN | RSV1 | OP_BINARY, &second)).await;
            // The copy overlaps itself once it passes the window (8 bits).
            let copied: Vec<u8> = (0..258).map(|k| first[k % window]).collect();
            client.expect_binary(copied.clone()).await;
            // And within one message, from exactly the window's edge.
            let mut third_expected = first.clone();
            third_expected.extend_from_slice(&copied);
            let mut w = deflate::BitWriter::default();
            w.block(false, 1);
            for &b in &first {
                w.literal(b);
            }
            w.back_reference(258, window);
            w.end_of_block();
            let third = w.sync_flush_without_trailer();
            client.send(frame(FIN | RSV1 | OP_BINARY, &third)).await;
            client.expect_binary(third_expected).await;
            client.close_handshake(1000, "").await;
        }
    }

    /// §7.1.1.1: the server answered server_no_context_takeover, so each of
    /// its compressed messages stands alone: the same message echoed again
    /// and again decodes with a fresh decoder each time (the client's
    /// decoder refuses references into earlier messages).
    async fn rfc7692_7_1_1_1_server_no_context_takeover_is_honoured(target) {
        let mut client = target.connect_deflate(PMD).await;
        assert!(!client.inflater.as_ref().unwrap().takeover);
        let message = text_of(4000);
        for _ in 0..10 {
            client.send_compressed(OP_TEXT, message.as_bytes(), usize::MAX).await;
            client.expect_text(message.clone()).await;
            assert!(client.last_compressed, "a 4000-byte JSON echo was not compressed");
        }
        client.close_handshake(1000, "").await;
    }

    /// §7.1.2.1: the server compresses within the window it answered: for
    /// server_max_window_bits of 8-15, a message that repeats itself
    /// 20 000 bytes later comes back compressed with no back-reference
    /// beyond 2^bits bytes.
    async fn rfc7692_7_1_2_1_server_max_window_bits_is_honoured(target) {
        let block: String = (0..1500u32)
            .map(|i| format!("{:05},", (i * 7919) % 99991))
            .collect::<String>()[..9000]
            .to_owned();
        let message = format!("{block}{}{block}", "-".repeat(11_000));
        for bits in 8..=15u8 {
            let offer = format!("permessage-deflate; server_max_window_bits={bits}");
            let mut client = target.connect_deflate(&offer).await;
            client.send_compressed(OP_TEXT, message.as_bytes(), usize::MAX).await;
            client.expect_text(message.clone()).await;
            assert!(client.last_compressed, "window {bits}: the echo was not compressed");
            let farthest = client.inflater.as_ref().unwrap().max_distance;
            assert!(farthest <= 1 << bits, "window {bits}: reference {farthest} back");
            client.close_handshake(1000, "").await;
        }
    }

    /// §7.2, §10.4 (Autobahn 9.x with compression): 16 MiB of compressed
    /// text and of compressed binary, the echo's limit, round-trip.
    async fn rfc7692_7_2_compressed_messages_of_16_mib_are_echoed(target) {
        let mut client = target.connect_deflate(PMD).await;
        let message = text_of(MAX_MESSAGE);
        client.send_compressed(OP_TEXT, message.as_bytes(), 1 << 20).await;
        client.expect_text(message).await;
        let data: Vec<u8> = (0..MAX_MESSAGE).map(|i| (i % 251) as u8).collect();
        client.send_compressed(OP_BINARY, &data, usize::MAX).await;
        client.expect_binary(data).await;
        client.close_handshake(1000, "").await;
    }
}

// ---------------------------------------------------------------------------
// §6 RSV1 misuse, corrupt data, limits
// ---------------------------------------------------------------------------

conformance! {
    /// §6.1: RSV1 marks the first frame of a compressed message only; on a
    /// continuation frame it fails the connection (1002), whether the
    /// message is compressed or not.
    async fn rfc7692_6_1_rsv1_on_a_continuation_frame_is_closed_with_1002(target) {
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        for bytes in [
            cat(&[frame(RSV1 | OP_TEXT, &hello[..3]), frame(FIN | RSV1 | OP_CONT, &hello[3..])]),
            cat(&[frame(OP_TEXT, b"Hel"), frame(FIN | RSV1 | OP_CONT, b"lo")]),
            cat(&[frame(RSV1 | OP_BINARY, &hello[..3]), frame(RSV1 | OP_CONT, &hello[3..])]),
        ] {
            let mut client = target.connect_deflate(PMD).await;
            client.send(bytes).await;
            client.expect_failure(1002).await;
        }
    }

    /// §6: "An endpoint MUST NOT set the RSV1 bit on control frames" —
    /// permessage-deflate gives RSV1 no meaning there: ping, pong and close
    /// with RSV1 fail the connection (1002), without a pong or an echo.
    async fn rfc7692_6_rsv1_on_a_control_frame_is_closed_with_1002(target) {
        for (first, payload) in [
            (FIN | RSV1 | OP_PING, &b"ping"[..]),
            (FIN | RSV1 | OP_PONG, b"pong"),
            (FIN | RSV1 | OP_CLOSE, &[0x03, 0xe8]),
        ] {
            let mut client = target.connect_deflate(PMD).await;
            client.send(cat(&[frame(first, payload), ping(b"after")])).await;
            client.expect_failure(1002).await;
        }
    }

    /// RFC 6455 §5.2 with RFC 7692: permessage-deflate defines RSV1 only;
    /// RSV2 and RSV3 still fail the connection (1002).
    async fn rfc7692_6_rsv2_and_rsv3_still_fail_with_deflate(target) {
        for rsv in [RSV2, RSV3, RSV1 | RSV2, RSV1 | RSV3] {
            let mut client = target.connect_deflate(PMD).await;
            client.send(frame(FIN | rsv | OP_TEXT, &[0x00])).await;
            client.expect_failure(1002).await;
        }
    }

    /// RFC 6455 §7.1.7 for RFC 7692 data: a compressed message that does
    /// not inflate fails the connection (lariat closes with 1007, invalid
    /// payload data): a reserved block type, a stored block whose LEN and
    /// NLEN disagree, a distance before the start of the data.
    async fn rfc7692_7_2_2_corrupt_compressed_data_is_closed_with_1007(target) {
        let too_far = deflate::literals_then_reference(b"ab", 10, 100);
        for payload in [
            vec![0xff, 0xff, 0xff],
            vec![0x00, 0x05, 0x00, 0x00, 0x00, b'H', b'e', b'l', b'l', b'o', 0x00],
            too_far,
        ] {
            let mut client = target.connect_deflate("permessage-deflate; client_no_context_takeover").await;
            client.send(frame(FIN | RSV1 | OP_BINARY, &payload)).await;
            client.expect_failure(1007).await;
        }
    }

    /// RFC 6455 §8.1 for compressed text: the inflated text is validated;
    /// invalid UTF-8 fails the connection with 1007.
    async fn rfc7692_compressed_text_with_invalid_utf8_is_closed_with_1007(target) {
        for bytes in [&b"hello \xed\xa0\x80 world"[..], b"\xff", b"truncated \xe2\x82"] {
            let mut client = target.connect_deflate(PMD).await;
            client.send_compressed(OP_TEXT, bytes, usize::MAX).await;
            client.expect_failure(1007).await;
            let mut client = target.connect_deflate(PMD).await;
            client.send_compressed(OP_TEXT, bytes, 2).await;
            client.expect_failure(1007).await;
        }
    }

    /// RFC 6455 §10.4 with RFC 7692: the limit is on the inflated message:
    /// 16 MiB + 1 byte that compresses to a few KiB is refused with 1009;
    /// so is a compressed message in fragments.
    async fn rfc7692_inflated_message_over_16_mib_is_closed_with_1009(target) {
        let bomb = vec![b'a'; MAX_MESSAGE + 1];
        for fragment in [usize::MAX, 4096] {
            let mut client = target.connect_deflate(PMD).await;
            let frames = client.compressed(OP_TEXT, &bomb, fragment);
            assert!(frames.len() < 200_000);
            client.send(frames).await;
            client.expect_failure(1009).await;
        }
    }
}
