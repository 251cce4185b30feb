//! permessage-deflate throughput: compressing and inflating whole messages
//! through `Connection`, on text-like (JSON) and random payloads of 1 KiB
//! and 64 KiB. Run with `cargo bench -p ws-core --bench deflate`.
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
use ws_core::deflate::{DeflateConfig, negotiate};
use ws_core::handshake::parse_extensions;
use ws_core::{Config, Connection, Frame, Role};

fn json(len: usize) -> Bytes {
    let mut text = String::new();
    let mut i = 0;
    while text.len() < len {
        text.push_str(&format!(
            "{{\"id\":{i},\"user\":\"user{}\",\"event\":\"price\",\"value\":{}.{}}},",
            i % 97,
            i * 31 % 1000,
            i % 100
        ));
        i += 1;
    }
    text.truncate(len);
    Bytes::from(text)
}

fn random(len: usize) -> Bytes {
    // xorshift: incompressible, reproducible.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect::<Vec<u8>>()
        .into()
}

fn pair(offer: &str) -> (Connection, Connection) {
    let config = DeflateConfig::default();
    let params = negotiate(&parse_extensions(offer).unwrap(), &config)
        .unwrap()
        .params;
    let limits = Config {
        max_frame_size: 1 << 24,
        max_message_size: 1 << 24,
        ..Config::default()
    };
    let mut server = Connection::new(Role::Server, limits.clone());
    server.enable_deflate(params, &config);
    let mut client = Connection::new(Role::Client, limits);
    client.enable_deflate(params, &config);
    (server, client)
}

fn deflate(c: &mut Criterion) {
    let mut compress = c.benchmark_group("deflate_compress");
    compress
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    for (kind, make) in [("json", json as fn(usize) -> Bytes), ("random", random)] {
        for size in [1024usize, 64 * 1024] {
            let payload = make(size);
            compress.throughput(Throughput::Bytes(size as u64));
            compress.bench_with_input(BenchmarkId::new(kind, size), &payload, |b, payload| {
                let (mut server, _) = pair("permessage-deflate");
                b.iter(|| {
                    server.send(Frame::Binary(payload.clone())).unwrap();
                    let out = server.send_buffer();
                    black_box(out.remaining());
                    out.advance(out.remaining());
                });
            });
        }
    }
    compress.finish();

    let mut inflate = c.benchmark_group("deflate_inflate");
    inflate
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    for (kind, make) in [("json", json as fn(usize) -> Bytes), ("random", random)] {
        for size in [1024usize, 64 * 1024] {
            // A client compressing each message alone, so the same wire
            // bytes can be inflated again and again.
            let (mut server, mut client) = pair("permessage-deflate; client_no_context_takeover");
            client.send(Frame::Binary(make(size))).unwrap();
            let out = client.send_buffer();
            let wire = out.copy_to_bytes(out.remaining());
            inflate.throughput(Throughput::Bytes(size as u64));
            inflate.bench_with_input(BenchmarkId::new(kind, size), &wire, |b, wire| {
                b.iter(|| {
                    server.handle_bytes(wire);
                    black_box(server.poll_frame().unwrap().unwrap());
                });
            });
        }
    }
    inflate.finish();
}

criterion_group!(benches, deflate);
criterion_main!(benches);
