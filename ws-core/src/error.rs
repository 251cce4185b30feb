//! Protocol errors, each knowing its close code and terminate reason.

use std::fmt;

use crate::close::CloseCode;
use crate::terminate::Terminate;

/// A rule of RFC 6455 the peer broke. Each one fails the connection
/// (§7.1.7): a close frame with [`close_code`](ProtocolError::close_code) is
/// sent and the handler terminates with [`terminate`](ProtocolError::terminate).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// An opcode 0x3-0x7 or 0xB-0xF (§5.2).
    ReservedOpcode(u8),
    /// RSV1, RSV2 or RSV3 set with no extension negotiated that defines it
    /// (§5.2); the bits as `0b0RRR`.
    ReservedBits(u8),
    /// A 64-bit payload length with its most significant bit set (§5.2).
    LengthMsbSet,
    /// A client frame without a mask (§5.1: the server MUST close).
    UnmaskedFrame,
    /// A server frame with a mask (§5.1: the client MUST close).
    MaskedFrame,
    /// A control frame with a payload over 125 bytes (§5.5).
    ControlFrameTooLong(u64),
    /// A control frame without FIN (§5.5: control frames MUST NOT be fragmented).
    FragmentedControlFrame,
    /// A continuation frame with no message in progress (§5.4).
    ContinuationWithoutStart,
    /// A text or binary frame while a fragmented message is in progress (§5.4).
    DataFrameInsideFragmentedMessage,
    /// A close frame with a one-byte payload (§5.5.1: a body starts with a two-byte code).
    CloseFrameOneByte,
    /// A close frame with a code not valid to send (§7.4).
    InvalidCloseCode(u16),
    /// Invalid UTF-8 in a text message (§8.1).
    InvalidUtf8,
    /// Invalid UTF-8 in a close reason (§5.5.1, §8.1).
    InvalidCloseReason,
    /// A compressed message that is not valid deflate data (RFC 7692 §7.2.2).
    CorruptCompressedData,
    /// A frame longer than the configured maximum.
    FrameTooBig {
        /// The announced payload length.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// A message longer than the configured maximum.
    MessageTooBig {
        /// The message length so far, including the frame that broke the limit.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
}

impl ProtocolError {
    /// The code to close with: 1007 for bad UTF-8 (§7.4.1: "data within a
    /// message that was not consistent with the type of the message"), 1009
    /// for a limit, 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8
            | ProtocolError::InvalidCloseReason
            | ProtocolError::CorruptCompressedData => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooBig { .. } | ProtocolError::MessageTooBig { .. } => {
                CloseCode::MESSAGE_TOO_BIG
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }

    /// The handler's terminate reason: `BadEncoding` for invalid UTF-8 (Cowboy's
    /// `{error, badencoding}`), `BadFrame` for every other violation, a frame
    /// or message over the limit included (Cowboy's `{error, badframe}`).
    pub fn terminate(&self) -> Terminate {
        match self {
            ProtocolError::InvalidUtf8 | ProtocolError::InvalidCloseReason => {
                Terminate::BadEncoding
            }
            _ => Terminate::BadFrame,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::ReservedOpcode(op) => {
                write!(f, "reserved opcode {op:#x} (RFC 6455 §5.2)")
            }
            ProtocolError::ReservedBits(bits) => {
                write!(
                    f,
                    "reserved bits {bits:#05b} set without an extension (RFC 6455 §5.2)"
                )
            }
            ProtocolError::LengthMsbSet => f.write_str(
                "64-bit payload length with the most significant bit set (RFC 6455 §5.2)",
            ),
            ProtocolError::UnmaskedFrame => {
                f.write_str("client frame is not masked (RFC 6455 §5.1)")
            }
            ProtocolError::MaskedFrame => f.write_str("server frame is masked (RFC 6455 §5.1)"),
            ProtocolError::ControlFrameTooLong(len) => {
                write!(
                    f,
                    "control frame payload of {len} bytes, at most 125 allowed (RFC 6455 §5.5)"
                )
            }
            ProtocolError::FragmentedControlFrame => {
                f.write_str("fragmented control frame (RFC 6455 §5.5)")
            }
            ProtocolError::ContinuationWithoutStart => {
                f.write_str("continuation frame with no message to continue (RFC 6455 §5.4)")
            }
            ProtocolError::DataFrameInsideFragmentedMessage => {
                f.write_str("new data frame inside a fragmented message (RFC 6455 §5.4)")
            }
            ProtocolError::CloseFrameOneByte => {
                f.write_str("close frame with a one-byte payload (RFC 6455 §5.5.1)")
            }
            ProtocolError::InvalidCloseCode(code) => {
                write!(
                    f,
                    "close code {code} is not valid on the wire (RFC 6455 §7.4)"
                )
            }
            ProtocolError::InvalidUtf8 => {
                f.write_str("invalid UTF-8 in a text message (RFC 6455 §8.1)")
            }
            ProtocolError::InvalidCloseReason => {
                f.write_str("invalid UTF-8 in a close reason (RFC 6455 §5.5.1)")
            }
            ProtocolError::CorruptCompressedData => {
                f.write_str("compressed message is not valid deflate data (RFC 7692 §7.2.2)")
            }
            ProtocolError::FrameTooBig { len, max } => {
                write!(f, "frame of {len} bytes exceeds the limit of {max} bytes")
            }
            ProtocolError::MessageTooBig { len, max } => {
                write!(
                    f,
                    "message of at least {len} bytes exceeds the limit of {max} bytes"
                )
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_protocol_error_maps_to_its_close_code_and_terminate_reason() {
        use ProtocolError::*;
        let table = [
            (ReservedOpcode(3), 1002, "BadFrame"),
            (ReservedBits(0b100), 1002, "BadFrame"),
            (LengthMsbSet, 1002, "BadFrame"),
            (UnmaskedFrame, 1002, "BadFrame"),
            (MaskedFrame, 1002, "BadFrame"),
            (ControlFrameTooLong(126), 1002, "BadFrame"),
            (FragmentedControlFrame, 1002, "BadFrame"),
            (ContinuationWithoutStart, 1002, "BadFrame"),
            (DataFrameInsideFragmentedMessage, 1002, "BadFrame"),
            (CloseFrameOneByte, 1002, "BadFrame"),
            (InvalidCloseCode(1005), 1002, "BadFrame"),
            (InvalidUtf8, 1007, "BadEncoding"),
            (InvalidCloseReason, 1007, "BadEncoding"),
            (CorruptCompressedData, 1007, "BadFrame"),
            (FrameTooBig { len: 2, max: 1 }, 1009, "BadFrame"),
            (MessageTooBig { len: 2, max: 1 }, 1009, "BadFrame"),
        ];
        for (error, code, reason) in table {
            assert_eq!(error.close_code().as_u16(), code, "{error}");
            assert_eq!(format!("{:?}", error.terminate()), reason, "{error}");
        }
    }
}
