//! An independent permessage-deflate codec for the conformance suite,
//! written from RFC 1951 and RFC 7692 and sharing no code with ws-core, so
//! a bug in lariat's codec cannot cancel out against the same bug here.
//!
//! [`Inflater`] decodes what the server sends and checks the RFC 7692 rules
//! the server promised in its handshake answer: no back-reference farther
//! than its `server_max_window_bits` window (§7.1.2.1), none into an earlier
//! message under `server_no_context_takeover` (§7.1.1.1), and every message
//! ending on an empty stored block whose `00 00 ff ff` was removed
//! (§7.2.1). [`Deflater`] compresses what the client sends: fixed-Huffman
//! LZ77 with distances up to exactly the negotiated window, reaching into
//! earlier messages when context takeover is in force, so the server's
//! decompressor is exercised at its limits.

/// The tail of a sync flush: removed by the sender, appended by the
/// receiver (RFC 7692 §7.2.1, §7.2.2).
pub const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The largest window DEFLATE has: 32 KiB (RFC 1951 §2).
const MAX_WINDOW: usize = 1 << 15;

/// RFC 1951 §3.2.5: base lengths of length codes 257..285 and their extra bits.
const LENGTH_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LENGTH_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// RFC 1951 §3.2.5: base distances of distance codes 0..29 and their extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// RFC 1951 §3.2.7: the order code length code lengths are sent in.
const CODE_LENGTH_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

// ---------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------

/// Reads bits least significant first (RFC 1951 §3.1.1).
struct BitReader<'a> {
    data: &'a [u8],
    pos: usize,
    bit: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> BitReader<'a> {
        BitReader {
            data,
            pos: 0,
            bit: 0,
        }
    }

    fn bit(&mut self) -> Result<u32, String> {
        let byte = *self
            .data
            .get(self.pos)
            .ok_or("the deflate data ends in the middle of a block")?;
        let value = u32::from(byte >> self.bit) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.pos += 1;
        }
        Ok(value)
    }

    fn bits(&mut self, count: u32) -> Result<u32, String> {
        let mut value = 0;
        for i in 0..count {
            value |= self.bit()? << i;
        }
        Ok(value)
    }

    fn align(&mut self) {
        if self.bit != 0 {
            self.bit = 0;
            self.pos += 1;
        }
    }

    fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or_default()
    }
}

/// A canonical Huffman code (RFC 1951 §3.2.2), decoded one bit at a time.
struct Huffman {
    counts: [u16; 16],
    symbols: Vec<u16>,
}

impl Huffman {
    fn new(lengths: &[u8]) -> Result<Huffman, String> {
        let mut counts = [0u16; 16];
        for &len in lengths {
            counts[usize::from(len)] += 1;
        }
        counts[0] = 0;
        let mut left: i32 = 1;
        for &count in counts.iter().skip(1) {
            left = (left << 1) - i32::from(count);
            if left < 0 {
                return Err("over-subscribed Huffman code".to_owned());
            }
        }
        let mut offsets = [0u16; 16];
        for len in 1..15 {
            offsets[len + 1] = offsets[len] + counts[len];
        }
        let mut symbols = vec![0u16; lengths.len()];
        for (symbol, &len) in lengths.iter().enumerate() {
            if len != 0 {
                let slot = &mut offsets[usize::from(len)];
                symbols[usize::from(*slot)] = symbol as u16;
                *slot += 1;
            }
        }
        Ok(Huffman { counts, symbols })
    }

    fn decode(&self, bits: &mut BitReader<'_>) -> Result<u16, String> {
        let (mut code, mut first, mut index) = (0i32, 0i32, 0i32);
        for len in 1..16 {
            code |= bits.bit()? as i32;
            let count = i32::from(self.counts[len]);
            if code - count < first {
                return Ok(self.symbols[(index + code - first) as usize]);
            }
            index += count;
            first = (first + count) << 1;
            code <<= 1;
        }
        Err("invalid Huffman code".to_owned())
    }
}

fn fixed_codes() -> (Huffman, Huffman) {
    let mut lengths = [0u8; 288];
    for (symbol, len) in lengths.iter_mut().enumerate() {
        *len = match symbol {
            0..=143 => 8,
            144..=255 => 9,
            256..=279 => 7,
            _ => 8,
        };
    }
    let literal = Huffman::new(&lengths).expect("the fixed literal code");
    let distance = Huffman::new(&[5u8; 30]).expect("the fixed distance code");
    (literal, distance)
}

fn dynamic_codes(bits: &mut BitReader<'_>) -> Result<(Huffman, Huffman), String> {
    let literals = bits.bits(5)? as usize + 257;
    let distances = bits.bits(5)? as usize + 1;
    let code_lengths = bits.bits(4)? as usize + 4;
    if literals > 286 || distances > 30 {
        return Err("too many length or distance codes".to_owned());
    }
    let mut lengths = [0u8; 19];
    for &slot in CODE_LENGTH_ORDER.iter().take(code_lengths) {
        lengths[slot] = bits.bits(3)? as u8;
    }
    let code = Huffman::new(&lengths)?;
    let mut all = Vec::with_capacity(literals + distances);
    while all.len() < literals + distances {
        let symbol = code.decode(bits)?;
        let (value, repeat) = match symbol {
            0..=15 => (symbol as u8, 1),
            16 => (
                *all.last().ok_or("repeat with no previous length")?,
                3 + bits.bits(2)?,
            ),
            17 => (0, 3 + bits.bits(3)?),
            _ => (0, 11 + bits.bits(7)?),
        };
        for _ in 0..repeat {
            all.push(value);
        }
    }
    if all.len() != literals + distances {
        return Err("code lengths overrun the table".to_owned());
    }
    if all[256] == 0 {
        return Err("no end-of-block code".to_owned());
    }
    Ok((
        Huffman::new(&all[..literals])?,
        Huffman::new(&all[literals..])?,
    ))
}

/// The receive side of one permessage-deflate direction, with the rules
/// the sender agreed to.
#[derive(Debug)]
pub struct Inflater {
    /// The sender's window (its `*_max_window_bits`, 15 when not negotiated).
    pub window_bits: u8,
    /// Whether the sender may refer to earlier messages.
    pub takeover: bool,
    /// The last bytes of earlier messages, when context is taken over.
    history: Vec<u8>,
    /// The farthest back-reference seen so far.
    pub max_distance: usize,
}

impl Inflater {
    /// A decoder for a sender bound to `window_bits` and `takeover`.
    pub fn new(window_bits: u8, takeover: bool) -> Inflater {
        Inflater {
            window_bits,
            takeover,
            history: Vec::new(),
            max_distance: 0,
        }
    }

    /// Decodes one whole message (its frames' payloads joined), appending
    /// the trailer first (RFC 7692 §7.2.2). Fails on corrupt data, on a
    /// back-reference beyond the window or (without context takeover) into
    /// an earlier message, and on data that does not end on the flush.
    pub fn message(&mut self, payload: &[u8]) -> Result<Vec<u8>, String> {
        let mut data = payload.to_vec();
        data.extend_from_slice(&TRAILER);
        if !self.takeover {
            self.history.clear();
        }
        let start = self.history.len();
        let mut out = std::mem::take(&mut self.history);
        let mut bits = BitReader::new(&data);
        let (fixed_literal, fixed_distance) = fixed_codes();
        loop {
            let last = bits.bit()?;
            match bits.bits(2)? {
                0 => {
                    bits.align();
                    let rest = bits.rest();
                    if rest.len() < 4 {
                        return Err("stored block header cut short".to_owned());
                    }
                    let len = usize::from(u16::from_le_bytes([rest[0], rest[1]]));
                    let nlen = u16::from_le_bytes([rest[2], rest[3]]);
                    if nlen != !(len as u16) {
                        return Err("stored block LEN and NLEN disagree".to_owned());
                    }
                    let stored = rest
                        .get(4..4 + len)
                        .ok_or("stored block longer than the data")?;
                    out.extend_from_slice(stored);
                    bits.pos += 4 + len;
                }
                1 => self.codes(&mut bits, &mut out, start, &fixed_literal, &fixed_distance)?,
                2 => {
                    let (literal, distance) = dynamic_codes(&mut bits)?;
                    self.codes(&mut bits, &mut out, start, &literal, &distance)?;
                }
                _ => return Err("reserved block type 11".to_owned()),
            }
            if last == 1 {
                // A final block ends the stream (RFC 7692 §7.2.3.4); what
                // follows, if anything, is the appended trailer or a new one.
                bits.align();
                let rest = bits.rest();
                if rest.is_empty() || rest == TRAILER {
                    break;
                }
            } else if bits.bit == 0 && bits.pos == data.len() {
                break;
            }
        }
        let message = out.get(start..).unwrap_or_default().to_vec();
        if self.takeover {
            let keep = out.len().saturating_sub(MAX_WINDOW);
            out.drain(..keep);
            self.history = out;
        }
        Ok(message)
    }

    fn codes(
        &mut self,
        bits: &mut BitReader<'_>,
        out: &mut Vec<u8>,
        start: usize,
        literal: &Huffman,
        distance: &Huffman,
    ) -> Result<(), String> {
        loop {
            let symbol = literal.decode(bits)?;
            match symbol {
                0..=255 => out.push(symbol as u8),
                256 => return Ok(()),
                257..=285 => {
                    let index = usize::from(symbol - 257);
                    let len = usize::from(LENGTH_BASE[index])
                        + bits.bits(u32::from(LENGTH_EXTRA[index]))? as usize;
                    let code = usize::from(distance.decode(bits)?);
                    if code >= 30 {
                        return Err(format!("invalid distance code {code}"));
                    }
                    let dist = usize::from(DIST_BASE[code])
                        + bits.bits(u32::from(DIST_EXTRA[code]))? as usize;
                    self.max_distance = self.max_distance.max(dist);
                    if dist > 1 << self.window_bits {
                        return Err(format!(
                            "back-reference {dist} bytes back, beyond the {}-bit window the \
                             sender agreed to",
                            self.window_bits
                        ));
                    }
                    let reachable = if self.takeover {
                        out.len()
                    } else {
                        out.len() - start
                    };
                    if dist > reachable {
                        return Err(format!(
                            "back-reference {dist} bytes back with only {reachable} bytes \
                             reachable (into an earlier message without context takeover?)"
                        ));
                    }
                    for _ in 0..len {
                        out.push(out[out.len() - dist]);
                    }
                }
                _ => return Err(format!("invalid literal/length symbol {symbol}")),
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------

/// Writes bits least significant first; Huffman codes most significant first.
#[derive(Debug, Default)]
pub struct BitWriter {
    out: Vec<u8>,
    acc: u32,
    count: u32,
}

impl BitWriter {
    /// Writes the low `count` bits of `value`.
    pub fn put(&mut self, value: u32, count: u32) {
        for i in 0..count {
            self.acc |= ((value >> i) & 1) << self.count;
            self.count += 1;
            if self.count == 8 {
                self.out.push(self.acc as u8);
                self.acc = 0;
                self.count = 0;
            }
        }
    }

    /// Writes a Huffman code of `len` bits, its first bit the most significant.
    pub fn code(&mut self, code: u32, len: u32) {
        for i in (0..len).rev() {
            self.put((code >> i) & 1, 1);
        }
    }

    /// Pads to a byte boundary with zero bits.
    pub fn align(&mut self) {
        if self.count != 0 {
            self.out.push(self.acc as u8);
            self.acc = 0;
            self.count = 0;
        }
    }

    /// The bytes written (call after `align`).
    pub fn finish(mut self) -> Vec<u8> {
        self.align();
        self.out
    }

    /// A block header: BFINAL and BTYPE (0 stored, 1 fixed, 2 dynamic).
    pub fn block(&mut self, last: bool, kind: u32) {
        self.put(u32::from(last), 1);
        self.put(kind, 2);
    }

    /// One literal with the fixed code (RFC 1951 §3.2.6).
    pub fn literal(&mut self, byte: u8) {
        self.symbol(u16::from(byte));
    }

    /// The end of a fixed-code block.
    pub fn end_of_block(&mut self) {
        self.symbol(256);
    }

    fn symbol(&mut self, symbol: u16) {
        let symbol = u32::from(symbol);
        match symbol {
            0..=143 => self.code(0x30 + symbol, 8),
            144..=255 => self.code(0x190 + symbol - 144, 9),
            256..=279 => self.code(symbol - 256, 7),
            _ => self.code(0xc0 + symbol - 280, 8),
        }
    }

    /// A back-reference with the fixed code: `len` 3..=258, `dist` 1..=32768.
    pub fn back_reference(&mut self, len: usize, dist: usize) {
        assert!((3..=258).contains(&len) && (1..=MAX_WINDOW).contains(&dist));
        let index = LENGTH_BASE
            .iter()
            .rposition(|&base| usize::from(base) <= len)
            .unwrap();
        self.symbol(257 + index as u16);
        self.put(
            (len - usize::from(LENGTH_BASE[index])) as u32,
            u32::from(LENGTH_EXTRA[index]),
        );
        let code = DIST_BASE
            .iter()
            .rposition(|&base| usize::from(base) <= dist)
            .unwrap();
        self.code(code as u32, 5);
        self.put(
            (dist - usize::from(DIST_BASE[code])) as u32,
            u32::from(DIST_EXTRA[code]),
        );
    }

    /// A sync flush with its trailer removed: an empty stored block's header,
    /// then padding (RFC 7692 §7.2.1). Returns the message's payload.
    pub fn sync_flush_without_trailer(mut self) -> Vec<u8> {
        self.block(false, 0);
        self.finish()
    }
}

/// The send side of one permessage-deflate direction: greedy LZ77 over the
/// agreed window, fixed Huffman codes, one sync-flushed block per message.
#[derive(Debug)]
pub struct Deflater {
    /// Our window (the negotiated `client_max_window_bits`, else 15).
    pub window_bits: u8,
    /// Whether we may refer to earlier messages (no `client_no_context_takeover`).
    pub takeover: bool,
    history: Vec<u8>,
}

impl Deflater {
    /// A compressor bound to `window_bits` and `takeover`.
    pub fn new(window_bits: u8, takeover: bool) -> Deflater {
        Deflater {
            window_bits,
            takeover,
            history: Vec::new(),
        }
    }

    /// Compresses one message; its payload, trailer removed.
    pub fn message(&mut self, data: &[u8]) -> Vec<u8> {
        let window = 1usize << self.window_bits;
        let history: &[u8] = if self.takeover {
            &self.history[self.history.len().saturating_sub(window)..]
        } else {
            &[]
        };
        let start = history.len();
        let mut buf = Vec::with_capacity(start + data.len());
        buf.extend_from_slice(history);
        buf.extend_from_slice(data);
        let mut w = BitWriter::default();
        if !data.is_empty() {
            w.block(false, 1);
            let mut head = vec![usize::MAX; 1 << 15];
            let hash = |i: usize| {
                ((usize::from(buf[i]) << 10)
                    ^ (usize::from(buf[i + 1]) << 5)
                    ^ usize::from(buf[i + 2]))
                    & 0x7fff
            };
            for i in 0..start.saturating_sub(2) {
                head[hash(i)] = i;
            }
            let mut i = start;
            while i < buf.len() {
                let mut best = (0, 0);
                if i + 3 <= buf.len() {
                    let h = hash(i);
                    let candidate = head[h];
                    head[h] = i;
                    if candidate != usize::MAX && i - candidate <= window {
                        let limit = (buf.len() - i).min(258);
                        let len = (0..limit)
                            .take_while(|&k| buf[candidate + k] == buf[i + k])
                            .count();
                        if len >= 3 {
                            best = (len, i - candidate);
                        }
                    }
                }
                if best.0 >= 3 {
                    w.back_reference(best.0, best.1);
                    // Index a few positions inside short matches; long runs
                    // are found again from their start.
                    if best.0 < 16 {
                        for j in i + 1..(i + best.0).min(buf.len().saturating_sub(2)) {
                            head[hash(j)] = j;
                        }
                    }
                    i += best.0;
                } else {
                    w.literal(buf[i]);
                    i += 1;
                }
            }
            w.end_of_block();
        }
        if self.takeover {
            self.history.extend_from_slice(data);
            let keep = self.history.len().saturating_sub(MAX_WINDOW);
            self.history.drain(..keep);
        }
        w.sync_flush_without_trailer()
    }
}

/// `data` in stored (uncompressed) blocks, sync-flushed, trailer removed
/// (RFC 7692 §7.2.3.3): a compressed message anyone can write by hand.
pub fn stored(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for chunk in data.chunks(65535) {
        out.push(0x00);
        let len = chunk.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.push(0x00);
    out
}

/// A message made of `prefix` literally and then `len` bytes copied from
/// `dist` bytes back (which may reach into earlier messages): the exact
/// back-reference a test wants the server to resolve.
pub fn literals_then_reference(prefix: &[u8], len: usize, dist: usize) -> Vec<u8> {
    let mut w = BitWriter::default();
    w.block(false, 1);
    for &byte in prefix {
        w.literal(byte);
    }
    let mut left = len;
    while left > 0 {
        // Never leave a tail shorter than a back-reference can carry.
        let take = if left > 258 && left - 258 < 3 {
            left - 3
        } else {
            left.min(258)
        };
        w.back_reference(take, dist);
        left -= take;
    }
    w.end_of_block();
    w.sync_flush_without_trailer()
}
