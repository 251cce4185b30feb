//! The RFC 6455 §4 opening handshake, sans-IO: bytes in, values out.
//!
//! The server side is the main use: [`parse_request`] turns the bytes read so
//! far into an owned [`Request`] (or asks for more), [`validate_upgrade`]
//! applies the RFC 6455 §4.2.1 checks and yields an [`Upgrade`], and
//! [`switching_protocols`] / [`error_response`] build the bytes to write back.
//! A small client side ([`client_request`], [`parse_response`]) exists so that
//! tests can wire a client and a server together without any I/O.
//!
//! Nothing here touches a socket, a clock or a runtime, and nothing panics on
//! network input: every parser returns a [`HandshakeError`] instead.
//!
//! Bytes that follow the HTTP head in the same read already belong to the
//! WebSocket stream (RFC 6455 §4.1 lets a client pipeline frames right after
//! its request, and a server may send frames right after its 101). The
//! parsers therefore report how many bytes the head occupied; the caller must
//! keep everything after that.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use sha1::{Digest, Sha1};

/// The GUID that RFC 6455 §1.3 (and §4.2.2 item 5.4) appends to the client's
/// `Sec-WebSocket-Key` before hashing, proving the server understood the
/// WebSocket handshake rather than being a confused HTTP server.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Default cap on the size of a request (or response) head, in bytes.
///
/// A handshake is a few hundred bytes; 8 KiB leaves room for cookies and
/// authorization headers while bounding what a peer can make us buffer and
/// re-parse before the head is complete.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 8 * 1024;

/// Maximum number of header fields accepted in one head.
///
/// httparse parses into a fixed array of this size; one more header field
/// gives [`HandshakeError::TooManyHeaders`].
pub const MAX_HEADERS: usize = 64;

/// The WebSocket protocol versions this module accepts, as the value of the
/// `Sec-WebSocket-Version` header field sent with a 426 answer
/// (RFC 6455 §4.2.2 item 4 and the example in §4.4).
///
/// 13 is RFC 6455 itself; 7 and 8 are the late hybi drafts whose wire format
/// is identical, still sent by some old clients.
pub const SUPPORTED_VERSIONS: &str = "13, 8, 7";

/// Computes the `Sec-WebSocket-Accept` value for a client key:
/// base64(SHA-1(key ++ [`GUID`])), as RFC 6455 §1.3 and §4.2.2 item 5.4
/// define it.
///
/// `key` is the `Sec-WebSocket-Key` value exactly as the client sent it (the
/// base64 text, not its decoded bytes).
///
/// # Examples
///
/// ```
/// use ws_core::handshake::accept_key;
///
/// // The example from RFC 6455 §1.3.
/// assert_eq!(
///     accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
///     "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
/// );
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut accept = [0u8; ACCEPT_LEN];
    put_accept_key(key, &mut accept).to_owned()
}

/// The length of a `Sec-WebSocket-Accept` value: base64 of a 20-byte SHA-1.
const ACCEPT_LEN: usize = 28;

/// [`accept_key`] written into `out`, without allocating.
fn put_accept_key<'a>(key: &[u8], out: &'a mut [u8; ACCEPT_LEN]) -> &'a str {
    let mut hasher = Sha1::new();
    hasher.update(key);
    hasher.update(GUID.as_bytes());
    let written = STANDARD
        .encode_slice(hasher.finalize(), out)
        .unwrap_or_default();
    // Base64 output is ASCII.
    std::str::from_utf8(out.get(..written).unwrap_or_default()).unwrap_or_default()
}

/// Encodes a 16-byte nonce as a `Sec-WebSocket-Key` value (RFC 6455 §4.1
/// item 7: "a nonce consisting of a randomly selected 16-byte value that has
/// been base64-encoded").
///
/// This module has no source of randomness (it is sans-IO); the caller
/// supplies the nonce, which must be freshly random for each connection.
///
/// # Examples
///
/// ```
/// use ws_core::handshake::client_key;
///
/// assert_eq!(client_key(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
/// ```
pub fn client_key(nonce: &[u8; 16]) -> String {
    STANDARD.encode(nonce)
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Why an opening handshake was refused (server side) or failed (client
/// side).
///
/// [`status`](HandshakeError::status) gives the HTTP status a server should
/// answer with, and [`error_response`] builds that whole answer. RFC 6455
/// §4.2.1 asks for "an appropriate error code (such as 400 Bad Request)" for
/// every request that is not a valid handshake, so most variants map to 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HandshakeError {
    /// The head is longer than the configured maximum, or is still
    /// incomplete once that many bytes were buffered.
    HeadTooLarge,
    /// The head has more than [`MAX_HEADERS`] header fields.
    TooManyHeaders,
    /// The bytes are not a syntactically valid HTTP/1.x head; the text says
    /// which part httparse rejected.
    Malformed(&'static str),
    /// The request method is not `GET` (RFC 6455 §4.2.1 item 1).
    MethodNotGet,
    /// The request is not HTTP/1.1 or later (RFC 6455 §4.2.1 item 1); on the
    /// client side, the response is not HTTP/1.1.
    HttpVersion,
    /// The request-target is not a resource name (origin-form `/path?query`)
    /// nor an absolute URI (RFC 6455 §4.2.1 item 1 and §3), e.g. `*` or
    /// `host:port`.
    BadRequestTarget,
    /// No `Host` header field (RFC 6455 §4.2.1 item 2).
    MissingHost,
    /// More than one `Host` header field (RFC 7230 §5.4 requires a 400).
    DuplicateHost,
    /// No `Upgrade` header field (RFC 6455 §4.2.1 item 3, §4.1 item 2 for a
    /// response).
    MissingUpgrade,
    /// An `Upgrade` header field without the `websocket` token.
    NotUpgrade,
    /// No `Connection` header field carries the `upgrade` token
    /// (RFC 6455 §4.2.1 item 4, §4.1 item 3 for a response).
    MissingConnectionUpgrade,
    /// `Sec-WebSocket-Key` is missing, repeated, not base64, or does not
    /// decode to exactly 16 bytes (RFC 6455 §4.2.1 item 5).
    BadKey,
    /// `Sec-WebSocket-Version` is missing (`None`) or names a version other
    /// than 7, 8 or 13 (`Some(value)`, at most 32 bytes of it, lossily
    /// decoded). RFC 6455 §4.2.2 item 4 answers this with 426 Upgrade
    /// Required and the list of supported versions.
    UnsupportedVersion(Option<String>),
    /// Client side: the server answered with this status instead of
    /// 101 Switching Protocols (RFC 6455 §4.1 item 1 of the response checks).
    NotSwitching(u16),
    /// Client side: `Sec-WebSocket-Accept` is missing, repeated, or is not
    /// the hash of the key we sent (RFC 6455 §4.1 item 4 of the response
    /// checks).
    BadAccept,
}

impl HandshakeError {
    /// The HTTP status code a server answers this error with.
    ///
    /// * `UnsupportedVersion` → 426 Upgrade Required (RFC 6455 §4.2.2 item 4).
    /// * `HeadTooLarge` and `TooManyHeaders` → 431 Request Header Fields Too
    ///   Large (RFC 6585 §5). That code exists precisely for "the server is
    ///   unwilling to process the request because its header fields are too
    ///   large", which tells a well-behaved client (or a developer reading
    ///   logs) that trimming cookies will help, where a bare 400 would not.
    /// * Everything else → 400 Bad Request. This includes a non-`GET` method:
    ///   RFC 6455 §4.2.1 treats any request that is not a valid handshake as
    ///   a bad request ("such as 400 Bad Request"), so no 405 is sent.
    /// * The client-side variants (`NotSwitching`, `BadAccept`) are never
    ///   sent by a server; they report 400 only so that this function is
    ///   total.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::UnsupportedVersion(_) => 426,
            HandshakeError::HeadTooLarge | HandshakeError::TooManyHeaders => 431,
            _ => 400,
        }
    }

    /// A short, fixed explanation for the body of an error response.
    ///
    /// Unlike `Display`, this never echoes bytes the peer sent.
    fn description(&self) -> &'static str {
        match self {
            HandshakeError::HeadTooLarge => "request head too large",
            HandshakeError::TooManyHeaders => "too many header fields",
            HandshakeError::Malformed(_) => "malformed HTTP request",
            HandshakeError::MethodNotGet => "WebSocket handshake must use GET",
            HandshakeError::HttpVersion => "WebSocket handshake requires HTTP/1.1",
            HandshakeError::BadRequestTarget => "request-target is not a resource path",
            HandshakeError::MissingHost => "missing Host header",
            HandshakeError::DuplicateHost => "more than one Host header",
            HandshakeError::MissingUpgrade => "missing Upgrade header",
            HandshakeError::NotUpgrade => "Upgrade header does not name websocket",
            HandshakeError::MissingConnectionUpgrade => "Connection header lacks the upgrade token",
            HandshakeError::BadKey => "missing or invalid Sec-WebSocket-Key",
            HandshakeError::UnsupportedVersion(_) => {
                "unsupported Sec-WebSocket-Version (supported: 13, 8, 7)"
            }
            HandshakeError::NotSwitching(_) => "server did not switch protocols",
            HandshakeError::BadAccept => "missing or wrong Sec-WebSocket-Accept",
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HandshakeError::Malformed(what) => write!(f, "malformed HTTP head: {what}"),
            HandshakeError::UnsupportedVersion(Some(v)) => {
                write!(f, "unsupported Sec-WebSocket-Version {v:?}")
            }
            HandshakeError::UnsupportedVersion(None) => {
                f.write_str("missing Sec-WebSocket-Version")
            }
            HandshakeError::NotSwitching(code) => {
                write!(
                    f,
                    "server answered {code} instead of 101 Switching Protocols"
                )
            }
            other => f.write_str(other.description()),
        }
    }
}

impl std::error::Error for HandshakeError {}

fn map_httparse_error(err: httparse::Error) -> HandshakeError {
    match err {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        httparse::Error::HeaderName => HandshakeError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HandshakeError::Malformed("invalid header value"),
        httparse::Error::NewLine => HandshakeError::Malformed("invalid line ending"),
        httparse::Error::Status => HandshakeError::Malformed("invalid status"),
        httparse::Error::Token => HandshakeError::Malformed("invalid token"),
        httparse::Error::Version => HandshakeError::Malformed("invalid HTTP version"),
    }
}

// ---------------------------------------------------------------------------
// Request
// ---------------------------------------------------------------------------

/// A byte range into [`Request`]'s copy of the head.
///
/// `u32` offsets: a request head is bounded by the configured maximum (8 KiB
/// by default), and every idle connection keeps its request, so the spans
/// are half the size of `usize` ones. A head over 4 GiB fails [`Span::within`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    const EMPTY: Span = Span { start: 0, end: 0 };

    /// Where `part` (a sub-slice of `base`) lies within `base`.
    fn within(base: &[u8], part: &[u8]) -> Option<Span> {
        if part.is_empty() {
            return Some(Span::EMPTY);
        }
        let start = part.as_ptr().addr().checked_sub(base.as_ptr().addr())?;
        let end = start.checked_add(part.len())?;
        (end <= base.len()).then_some(Span::new(start, end)?)
    }

    /// `None` when an offset does not fit in `u32`.
    fn new(start: usize, end: usize) -> Option<Span> {
        Some(Span {
            start: u32::try_from(start).ok()?,
            end: u32::try_from(end).ok()?,
        })
    }

    fn offset(self, by: u32) -> Span {
        Span {
            start: self.start.saturating_add(by),
            end: self.end.saturating_add(by),
        }
    }

    fn of(self, bytes: &[u8]) -> &[u8] {
        bytes
            .get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// An owned, parsed HTTP/1.x request head.
///
/// It holds a single copy of the head's bytes plus ranges into it, so it is
/// cheap to build and to clone (the copy is a [`Bytes`]). Header names are
/// compared ASCII case-insensitively (RFC 7230 §3.2) and their order is kept.
#[derive(Clone)]
pub struct Request {
    head: Bytes,
    method: Span,
    target: Span,
    path: Span,
    query: Option<Span>,
    http_minor: u8,
    headers: Box<[(Span, Span)]>,
}

impl Request {
    fn text(&self, span: Span) -> &str {
        std::str::from_utf8(span.of(&self.head)).unwrap_or_default()
    }

    /// The request method, e.g. `GET` (case-sensitive, RFC 7230 §3.1.1).
    pub fn method(&self) -> &str {
        self.text(self.method)
    }

    /// The whole request-target as sent, e.g. `/chat?room=1`.
    pub fn target(&self) -> &str {
        self.text(self.target)
    }

    /// The path part of the request-target, without query or fragment: the
    /// RFC 6455 §3 /resource name/ minus its query.
    ///
    /// For an absolute-form target (`http://host/chat?x`, which RFC 6455
    /// §4.2.1 item 1 allows) this is the path after the authority (`/chat`),
    /// and `/` when the URI has no path. Other forms (`*`, `host:port`) are
    /// returned as sent; [`validate_upgrade`] rejects them. No
    /// percent-decoding is applied.
    pub fn path(&self) -> &str {
        let path = self.text(self.path);
        if path.is_empty() { "/" } else { path }
    }

    /// The query string (after `?`, before any `#`), not decoded; `None`
    /// when the target has no `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.map(|span| self.text(span))
    }

    /// The value of the first `name=value` pair in the query whose name
    /// equals `name`.
    ///
    /// Pairs are separated by `&`. Both names and values are decoded as
    /// `application/x-www-form-urlencoded`: `+` becomes a space and `%XX`
    /// becomes the byte `0xXX`; a `%` not followed by two hex digits is kept
    /// literally, and byte sequences that are not UTF-8 are replaced with
    /// U+FFFD. A pair without `=` (`?flag`) has the empty value. The result
    /// borrows from the request when nothing needed decoding.
    ///
    /// # Examples
    ///
    /// ```
    /// use ws_core::handshake::{DEFAULT_MAX_HEAD_SIZE, parse_request};
    ///
    /// let head = b"GET /chat?room=caf%C3%A9+au+lait&x HTTP/1.1\r\nHost: a\r\n\r\n";
    /// let (req, _) = parse_request(head, DEFAULT_MAX_HEAD_SIZE).unwrap().unwrap();
    /// assert_eq!(req.query_param("room").as_deref(), Some("café au lait"));
    /// assert_eq!(req.query_param("x").as_deref(), Some(""));
    /// assert_eq!(req.query_param("y"), None);
    /// ```
    pub fn query_param(&self, name: &str) -> Option<Cow<'_, str>> {
        let query = self.query()?;
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .find_map(|pair| {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (form_decode(key) == name).then(|| form_decode(value))
            })
    }

    /// The HTTP minor version: `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub fn http_minor(&self) -> u8 {
        self.http_minor
    }

    /// The value of the first header field called `name` (ASCII
    /// case-insensitive), with surrounding whitespace removed.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers(name).next()
    }

    /// Like [`header`](Request::header), but `None` also when the value is
    /// not UTF-8.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name)
            .and_then(|value| std::str::from_utf8(value).ok())
    }

    /// Every value of the header field `name`, in order, for fields that may
    /// be repeated (RFC 7230 §3.2.2), e.g. `Sec-WebSocket-Protocol`.
    pub fn headers(&self, name: &str) -> impl Iterator<Item = &[u8]> {
        // Names compared as bytes: a handshake looks up a dozen fields, and
        // making each name a `str` first cost more than the comparisons.
        self.headers
            .iter()
            .filter(move |(n, _)| n.of(&self.head).eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, value)| value.of(&self.head))
    }

    /// The number of header fields (repeated fields counted each time).
    pub fn header_count(&self) -> usize {
        self.headers.len()
    }

    /// All header fields as (name, value), in the order they were sent.
    pub fn all_headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.headers
            .iter()
            .map(|&(name, value)| (self.text(name), value.of(&self.head)))
    }

    /// The raw bytes of the head, request line through the blank line.
    pub fn raw_head(&self) -> &[u8] {
        &self.head
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a Request);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list()
                    .entries(
                        self.0
                            .all_headers()
                            .map(|(name, value)| (name, String::from_utf8_lossy(value))),
                    )
                    .finish()
            }
        }
        f.debug_struct("Request")
            .field("method", &self.method())
            .field("target", &self.target())
            .field("http_minor", &self.http_minor)
            .field("headers", &Headers(self))
            .finish()
    }
}

/// Parses an HTTP/1.x request head from the start of `buf` (with httparse).
///
/// Returns:
/// * `Ok(None)` when the head is not complete yet: read more bytes and call
///   again with the whole buffer;
/// * `Ok(Some((request, consumed)))` when it is: the head occupied
///   `buf[..consumed]`, and any bytes after that are already WebSocket
///   frames (RFC 6455 §4.1) that the caller must keep;
/// * `Err(HeadTooLarge)` when the head is longer than `max_head_size`, or
///   `buf` already holds `max_head_size` bytes without a complete head (only
///   the first `max_head_size` bytes are ever looked at, so a peer cannot
///   make repeated calls expensive);
/// * `Err(TooManyHeaders)` beyond [`MAX_HEADERS`] header fields;
/// * `Err(Malformed(_))` for anything httparse rejects.
///
/// This only parses; [`validate_upgrade`] checks that the request is a
/// WebSocket handshake.
///
/// # Examples
///
/// ```
/// use ws_core::handshake::{DEFAULT_MAX_HEAD_SIZE, parse_request};
///
/// let bytes = b"GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\n\x81\x00";
/// assert!(parse_request(&bytes[..10], DEFAULT_MAX_HEAD_SIZE).unwrap().is_none());
/// let (req, consumed) = parse_request(bytes, DEFAULT_MAX_HEAD_SIZE).unwrap().unwrap();
/// assert_eq!(req.path(), "/chat");
/// assert_eq!(&bytes[consumed..], b"\x81\x00"); // the caller keeps these
/// ```
pub fn parse_request(
    buf: &[u8],
    max_head_size: usize,
) -> Result<Option<(Request, usize)>, HandshakeError> {
    let window = buf.get(..max_head_size).unwrap_or(buf);
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut slots);
    let Some(consumed) = head_length(parsed.parse(window), buf.len(), max_head_size)? else {
        return Ok(None);
    };
    let internal = HandshakeError::Malformed("unparsable head");
    let head = window.get(..consumed).ok_or(internal.clone())?;
    let method = parsed.method.ok_or(internal.clone())?;
    let target = parsed.path.ok_or(internal.clone())?;
    let http_minor = parsed.version.ok_or(internal.clone())?;

    let method = Span::within(head, method.as_bytes()).ok_or(internal.clone())?;
    let target_span = Span::within(head, target.as_bytes()).ok_or(internal.clone())?;
    let (path, query) = split_target(target).ok_or(internal.clone())?;
    let mut headers = Vec::with_capacity(parsed.headers.len());
    for header in parsed.headers.iter() {
        let name = Span::within(head, header.name.as_bytes()).ok_or(internal.clone())?;
        let value = Span::within(head, header.value).ok_or(internal.clone())?;
        headers.push((name, value));
    }
    let request = Request {
        head: Bytes::copy_from_slice(head),
        method,
        target: target_span,
        path: path.offset(target_span.start),
        query: query.map(|q| q.offset(target_span.start)),
        http_minor,
        headers: headers.into_boxed_slice(),
    };
    Ok(Some((request, consumed)))
}

/// The length of a head httparse parsed from the first `max_head_size`
/// bytes of a buffer holding `buffered` bytes: `None` while incomplete, an
/// error once the limit is reached without a complete head.
fn head_length(
    status: httparse::Result<usize>,
    buffered: usize,
    max_head_size: usize,
) -> Result<Option<usize>, HandshakeError> {
    match status {
        Ok(httparse::Status::Complete(length)) => Ok(Some(length)),
        Ok(httparse::Status::Partial) if buffered >= max_head_size => {
            Err(HandshakeError::HeadTooLarge)
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(err) => Err(map_httparse_error(err)),
    }
}

/// Splits a request-target into path and query spans relative to `target`;
/// `None` if an offset does not fit a [`Span`].
fn split_target(target: &str) -> Option<(Span, Option<Span>)> {
    let end = target.find('#').unwrap_or(target.len());
    let before_fragment = target.get(..end).unwrap_or(target);
    let (path_end, query) = match before_fragment.find('?') {
        Some(q) => (q, Some(Span::new(q.saturating_add(1), end)?)),
        None => (end, None),
    };
    let path_part = target.get(..path_end).unwrap_or_default();
    let mut path_start = 0;
    if !path_part.starts_with('/')
        && let Some(scheme_end) = path_part.find("://")
    {
        let authority_start = scheme_end.saturating_add(3);
        let rest = path_part.get(authority_start..).unwrap_or_default();
        path_start = rest
            .find('/')
            .map_or(path_end, |p| authority_start.saturating_add(p));
    }
    Some((Span::new(path_start, path_end)?, query))
}

/// `application/x-www-form-urlencoded` decoding of one name or value.
fn form_decode(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|&c| hex_value(c));
                let lo = bytes.get(i + 2).and_then(|&c| hex_value(c));
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push((hi << 4) | lo);
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

/// A request that passed [`validate_upgrade`]: what the server needs to
/// answer it (RFC 6455 §4.2.1, §4.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upgrade {
    /// The `Sec-WebSocket-Key` value as sent (base64 of 16 bytes); hash it
    /// with [`accept_key`] or [`Upgrade::accept_key`].
    pub key: String,
    /// The `Sec-WebSocket-Version` the client speaks: 7, 8 or 13.
    pub version: u8,
    /// Subprotocols offered in `Sec-WebSocket-Protocol` (RFC 6455 §4.2.1
    /// item 8, §11.3.4), in the client's order of preference, from all such
    /// header lines. Elements are trimmed; empty elements and elements that
    /// are not RFC 7230 tokens (which RFC 6455 §4.1 forbids and which could
    /// not be echoed back safely) are skipped.
    pub protocols: Vec<String>,
    /// Extension offers from all `Sec-WebSocket-Extensions` header lines
    /// (RFC 6455 §4.2.1 item 9, §9.1), in order. A header line that does not
    /// parse contributes no offers (see [`validate_upgrade`]).
    pub extensions: Vec<ExtensionOffer>,
}

impl Upgrade {
    /// The `Sec-WebSocket-Accept` value for this request's key.
    pub fn accept_key(&self) -> String {
        accept_key(self.key.as_bytes())
    }
}

/// Checks that `req` is a WebSocket opening handshake (RFC 6455 §4.2.1) and
/// extracts what the answer needs.
///
/// The checks, in order, each with its own error:
/// 1. method `GET` ([`MethodNotGet`](HandshakeError::MethodNotGet)), HTTP/1.1
///    or later ([`HttpVersion`](HandshakeError::HttpVersion)), and a
///    request-target that is a resource path or absolute URI
///    ([`BadRequestTarget`](HandshakeError::BadRequestTarget));
/// 2. exactly one `Host` ([`MissingHost`](HandshakeError::MissingHost),
///    [`DuplicateHost`](HandshakeError::DuplicateHost));
/// 3. `Upgrade` lists the token `websocket`, case-insensitively, among
///    comma-separated tokens ([`MissingUpgrade`](HandshakeError::MissingUpgrade),
///    [`NotUpgrade`](HandshakeError::NotUpgrade));
/// 4. some `Connection` line lists the token `upgrade`, case-insensitively
///    ([`MissingConnectionUpgrade`](HandshakeError::MissingConnectionUpgrade));
/// 5. exactly one `Sec-WebSocket-Key`, base64 of exactly 16 bytes
///    ([`BadKey`](HandshakeError::BadKey));
/// 6. exactly one `Sec-WebSocket-Version`, `7`, `8` or `13`
///    ([`UnsupportedVersion`](HandshakeError::UnsupportedVersion), answered
///    with 426).
///
/// `Sec-WebSocket-Protocol` and `Sec-WebSocket-Extensions` are optional and
/// never fail the handshake. In particular, a `Sec-WebSocket-Extensions` line
/// that does not follow the RFC 6455 §9.1 grammar is ignored (it yields no
/// offers) rather than refused: an extension offer the server cannot
/// understand is simply declined (RFC 6455 §9.1, RFC 7692 §5), so the
/// connection proceeds without that extension. Use [`parse_extensions`]
/// directly to see the error.
///
/// `Origin` (§4.2.1 item 7) is not checked here: which origins are allowed is
/// the application's policy; read it with [`Request::header_str`].
///
/// # Examples
///
/// ```
/// use ws_core::handshake::{DEFAULT_MAX_HEAD_SIZE, parse_request, validate_upgrade};
///
/// let head = b"GET /chat HTTP/1.1\r\n\
///     Host: server.example.com\r\n\
///     Upgrade: websocket\r\n\
///     Connection: Upgrade\r\n\
///     Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Protocol: chat, superchat\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n";
/// let (req, _) = parse_request(head, DEFAULT_MAX_HEAD_SIZE).unwrap().unwrap();
/// let upgrade = validate_upgrade(&req).unwrap();
/// assert_eq!(upgrade.accept_key(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// assert_eq!(upgrade.protocols, ["chat", "superchat"]);
/// ```
pub fn validate_upgrade(req: &Request) -> Result<Upgrade, HandshakeError> {
    // §4.2.1 item 1. A non-GET request is not a handshake at all, so it gets
    // the same 400 as every other invalid handshake, not 405.
    if req.method() != "GET" {
        return Err(HandshakeError::MethodNotGet);
    }
    if req.http_minor() < 1 {
        return Err(HandshakeError::HttpVersion);
    }
    if !req.path().starts_with('/') {
        return Err(HandshakeError::BadRequestTarget);
    }
    let fields = HandshakeFields::of(req);
    // §4.2.1 item 2.
    match fields.hosts {
        0 => return Err(HandshakeError::MissingHost),
        1 => {}
        _ => return Err(HandshakeError::DuplicateHost),
    }
    // §4.2.1 item 3.
    if !fields.upgrade_present {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !fields.upgrade_websocket {
        return Err(HandshakeError::NotUpgrade);
    }
    // §4.2.1 item 4.
    if !fields.connection_upgrade {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    // §4.2.1 item 5.
    let key = match fields.keys {
        Occurrences::Once(key) => key,
        _ => return Err(HandshakeError::BadKey),
    };
    let key = std::str::from_utf8(key).map_err(|_| HandshakeError::BadKey)?;
    if !is_valid_key(key) {
        return Err(HandshakeError::BadKey);
    }
    // §4.2.1 item 6; §4.2.2 item 4 for the answer.
    let version = match fields.versions {
        Occurrences::Absent => return Err(HandshakeError::UnsupportedVersion(None)),
        Occurrences::Once(b"13") => 13,
        Occurrences::Once(b"8") => 8,
        Occurrences::Once(b"7") => 7,
        Occurrences::Once(value) | Occurrences::Repeated(value) => {
            let shown = value.get(..32).unwrap_or(value);
            return Err(HandshakeError::UnsupportedVersion(Some(
                String::from_utf8_lossy(shown).into_owned(),
            )));
        }
    };
    // §4.2.1 item 8.
    let protocols = if fields.protocol_lines {
        req.headers("sec-websocket-protocol")
            .filter_map(|line| std::str::from_utf8(line).ok())
            .flat_map(|line| line.split(','))
            .map(trim_ows)
            .filter(|p| is_token(p))
            .map(str::to_owned)
            .collect()
    } else {
        Vec::new()
    };
    // §4.2.1 item 9: a bad line is declined, not fatal (see the doc above).
    let extensions = if fields.extension_lines {
        req.headers("sec-websocket-extensions")
            .filter_map(|line| std::str::from_utf8(line).ok())
            .filter_map(|line| parse_extensions(line).ok())
            .flatten()
            .collect()
    } else {
        Vec::new()
    };
    Ok(Upgrade {
        key: key.to_owned(),
        version,
        protocols,
        extensions,
    })
}

/// How often a header field that must appear once was sent, with its first
/// value.
#[derive(Clone, Copy)]
enum Occurrences<'a> {
    Absent,
    Once(&'a [u8]),
    Repeated(&'a [u8]),
}

impl<'a> Occurrences<'a> {
    fn add(self, value: &'a [u8]) -> Occurrences<'a> {
        match self {
            Occurrences::Absent => Occurrences::Once(value),
            Occurrences::Once(first) | Occurrences::Repeated(first) => Occurrences::Repeated(first),
        }
    }
}

/// What [`validate_upgrade`] needs from the header fields, gathered in one
/// pass: a handshake would otherwise scan every field once per name it
/// looks up, and browsers send a dozen fields.
struct HandshakeFields<'a> {
    hosts: usize,
    upgrade_present: bool,
    upgrade_websocket: bool,
    connection_upgrade: bool,
    keys: Occurrences<'a>,
    versions: Occurrences<'a>,
    protocol_lines: bool,
    extension_lines: bool,
}

impl<'a> HandshakeFields<'a> {
    fn of(req: &'a Request) -> HandshakeFields<'a> {
        let mut fields = HandshakeFields {
            hosts: 0,
            upgrade_present: false,
            upgrade_websocket: false,
            connection_upgrade: false,
            keys: Occurrences::Absent,
            versions: Occurrences::Absent,
            protocol_lines: false,
            extension_lines: false,
        };
        for &(name, value) in &req.headers {
            let (name, value) = (name.of(&req.head), value.of(&req.head));
            // Field names are case-insensitive (RFC 7230 §3.2).
            let is = |wanted: &str| name.eq_ignore_ascii_case(wanted.as_bytes());
            if is("host") {
                fields.hosts += 1;
            } else if is("upgrade") {
                fields.upgrade_present = true;
                fields.upgrade_websocket |= has_token(value, "websocket");
            } else if is("connection") {
                fields.connection_upgrade |= has_token(value, "upgrade");
            } else if is("sec-websocket-key") {
                fields.keys = fields.keys.add(value);
            } else if is("sec-websocket-version") {
                fields.versions = fields.versions.add(value);
            } else if is("sec-websocket-protocol") {
                fields.protocol_lines = true;
            } else if is("sec-websocket-extensions") {
                fields.extension_lines = true;
            }
        }
        fields
    }
}

/// A `Sec-WebSocket-Key` must be base64 (with padding) of exactly 16 bytes,
/// which is always 24 characters.
fn is_valid_key(key: &str) -> bool {
    // 24 base64 characters decode to at most 18 bytes.
    let mut decoded = [0u8; 18];
    key.len() == 24
        && STANDARD
            .decode_slice(key, &mut decoded)
            .is_ok_and(|len| len == 16)
}

/// Whether the comma-separated list `value` contains `token` (ASCII
/// case-insensitive), e.g. `keep-alive, Upgrade` contains `upgrade`.
fn has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|element| trim_ows_bytes(element).eq_ignore_ascii_case(token.as_bytes()))
}

fn is_ows(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

fn trim_ows_bytes(mut bytes: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = bytes {
        if !is_ows(*first) {
            break;
        }
        bytes = rest;
    }
    while let [rest @ .., last] = bytes {
        if !is_ows(*last) {
            break;
        }
        bytes = rest;
    }
    bytes
}

/// RFC 7230 §3.2.6 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// RFC 7230 §3.2.6 `token`: one or more `tchar`.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

// ---------------------------------------------------------------------------
// Extensions
// ---------------------------------------------------------------------------

/// One extension offered in `Sec-WebSocket-Extensions` (RFC 6455 §9.1), e.g.
/// `permessage-deflate; client_max_window_bits`.
///
/// `Display` writes it back in header syntax (`name; p; q=v`), suitable for
/// a response's `Sec-WebSocket-Extensions` when the values are tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Its parameters in order: name and, if given, the value (unquoted).
    /// Repeated parameters are kept; whether that is acceptable is up to the
    /// extension (RFC 7692 §7 declines such offers).
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionOffer {
    /// The first parameter called `name` (case-sensitive, as extension
    /// parameter names are tokens compared exactly): `None` when absent,
    /// `Some(None)` when present without a value.
    pub fn param(&self, name: &str) -> Option<Option<&str>> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref())
    }
}

impl fmt::Display for ExtensionOffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        for (name, value) in &self.params {
            match value {
                Some(value) => write!(f, "; {name}={value}")?,
                None => write!(f, "; {name}")?,
            }
        }
        Ok(())
    }
}

/// Why a `Sec-WebSocket-Extensions` value does not follow the RFC 6455 §9.1
/// grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionParseError {
    position: usize,
    reason: &'static str,
}

impl ExtensionParseError {
    /// Byte offset in the header value where parsing failed.
    pub fn position(&self) -> usize {
        self.position
    }

    /// What was expected there.
    pub fn reason(&self) -> &'static str {
        self.reason
    }
}

impl fmt::Display for ExtensionParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid Sec-WebSocket-Extensions at byte {}: {}",
            self.position, self.reason
        )
    }
}

impl std::error::Error for ExtensionParseError {}

/// A cursor over a header value for [`parse_extensions`].
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    fn skip_ows(&mut self) {
        while self.peek().is_some_and(is_ows) {
            self.bump();
        }
    }

    fn error(&self, reason: &'static str) -> ExtensionParseError {
        ExtensionParseError {
            position: self.pos,
            reason,
        }
    }

    fn token(&mut self, reason: &'static str) -> Result<&'a str, ExtensionParseError> {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.bump();
        }
        self.bytes
            .get(start..self.pos)
            .filter(|t| !t.is_empty())
            .and_then(|t| std::str::from_utf8(t).ok())
            .ok_or_else(|| self.error(reason))
    }

    /// A quoted-string (RFC 7230 §3.2.6) starting at the opening quote,
    /// returned unescaped.
    fn quoted_string(&mut self) -> Result<String, ExtensionParseError> {
        let open = self.pos;
        self.bump();
        let mut value = Vec::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ExtensionParseError {
                        position: open,
                        reason: "unterminated quoted-string",
                    });
                }
                Some(b'"') => {
                    self.bump();
                    break;
                }
                Some(b'\\') => {
                    self.bump();
                    match self.peek() {
                        Some(c) if c == b'\t' || c >= 0x20 && c != 0x7f => {
                            value.push(c);
                            self.bump();
                        }
                        _ => return Err(self.error("invalid quoted-pair")),
                    }
                }
                Some(c) if c == b'\t' || c >= 0x20 && c != 0x7f => {
                    value.push(c);
                    self.bump();
                }
                Some(_) => return Err(self.error("control character in quoted-string")),
            }
        }
        String::from_utf8(value).map_err(|_| self.error("quoted-string is not UTF-8"))
    }
}

/// Parses one `Sec-WebSocket-Extensions` header value (RFC 6455 §9.1):
///
/// ```text
/// extension-list = 1#extension
/// extension      = extension-token *( ";" extension-param )
/// extension-param = token [ "=" (token | quoted-string) ]
/// ```
///
/// Tokens are RFC 7230 `tchar` sequences. Quoted values are unescaped
/// (`\x` → `x`) and, as §9.1 requires, must then be tokens themselves.
/// Whitespace around `,`, `;` and `=` is tolerated, and empty list elements
/// (`a, , b`, a leading or trailing comma, an empty value) are skipped per
/// RFC 7230 §7, so an empty value gives an empty list.
///
/// The whole value is rejected if any part is malformed; the caller decides
/// what that means ([`validate_upgrade`] ignores such a line).
///
/// # Examples
///
/// ```
/// use ws_core::handshake::parse_extensions;
///
/// let offers = parse_extensions(
///     "permessage-deflate; client_max_window_bits=10; server_no_context_takeover, \
///      permessage-deflate",
/// )
/// .unwrap();
/// assert_eq!(offers.len(), 2);
/// assert_eq!(offers[0].param("client_max_window_bits"), Some(Some("10")));
/// assert_eq!(offers[0].param("server_no_context_takeover"), Some(None));
/// assert!(offers[1].params.is_empty());
/// assert!(parse_extensions("permessage-deflate; x=\"unterminated").is_err());
/// ```
pub fn parse_extensions(value: &str) -> Result<Vec<ExtensionOffer>, ExtensionParseError> {
    let mut cur = Cursor {
        bytes: value.as_bytes(),
        pos: 0,
    };
    let mut offers = Vec::new();
    loop {
        cur.skip_ows();
        match cur.peek() {
            None => break,
            Some(b',') => {
                cur.bump();
                continue;
            }
            Some(_) => {}
        }
        let name = cur.token("expected an extension name")?.to_owned();
        let mut params = Vec::new();
        loop {
            cur.skip_ows();
            match cur.peek() {
                None => break,
                Some(b',') => {
                    cur.bump();
                    break;
                }
                Some(b';') => {
                    cur.bump();
                    cur.skip_ows();
                    let param = cur.token("expected a parameter name")?.to_owned();
                    cur.skip_ows();
                    let mut param_value = None;
                    if cur.peek() == Some(b'=') {
                        cur.bump();
                        cur.skip_ows();
                        let start = cur.pos;
                        let v = if cur.peek() == Some(b'"') {
                            let v = cur.quoted_string()?;
                            if !is_token(&v) {
                                return Err(ExtensionParseError {
                                    position: start,
                                    reason: "quoted parameter value is not a token",
                                });
                            }
                            v
                        } else {
                            cur.token("expected a parameter value")?.to_owned()
                        };
                        param_value = Some(v);
                    }
                    params.push((param, param_value));
                }
                Some(_) => return Err(cur.error("expected ';' or ','")),
            }
        }
        offers.push(ExtensionOffer { name, params });
    }
    Ok(offers)
}

// ---------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------

/// The reason phrase this module writes for `status` (RFC 7231 §6.1 and
/// RFC 6585), or `"Unknown"` for codes it does not list. Clients must not
/// rely on the phrase (RFC 7230 §3.1.2); it is for humans.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Payload Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

/// Whether a header value can be written without letting the peer (or an
/// attacker who controls the value) start a new header line: no CR, LF, NUL
/// or other control character except horizontal tab (RFC 7230 §3.2
/// `field-value`).
fn is_safe_value(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

/// `n` in decimal, without the `String` that `to_string` would allocate.
fn put_decimal(out: &mut Vec<u8>, n: usize) {
    use std::io::Write as _;
    // Writing to a `Vec` cannot fail.
    let _ = write!(out, "{n}");
}

/// `HTTP/1.1 {status} {reason}` and its line end; `status` has three digits.
fn put_status_line(out: &mut Vec<u8>, status: u16) {
    out.extend_from_slice(b"HTTP/1.1 ");
    put_decimal(out, status.into());
    out.push(b' ');
    out.extend_from_slice(reason_phrase(status).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes the caller's header fields that are safe to write: the name a
/// token, the value without CR, LF or other controls, and no framing
/// (`Content-Length`, `Transfer-Encoding`), which [`response`] writes itself.
fn put_safe_headers<'a>(out: &mut Vec<u8>, headers: impl Iterator<Item = (&'a str, &'a str)>) {
    for (name, value) in headers {
        if !is_token(name)
            || !is_safe_value(value)
            || name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
        {
            continue;
        }
        put_header(out, name, value);
    }
}

fn put_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Builds a complete HTTP/1.1 response: status line with
/// [`reason_phrase`], the given headers, `Content-Length`, and the body.
///
/// * Statuses that forbid a body (1xx, 204, 304; RFC 7230 §3.3.3) get
///   neither `Content-Length` nor the body, which is ignored.
/// * A status outside 100..=999 (not three digits) is written as 500.
/// * Header fields whose name is not a token or whose value contains CR,
///   LF or another control character are **skipped**, so no value can inject
///   extra header lines or end the head early. `Content-Length` and
///   `Transfer-Encoding` given by the caller are skipped too: this function
///   always frames the body itself.
/// * The head therefore ends at the first empty line (`\r\n\r\n`): the
///   answer to a HEAD request is the bytes up to it, with the
///   `Content-Length` GET would get and no content (RFC 9110 §9.3.2).
///
/// # Examples
///
/// ```
/// use ws_core::handshake::response;
///
/// let bytes = response(404, &[("Content-Type", "text/plain")], b"nope");
/// assert_eq!(
///     bytes,
///     b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nnope"
/// );
/// ```
pub fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let status = if (100..=999).contains(&status) {
        status
    } else {
        500
    };
    let bodyless = (100..200).contains(&status) || status == 204 || status == 304;
    let headers_len: usize = headers
        .iter()
        .map(|(n, v)| n.len().saturating_add(v.len()).saturating_add(4))
        .fold(0, usize::saturating_add);
    let mut out = Vec::with_capacity(
        64usize
            .saturating_add(headers_len)
            .saturating_add(if bodyless { 0 } else { body.len() }),
    );
    put_status_line(&mut out, status);
    put_safe_headers(&mut out, headers.iter().copied());
    if !bodyless {
        out.extend_from_slice(b"Content-Length: ");
        put_decimal(&mut out, body.len());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !bodyless {
        out.extend_from_slice(body);
    }
    out
}

/// Builds the `101 Switching Protocols` answer to a valid handshake
/// (RFC 6455 §4.2.2 item 5): `Upgrade: websocket`, `Connection: Upgrade`,
/// `Sec-WebSocket-Accept: accept_key(upgrade_key)`, then the optional
/// `Sec-WebSocket-Protocol` (the one subprotocol the server selected, §4.2.2
/// item 5.5) and `Sec-WebSocket-Extensions` (the accepted extensions, item
/// 5.6), then `extra_headers` (e.g. `Set-Cookie`).
///
/// Unsafe values are **skipped**, never written: a `protocol` that is not an
/// RFC 7230 token, an `extensions` value that is empty or contains CR, LF or
/// another control character, and extra headers that [`response`] would
/// skip. Extra headers that would duplicate or contradict the ones this
/// function writes (`Upgrade`, `Connection`, `Sec-WebSocket-Accept`,
/// `Sec-WebSocket-Protocol`, `Sec-WebSocket-Extensions`) are skipped as well.
/// A 101 has no body and no `Content-Length`.
///
/// # Examples
///
/// ```
/// use ws_core::handshake::switching_protocols;
///
/// let bytes = switching_protocols("dGhlIHNhbXBsZSBub25jZQ==", Some("chat"), None, &[]);
/// assert_eq!(
///     bytes,
///     b"HTTP/1.1 101 Switching Protocols\r\n\
///       Upgrade: websocket\r\n\
///       Connection: Upgrade\r\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
///       Sec-WebSocket-Protocol: chat\r\n\r\n"
/// );
/// ```
pub fn switching_protocols(
    upgrade_key: &str,
    protocol: Option<&str>,
    extensions: Option<&str>,
    extra_headers: &[(&str, &str)],
) -> Vec<u8> {
    const RESERVED: [&str; 5] = [
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
    ];
    let mut accept = [0u8; ACCEPT_LEN];
    let accept = put_accept_key(upgrade_key.as_bytes(), &mut accept);
    let protocol = protocol.filter(|p| is_token(p));
    let extensions = extensions.filter(|e| !trim_ows(e).is_empty() && is_safe_value(e));
    let extra_headers = extra_headers
        .iter()
        .copied()
        .filter(|(name, _)| !RESERVED.iter().any(|r| name.eq_ignore_ascii_case(r)));
    let mut out = Vec::with_capacity(
        256usize
            .saturating_add(protocol.map_or(0, str::len))
            .saturating_add(extensions.map_or(0, str::len))
            .saturating_add(
                extra_headers
                    .clone()
                    .map(|(n, v)| n.len().saturating_add(v.len()).saturating_add(4))
                    .fold(0, usize::saturating_add),
            ),
    );
    // The fields this function writes are written as they are: their names
    // are tokens, and their values constants or checked above.
    put_status_line(&mut out, 101);
    put_header(&mut out, "Upgrade", "websocket");
    put_header(&mut out, "Connection", "Upgrade");
    put_header(&mut out, "Sec-WebSocket-Accept", accept);
    if let Some(protocol) = protocol {
        put_header(&mut out, "Sec-WebSocket-Protocol", protocol);
    }
    if let Some(extensions) = extensions {
        put_header(&mut out, "Sec-WebSocket-Extensions", extensions);
    }
    put_safe_headers(&mut out, extra_headers);
    // A 101 has no content, so no Content-Length (RFC 9110 §8.6).
    out.extend_from_slice(b"\r\n");
    out
}

/// Builds the answer to a refused handshake: status
/// [`err.status()`](HandshakeError::status) with its reason phrase,
/// `Content-Type: text/plain; charset=utf-8`, `Connection: close`,
/// `Content-Length`, and a one-line body saying what was wrong (fixed text:
/// nothing the peer sent is echoed).
///
/// For 426 (unsupported version) it also sends `Sec-WebSocket-Version: 13, 8,
/// 7` (RFC 6455 §4.2.2 item 4) and `Upgrade: websocket`, which RFC 7230 §6.7
/// requires in a 426; since an `Upgrade` header must be named by a
/// `Connection` option, the connection header there reads
/// `Connection: close, Upgrade`.
///
/// The caller should close the connection after writing this.
///
/// # Examples
///
/// ```
/// use ws_core::handshake::{HandshakeError, error_response};
///
/// let bytes = error_response(&HandshakeError::UnsupportedVersion(Some("12".into())));
/// let text = String::from_utf8(bytes).unwrap();
/// assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
/// assert!(text.contains("\r\nSec-WebSocket-Version: 13, 8, 7\r\n"));
/// ```
pub fn error_response(err: &HandshakeError) -> Vec<u8> {
    let status = err.status();
    let body = format!("{}: {}\n", reason_phrase(status), err.description());
    let mut headers = vec![("Content-Type", "text/plain; charset=utf-8")];
    if status == 426 {
        headers.push(("Connection", "close, Upgrade"));
        headers.push(("Upgrade", "websocket"));
        headers.push(("Sec-WebSocket-Version", SUPPORTED_VERSIONS));
    } else {
        headers.push(("Connection", "close"));
    }
    response(status, &headers, body.as_bytes())
}

// ---------------------------------------------------------------------------
// Client side
// ---------------------------------------------------------------------------

/// Builds a client opening handshake (RFC 6455 §4.1): `GET path HTTP/1.1`
/// with `Host`, `Upgrade: websocket`, `Connection: Upgrade`,
/// `Sec-WebSocket-Key: key`, `Sec-WebSocket-Version: 13`, and optionally
/// `Sec-WebSocket-Protocol` (the valid tokens of `protocols`, joined with
/// `, `) and `Sec-WebSocket-Extensions`.
///
/// Mainly for tests and tools. `key` should come from [`client_key`] with a
/// fresh random nonce. An empty `path` is sent as `/`; bytes in `path` that
/// may not appear in a request-target (controls, space, non-ASCII) are
/// percent-encoded. `host`, `key` or `extensions` values containing control
/// characters are left out rather than written (the request is then
/// refused by the server, but no header can be injected).
///
/// # Examples
///
/// ```
/// use ws_core::handshake::client_request;
///
/// let bytes = client_request("example.com", "/chat", "dGhlIHNhbXBsZSBub25jZQ==", &["chat"], None);
/// assert!(bytes.starts_with(b"GET /chat HTTP/1.1\r\nHost: example.com\r\n"));
/// ```
pub fn client_request(
    host: &str,
    path: &str,
    key: &str,
    protocols: &[&str],
    extensions: Option<&str>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + host.len() + path.len());
    out.extend_from_slice(b"GET ");
    if path.is_empty() {
        out.push(b'/');
    }
    for &b in path.as_bytes() {
        if b > 0x20 && b < 0x7f {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out.extend_from_slice(b" HTTP/1.1\r\n");
    if is_safe_value(host) {
        put_header(&mut out, "Host", host);
    }
    put_header(&mut out, "Upgrade", "websocket");
    put_header(&mut out, "Connection", "Upgrade");
    if is_safe_value(key) {
        put_header(&mut out, "Sec-WebSocket-Key", key);
    }
    put_header(&mut out, "Sec-WebSocket-Version", "13");
    let protocols: Vec<&str> = protocols.iter().copied().filter(|p| is_token(p)).collect();
    if !protocols.is_empty() {
        put_header(&mut out, "Sec-WebSocket-Protocol", &protocols.join(", "));
    }
    if let Some(extensions) = extensions.filter(|e| !trim_ows(e).is_empty() && is_safe_value(e)) {
        put_header(&mut out, "Sec-WebSocket-Extensions", extensions);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What a client learns from a successful `101 Switching Protocols`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientResponse {
    /// The subprotocol the server selected (`Sec-WebSocket-Protocol`), if
    /// any. RFC 6455 §4.1 requires the client to fail the connection if it
    /// is not one it offered; [`parse_response`] cannot know the offer, so
    /// the caller checks.
    pub protocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` value(s), joined with `, ` when sent on
    /// several lines; parse with [`parse_extensions`]. As with `protocol`,
    /// the caller must fail the connection on an extension it did not offer
    /// (RFC 6455 §4.1).
    pub extensions: Option<String>,
}

/// Parses the server's answer to a client handshake (RFC 6455 §4.1, the
/// checks after "If the status code received from the server is not 101").
///
/// Returns `Ok(None)` while the head is incomplete, and on success the
/// [`ClientResponse`] and the number of bytes the head occupied; bytes after
/// it are WebSocket frames the server already sent. Checks, in order:
/// status 101 ([`NotSwitching`](HandshakeError::NotSwitching)), HTTP/1.1
/// ([`HttpVersion`](HandshakeError::HttpVersion)), `Upgrade: websocket`,
/// `Connection: upgrade` (tokens, case-insensitive), and exactly one
/// `Sec-WebSocket-Accept` equal to `accept_key(expected_key)`
/// ([`BadAccept`](HandshakeError::BadAccept)). More than one
/// `Sec-WebSocket-Protocol` value is [`Malformed`](HandshakeError::Malformed).
/// Heads larger than [`DEFAULT_MAX_HEAD_SIZE`] are
/// [`HeadTooLarge`](HandshakeError::HeadTooLarge).
///
/// # Examples
///
/// ```
/// use ws_core::handshake::{parse_response, switching_protocols};
///
/// let key = "dGhlIHNhbXBsZSBub25jZQ==";
/// let bytes = switching_protocols(key, None, None, &[]);
/// let (resp, used) = parse_response(&bytes, key).unwrap().unwrap();
/// assert_eq!(used, bytes.len());
/// assert_eq!(resp.protocol, None);
/// ```
pub fn parse_response(
    buf: &[u8],
    expected_key: &str,
) -> Result<Option<(ClientResponse, usize)>, HandshakeError> {
    let window = buf.get(..DEFAULT_MAX_HEAD_SIZE).unwrap_or(buf);
    let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Response::new(&mut slots);
    let Some(consumed) = head_length(parsed.parse(window), buf.len(), DEFAULT_MAX_HEAD_SIZE)?
    else {
        return Ok(None);
    };
    let code = parsed
        .code
        .ok_or(HandshakeError::Malformed("missing status"))?;
    if code != 101 {
        return Err(HandshakeError::NotSwitching(code));
    }
    if parsed.version != Some(1) {
        return Err(HandshakeError::HttpVersion);
    }
    let headers = &*parsed.headers;
    let values = |name: &'static str| {
        headers
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if values("upgrade").next().is_none() {
        return Err(HandshakeError::MissingUpgrade);
    }
    if !values("upgrade").any(|value| has_token(value, "websocket")) {
        return Err(HandshakeError::NotUpgrade);
    }
    if !values("connection").any(|value| has_token(value, "upgrade")) {
        return Err(HandshakeError::MissingConnectionUpgrade);
    }
    let mut accepts = values("sec-websocket-accept");
    match (accepts.next(), accepts.next()) {
        (Some(accept), None) if accept == accept_key(expected_key.as_bytes()).as_bytes() => {}
        _ => return Err(HandshakeError::BadAccept),
    }
    let not_utf8 = HandshakeError::Malformed("header value is not UTF-8");
    let mut protocols = values("sec-websocket-protocol");
    let protocol = match (protocols.next(), protocols.next()) {
        (None, _) => None,
        (Some(p), None) => {
            let p = std::str::from_utf8(p).map_err(|_| not_utf8.clone())?;
            if !is_token(p) {
                return Err(HandshakeError::Malformed(
                    "Sec-WebSocket-Protocol is not a single token",
                ));
            }
            Some(p.to_owned())
        }
        (Some(_), Some(_)) => {
            return Err(HandshakeError::Malformed(
                "more than one Sec-WebSocket-Protocol",
            ));
        }
    };
    let mut extensions: Option<String> = None;
    for line in values("sec-websocket-extensions") {
        let line = std::str::from_utf8(line).map_err(|_| not_utf8.clone())?;
        match &mut extensions {
            Some(all) => {
                all.push_str(", ");
                all.push_str(line);
            }
            None => extensions = Some(line.to_owned()),
        }
    }
    Ok(Some((
        ClientResponse {
            protocol,
            extensions,
        },
        consumed,
    )))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]
mod tests {
    use super::*;

    /// The client request of RFC 6455 §1.2 (with §4.1's required fields).
    const RFC_REQUEST: &[u8] = b"GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\
        \r\n";

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn parse(bytes: &[u8]) -> Result<Option<(Request, usize)>, HandshakeError> {
        parse_request(bytes, DEFAULT_MAX_HEAD_SIZE)
    }

    fn parse_ok(bytes: &[u8]) -> Request {
        parse(bytes).unwrap().unwrap().0
    }

    /// Builds a request from the sample by replacing header lines: each
    /// `(name, Some(value))` replaces (or appends) that header, `None` drops it.
    fn request_with(request_line: &str, changes: &[(&str, Option<&str>)]) -> Vec<u8> {
        let mut headers: Vec<(String, String)> = vec![
            ("Host".into(), "server.example.com".into()),
            ("Upgrade".into(), "websocket".into()),
            ("Connection".into(), "Upgrade".into()),
            ("Sec-WebSocket-Key".into(), KEY.into()),
            ("Sec-WebSocket-Version".into(), "13".into()),
        ];
        for (name, value) in changes {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            if let Some(value) = value {
                headers.push(((*name).into(), (*value).into()));
            }
        }
        let mut out = format!("{request_line}\r\n");
        for (n, v) in headers {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    fn validate(bytes: &[u8]) -> Result<Upgrade, HandshakeError> {
        validate_upgrade(&parse_ok(bytes))
    }

    fn with(changes: &[(&str, Option<&str>)]) -> Result<Upgrade, HandshakeError> {
        validate(&request_with("GET /chat HTTP/1.1", changes))
    }

    fn head_text(bytes: &[u8]) -> String {
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Parses a response head with httparse and returns its header names.
    fn response_header_names(bytes: &[u8]) -> Vec<String> {
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut slots);
        let status = resp.parse(bytes).unwrap();
        assert!(status.is_complete());
        resp.headers.iter().map(|h| h.name.to_owned()).collect()
    }

    // --- accept key -------------------------------------------------------

    #[test]
    fn rfc6455_1_3_accept_key_vector() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn client_key_is_base64_of_the_nonce() {
        assert_eq!(client_key(b"the sample nonce"), KEY);
    }

    // --- parsing ----------------------------------------------------------

    #[test]
    fn rfc6455_1_2_sample_request_parses_and_validates() {
        let (req, consumed) = parse(RFC_REQUEST).unwrap().unwrap();
        assert_eq!(consumed, RFC_REQUEST.len());
        assert_eq!(req.method(), "GET");
        assert_eq!(req.path(), "/chat");
        assert_eq!(req.target(), "/chat");
        assert_eq!(req.query(), None);
        assert_eq!(req.http_minor(), 1);
        assert_eq!(req.header_count(), 7);
        assert_eq!(req.header("host"), Some(&b"server.example.com"[..]));
        assert_eq!(req.header_str("ORIGIN"), Some("http://example.com"));
        assert_eq!(req.header("x-missing"), None);
        let names: Vec<&str> = req.all_headers().map(|(n, _)| n).collect();
        assert_eq!(names[0], "Host");
        assert_eq!(names[6], "Sec-WebSocket-Version");
        assert_eq!(req.raw_head(), RFC_REQUEST);

        let up = validate_upgrade(&req).unwrap();
        assert_eq!(up.key, KEY);
        assert_eq!(up.version, 13);
        assert_eq!(up.protocols, ["chat", "superchat"]);
        assert!(up.extensions.is_empty());
        assert_eq!(up.accept_key(), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        // Debug does not panic and shows the method.
        assert!(format!("{req:?}").contains("GET"));
    }

    #[test]
    fn incomplete_head_needs_more_bytes_at_every_split() {
        let mut bytes = RFC_REQUEST.to_vec();
        bytes.extend_from_slice(b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
        for end in 0..RFC_REQUEST.len() {
            assert_eq!(
                parse(&bytes[..end]).unwrap().map(|(_, n)| n),
                None,
                "prefix of {end} bytes"
            );
        }
        for end in RFC_REQUEST.len()..=bytes.len() {
            let (_, consumed) = parse(&bytes[..end]).unwrap().unwrap();
            assert_eq!(consumed, RFC_REQUEST.len(), "prefix of {end} bytes");
        }
    }

    #[test]
    fn bytes_after_the_head_are_not_consumed() {
        let mut bytes = RFC_REQUEST.to_vec();
        bytes.extend_from_slice(b"GET /second HTTP/1.1\r\n\r\n");
        let (req, consumed) = parse(&bytes).unwrap().unwrap();
        assert_eq!(req.path(), "/chat");
        assert_eq!(&bytes[consumed..], b"GET /second HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn head_too_large_when_incomplete_at_the_limit() {
        let mut bytes = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
        bytes.resize(DEFAULT_MAX_HEAD_SIZE - 1, b'a');
        assert!(parse(&bytes).unwrap().is_none());
        bytes.push(b'a');
        assert_eq!(parse(&bytes).unwrap_err(), HandshakeError::HeadTooLarge);
        bytes.resize(100_000, b'a');
        assert_eq!(parse(&bytes).unwrap_err(), HandshakeError::HeadTooLarge);
    }

    #[test]
    fn head_too_large_when_complete_but_over_the_limit() {
        assert_eq!(
            parse_request(RFC_REQUEST, 50).unwrap_err(),
            HandshakeError::HeadTooLarge
        );
        // Exactly at the limit is fine.
        let (_, n) = parse_request(RFC_REQUEST, RFC_REQUEST.len())
            .unwrap()
            .unwrap();
        assert_eq!(n, RFC_REQUEST.len());
        assert_eq!(
            parse_request(RFC_REQUEST, RFC_REQUEST.len() - 1).unwrap_err(),
            HandshakeError::HeadTooLarge
        );
    }

    #[test]
    fn head_too_large_and_too_many_headers_answer_431() {
        assert_eq!(HandshakeError::HeadTooLarge.status(), 431);
        assert_eq!(HandshakeError::TooManyHeaders.status(), 431);
        let bytes = error_response(&HandshakeError::HeadTooLarge);
        assert!(bytes.starts_with(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    }

    #[test]
    fn too_many_headers_is_rejected() {
        let mut head = String::from("GET / HTTP/1.1\r\n");
        for i in 0..MAX_HEADERS {
            head.push_str(&format!("X-{i}: v\r\n"));
        }
        let ok = format!("{head}\r\n");
        assert_eq!(parse_ok(ok.as_bytes()).header_count(), MAX_HEADERS);
        head.push_str("X-One-Too-Many: v\r\n\r\n");
        assert_eq!(
            parse(head.as_bytes()).unwrap_err(),
            HandshakeError::TooManyHeaders
        );
    }

    #[test]
    fn malformed_heads_are_rejected() {
        for bad in [
            &b"GET /chat HTTP/9.9\r\n\r\n"[..],
            b"GET  /chat HTTP/1.1\r\n\r\n",
            b"GET /chat HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET /chat HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"G\x00T / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\rX\r\n\r\n",
        ] {
            assert!(
                matches!(parse(bad), Err(HandshakeError::Malformed(_))),
                "{bad:?} gave {:?}",
                parse(bad)
            );
        }
    }

    #[test]
    fn repeated_headers_are_all_visible_in_order() {
        let req = parse_ok(b"GET / HTTP/1.1\r\nA: 1\r\nB: x\r\na: 2\r\n\r\n");
        let all: Vec<&[u8]> = req.headers("A").collect();
        assert_eq!(all, [&b"1"[..], b"2"]);
        assert_eq!(req.header("a"), Some(&b"1"[..]));
        assert_eq!(req.header_count(), 3);
    }

    #[test]
    fn non_utf8_header_value_is_bytes_only() {
        let req = parse_ok(b"GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n");
        assert_eq!(req.header("x"), Some(&b"caf\xe9"[..]));
        assert_eq!(req.header_str("x"), None);
    }

    #[test]
    fn path_and_query_are_split_and_fragment_dropped() {
        let req = parse_ok(b"GET /a/b?x=1&y=2#frag HTTP/1.1\r\n\r\n");
        assert_eq!(req.path(), "/a/b");
        assert_eq!(req.query(), Some("x=1&y=2"));
        assert_eq!(req.target(), "/a/b?x=1&y=2#frag");
        let req = parse_ok(b"GET /empty? HTTP/1.1\r\n\r\n");
        assert_eq!(req.query(), Some(""));
    }

    #[test]
    fn absolute_form_target_yields_the_resource_path() {
        let req = parse_ok(b"GET http://example.com:80/chat?q=1 HTTP/1.1\r\n\r\n");
        assert_eq!(req.path(), "/chat");
        assert_eq!(req.query(), Some("q=1"));
        let req = parse_ok(b"GET https://example.com HTTP/1.1\r\n\r\n");
        assert_eq!(req.path(), "/");
        assert_eq!(req.query(), None);
    }

    #[test]
    fn query_param_decodes_percent_and_plus() {
        let req =
            parse_ok(b"GET /?a=1&name=J%C3%B6rg+M%41x&bad=%zz%4&empty=&flag&a=2&sp%20ace=ok HTTP/1.1\r\n\r\n");
        assert_eq!(req.query_param("a").as_deref(), Some("1"));
        assert_eq!(req.query_param("name").as_deref(), Some("Jörg MAx"));
        assert_eq!(req.query_param("bad").as_deref(), Some("%zz%4"));
        assert_eq!(req.query_param("empty").as_deref(), Some(""));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
        assert_eq!(req.query_param("sp ace").as_deref(), Some("ok"));
        assert_eq!(req.query_param("missing"), None);
        assert!(matches!(req.query_param("a"), Some(Cow::Borrowed(_))));
        let req = parse_ok(b"GET /?bin=%FF HTTP/1.1\r\n\r\n");
        assert_eq!(req.query_param("bin").as_deref(), Some("\u{FFFD}"));
        let req = parse_ok(b"GET /no-query HTTP/1.1\r\n\r\n");
        assert_eq!(req.query_param("a"), None);
    }

    // --- validation -------------------------------------------------------

    #[test]
    fn method_must_be_get_and_is_answered_400() {
        let err = validate(&request_with("POST /chat HTTP/1.1", &[])).unwrap_err();
        assert_eq!(err, HandshakeError::MethodNotGet);
        assert_eq!(err.status(), 400);
        // Methods are case-sensitive.
        let err = validate(&request_with("get /chat HTTP/1.1", &[])).unwrap_err();
        assert_eq!(err, HandshakeError::MethodNotGet);
    }

    #[test]
    fn http_1_0_is_rejected() {
        let err = validate(&request_with("GET /chat HTTP/1.0", &[])).unwrap_err();
        assert_eq!(err, HandshakeError::HttpVersion);
        assert_eq!(err.status(), 400);
    }

    #[test]
    fn request_target_must_be_a_resource_name() {
        for line in ["GET * HTTP/1.1", "GET example.com:80 HTTP/1.1"] {
            assert_eq!(
                validate(&request_with(line, &[])).unwrap_err(),
                HandshakeError::BadRequestTarget
            );
        }
        let up = validate(&request_with(
            "GET http://server.example.com/chat HTTP/1.1",
            &[],
        ));
        assert!(up.is_ok());
    }

    #[test]
    fn host_is_required_once() {
        assert_eq!(
            with(&[("Host", None)]).unwrap_err(),
            HandshakeError::MissingHost
        );
        let mut bytes = request_with("GET /chat HTTP/1.1", &[]);
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(b"host: other.example\r\n\r\n");
        assert_eq!(validate(&bytes).unwrap_err(), HandshakeError::DuplicateHost);
    }

    #[test]
    fn upgrade_header_is_required() {
        assert_eq!(
            with(&[("Upgrade", None)]).unwrap_err(),
            HandshakeError::MissingUpgrade
        );
    }

    #[test]
    fn upgrade_header_must_name_websocket() {
        for other in ["h2c", "websocket2", "web socket", "websocket/13", ""] {
            assert_eq!(
                with(&[("Upgrade", Some(other))]).unwrap_err(),
                HandshakeError::NotUpgrade,
                "Upgrade: {other}"
            );
        }
    }

    #[test]
    fn upgrade_token_list_and_mixed_case_are_accepted() {
        for ok in [
            "WebSocket",
            "WEBSOCKET",
            "h2c, WebSocket",
            " ,websocket , foo",
        ] {
            assert!(with(&[("Upgrade", Some(ok))]).is_ok(), "Upgrade: {ok}");
        }
    }

    #[test]
    fn connection_without_upgrade_is_rejected() {
        for bad in [None, Some("keep-alive"), Some("upgrades"), Some("close")] {
            assert_eq!(
                with(&[("Connection", bad)]).unwrap_err(),
                HandshakeError::MissingConnectionUpgrade,
                "Connection: {bad:?}"
            );
        }
    }

    #[test]
    fn connection_token_list_and_mixed_case_are_accepted() {
        for ok in [
            "keep-alive, Upgrade",
            "UPGRADE",
            "upgrade,keep-alive",
            "\tUpgrade\t",
        ] {
            assert!(
                with(&[("Connection", Some(ok))]).is_ok(),
                "Connection: {ok}"
            );
        }
    }

    #[test]
    fn connection_upgrade_may_be_on_a_later_line() {
        let mut bytes = request_with("GET /chat HTTP/1.1", &[("Connection", Some("keep-alive"))]);
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(b"Connection: Upgrade\r\n\r\n");
        assert!(validate(&bytes).is_ok());
    }

    #[test]
    fn key_must_decode_to_exactly_16_bytes() {
        let fifteen = STANDARD.encode([7u8; 15]);
        let seventeen = STANDARD.encode([7u8; 17]);
        let eighteen = STANDARD.encode([7u8; 18]);
        assert_eq!(seventeen.len(), 24);
        assert_eq!(eighteen.len(), 24);
        for bad in [fifteen.as_str(), seventeen.as_str(), eighteen.as_str()] {
            assert_eq!(
                with(&[("Sec-WebSocket-Key", Some(bad))]).unwrap_err(),
                HandshakeError::BadKey,
                "key {bad}"
            );
        }
        let sixteen = STANDARD.encode([7u8; 16]);
        assert!(with(&[("Sec-WebSocket-Key", Some(&sixteen))]).is_ok());
    }

    #[test]
    fn key_must_be_base64() {
        for bad in [
            "dGhlIHNhbXBsZSBub25jZQ",   // no padding
            "dGhlIHNhbXBsZSBub25jZQ=!", // bad character
            "dGhlIHNhbXBsZSBub25j ZQ=", // space inside
            "dGhlIHNhbXBsZSBub25jZR==", // non-canonical trailing bits
            "!!!!!!!!!!!!!!!!!!!!!!!!",
            "",
        ] {
            assert_eq!(
                with(&[("Sec-WebSocket-Key", Some(bad))]).unwrap_err(),
                HandshakeError::BadKey,
                "key {bad:?}"
            );
        }
    }

    #[test]
    fn key_must_be_present_exactly_once() {
        assert_eq!(
            with(&[("Sec-WebSocket-Key", None)]).unwrap_err(),
            HandshakeError::BadKey
        );
        let mut bytes = request_with("GET /chat HTTP/1.1", &[]);
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(format!("Sec-WebSocket-Key: {KEY}\r\n\r\n").as_bytes());
        assert_eq!(validate(&bytes).unwrap_err(), HandshakeError::BadKey);
    }

    #[test]
    fn unsupported_version_is_answered_426() {
        for (value, shown) in [
            (Some("12"), Some("12")),
            (Some("14"), Some("14")),
            (Some("013"), Some("013")),
            (Some("13, 8"), Some("13, 8")),
            (None, None),
        ] {
            let err = with(&[("Sec-WebSocket-Version", value)]).unwrap_err();
            assert_eq!(
                err,
                HandshakeError::UnsupportedVersion(shown.map(str::to_owned))
            );
            assert_eq!(err.status(), 426);
        }
    }

    #[test]
    fn versions_7_8_and_13_are_accepted() {
        for v in [7u8, 8, 13] {
            let up = with(&[("Sec-WebSocket-Version", Some(&v.to_string()))]).unwrap();
            assert_eq!(up.version, v);
        }
    }

    #[test]
    fn repeated_version_header_is_unsupported() {
        let mut bytes = request_with("GET /chat HTTP/1.1", &[]);
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(b"Sec-WebSocket-Version: 13\r\n\r\n");
        assert!(matches!(
            validate(&bytes).unwrap_err(),
            HandshakeError::UnsupportedVersion(Some(_))
        ));
    }

    #[test]
    fn error_426_response_lists_supported_versions() {
        let bytes = error_response(&HandshakeError::UnsupportedVersion(Some("12".into())));
        let text = head_text(&bytes);
        assert!(text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Version: 13, 8, 7\r\n"));
        assert!(text.contains("\r\nUpgrade: websocket\r\n"));
        assert!(text.contains("\r\nConnection: close, Upgrade\r\n"));
        // The body does not echo what the client sent.
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        assert!(!body.contains("12"));
        assert!(text.contains(&format!("Content-Length: {}\r\n", body.len())));
    }

    #[test]
    fn error_response_400_closes_and_explains() {
        let bytes = error_response(&HandshakeError::MethodNotGet);
        let text = head_text(&bytes);
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(!text.contains("Sec-WebSocket-Version"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(body.contains("GET"));
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert_eq!(response_header_names(&bytes).len(), 3);
    }

    #[test]
    fn every_error_has_a_status_and_message() {
        let all = [
            HandshakeError::HeadTooLarge,
            HandshakeError::TooManyHeaders,
            HandshakeError::Malformed("x"),
            HandshakeError::MethodNotGet,
            HandshakeError::HttpVersion,
            HandshakeError::BadRequestTarget,
            HandshakeError::MissingHost,
            HandshakeError::DuplicateHost,
            HandshakeError::MissingUpgrade,
            HandshakeError::NotUpgrade,
            HandshakeError::MissingConnectionUpgrade,
            HandshakeError::BadKey,
            HandshakeError::UnsupportedVersion(None),
            HandshakeError::UnsupportedVersion(Some("x\r\ny".into())),
            HandshakeError::NotSwitching(200),
            HandshakeError::BadAccept,
        ];
        for err in all {
            assert!([400, 426, 431].contains(&err.status()));
            assert!(!err.to_string().is_empty());
            let bytes = error_response(&err);
            // Always a well-formed response whose headers are exactly ours.
            let names = response_header_names(&bytes);
            assert!(names.iter().all(|n| n != "y"), "{err:?}");
        }
    }

    // --- subprotocols and extensions in validation --------------------------

    #[test]
    fn subprotocols_are_collected_over_several_lines_in_order() {
        let mut bytes = request_with(
            "GET /chat HTTP/1.1",
            &[("Sec-WebSocket-Protocol", Some(" chat , ,superchat,"))],
        );
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(b"Sec-WebSocket-Protocol: v2.json,bad token, mqtt\r\n\r\n");
        let up = validate(&bytes).unwrap();
        assert_eq!(up.protocols, ["chat", "superchat", "v2.json", "mqtt"]);
    }

    #[test]
    fn extension_offers_are_collected_and_bad_lines_ignored() {
        let mut bytes = request_with(
            "GET /chat HTTP/1.1",
            &[(
                "Sec-WebSocket-Extensions",
                Some("permessage-deflate; client_max_window_bits, x-foo"),
            )],
        );
        bytes.truncate(bytes.len() - 2);
        bytes.extend_from_slice(b"Sec-WebSocket-Extensions: ;;\r\n");
        bytes.extend_from_slice(b"Sec-WebSocket-Extensions: permessage-deflate; a=\"1\"\r\n\r\n");
        let up = validate(&bytes).unwrap();
        let names: Vec<&str> = up.extensions.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["permessage-deflate", "x-foo", "permessage-deflate"]);
        assert_eq!(up.extensions[0].param("client_max_window_bits"), Some(None));
        assert_eq!(up.extensions[2].param("a"), Some(Some("1")));
    }

    #[test]
    fn malformed_extension_header_does_not_fail_the_handshake() {
        let up = with(&[("Sec-WebSocket-Extensions", Some("\"x\""))]).unwrap();
        assert!(up.extensions.is_empty());
    }

    // --- extension grammar --------------------------------------------------

    fn offer(name: &str, params: &[(&str, Option<&str>)]) -> ExtensionOffer {
        ExtensionOffer {
            name: name.into(),
            params: params
                .iter()
                .map(|(n, v)| ((*n).into(), v.map(str::to_owned)))
                .collect(),
        }
    }

    #[test]
    fn extension_bare_name() {
        assert_eq!(
            parse_extensions("permessage-deflate").unwrap(),
            [offer("permessage-deflate", &[])]
        );
    }

    #[test]
    fn extension_param_without_value() {
        assert_eq!(
            parse_extensions("permessage-deflate; client_max_window_bits").unwrap(),
            [offer(
                "permessage-deflate",
                &[("client_max_window_bits", None)]
            )]
        );
    }

    #[test]
    fn extension_list_with_params_and_fallback_offer() {
        assert_eq!(
            parse_extensions(
                "permessage-deflate; client_max_window_bits=10; server_no_context_takeover, permessage-deflate"
            )
            .unwrap(),
            [
                offer(
                    "permessage-deflate",
                    &[
                        ("client_max_window_bits", Some("10")),
                        ("server_no_context_takeover", None)
                    ]
                ),
                offer("permessage-deflate", &[]),
            ]
        );
    }

    #[test]
    fn extension_quoted_value_is_unquoted() {
        assert_eq!(
            parse_extensions("permessage-deflate; server_max_window_bits=\"10\"").unwrap(),
            [offer(
                "permessage-deflate",
                &[("server_max_window_bits", Some("10"))]
            )]
        );
        // quoted-pair escapes are removed
        assert_eq!(
            parse_extensions(r#"x; a="1\0""#).unwrap(),
            [offer("x", &[("a", Some("10"))])]
        );
    }

    #[test]
    fn extension_whitespace_around_separators_is_tolerated() {
        assert_eq!(
            parse_extensions(" a ;\tb = 1 ; c= \"2\" ,\t, d ; e ,").unwrap(),
            [
                offer("a", &[("b", Some("1")), ("c", Some("2"))]),
                offer("d", &[("e", None)]),
            ]
        );
    }

    #[test]
    fn extension_empty_elements_are_skipped() {
        assert_eq!(parse_extensions("").unwrap(), []);
        assert_eq!(parse_extensions(" , ,").unwrap(), []);
        assert_eq!(
            parse_extensions(",a,,b,").unwrap(),
            [offer("a", &[]), offer("b", &[])]
        );
    }

    #[test]
    fn extension_garbage_is_an_error() {
        for bad in [
            ";;",
            ";",
            "a;;",
            "a;",
            "a=",
            "a; b=",
            "a; b=;",
            "\"x\"",
            "a; b=\"10",
            "a; b=\"",
            "a; b=\"x y\"",
            "a; b=\"\"",
            "a; b=\"x\\",
            "a b",
            "a; b c",
            "a; b=1 2",
            "a; =1",
            "a;b=\"1\"x",
            "caf\u{e9}",
            "a; b=\"\u{e9}\"",
            "a; b=\"1\u{7f}\"",
        ] {
            let err = parse_extensions(bad).unwrap_err();
            assert!(err.position() <= bad.len(), "{bad:?}");
            assert!(!err.to_string().is_empty());
        }
        let err = parse_extensions("a; b=\"10").unwrap_err();
        assert_eq!(err.reason(), "unterminated quoted-string");
        assert_eq!(err.position(), 5);
    }

    #[test]
    fn extension_offer_display_roundtrips() {
        let text = "permessage-deflate; client_max_window_bits=10; server_no_context_takeover";
        let offers = parse_extensions(text).unwrap();
        assert_eq!(offers[0].to_string(), text);
    }

    // --- responses ----------------------------------------------------------

    #[test]
    fn switching_protocols_has_the_rfc_4_2_2_fields() {
        let bytes = switching_protocols(KEY, Some("chat"), Some("permessage-deflate"), &[]);
        assert_eq!(
            head_text(&bytes),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: chat\r\n\
             Sec-WebSocket-Extensions: permessage-deflate\r\n\
             \r\n"
        );
        let bare = switching_protocols(KEY, None, None, &[("Set-Cookie", "a=b")]);
        assert!(head_text(&bare).ends_with("Set-Cookie: a=b\r\n\r\n"));
        assert!(!head_text(&bare).contains("Content-Length"));
    }

    #[test]
    fn header_injection_cannot_add_a_header() {
        let evil = "chat\r\nX-Evil: 1";
        let bytes = switching_protocols(
            KEY,
            Some(evil),
            Some("permessage-deflate\r\nX-Evil: 2"),
            &[
                ("X-Ok", "fine"),
                ("X-Bad", "v\r\nX-Evil: 3"),
                ("X-Bad2", "v\nX-Evil: 4"),
                ("X-Bad3", "v\rX-Evil: 5"),
                ("X-Evil: 6\r\nX-Name", "v"),
                ("Sec-WebSocket-Accept", "forged"),
                ("connection", "close"),
            ],
        );
        let names = response_header_names(&bytes);
        assert_eq!(
            names,
            ["Upgrade", "Connection", "Sec-WebSocket-Accept", "X-Ok"]
        );
        assert!(!head_text(&bytes).contains("Evil"));
        assert!(!head_text(&bytes).contains("forged"));

        let bytes = response(
            200,
            &[("X-A", "1\r\n\r\n<html>"), ("Content-Length", "0")],
            b"ok",
        );
        assert_eq!(response_header_names(&bytes), ["Content-Length"]);
        assert!(bytes.ends_with(b"Content-Length: 2\r\n\r\nok"));

        let bytes = client_request(
            "h\r\nX-Evil: 1",
            "/a b\r\nX-Evil: 2",
            KEY,
            &["a\r\nX-Evil: 3"],
            Some("x\r\nX-Evil: 4"),
        );
        let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut slots);
        assert!(req.parse(&bytes).unwrap().is_complete());
        assert_eq!(req.path, Some("/a%20b%0D%0AX-Evil:%202"));
        assert!(req.headers.iter().all(|h| !h.name.contains("Evil")));
    }

    #[test]
    fn response_adds_content_length_unless_bodyless() {
        let bytes = response(200, &[], b"hello");
        assert_eq!(bytes, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
        for status in [101u16, 204, 304, 100] {
            let bytes = response(status, &[("X", "y")], b"ignored");
            let text = head_text(&bytes);
            assert!(!text.contains("Content-Length"), "{status}");
            assert!(text.ends_with("X: y\r\n\r\n"), "{status}");
        }
        assert!(response(0, &[], b"").starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
        assert!(response(499, &[], b"").starts_with(b"HTTP/1.1 499 Unknown\r\n"));
    }

    #[test]
    fn reason_phrases_cover_common_codes() {
        for (code, phrase) in [
            (101, "Switching Protocols"),
            (200, "OK"),
            (204, "No Content"),
            (301, "Moved Permanently"),
            (302, "Found"),
            (304, "Not Modified"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (413, "Payload Too Large"),
            (426, "Upgrade Required"),
            (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (503, "Service Unavailable"),
            (299, "Unknown"),
        ] {
            assert_eq!(reason_phrase(code), phrase);
        }
    }

    // --- client side --------------------------------------------------------

    #[test]
    fn client_server_roundtrip() {
        let key = client_key(&[0x42; 16]);
        let request = client_request(
            "example.com:8080",
            "/chat?room=caf%C3%A9",
            &key,
            &["chat", "superchat"],
            Some("permessage-deflate; client_max_window_bits"),
        );
        let (req, used) = parse(&request).unwrap().unwrap();
        assert_eq!(used, request.len());
        assert_eq!(req.path(), "/chat");
        assert_eq!(req.query_param("room").as_deref(), Some("café"));
        let up = validate_upgrade(&req).unwrap();
        assert_eq!(up.key, key);
        assert_eq!(up.version, 13);
        assert_eq!(up.protocols, ["chat", "superchat"]);
        assert_eq!(up.extensions[0].name, "permessage-deflate");

        let mut answer = switching_protocols(
            &up.key,
            Some("chat"),
            Some("permessage-deflate; server_no_context_takeover"),
            &[],
        );
        let head_len = answer.len();
        answer.extend_from_slice(b"\x81\x02hi");
        for end in 0..head_len {
            assert_eq!(parse_response(&answer[..end], &key).unwrap(), None);
        }
        let (resp, consumed) = parse_response(&answer, &key).unwrap().unwrap();
        assert_eq!(consumed, head_len);
        assert_eq!(&answer[consumed..], b"\x81\x02hi");
        assert_eq!(resp.protocol.as_deref(), Some("chat"));
        assert_eq!(
            resp.extensions.as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
    }

    #[test]
    fn client_rejects_wrong_accept() {
        let answer = switching_protocols(KEY, None, None, &[]);
        let other = client_key(&[1; 16]);
        assert_eq!(
            parse_response(&answer, &other).unwrap_err(),
            HandshakeError::BadAccept
        );
        let no_accept = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
        assert_eq!(
            parse_response(no_accept, KEY).unwrap_err(),
            HandshakeError::BadAccept
        );
    }

    #[test]
    fn client_rejects_non_101() {
        let answer = error_response(&HandshakeError::UnsupportedVersion(None));
        assert_eq!(
            parse_response(&answer, KEY).unwrap_err(),
            HandshakeError::NotSwitching(426)
        );
    }

    #[test]
    fn client_checks_upgrade_and_connection() {
        let accept = accept_key(KEY.as_bytes());
        let no_upgrade = format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        assert_eq!(
            parse_response(no_upgrade.as_bytes(), KEY).unwrap_err(),
            HandshakeError::MissingUpgrade
        );
        let wrong_upgrade = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        assert_eq!(
            parse_response(wrong_upgrade.as_bytes(), KEY).unwrap_err(),
            HandshakeError::NotUpgrade
        );
        let no_connection = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        assert_eq!(
            parse_response(no_connection.as_bytes(), KEY).unwrap_err(),
            HandshakeError::MissingConnectionUpgrade
        );
        let two_protocols = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: a, b\r\n\r\n"
        );
        assert!(matches!(
            parse_response(two_protocols.as_bytes(), KEY).unwrap_err(),
            HandshakeError::Malformed(_)
        ));
    }

    // --- robustness -----------------------------------------------------------

    /// xorshift64*: deterministic pseudo-random bytes without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    fn exercise(bytes: &[u8]) {
        for max in [0, 16, DEFAULT_MAX_HEAD_SIZE] {
            if let Ok(Some((req, used))) = parse_request(bytes, max) {
                assert!(used <= bytes.len() && used <= max);
                let _ = validate_upgrade(&req);
                let _ = req.query_param("a");
                let _ = format!("{req:?}");
                let _ = req.all_headers().count();
            }
        }
        let _ = parse_response(bytes, KEY);
        let _ = parse_extensions(&String::from_utf8_lossy(bytes));
    }

    #[test]
    fn garbage_input_never_panics() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..3000 {
            let len = rng.below(600);
            let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            exercise(&bytes);
        }
        // Mutations of valid heads reach deeper into the parsers.
        let answer = switching_protocols(KEY, Some("chat"), Some("x; y=\"1\""), &[]);
        for base in [RFC_REQUEST, answer.as_slice()] {
            for _ in 0..3000 {
                let mut bytes = base.to_vec();
                for _ in 0..=rng.below(4) {
                    let at = rng.below(bytes.len());
                    match rng.below(3) {
                        0 => bytes[at] = rng.next() as u8,
                        1 => {
                            bytes.remove(at);
                        }
                        _ => bytes.insert(at, b"\r\n,;=\"\\ :?%+&\0"[rng.below(14)]),
                    }
                }
                exercise(&bytes);
            }
        }
        exercise(&[0u8; 10_000]);
        exercise(&vec![b'a'; 1_000_000]);
        exercise(b"\r\n\r\n\r\n");
        let mut huge_line = b"GET /".to_vec();
        huge_line.extend(std::iter::repeat_n(b'a', 100_000));
        huge_line.extend_from_slice(b" HTTP/1.1\r\n\r\n");
        assert_eq!(parse(&huge_line).unwrap_err(), HandshakeError::HeadTooLarge);
        exercise(&huge_line);
    }
}
