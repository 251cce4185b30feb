//! A message that inflates to 1 GiB closes with 1009 while the process's
//! peak memory grows by less than twice the configured limit (RFC 7692 §8.1
//! warns about exactly this). Alone in its binary so no other test moves the
//! peak.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use flate2::{Compress, Compression, FlushCompress};
use ws_core::deflate::{DeflateConfig, negotiate};
use ws_core::frame::{FrameHeader, OpCode};
use ws_core::handshake::parse_extensions;
use ws_core::{Config, Connection, ProtocolError, Role};

/// Peak resident memory of this process, in bytes (Linux `VmHWM`).
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

/// Resets the peak to the current resident size (Linux, `clear_refs` 5).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

#[test]
fn a_one_gib_bomb_closes_with_1009_within_twice_the_limit() {
    const LIMIT: usize = 4 << 20;
    const INFLATED: usize = 1 << 30;
    // One sync-flushed chunk of 1 MiB of zeros; repeated, it stays a valid
    // deflate stream (its matches point back at earlier zeros).
    let mut compressor = Compress::new(Compression::best(), false);
    let mut chunk = Vec::with_capacity(64 * 1024);
    compressor
        .compress_vec(&vec![0u8; 1 << 20], &mut chunk, FlushCompress::Sync)
        .unwrap();
    let mut payload = Vec::with_capacity(chunk.len() * (INFLATED >> 20));
    for _ in 0..(INFLATED >> 20) {
        payload.extend_from_slice(&chunk);
    }
    assert!(
        payload.len() < LIMIT,
        "the wire message itself is under the limit"
    );

    let mut wire = Vec::with_capacity(payload.len() + 14);
    let mut header = FrameHeader::new(OpCode::Binary, payload.len(), Some([0; 4]));
    header.rsv1 = true;
    header.encode(&mut wire);
    wire.extend_from_slice(&payload); // a zero mask leaves the payload as is
    drop(payload);

    let config = Config {
        max_frame_size: LIMIT,
        max_message_size: LIMIT,
        ..Config::default()
    };
    let offers = parse_extensions("permessage-deflate").unwrap();
    let negotiated = negotiate(&offers, &DeflateConfig::default()).unwrap();
    let mut server = Connection::new(Role::Server, config);
    server.enable_deflate(negotiated.params, &DeflateConfig::default());
    server.handle_bytes(&wire);
    drop(wire);

    reset_peak();
    let before = peak_rss();
    let result = server.poll_frame();
    let grown = peak_rss().saturating_sub(before);

    assert_eq!(
        result,
        Err(ProtocolError::MessageTooBig {
            len: LIMIT as u64 + 1,
            max: LIMIT
        })
    );
    assert!(
        grown < 2 * LIMIT,
        "peak memory grew by {grown} bytes inflating a 1 GiB bomb with a {LIMIT}-byte limit"
    );
    eprintln!(
        "peak memory grew by {} KiB (limit {} KiB)",
        grown / 1024,
        LIMIT / 1024
    );
}
