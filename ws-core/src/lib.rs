//! The sans-IO core of lariat: the RFC 6455 WebSocket protocol with no
//! sockets, tasks or clocks.
//!
//! Bytes in, frames out; frames in, bytes out. [`Connection`] is the state
//! machine of one connection (framing, masking, fragmentation, UTF-8, the
//! closing handshake, limits), [`handshake`] parses and answers the HTTP/1.1
//! upgrade, and the typed values ([`CloseCode`], [`CloseFrame`], [`Frame`],
//! [`Text`]) cannot hold anything that would be invalid to send. Because
//! nothing here waits, the core is fuzzed, benchmarked and property-tested on
//! its own; the tokio runtime drives it.

pub mod close;
pub mod connection;
pub mod deflate;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod send_buffer;
pub mod terminate;
pub mod utf8;

pub use bytes::Bytes;
pub use close::{CloseCode, CloseFrame};
pub use connection::{Config, Connection, Role, SendError, State};
pub use error::ProtocolError;
pub use frame::{ControlPayload, Frame, OpCode, Text};
pub use terminate::Terminate;
