//! The `#[websocket_handler]` procedural macro of lariat.
//!
//! The macro turns one `impl` block of clauses into a typed state machine
//! (DESIGN §2). It arrives with its own issue; until then this crate only
//! holds the place the workspace layout gives it, and exports nothing.
