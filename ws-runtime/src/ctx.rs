//! What a handler can reach while it runs: its address, timers, meta values.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;
use ws_core::CloseCode;

use crate::request::Request;

/// A cloneable address any task can message a connection through; messages
/// arrive in the handler's `info` in the order they were sent.
///
/// The mailbox is bounded ([`Config::mailbox_capacity`](crate::Config)):
/// [`Addr::send`] waits while it is full, [`Addr::try_send`] fails at once.
pub struct Addr<I> {
    sender: mpsc::Sender<I>,
    control: Arc<Control>,
}

/// Requests to the connection itself, beside its typed mailbox: they must
/// get through even when the mailbox is full.
#[derive(Debug, Default)]
pub(crate) struct Control {
    /// The close code asked for with [`Addr::close`]; 0 while none.
    close: AtomicU16,
    notify: Notify,
}

impl Control {
    /// Waits until a close is asked for, and returns its code.
    pub(crate) async fn close_requested(&self) -> CloseCode {
        loop {
            if let Some(code) = CloseCode::new(self.close.load(Ordering::Acquire)) {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

impl<I> Clone for Addr<I> {
    fn clone(&self) -> Addr<I> {
        Addr {
            sender: self.sender.clone(),
            control: self.control.clone(),
        }
    }
}

impl<I> fmt::Debug for Addr<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Addr")
            .field("closed", &self.sender.is_closed())
            .finish()
    }
}

/// A message could not be delivered; the message is handed back.
#[derive(PartialEq, Eq)]
pub enum SendError<I> {
    /// The connection is gone.
    Closed(I),
    /// The mailbox is full (only from [`Addr::try_send`]).
    Full(I),
}

impl<I> SendError<I> {
    /// The message that was not delivered.
    pub fn into_inner(self) -> I {
        match self {
            SendError::Closed(msg) | SendError::Full(msg) => msg,
        }
    }
}

impl<I> fmt::Debug for SendError<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("Closed(..)"),
            SendError::Full(_) => f.write_str("Full(..)"),
        }
    }
}

impl<I> fmt::Display for SendError<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed(_) => f.write_str("the connection is gone"),
            SendError::Full(_) => f.write_str("the connection's mailbox is full"),
        }
    }
}

impl<I> std::error::Error for SendError<I> {}

impl<I> Addr<I> {
    pub(crate) fn new(sender: mpsc::Sender<I>) -> Addr<I> {
        Addr {
            sender,
            control: Arc::new(Control::default()),
        }
    }

    pub(crate) fn control(&self) -> &Arc<Control> {
        &self.control
    }

    /// Asks the connection to close with `code`, even when its mailbox is
    /// full: it sends the close frame, stops calling the handler, and
    /// terminates with [`Terminate::Shutdown`](ws_core::Terminate::Shutdown).
    /// The first request wins; later ones are ignored.
    pub fn close(&self, code: CloseCode) {
        let _ = self.control.close.compare_exchange(
            0,
            code.as_u16(),
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        self.control.notify.notify_one();
    }

    /// Sends a message, waiting while the mailbox is full; fails once the
    /// connection is gone.
    pub async fn send(&self, msg: I) -> Result<(), SendError<I>> {
        self.sender
            .send(msg)
            .await
            .map_err(|mpsc::error::SendError(msg)| SendError::Closed(msg))
    }

    /// Sends a message if the mailbox has room, without waiting.
    pub fn try_send(&self, msg: I) -> Result<(), SendError<I>> {
        self.sender.try_send(msg).map_err(|err| match err {
            mpsc::error::TrySendError::Full(msg) => SendError::Full(msg),
            mpsc::error::TrySendError::Closed(msg) => SendError::Closed(msg),
        })
    }

    /// Whether the connection is gone.
    pub fn is_closed(&self) -> bool {
        self.sender.is_closed()
    }

    /// Whether two addresses reach the same connection.
    pub fn same_connection(&self, other: &Addr<I>) -> bool {
        self.sender.same_channel(&other.sender)
    }
}

/// A timer set with [`Ctx::send_after`]; cancel it with [`Ctx::cancel_timer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer {
    id: u64,
}

/// Timers of one connection: a heap of deadlines. They live and die with the
/// connection, so a dropped connection leaves no task behind.
pub(crate) struct Timers<I> {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    pending: Vec<(u64, I)>,
    next_id: u64,
}

impl<I> Timers<I> {
    fn new() -> Timers<I> {
        Timers {
            heap: BinaryHeap::new(),
            pending: Vec::new(),
            next_id: 0,
        }
    }

    /// The earliest deadline of a live timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the message of the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<I> {
        while let Some(Reverse((at, id))) = self.heap.peek().copied() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if let Some(index) = self.pending.iter().position(|(p, _)| *p == id) {
                return Some(self.pending.swap_remove(index).1);
            }
        }
        None
    }
}

/// Cowboy's meta values for a connection.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Whether a compression extension is in use (`websocket_compress`).
    pub compress: bool,
    /// The protocol version the client speaks: 7, 8 or 13 (`websocket_version`).
    pub version: u8,
    /// The negotiated subprotocol, if any.
    pub protocol: Option<String>,
    /// The peer's address.
    pub peer: SocketAddr,
}

/// The handler's view of its connection: passed to every callback but `init`.
pub struct Ctx<I> {
    addr: Addr<I>,
    pub(crate) timers: Timers<I>,
    meta: Meta,
    request: Request,
    pub(crate) latency: Option<Duration>,
}

impl<I> fmt::Debug for Ctx<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("meta", &self.meta)
            .field("timers", &self.timers.pending.len())
            .finish()
    }
}

impl<I> Ctx<I> {
    pub(crate) fn new(addr: Addr<I>, meta: Meta, request: Request) -> Ctx<I> {
        Ctx {
            addr,
            timers: Timers::new(),
            meta,
            request,
            latency: None,
        }
    }

    /// This connection's address, for other tasks to message it.
    pub fn addr(&self) -> Addr<I> {
        self.addr.clone()
    }

    /// Delivers `msg` to this handler's `info` after `delay`.
    pub fn send_after(&mut self, delay: Duration, msg: I) -> Timer {
        let id = self.timers.next_id;
        self.timers.next_id += 1;
        let at = Instant::now() + delay;
        self.timers.heap.push(Reverse((at, id)));
        self.timers.pending.push((id, msg));
        Timer { id }
    }

    /// Cancels a timer; returns its message if it had not fired yet.
    pub fn cancel_timer(&mut self, timer: Timer) -> Option<I> {
        let index = self
            .timers
            .pending
            .iter()
            .position(|(id, _)| *id == timer.id)?;
        let msg = self.timers.pending.swap_remove(index).1;
        // The heap entry is skipped when it comes due; drop stale entries
        // once they dominate, so set-and-cancel loops stay bounded.
        let live = self.timers.pending.len();
        if self.timers.heap.len() > 2 * live + 16 {
            let pending = &self.timers.pending;
            self.timers
                .heap
                .retain(|Reverse((_, id))| pending.iter().any(|(p, _)| p == id));
        }
        Some(msg)
    }

    /// Cowboy's meta values: compression, version, protocol, peer.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// The upgrade request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// The round trip of the last keepalive ping (`Init::keepalive`), once
    /// a pong has answered one.
    pub fn latency(&self) -> Option<Duration> {
        self.latency
    }

    pub(crate) fn control(&self) -> &Control {
        self.addr.control()
    }
}
