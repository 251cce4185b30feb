//! Throughput of ws-core's hot paths: unmasking, decoding client frames,
//! UTF-8 validation and encoding server frames, each at 16 B, 1 KiB, 64 KiB
//! and 1 MiB payloads; and the server's side of one opening handshake.
//!
//! Run with `cargo bench -p ws-core` (about two minutes); add a filter such as
//! `cargo bench -p ws-core -- decode` for one group.

// A benchmark harness, not library code: no docs to write, and a failed
// unwrap or out-of-range index in setup should abort the run loudly.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Duration;

use bytes::{Buf, Bytes};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ws_core::frame::{FrameHeader, OpCode};
use ws_core::handshake::{
    DEFAULT_MAX_HEAD_SIZE, parse_request, switching_protocols, validate_upgrade,
};
use ws_core::mask::{apply_mask, apply_mask_bytewise};
use ws_core::utf8::Utf8Validator;
use ws_core::{Config, Connection, Frame, Role, Text};

const SIZES: [(usize, &str); 4] = [
    (16, "16B"),
    (1 << 10, "1KiB"),
    (64 << 10, "64KiB"),
    (1 << 20, "1MiB"),
];

/// Small frames are decoded from a buffer about this long, so the per-frame
/// cost is measured rather than the cost of one call.
const BATCH_BYTES: usize = 64 << 10;

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Limits high enough for the 1 MiB case.
fn config() -> Config {
    Config {
        max_frame_size: 2 << 20,
        max_message_size: 2 << 20,
        ..Config::default()
    }
}

/// Varied bytes (not all zero) so nothing is special-cased by accident.
fn binary(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

fn ascii(len: usize) -> String {
    "The quick brown fox jumps over the lazy dog. "
        .chars()
        .cycle()
        .take(len)
        .collect()
}

/// Exactly `len` bytes of valid UTF-8 mixing 1-, 2-, 3- and 4-byte sequences
/// (Greek, CJK, emoji), padded with ASCII where a character would not fit.
fn mixed(len: usize) -> String {
    let mut text = String::with_capacity(len);
    for c in "καλημέρα κόσμε, 你好世界 🎉🚀 ".chars().cycle() {
        if text.len() + c.len_utf8() > len {
            break;
        }
        text.push(c);
    }
    while text.len() < len {
        text.push('a');
    }
    text
}

/// Masked client frames carrying `payload`: one frame for large payloads,
/// enough copies to fill [`BATCH_BYTES`] for small ones. Returns the stream
/// and the total payload bytes in it.
fn client_stream(opcode: OpCode, payload: &[u8]) -> (Vec<u8>, u64) {
    let count = (BATCH_BYTES / payload.len()).max(1);
    let mut stream = Vec::with_capacity(count * (payload.len() + 14));
    for i in 0..count {
        let key = [KEY[0], KEY[1], KEY[2], i as u8];
        FrameHeader::new(opcode, payload.len(), Some(key)).encode(&mut stream);
        let start = stream.len();
        stream.extend_from_slice(payload);
        apply_mask(&mut stream[start..], key, 0);
    }
    (stream, (count * payload.len()) as u64)
}

fn settings() -> Criterion {
    Criterion::default()
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20)
}

fn unmask(c: &mut Criterion) {
    let mut group = c.benchmark_group("unmask");
    for (size, label) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut data = binary(size);
        group.bench_function(BenchmarkId::new("apply_mask", label), |b| {
            b.iter(|| apply_mask(black_box(&mut data), black_box(KEY), 0));
        });
        group.bench_function(BenchmarkId::new("apply_mask_bytewise", label), |b| {
            b.iter(|| apply_mask_bytewise(black_box(&mut data), black_box(KEY), 0));
        });
    }
    group.finish();
}

/// A server connection decoding the whole stream: `handle_bytes` (the copy
/// from a read buffer included) and `poll_frame` until it needs more.
fn decode_all(stream: &[u8]) -> usize {
    let mut conn = Connection::new(Role::Server, config());
    conn.handle_bytes(stream);
    let mut frames = 0;
    while let Some(frame) = conn.poll_frame().unwrap() {
        black_box(frame);
        frames += 1;
    }
    frames
}

fn decode_group(c: &mut Criterion, name: &str, opcode: OpCode, payload: fn(usize) -> Vec<u8>) {
    let mut group = c.benchmark_group(name);
    for (size, label) in SIZES {
        let (stream, payload_bytes) = client_stream(opcode, &payload(size));
        let expected = (payload_bytes / size as u64) as usize;
        assert_eq!(decode_all(&stream), expected, "{name} {label}");
        group.throughput(Throughput::Bytes(payload_bytes));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| decode_all(black_box(&stream)));
        });
    }
    group.finish();
}

fn decode(c: &mut Criterion) {
    decode_group(c, "decode", OpCode::Binary, binary);
}

fn decode_text(c: &mut Criterion) {
    decode_group(c, "decode_text", OpCode::Text, |len| {
        mixed(len).into_bytes()
    });
}

fn utf8(c: &mut Criterion) {
    let mut group = c.benchmark_group("utf8");
    for (size, label) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        for (kind, text) in [("ascii", ascii(size)), ("mixed", mixed(size))] {
            let bytes = Bytes::from(text.into_bytes());
            group.bench_function(BenchmarkId::new(format!("validator_{kind}"), label), |b| {
                b.iter(|| {
                    let mut validator = Utf8Validator::new();
                    validator.feed(black_box(&bytes)).unwrap();
                    validator.finish().unwrap();
                });
            });
            group.bench_function(
                BenchmarkId::new(format!("text_try_from_{kind}"), label),
                |b| {
                    b.iter(|| Text::try_from(black_box(bytes.clone())).unwrap());
                },
            );
        }
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for (size, label) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let payload = Bytes::from(binary(size));
        let mut conn = Connection::new(Role::Server, config());
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| {
                conn.send(Frame::Binary(black_box(payload.clone())))
                    .unwrap();
                let out = conn.send_buffer();
                black_box(out.chunk());
                out.advance(out.remaining());
            });
        });
    }
    group.finish();
}

/// The server's work on one upgrade request, as a browser sends it: parse
/// the head, validate it (RFC 6455 §4.2.1), and write the 101 with the
/// accept key (§4.2.2), the subprotocol and permessage-deflate.
fn handshake(c: &mut Criterion) {
    let request = b"GET /chat?room=1 HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Connection: Upgrade\r\n\
        Pragma: no-cache\r\n\
        Cache-Control: no-cache\r\n\
        User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36\r\n\
        Upgrade: websocket\r\n\
        Origin: https://server.example.com\r\n\
        Sec-WebSocket-Version: 13\r\n\
        Accept-Encoding: gzip, deflate, br\r\n\
        Accept-Language: en-US,en;q=0.9\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    c.bench_function("handshake/browser_request", |b| {
        b.iter(|| {
            let (req, _) = parse_request(black_box(request), DEFAULT_MAX_HEAD_SIZE)
                .unwrap()
                .unwrap();
            let upgrade = validate_upgrade(&req).unwrap();
            black_box(switching_protocols(
                &upgrade.key,
                upgrade.protocols.first().map(String::as_str),
                Some("permessage-deflate"),
                &[],
            ))
        });
    });
}

criterion_group! {
    name = benches;
    config = settings();
    targets = unmask, decode, decode_text, utf8, encode, handshake
}
criterion_main!(benches);
