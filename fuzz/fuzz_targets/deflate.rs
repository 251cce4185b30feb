//! permessage-deflate (RFC 7692) through `Connection`.
//!
//! Input layout: byte 0 picks the negotiated parameters (bit 0
//! server_no_context_takeover, bit 1 client_no_context_takeover, bits 2-4
//! the client window 8 + n, bits 5-7 the server window 8 + n), byte 1 the
//! compression level (low nibble mod 10) and threshold (high nibble × 16),
//! byte 2 the read size, then the material.
//!
//! Pass 1, round trip: the material describes messages (text or binary,
//! short or long, compressible or not, some preceded by a ping). A client
//! connection sends them, compressed, to a server connection, and the server
//! sends them back to a client; each side must receive exactly what was sent,
//! in order, across context takeover and every window size, and fail with
//! 1009 on the first message over the limit.
//!
//! Pass 2, hostile: the material is frames with RSV1 set and arbitrary
//! "compressed" payloads. The server must not panic, must never hand out a
//! message over `max_message_size` (a deflate bomb fails with 1009 within
//! the limit), and must fail cleanly on corrupt data.

#![no_main]

mod common;

use common::{Event, Material, Reads, brief, drive, expected_server_output, hex};
use libfuzzer_sys::fuzz_target;
use ws_core::deflate::{DeflateConfig, DeflateParams};
use ws_core::frame::{FrameHeader, OpCode};
use ws_core::mask::apply_mask;
use ws_core::{Config, Connection, Frame, ProtocolError, Role};

/// Small limits keep executions fast: compressing is the expensive part.
const MAX_MESSAGE: usize = 16 * 1024;
/// Pass 1 stops adding messages once they add up to this many bytes.
const MAX_TOTAL: usize = 32 * 1024;

fn config() -> Config {
    Config {
        max_frame_size: MAX_MESSAGE,
        max_message_size: MAX_MESSAGE,
        ..Config::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let [params, codec, read, material @ ..] = data else {
        return;
    };
    let params = DeflateParams {
        server_no_context_takeover: params & 1 != 0,
        client_no_context_takeover: params & 2 != 0,
        client_max_window_bits: 8 + ((params >> 2) & 7),
        server_max_window_bits: 8 + (params >> 5),
    };
    let deflate = DeflateConfig {
        level: u32::from(codec & 0x0F) % 10,
        threshold: usize::from(codec >> 4) * 16,
        ..DeflateConfig::default()
    };
    let reads = Reads::new(&[*read], false);
    let connection = |role: Role| {
        let mut conn = Connection::new(role, config());
        conn.enable_deflate(params, &deflate);
        conn
    };

    // Pass 1: client → server, then server → client.
    let sends = Send::list_from(material);
    for (from, to, pings) in [
        (Role::Client, Role::Server, true),
        (Role::Server, Role::Client, false),
    ] {
        let mut sender = connection(from);
        let (wire, wire_lens) = send_all(&mut sender, &sends, pings);
        let expected = expected_events(&sends, &wire_lens, pings);
        let observed = drive(connection(to), &wire, &reads, MAX_MESSAGE);
        assert!(
            same_events(&observed.events, &expected),
            "{from:?} → {to:?} with {params:?}, level {}\n  sent:     {}\n  received: {}",
            deflate.level,
            brief(&expected),
            brief(&observed.events)
        );
        if to == Role::Server {
            assert_eq!(observed.output, expected_server_output(&observed.events));
        }
    }

    // Pass 2: arbitrary compressed payloads.
    let stream = hostile_stream(material);
    let observed = drive(connection(Role::Server), &stream, &reads, MAX_MESSAGE);
    for event in &observed.events {
        if let Event::Error(error) = event {
            assert!(
                matches!(
                    error,
                    ProtocolError::CorruptCompressedData
                        | ProtocolError::MessageTooBig { .. }
                        | ProtocolError::InvalidUtf8
                        | ProtocolError::ReservedBits(_)
                        | ProtocolError::ContinuationWithoutStart
                        | ProtocolError::DataFrameInsideFragmentedMessage
                        | ProtocolError::FrameTooBig { .. }
                        | ProtocolError::ControlFrameTooLong(_)
                        | ProtocolError::CloseFrameOneByte
                        | ProtocolError::InvalidCloseCode(_)
                        | ProtocolError::InvalidCloseReason
                ),
                "unexpected error {error:?} for well-framed input"
            );
        }
    }
    assert!(
        observed.output == expected_server_output(&observed.events),
        "send buffer {} for events {}",
        hex(&observed.output),
        brief(&observed.events)
    );
});

/// Equal events, except that a message over the limit may be refused as
/// `FrameTooBig` (its one frame is over the same limit) or `MessageTooBig`,
/// with whatever length was known then: both close with 1009.
fn same_events(a: &[Event], b: &[Event]) -> bool {
    let too_big = |event: &Event| {
        matches!(
            event,
            Event::Error(ProtocolError::MessageTooBig { .. } | ProtocolError::FrameTooBig { .. })
        )
    };
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y || (too_big(x) && too_big(y)))
}

/// One message to send, maybe after a ping.
struct Send {
    ping: Option<Frame>,
    message: Frame,
}

impl Send {
    /// Per message: a flags byte (bit 0 text, bit 1 a ping first, bits 2-3
    /// the payload kind), then the payload's own bytes.
    fn list_from(bytes: &[u8]) -> Vec<Send> {
        let mut input = Material::new(bytes);
        let mut sends = Vec::new();
        let mut total = 0usize;
        while let Some(flags) = input.byte() {
            let text = flags & 1 != 0;
            let ping = (flags & 2 != 0).then(|| {
                let len = usize::from(flags >> 4) * 8;
                Frame::try_ping(vec![flags; len]).expect("at most 120 bytes")
            });
            let len = match (flags >> 2) & 3 {
                0 => usize::from(input.byte().unwrap_or(0)),
                _ => {
                    let hi = input.byte().unwrap_or(0);
                    let lo = input.byte().unwrap_or(0);
                    // Up to 24 KiB: past the 16 KiB limit now and then.
                    usize::from(u16::from_be_bytes([hi, lo]) >> 2) * 3 / 2
                }
            };
            let message = match ((flags >> 2) & 3, text) {
                // Literal bytes or text from the input.
                (0, false) => Frame::binary(input.take(len)),
                (0, true) => Frame::text(input.whole_text(len)),
                // A short pattern repeated: compresses well.
                (1, _) => {
                    let unit_len = usize::from(input.byte().unwrap_or(0) % 16) + 1;
                    let unit = input.whole_text(unit_len);
                    let unit = if unit.is_empty() {
                        "ab".to_owned()
                    } else {
                        unit
                    };
                    let repeated: String = unit.chars().cycle().take(len).collect();
                    if text {
                        Frame::text(repeated)
                    } else {
                        Frame::binary(repeated.into_bytes())
                    }
                }
                // Noise: compresses badly, so the compressed form can be the
                // longer one.
                _ => {
                    let seed = u64::from(input.byte().unwrap_or(1)) | 1;
                    let noise = xorshift_bytes(seed, len);
                    if text {
                        let ascii: String =
                            noise.iter().map(|b| char::from(0x20 + b % 0x5f)).collect();
                        Frame::text(ascii)
                    } else {
                        Frame::binary(noise)
                    }
                }
            };
            total = total.saturating_add(message.payload_len());
            sends.push(Send { ping, message });
            if total > MAX_TOTAL {
                break;
            }
        }
        sends
    }
}

fn xorshift_bytes(mut state: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// Sends every message (and ping), returning the bytes on the wire and each
/// message's payload length there (compressed or not).
fn send_all(sender: &mut Connection, sends: &[Send], pings: bool) -> (Vec<u8>, Vec<u64>) {
    let mut wire = Vec::new();
    let mut wire_lens = Vec::new();
    for send in sends {
        if let Some(ping) = send.ping.as_ref().filter(|_| pings) {
            sender.send(ping.clone()).expect("sender open");
            common::drain(sender, &mut wire);
        }
        let start = wire.len();
        sender.send(send.message.clone()).expect("sender open");
        common::drain(sender, &mut wire);
        let header = FrameHeader::parse(wire.get(start..).unwrap_or_default());
        let Ok(Some((header, _))) = header else {
            panic!("the sender queued no whole frame header: {header:?}");
        };
        assert!(header.fin, "a message sent in one call left in fragments");
        wire_lens.push(header.payload_len);
    }
    (wire, wire_lens)
}

/// What the receiver reports: every ping and message as sent, up to the
/// first message over the limit, which fails the connection with 1009.
///
/// The limit is on the inflated size. A compressed message's wire size may
/// exceed it by an eighth plus 64 bytes (incompressible data must still be
/// sent compressed under context takeover, and zlib-rs level 1 grows it);
/// past that slack the header checks refuse it before inflating.
fn expected_events(sends: &[Send], wire_lens: &[u64], pings: bool) -> Vec<Event> {
    let wire_limit = (MAX_MESSAGE + MAX_MESSAGE / 8 + 64) as u64;
    let mut events = Vec::new();
    for (send, &wire_len) in sends.iter().zip(wire_lens) {
        if let Some(ping) = send.ping.as_ref().filter(|_| pings) {
            events.push(Event::Frame(ping.clone()));
        }
        if send.message.payload_len() > MAX_MESSAGE || wire_len > wire_limit {
            events.push(Event::Error(ProtocolError::MessageTooBig {
                len: 0,
                max: MAX_MESSAGE,
            }));
            break;
        }
        events.push(Event::Frame(send.message.clone()));
    }
    events
}

/// Masked frames whose payloads are arbitrary bytes, RSV1 set on most first
/// frames. Per frame: a flags byte (bits 0-1 the opcode: continuation, text,
/// binary, ping; bit 2 clears FIN; bit 3 clears RSV1), a length byte, and
/// that many bytes; an empty stored block (`00 00 ff ff` without the
/// trailer) every so often keeps the deflate stream alive.
fn hostile_stream(bytes: &[u8]) -> Vec<u8> {
    let mut input = Material::new(bytes);
    let mut out = Vec::new();
    while let Some(flags) = input.byte() {
        let opcode = match flags & 3 {
            0 => OpCode::Continuation,
            1 => OpCode::Text,
            2 => OpCode::Binary,
            _ => OpCode::Ping,
        };
        let len = usize::from(input.byte().unwrap_or(0));
        let mut payload = input.take(len);
        if flags & 0x10 != 0 {
            payload.extend_from_slice(&[0x00, 0x00, 0x00, 0xff, 0xff]);
        }
        let fin = flags & 4 == 0 || opcode == OpCode::Ping;
        let rsv1 = flags & 8 == 0 && matches!(opcode, OpCode::Text | OpCode::Binary);
        let key = [flags, 0x5a, !flags, 0xa5];
        let mut header = FrameHeader::new(opcode, payload.len(), Some(key));
        header.fin = fin;
        header.rsv1 = rsv1;
        header.encode(&mut out);
        apply_mask(&mut payload, key, 0);
        out.extend_from_slice(&payload);
    }
    out
}
