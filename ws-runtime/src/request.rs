//! The upgrade request as handlers see it, and plain HTTP responses.

use std::any::{Any, TypeId, type_name};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use ws_core::Bytes;
use ws_core::handshake;

/// Shared application state, one value per type (`Server::state`).
#[derive(Default, Clone)]
pub(crate) struct StateMap {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl StateMap {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.values.get(&TypeId::of::<T>())?.downcast_ref()
    }
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StateMap({} values)", self.values.len())
    }
}

/// An HTTP/1.1 request: the WebSocket upgrade a handler's `init` decides on.
#[derive(Debug, Clone)]
pub struct Request {
    head: handshake::Request,
    peer: SocketAddr,
    state: Arc<StateMap>,
    version: u8,
    /// Boxed, not a `Vec`: kept for the connection's life, never grown.
    protocols: Box<[String]>,
}

impl Request {
    pub(crate) fn new(
        head: handshake::Request,
        peer: SocketAddr,
        state: Arc<StateMap>,
        upgrade: Option<&handshake::Upgrade>,
    ) -> Request {
        Request {
            head,
            peer,
            state,
            version: upgrade.map_or(0, |u| u.version),
            protocols: upgrade
                .map(|u| u.protocols.clone().into_boxed_slice())
                .unwrap_or_default(),
        }
    }

    /// The request method.
    pub fn method(&self) -> &str {
        self.head.method()
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.head.path()
    }

    /// The raw query string, if any.
    pub fn query_string(&self) -> Option<&str> {
        self.head.query()
    }

    /// The first value of query parameter `name`, form-decoded.
    pub fn query(&self, name: &str) -> Option<Cow<'_, str>> {
        self.head.query_param(name)
    }

    /// The first value of header `name` (case-insensitive), if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.header_str(name)
    }

    /// The peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The WebSocket version the client speaks (7, 8 or 13); 0 when the
    /// request is not an upgrade.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> &[String] {
        &self.protocols
    }

    /// The parsed request head.
    pub fn head(&self) -> &handshake::Request {
        &self.head
    }

    /// Shared state registered with `Server::state`, by type.
    ///
    /// # Panics
    ///
    /// When no value of type `T` was registered: that is a mistake in the
    /// program, not in the request. [`Request::try_state`] does not panic.
    #[track_caller]
    #[allow(clippy::panic)]
    pub fn state<T: Send + Sync + 'static>(&self) -> &T {
        match self.try_state() {
            Some(value) => value,
            None => panic!(
                "no shared state of type `{}`: register it with `Server::state(..)` before `serve`",
                type_name::<T>()
            ),
        }
    }

    /// Shared state registered with `Server::state`, by type, if present.
    pub fn try_state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.state.get::<T>()
    }
}

/// A plain HTTP response: a rejected upgrade, a page or a fallback answer.
///
/// # Examples
///
/// ```
/// use ws_runtime::Response;
///
/// let denied = Response::new(401)
///     .header("WWW-Authenticate", "Bearer")
///     .body("a token is required");
/// assert_eq!(denied.status(), 401);
/// ```
#[derive(Debug, Clone)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Response {
    /// A response with a status and no body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A 200 HTML page.
    pub fn html(body: impl Into<Bytes>) -> Response {
        Response::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(body)
    }

    /// Adds a header. Names or values that could split the response (CR, LF)
    /// are dropped when it is written.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body; `Content-Length` is added when the response is written.
    pub fn body(mut self, body: impl Into<Bytes>) -> Response {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The body.
    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }

    /// The headers, in order.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The response as bytes on the wire.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut headers: Vec<(&str, &str)> = self.headers().collect();
        if !headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("connection"))
        {
            headers.push(("Connection", "close"));
        }
        handshake::response(self.status, &headers, &self.body)
    }
}
