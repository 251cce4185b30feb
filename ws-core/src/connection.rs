//! The sans-IO WebSocket connection: bytes in, frames out; frames in, bytes out.
//!
//! A [`Connection`] never touches a socket or a clock. The runtime appends
//! what it read with [`Connection::handle_bytes`] (or reads straight into
//! [`Connection::input_mut`]), takes whole messages and control frames from
//! [`Connection::poll_frame`], queues frames with [`Connection::send`], and
//! writes [`Connection::send_buffer`] to the socket. When
//! [`Connection::is_closed`] turns true it flushes and closes the transport.

use std::hash::{BuildHasher, RandomState};

use bytes::{Buf, Bytes, BytesMut};

use crate::close::{CloseCode, CloseFrame};
use crate::deflate::{
    DeflateConfig, DeflateParams, Deflater, InflateError, Inflater, sync_trailer,
};
use crate::error::ProtocolError;
use crate::frame::{ControlPayload, Frame, FrameHeader, MAX_CONTROL_PAYLOAD, OpCode, Text};
use crate::mask::apply_mask;
use crate::send_buffer::SendBuffer;
use crate::utf8::Utf8Validator;

/// The default largest message (and frame), in bytes: 1 MiB, as Cowboy and
/// Python `websockets` default to.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;

/// Protocol limits and behaviour of one connection.
#[derive(Debug, Clone)]
pub struct Config {
    /// The largest frame payload accepted, in bytes; a larger one closes the
    /// connection with 1009 as soon as its header arrives. Default 1 MiB.
    pub max_frame_size: usize,
    /// The largest message accepted (all fragments together), in bytes; a
    /// larger one closes with 1009 as soon as a header announces the excess,
    /// before its payload is read. Default 1 MiB.
    pub max_message_size: usize,
    /// Answer every ping with a pong carrying the same payload (RFC 6455
    /// §5.5.2), in addition to reporting the ping. Default true.
    pub auto_pong: bool,
    /// Validate text as its bytes arrive and fail on the first invalid byte
    /// (RFC 6455 §8.1), even in the middle of a frame. When false, text is
    /// validated once, when the message is whole: cheaper for large
    /// fragmented text, as fast to fail for whole frames. Text handed out
    /// is valid UTF-8 either way. Default true.
    pub fail_fast_utf8: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_frame_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            auto_pong: true,
            fail_fast_utf8: true,
        }
    }
}

/// Which end of the connection this is; decides masking (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Receives masked frames, sends unmasked ones.
    Server,
    /// Sends masked frames, receives unmasked ones.
    Client,
}

/// Where the closing handshake stands (RFC 6455 §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Frames flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's (§7.1.2); nothing more is
    /// sent, incoming frames are still read.
    CloseSent,
    /// Both close frames are exchanged, or the connection failed (§7.1.7):
    /// flush what is queued, then close the transport (the server closes TCP
    /// first, §7.1.1). Nothing more is read or sent.
    Closed,
}

/// A frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// A close frame was already sent (or the connection failed): "after
    /// sending a Close frame, the endpoint MUST NOT send any further data
    /// frames" (RFC 6455 §5.5.1).
    Closed,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection is closing: no frame is sent after a close frame")
    }
}

impl std::error::Error for SendError {}

/// permessage-deflate state of one connection (RFC 7692).
#[derive(Debug)]
struct DeflateState {
    params: DeflateParams,
    level: u32,
    threshold: usize,
    /// Compress outgoing messages (`Reply::deflate`, Cowboy's `{deflate, Bool}`).
    compress: bool,
    inflater: Inflater,
    deflater: Deflater,
}

/// What the decoder is waiting for.
#[derive(Debug, Clone, Copy)]
enum Decode {
    Header,
    Payload {
        header: FrameHeader,
        /// The payload length (checked against the limits, so it fits usize).
        len: usize,
        /// How many payload bytes at the front of the input are unmasked and
        /// validated already.
        processed: usize,
        /// Validate UTF-8 as bytes arrive: the frame carries text that did not
        /// arrive in one piece, so an invalid byte must fail fast (§8.1).
        stream_utf8: bool,
    },
}

/// The kind of a fragmented message in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageKind {
    Text,
    Binary,
}

/// One WebSocket connection's protocol state (RFC 6455 §5-§8).
///
/// # Examples
///
/// ```
/// use ws_core::{Config, Connection, Frame, Role};
/// use bytes::Buf;
///
/// let mut server = Connection::new(Role::Server, Config::default());
/// // RFC 6455 §5.7: a masked text frame "Hello".
/// server.handle_bytes(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// let frame = server.poll_frame().unwrap().unwrap();
/// assert_eq!(frame, Frame::text("Hello"));
///
/// server.send(frame).unwrap();
/// let out = server.send_buffer();
/// assert_eq!(out.chunk(), &[0x81, 0x05, b'H', b'e', b'l', b'l', b'o']);
/// ```
#[derive(Debug)]
pub struct Connection {
    role: Role,
    config: Config,
    state: State,
    input: BytesMut,
    decode: Decode,
    /// The fragmented message in progress, if any (§5.4).
    message: Option<MessageKind>,
    message_buf: BytesMut,
    /// Bytes announced so far by the frames of the current message.
    message_len: u64,
    utf8: Utf8Validator,
    close_received: bool,
    /// permessage-deflate, when negotiated (boxed: most connections have none).
    deflate: Option<Box<DeflateState>>,
    /// The data message being received is compressed (RSV1 on its first frame).
    compressed: bool,
    output: SendBuffer,
    /// xorshift state for client masking keys.
    mask_state: u64,
}

impl Connection {
    /// A connection in the open state, right after the opening handshake.
    pub fn new(role: Role, config: Config) -> Connection {
        let mask_state = match role {
            // §5.3: the key must be unpredictable to the application; seed
            // from the process's random hasher keys (no clock, no extra crate).
            Role::Client => RandomState::new().hash_one(0x6c61_7269_6174_u64) | 1,
            Role::Server => 0,
        };
        Connection {
            role,
            config,
            state: State::Open,
            input: BytesMut::new(),
            decode: Decode::Header,
            message: None,
            message_buf: BytesMut::new(),
            message_len: 0,
            utf8: Utf8Validator::new(),
            close_received: false,
            deflate: None,
            compressed: false,
            output: SendBuffer::new(),
            mask_state,
        }
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The limits in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Changes the limits; takes effect from the next frame header.
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// Where the closing handshake stands.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the connection is done: flush [`Connection::send_buffer`] and
    /// close the transport.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether the peer's close frame has arrived: it sends nothing after it
    /// (RFC 6455 §5.5.1).
    pub fn close_received(&self) -> bool {
        self.close_received
    }

    /// Whether a close frame has been sent (the handshake is under way).
    pub fn close_sent(&self) -> bool {
        self.state != State::Open
    }

    /// Appends bytes read from the transport.
    pub fn handle_bytes(&mut self, bytes: &[u8]) {
        if !self.is_closed() && !self.close_received {
            self.input.extend_from_slice(bytes);
        }
    }

    /// The input buffer, for a runtime that reads from the socket straight
    /// into it (no copy); then call [`Connection::poll_frame`].
    pub fn input_mut(&mut self) -> &mut BytesMut {
        &mut self.input
    }

    /// Bytes received but not yet decoded.
    pub fn buffered_input(&self) -> usize {
        self.input.len()
    }

    /// Bytes the frame being read still lacks: its payload length (already
    /// checked against the limits) minus what is buffered; 0 between
    /// frames. A runtime that makes this much room at once reads a large
    /// frame into one allocation, instead of one regrown, and copied, as it
    /// fills.
    pub fn input_wanted(&self) -> usize {
        match self.decode {
            Decode::Payload { len, .. } => len.saturating_sub(self.input.len()),
            _ => 0,
        }
    }

    /// The bytes waiting to be written. Write them and `advance` by what
    /// the transport took.
    pub fn send_buffer(&mut self) -> &mut SendBuffer {
        &mut self.output
    }

    /// Whether bytes wait to be written.
    pub fn wants_write(&self) -> bool {
        !self.output.is_empty()
    }

    /// Turns on permessage-deflate with negotiated `params` (RFC 7692):
    /// RSV1 becomes legal on the first frame of a data message, compressed
    /// messages are inflated, and outgoing messages of at least
    /// `config.threshold` bytes are compressed at `config.level`.
    pub fn enable_deflate(&mut self, params: DeflateParams, config: &DeflateConfig) {
        self.deflate = Some(Box::new(DeflateState {
            params,
            level: config.level.min(9),
            threshold: config.threshold,
            compress: true,
            inflater: Inflater::default(),
            deflater: Deflater::default(),
        }));
    }

    /// The permessage-deflate parameters in force, if negotiated.
    pub fn deflate_params(&self) -> Option<DeflateParams> {
        self.deflate.as_ref().map(|deflate| deflate.params)
    }

    /// Whether a decompressor is held now (it is made on the first
    /// compressed message and released on hibernation when the peer takes
    /// over no context).
    pub fn holds_decompressor(&self) -> bool {
        self.deflate
            .as_ref()
            .is_some_and(|d| d.inflater.is_allocated())
    }

    /// Compress the messages sent from now on, or not (Cowboy's
    /// `{deflate, false}`); no effect without permessage-deflate.
    pub fn set_compress(&mut self, compress: bool) {
        if let Some(deflate) = &mut self.deflate {
            deflate.compress = compress;
        }
    }

    /// Releases the memory of empty buffers (hibernation). Buffers holding
    /// bytes, and a fragmented message in progress, are kept.
    pub fn release_buffers(&mut self) {
        let reset_per_message = self.peer_resets_context();
        if let Some(deflate) = &mut self.deflate
            && self.message.is_none()
            && reset_per_message
        {
            deflate.inflater.release();
        }
        if self.input.is_empty() {
            self.input = BytesMut::new();
        }
        if self.message.is_none() {
            self.message_buf = BytesMut::new();
        }
        self.output.release();
    }

    /// The next whole message or control frame, if the input holds one.
    ///
    /// `Ok(None)` means more bytes are needed (or the connection is closed).
    /// Pings are answered with pongs automatically (see [`Config::auto_pong`])
    /// and still reported. A peer close is answered by echoing its code
    /// (§5.5.1) and reported as `Frame::Close`; bytes after it are ignored.
    /// On `Err`, the connection has failed (§7.1.7): a close frame with the
    /// error's code is queued (unless one was sent already) and the state is
    /// [`State::Closed`].
    pub fn poll_frame(&mut self) -> Result<Option<Frame>, ProtocolError> {
        match self.decode_next() {
            Ok(frame) => Ok(frame),
            Err(error) => {
                self.fail(&error);
                Err(error)
            }
        }
    }

    /// Queues a frame for sending.
    ///
    /// Sending a close frame starts the closing handshake (§7.1.2); after it
    /// nothing more is sent and this returns [`SendError::Closed`].
    pub fn send(&mut self, frame: Frame) -> Result<(), SendError> {
        if self.state != State::Open {
            return Err(SendError::Closed);
        }
        match frame {
            Frame::Text(text) => self.push_message(OpCode::Text, text.into_bytes()),
            Frame::Binary(data) => self.push_message(OpCode::Binary, data),
            Frame::Ping(payload) => self.push(OpCode::Ping, payload.into_bytes()),
            Frame::Pong(payload) => self.push(OpCode::Pong, payload.into_bytes()),
            Frame::Close(close) => self.push_close(close.as_ref()),
        }
        Ok(())
    }

    /// Gives up on the closing handshake (the peer did not answer our close
    /// in time, or the transport must close now): the state becomes
    /// [`State::Closed`] and nothing more is read; queued bytes stay queued.
    pub fn force_close(&mut self) {
        self.state = State::Closed;
        self.input.clear();
        self.message = None;
        self.message_buf = BytesMut::new();
        self.message_len = 0;
        self.compressed = false;
        self.decode = Decode::Header;
    }

    /// Starts the closing handshake: shorthand for sending `Frame::Close`.
    pub fn close(&mut self, close: Option<CloseFrame>) -> Result<(), SendError> {
        self.send(Frame::Close(close))
    }

    /// Whether the peer compresses each message on its own, so our
    /// decompressor need not keep its window between messages.
    fn peer_resets_context(&self) -> bool {
        self.deflate.as_ref().is_some_and(|d| match self.role {
            Role::Server => d.params.client_no_context_takeover,
            Role::Client => d.params.server_no_context_takeover,
        })
    }

    /// The peer's compression window: our decompression window.
    fn peer_window_bits(&self) -> u8 {
        self.deflate.as_ref().map_or(15, |d| match self.role {
            Role::Server => d.params.client_max_window_bits,
            Role::Client => d.params.server_max_window_bits,
        })
    }

    fn decode_next(&mut self) -> Result<Option<Frame>, ProtocolError> {
        loop {
            if self.is_closed() || self.close_received {
                self.input.clear();
                return Ok(None);
            }
            match self.decode {
                Decode::Header => {
                    let Some((header, header_len)) = FrameHeader::parse(&self.input)? else {
                        return Ok(None);
                    };
                    let len = self.check_header(&header)?;
                    self.input.advance(header_len);
                    let stream_utf8 = self.starts_text_stream(&header, len);
                    if self.input.len() >= len {
                        // The whole payload is buffered already, as small
                        // frames usually are: the same steps as the payload
                        // state below (unmask, validate, complete), without
                        // storing that state and reading it back.
                        let mut payload = self.input.split_to(len);
                        let utf8 = stream_utf8.then_some(&mut self.utf8);
                        unmask_and_validate(&mut payload, header.mask, 0, utf8)?;
                        if let Some(frame) = self.complete_frame(header, payload, stream_utf8)? {
                            return Ok(Some(frame));
                        }
                        continue;
                    }
                    self.decode = Decode::Payload {
                        header,
                        len,
                        processed: 0,
                        stream_utf8,
                    };
                }
                Decode::Payload {
                    header,
                    len,
                    processed,
                    stream_utf8,
                } => {
                    let available = self.input.len().min(len);
                    if let Some(fresh) = self.input.get_mut(processed..available) {
                        let utf8 = stream_utf8.then_some(&mut self.utf8);
                        unmask_and_validate(fresh, header.mask, processed, utf8)?;
                        self.decode = Decode::Payload {
                            header,
                            len,
                            processed: available,
                            stream_utf8,
                        };
                    }
                    if available < len {
                        return Ok(None);
                    }
                    let payload = self.input.split_to(len);
                    self.decode = Decode::Header;
                    if let Some(frame) = self.complete_frame(header, payload, stream_utf8)? {
                        return Ok(Some(frame));
                    }
                }
            }
        }
    }

    /// Checks the rules a header alone decides, in the order a reader meets
    /// them; returns the payload length as usize.
    fn check_header(&mut self, header: &FrameHeader) -> Result<usize, ProtocolError> {
        // §5.2: "If a nonzero value is received and none of the negotiated
        // extensions defines the meaning of such a nonzero value, the
        // receiving endpoint MUST _Fail the WebSocket Connection_."
        // RFC 7692 §6: permessage-deflate gives RSV1 a meaning on the first
        // frame of a data message only; on a control or continuation frame
        // it stays an error.
        let rsv1_defined =
            self.deflate.is_some() && matches!(header.opcode, OpCode::Text | OpCode::Binary);
        let rsv = u8::from(header.rsv1 && !rsv1_defined) << 2
            | u8::from(header.rsv2) << 1
            | u8::from(header.rsv3);
        if rsv != 0 {
            let all = u8::from(header.rsv1) << 2 | rsv;
            return Err(ProtocolError::ReservedBits(all));
        }
        // §5.1: a server MUST close on an unmasked frame, a client on a masked one.
        match (self.role, header.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrame),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrame),
            _ => {}
        }
        if header.opcode.is_control() {
            // §5.5: "All control frames MUST have a payload length of 125
            // bytes or less and MUST NOT be fragmented."
            if !header.fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if header.payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(ProtocolError::ControlFrameTooLong(header.payload_len));
            }
            return Ok(header.payload_len as usize);
        }
        // §5.4: fragments of one message are not interleaved with another.
        match (header.opcode, self.message) {
            (OpCode::Continuation, None) => return Err(ProtocolError::ContinuationWithoutStart),
            (OpCode::Text | OpCode::Binary, Some(_)) => {
                return Err(ProtocolError::DataFrameInsideFragmentedMessage);
            }
            _ => {}
        }
        // A compressed message is limited by its inflated size, checked while
        // inflating; its wire size gets slack, since deflate can grow data
        // that does not compress (zlib's quick mode by up to an eighth) and
        // a sender that takes over context must send it compressed anyway.
        let compressed = header.rsv1 || (header.opcode == OpCode::Continuation && self.compressed);
        let allowed = |max: usize| -> u64 {
            if compressed {
                (max as u64)
                    .saturating_add(max as u64 / 8)
                    .saturating_add(64)
            } else {
                max as u64
            }
        };
        if header.payload_len > allowed(self.config.max_frame_size) {
            return Err(ProtocolError::FrameTooBig {
                len: header.payload_len,
                max: self.config.max_frame_size,
            });
        }
        let message_len = self.message_len.saturating_add(header.payload_len);
        if message_len > allowed(self.config.max_message_size) {
            return Err(ProtocolError::MessageTooBig {
                len: message_len,
                max: self.config.max_message_size,
            });
        }
        let len = usize::try_from(header.payload_len).map_err(|_| ProtocolError::FrameTooBig {
            len: header.payload_len,
            max: self.config.max_frame_size,
        })?;
        match header.opcode {
            OpCode::Text if !header.fin => self.start_message(MessageKind::Text),
            OpCode::Binary if !header.fin => self.start_message(MessageKind::Binary),
            OpCode::Text => self.utf8.reset(),
            _ => {}
        }
        if matches!(header.opcode, OpCode::Text | OpCode::Binary) {
            self.compressed = header.rsv1;
        }
        self.message_len = message_len;
        Ok(len)
    }

    fn start_message(&mut self, kind: MessageKind) {
        self.message = Some(kind);
        self.message_len = 0;
        self.utf8.reset();
    }

    /// Whether this frame's payload is text to validate as it arrives. A
    /// whole single-frame text message already in the buffer is validated
    /// once, when it becomes a [`Text`], which is as fast to fail.
    fn starts_text_stream(&self, header: &FrameHeader, len: usize) -> bool {
        // Compressed bytes are not text: their inflated form is validated.
        if !self.config.fail_fast_utf8 || self.compressed {
            return false;
        }
        match header.opcode {
            OpCode::Text => !header.fin || self.input.len() < len,
            OpCode::Continuation => self.message == Some(MessageKind::Text),
            _ => false,
        }
    }

    /// Turns a frame's unmasked payload into a frame or a message, or into
    /// nothing while a fragmented message goes on.
    ///
    /// The usual frame, a whole uncompressed message, is handled here and
    /// inlined into the decoder; every other kind goes through
    /// [`Connection::complete_other_frame`].
    #[inline]
    fn complete_frame(
        &mut self,
        header: FrameHeader,
        payload: BytesMut,
        streamed_utf8: bool,
    ) -> Result<Option<Frame>, ProtocolError> {
        let kind = match header.opcode {
            OpCode::Text => MessageKind::Text,
            OpCode::Binary => MessageKind::Binary,
            _ => return self.complete_other_frame(header, payload),
        };
        if !header.fin || self.compressed {
            return self.complete_other_frame(header, payload);
        }
        self.message_len = 0;
        self.finish_message(kind, payload, streamed_utf8).map(Some)
    }

    /// [`Connection::complete_frame`] for control frames, fragments and
    /// compressed frames: never a whole uncompressed message in one frame,
    /// which only `complete_frame` finishes.
    fn complete_other_frame(
        &mut self,
        header: FrameHeader,
        payload: BytesMut,
    ) -> Result<Option<Frame>, ProtocolError> {
        match header.opcode {
            OpCode::Ping => {
                let payload = ControlPayload::from_wire(payload.freeze());
                if self.config.auto_pong && self.state == State::Open {
                    self.push(OpCode::Pong, payload.as_bytes().clone());
                }
                Ok(Some(Frame::Ping(payload)))
            }
            OpCode::Pong => Ok(Some(Frame::Pong(ControlPayload::from_wire(
                payload.freeze(),
            )))),
            OpCode::Close => {
                let close = parse_close_payload(&payload)?;
                self.close_received = true;
                if self.state == State::Open {
                    // §5.5.1: answer with a close frame, echoing the status code.
                    self.push_close(close.as_ref().map(|c| CloseFrame::new(c.code())).as_ref());
                }
                self.state = State::Closed;
                Ok(Some(Frame::Close(close)))
            }
            OpCode::Text | OpCode::Binary | OpCode::Continuation if self.compressed => {
                self.complete_compressed_frame(header, &payload)
            }
            // Fragments; a whole message in one frame went the other way.
            OpCode::Text | OpCode::Binary | OpCode::Continuation => {
                if self.message_buf.is_empty() {
                    self.message_buf = payload;
                } else {
                    self.message_buf.extend_from_slice(&payload);
                }
                if !header.fin {
                    return Ok(None);
                }
                let kind = self.message.take().unwrap_or(MessageKind::Binary);
                self.message_len = 0;
                let message = std::mem::take(&mut self.message_buf);
                let streamed = self.config.fail_fast_utf8;
                self.finish_message(kind, message, streamed).map(Some)
            }
        }
    }

    /// Inflates a compressed frame onto the message, validating inflated
    /// text frame by frame; returns the message after its last frame
    /// (RFC 7692 §7.2.2).
    fn complete_compressed_frame(
        &mut self,
        header: FrameHeader,
        payload: &[u8],
    ) -> Result<Option<Frame>, ProtocolError> {
        let kind = match header.opcode {
            OpCode::Text => MessageKind::Text,
            OpCode::Binary => MessageKind::Binary,
            _ => self.message.unwrap_or(MessageKind::Binary),
        };
        let window_bits = self.peer_window_bits();
        let reset = self.peer_resets_context();
        let max = self.config.max_message_size;
        let Some(deflate) = self.deflate.as_mut() else {
            return Err(ProtocolError::ReservedBits(0b100));
        };
        let before = self.message_buf.len();
        let inflated = deflate
            .inflater
            .inflate(payload, &mut self.message_buf, max, window_bits)
            .and_then(|()| {
                if header.fin {
                    let trailer = sync_trailer();
                    deflate
                        .inflater
                        .inflate(trailer, &mut self.message_buf, max, window_bits)
                } else {
                    Ok(())
                }
            });
        inflated.map_err(|error| match error {
            InflateError::Corrupt => ProtocolError::CorruptCompressedData,
            InflateError::TooBig { max } => ProtocolError::MessageTooBig {
                len: max as u64 + 1,
                max,
            },
        })?;
        let fail_fast = self.config.fail_fast_utf8;
        if kind == MessageKind::Text && fail_fast {
            let fresh = self.message_buf.get(before..).unwrap_or_default();
            self.utf8
                .feed(fresh)
                .map_err(|_| ProtocolError::InvalidUtf8)?;
        }
        if !header.fin {
            return Ok(None);
        }
        deflate.inflater.end_message(reset);
        self.message = None;
        self.message_len = 0;
        self.compressed = false;
        let message = std::mem::take(&mut self.message_buf);
        self.finish_message(kind, message, fail_fast).map(Some)
    }

    #[inline]
    fn finish_message(
        &mut self,
        kind: MessageKind,
        payload: BytesMut,
        streamed_utf8: bool,
    ) -> Result<Frame, ProtocolError> {
        match kind {
            MessageKind::Binary => Ok(Frame::Binary(payload.freeze())),
            MessageKind::Text => {
                if streamed_utf8 {
                    // A message that ends inside a code point is invalid (§8.1).
                    self.utf8.finish().map_err(|_| ProtocolError::InvalidUtf8)?;
                }
                Text::try_from(payload.freeze())
                    .map(Frame::Text)
                    .map_err(|_| ProtocolError::InvalidUtf8)
            }
        }
    }

    /// Fails the connection (§7.1.7): queue the close frame with the error's
    /// code unless a close was already sent, and stop reading.
    fn fail(&mut self, error: &ProtocolError) {
        if self.state == State::Open {
            self.push_close(Some(&CloseFrame::new(error.close_code())));
        }
        self.force_close();
    }

    fn push_close(&mut self, close: Option<&CloseFrame>) {
        let mut payload = [0u8; MAX_CONTROL_PAYLOAD];
        let len = match close {
            Some(close) => {
                let mut cursor = &mut payload[..];
                close.write_payload(&mut cursor);
                close.payload_len()
            }
            None => 0,
        };
        self.push_slice(OpCode::Close, payload.get(..len).unwrap_or_default());
        self.state = if self.close_received {
            State::Closed
        } else {
            State::CloseSent
        };
    }

    /// Queues a data message, compressed when permessage-deflate is on, the
    /// message reaches the threshold and compression actually shrinks it.
    ///
    /// Small and inlined: the uncompressed path is the one every echo of a
    /// small message takes, and each call layer on it costs as much as the
    /// header it writes.
    #[inline]
    fn push_message(&mut self, opcode: OpCode, payload: Bytes) {
        if self
            .deflate
            .as_ref()
            .is_some_and(|deflate| deflate.compress && payload.len() >= deflate.threshold)
        {
            self.push_compressed(opcode, payload);
        } else {
            self.push_with(opcode, payload, false);
        }
    }

    /// Compresses a message (RFC 7692 §7.2.1) and queues it, or queues it
    /// as it is when compressing does not shrink it and the window need not
    /// hold it.
    #[inline(never)]
    fn push_compressed(&mut self, opcode: OpCode, payload: Bytes) {
        let role = self.role;
        if let Some(deflate) = &mut self.deflate {
            let (window_bits, takeover) = match role {
                Role::Server => (
                    deflate.params.server_max_window_bits,
                    !deflate.params.server_no_context_takeover,
                ),
                Role::Client => (
                    deflate.params.client_max_window_bits,
                    !deflate.params.client_no_context_takeover,
                ),
            };
            let mut compressed = Vec::new();
            deflate.deflater.compress(
                &payload,
                &mut compressed,
                deflate.level,
                window_bits,
                takeover,
            );
            // With context takeover the compressor's window now holds this
            // message, so the compressed form must be sent even if larger.
            if takeover || compressed.len() < payload.len() {
                self.push_with(opcode, Bytes::from(compressed), true);
                return;
            }
        }
        self.push_with(opcode, payload, false);
    }

    fn push(&mut self, opcode: OpCode, payload: Bytes) {
        self.push_with(opcode, payload, false);
    }

    fn push_with(&mut self, opcode: OpCode, payload: Bytes, rsv1: bool) {
        match self.role {
            Role::Server => {
                self.push_header(opcode, payload.len(), None, rsv1);
                self.output.put_shared(payload);
            }
            Role::Client => self.push_slice_with(opcode, &payload, rsv1),
        }
    }

    fn push_slice(&mut self, opcode: OpCode, payload: &[u8]) {
        self.push_slice_with(opcode, payload, false);
    }

    fn push_slice_with(&mut self, opcode: OpCode, payload: &[u8], rsv1: bool) {
        let mask = match self.role {
            Role::Server => None,
            Role::Client => Some(self.next_mask_key()),
        };
        self.push_header(opcode, payload.len(), mask, rsv1);
        let open = self.output.open_mut();
        let start = open.len();
        open.extend_from_slice(payload);
        if let (Some(key), Some(written)) = (mask, open.get_mut(start..)) {
            apply_mask(written, key, 0);
        }
        self.output.wrote(payload.len());
    }

    fn push_header(&mut self, opcode: OpCode, len: usize, mask: Option<[u8; 4]>, rsv1: bool) {
        let mut header = FrameHeader::new(opcode, len, mask);
        header.rsv1 = rsv1;
        header.encode(self.output.open_mut());
        self.output.wrote(header.encoded_len());
    }

    fn next_mask_key(&mut self) -> [u8; 4] {
        // xorshift64: cheap and, seeded from the OS, unpredictable to a web
        // page script, which is what §10.3 guards against.
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.mask_state = x;
        ((x >> 32) as u32).to_ne_bytes()
    }
}

/// Unmasks payload bytes that start `offset` bytes into their frame (§5.3)
/// and, for text validated as it arrives, feeds them to the validator so an
/// invalid byte fails at once (§8.1).
fn unmask_and_validate(
    fresh: &mut [u8],
    mask: Option<[u8; 4]>,
    offset: usize,
    utf8: Option<&mut Utf8Validator>,
) -> Result<(), ProtocolError> {
    if let Some(key) = mask {
        apply_mask(fresh, key, offset);
    }
    match utf8 {
        Some(validator) => validator
            .feed(fresh)
            .map_err(|_| ProtocolError::InvalidUtf8),
        None => Ok(()),
    }
}

/// Parses a close frame body (§5.5.1): empty, or a valid code and a UTF-8 reason.
fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
    match payload {
        [] => Ok(None),
        [_] => Err(ProtocolError::CloseFrameOneByte),
        [high, low, reason @ ..] => {
            let number = u16::from_be_bytes([*high, *low]);
            let code = CloseCode::new(number).ok_or(ProtocolError::InvalidCloseCode(number))?;
            let reason =
                crate::utf8::validate(reason).map_err(|_| ProtocolError::InvalidCloseReason)?;
            CloseFrame::try_new(code, reason.to_owned())
                .map(Some)
                .map_err(|_| ProtocolError::ControlFrameTooLong(payload.len() as u64))
        }
    }
}
