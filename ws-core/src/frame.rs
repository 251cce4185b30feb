//! Frames as handlers see them, and the wire header codec (RFC 6455 §5.2).

use std::fmt;
use std::ops::Deref;

use bytes::{BufMut, Bytes};
use bytestring::ByteString;

use crate::close::CloseFrame;
use crate::error::ProtocolError;

/// The largest payload of a control frame (RFC 6455 §5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// A text payload: UTF-8 by construction, cheap to clone (shared `Bytes`).
///
/// # Examples
///
/// ```
/// use ws_core::Text;
///
/// let hello = Text::from("hello");
/// assert_eq!(&*hello, "hello");
/// assert!(Text::try_from(bytes::Bytes::from_static(b"\xff")).is_err());
/// ```
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Text(ByteString);

impl Text {
    /// A text from a string literal, without copying.
    pub const fn from_static(text: &'static str) -> Text {
        Text(ByteString::from_static(text))
    }

    /// The text as `&str`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The UTF-8 bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        self.0.as_bytes()
    }

    /// The UTF-8 bytes, shared, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0.into_bytes()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the text is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl From<String> for Text {
    fn from(text: String) -> Text {
        Text(ByteString::from(text))
    }
}

impl From<&'static str> for Text {
    fn from(text: &'static str) -> Text {
        Text::from_static(text)
    }
}

impl From<Text> for String {
    fn from(text: Text) -> String {
        String::from(&*text.0)
    }
}

impl From<Text> for Bytes {
    fn from(text: Text) -> Bytes {
        text.into_bytes()
    }
}

impl TryFrom<Bytes> for Text {
    type Error = std::str::Utf8Error;
    fn try_from(bytes: Bytes) -> Result<Text, Self::Error> {
        ByteString::try_from(bytes).map(Text)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

/// The payload of a ping or pong: at most 125 bytes by construction
/// (RFC 6455 §5.5).
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ControlPayload(Bytes);

/// A ping or pong payload over 125 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ControlPayloadTooLong {
    /// The length of the rejected payload.
    pub len: usize,
}

impl fmt::Display for ControlPayloadTooLong {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "control frame payload is {} bytes, at most {MAX_CONTROL_PAYLOAD} allowed (RFC 6455 §5.5)",
            self.len
        )
    }
}

impl std::error::Error for ControlPayloadTooLong {}

impl ControlPayload {
    /// An empty payload.
    pub const EMPTY: ControlPayload = ControlPayload(Bytes::new());

    /// Checks a runtime value against the 125-byte limit.
    pub fn try_new(bytes: impl Into<Bytes>) -> Result<ControlPayload, ControlPayloadTooLong> {
        let bytes = bytes.into();
        if bytes.len() > MAX_CONTROL_PAYLOAD {
            return Err(ControlPayloadTooLong { len: bytes.len() });
        }
        Ok(ControlPayload(bytes))
    }

    /// A payload read off the wire, whose length the decoder already checked.
    pub(crate) fn from_wire(bytes: Bytes) -> ControlPayload {
        debug_assert!(bytes.len() <= MAX_CONTROL_PAYLOAD);
        ControlPayload(bytes)
    }

    /// The payload bytes, shared.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// The payload bytes, shared, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for ControlPayload {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl AsRef<[u8]> for ControlPayload {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for ControlPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A WebSocket frame as handlers send and receive it: Cowboy's `frame()`.
///
/// Every value is valid to send: text is UTF-8, ping and pong payloads are at
/// most 125 bytes, close frames carry only codes valid to send. Incoming data
/// frames arrive as whole messages, fragments already joined.
///
/// # Examples
///
/// ```
/// use ws_core::{close, Frame};
///
/// let frames = [
///     Frame::text("hi"),
///     Frame::binary(vec![1, 2, 3]),
///     Frame::ping(b"are you there"),
///     Frame::close(close!(1000, "bye")),
/// ];
/// assert!(frames[2].is_control());
/// assert!(Frame::try_ping(vec![0; 126]).is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text message.
    Text(Text),
    /// A binary message.
    Binary(Bytes),
    /// A ping (RFC 6455 §5.5.2).
    Ping(ControlPayload),
    /// A pong (RFC 6455 §5.5.3).
    Pong(ControlPayload),
    /// A close frame, with or without a status code (RFC 6455 §5.5.1).
    Close(Option<CloseFrame>),
}

impl Frame {
    /// A text frame.
    pub fn text(text: impl Into<Text>) -> Frame {
        Frame::Text(text.into())
    }

    /// A binary frame.
    pub fn binary(data: impl Into<Bytes>) -> Frame {
        Frame::Binary(data.into())
    }

    /// A ping with a literal payload; more than 125 bytes fails to compile.
    ///
    /// ```compile_fail
    /// let too_long = ws_core::Frame::ping(&[0u8; 126]);
    /// ```
    pub const fn ping<const N: usize>(payload: &'static [u8; N]) -> Frame {
        const {
            assert!(
                N <= MAX_CONTROL_PAYLOAD,
                "a ping payload is at most 125 bytes (RFC 6455 §5.5)"
            )
        };
        Frame::Ping(ControlPayload(Bytes::from_static(payload)))
    }

    /// A pong with a literal payload; more than 125 bytes fails to compile.
    pub const fn pong<const N: usize>(payload: &'static [u8; N]) -> Frame {
        const {
            assert!(
                N <= MAX_CONTROL_PAYLOAD,
                "a pong payload is at most 125 bytes (RFC 6455 §5.5)"
            )
        };
        Frame::Pong(ControlPayload(Bytes::from_static(payload)))
    }

    /// A ping with a runtime payload, checked against the 125-byte limit.
    pub fn try_ping(payload: impl Into<Bytes>) -> Result<Frame, ControlPayloadTooLong> {
        ControlPayload::try_new(payload).map(Frame::Ping)
    }

    /// A pong with a runtime payload, checked against the 125-byte limit.
    pub fn try_pong(payload: impl Into<Bytes>) -> Result<Frame, ControlPayloadTooLong> {
        ControlPayload::try_new(payload).map(Frame::Pong)
    }

    /// A close frame with a code (a [`CloseCode`](crate::CloseCode)) or a
    /// code and reason (a [`CloseFrame`]).
    pub fn close(close: impl Into<CloseFrame>) -> Frame {
        Frame::Close(Some(close.into()))
    }

    /// The opcode this frame is sent with.
    pub fn opcode(&self) -> OpCode {
        match self {
            Frame::Text(_) => OpCode::Text,
            Frame::Binary(_) => OpCode::Binary,
            Frame::Ping(_) => OpCode::Ping,
            Frame::Pong(_) => OpCode::Pong,
            Frame::Close(_) => OpCode::Close,
        }
    }

    /// Whether this is a control frame (ping, pong, close).
    pub fn is_control(&self) -> bool {
        self.opcode().is_control()
    }

    /// The payload length on the wire.
    pub fn payload_len(&self) -> usize {
        match self {
            Frame::Text(text) => text.len(),
            Frame::Binary(data) => data.len(),
            Frame::Ping(payload) | Frame::Pong(payload) => payload.len(),
            Frame::Close(None) => 0,
            Frame::Close(Some(close)) => close.payload_len(),
        }
    }
}

impl fmt::Debug for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Frame::Text(text) => f.debug_tuple("Text").field(text).finish(),
            Frame::Binary(data) => f.debug_tuple("Binary").field(data).finish(),
            Frame::Ping(payload) => f.debug_tuple("Ping").field(payload).finish(),
            Frame::Pong(payload) => f.debug_tuple("Pong").field(payload).finish(),
            Frame::Close(close) => f.debug_tuple("Close").field(close).finish(),
        }
    }
}

/// A frame opcode (RFC 6455 §5.2). Reserved opcodes never get this far:
/// [`FrameHeader::parse`] rejects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpCode {
    /// 0x0: continues a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Decodes the 4-bit opcode; 0x3-0x7 and 0xB-0xF are reserved (§5.2).
    pub fn from_u8(bits: u8) -> Result<OpCode, ProtocolError> {
        match bits {
            0x0 => Ok(OpCode::Continuation),
            0x1 => Ok(OpCode::Text),
            0x2 => Ok(OpCode::Binary),
            0x8 => Ok(OpCode::Close),
            0x9 => Ok(OpCode::Ping),
            0xA => Ok(OpCode::Pong),
            other => Err(ProtocolError::ReservedOpcode(other)),
        }
    }

    /// The 4-bit wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Control opcodes have the high bit set (§5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

/// A frame header as it is on the wire (RFC 6455 §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: the last fragment of a message.
    pub fin: bool,
    /// RSV1, used by permessage-deflate (RFC 7692 §6).
    pub rsv1: bool,
    /// RSV2, unused by any registered extension.
    pub rsv2: bool,
    /// RSV3, unused by any registered extension.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key; clients must mask, servers must not (§5.1).
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

/// The longest header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

impl FrameHeader {
    /// A header for one whole, unfragmented frame.
    pub fn new(opcode: OpCode, payload_len: usize, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: payload_len as u64,
        }
    }

    /// Parses a header from the start of `buf`.
    ///
    /// `Ok(None)` means more bytes are needed; `Ok(Some((header, len)))` gives
    /// the header and how many bytes it took. Header-level rules fail here: a
    /// reserved opcode and a 64-bit length with its most significant bit set
    /// (§5.2). Rules that depend on the connection (masking by role, RSV bits
    /// without an extension, control frame limits) are the connection's.
    ///
    /// # Examples
    ///
    /// ```
    /// use ws_core::frame::{FrameHeader, OpCode};
    ///
    /// // RFC 6455 §5.7: a single-frame masked text message "Hello".
    /// let wire = [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58];
    /// let (header, len) = FrameHeader::parse(&wire).unwrap().unwrap();
    /// assert_eq!(header.opcode, OpCode::Text);
    /// assert_eq!(header.mask, Some([0x37, 0xfa, 0x21, 0x3d]));
    /// assert_eq!((header.payload_len, len), (5, 6));
    /// ```
    pub fn parse(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [first, second, rest @ ..] = buf else {
            return Ok(None);
        };
        let opcode = OpCode::from_u8(first & 0x0F)?;
        let masked = second & 0x80 != 0;
        let (payload_len, rest) = match second & 0x7F {
            126 => match rest {
                [a, b, rest @ ..] => (u64::from(u16::from_be_bytes([*a, *b])), rest),
                _ => return Ok(None),
            },
            127 => match rest.split_first_chunk::<8>() {
                Some((len, rest)) => {
                    let len = u64::from_be_bytes(*len);
                    // §5.2: "the most significant bit MUST be 0".
                    if len >> 63 != 0 {
                        return Err(ProtocolError::LengthMsbSet);
                    }
                    (len, rest)
                }
                None => return Ok(None),
            },
            len => (u64::from(len), rest),
        };
        let mask = if masked {
            match rest.first_chunk::<4>() {
                Some(key) => Some(*key),
                None => return Ok(None),
            }
        } else {
            None
        };
        let header_len = buf.len() - rest.len() + if masked { 4 } else { 0 };
        let header = FrameHeader {
            fin: first & 0x80 != 0,
            rsv1: first & 0x40 != 0,
            rsv2: first & 0x20 != 0,
            rsv3: first & 0x10 != 0,
            opcode,
            mask,
            payload_len,
        };
        Ok(Some((header, header_len)))
    }

    /// The encoded length of this header.
    pub fn encoded_len(&self) -> usize {
        let len_bytes = match self.payload_len {
            0..=125 => 0,
            126..=0xFFFF => 2,
            _ => 8,
        };
        2 + len_bytes + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Writes the header, always with the shortest length form: "the minimal
    /// number of bytes MUST be used to encode the length" (§5.2).
    pub fn encode(&self, dst: &mut impl BufMut) {
        if self.mask.is_none() && self.payload_len <= 125 {
            // Most frames a server sends: no key, a 7-bit length. Two bytes
            // of fixed size are one store, not a call to `memcpy`.
            dst.put_slice(&[self.first_byte(), self.payload_len as u8]);
            return;
        }
        // Assembled on the stack and written at once: one capacity check in
        // `dst` instead of one per field.
        let mut header = [0u8; MAX_HEADER_LEN];
        let len = self.encode_into(&mut header);
        dst.put_slice(header.get(..len).unwrap_or_default());
    }

    /// FIN, RSV1-3 and the opcode (§5.2).
    fn first_byte(&self) -> u8 {
        u8::from(self.fin) << 7
            | u8::from(self.rsv1) << 6
            | u8::from(self.rsv2) << 5
            | u8::from(self.rsv3) << 4
            | self.opcode.as_u8()
    }

    /// Writes the header into `out`, returning its length.
    fn encode_into(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        let [first, second, rest @ ..] = out;
        *first = self.first_byte();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let len_bytes = match self.payload_len {
            len @ 0..=125 => {
                *second = mask_bit | len as u8;
                0
            }
            len @ 126..=0xFFFF => {
                *second = mask_bit | 126;
                copy_into(rest, &(len as u16).to_be_bytes())
            }
            len => {
                *second = mask_bit | 127;
                copy_into(rest, &len.to_be_bytes())
            }
        };
        let key_bytes = match (self.mask, rest.get_mut(len_bytes..)) {
            (Some(key), Some(after_len)) => copy_into(after_len, &key),
            _ => 0,
        };
        2 + len_bytes + key_bytes
    }
}

/// Copies `src` to the start of `dst`, returning how many bytes it wrote.
fn copy_into(dst: &mut [u8], src: &[u8]) -> usize {
    match dst.get_mut(..src.len()) {
        Some(head) => {
            head.copy_from_slice(src);
            src.len()
        }
        None => 0,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> (FrameHeader, usize) {
        FrameHeader::parse(bytes).unwrap().unwrap()
    }

    fn encode(header: FrameHeader) -> Vec<u8> {
        let mut out = Vec::new();
        header.encode(&mut out);
        assert_eq!(out.len(), header.encoded_len());
        out
    }

    #[test]
    fn rfc_5_7_unmasked_hello_header() {
        let (header, len) = parse(&[0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert!(header.fin);
        assert_eq!(header.opcode, OpCode::Text);
        assert_eq!((header.mask, header.payload_len, len), (None, 5, 2));
    }

    #[test]
    fn rfc_5_7_fragmented_hello_headers() {
        let (first, _) = parse(&[0x01, 0x03, 0x48, 0x65, 0x6c]);
        assert!(!first.fin);
        assert_eq!(first.opcode, OpCode::Text);
        let (last, _) = parse(&[0x80, 0x02, 0x6c, 0x6f]);
        assert!(last.fin);
        assert_eq!(last.opcode, OpCode::Continuation);
    }

    #[test]
    fn rfc_5_7_ping_and_pong_headers() {
        let (ping, _) = parse(&[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
        assert_eq!(ping.opcode, OpCode::Ping);
        let (pong, len) = parse(&[
            0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ]);
        assert_eq!(pong.opcode, OpCode::Pong);
        assert_eq!(len, 6);
    }

    #[test]
    fn rfc_5_7_binary_256_and_64k_length_forms() {
        let (header, len) = parse(&[0x82, 0x7E, 0x01, 0x00]);
        assert_eq!((header.payload_len, len), (256, 4));
        let (header, len) = parse(&[0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!((header.payload_len, len), (65536, 10));
    }

    #[test]
    fn length_boundaries_use_the_shortest_form() {
        for (len, header_len) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (0xFFFF, 4),
            (0x1_0000, 10),
            (16 << 20, 10),
        ] {
            let header = FrameHeader::new(OpCode::Binary, len, None);
            let wire = encode(header);
            assert_eq!(wire.len(), header_len, "length {len}");
            assert_eq!(parse(&wire), (header, header_len));
        }
    }

    #[test]
    fn sixty_four_bit_length_with_msb_set_is_a_protocol_error() {
        let wire = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(FrameHeader::parse(&wire), Err(ProtocolError::LengthMsbSet));
        let largest = [0x82, 0x7F, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
        assert_eq!(parse(&largest).0.payload_len, (1 << 63) - 1);
    }

    #[test]
    fn reserved_opcodes_are_protocol_errors() {
        for opcode in (0x3..=0x7).chain(0xB..=0xF) {
            assert_eq!(
                FrameHeader::parse(&[0x80 | opcode, 0x00]),
                Err(ProtocolError::ReservedOpcode(opcode))
            );
        }
    }

    #[test]
    fn reserved_bits_and_mask_roundtrip() {
        let header = FrameHeader {
            fin: false,
            rsv1: true,
            rsv2: true,
            rsv3: true,
            opcode: OpCode::Continuation,
            mask: Some([1, 2, 3, 4]),
            payload_len: 300,
        };
        let wire = encode(header);
        assert_eq!(wire.len(), 8);
        assert_eq!(parse(&wire), (header, 8));
    }

    #[test]
    fn every_truncated_header_needs_more_bytes() {
        let header = FrameHeader::new(OpCode::Binary, 70_000, Some([9, 9, 9, 9]));
        let wire = encode(header);
        for cut in 0..wire.len() {
            assert_eq!(FrameHeader::parse(&wire[..cut]), Ok(None), "cut {cut}");
        }
    }

    #[test]
    fn control_payload_is_at_most_125_bytes() {
        assert!(Frame::try_ping(vec![0; 125]).is_ok());
        assert_eq!(
            Frame::try_pong(vec![0; 126]),
            Err(ControlPayloadTooLong { len: 126 })
        );
        let ping = Frame::ping(&[7; 125]);
        assert_eq!(ping.payload_len(), 125);
    }

    #[test]
    fn text_is_utf8_by_construction() {
        assert!(Text::try_from(Bytes::from_static("héllo".as_bytes())).is_ok());
        assert!(Text::try_from(Bytes::from_static(b"\xc3\x28")).is_err());
        assert_eq!(Text::from(String::from("x")), "x");
    }
}
