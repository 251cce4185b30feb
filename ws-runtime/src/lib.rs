//! The tokio runtime of lariat: the listener, the HTTP/1.1 upgrade and the
//! per-connection driver that runs a [`Handler`] over
//! [`ws_core::Connection`] with Cowboy's semantics.

mod ctx;
mod driver;
mod handler;
#[doc(hidden)]
pub mod macro_support;
mod request;
mod server;
mod shutdown;
mod stats;
#[cfg(feature = "testing")]
pub mod testing;
mod topic;

pub use ctx::{Addr, Ctx, Meta, SendError, Timer};
pub use handler::{Handler, Init, Never, Reply, UpgradeOptions, unmatched};
pub use request::{Request, Response};
pub use server::{Config, Route, Server};
pub use stats::{ByOpcode, Stats, StatsSnapshot};
pub use topic::{Overflow, Published, Topic};
pub use ws_core::{self, Bytes, CloseCode, CloseFrame, Frame, Terminate, Text, close};
