//! Close codes and close frames (RFC 6455 §5.5.1, §7.4).
//!
//! A [`CloseCode`] can only hold a code that is valid to put on the wire, so a
//! handler cannot send a reserved code by mistake; [`close!`](crate::close!)
//! checks literals at compile time and [`CloseCode::new`] checks at run time.

use std::borrow::Cow;
use std::fmt;

/// The longest close reason in bytes: a control frame payload is at most 125
/// bytes (RFC 6455 §5.5) and the status code takes two of them (§5.5.1).
pub const MAX_REASON_LEN: usize = 123;

/// A close status code that may be sent and received (RFC 6455 §7.4).
///
/// Only the codes the RFC and the IANA registry allow on the wire can be
/// built: 1000-1003, 1007-1014 and 3000-4999. 1004 is reserved, 1005, 1006
/// and 1015 are reserved for reporting and "MUST NOT be set as a status code
/// in a Close control frame" (§7.4.1), 1016-2999 are reserved for future
/// revisions of the protocol and 0-999 are not used (§7.4.2).
///
/// There is deliberately no conversion from a bare integer: use a named
/// constant, [`close!`](crate::close!) for a literal checked at compile time, or
/// [`CloseCode::new`] for a value known only at run time.
///
/// # Examples
///
/// ```
/// use ws_core::{close, CloseCode};
///
/// const BYE: CloseCode = close!(4000);
/// assert_eq!(BYE.as_u16(), 4000);
/// assert_eq!(CloseCode::new(1005), None);
/// assert_eq!(CloseCode::new(1000), Some(CloseCode::NORMAL));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(u16);

/// Why a number is not a [`CloseCode`]; the rule of RFC 6455 §7.4 it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseCodeRule {
    /// 0-999: "not used" (§7.4.2).
    Unused,
    /// 1004: reserved, meaning to be defined (§7.4.1).
    Reserved,
    /// 1005, 1006, 1015: reserved for reporting a missing code, an abnormal
    /// closure or a TLS failure; never sent in a close frame (§7.4.1).
    ReservedForReporting,
    /// 1016-2999: reserved for future revisions of the protocol (§7.4.2).
    ReservedForProtocol,
    /// 5000 and above: outside the code space (§7.4.2).
    OutOfRange,
}

impl CloseCodeRule {
    /// Which rule `code` breaks, or `None` when it is valid to send.
    pub const fn of(code: u16) -> Option<CloseCodeRule> {
        match code {
            0..=999 => Some(CloseCodeRule::Unused),
            1004 => Some(CloseCodeRule::Reserved),
            1005 | 1006 | 1015 => Some(CloseCodeRule::ReservedForReporting),
            1000..=1014 => None,
            1016..=2999 => Some(CloseCodeRule::ReservedForProtocol),
            3000..=4999 => None,
            _ => Some(CloseCodeRule::OutOfRange),
        }
    }

    /// The rule in plain words.
    pub const fn explain(self) -> &'static str {
        match self {
            CloseCodeRule::Unused => "codes 0-999 are not used (RFC 6455 §7.4.2)",
            CloseCodeRule::Reserved => "code 1004 is reserved (RFC 6455 §7.4.1)",
            CloseCodeRule::ReservedForReporting => {
                "codes 1005, 1006 and 1015 are reserved and must not be sent (RFC 6455 §7.4.1)"
            }
            CloseCodeRule::ReservedForProtocol => {
                "codes 1016-2999 are reserved for the protocol (RFC 6455 §7.4.2)"
            }
            CloseCodeRule::OutOfRange => "codes above 4999 do not exist (RFC 6455 §7.4.2)",
        }
    }
}

impl CloseCode {
    /// 1000: the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept (text to a binary-only endpoint).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1007: data inconsistent with the message type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: (client) the server did not negotiate a required extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition (a handler crash).
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later, e.g. the server is overloaded (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway got an invalid response upstream (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);

    /// The code if it is valid to send (1000-1003, 1007-1014, 3000-4999).
    pub const fn new(code: u16) -> Option<CloseCode> {
        match CloseCodeRule::of(code) {
            None => Some(CloseCode(code)),
            Some(_) => None,
        }
    }

    /// Used by [`close!`](crate::close!): checks a code in a `const` context, so
    /// an invalid literal fails the build with the rule it breaks.
    #[doc(hidden)]
    #[track_caller]
    // The panic is a compile error: this only runs in `const` evaluation.
    #[allow(clippy::panic)]
    pub const fn __checked(code: u16) -> CloseCode {
        match CloseCodeRule::of(code) {
            None => CloseCode(code),
            Some(rule) => panic!("{}", rule.explain()),
        }
    }

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// Whether the code is in the private range 4000-4999 (RFC 6455 §7.4.2),
    /// free for applications to agree on.
    pub const fn is_private(self) -> bool {
        self.0 >= 4000
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

/// The payload of a close frame: a code and a UTF-8 reason of at most
/// [`MAX_REASON_LEN`] bytes (RFC 6455 §5.5.1).
///
/// # Examples
///
/// ```
/// use ws_core::{close, CloseCode, CloseFrame};
///
/// const BYE: CloseFrame = close!(1000, "bye");
/// assert_eq!(BYE.code(), CloseCode::NORMAL);
/// assert_eq!(BYE.reason(), "bye");
///
/// let long = "x".repeat(124);
/// assert!(CloseFrame::try_new(CloseCode::NORMAL, long).is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CloseFrame {
    code: CloseCode,
    reason: Cow<'static, str>,
}

/// A close reason longer than [`MAX_REASON_LEN`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReasonTooLong {
    /// The length of the rejected reason in bytes.
    pub len: usize,
}

impl fmt::Display for ReasonTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "close reason is {} bytes, at most {MAX_REASON_LEN} fit in a close frame (RFC 6455 §5.5)",
            self.len
        )
    }
}

impl std::error::Error for ReasonTooLong {}

impl CloseFrame {
    /// A close frame with a code and no reason.
    pub const fn new(code: CloseCode) -> CloseFrame {
        CloseFrame {
            code,
            reason: Cow::Borrowed(""),
        }
    }

    /// A close frame with a reason known at run time.
    pub fn try_new(
        code: CloseCode,
        reason: impl Into<Cow<'static, str>>,
    ) -> Result<CloseFrame, ReasonTooLong> {
        let reason = reason.into();
        if reason.len() > MAX_REASON_LEN {
            return Err(ReasonTooLong { len: reason.len() });
        }
        Ok(CloseFrame { code, reason })
    }

    /// Used by [`close!`](crate::close!): checks the reason length in a
    /// `const` context.
    #[doc(hidden)]
    #[track_caller]
    // The panic is a compile error: this only runs in `const` evaluation.
    #[allow(clippy::panic)]
    pub const fn __checked(code: CloseCode, reason: &'static str) -> CloseFrame {
        if reason.len() > MAX_REASON_LEN {
            panic!("a close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5)");
        }
        CloseFrame {
            code,
            reason: Cow::Borrowed(reason),
        }
    }

    /// The status code.
    pub const fn code(&self) -> CloseCode {
        self.code
    }

    /// The reason, possibly empty.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The payload length on the wire: two code bytes and the reason.
    pub fn payload_len(&self) -> usize {
        2 + self.reason.len()
    }

    /// Writes the wire payload: the code in network byte order, then the
    /// reason (RFC 6455 §5.5.1).
    pub(crate) fn write_payload(&self, dst: &mut impl bytes::BufMut) {
        dst.put_u16(self.code.0);
        dst.put_slice(self.reason.as_bytes());
    }
}

impl fmt::Debug for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloseFrame")
            .field("code", &self.code.0)
            .field("reason", &self.reason)
            .finish()
    }
}

impl From<CloseCode> for CloseFrame {
    fn from(code: CloseCode) -> CloseFrame {
        CloseFrame::new(code)
    }
}

/// A [`CloseCode`] or [`CloseFrame`] checked at compile time.
///
/// `close!(4000)` is a `CloseCode`, `close!(4000, "reason")` a `CloseFrame`;
/// both work in `const` items. A code that must not be sent, or a reason over
/// 123 bytes, is a compile error naming the rule:
///
/// ```compile_fail
/// let code = ws_core::close!(1005); // close code 1005 is reserved and must not be sent
/// ```
///
/// ```
/// use ws_core::{close, CloseCode, CloseFrame};
///
/// const GONE: CloseCode = close!(1001);
/// let kicked: CloseFrame = close!(4001, "kicked by an operator");
/// assert_eq!(GONE, CloseCode::GOING_AWAY);
/// assert_eq!(kicked.code().as_u16(), 4001);
/// ```
#[macro_export]
macro_rules! close {
    ($code:expr $(,)?) => {{
        const __LARIAT_CODE: $crate::CloseCode = $crate::__close_code!($code);
        __LARIAT_CODE
    }};
    ($code:expr, $reason:expr $(,)?) => {{
        const __LARIAT_FRAME: $crate::CloseFrame =
            $crate::CloseFrame::__checked($crate::__close_code!($code), $reason);
        __LARIAT_FRAME
    }};
}

/// The checked code of [`close!`]: a `const` expression whose evaluation
/// fails with a message naming the code and the rule of RFC 6455 §7.4 it
/// breaks (const panics cannot format numbers, so the message is built from
/// the tokens here).
#[doc(hidden)]
#[macro_export]
macro_rules! __close_code {
    ($code:expr) => {
        match $crate::close::CloseCodeRule::of($code) {
            ::core::option::Option::None => $crate::CloseCode::__checked($code),
            ::core::option::Option::Some($crate::close::CloseCodeRule::Unused) => ::core::panic!(
                ::core::concat!("close code ", ::core::stringify!($code),
                    " is not valid: codes 0-999 are not used (RFC 6455 §7.4.2)")
            ),
            ::core::option::Option::Some($crate::close::CloseCodeRule::Reserved) => ::core::panic!(
                ::core::concat!("close code ", ::core::stringify!($code),
                    " is reserved and must not be sent (RFC 6455 §7.4.1)")
            ),
            ::core::option::Option::Some($crate::close::CloseCodeRule::ReservedForReporting) => ::core::panic!(
                ::core::concat!("close code ", ::core::stringify!($code),
                    " is reserved and must not be sent: 1005, 1006 and 1015 only report a missing code, an abnormal closure or a TLS failure (RFC 6455 §7.4.1)")
            ),
            ::core::option::Option::Some($crate::close::CloseCodeRule::ReservedForProtocol) => ::core::panic!(
                ::core::concat!("close code ", ::core::stringify!($code),
                    " is reserved: 1016-2999 belong to future revisions of the protocol; applications use 4000-4999 (RFC 6455 §7.4.2)")
            ),
            ::core::option::Option::Some($crate::close::CloseCodeRule::OutOfRange) => ::core::panic!(
                ::core::concat!("close code ", ::core::stringify!($code),
                    " is out of range: close codes end at 4999 (RFC 6455 §7.4.2)")
            ),
        }
    };
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_codes_valid_to_send_are_close_codes() {
        // RFC 6455 §7.4.1 and §7.4.2, plus 1012-1014 from the IANA registry.
        for code in 0..=u16::MAX {
            let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(CloseCode::new(code).is_some(), valid, "code {code}");
        }
    }

    #[test]
    fn named_constants_hold_their_registry_numbers() {
        let table = [
            (CloseCode::NORMAL, 1000),
            (CloseCode::GOING_AWAY, 1001),
            (CloseCode::PROTOCOL_ERROR, 1002),
            (CloseCode::UNSUPPORTED_DATA, 1003),
            (CloseCode::INVALID_PAYLOAD, 1007),
            (CloseCode::POLICY_VIOLATION, 1008),
            (CloseCode::MESSAGE_TOO_BIG, 1009),
            (CloseCode::MANDATORY_EXTENSION, 1010),
            (CloseCode::INTERNAL_ERROR, 1011),
            (CloseCode::SERVICE_RESTART, 1012),
            (CloseCode::TRY_AGAIN_LATER, 1013),
            (CloseCode::BAD_GATEWAY, 1014),
        ];
        for (code, number) in table {
            assert_eq!(code.as_u16(), number);
            assert_eq!(CloseCode::new(number), Some(code));
        }
    }

    #[test]
    fn each_invalid_code_names_its_rule() {
        assert_eq!(CloseCodeRule::of(999), Some(CloseCodeRule::Unused));
        assert_eq!(CloseCodeRule::of(1004), Some(CloseCodeRule::Reserved));
        for code in [1005, 1006, 1015] {
            assert_eq!(
                CloseCodeRule::of(code),
                Some(CloseCodeRule::ReservedForReporting)
            );
        }
        assert_eq!(
            CloseCodeRule::of(2999),
            Some(CloseCodeRule::ReservedForProtocol)
        );
        assert_eq!(CloseCodeRule::of(5000), Some(CloseCodeRule::OutOfRange));
        assert!(
            CloseCodeRule::ReservedForReporting
                .explain()
                .contains("must not be sent")
        );
    }

    #[test]
    fn close_macro_builds_codes_and_frames_in_const_items() {
        const CODE: CloseCode = close!(4999);
        const FRAME: CloseFrame = close!(3000, "moved");
        assert_eq!(CODE.as_u16(), 4999);
        assert!(CODE.is_private());
        assert_eq!(FRAME.code().as_u16(), 3000);
        assert_eq!(FRAME.reason(), "moved");
        assert_eq!(FRAME.payload_len(), 7);
    }

    #[test]
    fn close_reason_is_at_most_123_bytes() {
        let fits = "é".repeat(61) + "x"; // 123 bytes
        assert_eq!(fits.len(), 123);
        assert!(CloseFrame::try_new(CloseCode::NORMAL, fits).is_ok());
        let err = CloseFrame::try_new(CloseCode::NORMAL, "x".repeat(124)).unwrap_err();
        assert_eq!(err.len, 124);
    }

    #[test]
    fn close_payload_is_code_in_network_order_then_reason() {
        let mut out = Vec::new();
        close!(1001, "bye").write_payload(&mut out);
        assert_eq!(out, [0x03, 0xe9, b'b', b'y', b'e']);
    }
}
