//! Payload masking (RFC 6455 §5.3).
//!
//! Masking XORs every payload byte with the 4-byte key, cycling; unmasking is
//! the same operation. It touches every byte of every client frame, so it
//! works a machine word (8 bytes) at a time over a chunk of four words that
//! the compiler turns into vector instructions, with no `unsafe`.

/// XORs `data` with `key`, as if `data` started `offset` bytes into the
/// payload (so a payload can be unmasked piece by piece as it arrives).
///
/// # Examples
///
/// ```
/// use ws_core::mask::apply_mask;
///
/// // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
/// let mut data = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
/// apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
/// assert_eq!(&data, b"Hello");
/// ```
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    // The key twice over, built from one 32-bit load: both halves are equal,
    // so the word is the same in either byte order.
    let half = u64::from(u32::from_ne_bytes(key));
    let word = half << 32 | half;
    // Each chunk starts a multiple of 32 bytes in, so the key phase is the same
    // at the start of every chunk and of the tail.
    let mut chunks = data.chunks_exact_mut(32);
    for chunk in &mut chunks {
        for lane in chunk.chunks_exact_mut(8) {
            xor_lane(lane, word);
        }
    }
    // The tail of every frame, and all of a small one: still a word at a time.
    let mut lanes = chunks.into_remainder().chunks_exact_mut(8);
    for lane in &mut lanes {
        xor_lane(lane, word);
    }
    // Fewer than 8 bytes left, still in phase with the key: four at once,
    // then the last few one by one.
    let rest = lanes.into_remainder();
    let bytes = if rest.len() >= 4 {
        let (quad, bytes) = rest.split_at_mut(4);
        xor_bytes(quad, key);
        bytes
    } else {
        rest
    };
    xor_bytes(bytes, key);
}

/// XORs up to four bytes with the key's first bytes.
fn xor_bytes(bytes: &mut [u8], key: [u8; 4]) {
    for (byte, key_byte) in bytes.iter_mut().zip(key) {
        *byte ^= key_byte;
    }
}

/// XORs an 8-byte lane with the key repeated twice.
fn xor_lane(lane: &mut [u8], word: u64) {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(lane);
    lane.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
}

/// The key as seen from `offset` bytes into the payload.
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    // Starting n bytes in is the array rotated left by n: in little-endian
    // order, the word rotated right by 8n bits (a single instruction).
    let bits = 8 * (offset % 4) as u32;
    u32::from_le_bytes(key).rotate_right(bits).to_le_bytes()
}

/// The byte-at-a-time definition of §5.3, kept as the reference the fast
/// version is tested and benchmarked against.
#[doc(hidden)]
pub fn apply_mask_bytewise(data: &mut [u8], key: [u8; 4], offset: usize) {
    // "octet i of the transformed data is the XOR of octet i of the
    // original data with octet at index i modulo 4 of the masking key",
    // with i counted from the payload's start.
    let key_bytes = key.iter().cycle().skip(offset % 4);
    for (byte, key_byte) in data.iter_mut().zip(key_bytes) {
        *byte ^= key_byte;
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn rfc_5_7_masked_hello() {
        let mut data = *b"Hello";
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn word_masking_matches_the_rfc_definition_at_every_length_and_offset() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        for len in 0..200 {
            for offset in 0..8 {
                let original: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
                let mut fast = original.clone();
                let mut slow = original.clone();
                apply_mask(&mut fast, key, offset);
                apply_mask_bytewise(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [1, 2, 3, 4];
        let original: Vec<u8> = (0..1000).map(|i| i as u8).collect();
        let mut whole = original.clone();
        apply_mask(&mut whole, key, 0);
        let mut pieces = original;
        let mut at = 0;
        for size in [1, 3, 5, 64, 100, 7, 820] {
            apply_mask(&mut pieces[at..at + size], key, at);
            at += size;
        }
        assert_eq!(whole, pieces);
    }
}
