//! The tokio runtime of lariat: listener, HTTP/1.1 upgrade and the
//! per-connection driver around [`ws_core::Connection`].
//!
//! The runtime arrives with its own issue; for now this crate re-exports the
//! protocol core it will drive.

pub use ws_core;
