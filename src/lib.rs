//! lariat: a WebSocket server framework in the style of Erlang Cowboy's
//! websocket handlers.
//!
//! Applications depend on this crate alone and write
//! `use lariat::prelude::*;`. A handler is a plain struct whose `impl`
//! block of clauses carries [`#[websocket_handler]`](websocket_handler),
//! which writes its [`Handler`] impl (it can also be written by hand);
//! [`Server`] routes upgrade requests to it and runs one handler per
//! connection on tokio. The protocol itself lives in the sans-IO
//! [`core`].

pub use ws_core::{
    Bytes, CloseCode, CloseFrame, ControlPayload, Frame, ProtocolError, Terminate, Text, close,
};
pub use ws_runtime::{
    Addr, Config, Ctx, Handler, Init, Meta, Never, Reply, Request, Response, Route, SendError,
    Server, Timer, UpgradeOptions, unmatched,
};
pub use ws_runtime::{ByOpcode, Overflow, Published, Stats, StatsSnapshot, Topic};

pub use ws_macros::websocket_handler;

#[doc(hidden)]
pub use ws_runtime::macro_support as __private;

/// The sans-IO protocol core, for tools and tests that drive it directly.
pub use ws_core as core;

/// Test a handler without a socket (feature `testing`).
#[cfg(feature = "testing")]
pub use ws_runtime::testing;

/// What a handler module needs: `use lariat::prelude::*;`.
pub mod prelude {
    pub use std::time::Duration;
    pub use ws_core::{Bytes, CloseCode, CloseFrame, Frame, Terminate, Text, close};
    pub use ws_macros::websocket_handler;
    pub use ws_runtime::{Addr, Ctx, Handler, Init, Reply, Request, Response, Server, Topic};
}
