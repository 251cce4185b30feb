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
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Buf;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use ws_core::{CloseCode, CloseFrame, Connection, Frame, Terminate};

use crate::ctx::Ctx;
use crate::handler::{Frames, Handler, Reply};

/// How much room to make in the input buffer before each read.
const READ_CHUNK: usize = 8 * 1024;
/// Vectored writes take at most this many buffers at once.
const MAX_IOVECS: usize = 64;

/// The limits and timeouts one connection runs with.
#[derive(Debug, Clone)]
pub(crate) struct DriverOptions {
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) close_timeout: Duration,
}

/// Runs a handler panic-safely; a panic becomes its message.
pub(crate) async fn guarded<T>(future: impl Future<Output = T>) -> Result<T, String> {
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(panic_message)
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
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
    Read(usize),
    Error(io::Error),
}

/// What woke the driver.
enum Wake<I> {
    /// Bytes were read (0: the peer closed its side).
    Read(usize),
    Info(I),
    Deadline,
    Shutdown,
    Io(io::Error),
}

/// The state of one running connection.
pub(crate) struct Driver<'a, H: Handler, R, W> {
    pub(crate) reader: R,
    pub(crate) writer: W,
    pub(crate) conn: Connection,
    pub(crate) handler: &'a mut H,
    pub(crate) ctx: Ctx<H::Info>,
    pub(crate) mailbox: mpsc::Receiver<H::Info>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) options: DriverOptions,
}

impl<H, R, W> Driver<'_, H, R, W>
where
    H: Handler,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    /// Runs the connection from `open` to the end and returns why it ended,
    /// and the read half so the caller can [`linger`] on it after running
    /// `terminate`.
    pub(crate) async fn run(mut self) -> (Terminate, R) {
        let reason = self.drive().await;
        (reason, self.reader)
    }

    async fn drive(&mut self) -> Terminate {
        let mut run = Run {
            ending: None,
            reading: true,
            hibernate: false,
            idle_timeout: self.options.idle_timeout,
            idle_deadline: None,
            close_deadline: None,
        };
        run.touch();
        let mut sleep: Pin<Box<Sleep>> = Box::pin(tokio::time::sleep_until(far_future()));

        match guarded(self.handler.open(&mut self.ctx)).await {
            Ok(reply) => self.apply(&mut run, reply),
            Err(panic) => self.crash(&mut run, panic),
        }

        loop {
            self.process_input(&mut run).await;

            if self.conn.is_closed() {
                let flushed = self.flush_and_close().await;
                return match (run.ending.take(), flushed) {
                    (Some(reason), _) => reason,
                    (None, Err(error)) => Terminate::Error(error),
                    (None, Ok(())) => Terminate::Closed,
                };
            }
            if run.hibernate && !self.conn.wants_write() {
                self.conn.release_buffers();
                run.hibernate = false;
            }

            let deadline = self.next_deadline(&run);
            if let Some(deadline) = deadline {
                sleep.as_mut().reset(deadline);
            }
            let closing = run.ending.is_some();
            // Once closing, read regardless of `active(false)`: the peer's
            // close frame completes the handshake (RFC 6455 §7.1.2).
            let reading = run.reading || closing;
            let wake = {
                let io = poll_fn(|cx| {
                    poll_io(
                        cx,
                        &mut self.reader,
                        &mut self.writer,
                        &mut self.conn,
                        reading,
                    )
                });
                // Unbiased: a peer flooding the socket must not starve the
                // mailbox, nor the reverse.
                tokio::select! {
                    wake = io => match wake {
                        IoWake::Read(n) => Wake::Read(n),
                        IoWake::Error(error) => Wake::Io(error),
                    },
                    msg = self.mailbox.recv(), if !closing => match msg {
                        Some(msg) => Wake::Info(msg),
                        // The context holds a sender, so the mailbox never closes first.
                        None => Wake::Shutdown,
                    },
                    () = sleep.as_mut(), if deadline.is_some() => Wake::Deadline,
                    () = self.shutdown.cancelled(), if !closing => Wake::Shutdown,
                }
            };

            match wake {
                Wake::Read(0) => {
                    // The peer closed TCP. Without its close frame that is
                    // Cowboy's `{error, closed}`, unless we were closing anyway.
                    return run.ending.take().unwrap_or(Terminate::Closed);
                }
                Wake::Read(_) => run.touch(),
                Wake::Info(msg) => {
                    let reply = guarded(self.handler.info(msg, &mut self.ctx)).await;
                    self.handle_reply(&mut run, reply);
                }
                Wake::Deadline => self.on_deadline(&mut run).await,
                Wake::Shutdown => {
                    // Graceful shutdown: 1001 "going away" (RFC 6455 §7.4.1).
                    self.start_close(
                        &mut run,
                        CloseFrame::new(CloseCode::GOING_AWAY),
                        Terminate::Shutdown,
                    );
                }
                Wake::Io(error) => return run.ending.take().unwrap_or(Terminate::Error(error)),
            }
        }
    }

    /// Decodes every buffered frame and runs the handler on each.
    async fn process_input(&mut self, run: &mut Run) {
        loop {
            let frame = match self.conn.poll_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => return,
                Err(error) => {
                    tracing::debug!(%error, code = error.close_code().as_u16(), "protocol error");
                    // ws-core queued the close frame with the error's code.
                    run.ending.get_or_insert(error.terminate());
                    return;
                }
            };
            match frame {
                Frame::Close(close) => {
                    run.ending.get_or_insert(match close {
                        None => Terminate::Remote,
                        Some(close) => Terminate::RemoteClose {
                            code: close.code(),
                            payload: close.reason().to_owned(),
                        },
                    });
                    return;
                }
                // Once closing, incoming frames only complete the handshake.
                _ if run.ending.is_some() => {}
                frame => {
                    let reply = guarded(self.handler.handle(frame, &mut self.ctx)).await;
                    self.handle_reply(run, reply);
                }
            }
        }
    }

    fn handle_reply(&mut self, run: &mut Run, reply: Result<Reply, String>) {
        match reply {
            Ok(reply) => self.apply(run, reply),
            Err(panic) => self.crash(run, panic),
        }
    }

    /// Queues a reply's frames and applies its modifiers.
    fn apply(&mut self, run: &mut Run, reply: Reply) {
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
            Frames::One(frame) => self.send(run, frame),
            Frames::Many(frames) => {
                for frame in frames {
                    self.send(run, frame);
                }
            }
        }
        if shutdown {
            self.start_close(run, CloseFrame::new(CloseCode::NORMAL), Terminate::Shutdown);
        }
        if let Some(deflate) = deflate {
            self.conn.set_compress(deflate);
        }
        run.hibernate |= hibernate;
        if let Some(active) = active {
            run.reading = active;
        }
        if let Some(timeout) = idle_timeout {
            run.idle_timeout = Some(timeout);
            run.touch();
        }
    }

    fn send(&mut self, run: &mut Run, frame: Frame) {
        let is_close = matches!(frame, Frame::Close(_));
        // Frames after a close are not sent (RFC 6455 §5.5.1); ws-core refuses them.
        if self.conn.send(frame).is_ok() && is_close {
            run.ending.get_or_insert(Terminate::Shutdown);
            self.arm_close_timeout(run);
        }
    }

    fn start_close(&mut self, run: &mut Run, close: CloseFrame, reason: Terminate) {
        if self.conn.send(Frame::Close(Some(close))).is_ok() {
            self.arm_close_timeout(run);
        }
        run.ending.get_or_insert(reason);
    }

    fn arm_close_timeout(&self, run: &mut Run) {
        run.close_deadline = Some(Instant::now() + self.options.close_timeout);
    }

    fn crash(&mut self, run: &mut Run, panic: String) {
        tracing::error!(panic = %panic, "handler crashed; closing with 1011");
        self.start_close(
            run,
            CloseFrame::new(CloseCode::INTERNAL_ERROR),
            Terminate::Crash(panic),
        );
    }

    fn next_deadline(&self, run: &Run) -> Option<Instant> {
        let timers = if run.ending.is_none() {
            self.ctx.timers.next_deadline()
        } else {
            None
        };
        let idle = if run.ending.is_none() {
            run.idle_deadline
        } else {
            None
        };
        [timers, idle, run.close_deadline]
            .into_iter()
            .flatten()
            .min()
    }

    async fn on_deadline(&mut self, run: &mut Run) {
        let now = Instant::now();
        if run.close_deadline.is_some_and(|at| at <= now) {
            // The peer did not answer our close in time: give up on the
            // handshake (RFC 6455 §7.1.1 lets the server close TCP).
            self.conn.force_close();
            return;
        }
        if run.ending.is_some() {
            return;
        }
        // Events in deadline order: timers due before the idle deadline are
        // delivered first, even when the driver wakes late.
        let idle_due = run.idle_deadline.filter(|at| *at <= now);
        while let Some(msg) = self.ctx.timers.pop_due(idle_due.unwrap_or(now)) {
            let reply = guarded(self.handler.info(msg, &mut self.ctx)).await;
            self.handle_reply(run, reply);
            if run.ending.is_some() {
                return;
            }
        }
        if idle_due.is_some() {
            // Cowboy closes an idle connection with 1000 and reason `timeout`.
            self.start_close(run, CloseFrame::new(CloseCode::NORMAL), Terminate::Timeout);
        }
    }

    /// Writes everything queued, then closes our side of TCP: the server
    /// closes first (RFC 6455 §7.1.1).
    async fn flush_and_close(&mut self) -> io::Result<()> {
        let flushed = tokio::time::timeout(self.options.close_timeout, async {
            while self.conn.wants_write() {
                self.writer.write_buf(self.conn.send_buffer()).await?;
            }
            self.writer.flush().await?;
            self.writer.shutdown().await
        })
        .await;
        flushed.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into()))
    }
}

/// After our side is closed, reads and discards until the peer closes too
/// (or `timeout` passes), so bytes it sent late do not turn the close into a
/// reset that could destroy our close frame before the peer reads it.
pub(crate) async fn linger<R: AsyncRead + Unpin>(reader: &mut R, timeout: Duration) {
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(timeout, async {
        let mut sink = [0u8; 1024];
        while let Ok(n) = reader.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// Per-run bookkeeping of the loop.
struct Run {
    /// Why the connection is ending, once it is: no more handler calls.
    ending: Option<Terminate>,
    /// Whether to read the socket (`Reply::active`).
    reading: bool,
    hibernate: bool,
    idle_timeout: Option<Duration>,
    idle_deadline: Option<Instant>,
    /// When to stop waiting for the peer's close frame.
    close_deadline: Option<Instant>,
}

impl Run {
    /// Data arrived: the idle timeout starts over (Cowboy: "no data has been
    /// received during that timespan").
    fn touch(&mut self) {
        self.idle_deadline = self.idle_timeout.map(|timeout| Instant::now() + timeout);
    }
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365)
}

/// Writes queued bytes while waiting for input: returns when bytes were
/// read, the peer closed, or the socket failed.
fn poll_io<R, W>(
    cx: &mut Context<'_>,
    reader: &mut R,
    writer: &mut W,
    conn: &mut Connection,
    reading: bool,
) -> Poll<IoWake>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    while conn.wants_write() {
        let buffer = conn.send_buffer();
        let mut slices = [IoSlice::new(&[]); MAX_IOVECS];
        let count = buffer.chunks_vectored(&mut slices);
        let slices = slices.get(..count).unwrap_or_default();
        match Pin::new(&mut *writer).poll_write_vectored(cx, slices) {
            Poll::Ready(Ok(0)) => {
                return Poll::Ready(IoWake::Error(io::ErrorKind::WriteZero.into()));
            }
            Poll::Ready(Ok(written)) => buffer.advance(written),
            Poll::Ready(Err(error)) => return Poll::Ready(IoWake::Error(error)),
            Poll::Pending => break,
        }
    }
    if !reading {
        return Poll::Pending;
    }
    let input = conn.input_mut();
    if input.capacity() == 0 {
        // Hibernated: wait for data with a stack buffer, so an idle
        // connection holds no read buffer; allocate once bytes arrive.
        let mut first = [0u8; 512];
        let mut read_buf = ReadBuf::new(&mut first);
        return match Pin::new(&mut *reader).poll_read(cx, &mut read_buf) {
            Poll::Ready(Ok(())) => {
                input.extend_from_slice(read_buf.filled());
                Poll::Ready(IoWake::Read(read_buf.filled().len()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(IoWake::Error(error)),
            Poll::Pending => Poll::Pending,
        };
    }
    input.reserve(READ_CHUNK);
    match tokio_util::io::poll_read_buf(Pin::new(&mut *reader), cx, input) {
        Poll::Ready(Ok(read)) => Poll::Ready(IoWake::Read(read)),
        Poll::Ready(Err(error)) => Poll::Ready(IoWake::Error(error)),
        Poll::Pending => Poll::Pending,
    }
}
