//! permessage-deflate through `Connection` (RFC 7692): RSV1 rules, context
//! takeover both ways, limits on the inflated size, corrupt data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use bytes::{Buf, BytesMut};
use ws_core::deflate::{DeflateConfig, DeflateParams, negotiate};
use ws_core::frame::{FrameHeader, OpCode};
use ws_core::handshake::parse_extensions;
use ws_core::mask::apply_mask;
use ws_core::{Config, Connection, Frame, ProtocolError, Role, State};

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn params(offer: &str, config: &DeflateConfig) -> DeflateParams {
    negotiate(&parse_extensions(offer).unwrap(), config)
        .expect("offer accepted")
        .params
}

fn pair(offer: &str, config: &DeflateConfig, limits: Config) -> (Connection, Connection) {
    let params = params(offer, config);
    let mut server = Connection::new(Role::Server, limits.clone());
    server.enable_deflate(params, config);
    let mut client = Connection::new(Role::Client, limits);
    client.enable_deflate(params, config);
    (server, client)
}

/// A masked client frame with explicit FIN/RSV1 bits.
fn raw(fin: bool, rsv1: bool, opcode: OpCode, payload: &[u8]) -> Vec<u8> {
    let header = FrameHeader {
        fin,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode,
        mask: Some(KEY),
        payload_len: payload.len() as u64,
    };
    let mut out = Vec::new();
    header.encode(&mut out);
    let start = out.len();
    out.extend_from_slice(payload);
    apply_mask(&mut out[start..], KEY, 0);
    out
}

fn drain(conn: &mut Connection) -> BytesMut {
    let buf = conn.send_buffer();
    BytesMut::from(&buf.copy_to_bytes(buf.remaining())[..])
}

fn deliver(from: &mut Connection, to: &mut Connection) -> Result<Vec<Frame>, ProtocolError> {
    let bytes = drain(from);
    to.handle_bytes(&bytes);
    let mut frames = Vec::new();
    while let Some(frame) = to.poll_frame()? {
        frames.push(frame);
    }
    Ok(frames)
}

fn feed(conn: &mut Connection, bytes: &[u8]) -> Result<Vec<Frame>, ProtocolError> {
    conn.handle_bytes(bytes);
    let mut frames = Vec::new();
    while let Some(frame) = conn.poll_frame()? {
        frames.push(frame);
    }
    Ok(frames)
}

fn json(i: usize) -> String {
    format!(
        "{{\"type\":\"chat\",\"room\":\"lobby\",\"from\":\"user{i}\",\"text\":\"hello there, this is message number {i}\"}}"
    )
}

#[test]
fn rfc_7692_7_2_3_1_compressed_hello_from_a_client() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.enable_deflate(
        params("permessage-deflate", &DeflateConfig::default()),
        &DeflateConfig::default(),
    );
    let frames = feed(
        &mut server,
        &raw(
            true,
            true,
            OpCode::Text,
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        ),
    )
    .unwrap();
    assert_eq!(frames, vec![Frame::text("Hello")]);
}

#[test]
fn rfc_7692_fragmented_compressed_message_sets_rsv1_on_the_first_frame_only() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.enable_deflate(
        params("permessage-deflate", &DeflateConfig::default()),
        &DeflateConfig::default(),
    );
    let mut wire = raw(false, true, OpCode::Text, &[0xf2, 0x48, 0xcd]);
    wire.extend(raw(true, false, OpCode::Ping, b"mid"));
    wire.extend(raw(
        true,
        false,
        OpCode::Continuation,
        &[0xc9, 0xc9, 0x07, 0x00],
    ));
    let frames = feed(&mut server, &wire).unwrap();
    assert_eq!(frames, vec![Frame::ping(b"mid"), Frame::text("Hello")]);
}

#[test]
fn rsv1_on_a_continuation_frame_is_a_protocol_error() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.enable_deflate(
        params("permessage-deflate", &DeflateConfig::default()),
        &DeflateConfig::default(),
    );
    feed(
        &mut server,
        &raw(false, true, OpCode::Text, &[0xf2, 0x48, 0xcd]),
    )
    .unwrap();
    let error = feed(
        &mut server,
        &raw(true, true, OpCode::Continuation, &[0xc9, 0xc9, 0x07, 0x00]),
    );
    assert_eq!(error, Err(ProtocolError::ReservedBits(0b100)));
    assert_eq!(drain(&mut server)[..], [0x88, 0x02, 0x03, 0xea]);
}

#[test]
fn rsv1_on_a_control_frame_is_a_protocol_error() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.enable_deflate(
        params("permessage-deflate", &DeflateConfig::default()),
        &DeflateConfig::default(),
    );
    let error = feed(&mut server, &raw(true, true, OpCode::Ping, b"x"));
    assert_eq!(error, Err(ProtocolError::ReservedBits(0b100)));
    assert_eq!(server.state(), State::Closed);
}

#[test]
fn rsv1_without_the_extension_is_a_protocol_error() {
    let mut server = Connection::new(Role::Server, Config::default());
    let error = feed(
        &mut server,
        &raw(
            true,
            true,
            OpCode::Text,
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00],
        ),
    );
    assert_eq!(error, Err(ProtocolError::ReservedBits(0b100)));
}

#[test]
fn uncompressed_messages_are_still_accepted_with_the_extension() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.enable_deflate(
        params("permessage-deflate", &DeflateConfig::default()),
        &DeflateConfig::default(),
    );
    assert_eq!(
        feed(&mut server, &raw(true, false, OpCode::Text, b"plain")).unwrap(),
        vec![Frame::text("plain")]
    );
}

#[test]
fn messages_roundtrip_both_ways_with_context_takeover() {
    let config = DeflateConfig {
        server_no_context_takeover: false,
        ..DeflateConfig::default()
    };
    let (mut server, mut client) = pair(
        "permessage-deflate; client_max_window_bits",
        &config,
        Config::default(),
    );
    let p = server.deflate_params().unwrap();
    assert!(!p.server_no_context_takeover && !p.client_no_context_takeover);
    let mut sizes = Vec::new();
    for i in 0..20 {
        client.send(Frame::text(json(i))).unwrap();
        let bytes = drain(&mut client);
        sizes.push(bytes.len());
        server.handle_bytes(&bytes);
        assert_eq!(server.poll_frame().unwrap(), Some(Frame::text(json(i))));
        server.send(Frame::text(json(i))).unwrap();
        assert_eq!(
            deliver(&mut server, &mut client).unwrap(),
            vec![Frame::text(json(i))]
        );
    }
    // Taking over context, later similar messages compress much better.
    assert!(sizes[19] * 2 < sizes[0], "sizes {sizes:?}");
    assert!(server.holds_decompressor());
}

#[test]
fn no_context_takeover_compresses_each_message_alone_and_releases_on_hibernate() {
    let config = DeflateConfig {
        client_no_context_takeover: true,
        ..DeflateConfig::default()
    };
    let (mut server, mut client) = pair("permessage-deflate", &config, Config::default());
    let p = server.deflate_params().unwrap();
    assert!(p.server_no_context_takeover && p.client_no_context_takeover);
    let mut sizes = Vec::new();
    let message = json(1).repeat(5);
    for _ in 0..3 {
        server.send(Frame::text(message.clone())).unwrap();
        let bytes = drain(&mut server);
        sizes.push(bytes.len());
        client.handle_bytes(&bytes);
        assert_eq!(
            client.poll_frame().unwrap(),
            Some(Frame::text(message.clone()))
        );
        client.send(Frame::text(json(2))).unwrap();
        assert_eq!(
            deliver(&mut client, &mut server).unwrap(),
            vec![Frame::text(json(2))]
        );
    }
    // Each message compressed alone: the same size every time.
    assert!(sizes.iter().all(|s| *s == sizes[0]), "sizes {sizes:?}");
    assert!(sizes[0] < message.len() / 2, "sizes {sizes:?}");
    assert!(server.holds_decompressor());
    server.release_buffers();
    assert!(!server.holds_decompressor());
    // It comes back when the next compressed message arrives.
    client.send(Frame::text(json(3))).unwrap();
    assert_eq!(
        deliver(&mut client, &mut server).unwrap(),
        vec![Frame::text(json(3))]
    );
}

#[test]
fn every_window_size_roundtrips() {
    for bits in 8..=15 {
        let offer = format!(
            "permessage-deflate; server_max_window_bits={bits}; client_max_window_bits={bits}"
        );
        let config = DeflateConfig {
            server_no_context_takeover: false,
            client_max_window_bits: 15,
            ..DeflateConfig::default()
        };
        let (mut server, mut client) = pair(&offer, &config, Config::default());
        let p = server.deflate_params().unwrap();
        assert_eq!(
            (p.server_max_window_bits, p.client_max_window_bits),
            (bits, bits)
        );
        let big: String = (0..2000).map(json).collect();
        for _ in 0..2 {
            server.send(Frame::text(big.clone())).unwrap();
            assert_eq!(
                deliver(&mut server, &mut client).unwrap(),
                vec![Frame::text(big.clone())],
                "bits {bits}"
            );
            client
                .send(Frame::binary(big.clone().into_bytes()))
                .unwrap();
            assert_eq!(
                deliver(&mut client, &mut server).unwrap(),
                vec![Frame::binary(big.clone().into_bytes())],
                "bits {bits}"
            );
        }
    }
}

#[test]
fn small_messages_under_the_threshold_are_sent_uncompressed() {
    let (mut server, _) = pair(
        "permessage-deflate",
        &DeflateConfig::default(),
        Config::default(),
    );
    server.send(Frame::text("hi")).unwrap();
    assert_eq!(drain(&mut server)[..], [0x81, 0x02, b'h', b'i']);
    server.send(Frame::text(json(1))).unwrap();
    assert_eq!(
        drain(&mut server)[0],
        0xC1,
        "RSV1 set on a compressed message"
    );
    server.set_compress(false);
    server.send(Frame::text(json(1))).unwrap();
    assert_eq!(
        drain(&mut server)[0],
        0x81,
        "Reply::deflate(false) sends plain"
    );
}

#[test]
fn a_decompression_bomb_closes_with_1009_at_the_limit() {
    let limits = Config {
        max_message_size: 64 * 1024,
        max_frame_size: 64 * 1024,
        ..Config::default()
    };
    let strongest = DeflateConfig {
        level: 9,
        ..DeflateConfig::default()
    };
    let (mut server, mut client) = pair("permessage-deflate", &strongest, Config::default());
    server.set_config(limits);
    // 10 MiB of zeros compress to about 10 KiB.
    client.send(Frame::binary(vec![0u8; 10 << 20])).unwrap();
    let bytes = drain(&mut client);
    assert!(bytes.len() < 64 * 1024);
    server.handle_bytes(&bytes);
    assert_eq!(
        server.poll_frame(),
        Err(ProtocolError::MessageTooBig {
            len: 64 * 1024 + 1,
            max: 64 * 1024
        })
    );
    assert_eq!(drain(&mut server)[..], [0x88, 0x02, 0x03, 0xf1]);
}

#[test]
fn corrupt_compressed_data_closes_with_1007() {
    let mut server = Connection::new(Role::Server, Config::default());
    server.enable_deflate(
        params("permessage-deflate", &DeflateConfig::default()),
        &DeflateConfig::default(),
    );
    let error = feed(
        &mut server,
        &raw(true, true, OpCode::Binary, &[0xff, 0xff, 0xff, 0xff]),
    );
    assert_eq!(error, Err(ProtocolError::CorruptCompressedData));
    assert_eq!(drain(&mut server)[..], [0x88, 0x02, 0x03, 0xef]);
}

#[test]
fn invalid_utf8_inside_compressed_text_closes_with_1007() {
    let (mut server, mut client) = pair(
        "permessage-deflate",
        &DeflateConfig::default(),
        Config::default(),
    );
    // A binary message carries the bytes; relabel its frame as text.
    // Longer than the 64-byte threshold, so it is compressed.
    let mut payload = b"valid start then \xff\xfe invalid ".to_vec();
    payload.extend(json(1).into_bytes());
    client.send(Frame::binary(payload)).unwrap();
    let mut bytes = drain(&mut client);
    assert_eq!(bytes[0], 0xC2);
    bytes[0] = 0xC1;
    server.handle_bytes(&bytes);
    assert_eq!(server.poll_frame(), Err(ProtocolError::InvalidUtf8));
}
