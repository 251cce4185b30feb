//! What a handler can reach while it runs: its address, timers, meta values.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::task::AtomicWaker;
use tokio::sync::mpsc;
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
    /// The connection waiting for a request. A waker, not a `Notify`: the
    /// wait then needs no state of its own in the connection's future.
    waker: AtomicWaker,
}

impl Control {
    /// The close code asked for, once one is; until then the task is woken
    /// when one is.
    pub(crate) fn poll_close_requested(&self, cx: &mut Context<'_>) -> Poll<CloseCode> {
        if let Some(code) = CloseCode::new(self.close.load(Ordering::Acquire)) {
            return Poll::Ready(code);
        }
        self.waker.register(cx.waker());
        // Asked for between the check and the registration.
        match CloseCode::new(self.close.load(Ordering::Acquire)) {
            Some(code) => Poll::Ready(code),
            None => Poll::Pending,
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
        self.control.waker.wake();
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
    /// Boxed, and only once a timer is set: most connections set none.
    pending: Option<Box<PendingTimers<I>>>,
}

struct PendingTimers<I> {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    messages: Vec<(u64, I)>,
    next_id: u64,
}

impl<I> Timers<I> {
    fn new() -> Timers<I> {
        Timers { pending: None }
    }

    fn add(&mut self, at: Instant, msg: I) -> u64 {
        let pending = self.pending.get_or_insert_with(|| {
            Box::new(PendingTimers {
                heap: BinaryHeap::new(),
                messages: Vec::new(),
                next_id: 0,
            })
        });
        let id = pending.next_id;
        pending.next_id += 1;
        pending.heap.push(Reverse((at, id)));
        pending.messages.push((id, msg));
        id
    }

    fn cancel(&mut self, id: u64) -> Option<I> {
        let pending = self.pending.as_mut()?;
        let index = pending.messages.iter().position(|(p, _)| *p == id)?;
        let msg = pending.messages.swap_remove(index).1;
        // The heap entry is skipped when it comes due; drop stale entries
        // once they dominate, so set-and-cancel loops stay bounded.
        let live = pending.messages.len();
        if pending.heap.len() > 2 * live + 16 {
            let messages = &pending.messages;
            pending
                .heap
                .retain(|Reverse((_, id))| messages.iter().any(|(p, _)| p == id));
        }
        Some(msg)
    }

    fn len(&self) -> usize {
        self.pending.as_ref().map_or(0, |p| p.messages.len())
    }

    /// The earliest deadline of a live timer.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let pending = self.pending.as_ref()?;
        pending.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Takes the message of the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<I> {
        let pending = self.pending.as_mut()?;
        while let Some(Reverse((at, id))) = pending.heap.peek().copied() {
            if at > now {
                return None;
            }
            pending.heap.pop();
            if let Some(index) = pending.messages.iter().position(|(p, _)| *p == id) {
                return Some(pending.messages.swap_remove(index).1);
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
    mailbox: Mailbox<I>,
    pub(crate) timers: Timers<I>,
    meta: Meta,
    request: Request,
    pub(crate) latency: Option<Duration>,
}

impl<I> fmt::Debug for Ctx<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ctx")
            .field("meta", &self.meta)
            .field("timers", &self.timers.len())
            .finish()
    }
}

/// A connection's mailbox, made when its address is first asked for: a
/// connection that never hands out its [`Addr`] holds no channel.
pub(crate) struct Mailbox<I> {
    capacity: usize,
    channel: OnceLock<(Addr<I>, mpsc::Receiver<I>)>,
}

impl<I> Mailbox<I> {
    fn addr(&self) -> &Addr<I> {
        &self
            .channel
            .get_or_init(|| {
                let (sender, receiver) = mpsc::channel(self.capacity.max(1));
                (Addr::new(sender), receiver)
            })
            .0
    }

    /// The receiving end, once an address exists.
    pub(crate) fn receiver(&mut self) -> Option<&mut mpsc::Receiver<I>> {
        self.channel.get_mut().map(|(_, receiver)| receiver)
    }

    /// Requests to close made through the address, and the receiving end
    /// of the mailbox, once an address exists.
    pub(crate) fn parts(&mut self) -> (Option<&Control>, Option<&mut mpsc::Receiver<I>>) {
        match self.channel.get_mut() {
            Some((addr, receiver)) => (Some(&**addr.control()), Some(receiver)),
            None => (None, None),
        }
    }

    /// Refuses further messages and drops those not handled.
    pub(crate) fn close(&mut self) {
        if let Some(receiver) = self.receiver() {
            receiver.close();
            while receiver.try_recv().is_ok() {}
        }
    }
}

impl<I> Ctx<I> {
    pub(crate) fn new(mailbox_capacity: usize, meta: Meta, request: Request) -> Ctx<I> {
        Ctx {
            mailbox: Mailbox {
                capacity: mailbox_capacity,
                channel: OnceLock::new(),
            },
            timers: Timers::new(),
            meta,
            request,
            latency: None,
        }
    }

    /// This connection's address, for other tasks to message it.
    pub fn addr(&self) -> Addr<I> {
        self.mailbox.addr().clone()
    }

    /// Delivers `msg` to this handler's `info` after `delay`.
    pub fn send_after(&mut self, delay: Duration, msg: I) -> Timer {
        let id = self.timers.add(Instant::now() + delay, msg);
        Timer { id }
    }

    /// Cancels a timer; returns its message if it had not fired yet.
    pub fn cancel_timer(&mut self, timer: Timer) -> Option<I> {
        self.timers.cancel(timer.id)
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

    pub(crate) fn mailbox(&mut self) -> &mut Mailbox<I> {
        &mut self.mailbox
    }
}
