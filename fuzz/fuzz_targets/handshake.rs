//! The opening handshake parsers on arbitrary bytes: `parse_request`, then
//! `validate_upgrade` on what it returns, and `parse_extensions` on the input
//! as (lossy) UTF-8. Nothing panics, and what they return is consistent:
//! the head lies within the input, an accepted upgrade can be answered and
//! the answer satisfies a client, and extension offers survive a
//! print → parse round trip.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ws_core::handshake::{
    DEFAULT_MAX_HEAD_SIZE, HandshakeError, error_response, parse_extensions, parse_request,
    parse_response, switching_protocols, validate_upgrade,
};

fuzz_target!(|data: &[u8]| {
    // A small limit too, so the size checks are reached with short inputs.
    let small = usize::from(data.first().copied().unwrap_or(0)) + 16;
    for max_head_size in [DEFAULT_MAX_HEAD_SIZE, small] {
        check_request(data, max_head_size);
    }
    check_extensions(&String::from_utf8_lossy(data));
});

fn check_request(data: &[u8], max_head_size: usize) {
    let (request, consumed) = match parse_request(data, max_head_size) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => {
            assert!(data.len() < max_head_size, "asked for more past the limit");
            return;
        }
        Err(error) => {
            check_error(&error);
            return;
        }
    };
    assert!(consumed <= data.len() && consumed <= max_head_size);
    assert_eq!(request.raw_head(), data.get(..consumed).unwrap_or_default());
    // A complete head stays complete, with the same length, when more bytes follow.
    let mut longer = data.to_vec();
    longer.extend_from_slice(b"\x81\x80\0\0\0\0");
    match parse_request(&longer, max_head_size) {
        Ok(Some((_, again))) => assert_eq!(again, consumed),
        other => panic!("head of {consumed} bytes not found again: {other:?}"),
    }

    // Every accessor is total.
    let _ = format!("{request:?}");
    let _ = (
        request.method(),
        request.target(),
        request.path(),
        request.query(),
    );
    let _ = (request.http_minor(), request.header_count());
    for name in ["", "room", "a", "%", "+"] {
        let _ = request.query_param(name);
    }
    assert_eq!(request.all_headers().count(), request.header_count());
    for (name, _) in request.all_headers() {
        assert!(
            request.header(name).is_some(),
            "header {name:?} not found by name"
        );
        let _ = request.header_str(name);
    }

    let upgrade = match validate_upgrade(&request) {
        Ok(upgrade) => upgrade,
        Err(error) => {
            check_error(&error);
            return;
        }
    };
    assert_eq!(request.method(), "GET");
    assert!(
        matches!(upgrade.version, 7 | 8 | 13),
        "version {}",
        upgrade.version
    );
    let accept = upgrade.accept_key();
    assert_eq!(accept.len(), 28, "accept key {accept:?}");
    for protocol in &upgrade.protocols {
        assert!(!protocol.is_empty() && !protocol.contains([',', ' ', '\r', '\n']));
    }
    // The server's answer satisfies a client that sent this key.
    let protocol = upgrade.protocols.first().map(String::as_str);
    let answer = switching_protocols(&upgrade.key, protocol, None, &[]);
    match parse_response(&answer, &upgrade.key) {
        Ok(Some((response, used))) => {
            assert_eq!(used, answer.len());
            assert_eq!(response.protocol.as_deref(), protocol);
        }
        other => panic!(
            "client rejects our own 101 {:?}: {other:?}",
            String::from_utf8_lossy(&answer)
        ),
    }
}

fn check_error(error: &HandshakeError) {
    let status = error.status();
    assert!(
        (400..500).contains(&status),
        "status {status} for {error:?}"
    );
    let response = error_response(error);
    let prefix = format!("HTTP/1.1 {status} ");
    assert!(response.starts_with(prefix.as_bytes()));
    let _ = error.to_string();
}

fn check_extensions(value: &str) {
    match parse_extensions(value) {
        Ok(offers) => {
            // Printed back in header syntax, the offers parse to themselves.
            let printed = offers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            assert_eq!(
                parse_extensions(&printed).as_ref(),
                Ok(&offers),
                "offers printed as {printed:?}"
            );
            for offer in &offers {
                assert!(!offer.name.is_empty());
            }
        }
        Err(error) => {
            assert!(error.position() <= value.len(), "{error}");
            let _ = error.to_string();
        }
    }
}
