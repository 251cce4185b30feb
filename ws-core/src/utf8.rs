//! Incremental UTF-8 validation (RFC 6455 §8.1).
//!
//! "When an endpoint is to interpret a byte stream as UTF-8 but finds that the
//! byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST Fail
//! the WebSocket Connection" (§8.1). Text arrives in fragments and in pieces of
//! frames, so the validator keeps the few bytes of a code point cut by a
//! boundary and fails on the first byte that cannot start or continue a valid
//! sequence, without waiting for the message to end.

/// The state of validating one text stream (a message or a close reason).
#[derive(Debug, Clone, Default)]
pub struct Utf8Validator {
    /// Bytes of a code point cut at the end of the last piece (at most 3).
    partial: [u8; 4],
    partial_len: u8,
}

/// The stream is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidUtf8;

impl std::fmt::Display for InvalidUtf8 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("invalid UTF-8 in a text message or close reason")
    }
}

impl std::error::Error for InvalidUtf8 {}

impl Utf8Validator {
    /// A validator at the start of a stream.
    pub fn new() -> Utf8Validator {
        Utf8Validator::default()
    }

    /// Validates the next piece of the stream. Fails as soon as `piece`
    /// holds a byte that no valid continuation could follow.
    ///
    /// # Examples
    ///
    /// ```
    /// use ws_core::utf8::Utf8Validator;
    ///
    /// let euro = "€".as_bytes(); // e2 82 ac, cut across two pieces
    /// let mut v = Utf8Validator::new();
    /// v.feed(&euro[..1]).unwrap();
    /// v.feed(&euro[1..]).unwrap();
    /// v.finish().unwrap();
    ///
    /// // 0xC0 can never appear in UTF-8: fails at once, mid-stream.
    /// assert!(Utf8Validator::new().feed(b"ok\xc0").is_err());
    /// ```
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<(), InvalidUtf8> {
        if self.partial_len > 0 {
            piece = self.complete_partial(piece)?;
            if self.partial_len > 0 {
                return Ok(());
            }
        }
        if simdutf8::basic::from_utf8(piece).is_ok() {
            return Ok(());
        }
        match simdutf8::compat::from_utf8(piece) {
            Ok(_) => Ok(()),
            // `error_len() == None`: the piece ends inside a code point that
            // is still a valid prefix; keep it for the next piece.
            Err(err) if err.error_len().is_none() => {
                let tail = piece.get(err.valid_up_to()..).ok_or(InvalidUtf8)?;
                self.store_partial(tail)
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    /// Ends the stream: a stream that stops inside a code point is invalid.
    pub fn finish(&self) -> Result<(), InvalidUtf8> {
        if self.partial_len == 0 {
            Ok(())
        } else {
            Err(InvalidUtf8)
        }
    }

    /// Starts over for a new stream.
    pub fn reset(&mut self) {
        self.partial_len = 0;
    }

    /// Feeds bytes of `piece` into the kept partial code point; returns the
    /// rest of `piece` once the code point is complete and valid.
    fn complete_partial<'a>(&mut self, piece: &'a [u8]) -> Result<&'a [u8], InvalidUtf8> {
        let have = usize::from(self.partial_len);
        let lead = self.partial.first().copied().ok_or(InvalidUtf8)?;
        let need = sequence_len(lead).ok_or(InvalidUtf8)?;
        let take = (need - have).min(piece.len());
        let (head, rest) = piece.split_at(take);
        let total = have + take;
        self.partial
            .get_mut(have..total)
            .ok_or(InvalidUtf8)?
            .copy_from_slice(head);
        let bytes = self.partial.get(..total).ok_or(InvalidUtf8)?;
        match std::str::from_utf8(bytes) {
            Ok(_) => {
                self.partial_len = 0;
                Ok(rest)
            }
            Err(err) if err.error_len().is_none() && total < need => {
                self.partial_len = total as u8;
                Ok(rest)
            }
            Err(_) => Err(InvalidUtf8),
        }
    }

    fn store_partial(&mut self, tail: &[u8]) -> Result<(), InvalidUtf8> {
        let slot = self.partial.get_mut(..tail.len()).ok_or(InvalidUtf8)?;
        slot.copy_from_slice(tail);
        self.partial_len = tail.len() as u8;
        Ok(())
    }
}

/// The length of the sequence a lead byte starts, if it can start one.
fn sequence_len(lead: u8) -> Option<usize> {
    match lead {
        0xC2..=0xDF => Some(2),
        0xE0..=0xEF => Some(3),
        0xF0..=0xF4 => Some(4),
        _ => None,
    }
}

/// Validates a whole byte string at once (close reasons, whole messages).
pub fn validate(bytes: &[u8]) -> Result<&str, InvalidUtf8> {
    simdutf8::basic::from_utf8(bytes).map_err(|_| InvalidUtf8)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn valid_in_every_split(bytes: &[u8]) -> bool {
        let whole = std::str::from_utf8(bytes).is_ok();
        for cut in 0..=bytes.len() {
            for cut2 in cut..=bytes.len() {
                let mut v = Utf8Validator::new();
                let result = v
                    .feed(&bytes[..cut])
                    .and_then(|()| v.feed(&bytes[cut..cut2]))
                    .and_then(|()| v.feed(&bytes[cut2..]))
                    .and_then(|()| v.finish());
                assert_eq!(result.is_ok(), whole, "{bytes:x?} cut at {cut}, {cut2}");
            }
        }
        whole
    }

    #[test]
    fn agrees_with_std_on_every_split_of_tricky_sequences() {
        let cases: &[&[u8]] = &[
            "κόσμε".as_bytes(),
            "€𝄞a".as_bytes(),
            b"\xed\x9f\xbf",     // U+D7FF, last before the surrogates
            b"\xed\xa0\x80",     // U+D800 surrogate: invalid
            b"\xf4\x8f\xbf\xbf", // U+10FFFF, the last code point
            b"\xf4\x90\x80\x80", // above U+10FFFF: invalid
            b"\xc0\xaf",         // overlong '/': invalid
            b"\xe0\x80\xaf",     // overlong: invalid
            b"\xf8\x88\x80\x80\x80",
            b"\xce\xba\xe1\xbd", // ends inside a code point: invalid
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64", // Autobahn 6.4.1
            b"",
        ];
        for case in cases {
            valid_in_every_split(case);
        }
    }

    #[test]
    fn fails_fast_on_the_first_invalid_byte() {
        // Autobahn 6.4.x: the invalid byte arrives before the message ends.
        let mut v = Utf8Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert_eq!(v.feed(b"\xf4\x90"), Err(InvalidUtf8));

        let mut v = Utf8Validator::new();
        v.feed(b"\xf4").unwrap();
        assert_eq!(v.feed(b"\x90"), Err(InvalidUtf8));
    }

    #[test]
    fn a_stream_ending_inside_a_code_point_is_invalid() {
        let mut v = Utf8Validator::new();
        v.feed(b"ab\xe2\x82").unwrap();
        assert_eq!(v.finish(), Err(InvalidUtf8));
        v.reset();
        assert_eq!(v.finish(), Ok(()));
    }

    #[test]
    fn every_two_byte_sequence_agrees_with_std() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let bytes = [a, b];
                let mut v = Utf8Validator::new();
                let split = v
                    .feed(&bytes[..1])
                    .and_then(|()| v.feed(&bytes[1..]))
                    .and_then(|()| v.finish());
                assert_eq!(split.is_ok(), std::str::from_utf8(&bytes).is_ok());
            }
        }
    }
}
