//! UTF-8 vectors for RFC 6455 §8.1, by class, after Markus Kuhn's decoder
//! stress test (the source of Autobahn's 6.x cases), and an oracle for
//! where a fail-fast validator must stop.
//!
//! Each vector says whether it is valid UTF-8 (RFC 3629); the table is also
//! checked against `std::str::from_utf8`, so a typo in it cannot pass.

/// One vector: a class name, the bytes, and whether they are valid UTF-8.
#[derive(Debug, Clone)]
pub struct Vector {
    pub class: &'static str,
    pub bytes: Vec<u8>,
    pub valid: bool,
}

fn v(class: &'static str, valid: bool, bytes: &[u8]) -> Vector {
    Vector {
        class,
        bytes: bytes.to_vec(),
        valid,
    }
}

/// "κόσμε" (U+03BA U+1F79 U+03C3 U+03BC U+03B5): 2- and 3-byte sequences.
pub const KOSME: &[u8] = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";

/// Every vector of the suite.
pub fn vectors() -> Vec<Vector> {
    let mut all = vec![
        // Some valid text.
        v("valid text", true, b"hello$world"),
        v("valid text", true, b"hello\xc2\xa2world"),
        v("valid text", true, b"hello\xe2\x82\xacworld"),
        v("valid text", true, b"hello\xf0\xa4\xad\xa2world"),
        v("valid text", true, KOSME),
        // First possible sequence of each length.
        v("first sequence of a length", true, b"\x00"),
        v("first sequence of a length", true, b"\xc2\x80"),
        v("first sequence of a length", true, b"\xe0\xa0\x80"),
        v("first sequence of a length", true, b"\xf0\x90\x80\x80"),
        v("5- and 6-byte forms", false, b"\xf8\x88\x80\x80\x80"),
        v("5- and 6-byte forms", false, b"\xfc\x84\x80\x80\x80\x80"),
        // Last possible sequence of each length.
        v("last sequence of a length", true, b"\x7f"),
        v("last sequence of a length", true, b"\xdf\xbf"),
        v("last sequence of a length", true, b"\xef\xbf\xbf"),
        v("last sequence of a length", true, b"\xf4\x8f\xbf\xbf"),
        v("above U+10FFFF", false, b"\xf7\xbf\xbf\xbf"),
        v("5- and 6-byte forms", false, b"\xfb\xbf\xbf\xbf\xbf"),
        v("5- and 6-byte forms", false, b"\xfd\xbf\xbf\xbf\xbf\xbf"),
        // Other boundaries.
        v("boundary", true, b"\xed\x9f\xbf"),
        v("boundary", true, b"\xee\x80\x80"),
        v("boundary", true, b"\xef\xbf\xbd"),
        v("boundary", true, b"\xf4\x8f\xbf\xbf"),
        v("above U+10FFFF", false, b"\xf4\x90\x80\x80"),
        v("above U+10FFFF", false, b"\xf5\x80\x80\x80"),
        // Unexpected continuation bytes.
        v("lone continuation", false, b"\x80"),
        v("lone continuation", false, b"\xbf"),
        v("lone continuation", false, b"\x80\xbf"),
        v("lone continuation", false, b"\x80\xbf\x80"),
        v("lone continuation", false, b"\x80\xbf\x80\xbf"),
        v("lone continuation", false, b"\x80\xbf\x80\xbf\x80"),
        v("lone continuation", false, b"\x80\xbf\x80\xbf\x80\xbf"),
        v("lone continuation", false, b"hello\x80world"),
        // Truncated sequences (last continuation byte missing), at the end.
        v("truncated at end", false, b"\xc2"),
        v("truncated at end", false, b"\xe0\xa0"),
        v("truncated at end", false, b"\xf0\x90\x80"),
        v("truncated at end", false, b"\xdf"),
        v("truncated at end", false, b"\xef\xbf"),
        v("truncated at end", false, b"\xf4\x8f\xbf"),
        v("truncated at end", false, b"hello\xce"),
        // Truncated sequences followed by more text.
        v("truncated inside", false, b"\xc2 "),
        v("truncated inside", false, b"\xe0\xa0 "),
        v("truncated inside", false, b"\xf0\x90\x80 "),
        v(
            "truncated inside",
            false,
            b"\xc0\xe0\x80\xf0\x80\x80\xdf\xef\xbf\xf7\xbf\xbf",
        ),
        // Impossible bytes.
        v("impossible byte", false, b"\xfe"),
        v("impossible byte", false, b"\xff"),
        v("impossible byte", false, b"\xfe\xfe\xff\xff"),
        v("impossible byte", false, b"hello\xffworld"),
        // Overlong forms.
        v("overlong", false, b"\xc0\xaf"),
        v("overlong", false, b"\xe0\x80\xaf"),
        v("overlong", false, b"\xf0\x80\x80\xaf"),
        v("overlong", false, b"\xf8\x80\x80\x80\xaf"),
        v("overlong", false, b"\xfc\x80\x80\x80\x80\xaf"),
        v("overlong", false, b"\xc1\xbf"),
        v("overlong", false, b"\xe0\x9f\xbf"),
        v("overlong", false, b"\xf0\x8f\xbf\xbf"),
        v("overlong", false, b"\xc0\x80"),
        v("overlong", false, b"\xe0\x80\x80"),
        v("overlong", false, b"\xf0\x80\x80\x80"),
        // UTF-16 surrogates, single and paired.
        v("surrogate", false, b"\xed\xa0\x80"),
        v("surrogate", false, b"\xed\xad\xbf"),
        v("surrogate", false, b"\xed\xae\x80"),
        v("surrogate", false, b"\xed\xaf\xbf"),
        v("surrogate", false, b"\xed\xb0\x80"),
        v("surrogate", false, b"\xed\xbe\x80"),
        v("surrogate", false, b"\xed\xbf\xbf"),
        v("surrogate", false, b"\xed\xa0\x80\xed\xb0\x80"),
        v("surrogate", false, b"\xed\xad\xbf\xed\xbf\xbf"),
        v("surrogate", false, b"\xed\xaf\xbf\xed\xb0\x80"),
        v("surrogate", false, b"edited\xed\xa0\x80edited"),
        // Noncharacters and specials are valid UTF-8.
        v("noncharacter", true, b"\xef\xbf\xbe"),
        v("noncharacter", true, b"\xef\xbf\xbf"),
        v("noncharacter", true, b"\xf0\x9f\xbf\xbe"),
        v("noncharacter", true, b"\xf4\x8f\xbf\xbf"),
        v("noncharacter", true, b"\xef\xb7\x90"),
        v(
            "special",
            true,
            b"\xef\xbf\xb9\xef\xbf\xba\xef\xbf\xbb\xef\xbf\xbc",
        ),
        // Autobahn 6.3: "κόσμε-edited" with a surrogate inside.
        v(
            "surrogate",
            false,
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
        ),
    ];
    // Lonely start bytes, each followed by a space.
    for (first, last) in [
        (0xc0u8, 0xdfu8),
        (0xe0, 0xef),
        (0xf0, 0xf7),
        (0xf8, 0xfb),
        (0xfc, 0xfd),
    ] {
        let bytes: Vec<u8> = (first..=last).flat_map(|b| [b, b' ']).collect();
        all.push(Vector {
            class: "lonely start byte",
            bytes,
            valid: false,
        });
    }
    // Every continuation byte alone.
    all.push(Vector {
        class: "lone continuation",
        bytes: (0x80u8..=0xbf).collect(),
        valid: false,
    });
    // Every prefix of "κόσμε": valid only when it ends on a code point.
    for end in 1..=KOSME.len() {
        let bytes = KOSME[..end].to_vec();
        let valid = std::str::from_utf8(&bytes).is_ok();
        all.push(Vector {
            class: if valid {
                "prefix of κόσμε"
            } else {
                "truncated at end"
            },
            bytes,
            valid,
        });
    }
    // One vector per plane boundary code point, valid.
    for c in [
        '\u{7f}',
        '\u{80}',
        '\u{7ff}',
        '\u{800}',
        '\u{d7ff}',
        '\u{e000}',
        '\u{fffd}',
        '\u{10000}',
        '\u{10ffff}',
    ] {
        all.push(Vector {
            class: "code point boundary",
            bytes: c.to_string().into_bytes(),
            valid: true,
        });
    }
    for vector in &all {
        assert_eq!(
            std::str::from_utf8(&vector.bytes).is_ok(),
            vector.valid,
            "the table is wrong about {vector:?}"
        );
    }
    all
}

/// Where a validator that fails fast must stop on `bytes`: the index of
/// the first byte after which no continuation can make the text valid, or
/// `None` when the bytes are valid or only cut short at the end (then the
/// failure can only come with the end of the message).
pub fn first_invalid_byte(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find(|&end| match std::str::from_utf8(&bytes[..=end]) {
        Ok(_) => false,
        Err(error) => error.error_len().is_some(),
    })
}
