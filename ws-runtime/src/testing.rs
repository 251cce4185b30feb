//! Test a handler without a socket.
//!
//! [`Session`] runs a handler on the same driver the server uses, over an
//! in-memory pipe, with a WebSocket client on the other end: send frames and
//! info messages, advance paused tokio time, read what the handler replied
//! and how it terminated.
//!
//! # Examples
//!
//! ```
//! use ws_runtime::testing::{Session, TestRequest};
//! use ws_runtime::{Ctx, Frame, Handler, Init, Reply, Request, Terminate};
//!
//! #[derive(Default)]
//! struct Echo;
//!
//! impl Handler for Echo {
//!     type Info = ();
//!     async fn init(_req: &Request) -> Init<Self> {
//!         Init::upgrade(Echo)
//!     }
//!     async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<()>) -> Reply {
//!         Reply::frame(frame)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut session = Session::<Echo>::connect(TestRequest::get("/echo").build())
//!     .await
//!     .expect("init upgrades");
//! session.send(Frame::text("hi")).await;
//! assert_eq!(session.recv().await, Some(Frame::text("hi")));
//! session.send(Frame::close(ws_runtime::CloseCode::NORMAL)).await;
//! let (_echo, reason) = session.finish().await;
//! assert!(matches!(reason, Terminate::RemoteClose { .. }));
//! # }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;
use ws_core::handshake;
use ws_core::{Connection, Frame, ProtocolError, Role, Terminate};

use crate::ctx::{Addr, Ctx, Meta, SendError};
use crate::driver::{guarded, panic_message};
use crate::handler::{Handler, InitKind};
use crate::request::{Request, Response, StateMap};
use crate::server::{Config, Shared, driver, terminate};
use crate::shutdown::Shutdown;

/// Builds a [`Request`] for a test, as if a client had sent it.
#[derive(Debug)]
pub struct TestRequest {
    target: String,
    headers: Vec<(String, String)>,
    protocols: Vec<String>,
    peer: SocketAddr,
    state: StateMap,
}

impl TestRequest {
    /// A WebSocket upgrade request for `target` (path and query).
    pub fn get(target: impl Into<String>) -> TestRequest {
        TestRequest {
            target: target.into(),
            headers: Vec::new(),
            protocols: Vec::new(),
            peer: SocketAddr::from(([127, 0, 0, 1], 40000)),
            state: StateMap::default(),
        }
    }

    /// Adds a request header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> TestRequest {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Offers a subprotocol.
    pub fn protocol(mut self, protocol: impl Into<String>) -> TestRequest {
        self.protocols.push(protocol.into());
        self
    }

    /// Sets the peer address.
    pub fn peer(mut self, peer: SocketAddr) -> TestRequest {
        self.peer = peer;
        self
    }

    /// Registers shared state, as `Server::state` does.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> TestRequest {
        self.state.insert(value);
        self
    }

    /// The request.
    ///
    /// # Panics
    ///
    /// When the target or a header cannot appear in an HTTP/1.1 request
    /// head (a mistake in the test).
    #[allow(clippy::panic)]
    pub fn build(self) -> Request {
        let key = handshake::client_key(&[7; 16]);
        let protocols: Vec<&str> = self.protocols.iter().map(String::as_str).collect();
        let mut head =
            handshake::client_request("test.invalid", &self.target, &key, &protocols, None);
        // Insert extra headers before the blank line that ends the head.
        head.truncate(head.len().saturating_sub(2));
        for (name, value) in &self.headers {
            head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let parsed = match handshake::parse_request(&head, usize::MAX) {
            Ok(Some((parsed, _))) => parsed,
            other => panic!("TestRequest does not make a valid HTTP head: {other:?}"),
        };
        let upgrade = handshake::validate_upgrade(&parsed).ok();
        Request::new(parsed, self.peer, Arc::new(self.state), upgrade.as_ref())
    }
}

/// A handler running on the real driver over an in-memory pipe, with a
/// WebSocket client on the test's side.
///
/// Use it under paused time (`#[tokio::test(start_paused = true)]`) so
/// timers and timeouts run instantly and deterministically.
#[derive(Debug)]
pub struct Session<H: Handler> {
    client: Connection,
    pipe: DuplexStream,
    addr: Addr<H::Info>,
    task: JoinHandle<(H, Terminate)>,
    shutdown: Shutdown,
}

impl<H: Handler> Session<H> {
    /// Runs `init` on `request`; on upgrade, starts the connection. A
    /// rejected upgrade returns the HTTP response `init` chose.
    pub async fn connect(request: Request) -> Result<Session<H>, Response> {
        Session::connect_with(request, Config::default()).await
    }

    /// [`Session::connect`] with server limits and timeouts.
    pub async fn connect_with(request: Request, config: Config) -> Result<Session<H>, Response> {
        let init = match guarded(H::init(&request)).await.map_err(panic_message) {
            Ok(init) => init,
            Err(panic) => return Err(Response::new(500).body(panic)),
        };
        let (handler, options) = match init.kind {
            InitKind::Upgrade(handler, options) => (handler, options),
            InitKind::Reject(response, state) => {
                if let Some(mut state) = state {
                    terminate(&mut state, &Terminate::Normal).await;
                }
                return Err(response);
            }
        };
        let protocol = options
            .protocol
            .clone()
            .filter(|chosen| request.protocols().contains(chosen));
        let meta = Meta {
            compress: false,
            version: request.version(),
            protocol,
            peer: request.peer(),
        };
        let shutdown = Shutdown::default();
        let shared = Arc::new(Shared {
            config: config.clone(),
            state: Arc::new(StateMap::default()),
            shutdown: shutdown.clone(),
            stats: crate::stats::Stats::default(),
            tasks: tokio_util::task::TaskTracker::new(),
        });
        let ctx = Ctx::new(config.mailbox_capacity, meta, request);
        let addr = ctx.addr();
        let (pipe, server_side) = tokio::io::duplex(64 * 1024);
        let task = tokio::spawn(async move {
            let mut driver = driver(
                handler,
                server_side,
                BytesMut::new(),
                ctx,
                &options,
                None,
                shared,
            );
            let reason = driver.run().await;
            terminate(&mut driver.handler, &reason).await;
            (driver.handler, reason)
        });
        let client = Connection::new(
            Role::Client,
            ws_core::Config {
                max_frame_size: usize::MAX,
                max_message_size: usize::MAX,
                ..ws_core::Config::default()
            },
        );
        Ok(Session {
            client,
            pipe,
            addr,
            task,
            shutdown,
        })
    }

    /// Sends a frame to the handler as the client.
    pub async fn send(&mut self, frame: Frame) {
        let _ = self.client.send(frame);
        self.flush().await;
    }

    /// Sends raw bytes, as a misbehaving client would.
    pub async fn send_raw(&mut self, bytes: &[u8]) {
        let _ = self.pipe.write_all(bytes).await;
    }

    /// Delivers an info message to the handler.
    pub async fn info(&self, msg: H::Info) -> Result<(), SendError<H::Info>> {
        self.addr.send(msg).await
    }

    /// The connection's address, as the handler's `ctx.addr()`.
    pub fn addr(&self) -> Addr<H::Info> {
        self.addr.clone()
    }

    /// The next frame the handler sent: a message, a ping or pong, or its
    /// close frame. `None` once the connection is closed.
    pub async fn recv(&mut self) -> Option<Frame> {
        loop {
            match self.client.poll_frame() {
                Ok(Some(frame)) => {
                    // Pongs and close echoes from the client go out at once.
                    self.flush().await;
                    return Some(frame);
                }
                Ok(None) if self.client.is_closed() => {
                    self.flush().await;
                    return None;
                }
                Ok(None) => {}
                Err(ProtocolError::InvalidUtf8 | ProtocolError::InvalidCloseReason) | Err(_) => {
                    self.flush().await;
                    return None;
                }
            }
            let input = self.client.input_mut();
            input.reserve(4096);
            match self.pipe.read_buf(input).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Advances paused time by `duration` and lets the handler run.
    pub async fn advance(&mut self, duration: Duration) {
        tokio::time::advance(duration).await;
        tokio::task::yield_now().await;
    }

    /// Starts a graceful server shutdown for this connection (close 1001).
    pub fn shutdown_server(&self) {
        self.shutdown.signal();
    }

    /// Drops the client's side without a close frame, as a vanished peer.
    pub async fn disconnect(self) -> (H, Terminate) {
        let Session { pipe, task, .. } = self;
        drop(pipe);
        join(task).await
    }

    /// Reads until the connection ends, answering the handler's close, and
    /// returns the handler and the reason it terminated with.
    pub async fn finish(mut self) -> (H, Terminate) {
        while self.recv().await.is_some() {}
        let Session { pipe, task, .. } = self;
        drop(pipe);
        join(task).await
    }

    async fn flush(&mut self) {
        let out = self.client.send_buffer();
        while out.has_remaining() {
            let bytes = out.copy_to_bytes(out.remaining());
            if self.pipe.write_all(&bytes).await.is_err() {
                return;
            }
        }
    }
}

#[allow(clippy::panic)]
async fn join<H>(task: JoinHandle<(H, Terminate)>) -> (H, Terminate) {
    match task.await {
        Ok(done) => done,
        // The driver catches handler panics; reaching this is a lariat bug.
        Err(error) => panic!("the connection task failed: {error}"),
    }
}
