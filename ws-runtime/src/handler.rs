//! The handler contract: Cowboy's callbacks and return values, typed.

use std::future::Future;
use std::time::Duration;

use ws_core::deflate::DeflateConfig;
use ws_core::{Bytes, CloseCode, CloseFrame, Frame, Terminate, Text};

use crate::ctx::Ctx;
use crate::request::{Request, Response};
use crate::server::Route;

/// A WebSocket handler: one value per connection, driven by the runtime.
///
/// Each method is one of Cowboy's callbacks: [`init`](Handler::init) is
/// `init/2`, [`open`](Handler::open) is `websocket_init/1`,
/// [`handle`](Handler::handle) is `websocket_handle/3`,
/// [`info`](Handler::info) is `websocket_info/3` and
/// [`terminate`](Handler::terminate) is `terminate/3`. The
/// `#[websocket_handler]` macro writes this impl from clauses; it can also be
/// written by hand.
///
/// # Examples
///
/// ```
/// use ws_runtime::{Ctx, Frame, Handler, Init, Reply, Request};
///
/// struct Echo;
///
/// impl Handler for Echo {
///     type Info = ();
///     async fn init(_req: &Request) -> Init<Self> {
///         Init::upgrade(Echo)
///     }
///     async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<()>) -> Reply {
///         match frame {
///             Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
///             _ => Reply::ok(),
///         }
///     }
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a WebSocket handler",
    label = "this type does not implement `Handler`",
    note = "put `#[websocket_handler]` on the `impl` block of `{Self}`, or implement `lariat::Handler` by hand"
)]
pub trait Handler: Sized + Send + 'static {
    /// Messages the rest of the application sends to a connection (Cowboy's
    /// Erlang messages), delivered to [`info`](Handler::info).
    type Info: Send + 'static;

    /// Runs on the upgrade request: upgrade with options, or answer with
    /// plain HTTP.
    fn init(req: &Request) -> impl Future<Output = Init<Self>> + Send;

    /// The connection is a WebSocket now.
    fn open(&mut self, ctx: &mut Ctx<Self::Info>) -> impl Future<Output = Reply> + Send {
        let _ = ctx;
        std::future::ready(Reply::ok())
    }

    /// A whole message or a ping/pong from the peer. Close frames are the
    /// runtime's: they end in [`terminate`](Handler::terminate).
    ///
    /// The default answers a data message with close 1003 ("cannot accept
    /// this type of data", RFC 6455 §7.4.1) and ignores pings (already
    /// answered by the runtime) and pongs.
    fn handle(
        &mut self,
        frame: Frame,
        ctx: &mut Ctx<Self::Info>,
    ) -> impl Future<Output = Reply> + Send {
        let _ = ctx;
        std::future::ready(unmatched(&frame))
    }

    /// A message from the application, in the order it was sent.
    fn info(
        &mut self,
        msg: Self::Info,
        ctx: &mut Ctx<Self::Info>,
    ) -> impl Future<Output = Reply> + Send {
        let _ = (msg, ctx);
        std::future::ready(Reply::ok())
    }

    /// Called exactly once when an upgraded connection ends, with the reason.
    fn terminate(&mut self, reason: &Terminate) -> impl Future<Output = ()> + Send {
        let _ = reason;
        std::future::ready(())
    }

    /// The route that runs this handler, for `Server::route`.
    fn handler() -> Route {
        Route::of::<Self>()
    }
}

/// The reply to a frame no clause matched: close 1003 for a data message,
/// nothing for a ping or pong.
pub fn unmatched(frame: &Frame) -> Reply {
    match frame {
        Frame::Text(_) | Frame::Binary(_) => Reply::close(CloseCode::UNSUPPORTED_DATA),
        _ => Reply::ok(),
    }
}

/// The frames of a reply; one frame needs no allocation.
#[derive(Debug, Default)]
pub(crate) enum Frames {
    #[default]
    None,
    One(Frame),
    Many(Vec<Frame>),
}

/// What a callback returns: Cowboy's `{ok, ..}`, `{reply, ..}` and
/// `{shutdown, ..}` tuples, with modifiers.
///
/// Frames queued after a close frame are not sent.
///
/// # Examples
///
/// ```
/// use ws_runtime::{close, Reply};
/// use std::time::Duration;
///
/// let nothing = Reply::ok().hibernate();
/// let hello = Reply::text("hello").idle_timeout(Duration::from_secs(30));
/// let bye = Reply::close(close!(4000, "bye"));
/// ```
#[derive(Debug, Default)]
#[must_use = "a Reply does nothing unless returned to the runtime"]
pub struct Reply {
    pub(crate) frames: Frames,
    pub(crate) shutdown: bool,
    pub(crate) hibernate: bool,
    pub(crate) active: Option<bool>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) deflate: Option<bool>,
}

impl Reply {
    /// Nothing to send (`{ok, State}`).
    pub fn ok() -> Reply {
        Reply::default()
    }

    /// Send one frame (`{reply, Frame, State}`).
    pub fn frame(frame: Frame) -> Reply {
        Reply {
            frames: Frames::One(frame),
            ..Reply::default()
        }
    }

    /// Send several frames in order (`{reply, [Frame], State}`), in one write.
    pub fn frames(frames: impl IntoIterator<Item = Frame>) -> Reply {
        let mut frames: Vec<Frame> = frames.into_iter().collect();
        let frames = match frames.len() {
            0 => Frames::None,
            1 => frames.pop().map_or(Frames::None, Frames::One),
            _ => Frames::Many(frames),
        };
        Reply {
            frames,
            ..Reply::default()
        }
    }

    /// Send a text message.
    pub fn text(text: impl Into<Text>) -> Reply {
        Reply::frame(Frame::Text(text.into()))
    }

    /// Send a binary message.
    pub fn binary(data: impl Into<Bytes>) -> Reply {
        Reply::frame(Frame::Binary(data.into()))
    }

    /// Close with a code, or a code and reason; the connection ends with
    /// [`Terminate::Shutdown`] (Cowboy: "a close reply will also result in the
    /// connection being closed").
    pub fn close(close: impl Into<CloseFrame>) -> Reply {
        Reply::frame(Frame::Close(Some(close.into())))
    }

    /// Close the connection (`{shutdown, State}`): close 1000, then
    /// [`Terminate::Shutdown`].
    pub fn shutdown() -> Reply {
        Reply {
            shutdown: true,
            ..Reply::default()
        }
    }

    /// Release per-connection buffers until the next event (Cowboy's `hibernate`).
    pub fn hibernate(mut self) -> Reply {
        self.hibernate = true;
        self
    }

    /// Pause (`false`) or resume (`true`) reading the socket: flow control.
    /// While paused, TCP backpressure reaches the peer.
    pub fn active(mut self, active: bool) -> Reply {
        self.active = Some(active);
        self
    }

    /// Compress the frames sent from now on, or not (Cowboy's
    /// `{deflate, Bool}`); only meaningful when permessage-deflate is in use.
    pub fn deflate(mut self, deflate: bool) -> Reply {
        self.deflate = Some(deflate);
        self
    }

    /// A new idle timeout, from the next event on.
    pub fn idle_timeout(mut self, timeout: Duration) -> Reply {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Appends a frame to this reply.
    pub fn and(mut self, frame: Frame) -> Reply {
        self.frames = match std::mem::take(&mut self.frames) {
            Frames::None => Frames::One(frame),
            Frames::One(first) => Frames::Many(vec![first, frame]),
            Frames::Many(mut frames) => {
                frames.push(frame);
                Frames::Many(frames)
            }
        };
        self
    }
}

/// Connection options chosen in [`Handler::init`]; server defaults come
/// from [`Config`](crate::Config).
#[derive(Debug, Clone, Default)]
pub struct UpgradeOptions {
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) max_frame_size: Option<usize>,
    pub(crate) max_message_size: Option<usize>,
    pub(crate) protocol: Option<String>,
    pub(crate) validate_utf8: Option<bool>,
    pub(crate) compress: bool,
    pub(crate) deflate: DeflateConfig,
    pub(crate) keepalive: Option<(Duration, Duration)>,
}

#[derive(Debug)]
pub(crate) enum InitKind<H> {
    Upgrade(H, UpgradeOptions),
    Reject(Response, Option<H>),
}

/// What [`Handler::init`] returns: upgrade to a WebSocket with options, or
/// answer with plain HTTP (Cowboy's `{cowboy_websocket, ..}` or `{ok, ..}`).
///
/// # Examples
///
/// ```
/// use ws_runtime::{Init, Response};
/// use std::time::Duration;
///
/// struct Chat;
/// let up: Init<Chat> = Init::upgrade(Chat).idle_timeout(Duration::from_secs(60));
/// let no: Init<Chat> = Init::reject(Response::new(400).body("nick is required"));
/// ```
#[derive(Debug)]
#[must_use = "an Init does nothing unless returned from init"]
pub struct Init<H> {
    pub(crate) kind: InitKind<H>,
}

impl<H> Init<H> {
    /// Upgrade the connection; `state` is the handler for its lifetime.
    pub fn upgrade(state: H) -> Init<H> {
        Init {
            kind: InitKind::Upgrade(state, UpgradeOptions::default()),
        }
    }

    /// Answer with plain HTTP and do not upgrade. No handler was made, so
    /// there is nothing to terminate.
    pub fn reject(response: Response) -> Init<H> {
        Init {
            kind: InitKind::Reject(response, None),
        }
    }

    /// Answer with plain HTTP and do not upgrade, then run `terminate` on
    /// `state` with [`Terminate::Normal`] (Cowboy's `{ok, Req, State}`).
    pub fn reject_with(state: H, response: Response) -> Init<H> {
        Init {
            kind: InitKind::Reject(response, Some(state)),
        }
    }

    fn options(mut self, set: impl FnOnce(&mut UpgradeOptions)) -> Init<H> {
        if let InitKind::Upgrade(_, options) = &mut self.kind {
            set(options);
        }
        self
    }

    /// Close with 1000 ([`Terminate::Timeout`]) when nothing arrives for
    /// `timeout`. Cowboy's default is infinity; the server [`Config`](crate::Config)
    /// sets lariat's.
    pub fn idle_timeout(self, timeout: Duration) -> Init<H> {
        self.options(|o| o.idle_timeout = Some(timeout))
    }

    /// The largest frame accepted, in bytes (larger: close 1009).
    pub fn max_frame_size(self, bytes: usize) -> Init<H> {
        self.options(|o| o.max_frame_size = Some(bytes))
    }

    /// The largest message accepted, in bytes (larger: close 1009).
    pub fn max_message_size(self, bytes: usize) -> Init<H> {
        self.options(|o| o.max_message_size = Some(bytes))
    }

    /// Accept permessage-deflate (RFC 7692) when the client offers it; off
    /// unless asked, as in Cowboy. See [`DeflateConfig`] for the defaults:
    /// level 1, no server context takeover (no compressor held per
    /// connection), messages under 64 bytes sent plain.
    pub fn compress(self, compress: bool) -> Init<H> {
        self.options(|o| o.compress = compress)
    }

    /// The compression level, 0-9 (with [`Init::compress`]).
    pub fn compression_level(self, level: u32) -> Init<H> {
        self.options(|o| o.deflate.level = level.min(9))
    }

    /// Messages shorter than `bytes` are sent uncompressed (with [`Init::compress`]).
    pub fn compression_threshold(self, bytes: usize) -> Init<H> {
        self.options(|o| o.deflate.threshold = bytes)
    }

    /// The windows, 8-15 bits: the largest the server compresses with, and
    /// the one it asks the client to use when the client lets it choose.
    pub fn compression_window_bits(self, server: u8, client: u8) -> Init<H> {
        self.options(|o| {
            o.deflate.server_max_window_bits = server.clamp(8, 15);
            o.deflate.client_max_window_bits = client.clamp(8, 15);
        })
    }

    /// Every permessage-deflate preference at once (implies [`Init::compress`]).
    pub fn deflate(self, config: DeflateConfig) -> Init<H> {
        self.options(|o| {
            o.compress = true;
            o.deflate = config;
        })
    }

    /// Ping every `interval` and close with 1011 ([`Terminate::Timeout`])
    /// when no pong answers within `pong_timeout`; `Ctx::latency` reports
    /// the last round trip. Off by default, as in Cowboy: the idle timeout
    /// is the default guard.
    pub fn keepalive(self, interval: Duration, pong_timeout: Duration) -> Init<H> {
        self.options(|o| o.keepalive = Some((interval, pong_timeout)))
    }

    /// The subprotocol to answer with; it should be one the client offered
    /// ([`Request::protocols`]).
    pub fn protocol(self, protocol: impl Into<String>) -> Init<H> {
        let protocol = protocol.into();
        self.options(|o| o.protocol = Some(protocol))
    }

    /// Whether text is checked for UTF-8 as it arrives, failing on the first
    /// invalid byte (`true`, the default), or once when the message is whole
    /// (`false`, cheaper for large fragmented text). Text is always valid
    /// UTF-8 when a handler sees it: lariat's [`Text`] type guarantees it.
    pub fn validate_utf8(self, fail_fast: bool) -> Init<H> {
        self.options(|o| o.validate_utf8 = Some(fail_fast))
    }
}

/// A handler that is never messaged: the `Info` of a handler without
/// `#[info]` clauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Never {}
