//! The message assembler: a server `Connection` fed what a client sends.
//!
//! Input layout: byte 0 picks how the stream is fed (low two bits: how many
//! chunk-size bytes follow, 1..=4; bit 2: append through `input_mut` instead
//! of `handle_bytes`; bit 3: `Config::fail_fast_utf8` off), then the
//! chunk-size bytes (`< 0x80` → 1..=128 bytes, otherwise a multiple of 512 up
//! to 64 KiB), then the stream material.
//!
//! Pass 1 feeds the material as raw bytes, so the fuzzer attacks the header
//! checks. Pass 2 reads the same material as a list of frame descriptions,
//! encodes them as well-formed masked frames (mostly valid, sometimes with a
//! reserved opcode, RSV bits or no mask) and compares what the connection
//! reports with an independent model of RFC 6455 §5-§8: every message,
//! control frame and error, and every byte the connection queues to send.
//! That reaches the deep states (fragmentation, control frames between
//! fragments, UTF-8 split across fragments and reads, size limits).
//!
//! Invariants checked in both passes:
//! - nothing panics;
//! - after an `Err` (or a peer close) the state is `Closed`, later polls give
//!   `Ok(None)` and nothing more is reported, and `send` is refused;
//! - every data message is within `max_message_size`, every control payload
//!   within 125 bytes, every received close code is valid on the wire;
//! - the send buffer holds exactly one unmasked pong per ping reported, in
//!   order, then at most one close frame, last: the echoed code for a peer
//!   close (§5.5.1), or the error's close code when the connection failed.

#![no_main]

mod common;

use bytes::Bytes;
use common::{
    Event, Material, Observed, Reads, brief, code_valid_on_wire, drive, expected_server_output, hex,
};
use libfuzzer_sys::fuzz_target;
use ws_core::frame::{FrameHeader, MAX_CONTROL_PAYLOAD, OpCode};
use ws_core::mask::apply_mask;
use ws_core::{CloseCode, CloseFrame, Config, Connection, Frame, ProtocolError, Role, Text};

/// Small limits, so that both are reachable from a few kilobytes of input.
const MAX_FRAME: usize = 32 * 1024;
const MAX_MESSAGE: usize = 64 * 1024;
/// Pass 2 stops adding frames once the encoded stream is this long.
const MAX_STREAM: usize = 256 * 1024;

// `..Config::default()` keeps the target building when Config grows a field.
#[allow(clippy::needless_update)]
fn config(fail_fast_utf8: bool) -> Config {
    Config {
        max_frame_size: MAX_FRAME,
        max_message_size: MAX_MESSAGE,
        auto_pong: true,
        fail_fast_utf8,
        ..Config::default()
    }
}

fuzz_target!(|data: &[u8]| {
    let (feed, material) = Feed::from_prefix(data);

    // Pass 1: the material is the raw byte stream.
    let observed = feed.drive(material);
    let expected = expected_server_output(&observed.events);
    assert!(
        observed.output == expected,
        "send buffer {} does not match the reported events {}",
        hex(&observed.output),
        brief(&observed.events)
    );

    // Pass 2: the material describes frames; encode them and compare with the model.
    let specs = FrameSpec::list_from(material);
    let stream = encode_stream(&specs);
    let observed = feed.drive(&stream);
    let expected = model(&specs, feed.fail_fast_utf8);
    assert!(
        observed.events == expected,
        "connection and model disagree\n  frames:     {specs:?}\n  connection: {}\n  model:      {}",
        brief(&observed.events),
        brief(&expected)
    );
    let expected_bytes = expected_server_output(&expected);
    assert!(
        observed.output == expected_bytes,
        "send buffer {} for events {}, expected {}",
        hex(&observed.output),
        brief(&expected),
        hex(&expected_bytes)
    );
});

// ---------------------------------------------------------------------------
// Feeding the stream
// ---------------------------------------------------------------------------

/// How the stream is cut into reads, and the UTF-8 mode.
struct Feed {
    reads: Reads,
    fail_fast_utf8: bool,
}

impl Feed {
    fn from_prefix(data: &[u8]) -> (Feed, &[u8]) {
        let Some((&first, rest)) = data.split_first() else {
            return (
                Feed {
                    reads: Reads::new(&[], false),
                    fail_fast_utf8: true,
                },
                data,
            );
        };
        let count = usize::from(first & 3) + 1;
        let (size_bytes, rest) = rest.split_at(count.min(rest.len()));
        let feed = Feed {
            reads: Reads::new(size_bytes, first & 4 != 0),
            fail_fast_utf8: first & 8 == 0,
        };
        (feed, rest)
    }

    fn drive(&self, stream: &[u8]) -> Observed {
        let conn = Connection::new(Role::Server, config(self.fail_fast_utf8));
        drive(conn, stream, &self.reads, MAX_MESSAGE)
    }
}

// ---------------------------------------------------------------------------
// Pass 2: well-formed frames from the fuzz input
// ---------------------------------------------------------------------------

/// One frame to send. `opcode` is the 4-bit wire value (possibly reserved),
/// `rsv` the bits as `0bRRR`, `mask` `None` for an unmasked frame.
#[derive(Clone)]
struct FrameSpec {
    opcode: u8,
    fin: bool,
    rsv: u8,
    mask: Option<[u8; 4]>,
    payload: Vec<u8>,
}

impl std::fmt::Debug for FrameSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fin = if self.fin { "fin " } else { "" };
        let rsv = if self.rsv != 0 {
            format!("rsv={:03b} ", self.rsv)
        } else {
            String::new()
        };
        let mask = if self.mask.is_some() { "" } else { "unmasked " };
        write!(
            f,
            "{:#x} {fin}{rsv}{mask}{}",
            self.opcode,
            hex(&self.payload)
        )
    }
}

/// Mostly valid opcodes; continuation, text and binary most often.
const OPCODES: [u8; 16] = [
    0x0, 0x1, 0x2, 0x8, 0x9, 0xA, 0x0, 0x1, 0x2, 0x0, 0x1, 0x9, 0x0, 0x2, 0x3, 0xB,
];

/// Close codes at and around every boundary of §7.4.
const CLOSE_CODES: [u16; 16] = [
    1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000,
];

impl FrameSpec {
    /// Reads frame descriptions until the input or the stream budget runs out.
    ///
    /// Per frame: a flags byte (bits 0-3 pick the opcode, bit 4 clears FIN,
    /// bit 5 reads an extra byte with RSV bits and a no-mask flag, bits 6-7
    /// pick how the payload is made), then the payload's own bytes.
    fn list_from(bytes: &[u8]) -> Vec<FrameSpec> {
        let mut input = Material::new(bytes);
        let mut specs = Vec::new();
        let mut total = 0usize;
        while let Some(flags) = input.byte() {
            let opcode = OPCODES
                .get(usize::from(flags & 0x0F))
                .copied()
                .unwrap_or(0x1);
            let fin = flags & 0x10 == 0;
            let (rsv, masked) = if flags & 0x20 != 0 {
                let extra = input.byte().unwrap_or(0);
                (extra & 0x07, extra & 0x08 == 0)
            } else {
                (0, true)
            };
            let payload = match flags >> 6 {
                // Literal bytes from the input.
                0 => {
                    let len = usize::from(input.byte().unwrap_or(0));
                    input.take(len)
                }
                // The next piece of a valid UTF-8 stream.
                1 => {
                    let len = usize::from(input.byte().unwrap_or(0));
                    input.text(len)
                }
                // Long: up to 64 KiB of a repeated pattern, across both limits.
                2 => {
                    let hi = input.byte().unwrap_or(0);
                    let lo = input.byte().unwrap_or(0);
                    let len = usize::from(u16::from_be_bytes([hi, lo]));
                    let pattern_len = usize::from(input.byte().unwrap_or(0) % 8) + 1;
                    let pattern = input.take(pattern_len);
                    if pattern.iter().all(u8::is_ascii) {
                        let pattern = if pattern.is_empty() {
                            vec![b'x']
                        } else {
                            pattern
                        };
                        pattern.iter().copied().cycle().take(len).collect()
                    } else {
                        input.text(len)
                    }
                }
                // A close body: a code near a §7.4 boundary and a text reason.
                _ => {
                    let pick = input.byte().unwrap_or(0);
                    let code = CLOSE_CODES
                        .get(usize::from(pick & 0x0F))
                        .copied()
                        .unwrap_or(1000);
                    let reason_len = usize::from(pick >> 4) * 8;
                    let mut body = code.to_be_bytes().to_vec();
                    body.extend(input.text(reason_len));
                    body
                }
            };
            let mask = masked.then(|| {
                let n = specs.len() as u8;
                [flags ^ 0x37, 0xfa ^ n, 0x21, 0x3d ^ flags.rotate_left(3)]
            });
            total = total.saturating_add(payload.len() + 14);
            specs.push(FrameSpec {
                opcode,
                fin,
                rsv,
                mask,
                payload,
            });
            if total > MAX_STREAM {
                break;
            }
        }
        specs
    }
}

/// Encodes the frames with `FrameHeader::encode` and `apply_mask`; a
/// reserved opcode is patched into the first byte afterwards.
fn encode_stream(specs: &[FrameSpec]) -> Vec<u8> {
    let mut out = Vec::new();
    for spec in specs {
        let header = FrameHeader {
            fin: spec.fin,
            rsv1: spec.rsv & 4 != 0,
            rsv2: spec.rsv & 2 != 0,
            rsv3: spec.rsv & 1 != 0,
            opcode: OpCode::from_u8(spec.opcode).unwrap_or(OpCode::Binary),
            mask: spec.mask,
            payload_len: spec.payload.len() as u64,
        };
        let start = out.len();
        header.encode(&mut out);
        if let Some(first) = out.get_mut(start) {
            *first = (*first & 0xF0) | spec.opcode;
        }
        let payload_start = out.len();
        out.extend_from_slice(&spec.payload);
        if let (Some(key), Some(payload)) = (spec.mask, out.get_mut(payload_start..)) {
            apply_mask(payload, key, 0);
        }
    }
    out
}

/// A message being reassembled in the model.
struct Partial {
    text: bool,
    data: Vec<u8>,
}

/// What RFC 6455 says a server reports for these frames, written from the
/// RFC rather than from the connection: the checks in the order a reader
/// meets them (header bits, masking, control frame rules, fragmentation,
/// limits, then the payload), stopping at the first error or a close.
/// With `fail_fast_utf8`, text fails in the first frame that cannot start
/// valid UTF-8 (§8.1); without, only when the message is whole.
fn model(specs: &[FrameSpec], fail_fast_utf8: bool) -> Vec<Event> {
    let mut events = Vec::new();
    let mut message: Option<Partial> = None;
    for spec in specs {
        match model_frame(spec, &mut message, fail_fast_utf8) {
            Ok(None) => {}
            Ok(Some(frame)) => {
                let close = matches!(frame, Frame::Close(_));
                events.push(Event::Frame(frame));
                if close {
                    break;
                }
            }
            Err(error) => {
                events.push(Event::Error(error));
                break;
            }
        }
    }
    events
}

fn model_frame(
    spec: &FrameSpec,
    message: &mut Option<Partial>,
    fail_fast_utf8: bool,
) -> Result<Option<Frame>, ProtocolError> {
    let len = spec.payload.len();
    // §5.2: reserved opcodes, then RSV bits without an extension.
    if !matches!(spec.opcode, 0x0..=0x2 | 0x8..=0xA) {
        return Err(ProtocolError::ReservedOpcode(spec.opcode));
    }
    if spec.rsv != 0 {
        return Err(ProtocolError::ReservedBits(spec.rsv));
    }
    // §5.1: a client frame must be masked.
    if spec.mask.is_none() {
        return Err(ProtocolError::UnmaskedFrame);
    }
    // §5.5: control frames are short and whole.
    if spec.opcode >= 0x8 {
        if !spec.fin {
            return Err(ProtocolError::FragmentedControlFrame);
        }
        if len > MAX_CONTROL_PAYLOAD {
            return Err(ProtocolError::ControlFrameTooLong(len as u64));
        }
        let payload = Bytes::copy_from_slice(&spec.payload);
        return match spec.opcode {
            0x9 => Ok(Some(Frame::try_ping(payload).map_err(|_| unreachable())?)),
            0xA => Ok(Some(Frame::try_pong(payload).map_err(|_| unreachable())?)),
            _ => model_close(&spec.payload).map(|close| Some(Frame::Close(close))),
        };
    }
    // §5.4: continuation needs a message, a new message needs none.
    match (spec.opcode, message.is_some()) {
        (0x0, false) => return Err(ProtocolError::ContinuationWithoutStart),
        (0x1 | 0x2, true) => return Err(ProtocolError::DataFrameInsideFragmentedMessage),
        _ => {}
    }
    if len > MAX_FRAME {
        return Err(ProtocolError::FrameTooBig {
            len: len as u64,
            max: MAX_FRAME,
        });
    }
    let so_far = message.as_ref().map_or(0, |m| m.data.len());
    if so_far + len > MAX_MESSAGE {
        return Err(ProtocolError::MessageTooBig {
            len: (so_far + len) as u64,
            max: MAX_MESSAGE,
        });
    }
    let partial = message.get_or_insert_with(|| Partial {
        text: spec.opcode == 0x1,
        data: Vec::new(),
    });
    partial.data.extend_from_slice(&spec.payload);
    // §8.1: fail as soon as the text cannot be the start of valid UTF-8.
    if partial.text && (fail_fast_utf8 || spec.fin) {
        match std::str::from_utf8(&partial.data) {
            Ok(_) => {}
            Err(e) if e.error_len().is_none() && !spec.fin => {}
            Err(_) => return Err(ProtocolError::InvalidUtf8),
        }
    }
    if !spec.fin {
        return Ok(None);
    }
    let Some(done) = message.take() else {
        return Err(unreachable());
    };
    let data = Bytes::from(done.data);
    Ok(Some(if done.text {
        Frame::Text(Text::try_from(data).map_err(|_| ProtocolError::InvalidUtf8)?)
    } else {
        Frame::Binary(data)
    }))
}

/// §5.5.1: an empty body, or a two-byte code valid on the wire and a UTF-8 reason.
fn model_close(body: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    let [high, low, reason @ ..] = body else {
        return if body.is_empty() {
            Ok(None)
        } else {
            Err(ProtocolError::CloseFrameOneByte)
        };
    };
    let number = u16::from_be_bytes([*high, *low]);
    if !code_valid_on_wire(number) {
        return Err(ProtocolError::InvalidCloseCode(number));
    }
    let reason = std::str::from_utf8(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
    let Some(code) = CloseCode::new(number) else {
        panic!("CloseCode::new({number}) refuses a code RFC 6455 §7.4 allows");
    };
    CloseFrame::try_new(code, reason.to_owned())
        .map(Some)
        .map_err(|_| unreachable())
}

/// The model checked the condition already; reaching this is a harness bug.
fn unreachable() -> ProtocolError {
    panic!("fuzz harness model bug: a checked condition failed")
}
