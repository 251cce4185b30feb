//! lariat: a WebSocket server framework in the style of Erlang Cowboy's
//! websocket handlers.
//!
//! Applications depend on this crate alone and write
//! `use lariat::prelude::*;`. Today it exposes the protocol core
//! ([`ws_core`]): typed close codes, frames and the sans-IO connection. The
//! runtime and the `#[websocket_handler]` macro join the prelude as they land.

pub use ws_core::{Bytes, CloseCode, CloseFrame, Frame, ProtocolError, Terminate, Text, close};

/// The sans-IO protocol core, for tools and tests that drive it directly.
pub use ws_core as core;

/// What a handler module needs: `use lariat::prelude::*;`.
pub mod prelude {
    pub use std::time::Duration;
    pub use ws_core::{Bytes, CloseCode, CloseFrame, Frame, Terminate, Text, close};
}
