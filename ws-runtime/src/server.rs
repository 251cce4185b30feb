//! The listener: accepts TCP, reads the HTTP/1.1 request, routes it to a
//! WebSocket handler, a page or the fallback.

use std::collections::HashMap;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::FutureExt;
use futures_util::future::OptionFuture;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream, ToSocketAddrs};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::task::TaskTracker;
use ws_core::handshake::{self, HandshakeError};
use ws_core::{Connection, Role, Terminate};

use crate::ctx::{Ctx, Meta};
use crate::driver::{Driver, guarded, panic_message};
use crate::handler::{Handler, InitKind, UpgradeOptions};
use crate::request::{Request, Response, StateMap};
use crate::shutdown::Shutdown;
use crate::stats::{Stats, Tally};
use tracing::Instrument;

/// Server-wide limits and timeouts. Every field has a safe default.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connections served at once; further ones wait in the listen backlog.
    /// Default 100 000.
    pub max_connections: usize,
    /// Time a client has to send its whole request head. Default 10 s.
    ///
    /// Also the time an HTTP answer sent instead of an upgrade (an error, a
    /// page, the fallback, `Init::reject`) may take to write: a client that
    /// has not read it by then is dropped with a reset, so it cannot hold
    /// its task, its connection slot and the answer forever. (A page too
    /// large to reach a slow client in this time is cut off the same way:
    /// pages here are meant to be small.)
    pub handshake_timeout: Duration,
    /// Largest request head in bytes; larger: 431. Default 8 KiB.
    pub max_request_head_size: usize,
    /// Largest frame payload in bytes unless `Init::max_frame_size` says
    /// otherwise; larger: close 1009. Default 1 MiB.
    pub max_frame_size: usize,
    /// Largest message in bytes unless `Init::max_message_size` says
    /// otherwise; larger: close 1009. Default 1 MiB.
    pub max_message_size: usize,
    /// Close with 1000 when no data arrives for this long, unless
    /// `Init::idle_timeout` says otherwise. `None` waits forever (Cowboy's
    /// default, which Cowboy itself advises against). Default 60 s.
    pub idle_timeout: Option<Duration>,
    /// Messages a connection's mailbox holds before `Addr::send` waits and
    /// `Addr::try_send` fails. Default 1024.
    pub mailbox_capacity: usize,
    /// How long to wait for the peer's close frame after ours, and for the
    /// last bytes to drain, before closing TCP; also how long graceful
    /// shutdown waits for connections, and how long the lingering close
    /// after an HTTP answer waits for the client to close. Default 5 s.
    pub close_timeout: Duration,
    /// Bytes waiting to be written at which a connection stops reading its
    /// socket and its mailbox, so a peer that does not read cannot make the
    /// server buffer more: TCP backpressure reaches the peer, mailbox
    /// backpressure reaches senders. Default 64 KiB.
    pub write_buffer_high: usize,
    /// Bytes waiting at which reading resumes. Default 16 KiB.
    pub write_buffer_low: usize,
    /// Bytes waiting past which the connection is closed with 1008 (policy
    /// violation: the peer does not read) and ends with `Terminate::Error`;
    /// reached only when replies to what was already read exceed it. Never
    /// less than twice `max_message_size`, so one echoed message always
    /// fits. Default 4 MiB.
    pub max_write_buffer: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_connections: 100_000,
            handshake_timeout: Duration::from_secs(10),
            max_request_head_size: handshake::DEFAULT_MAX_HEAD_SIZE,
            max_frame_size: ws_core::connection::DEFAULT_MAX_MESSAGE_SIZE,
            max_message_size: ws_core::connection::DEFAULT_MAX_MESSAGE_SIZE,
            idle_timeout: Some(Duration::from_secs(60)),
            mailbox_capacity: 1024,
            close_timeout: Duration::from_secs(5),
            write_buffer_high: 64 * 1024,
            write_buffer_low: 16 * 1024,
            max_write_buffer: 4 << 20,
        }
    }
}

/// What a connection needs from the server that accepted it.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) state: Arc<StateMap>,
    pub(crate) shutdown: Shutdown,
    pub(crate) stats: Stats,
    /// Every connection's task, for graceful shutdown to wait on.
    pub(crate) tasks: TaskTracker,
}

/// Runs one upgraded connection of some handler type.
trait Endpoint: Send + Sync {
    /// Runs the upgrade in a task of its own: the handshake task, whose
    /// state is sized for reading HTTP, ends instead of waiting on it, so a
    /// long-lived connection holds only what its WebSocket needs.
    fn spawn(&self, upgrading: Upgrading, permit: OwnedSemaphorePermit);
}

/// A WebSocket route target: what `Server::route` takes, made by
/// `H::handler()`.
#[derive(Clone)]
pub struct Route {
    endpoint: Arc<dyn Endpoint>,
}

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Route")
    }
}

impl Route {
    /// The route running handler `H`.
    pub fn of<H: Handler>() -> Route {
        Route {
            endpoint: Arc::new(HandlerEndpoint::<H>(PhantomData)),
        }
    }
}

struct HandlerEndpoint<H>(PhantomData<fn() -> H>);

impl<H: Handler> Endpoint for HandlerEndpoint<H> {
    fn spawn(&self, upgrading: Upgrading, permit: OwnedSemaphorePermit) {
        let tasks = upgrading.shared.tasks.clone();
        tasks.spawn(upgrade::<H>(upgrading, permit));
    }
}

/// A validated upgrade request, ready for the handler's `init`.
pub(crate) struct Upgrading {
    pub(crate) stream: TcpStream,
    pub(crate) request: Request,
    pub(crate) upgrade: handshake::Upgrade,
    /// Bytes read after the request head: the first frames.
    pub(crate) leftover: BytesMut,
    pub(crate) shared: Arc<Shared>,
}

type Fallback = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// A WebSocket server: routes by path to handlers, plain pages and a fallback.
///
/// # Examples
///
/// ```no_run
/// use ws_runtime::{Ctx, Frame, Handler, Init, Reply, Request, Server};
///
/// struct Echo;
/// impl Handler for Echo {
///     type Info = ();
///     async fn init(_req: &Request) -> Init<Self> { Init::upgrade(Echo) }
///     async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<()>) -> Reply { Reply::frame(frame) }
/// }
///
/// # async fn run() -> std::io::Result<()> {
/// Server::bind("127.0.0.1:8080").await?
///     .route("/echo", Echo::handler())
///     .page("/", "<h1>hello</h1>")
///     .serve()
///     .await
/// # }
/// ```
pub struct Server {
    listener: TcpListener,
    routes: HashMap<String, Route>,
    pages: HashMap<String, Response>,
    fallback: Option<Fallback>,
    any_path: Option<Route>,
    state: StateMap,
    config: Config,
    stats: Stats,
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.listener.local_addr().ok())
            .field("routes", &self.routes.keys().collect::<Vec<_>>())
            .field("pages", &self.pages.keys().collect::<Vec<_>>())
            .field("config", &self.config)
            .finish()
    }
}

/// The listen backlog of [`Server::bind`]: connections the kernel has
/// completed the TCP handshake for and holds until the server accepts
/// them.
///
/// tokio's `TcpListener::bind` (like std's) asks for 128. A burst of more
/// simultaneous connects than that (clients reconnecting after a restart
/// or a network blip, a page opening its sockets at once) overflows the
/// queue, and Linux then drops the overflowing SYNs: those clients connect
/// only when they retransmit, after 1 s, 3 s, 7 s..., whatever the server
/// does. 1024 absorbs a thousand at once for a few kernel pages of queue;
/// Linux caps it at `net.core.somaxconn` (4096 since 5.4).
const LISTEN_BACKLOG: u32 = 1024;

impl Server {
    /// Binds the listening socket, with `SO_REUSEADDR` on Unix (as tokio's
    /// `TcpListener::bind` does) and a listen backlog of 1024, so a burst of
    /// a thousand simultaneous connects waits in the kernel's queue instead
    /// of being dropped there (see [`Server::from_listener`] to choose
    /// another). Tries each address `addr` resolves to, in turn.
    pub async fn bind(addr: impl ToSocketAddrs) -> io::Result<Server> {
        let mut last_error = None;
        for addr in tokio::net::lookup_host(addr).await? {
            match listen(addr) {
                Ok(listener) => return Ok(Server::from_listener(listener)),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "could not resolve to any address",
            )
        }))
    }

    /// Serves on a listener bound elsewhere.
    pub fn from_listener(listener: TcpListener) -> Server {
        Server {
            listener,
            routes: HashMap::new(),
            pages: HashMap::new(),
            fallback: None,
            any_path: None,
            state: StateMap::default(),
            config: Config::default(),
            stats: Stats::default(),
        }
    }

    /// The server's counters, readable while it serves (keep the handle).
    pub fn stats(&self) -> Stats {
        self.stats.clone()
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Routes WebSocket upgrades on `path` to a handler (`H::handler()`).
    pub fn route(mut self, path: impl Into<String>, route: Route) -> Server {
        self.routes.insert(path.into(), route);
        self
    }

    /// Routes WebSocket upgrades on every path without a route of its own.
    pub fn route_any(mut self, route: Route) -> Server {
        self.any_path = Some(route);
        self
    }

    /// Answers plain GET requests for `path` with an HTML page, and HEAD
    /// requests with its head alone (RFC 9110 §9.3.2).
    pub fn page(mut self, path: impl Into<String>, html: impl Into<bytes::Bytes>) -> Server {
        self.pages.insert(path.into(), Response::html(html));
        self
    }

    /// Answers plain HTTP requests no page or route takes (default: 404).
    pub fn fallback(
        mut self,
        fallback: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Server {
        self.fallback = Some(Arc::new(fallback));
        self
    }

    /// Shared state for handlers, reachable by type with `Request::state`.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Server {
        self.state.insert(value);
        self
    }

    /// Server-wide limits and timeouts.
    pub fn config(mut self, config: Config) -> Server {
        self.config = config;
        self
    }

    /// Serves until the process ends.
    pub async fn serve(self) -> io::Result<()> {
        self.serve_with_shutdown(std::future::pending()).await
    }

    /// Serves until `signal` completes, then shuts down gracefully: stops
    /// accepting, closes every connection with 1001, waits up to
    /// `Config::close_timeout` for closing handshakes, and drops the rest.
    pub async fn serve_with_shutdown(self, signal: impl Future<Output = ()>) -> io::Result<()> {
        let Server {
            listener,
            routes,
            pages,
            fallback,
            any_path,
            state,
            config,
            stats,
        } = self;
        let shared = Arc::new(Shared {
            shutdown: Shutdown::default(),
            state: Arc::new(state),
            config,
            stats,
            tasks: TaskTracker::new(),
        });
        let router = Arc::new(Router {
            routes,
            pages,
            fallback,
            any_path,
        });
        let permits = Arc::new(Semaphore::new(shared.config.max_connections));
        let tasks = shared.tasks.clone();
        tokio::pin!(signal);
        loop {
            let permit = tokio::select! {
                () = &mut signal => break,
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let accepted = tokio::select! {
                () = &mut signal => break,
                accepted = listener.accept() => accepted,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Running out of file descriptors must not end the server;
                    // back off briefly and keep accepting.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let shared = shared.clone();
            let router = router.clone();
            tasks.spawn(serve_connection(stream, peer, shared, router, permit));
        }
        drop(listener);
        tasks.close();
        shared.shutdown.signal();
        // Connections close with 1001 and wait for the echo up to the close
        // timeout themselves; this bound covers the drain after it.
        let grace = shared.config.close_timeout * 2;
        let _ = tokio::time::timeout(grace, tasks.wait()).await;
        Ok(())
    }
}

/// A listening socket for `addr`: what `TcpListener::bind` makes, with our
/// backlog.
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // A restarted server binds its port again at once, rather than failing
    // while its previous connections wait out TIME_WAIT. Not on Windows,
    // where the option lets another socket take over a port in use.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

struct Router {
    routes: HashMap<String, Route>,
    pages: HashMap<String, Response>,
    fallback: Option<Fallback>,
    any_path: Option<Route>,
}

/// Reads the request head, then upgrades or answers plain HTTP.
async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    router: Arc<Router>,
    permit: OwnedSemaphorePermit,
) {
    let _ = stream.set_nodelay(true);
    let config = &shared.config;
    // A connection still in its handshake when the server shuts down is
    // dropped: it has no WebSocket to close yet.
    let head = tokio::select! {
        head = tokio::time::timeout(
            config.handshake_timeout,
            read_head(&mut stream, config.max_request_head_size),
        ) => head,
        () = shared.shutdown.cancelled() => return,
    };
    // The request head is unknown (or not to be trusted) in the first two
    // answers, so they cannot be to a HEAD request.
    let (head, leftover) = match head {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => return,
        Ok(Err(error)) => {
            let answer = handshake::error_response(&error);
            answer_and_close(stream, answer, false, &shared).await;
            return;
        }
        Err(_elapsed) => {
            let timeout = handshake::response(408, &[("Connection", "close")], b"");
            answer_and_close(stream, timeout, false, &shared).await;
            return;
        }
    };
    let route = router
        .routes
        .get(head.path())
        .or(router.any_path.as_ref())
        .cloned();
    let is_upgrade = head.header("upgrade").is_some();
    match route {
        Some(route) if is_upgrade || !router.pages.contains_key(head.path()) => {
            match handshake::validate_upgrade(&head) {
                Ok(upgrade) => {
                    let request = Request::new(head, peer, shared.state.clone(), Some(&upgrade));
                    let upgrading = Upgrading {
                        stream,
                        request,
                        upgrade,
                        leftover,
                        shared,
                    };
                    route.endpoint.spawn(upgrading, permit);
                }
                Err(error) => {
                    shared.stats.refused();
                    let to_head = is_head(head.method());
                    drop((head, leftover));
                    let answer = handshake::error_response(&error);
                    answer_and_close(stream, answer, to_head, &shared).await;
                }
            }
        }
        _ => {
            drop(leftover);
            let request = Request::new(head, peer, shared.state.clone(), None);
            let to_head = is_head(request.method());
            let response = match (router.pages.get(request.path()), &router.fallback) {
                (Some(page), _) if request.method() == "GET" || to_head => page.clone(),
                (_, Some(fallback)) => fallback(&request),
                _ => Response::new(404).body("not found"),
            };
            drop(request);
            answer_and_close(stream, response.encode(), to_head, &shared).await;
        }
    }
}

/// Whether a request's method is HEAD (methods are case-sensitive, RFC
/// 9110 §9.1), whose answer has no content.
fn is_head(method: &str) -> bool {
    method == "HEAD"
}

/// Writes an HTTP answer sent instead of an upgrade (an error, a page, the
/// fallback, `Init::reject`, the 500 of a crashed `init`) and closes the
/// connection so that the client gets the answer. Every such answer goes
/// through here.
///
/// - To a HEAD request, only the head goes out, with the `Content-Length`
///   GET would get (RFC 9110 §9.3.2).
/// - The write has `Config::handshake_timeout`: a client that reads
///   nothing holds no task, permit or copy of the answer past it. It is
///   then reset (RFC 9293 §3.10.4, ABORT), so the kernel drops the unsent
///   rest of the answer too instead of retrying it to a client that is not
///   reading.
/// - Then a lingering close (RFC 9112 §9.6): half-close with a FIN, and read
///   and discard what the client still sends until it closes, for at most
///   `Config::close_timeout` and [`linger_limit`] bytes, or until the server
///   shuts down. Closing at once while request bytes the server did not
///   read (the rest of an oversized head, a request body, frames sent
///   behind the upgrade request) are in its receive buffer, or still
///   arrive, makes the kernel answer with a reset, which may destroy the
///   answer before the client has read it.
async fn answer_and_close(
    mut stream: TcpStream,
    mut answer: Vec<u8>,
    to_head: bool,
    shared: &Shared,
) {
    let config = &shared.config;
    if to_head {
        truncate_to_head(&mut answer);
    }
    let written = tokio::time::timeout(config.handshake_timeout, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await
    })
    .await;
    drop(answer);
    match written {
        Ok(Ok(())) => {}
        // The client is gone: nothing to linger for.
        Ok(Err(_)) => return,
        Err(_elapsed) => {
            let _ = stream.set_zero_linger();
            return;
        }
    }
    tokio::select! {
        _ = tokio::time::timeout(config.close_timeout, discard(&mut stream, linger_limit(config))) => {}
        () = shared.shutdown.cancelled() => {}
    }
}

/// Bytes a lingering close reads at most before it gives up and drops the
/// connection: what a client may rightly have sent before it read the
/// answer, the rest of a head and a first message right behind an upgrade
/// request (`max_request_head_size + max_message_size`, 1 MiB + 8 KiB by
/// default). A client sending more is not waiting for the answer.
fn linger_limit(config: &Config) -> usize {
    config
        .max_request_head_size
        .saturating_add(config.max_message_size)
}

/// Cuts an HTTP answer to its head: what a HEAD request gets (RFC 9110
/// §9.3.2). `handshake::response` writes no header field containing CR or
/// LF, so the head ends at the first empty line.
fn truncate_to_head(answer: &mut Vec<u8>) {
    if let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
        answer.truncate(end.saturating_add(4));
    }
}

/// Reads and discards until the peer's FIN, an error, or `limit` bytes.
pub(crate) async fn discard<S: AsyncRead + Unpin>(stream: &mut S, limit: usize) {
    let mut left = limit;
    poll_fn(|cx| {
        // On the stack of each poll, not in the task's state.
        let mut sink = [0u8; 4096];
        loop {
            let mut buf = ReadBuf::new(&mut sink);
            match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => {
                    left = left.saturating_sub(buf.filled().len());
                    if left == 0 {
                        return Poll::Ready(());
                    }
                }
                Poll::Ready(_) => return Poll::Ready(()),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await;
}

/// Reads until a whole request head is buffered. `Ok(None)`: the client
/// closed first.
async fn read_head<S: AsyncRead + Unpin>(
    stream: &mut S,
    max_head_size: usize,
) -> Result<Option<(handshake::Request, BytesMut)>, HandshakeError> {
    let mut buffer = BytesMut::with_capacity(1024);
    loop {
        if let Some((head, consumed)) = handshake::parse_request(&buffer, max_head_size)? {
            let _ = buffer.split_to(consumed);
            return Ok(Some((head, buffer)));
        }
        buffer.reserve(1024);
        match stream.read_buf(&mut buffer).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(_) => {}
        }
    }
}

/// Runs `init`, answers the handshake, and drives the connection.
///
/// Not an `async fn` or block: one would keep `upgrading` (or the boxed
/// handshake) in its state for the connection's whole life. The handshake
/// runs boxed, so `init`'s future and the handshake's state are freed once
/// the connection is up, and the task then holds only `live`'s future.
/// tokio allocates a task in 128-byte steps (its cell is aligned for
/// that), and a hibernated connection's is one step smaller this way.
fn upgrade<H: Handler>(
    upgrading: Upgrading,
    permit: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send + 'static {
    let span = tracing::info_span!(
        "websocket",
        peer = %upgrading.request.peer(),
        path = %upgrading.request.path(),
        protocol = tracing::field::Empty,
    );
    Box::pin(start::<H>(upgrading, permit).instrument(span))
        .then(|driver| OptionFuture::from(driver.map(live)))
        .map(|_lived: Option<()>| ())
}

/// Runs `init` and answers the handshake; the driver of the connection
/// once it is upgraded.
async fn start<H: Handler>(
    upgrading: Upgrading,
    permit: OwnedSemaphorePermit,
) -> Option<Box<Driver<H, TcpStream>>> {
    let Upgrading {
        mut stream,
        request,
        upgrade,
        leftover,
        shared,
    } = upgrading;
    let init = match guarded(H::init(&request)).await.map_err(panic_message) {
        Ok(init) => init,
        Err(panic) => {
            tracing::error!(panic = %panic, "init crashed; answering 500");
            let answer = Response::new(500).body("internal error").encode();
            let to_head = is_head(request.method());
            drop((request, leftover));
            answer_and_close(stream, answer, to_head, &shared).await;
            return None;
        }
    };
    let (mut handler, options) = match init.kind {
        InitKind::Upgrade(handler, options) => (handler, options),
        InitKind::Reject(response, state) => {
            shared.stats.refused();
            let to_head = is_head(request.method());
            drop((request, leftover));
            let answer = answer_and_close(stream, response.encode(), to_head, &shared);
            // Beside the lingering close, not after it: a client that keeps
            // the connection open would hold `terminate` back up to the
            // close timeout. The answer is polled first, so it is written
            // (when the socket takes it at once) before `terminate` starts.
            let ended = async {
                if let Some(mut state) = state {
                    terminate(&mut state, &Terminate::Normal).await;
                }
            };
            tokio::join!(answer, ended);
            return None;
        }
    };
    // RFC 6455 §4.2.2: the server picks one of the client's subprotocols,
    // or none; answering with one it did not offer would fail the client.
    let protocol = options
        .protocol
        .clone()
        .filter(|chosen| upgrade.protocols.iter().any(|offered| offered == chosen));
    if let Some(chosen) = &options.protocol
        && protocol.is_none()
    {
        tracing::warn!(protocol = %chosen, "init chose a subprotocol the client did not offer; answering without one");
    }
    if let Some(protocol) = &protocol {
        tracing::Span::current().record("protocol", protocol.as_str());
    }
    let negotiated = options
        .compress
        .then(|| ws_core::deflate::negotiate(&upgrade.extensions, &options.deflate))
        .flatten();
    let extensions = negotiated.as_ref().map(|n| n.response.as_str());
    let response =
        handshake::switching_protocols(&upgrade.key, protocol.as_deref(), extensions, &[]);
    if let Err(error) = stream.write_all(&response).await {
        terminate(&mut handler, &Terminate::Error(error)).await;
        return None;
    }
    let meta = Meta {
        compress: negotiated.is_some(),
        version: upgrade.version,
        protocol,
        peer: request.peer(),
    };
    let ctx = Ctx::new(shared.config.mailbox_capacity, meta, request);
    let deflate = negotiated.map(|n| n.params);
    shared.stats.opened();
    // Boxed: moving the driver through the futures that run it would copy
    // it into each of their states.
    let mut driver = Box::new(driver(
        handler, stream, leftover, ctx, &options, deflate, shared,
    ));
    driver.permit = Some(permit);
    Some(driver)
}

/// Runs an upgraded connection to its end: `terminate`, then lingering for
/// the peer's side of the close.
///
/// Not an `async fn`, which would hold `driver` twice (argument and body).
#[allow(
    clippy::manual_async_fn,
    reason = "an async fn keeps its argument twice"
)]
pub(crate) fn live<H, S>(mut driver: Box<Driver<H, S>>) -> impl Future<Output = ()>
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    async move {
        let reason = driver.run().await;
        // Boxed: what the end takes (the handler's `terminate` future, the
        // reason) is not part of the task's state while the connection lives.
        let span = driver.span.clone();
        Box::pin(finish(driver, reason).instrument(span)).await;
    }
}

async fn finish<H, S>(mut driver: Box<Driver<H, S>>, reason: Terminate)
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    driver.shared.stats.closed();
    terminate(&mut driver.handler, &reason).await;
    let close_timeout = driver.shared.config.close_timeout;
    driver.linger(close_timeout).await;
}

/// The driver of an upgraded connection over any transport.
pub(crate) fn driver<H, S>(
    handler: H,
    stream: S,
    leftover: BytesMut,
    ctx: Ctx<H::Info>,
    options: &UpgradeOptions,
    deflate: Option<ws_core::deflate::DeflateParams>,
    shared: Arc<Shared>,
) -> Driver<H, S>
where
    H: Handler,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let config = &shared.config;
    let core_config = ws_core::Config {
        max_frame_size: options.max_frame_size.unwrap_or(config.max_frame_size),
        max_message_size: options.max_message_size.unwrap_or(config.max_message_size),
        fail_fast_utf8: options.validate_utf8.unwrap_or(true),
        ..ws_core::Config::default()
    };
    let mut conn = Connection::new(Role::Server, core_config);
    if let Some(params) = deflate {
        conn.enable_deflate(params, &options.deflate);
    }
    if !leftover.is_empty() {
        // Frames that came with the request head.
        conn.handle_bytes(&leftover);
        shared.stats.flush(&mut Tally {
            bytes_in: leftover.len() as u64,
            ..Tally::default()
        });
    }
    // The head's read buffer is not kept for the connection's lifetime.
    drop(leftover);
    let idle_timeout = options.idle_timeout.or(config.idle_timeout);
    Driver::new(
        stream,
        conn,
        handler,
        ctx,
        shared,
        idle_timeout,
        options.keepalive,
    )
}

/// Calls `terminate` exactly once; a panic there is logged, not propagated.
pub(crate) async fn terminate<H: Handler>(handler: &mut H, reason: &Terminate) {
    tracing::debug!(?reason, "connection ended");
    if let Err(panic) = guarded(handler.terminate(reason))
        .await
        .map_err(panic_message)
    {
        tracing::error!(panic = %panic, "terminate crashed");
    }
}

#[cfg(test)]
mod tests {
    use ws_core::handshake;

    use super::truncate_to_head;

    #[test]
    fn an_answer_to_head_keeps_the_head_and_content_length_of_get() {
        let get = handshake::response(400, &[("Connection", "close")], b"bad\r\n\r\nrequest");
        let mut head = get.clone();
        truncate_to_head(&mut head);
        assert_eq!(
            head,
            b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 14\r\n\r\n"
        );
        assert!(get.starts_with(&head));
    }

    #[test]
    fn an_answer_without_content_is_unchanged() {
        let no_content = handshake::response(204, &[], b"ignored");
        let mut head = no_content.clone();
        truncate_to_head(&mut head);
        assert_eq!(head, no_content);
    }
}
