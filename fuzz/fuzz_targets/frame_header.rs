//! `FrameHeader::parse` on arbitrary bytes: never panics, never claims more
//! bytes than it was given, and every header it returns survives
//! encode → parse unchanged (the encoding is minimal, so the header values
//! are compared, not the bytes).

#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_core::ProtocolError;
use ws_core::frame::{FrameHeader, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let (header, consumed) = match FrameHeader::parse(data) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            // "Needs more bytes" is only possible for a short buffer.
            assert!(
                data.len() < MAX_HEADER_LEN,
                "Ok(None) for {} bytes",
                data.len()
            );
            return;
        }
        Err(ProtocolError::ReservedOpcode(op)) => {
            let first = data.first().copied().unwrap_or_default();
            assert_eq!(op, first & 0x0F, "reported opcode is not the wire opcode");
            assert!(
                matches!(op, 0x3..=0x7 | 0xB..=0xF),
                "{op:#x} is not reserved"
            );
            return;
        }
        Err(ProtocolError::LengthMsbSet) => return,
        Err(other) => panic!("header-level parse returned a connection-level error: {other:?}"),
    };

    // The header lies within the input, and at least the minimal form.
    assert!(
        consumed <= data.len(),
        "consumed {consumed} of {}",
        data.len()
    );
    assert!(consumed <= MAX_HEADER_LEN);
    assert!(
        consumed >= header.encoded_len(),
        "parsed {consumed} bytes but the minimal form is {}",
        header.encoded_len()
    );
    assert_eq!(
        header.payload_len >> 63,
        0,
        "length with the MSB set accepted"
    );
    assert_eq!(
        header.mask.is_some(),
        data.get(1).is_some_and(|b| b & 0x80 != 0)
    );

    // The same bytes cut anywhere before the end of the header need more input.
    for cut in 0..consumed {
        let prefix = data.get(..cut).unwrap_or_default();
        assert_eq!(
            FrameHeader::parse(prefix),
            Ok(None),
            "a {cut}-byte prefix of a {consumed}-byte header did not ask for more"
        );
    }

    // encode → parse gives the same header, and consumes exactly the encoding.
    let mut wire = Vec::new();
    header.encode(&mut wire);
    assert_eq!(wire.len(), header.encoded_len(), "encoded_len disagrees");
    let reparsed = FrameHeader::parse(&wire);
    assert_eq!(
        reparsed,
        Ok(Some((header, wire.len()))),
        "encode/parse roundtrip of {header:?} via {wire:02x?}"
    );

    // Trailing bytes (the payload) never change the header.
    let mut with_payload = wire.clone();
    with_payload.extend_from_slice(data);
    assert_eq!(
        FrameHeader::parse(&with_payload),
        Ok(Some((header, wire.len())))
    );
});
