//! permessage-deflate (RFC 7692): negotiation and the per-message codec.
//!
//! The codec is flate2 on its zlib-rs backend: raw deflate with window sizes
//! below 15 bits (the miniz backend only has 15) in pure Rust.
//!
//! Memory is the point of the design. A zlib compressor costs 190-320 KiB
//! (its hash tables are sized by the memory level, which flate2 fixes at 8),
//! and a zlib-rs decompressor about 47 KiB whatever the window (zlib-rs
//! always allocates a 32 KiB window). So:
//!
//! - by default the server declares `server_no_context_takeover` (RFC 7692
//!   §7.1.1.1 lets it): every message is compressed on its own, by a
//!   compressor borrowed from a per-thread pool and reset after the message,
//!   so a connection holds no compressor at all;
//! - a decompressor is made only when a compressed message arrives; when the
//!   client takes over no context it is reset per message and released on
//!   hibernation.
//!
//! Extra resident memory per connection in steady use, measured with
//! `cargo run --release -p ws-core --example deflate_memory` (1,000
//! connections, each after a 64 KiB message and hibernation):
//!
//! | permessage-deflate state | window bits | per connection |
//! |---|---|---|
//! | compressor, default: no server context takeover (pooled per thread) | 15 | 0.2 KiB |
//! | compressor, server takes over context | 9 / 12 / 15 | 197 / 211 / 323 KiB |
//! | decompressor, client takes over context (browsers' default) | 9-15 | 47 KiB |
//! | decompressor, client takes no context, after hibernation | any | 0.1 KiB |

use std::cell::RefCell;
use std::fmt;

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::handshake::ExtensionOffer;

/// The registered extension name (RFC 7692 §7).
pub const EXTENSION_NAME: &str = "permessage-deflate";

/// The empty stored block every sync flush ends with; stripped on send and
/// added back on receive (RFC 7692 §7.2.1, §7.2.2).
const SYNC_TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// What the server prefers when it accepts permessage-deflate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeflateConfig {
    /// Compression level 0-9 (0 stores, 9 compresses hardest). Default 1:
    /// most of the gain on JSON-like text for a fraction of the CPU.
    pub level: u32,
    /// The largest window the server compresses with, 8-15 bits. Lower
    /// windows save the client memory; zlib cannot compress with 8, so 8 is
    /// served with 9, whose longest distance (250 bytes) fits an 8-bit
    /// window. Default 15.
    pub server_max_window_bits: u8,
    /// The window the server asks the client to compress with when the
    /// client lets it choose (it offered `client_max_window_bits`). A smaller
    /// window saves the client memory and costs compression; the server's
    /// decompressor costs the same either way. Default 15.
    pub client_max_window_bits: u8,
    /// Compress every message on its own (the default): a little less
    /// compression on small similar messages, no compressor held per
    /// connection. When false, the server keeps one compressor per
    /// connection unless the client asks otherwise.
    pub server_no_context_takeover: bool,
    /// Ask the client to compress every message on its own, so the server
    /// keeps no decompressor between messages. Default false.
    pub client_no_context_takeover: bool,
    /// Messages shorter than this many bytes are sent uncompressed: the
    /// deflate framing would cost more than it saves. Default 64.
    pub threshold: usize,
}

impl Default for DeflateConfig {
    fn default() -> DeflateConfig {
        DeflateConfig {
            level: 1,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
            server_no_context_takeover: true,
            client_no_context_takeover: false,
            threshold: 64,
        }
    }
}

/// The parameters in force after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after every message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after every message, so the server
    /// may reset its decompressor.
    pub client_no_context_takeover: bool,
    /// The server's compression window, 8-15.
    pub server_max_window_bits: u8,
    /// The client's compression window (the server's decompression window), 8-15.
    pub client_max_window_bits: u8,
}

/// An accepted offer: the parameters in force and the response header value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The parameters both sides now use.
    pub params: DeflateParams,
    /// The `Sec-WebSocket-Extensions` value to answer with, naming exactly
    /// the parameters in force.
    pub response: String,
}

/// The parameters of one offer, checked (RFC 7692 §7.1).
#[derive(Debug, Default)]
struct Offer {
    server_no_context_takeover: bool,
    client_no_context_takeover: bool,
    server_max_window_bits: Option<u8>,
    /// `Some(None)`: offered without a value, the server may pick one.
    client_max_window_bits: Option<Option<u8>>,
}

/// Reads one offer; `None` declines it: an unknown or duplicate parameter, a
/// value where none belongs, or a window outside 8-15 (RFC 7692 §7.1:
/// "a server MUST decline an extension negotiation offer" with these).
fn parse_offer(offer: &ExtensionOffer) -> Option<Offer> {
    let mut parsed = Offer::default();
    let mut seen = [false; 4];
    for (name, value) in &offer.params {
        let slot = match name.as_str() {
            "server_no_context_takeover" => 0,
            "client_no_context_takeover" => 1,
            "server_max_window_bits" => 2,
            "client_max_window_bits" => 3,
            _ => return None,
        };
        let seen_before = seen.get_mut(slot)?;
        if *seen_before {
            return None;
        }
        *seen_before = true;
        match (slot, value.as_deref()) {
            (0, None) => parsed.server_no_context_takeover = true,
            (1, None) => parsed.client_no_context_takeover = true,
            (2, Some(bits)) => parsed.server_max_window_bits = Some(window_bits(bits)?),
            (3, None) => parsed.client_max_window_bits = Some(None),
            (3, Some(bits)) => parsed.client_max_window_bits = Some(Some(window_bits(bits)?)),
            _ => return None,
        }
    }
    Some(parsed)
}

/// A window size value: 1*DIGIT between 8 and 15, no leading zero (RFC 7692 §7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value
        .parse::<u8>()
        .ok()
        .filter(|bits| (8..=15).contains(bits))
}

/// Accepts the first permessage-deflate offer the server can honour
/// (RFC 7692 §5.1), or none. Offers of other extensions and offers that
/// break §7.1 are skipped; the handshake never fails because of an offer.
///
/// # Examples
///
/// ```
/// use ws_core::deflate::{negotiate, DeflateConfig};
/// use ws_core::handshake::parse_extensions;
///
/// let offers = parse_extensions("permessage-deflate; client_max_window_bits").unwrap();
/// let accepted = negotiate(&offers, &DeflateConfig::default()).unwrap();
/// assert_eq!(
///     accepted.response,
///     "permessage-deflate; server_no_context_takeover; client_max_window_bits=15"
/// );
/// ```
pub fn negotiate(offers: &[ExtensionOffer], config: &DeflateConfig) -> Option<Negotiated> {
    offers
        .iter()
        .filter(|offer| offer.name.eq_ignore_ascii_case(EXTENSION_NAME))
        .find_map(|offer| accept(&parse_offer(offer)?, config))
}

fn accept(offer: &Offer, config: &DeflateConfig) -> Option<Negotiated> {
    let ours = |bits: u8| bits.clamp(8, 15);
    // §7.1.1.1: a server that gets server_no_context_takeover MUST answer
    // with it; it may also add it on its own.
    let server_no_context_takeover =
        offer.server_no_context_takeover || config.server_no_context_takeover;
    // §7.1.1.2: the server may ask the client not to take over context.
    let client_no_context_takeover =
        config.client_no_context_takeover || offer.client_no_context_takeover;
    // §7.1.2.1: answer server_max_window_bits with the same or a smaller
    // value; when not offered, compress with any window (a smaller one is
    // always readable) and do not announce it.
    let (server_max_window_bits, announce_server_bits) = match offer.server_max_window_bits {
        Some(offered) => (offered.min(ours(config.server_max_window_bits)), true),
        None => (ours(config.server_max_window_bits), false),
    };
    // §7.1.2.2: without client_max_window_bits in the offer the response
    // MUST NOT have it and the client may use 15; with it, the server may
    // pick a value up to the offered one.
    let client_max_window_bits = match offer.client_max_window_bits {
        None => None,
        Some(None) => Some(ours(config.client_max_window_bits)),
        Some(Some(offered)) => Some(offered.min(ours(config.client_max_window_bits))),
    };
    let mut response = String::from(EXTENSION_NAME);
    if server_no_context_takeover {
        response.push_str("; server_no_context_takeover");
    }
    if client_no_context_takeover {
        response.push_str("; client_no_context_takeover");
    }
    if announce_server_bits {
        response.push_str(&format!(
            "; server_max_window_bits={server_max_window_bits}"
        ));
    }
    if let Some(bits) = client_max_window_bits {
        response.push_str(&format!("; client_max_window_bits={bits}"));
    }
    Some(Negotiated {
        params: DeflateParams {
            server_no_context_takeover,
            client_no_context_takeover,
            server_max_window_bits,
            client_max_window_bits: client_max_window_bits.unwrap_or(15),
        },
        response,
    })
}

/// Why a compressed message could not be inflated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InflateError {
    /// The data is not a valid deflate stream.
    Corrupt,
    /// The inflated message would exceed the limit.
    TooBig {
        /// The configured maximum.
        max: usize,
    },
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::Corrupt => f.write_str("compressed message is not valid deflate data"),
            InflateError::TooBig { max } => {
                write!(f, "inflated message exceeds the limit of {max} bytes")
            }
        }
    }
}

impl std::error::Error for InflateError {}

/// zlib's window for a negotiated size: 8 is served by 9 (see
/// [`DeflateConfig::server_max_window_bits`]).
fn zlib_bits(bits: u8) -> u8 {
    bits.clamp(9, 15)
}

/// The receive side: one decompressor, made on the first compressed message.
#[derive(Default)]
pub(crate) struct Inflater {
    state: Option<Decompress>,
}

impl fmt::Debug for Inflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Inflater")
            .field("allocated", &self.state.is_some())
            .finish()
    }
}

impl Inflater {
    /// Inflates `input` (one frame's payload, or the sync trailer) onto
    /// `out`, failing as soon as `out` would pass `max` bytes, so a bomb
    /// never holds more than the limit in memory.
    pub(crate) fn inflate(
        &mut self,
        input: &[u8],
        out: &mut BytesMut,
        max: usize,
        window_bits: u8,
    ) -> Result<(), InflateError> {
        let state = self
            .state
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, zlib_bits(window_bits)));
        let mut scratch = Vec::new();
        let mut consumed = 0;
        loop {
            let room = max.saturating_sub(out.len());
            // One byte more than the room left detects an overflow.
            let chunk = room.saturating_add(1).min(64 * 1024);
            scratch.clear();
            scratch.reserve(chunk);
            let before_in = state.total_in();
            let rest = input.get(consumed..).unwrap_or_default();
            let status = state
                .decompress_vec(rest, &mut scratch, FlushDecompress::Sync)
                .map_err(|_| InflateError::Corrupt)?;
            consumed += (state.total_in() - before_in) as usize;
            if scratch.len() > room {
                return Err(InflateError::TooBig { max });
            }
            out.extend_from_slice(&scratch);
            let output_full = scratch.len() == scratch.capacity();
            match status {
                // A block with BFINAL set ends the deflate stream; what
                // follows starts a new one (RFC 7692 §7.2.3.4).
                Status::StreamEnd => {
                    state.reset(false);
                    if consumed >= input.len() {
                        return Ok(());
                    }
                }
                _ if consumed >= input.len() && !output_full => return Ok(()),
                Status::BufError if !output_full => return Err(InflateError::Corrupt),
                _ => {}
            }
        }
    }

    /// Ends a message: resets for the next one when no context is taken
    /// over (the next message starts a fresh stream).
    pub(crate) fn end_message(&mut self, reset: bool) {
        if reset && let Some(state) = &mut self.state {
            state.reset(false);
        }
    }

    /// Releases the decompressor (hibernation, with no context takeover).
    pub(crate) fn release(&mut self) {
        self.state = None;
    }

    /// Whether a decompressor is held.
    pub(crate) fn is_allocated(&self) -> bool {
        self.state.is_some()
    }
}

thread_local! {
    /// Compressors for connections that take over no context, by (level,
    /// window): reset after each message, so any connection can use them.
    static POOL: RefCell<Vec<(u32, u8, Compress)>> = const { RefCell::new(Vec::new()) };
}

/// The send side.
#[derive(Default)]
pub(crate) struct Deflater {
    /// The connection's own compressor, when it takes over context.
    own: Option<Compress>,
}

impl fmt::Debug for Deflater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deflater")
            .field("allocated", &self.own.is_some())
            .finish()
    }
}

impl Deflater {
    /// Compresses one whole message: a sync-flushed raw deflate stream with
    /// the trailing `00 00 ff ff` removed (RFC 7692 §7.2.1).
    pub(crate) fn compress(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        level: u32,
        window_bits: u8,
        takeover: bool,
    ) {
        let bits = zlib_bits(window_bits);
        if takeover {
            let state = self.own.get_or_insert_with(|| {
                Compress::new_with_window_bits(Compression::new(level), false, bits)
            });
            compress_into(state, input, out);
            return;
        }
        let pooled = POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            let index = pool.iter().position(|(l, b, _)| *l == level && *b == bits);
            index.map(|index| pool.swap_remove(index).2)
        });
        let mut state = pooled.unwrap_or_else(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
        compress_into(&mut state, input, out);
        state.reset();
        POOL.with(|pool| {
            let mut pool = pool.borrow_mut();
            // A handful per thread covers every level and window in use.
            if pool.len() < 8 {
                pool.push((level, bits, state));
            }
        });
    }

    #[cfg(test)]
    pub(crate) fn is_allocated(&self) -> bool {
        self.own.is_some()
    }
}

fn compress_into(state: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    if input.is_empty() {
        // An empty message is one empty stored block, BFINAL=0, whose
        // trailing `00 00 ff ff` is removed: the single byte 0x00 (RFC 7692
        // §7.2.3.6). zlib would refuse a second sync flush with no input
        // in between and write nothing, which the peer cannot inflate.
        out.push(0x00);
        return;
    }
    let start_in = state.total_in();
    let start = out.len();
    loop {
        // Deflate can grow incompressible data slightly; reserve generously.
        out.reserve(input.len() / 2 + 64);
        let consumed = (state.total_in() - start_in) as usize;
        let rest = input.get(consumed..).unwrap_or_default();
        // Compressing into a Vec with room cannot fail for valid states.
        let _ = state.compress_vec(rest, out, FlushCompress::Sync);
        let done = (state.total_in() - start_in) as usize >= input.len();
        if done && out.len() < out.capacity() {
            break;
        }
    }
    if out.len() >= start + SYNC_TRAILER.len() && out.ends_with(&SYNC_TRAILER) {
        out.truncate(out.len() - SYNC_TRAILER.len());
    }
}

/// The sync trailer to feed after a message's last frame (RFC 7692 §7.2.2).
pub(crate) const fn sync_trailer() -> &'static [u8] {
    &SYNC_TRAILER
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::handshake::parse_extensions;

    fn response(header: &str) -> Option<String> {
        negotiate(
            &parse_extensions(header).unwrap(),
            &DeflateConfig::default(),
        )
        .map(|n| n.response)
    }

    fn params(header: &str, config: &DeflateConfig) -> Option<DeflateParams> {
        negotiate(&parse_extensions(header).unwrap(), config).map(|n| n.params)
    }

    fn inflate_all(frames: &[&[u8]], bits: u8) -> Result<Vec<u8>, InflateError> {
        let mut inflater = Inflater::default();
        let mut out = BytesMut::new();
        for frame in frames {
            inflater.inflate(frame, &mut out, 1 << 20, bits)?;
        }
        inflater.inflate(sync_trailer(), &mut out, 1 << 20, bits)?;
        Ok(out.to_vec())
    }

    #[test]
    fn rfc_7692_7_2_3_1_compressed_hello() {
        let wire = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_all(&[&wire], 15).unwrap(), b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_1_fragmented_compressed_hello() {
        let first = [0xf2, 0x48, 0xcd];
        let second = [0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_all(&[&first, &second], 15).unwrap(), b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_2_second_message_shares_the_window() {
        let mut inflater = Inflater::default();
        let mut out = BytesMut::new();
        for message in [
            &[0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00][..],
            &[0xf2, 0x00, 0x11, 0x00, 0x00][..],
        ] {
            out.clear();
            inflater.inflate(message, &mut out, 100, 15).unwrap();
            inflater.inflate(sync_trailer(), &mut out, 100, 15).unwrap();
            inflater.end_message(false);
            assert_eq!(&out[..], b"Hello");
        }
    }

    #[test]
    fn rfc_7692_7_2_3_3_no_compression_block() {
        let wire = [
            0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00,
        ];
        assert_eq!(inflate_all(&[&wire], 15).unwrap(), b"Hello");
    }

    #[test]
    fn rfc_7692_7_2_3_4_bfinal_set_block() {
        // "Hello" in a block with BFINAL set, then one octet starting an
        // empty stored block that the appended trailer completes.
        let wire = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(inflate_all(&[&wire], 15).unwrap(), b"Hello");
    }

    #[test]
    fn compressed_hello_matches_the_rfc_bytes() {
        let mut deflater = Deflater::default();
        let mut out = Vec::new();
        deflater.compress(b"Hello", &mut out, 6, 15, true);
        assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        // With context takeover, the second "Hello" refers back to the first.
        out.clear();
        deflater.compress(b"Hello", &mut out, 6, 15, true);
        assert_eq!(out, [0xf2, 0x00, 0x11, 0x00, 0x00]);
        assert!(deflater.is_allocated());
    }

    #[test]
    fn empty_messages_compress_to_one_empty_stored_block_even_with_context_takeover() {
        // Found by the deflate fuzz target: the second empty message under
        // context takeover came out empty and corrupted the ones after it.
        let mut deflater = Deflater::default();
        let mut inflater = Inflater::default();
        for message in [&b""[..], b"", b"", b"Hello", b"", b"Hello"] {
            let mut out = Vec::new();
            deflater.compress(message, &mut out, 7, 8, true);
            assert!(!out.is_empty());
            let mut inflated = BytesMut::new();
            inflater.inflate(&out, &mut inflated, 100, 8).unwrap();
            inflater
                .inflate(sync_trailer(), &mut inflated, 100, 8)
                .unwrap();
            assert_eq!(&inflated[..], message);
        }
    }

    #[test]
    fn pooled_compression_resets_between_messages() {
        let mut deflater = Deflater::default();
        for _ in 0..3 {
            let mut out = Vec::new();
            deflater.compress(b"Hello", &mut out, 6, 15, false);
            assert_eq!(out, [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
        }
        assert!(!deflater.is_allocated());
    }

    #[test]
    fn compress_then_inflate_roundtrips_at_every_window() {
        let text: Vec<u8> = (0..100_000u32)
            .flat_map(|i| format!("{{\"id\":{i},\"name\":\"user{}\"}}", i % 97).into_bytes())
            .take(200_000)
            .collect();
        for bits in 8..=15 {
            let mut deflater = Deflater::default();
            let mut out = Vec::new();
            deflater.compress(&text, &mut out, 6, bits, true);
            assert!(out.len() < text.len() / 4, "bits {bits}");
            let mut inflater = Inflater::default();
            let mut inflated = BytesMut::new();
            inflater
                .inflate(&out, &mut inflated, 1 << 20, bits)
                .unwrap();
            inflater
                .inflate(sync_trailer(), &mut inflated, 1 << 20, bits)
                .unwrap();
            assert_eq!(&inflated[..], &text[..], "bits {bits}");
        }
    }

    #[test]
    fn inflating_past_the_limit_stops_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        let mut out = Vec::new();
        Deflater::default().compress(&zeros, &mut out, 9, 15, false);
        assert!(out.len() < 2048);
        let mut inflater = Inflater::default();
        let mut inflated = BytesMut::new();
        let error = inflater.inflate(&out, &mut inflated, 1000, 15).unwrap_err();
        assert_eq!(error, InflateError::TooBig { max: 1000 });
        assert!(inflated.len() <= 1000);
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let mut inflater = Inflater::default();
        let mut out = BytesMut::new();
        // BTYPE=11 is reserved.
        assert_eq!(
            inflater.inflate(&[0xff, 0xff, 0xff], &mut out, 100, 15),
            Err(InflateError::Corrupt)
        );
    }

    #[test]
    fn negotiation_table() {
        let cases: &[(&str, Option<&str>)] = &[
            (
                "permessage-deflate",
                Some("permessage-deflate; server_no_context_takeover"),
            ),
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=15"),
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=10"),
            ),
            (
                "permessage-deflate; server_max_window_bits=9",
                Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=9"),
            ),
            (
                "permessage-deflate; server_max_window_bits=8; client_no_context_takeover",
                Some(
                    "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8",
                ),
            ),
            // Declined offers fall through to the next acceptable one.
            (
                "permessage-deflate; server_max_window_bits=16, permessage-deflate",
                Some("permessage-deflate; server_no_context_takeover"),
            ),
            ("permessage-deflate; server_max_window_bits", None),
            ("permessage-deflate; server_max_window_bits=7", None),
            ("permessage-deflate; server_max_window_bits=010", None),
            ("permessage-deflate; client_max_window_bits=16", None),
            ("permessage-deflate; server_no_context_takeover=1", None),
            ("permessage-deflate; unknown_parameter", None),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                None,
            ),
            (
                "permessage-deflate; client_max_window_bits=10; client_max_window_bits=11",
                None,
            ),
            ("x-webkit-deflate-frame", None),
            (
                "foo, permessage-deflate",
                Some("permessage-deflate; server_no_context_takeover"),
            ),
        ];
        for (offer, expected) in cases {
            assert_eq!(response(offer).as_deref(), *expected, "offer {offer:?}");
        }
    }

    #[test]
    fn context_takeover_is_kept_when_the_server_allows_it() {
        let config = DeflateConfig {
            server_no_context_takeover: false,
            ..DeflateConfig::default()
        };
        let kept = params("permessage-deflate", &config).unwrap();
        assert!(!kept.server_no_context_takeover);
        assert!(!kept.client_no_context_takeover);
        assert_eq!(
            (kept.server_max_window_bits, kept.client_max_window_bits),
            (15, 15)
        );
        // The client's request for no server context takeover is honoured.
        let asked = params("permessage-deflate; server_no_context_takeover", &config).unwrap();
        assert!(asked.server_no_context_takeover);
    }
}
