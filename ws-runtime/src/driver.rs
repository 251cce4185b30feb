//! The per-connection driver: a thin loop feeding socket bytes, mailbox
//! messages and timers to `ws_core::Connection` and the handler.
//!
//! One pass of the loop decodes every frame already buffered, runs the
//! handler for each and queues all replies, then waits for the next event
//! while writing the queued bytes in as few (vectored) writes as the socket
//! allows. So a burst of pipelined messages is answered with one write.

use std::any::Any;
use std::future::{Future, poll_fn};
use std::io::{self, IoSlice};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use futures_util::FutureExt;
use futures_util::future::CatchUnwind;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio::time::{Instant, Sleep};
use tracing::{Instrument, Span};
use ws_core::{CloseCode, CloseFrame, Connection, Frame, Terminate};

use crate::ctx::{Control, Ctx};
use crate::handler::{Frames, Handler, Reply};
use crate::server::{Shared, discard};
use crate::shutdown::{ShutdownWait, Watch};
use crate::stats::{Kind, Tally};

/// The first read makes this much room; the room doubles while reads fill
/// it, up to [`MAX_READ_CHUNK`], so idle connections stay small and busy
/// ones read in large gulps.
const MIN_READ_CHUNK: usize = 512;
const MAX_READ_CHUNK: usize = 64 * 1024;
/// An empty input buffer larger than this is released after use (it grew
/// for a large message).
const KEEP_INPUT_CAPACITY: usize = 2 * MAX_READ_CHUNK;
/// Mailbox messages handled in one pass of the loop, before writing.
const MAX_INFO_BATCH: usize = 256;
/// Vectored writes take at most this many buffers at once.
const MAX_IOVECS: usize = 64;

/// Runs a handler call panic-safely: its output, or the panic's payload,
/// which [`panic_message`] turns into text.
///
/// The future itself, with no `async fn` or `map` around it: each would be
/// one more state machine the call is moved into and its output out of, on
/// every message. Callers convert the payload after the `await`.
pub(crate) fn guarded<F: Future>(future: F) -> CatchUnwind<AssertUnwindSafe<F>> {
    AssertUnwindSafe(future).catch_unwind()
}

/// What a handler's panic left behind.
pub(crate) type Panic = Box<dyn Any + Send>;

/// A panic's message, for the log and the terminate reason.
pub(crate) fn panic_message(payload: Panic) -> String {
    match payload.downcast::<String>() {
        Ok(message) => *message,
        Err(payload) => match payload.downcast::<&'static str>() {
            Ok(message) => (*message).to_owned(),
            Err(_) => "handler panicked with a non-string payload".to_owned(),
        },
    }
}

/// What the socket did.
enum IoWake {
    /// Bytes were read; `filled`: as many as there was room for.
    Read {
        bytes: usize,
        filled: bool,
    },
    /// The send buffer drained below the low watermark.
    Drained,
    Error(io::Error),
}

/// What woke the driver.
enum Wake<I> {
    /// Bytes were read (0: the peer closed its side); `filled`: as many as
    /// there was room for, so more may be waiting.
    Read {
        bytes: usize,
        filled: bool,
    },
    /// Writing caught up: reading may resume.
    Drained,
    Info(I),
    Deadline,
    Shutdown,
    /// Another task asked this connection to close (`Addr::close`).
    CloseRequested(CloseCode),
    Io(io::Error),
}

/// How a stretch of [`Driver::drive`] ended.
enum Step {
    Ended(Terminate),
    /// The handler asked to hibernate and nothing waits to be written.
    Hibernate,
}

/// The state of one connection, from `open` to the end.
///
/// It holds only what lives between events. The handler calls, the reads
/// and writes run in [`Driver::drive`]'s future, which [`Driver::run`]
/// boxes and drops when the handler hibernates: a hibernated connection's
/// task then holds this struct and the small future of [`Driver::wait`],
/// not the state machines of every handler call.
pub(crate) struct Driver<H: Handler, S> {
    pub(crate) stream: S,
    pub(crate) conn: Connection,
    pub(crate) handler: H,
    pub(crate) ctx: Ctx<H::Info>,
    /// The server's limits, counters and shutdown signal.
    pub(crate) shared: Arc<Shared>,
    run: Run,
    /// The one timer of the connection, reset to its next deadline; made
    /// when the first deadline is, so a connection with none (no idle
    /// timeout, no timers, no keepalive) has no timer entry.
    sleep: Option<Pin<Box<Sleep>>>,
    /// The connection's tracing span, entered while it is awake and while
    /// it ends. Kept here rather than around the task's future: the task
    /// is allocated in 128-byte steps, this struct in 16-byte ones.
    pub(crate) span: Span,
    /// The server's connection slot (`Config::max_connections`), given back
    /// when the driver is dropped.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

impl<H, S> Driver<H, S>
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    pub(crate) fn new(
        stream: S,
        conn: Connection,
        handler: H,
        ctx: Ctx<H::Info>,
        shared: Arc<Shared>,
        idle_timeout: Option<Duration>,
        keepalive: Option<(Duration, Duration)>,
    ) -> Self {
        let mut run = Run {
            opened: false,
            ending: None,
            reading: true,
            hibernate: false,
            idle_timeout,
            idle_deadline: None,
            close_deadline: None,
            throttled: false,
            mailbox_first: false,
            peer_closed: false,
            timer_polled: false,
            read_chunk: MIN_READ_CHUNK,
            keepalive: keepalive.map(|(interval, pong_timeout)| {
                Box::new(Keepalive {
                    interval,
                    pong_timeout,
                    next_ping: Instant::now() + interval,
                    ping: None,
                    ping_seq: 0,
                })
            }),
            tally: Tally::default(),
        };
        run.touch();
        Driver {
            stream,
            conn,
            handler,
            ctx,
            shared,
            run,
            sleep: None,
            // `start` runs in the connection's span.
            span: Span::current(),
            permit: None,
        }
    }

    /// Runs the connection from `open` to the end and returns why it ended.
    /// The caller runs `terminate`, then [`Driver::linger`]s.
    ///
    /// Not an `async fn`: that would keep its argument in the task's state
    /// beside the body's copy of it, and a hibernated connection's task is
    /// this future and little more.
    #[allow(
        clippy::manual_async_fn,
        reason = "an async fn keeps its argument twice"
    )]
    pub(crate) fn run(&mut self) -> impl Future<Output = Terminate> + '_ {
        async move {
            let mut resumed = None;
            loop {
                // Boxed: its state (the handler calls' futures, the reads and
                // writes in flight) exists only while the connection is awake.
                let span = self.span.clone();
                let awake = Box::pin(self.drive(resumed).instrument(span));
                if let Step::Ended(reason) = awake.await {
                    // Senders learn at once that the connection is gone;
                    // messages it will never handle are dropped now, not
                    // after `terminate` and the lingering close.
                    self.ctx.mailbox().close();
                    return reason;
                }
                // Hibernated: this wait is all the task holds until woken.
                let shutdown = pin!(self.shared.shutdown.cancelled_owned());
                resumed = Some(self.wait(shutdown).await);
            }
        }
    }

    /// Runs the connection until it ends or hibernates; `resumed` is what
    /// woke it from hibernation.
    async fn drive(&mut self, resumed: Option<Wake<H::Info>>) -> Step {
        // One shutdown waiter for the whole stretch, not one registered and
        // removed under the token's lock on every pass of the loop.
        let shared = Arc::clone(&self.shared);
        let cancelled = pin!(shared.shutdown.cancelled());
        let mut shutdown = Watch::new(&shared.shutdown, cancelled);
        if !self.run.opened {
            self.run.opened = true;
            let opened = while_writing(
                pin!(guarded(self.handler.open(&mut self.ctx))),
                &mut self.stream,
                &mut self.conn,
                &mut self.run.tally,
            )
            .await;
            self.handle_reply(opened);
        }
        if let Some(wake) = resumed
            && let Some(reason) = self.on_wake(wake).await
        {
            return Step::Ended(reason);
        }

        loop {
            self.process_input().await;
            self.shared.stats.flush(&mut self.run.tally);

            if self.conn.is_closed() {
                let flushed = self.flush_and_close().await;
                self.shared.stats.flush(&mut self.run.tally);
                return Step::Ended(match (self.run.ending.take(), flushed) {
                    (Some(reason), _) => reason,
                    (None, Err(error)) => Terminate::Error(error),
                    (None, Ok(())) => Terminate::Closed,
                });
            }
            self.check_write_buffer();
            if self.run.hibernate && !self.conn.wants_write() {
                self.conn.release_buffers();
                self.run.hibernate = false;
                self.run.read_chunk = MIN_READ_CHUNK;
                return Step::Hibernate;
            } else if self.conn.buffered_input() == 0
                && self.conn.input_mut().capacity() > KEEP_INPUT_CAPACITY
            {
                // A large message grew the buffer; idle, it shrinks back.
                *self.conn.input_mut() = bytes::BytesMut::new();
                self.run.read_chunk = MIN_READ_CHUNK;
            }

            let wake = self.wait(&mut shutdown).await;
            if let Some(reason) = self.on_wake(wake).await {
                return Step::Ended(reason);
            }
        }
    }

    /// Writes what is queued while waiting for the next event: bytes from
    /// the peer, writing catching up, a mailbox message, a deadline,
    /// shutdown or a close request.
    ///
    /// One `poll_fn` over the driver, not a `select!` of futures: a
    /// hibernated connection's task holds this wait, so its state is kept
    /// to the driver's address and the shutdown waiter.
    fn wait<'a>(
        &'a mut self,
        mut shutdown: impl ShutdownWait + 'a,
    ) -> impl Future<Output = Wake<H::Info>> + 'a {
        let deadline = next_deadline(&self.run, &self.ctx);
        if let Some(deadline) = deadline {
            self.timer_by(deadline);
        }
        let has_deadline = deadline.is_some();
        poll_fn(move |cx| self.poll_wake(cx, &mut shutdown, has_deadline))
    }

    fn poll_wake(
        &mut self,
        cx: &mut Context<'_>,
        shutdown: &mut impl ShutdownWait,
        has_deadline: bool,
    ) -> Poll<Wake<H::Info>> {
        let closing = self.run.ending.is_some();
        // Woken with the waker the last wait registered everywhere: the
        // timer need not register it again (tokio's `Sleep` does on each
        // poll); a load tells whether it fired. Not while closing: the
        // shutdown is not polled then, so what it registered may be older
        // than the timer's last poll.
        let rewoken = !closing && shutdown.registered_with(cx.waker());
        let write_low = self.write_low();
        let (control, mailbox) = self.ctx.mailbox().parts();
        if !closing {
            if shutdown.poll_shutdown(cx).is_ready() {
                return Poll::Ready(Wake::Shutdown);
            }
            if let Poll::Ready(code) = poll_close_requested(cx, control) {
                return Poll::Ready(Wake::CloseRequested(code));
            }
        }
        if has_deadline
            && let Some(sleep) = &mut self.sleep
            && (!rewoken || !self.run.timer_polled || sleep.is_elapsed())
        {
            self.run.timer_polled = true;
            if sleep.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Deadline);
            }
        }
        let run = &mut self.run;
        let mut mailbox = mailbox.filter(|_| !closing && !run.throttled);
        // Socket and mailbox take turns going first: a peer flooding the
        // socket must not starve the mailbox, nor the reverse.
        run.mailbox_first = !run.mailbox_first;
        let mailbox_first = run.mailbox_first;
        // Once closing, read regardless of `active(false)` or a full send
        // buffer: the peer's close frame completes the handshake (RFC 6455
        // §7.1.2).
        let read_chunk = ((run.reading && !run.throttled) || closing).then_some(run.read_chunk);
        // Wake when writing catches up: to resume reading after throttling,
        // or to hibernate once the reply has left.
        let drained_at = if run.throttled {
            Some(write_low)
        } else if run.hibernate {
            Some(0)
        } else {
            None
        };
        if mailbox_first && let Poll::Ready(wake) = poll_mailbox(cx, mailbox.as_deref_mut()) {
            return Poll::Ready(wake);
        }
        let io = Io {
            stream: &mut self.stream,
            conn: &mut self.conn,
            tally: &mut run.tally,
        };
        if let Poll::Ready(wake) = poll_io(cx, io, read_chunk, drained_at) {
            return Poll::Ready(match wake {
                IoWake::Read { bytes, filled } => Wake::Read { bytes, filled },
                IoWake::Drained => Wake::Drained,
                IoWake::Error(error) => Wake::Io(error),
            });
        }
        if !mailbox_first {
            return poll_mailbox(cx, mailbox);
        }
        Poll::Pending
    }

    /// Handles what woke the connection; `Some` when it has ended.
    async fn on_wake(&mut self, wake: Wake<H::Info>) -> Option<Terminate> {
        match wake {
            Wake::Read { bytes: 0, .. } => {
                self.run.peer_closed = true;
                self.shared.stats.flush(&mut self.run.tally);
                // The peer closed TCP. Without its close frame that is
                // Cowboy's `{error, closed}`, unless we were closing anyway.
                return Some(self.run.ending.take().unwrap_or(Terminate::Closed));
            }
            Wake::Read { filled, .. } => {
                self.run.touch();
                // Reads that fill the room they had ask for more next time:
                // a busy connection reads in large gulps, one syscall for
                // many messages.
                if filled {
                    self.run.read_chunk = (self.run.read_chunk * 2).min(MAX_READ_CHUNK);
                }
            }
            Wake::Drained => self.run.throttled = false,
            Wake::CloseRequested(code) => {
                self.start_close(CloseFrame::new(code), Terminate::Shutdown);
            }
            Wake::Info(msg) => {
                self.call_info(msg).await;
                // Take what else waits in the mailbox now, so a burst
                // (a topic's fan-out) leaves in one write, not one each.
                for _ in 0..MAX_INFO_BATCH {
                    if self.run.ending.is_some()
                        || self.conn.send_buffer().len() >= self.shared.config.write_buffer_high
                    {
                        break;
                    }
                    let Some(Ok(msg)) = self.ctx.mailbox().parts().1.map(|r| r.try_recv()) else {
                        break;
                    };
                    self.call_info(msg).await;
                }
            }
            Wake::Deadline => self.on_deadline().await,
            Wake::Shutdown => {
                // Graceful shutdown: 1001 "going away" (RFC 6455 §7.4.1).
                self.start_close(CloseFrame::new(CloseCode::GOING_AWAY), Terminate::Shutdown);
            }
            Wake::Io(error) => {
                self.shared.stats.flush(&mut self.run.tally);
                return Some(self.run.ending.take().unwrap_or(Terminate::Error(error)));
            }
        }
        None
    }

    async fn call_info(&mut self, msg: H::Info) {
        let reply = while_writing(
            pin!(guarded(self.handler.info(msg, &mut self.ctx))),
            &mut self.stream,
            &mut self.conn,
            &mut self.run.tally,
        )
        .await;
        self.handle_reply(reply);
    }

    /// After our side is closed, reads and discards until the peer closes
    /// too (or `timeout` passes), so bytes it sent late do not turn the
    /// close into a reset that could destroy our close frame before the
    /// peer reads it. Bounded in time only, unlike the HTTP answers' linger:
    /// a peer may rightly be in the middle of a message as large as it
    /// likes (the one we closed over, 1009) until it reads our close, and
    /// what is discarded costs no memory.
    pub(crate) async fn linger(&mut self, timeout: Duration) {
        // Nothing can follow the peer's end of TCP, nor, from a conforming
        // peer, its close frame (§5.5.1): with nothing unread either, closing
        // now sends a FIN, not a reset, and the read would only find the end.
        if self.run.peer_closed || (self.conn.close_received() && self.conn.buffered_input() == 0) {
            return;
        }
        let _ = tokio::time::timeout(timeout, discard(&mut self.stream, usize::MAX)).await;
    }

    /// Makes the connection's timer fire by `deadline`. One armed to fire
    /// earlier is left as it is: the idle deadline moves with every read,
    /// and resetting the timer each time would take the timer wheel's lock
    /// per read. A wake before anything is due finds nothing to do, and the
    /// next wait arms the timer again.
    fn timer_by(&mut self, deadline: Instant) {
        if let Some(sleep) = &self.sleep
            && !sleep.is_elapsed()
            && sleep.deadline() <= deadline
        {
            return;
        }
        match &mut self.sleep {
            Some(sleep) => sleep.as_mut().reset(deadline),
            None => self.sleep = Some(Box::pin(tokio::time::sleep_until(deadline))),
        }
        // Reset, it wakes no one until polled again.
        self.run.timer_polled = false;
    }

    /// Reading resumes once the send buffer drains to this many bytes (never
    /// above the high mark).
    fn write_low(&self) -> usize {
        let config = &self.shared.config;
        config.write_buffer_low.min(config.write_buffer_high)
    }

    /// Applies the write-side watermarks: over the high mark the connection
    /// stops reading (TCP backpressure reaches the peer) and stops taking
    /// mailbox messages (backpressure reaches senders, `Topic` applies its
    /// policy); past the limit it gives up on the peer with 1008.
    fn check_write_buffer(&mut self) {
        let queued = self.conn.send_buffer().len();
        // Room for at least two whole messages, whatever the configuration.
        let write_max = self
            .shared
            .config
            .max_write_buffer
            .max(self.conn.config().max_message_size.saturating_mul(2));
        if queued > write_max && self.run.ending.is_none() {
            tracing::debug!(queued, limit = write_max, "send buffer over its limit");
            // 1008: the peer breaks the server's policy by not reading. The
            // close frame waits behind what the peer does not read, so the
            // close timeout ends the connection if it never does.
            self.start_close(
                CloseFrame::new(CloseCode::POLICY_VIOLATION),
                Terminate::Error(io::Error::other(
                    "the peer does not read: send buffer over its limit",
                )),
            );
        }
        if queued >= self.shared.config.write_buffer_high {
            self.run.throttled = true;
        } else if queued <= self.write_low() {
            self.run.throttled = false;
        }
    }

    /// Decodes every buffered frame and runs the handler on each.
    async fn process_input(&mut self) {
        loop {
            // Replies to what was already read count against the send
            // buffer too: past the high mark, decode no more until it drains
            // (a pipelining client cannot make the server buffer without bound).
            if self.run.ending.is_none()
                && self.conn.send_buffer().len() >= self.shared.config.write_buffer_high
            {
                self.run.throttled = true;
                return;
            }
            let open_before = !self.conn.close_sent();
            let frame = match self.conn.poll_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(error) => {
                    tracing::debug!(%error, code = error.close_code().as_u16(), "protocol error");
                    self.run.tally.protocol_errors += 1;
                    if open_before {
                        // ws-core sent the close frame with the error's code.
                        self.run.tally.count_sent(Kind::Close);
                    }
                    // ws-core queued the close frame with the error's code.
                    self.run.ending.get_or_insert(error.terminate());
                    return;
                }
            };
            self.run.tally.count_received(Kind::of(&frame));
            // Frames ws-core answered on its own: a pong for a ping, the
            // echo of a close, both only while our side was open.
            match &frame {
                Frame::Ping(_) if open_before && self.conn.config().auto_pong => {
                    self.run.tally.count_sent(Kind::Pong);
                }
                Frame::Close(_) if open_before => self.run.tally.count_sent(Kind::Close),
                _ => {}
            }
            if let Frame::Pong(payload) = &frame {
                self.on_pong(payload);
            }
            match frame {
                Frame::Close(close) => {
                    self.run.ending.get_or_insert(match close {
                        None => Terminate::Remote,
                        Some(close) => Terminate::RemoteClose {
                            code: close.code(),
                            payload: close.reason().to_owned(),
                        },
                    });
                    return;
                }
                // Once closing, incoming frames only complete the handshake.
                _ if self.run.ending.is_some() => {}
                frame => {
                    let reply = while_writing(
                        pin!(guarded(self.handler.handle(frame, &mut self.ctx))),
                        &mut self.stream,
                        &mut self.conn,
                        &mut self.run.tally,
                    )
                    .await;
                    self.handle_reply(reply);
                }
            }
        }
    }

    fn handle_reply(&mut self, reply: Result<Reply, Panic>) {
        match reply {
            Ok(reply) => self.apply(reply),
            Err(panic) => self.crash(panic_message(panic)),
        }
    }

    /// Queues a reply's frames and applies its modifiers.
    fn apply(&mut self, reply: Reply) {
        let Reply {
            frames,
            shutdown,
            hibernate,
            active,
            idle_timeout,
            deflate,
        } = reply;
        match frames {
            Frames::None => {}
            Frames::One(frame) => self.send(frame),
            Frames::Many(frames) => {
                for frame in frames {
                    self.send(frame);
                }
            }
        }
        if shutdown {
            self.start_close(CloseFrame::new(CloseCode::NORMAL), Terminate::Shutdown);
        }
        if let Some(deflate) = deflate {
            self.conn.set_compress(deflate);
        }
        self.run.hibernate |= hibernate;
        if let Some(active) = active {
            self.run.reading = active;
        }
        if let Some(timeout) = idle_timeout {
            self.run.idle_timeout = Some(timeout);
            self.run.touch();
        }
    }

    fn send(&mut self, frame: Frame) {
        let kind = Kind::of(&frame);
        let is_close = matches!(frame, Frame::Close(_));
        // Frames after a close are not sent (RFC 6455 §5.5.1); ws-core refuses them.
        if self.conn.send(frame).is_ok() {
            self.run.tally.count_sent(kind);
            if is_close {
                self.run.ending.get_or_insert(Terminate::Shutdown);
                self.arm_close_timeout();
            }
        }
    }

    fn start_close(&mut self, close: CloseFrame, reason: Terminate) {
        // The reason first: `send` would record a close as `Shutdown`.
        self.run.ending.get_or_insert(reason);
        self.send(Frame::Close(Some(close)));
    }

    /// A pong that answers our keepalive ping measures the round trip.
    fn on_pong(&mut self, payload: &[u8]) {
        if let Some(keepalive) = &mut self.run.keepalive
            && let Some((seq, sent_at, _)) = keepalive.ping
            && payload == seq.to_be_bytes()
        {
            self.ctx.latency = Some(sent_at.elapsed());
            keepalive.ping = None;
        }
    }

    fn arm_close_timeout(&mut self) {
        self.run.close_deadline = Some(Instant::now() + self.shared.config.close_timeout);
    }

    fn crash(&mut self, panic: String) {
        tracing::error!(panic = %panic, "handler crashed; closing with 1011");
        self.start_close(
            CloseFrame::new(CloseCode::INTERNAL_ERROR),
            Terminate::Crash(panic),
        );
    }

    async fn on_deadline(&mut self) {
        let now = Instant::now();
        if self.run.close_deadline.is_some_and(|at| at <= now) {
            // The peer did not answer our close in time: give up on the
            // handshake (RFC 6455 §7.1.1 lets the server close TCP).
            self.conn.force_close();
            return;
        }
        if self.run.ending.is_some() {
            return;
        }
        if let Some(keepalive) = &mut self.run.keepalive {
            if keepalive.ping.is_some_and(|(_, _, due)| due <= now) {
                // Keepalive: no pong in time; the peer is gone or stuck (1011,
                // as DESIGN §3 specifies; Cowboy has no keepalive of its own).
                self.start_close(
                    CloseFrame::new(CloseCode::INTERNAL_ERROR),
                    Terminate::Timeout,
                );
                return;
            }
            if keepalive.next_ping <= now {
                keepalive.ping_seq += 1;
                let seq = keepalive.ping_seq;
                if keepalive.ping.is_none() {
                    keepalive.ping = Some((seq, now, now + keepalive.pong_timeout));
                }
                keepalive.next_ping = now + keepalive.interval;
                let payload = bytes::Bytes::copy_from_slice(&seq.to_be_bytes());
                if let Ok(ping) = Frame::try_ping(payload) {
                    self.send(ping);
                }
            }
        }
        // Events in deadline order: timers due before the idle deadline are
        // delivered first, even when the driver wakes late.
        let idle_due = self.run.idle_deadline.filter(|at| *at <= now);
        while let Some(msg) = self.ctx.timers.pop_due(idle_due.unwrap_or(now)) {
            self.call_info(msg).await;
            if self.run.ending.is_some() {
                return;
            }
        }
        if idle_due.is_some() {
            // Cowboy closes an idle connection with 1000 and reason `timeout`.
            self.start_close(CloseFrame::new(CloseCode::NORMAL), Terminate::Timeout);
        }
    }

    /// Writes everything queued, then closes our side of TCP: the server
    /// closes first (RFC 6455 §7.1.1).
    async fn flush_and_close(&mut self) -> io::Result<()> {
        let flushed = tokio::time::timeout(self.shared.config.close_timeout, async {
            let (stream, conn, tally) = (&mut self.stream, &mut self.conn, &mut self.run.tally);
            poll_fn(|cx| poll_flush(cx, stream, conn, tally)).await?;
            self.stream.flush().await?;
            self.stream.shutdown().await
        })
        .await;
        flushed.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
}

/// The earliest of the connection's deadlines, if any. Computed before
/// every wait, so written as plain comparisons of what is set.
fn next_deadline<I>(run: &Run, ctx: &Ctx<I>) -> Option<Instant> {
    let mut next = run.close_deadline;
    // Once closing, only the close timeout counts.
    if run.ending.is_none() {
        next = earliest(next, run.idle_deadline);
        next = earliest(next, ctx.timers.next_deadline());
        if let Some(keepalive) = &run.keepalive {
            next = earliest(next, Some(keepalive.next_ping));
            next = earliest(next, keepalive.ping.map(|(_, _, due)| due));
        }
    }
    next
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The next mailbox message; never, while the connection has no address.
fn poll_mailbox<I>(cx: &mut Context<'_>, mailbox: Option<&mut mpsc::Receiver<I>>) -> Poll<Wake<I>> {
    match mailbox.map(|mailbox| mailbox.poll_recv(cx)) {
        Some(Poll::Ready(Some(msg))) => Poll::Ready(Wake::Info(msg)),
        // The context holds a sender, so the mailbox never closes first.
        Some(Poll::Ready(None)) => Poll::Ready(Wake::Shutdown),
        Some(Poll::Pending) | None => Poll::Pending,
    }
}

/// The close code asked for through the connection's address; never, while
/// it has none.
fn poll_close_requested(cx: &mut Context<'_>, control: Option<&Control>) -> Poll<CloseCode> {
    match control {
        Some(control) => control.poll_close_requested(cx),
        None => Poll::Pending,
    }
}

/// Keepalive pings (`Init::keepalive`).
struct Keepalive {
    /// Ping this often...
    interval: Duration,
    /// ...and close with 1011 when no pong comes this soon.
    pong_timeout: Duration,
    next_ping: Instant,
    /// The unanswered ping: its number, when it left, when its pong is due.
    ping: Option<(u64, Instant, Instant)>,
    ping_seq: u64,
}

/// Per-run bookkeeping of the loop.
struct Run {
    /// Whether `open` has run.
    opened: bool,
    /// `Init::keepalive`'s pings; boxed, as most connections have none.
    keepalive: Option<Box<Keepalive>>,
    /// Why the connection is ending, once it is: no more handler calls.
    ending: Option<Terminate>,
    /// Whether to read the socket (`Reply::active`).
    reading: bool,
    hibernate: bool,
    idle_timeout: Option<Duration>,
    idle_deadline: Option<Instant>,
    /// When to stop waiting for the peer's close frame.
    close_deadline: Option<Instant>,
    /// Over the send buffer's high watermark: not reading, not taking info.
    throttled: bool,
    /// Whether the mailbox goes before the socket in the next wait.
    mailbox_first: bool,
    /// The peer ended its side of TCP (a read returned 0).
    peer_closed: bool,
    /// Whether the timer was polled since it was last set, so it will wake
    /// the task that polled it.
    timer_polled: bool,
    /// Room to make in the input buffer for the next read.
    read_chunk: usize,
    /// Counters not yet added to the server's.
    tally: Tally,
}

impl Run {
    /// Data arrived: the idle timeout starts over (Cowboy: "no data has been
    /// received during that timespan").
    fn touch(&mut self) {
        self.idle_deadline = self.idle_timeout.map(|timeout| Instant::now() + timeout);
    }
}

/// Writes queued bytes until the socket would block or nothing is left:
/// `Ready(Ok)` once empty, `Pending` while bytes wait, `Ready(Err)` on a
/// failed write.
fn poll_flush<W: AsyncWrite + Unpin>(
    cx: &mut Context<'_>,
    writer: &mut W,
    conn: &mut Connection,
    tally: &mut Tally,
) -> Poll<io::Result<()>> {
    while conn.wants_write() {
        let buffer = conn.send_buffer();
        let chunk = buffer.chunk();
        // One contiguous chunk (a lone reply, or replies encoded into one
        // buffer) goes out with a plain write; only several take a writev.
        let written = if chunk.len() == buffer.remaining() {
            Pin::new(&mut *writer).poll_write(cx, chunk)
        } else {
            let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
            let count = buffer.chunks_vectored(&mut slices);
            let slices = slices.get(..count).unwrap_or_default();
            Pin::new(&mut *writer).poll_write_vectored(cx, slices)
        };
        match written {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(written)) => {
                buffer.advance(written);
                tally.bytes_out += written as u64;
            }
            Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
            Poll::Pending => return Poll::Pending,
        }
    }
    Poll::Ready(Ok(()))
}

/// Runs a handler call; while it waits (an `async` clause awaiting
/// something), writes what earlier replies queued, so a slow call does not
/// hold back replies already made. A call that completes at once writes
/// nothing here: its replies join the batch written by the main loop.
///
/// The caller pins the call where it stands: taken by value, the call's
/// state would be copied into this future's for every message.
async fn while_writing<T, W: AsyncWrite + Unpin>(
    mut call: Pin<&mut impl Future<Output = T>>,
    writer: &mut W,
    conn: &mut Connection,
    tally: &mut Tally,
) -> T {
    // A write error is left for the main loop to meet on its next write.
    let mut failed = false;
    poll_fn(|cx| {
        if let Poll::Ready(value) = call.as_mut().poll(cx) {
            return Poll::Ready(value);
        }
        if !failed && let Poll::Ready(Err(_)) = poll_flush(cx, writer, conn, tally) {
            failed = true;
        }
        Poll::Pending
    })
    .await
}

/// The parts of the driver that socket polling touches.
struct Io<'a, S> {
    stream: &'a mut S,
    conn: &'a mut Connection,
    tally: &'a mut Tally,
}

/// Writes queued bytes while waiting for input: returns when bytes were
/// read (`read_chunk`: room to make for them; `None` while not reading), the
/// send buffer drained to `drained_at` bytes, the peer closed, or the socket
/// failed.
fn poll_io<S>(
    cx: &mut Context<'_>,
    io: Io<'_, S>,
    read_chunk: Option<usize>,
    drained_at: Option<usize>,
) -> Poll<IoWake>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Io {
        stream,
        conn,
        tally,
    } = io;
    if let Poll::Ready(Err(error)) = poll_flush(cx, stream, conn, tally) {
        return Poll::Ready(IoWake::Error(error));
    }
    if drained_at.is_some_and(|low| conn.send_buffer().len() <= low) {
        return Poll::Ready(IoWake::Drained);
    }
    let Some(read_chunk) = read_chunk else {
        return Poll::Pending;
    };
    let wanted = conn.input_wanted();
    let input = conn.input_mut();
    if input.capacity() == 0 {
        // No buffer (none yet, or hibernation released it), or one whose
        // every byte a large message took: wait for data with a stack
        // buffer, so an idle connection holds no read buffer, and make
        // room once bytes arrive. (Reading a large frame's header on its
        // own before its payload also measured cheaper than one read of
        // both, scenario d.)
        let mut first = [0u8; 512];
        let mut read_buf = ReadBuf::new(&mut first);
        return match Pin::new(&mut *stream).poll_read(cx, &mut read_buf) {
            Poll::Ready(Ok(())) => {
                let read = read_buf.filled().len();
                // A whole read chunk, not just these bytes: the reads that
                // follow go into the room left, allocating nothing.
                input.reserve(read_chunk.max(read));
                input.extend_from_slice(read_buf.filled());
                tally.bytes_in += read as u64;
                Poll::Ready(IoWake::Read {
                    bytes: read,
                    filled: read == first.len(),
                })
            }
            Poll::Ready(Err(error)) => Poll::Ready(IoWake::Error(error)),
            Poll::Pending => Poll::Pending,
        };
    }
    // Room for the rest of a large frame at once: pages of it the peer
    // never sends are never touched, so they cost address space, not memory.
    // Otherwise small messages are read into what is left of the room until
    // a quarter of a read chunk remains: making room moves or reallocates
    // the buffer, and doing it for every read would cost more than the
    // reads. A read that fills a small remainder grows the chunk (above).
    // But once more than a read chunk is buffered (a large frame whose rest
    // already fits), moving it would cost more than the reads it saves:
    // scenario d made a 1 MiB copy into fresh pages per message that way.
    let room = input.capacity() - input.len();
    let cheap_to_move = input.len() <= MAX_READ_CHUNK;
    if room < wanted || (room < read_chunk / 4 && cheap_to_move) {
        input.reserve(read_chunk.max(wanted));
    }
    let room = input.capacity() - input.len();
    match tokio_util::io::poll_read_buf(Pin::new(&mut *stream), cx, input) {
        Poll::Ready(Ok(read)) => {
            tally.bytes_in += read as u64;
            Poll::Ready(IoWake::Read {
                bytes: read,
                filled: read == room,
            })
        }
        Poll::Ready(Err(error)) => Poll::Ready(IoWake::Error(error)),
        Poll::Pending => Poll::Pending,
    }
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use std::task::Waker;

    use ws_core::frame::FrameHeader;
    use ws_core::mask::apply_mask;
    use ws_core::{Config, OpCode, Role};

    use super::*;

    /// A peer whose bytes have all arrived: a read returns at most `chunk`
    /// of them, as a socket returns a segment or two at a time; once they
    /// are all read, reads wait. Writes are taken whole.
    struct Arrived {
        bytes: Vec<u8>,
        read: usize,
        chunk: usize,
    }

    impl AsyncRead for Arrived {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let rest = &self.bytes[self.read..];
            if rest.is_empty() {
                return Poll::Pending;
            }
            let taken = rest.len().min(self.chunk).min(buf.remaining());
            buf.put_slice(&rest[..taken]);
            self.read += taken;
            Poll::Ready(Ok(()))
        }
    }

    impl AsyncWrite for Arrived {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// One masked binary frame carrying `payload`, as a client sends it.
    fn client_binary_frame(payload: &[u8]) -> Vec<u8> {
        let key = [0x12, 0x34, 0x56, 0x78];
        let mut frame = Vec::new();
        FrameHeader::new(OpCode::Binary, payload.len(), Some(key)).encode(&mut frame);
        let header_len = frame.len();
        frame.extend_from_slice(payload);
        apply_mask(&mut frame[header_len..], key, 0);
        frame
    }

    /// Scenario d's regression: at the end of a 1 MiB frame, with its rest
    /// fitting the buffer but less than a quarter of a read chunk of room
    /// beyond, the runtime made room anyway and so moved the whole buffered
    /// megabyte into a fresh allocation, for every message. Now a large
    /// frame stays where its first payload bytes were read, and the next
    /// one, once the previous payload is dropped, is read into the same
    /// allocation. Reads of one loopback segment (1448 B) and of 64 KiB.
    #[test]
    fn large_frames_stay_in_place_and_reuse_one_buffer() {
        for segment in [1448, MAX_READ_CHUNK] {
            read_large_frames(segment);
        }
    }

    fn read_large_frames(segment: usize) {
        const MESSAGE: usize = 1 << 20;
        const MESSAGES: usize = 4;
        let payload: Vec<u8> = (0..MESSAGE).map(|i| (i % 251) as u8).collect();
        let mut stream = Arrived {
            bytes: client_binary_frame(&payload).repeat(MESSAGES),
            read: 0,
            chunk: segment,
        };
        let mut conn = Connection::new(
            Role::Server,
            Config {
                max_frame_size: MESSAGE,
                max_message_size: MESSAGE,
                ..Config::default()
            },
        );
        let mut tally = Tally::default();
        let mut cx = Context::from_waker(Waker::noop());
        // Per message: where its payload was after each read, header decoded.
        let mut payload_at: Vec<Vec<*const u8>> = vec![Vec::new()];
        let mut received = 0;
        while received < MESSAGES {
            let io = Io {
                stream: &mut stream,
                conn: &mut conn,
                tally: &mut tally,
            };
            let wake = poll_io(&mut cx, io, Some(MAX_READ_CHUNK), None);
            assert!(
                matches!(wake, Poll::Ready(IoWake::Read { .. })),
                "a read of bytes that have arrived"
            );
            match conn.poll_frame().expect("a valid frame") {
                None if conn.input_wanted() > 0 => {
                    payload_at[received].push(conn.input_mut().as_ptr());
                }
                None => {}
                Some(Frame::Binary(data)) => {
                    assert!(data[..] == payload[..], "message {received} changed");
                    payload_at[received].push(data.as_ptr());
                    received += 1;
                    payload_at.push(Vec::new());
                }
                Some(other) => panic!("unexpected frame {other:?}"),
            }
        }
        // The first message is moved once, from the first read's room into
        // room for the whole frame; after that nothing moves.
        let first = payload_at[0].last().copied();
        for (message, places) in payload_at[..MESSAGES].iter().enumerate() {
            let moves = places.windows(2).filter(|pair| pair[0] != pair[1]).count();
            let allowed = usize::from(message == 0);
            assert!(
                moves <= allowed,
                "{segment} B reads: message {message}'s payload moved {moves} times while it was read"
            );
            assert_eq!(
                places.last().copied(),
                first,
                "{segment} B reads: message {message} was not read into the first one's buffer"
            );
        }
    }
}
