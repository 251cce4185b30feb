//! The server under attack runs in a child process (this test binary again,
//! running its `server_child` test), one per test, so that its resident
//! memory (`VmRSS`, `VmHWM` of `/proc/<pid>/status`) and its open files
//! (`/proc/<pid>/fd`) are the server's alone.
//!
//! The child serves, with the `Config` the parent asks for:
//! - every path: the echo server of `examples/echo.rs` (`compress(true)`)
//!   with the default limits (1 MiB messages);
//! - `/panic/init`, `/panic/open`, `/panic/frame`, `/panic/terminate`: a
//!   `#[websocket_handler]` that panics in that callback (the frame clause is
//!   `#[frame(Text("panic"))]`; other text is echoed);
//! - `/mailbox`: a handler that gives its `Addr` out through a shared
//!   registry, for the parent's `flood` command to aim at;
//! - `/page`: a plain HTML page (`Server::page`) of the size the parent
//!   asks for (`ChildConfig::page_size`);
//! - `/soak`: the echo, subscribed to a `Topic` (default `Overflow::Close`)
//!   to which a task publishes numbered messages when the parent asks for
//!   it (`ChildConfig::publish_every`).
//!
//! It talks with the parent over stdin/stdout, one line per command:
//! `stats` (the server's counters and every terminate reason seen),
//! `flood ID SENDERS MESSAGES TRY_SENDERS`, `exit`. It exits when stdin
//! closes, so it never outlives the test.
#![allow(unreachable_pub, dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lariat::prelude::*;
use lariat::{Config, Never};
use tokio::net::TcpSocket;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::support::within;

/// The test each test binary runs as its server child.
pub const CHILD_TEST: &str = "server_child";
/// Set in the child: the `Config` to serve with (see [`ChildConfig`]).
pub const CHILD_VAR: &str = "LARIAT_HOSTILE_CHILD";
/// Lines of the child's protocol start with this (libtest prints too).
const TAG: &str = "HOSTILE";
/// The longest a server child may live.
const CHILD_LIMIT: Duration = Duration::from_secs(600);
/// The child's listen backlog (see `run_server`).
const BACKLOG: u32 = 4096;
/// Panics the handlers cause on purpose carry this; the child's panic hook
/// keeps them out of the test output.
const DELIBERATE: &str = "deliberate panic";

// ---------------------------------------------------------------------------
// Configuration passed to the child
// ---------------------------------------------------------------------------

/// The `Config` fields a test may change; everything else is the default.
#[derive(Debug, Clone, Default)]
pub struct ChildConfig {
    pub handshake_timeout: Option<Duration>,
    /// `Some(None)`: no idle timeout.
    pub idle_timeout: Option<Option<Duration>>,
    pub close_timeout: Option<Duration>,
    /// Publish a numbered message to the `/soak` topic this often.
    pub publish_every: Option<Duration>,
    /// glibc malloc tunables for the child (`GLIBC_TUNABLES`), e.g. to make
    /// its resident size follow what is allocated (see `tests/soak.rs`).
    pub malloc_tunables: Option<&'static str>,
    /// The size of the page at `/page` (default: a few bytes).
    pub page_size: Option<usize>,
}

impl ChildConfig {
    fn encode(&self) -> String {
        let ms = |d: Duration| d.as_millis().to_string();
        let mut parts = Vec::new();
        if let Some(d) = self.handshake_timeout {
            parts.push(format!("handshake={}", ms(d)));
        }
        match self.idle_timeout {
            Some(Some(d)) => parts.push(format!("idle={}", ms(d))),
            Some(None) => parts.push("idle=none".to_owned()),
            None => {}
        }
        if let Some(d) = self.close_timeout {
            parts.push(format!("close={}", ms(d)));
        }
        if let Some(d) = self.publish_every {
            parts.push(format!("publish={}", ms(d)));
        }
        if let Some(size) = self.page_size {
            parts.push(format!("page={size}"));
        }
        if parts.is_empty() {
            "default".to_owned()
        } else {
            parts.join(",")
        }
    }

    fn decode(spec: &str) -> (Config, Option<Duration>, usize) {
        let mut config = Config::default();
        let mut publish = None;
        let mut page = 0;
        for part in spec.split(',').filter(|p| *p != "default") {
            let (key, value) = part.split_once('=').unwrap();
            let ms = || Duration::from_millis(value.parse().unwrap());
            match key {
                "handshake" => config.handshake_timeout = ms(),
                "idle" if value == "none" => config.idle_timeout = None,
                "idle" => config.idle_timeout = Some(ms()),
                "close" => config.close_timeout = ms(),
                "publish" => publish = Some(ms()),
                "page" => page = value.parse().unwrap(),
                other => panic!("unknown child config {other:?}"),
            }
        }
        (config, publish, page)
    }
}

// ---------------------------------------------------------------------------
// The child: handlers
// ---------------------------------------------------------------------------

/// Named counters every handler bumps; the `stats` command prints them.
#[derive(Debug, Default)]
pub struct Counters {
    map: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    fn add(&self, key: &str, n: u64) {
        *self.map.lock().unwrap().entry(key.to_owned()).or_default() += n;
    }

    fn bump(&self, key: &str) {
        self.add(key, 1);
    }

    /// Counts a terminate reason as `terminate.<reason>`.
    fn terminated(&self, reason: &Terminate) {
        let name = match reason {
            Terminate::Normal => "normal",
            Terminate::Remote => "remote",
            Terminate::RemoteClose { .. } => "remote_close",
            Terminate::Shutdown => "shutdown",
            Terminate::Timeout => "timeout",
            Terminate::Crash(_) => "crash",
            Terminate::BadEncoding => "bad_encoding",
            Terminate::BadFrame => "bad_frame",
            Terminate::Closed => "closed",
            Terminate::Error(_) => "error",
            _ => "other",
        };
        self.bump(&format!("terminate.{name}"));
        self.bump("terminate");
    }
}

/// The echo server of `examples/echo.rs`, with the default limits, counting
/// how its connections end.
struct Echo {
    counters: Arc<Counters>,
}

impl Handler for Echo {
    type Info = Never;

    async fn init(req: &Request) -> Init<Self> {
        Init::upgrade(Echo {
            counters: req.state::<Arc<Counters>>().clone(),
        })
        .compress(true)
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Never>) -> Reply {
        match frame {
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            _ => Reply::ok(),
        }
    }

    async fn terminate(&mut self, reason: &Terminate) {
        self.counters.terminated(reason);
    }
}

/// Where [`Panicky`] panics: the path's last segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PanicAt {
    Init,
    Open,
    Frame,
    Terminate,
}

/// A handler written with clauses that panics where its path says.
struct Panicky {
    at: PanicAt,
    counters: Arc<Counters>,
}

#[websocket_handler]
impl Panicky {
    async fn init(req: &Request) -> Init<Self> {
        let at = match req.path() {
            "/panic/init" => PanicAt::Init,
            "/panic/open" => PanicAt::Open,
            "/panic/frame" => PanicAt::Frame,
            _ => PanicAt::Terminate,
        };
        let counters = req.state::<Arc<Counters>>().clone();
        if at == PanicAt::Init {
            counters.bump("panic.init");
            panic!("{DELIBERATE} in init");
        }
        Init::upgrade(Panicky { at, counters })
    }

    fn open(&mut self) -> Reply {
        if self.at == PanicAt::Open {
            self.counters.bump("panic.open");
            panic!("{DELIBERATE} in open");
        }
        Reply::ok()
    }

    #[frame(Text("panic"))]
    fn boom(&mut self) -> Reply {
        self.counters.bump("panic.frame");
        panic!("{DELIBERATE} in a frame clause");
    }

    #[frame(Text(text))]
    fn echo(&mut self, text: String) -> Reply {
        Reply::text(text)
    }

    fn terminate(&mut self, reason: &Terminate) {
        self.counters.terminated(reason);
        if self.at == PanicAt::Terminate {
            self.counters.bump("panic.terminate");
            panic!("{DELIBERATE} in terminate");
        }
    }
}

/// One mailbox message: who sent it, its number, and a body of its own.
#[derive(Debug)]
pub struct Mail {
    sender: u32,
    seq: u32,
    body: Vec<u8>,
}

/// Addresses of the `/mailbox` connections, by the id each was told.
#[derive(Debug, Default)]
struct Registry {
    next: AtomicU64,
    addrs: Mutex<BTreeMap<u64, Addr<Mail>>>,
}

/// Gives its `Addr` out (tells the client its id) and writes every mailbox
/// message to the client: `sender` and `seq` as big-endian u32, then the body.
struct Mailbox {
    id: u64,
    registry: Arc<Registry>,
    counters: Arc<Counters>,
}

impl Handler for Mailbox {
    type Info = Mail;

    async fn init(req: &Request) -> Init<Self> {
        let registry = req.state::<Arc<Registry>>().clone();
        let id = registry.next.fetch_add(1, Ordering::SeqCst);
        Init::upgrade(Mailbox {
            id,
            registry,
            counters: req.state::<Arc<Counters>>().clone(),
        })
    }

    async fn open(&mut self, ctx: &mut Ctx<Mail>) -> Reply {
        self.registry
            .addrs
            .lock()
            .unwrap()
            .insert(self.id, ctx.addr());
        Reply::text(format!("id {}", self.id))
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Mail>) -> Reply {
        match frame {
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            _ => Reply::ok(),
        }
    }

    async fn info(&mut self, mail: Mail, _ctx: &mut Ctx<Mail>) -> Reply {
        let mut out = Vec::with_capacity(8 + mail.body.len());
        out.extend_from_slice(&mail.sender.to_be_bytes());
        out.extend_from_slice(&mail.seq.to_be_bytes());
        out.extend_from_slice(&mail.body);
        Reply::binary(out)
    }

    async fn terminate(&mut self, reason: &Terminate) {
        self.registry.addrs.lock().unwrap().remove(&self.id);
        self.counters.terminated(reason);
    }
}

/// A message of the `/soak` topic, encoded once and shared by every
/// subscriber.
#[derive(Debug, Clone)]
pub struct Note(Bytes);

/// Bytes of a topic message: `P`, the number (big-endian u64), and 32
/// bytes that follow from the number.
pub const NOTE_LEN: usize = 41;

/// The topic message numbered `seq`.
pub fn note_payload(seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(NOTE_LEN);
    out.push(b'P');
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend((0..32u64).map(|i| (seq.wrapping_mul(31).wrapping_add(i) % 251) as u8));
    out
}

/// The soak's handler: the echo, subscribed to the topic from `open` on,
/// writing every topic message as a binary message.
struct Soak {
    topic: Topic<Note>,
    counters: Arc<Counters>,
}

impl Handler for Soak {
    type Info = Note;

    async fn init(req: &Request) -> Init<Self> {
        Init::upgrade(Soak {
            topic: req.state::<Topic<Note>>().clone(),
            counters: req.state::<Arc<Counters>>().clone(),
        })
    }

    async fn open(&mut self, ctx: &mut Ctx<Note>) -> Reply {
        self.topic.subscribe(ctx.addr());
        Reply::ok()
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Note>) -> Reply {
        match frame {
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            _ => Reply::ok(),
        }
    }

    async fn info(&mut self, note: Note, _ctx: &mut Ctx<Note>) -> Reply {
        Reply::binary(note.0)
    }

    async fn terminate(&mut self, reason: &Terminate) {
        self.counters.terminated(reason);
    }
}

/// Publishes `note_payload(1)`, `note_payload(2)`... every `every`.
async fn publish(topic: Topic<Note>, counters: Arc<Counters>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for seq in 1.. {
        ticks.tick().await;
        let outcome = topic.publish(Note(Bytes::from(note_payload(seq))));
        counters.bump("topic.published");
        counters.add("topic.delivered", outcome.delivered as u64);
        counters.add("topic.closed", outcome.closed as u64);
        counters.add("topic.gone", outcome.gone as u64);
    }
}

/// The page at `/page`: `size` bytes of HTML.
fn page(size: usize) -> Bytes {
    let mut html = b"<!doctype html><title>page</title><pre>".to_vec();
    html.resize(size.max(html.len()), b'x');
    Bytes::from(html)
}

/// Bytes of each flood message's body.
pub const MAIL_BODY: usize = 1024;

/// The `flood` command: `senders` tasks each `send` (waiting while the
/// mailbox is full) `messages` numbered messages, and `try_senders` tasks
/// each `try_send` as many, counting what the full mailbox refused.
fn flood(
    registry: &Registry,
    counters: &Arc<Counters>,
    id: u64,
    senders: u32,
    messages: u32,
    try_senders: u32,
) {
    let addr = registry.addrs.lock().unwrap().get(&id).cloned().unwrap();
    for sender in 0..senders + try_senders {
        let addr = addr.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            for seq in 0..messages {
                let mail = Mail {
                    sender,
                    seq,
                    body: vec![(seq % 251) as u8; MAIL_BODY],
                };
                if sender < senders {
                    match addr.send(mail).await {
                        Ok(()) => counters.bump("flood.sent"),
                        Err(_) => counters.bump("flood.send_closed"),
                    }
                } else {
                    match addr.try_send(mail) {
                        Ok(()) => counters.bump("flood.try_sent"),
                        Err(SendErrorKind::Full(_)) => counters.bump("flood.try_full"),
                        Err(SendErrorKind::Closed(_)) => counters.bump("flood.try_closed"),
                    }
                    // Let the other tasks run between attempts.
                    tokio::task::yield_now().await;
                }
            }
            counters.bump("flood.senders_done");
        });
    }
}

use lariat::SendError as SendErrorKind;

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{TAG} {line}").unwrap();
    out.flush().unwrap();
}

/// The child's main: serves until stdin closes.
pub fn run_server(spec: &str) {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !message.contains(DELIBERATE) {
            default_hook(info);
        }
    }));
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIMIT);
        eprintln!("the hostile server child ran for {CHILD_LIMIT:?}: giving up");
        std::process::exit(3);
    });
    let (config, publish_every, page_size) = ChildConfig::decode(spec);
    let topic: Topic<Note> = Topic::new();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let counters = Arc::new(Counters::default());
    let registry = Arc::new(Registry::default());
    let (port, stats) = runtime.block_on(async {
        // A burst of more connections than the listen backlog overflows the
        // kernel's accept queue, and the overflowing clients' handshakes
        // complete only as they retransmit (after 1 s, 3 s, 7 s...),
        // whatever the server does. `Server::bind` listens with 1024 (see
        // `a_burst_of_a_thousand_connects_fits_the_listen_backlog`); the
        // attacks open up to a thousand connections at once beside the
        // probe, so the child listens with the kernel's `somaxconn` (4096)
        // for room to spare, and what is measured is the server.
        let socket = TcpSocket::new_v4().unwrap();
        socket
            .bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
            .unwrap();
        let listener = socket.listen(BACKLOG).unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = Server::from_listener(listener)
            .config(config)
            .state(counters.clone())
            .state(registry.clone())
            .state(topic.clone())
            .route("/panic/init", Panicky::handler())
            .route("/panic/open", Panicky::handler())
            .route("/panic/frame", Panicky::handler())
            .route("/panic/terminate", Panicky::handler())
            .route("/mailbox", Mailbox::handler())
            .route("/soak", Soak::handler())
            .page("/page", page(page_size))
            .route_any(Echo::handler());
        let stats = server.stats();
        tokio::spawn(server.serve());
        if let Some(every) = publish_every {
            tokio::spawn(publish(topic, counters.clone(), every));
        }
        (port, stats)
    });
    say(&format!("port {port}"));
    let stdin = std::io::stdin().lock();
    for line in stdin.lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["stats"] => {
                let s = stats.snapshot();
                let mut all: BTreeMap<String, u64> = counters.map.lock().unwrap().clone();
                for (key, value) in [
                    ("open", s.connections_open),
                    ("total", s.connections_total),
                    ("refused", s.handshakes_refused),
                    ("protocol_errors", s.protocol_errors),
                    ("received.ping", s.received.ping),
                    ("sent.pong", s.sent.pong),
                    ("received.text", s.received.text),
                    ("received.binary", s.received.binary),
                    ("sent.close", s.sent.close),
                ] {
                    all.insert(key.to_owned(), value);
                }
                let text: Vec<String> = all.iter().map(|(k, v)| format!("{k}={v}")).collect();
                say(&format!("stats {}", text.join(" ")));
            }
            ["flood", id, senders, messages, try_senders] => {
                let _guard = runtime.enter();
                flood(
                    &registry,
                    &counters,
                    id.parse().unwrap(),
                    senders.parse().unwrap(),
                    messages.parse().unwrap(),
                    try_senders.parse().unwrap(),
                );
                say("flooding");
            }
            ["exit"] => break,
            other => panic!("unknown command {other:?}"),
        }
    }
    // Leave without waiting for thousands of connections to close.
    std::process::exit(0);
}

// ---------------------------------------------------------------------------
// The parent's handle on a child
// ---------------------------------------------------------------------------

/// The child's counters at one moment.
#[derive(Debug, Clone, Default)]
pub struct ChildStats(pub BTreeMap<String, u64>);

impl ChildStats {
    pub fn get(&self, key: &str) -> u64 {
        self.0.get(key).copied().unwrap_or(0)
    }
}

/// Memory and files of the child at the start of an attack.
#[derive(Debug, Clone, Copy)]
pub struct Baseline {
    pub rss: u64,
    pub fds: usize,
}

/// A server child, killed when dropped.
#[derive(Debug)]
pub struct ServerChild {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    pub addr: SocketAddr,
    pub pid: u32,
    /// The highest `VmRSS` seen by [`ServerChild::sample`] since the baseline.
    pub during: u64,
}

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerChild {
    /// Starts a server child with `config` and waits for its port.
    pub async fn spawn(config: ChildConfig) -> ServerChild {
        let mut command = Command::new(std::env::current_exe().unwrap());
        if let Some(tunables) = config.malloc_tunables {
            command.env("GLIBC_TUNABLES", tunables);
        }
        let mut child = command
            .args([
                "--exact",
                CHILD_TEST,
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_VAR, config.encode())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run this test binary as the server child");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            let prefix = format!("{TAG} ");
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // libtest's "test name ... " may come first on the line.
                if let Some(at) = line.find(&prefix)
                    && tx.send(line[at + prefix.len()..].to_owned()).is_err()
                {
                    break;
                }
            }
        });
        let pid = child.id();
        let mut child = ServerChild {
            child,
            stdin,
            lines,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            pid,
            during: 0,
        };
        let port: u16 = child.expect_line("port").await.parse().unwrap();
        child.addr.set_port(port);
        child
    }

    async fn expect_line(&mut self, key: &str) -> String {
        loop {
            let line = within(
                &format!("the server child to say {key:?}"),
                self.lines.recv(),
            )
            .await
            .unwrap_or_else(|| panic!("the server child ended before it said {key:?}"));
            let mut words = line.splitn(2, ' ');
            if words.next() == Some(key) {
                return words.next().unwrap_or_default().to_owned();
            }
        }
    }

    fn tell(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The child's counters now.
    pub async fn stats(&mut self) -> ChildStats {
        self.tell("stats");
        let line = self.expect_line("stats").await;
        ChildStats(
            line.split_whitespace()
                .map(|kv| {
                    let (k, v) = kv.split_once('=').unwrap();
                    (k.to_owned(), v.parse().unwrap())
                })
                .collect(),
        )
    }

    /// Starts the `flood` command against mailbox connection `id`.
    pub async fn flood(&mut self, id: u64, senders: u32, messages: u32, try_senders: u32) {
        self.tell(&format!("flood {id} {senders} {messages} {try_senders}"));
        self.expect_line("flooding").await;
    }

    fn status_bytes(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .expect("read the child's /proc status");
        let line = status
            .lines()
            .find(|line| line.starts_with(field))
            .unwrap_or_else(|| panic!("no {field} in the child's status"));
        let kib: u64 = line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap();
        kib * 1024
    }

    /// The child's resident set size now (`VmRSS`).
    pub fn rss(&self) -> u64 {
        self.status_bytes("VmRSS:")
    }

    /// The child's peak resident set size since the last reset (`VmHWM`).
    pub fn peak(&self) -> u64 {
        self.status_bytes("VmHWM:")
    }

    /// The child's open files now.
    pub fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid))
            .expect("list the child's /proc fds")
            .count()
    }

    /// Records the resident set size now into [`ServerChild::during`] and
    /// returns it.
    pub fn sample(&mut self) -> u64 {
        let rss = self.rss();
        self.during = self.during.max(rss);
        rss
    }

    /// Polls (every 10 ms, for at most `limit`) until `done` holds for the
    /// child's counters; returns them.
    pub async fn until(
        &mut self,
        what: &str,
        limit: Duration,
        mut done: impl FnMut(&ChildStats, &ServerChild) -> bool,
    ) -> ChildStats {
        let deadline = Instant::now() + limit;
        loop {
            let stats = self.stats().await;
            self.sample();
            if done(&stats, self) {
                return stats;
            }
            assert!(
                Instant::now() < deadline,
                "waited {limit:?} for {what}; the child's counters: {stats:?}, {} open files",
                self.fds()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until no WebSocket connection is open and the open files are
    /// back to `fds`.
    pub async fn settle(&mut self, fds: usize, limit: Duration) -> ChildStats {
        self.until(
            &format!("every connection to end and the open files to return to {fds}"),
            limit,
            |stats, child| stats.get("open") == 0 && child.fds() <= fds,
        )
        .await
    }

    /// The baseline of an attack, after `warm_up` ran and every connection
    /// it opened ended: resident memory, open files; resets the peak.
    pub async fn baseline(&mut self) -> Baseline {
        let stats = self
            .until("the warm-up to end", Duration::from_secs(15), |stats, _| {
                stats.get("open") == 0
            })
            .await;
        let _ = stats;
        // Handshakes still being read hold a file too: wait for the count
        // to stop moving down (at most the listener, the runtime's and the
        // standard streams remain).
        let mut fds = self.fds();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let now = self.fds();
            if now == fds {
                break;
            }
            fds = now;
        }
        std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5")
            .expect("reset the child's peak resident size");
        let rss = self.rss();
        self.during = rss;
        Baseline { rss, fds }
    }
}
