//! Measures the memory one connection's permessage-deflate state costs, at
//! each window size: `cargo run --release -p ws-core --example deflate_memory`.
//!
//! It holds 1,000 connections that have each inflated (or compressed) one
//! 64 KiB message and then hibernated, divides the growth of the process's resident
//! memory by 1,000 (Linux `/proc/self/status`), and subtracts the same
//! measure for connections without compression. Every connection stays
//! alive to the end, so no measure reuses memory another one freed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use bytes::Buf;
use ws_core::deflate::{DeflateConfig, negotiate};
use ws_core::handshake::parse_extensions;
use ws_core::{Config, Connection, Frame, Role};

const CONNECTIONS: usize = 1000;

fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<usize>()
        .unwrap()
        * 1024
}

/// Resident bytes per connection after each of `CONNECTIONS` servers
/// received (or sent) one message and hibernated; the servers are returned
/// so they stay alive.
fn measure(
    deflate: Option<(&str, &DeflateConfig)>,
    client_sends: bool,
) -> (usize, Vec<Connection>) {
    // 64 KiB of varied JSON: enough to touch every page of a 32 KiB window,
    // so the figures are those of a connection in steady use.
    let message: String = (0..2000)
        .map(|i| {
            format!(
                "{{\"user\":\"user{}\",\"seq\":{i},\"text\":\"hello\"}},",
                i * 7919 % 1000
            )
        })
        .collect::<String>()
        .chars()
        .take(64 * 1024)
        .collect();
    let params = deflate.map(|(offer, config)| {
        negotiate(&parse_extensions(offer).unwrap(), config)
            .unwrap()
            .params
    });
    // A client that sends the message, to feed the servers.
    let mut client = Connection::new(Role::Client, Config::default());
    if let (Some(params), Some((_, config))) = (params, deflate) {
        client.enable_deflate(params, config);
    }
    client.send(Frame::text(message.clone())).unwrap();
    let out = client.send_buffer();
    let wire = out.copy_to_bytes(out.remaining());
    let before = rss();
    let mut servers = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        let mut server = Connection::new(Role::Server, Config::default());
        if let (Some(params), Some((_, config))) = (params, deflate) {
            server.enable_deflate(params, config);
        }
        if client_sends {
            server.handle_bytes(&wire);
            server.poll_frame().unwrap().unwrap();
        } else {
            server.send(Frame::text(message.clone())).unwrap();
            let out = server.send_buffer();
            out.advance(out.remaining());
        }
        server.release_buffers();
        servers.push(server);
    }
    ((rss() - before) / CONNECTIONS, servers)
}

fn main() {
    let mut alive = Vec::new();
    let (baseline, servers) = measure(None, true);
    alive.push(servers);
    let mut row =
        |label: &str, bits: u8, deflate: Option<(&str, &DeflateConfig)>, client_sends: bool| {
            let (bytes, servers) = measure(deflate, client_sends);
            alive.push(servers);
            let extra = bytes.saturating_sub(baseline);
            println!("| {label} | {bits} | {:.1} KiB |", extra as f64 / 1024.0);
        };
    println!("connection without compression: {baseline} bytes (subtracted below)");
    println!("| permessage-deflate state | window bits | extra memory per connection |");
    println!("|---|---|---|");
    let defaults = DeflateConfig::default();
    for bits in [9u8, 10, 12, 15] {
        let offer = format!("permessage-deflate; client_max_window_bits={bits}");
        row(
            "decompressor, client takes over context",
            bits,
            Some((&offer, &defaults)),
            true,
        );
    }
    row(
        "decompressor, client takes no context (released on hibernate)",
        12,
        Some(("permessage-deflate; client_no_context_takeover", &defaults)),
        true,
    );
    row(
        "compressor, default: server takes no context (pooled per thread)",
        15,
        Some(("permessage-deflate", &defaults)),
        false,
    );
    for bits in [9u8, 12, 15] {
        let config = DeflateConfig {
            server_no_context_takeover: false,
            server_max_window_bits: bits,
            ..DeflateConfig::default()
        };
        row(
            "compressor, server takes over context",
            bits,
            Some(("permessage-deflate", &config)),
            false,
        );
    }
}
