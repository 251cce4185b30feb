//! Why a connection ended: Cowboy's terminate reasons.

use std::io;

use crate::close::CloseCode;

/// The reason a handler's `terminate` receives, exactly once per connection.
///
/// Each variant is one of Cowboy's `cowboy_websocket` terminate reasons.
#[derive(Debug)]
#[non_exhaustive]
pub enum Terminate {
    /// The connection ended before becoming a WebSocket (Cowboy `normal`),
    /// e.g. `init` rejected the upgrade.
    Normal,
    /// The peer closed without a status code (Cowboy `remote`).
    Remote,
    /// The peer closed with a code and reason (Cowboy `{remote, Code, Payload}`).
    RemoteClose {
        /// The peer's close code.
        code: CloseCode,
        /// The peer's close reason, possibly empty.
        payload: String,
    },
    /// The handler asked to close: a close reply or `shutdown` (Cowboy `shutdown`),
    /// or the server is shutting down.
    Shutdown,
    /// No data arrived within the idle timeout (Cowboy `timeout`).
    Timeout,
    /// The handler panicked (Cowboy `{crash, Class, Reason}`); the message of the panic.
    Crash(String),
    /// The peer sent invalid UTF-8 (Cowboy `{error, badencoding}`).
    BadEncoding,
    /// The peer broke the protocol or a size limit (Cowboy `{error, badframe}`).
    BadFrame,
    /// The socket closed without a close frame (Cowboy `{error, closed}`).
    Closed,
    /// A socket error (Cowboy `{error, Reason}`).
    Error(io::Error),
}
