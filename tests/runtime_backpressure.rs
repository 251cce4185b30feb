//! Write-side backpressure over real loopback sockets: a connection whose
//! peer does not read stops taking input and mailbox messages once its send
//! buffer passes `Config::write_buffer_high`, so the server's memory stays
//! bounded while other connections keep being served; a single reply past
//! `Config::max_write_buffer` closes with 1008; control frames (a pong, the
//! close frame) still go out once the buffer drains.
//!
//! `.active(false)` (reading paused by the handler) is covered by
//! `runtime_flow.rs`.
//!
//! The tests that measure the server's memory (`VmRSS`, `VmHWM`) run in a
//! process of their own (`support::in_own_process`), and all run one at a
//! time (`SERIAL`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lariat::Config;
use lariat::core::connection::{Config as CoreConfig, Connection, Role};
use lariat::prelude::*;
use support::{
    Ended, RawClient, Reporter, TestServer, bind, in_own_process, peak_rss_bytes, reports,
    reset_peak_rss, rss_bytes, start, within,
};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// One at a time: two of them measure memory, all of them load both cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Every large message is this big, a fresh allocation each (a shared
/// payload would hide what the send buffer holds).
const MSG: usize = 64 * 1024;

const MIB: u64 = 1 << 20;

/// A mailbox message: "send one more large message".
#[derive(Debug)]
struct Pull;

/// Large messages the handlers have produced (all connections of a server).
#[derive(Debug, Default)]
struct Produced(AtomicU64);

impl Produced {
    fn get(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Where a `/sink` connection publishes its address.
type AddrBook = mpsc::UnboundedSender<Addr<Pull>>;

/// On `/sink`: a large message for each `Pull` in its mailbox, for each
/// "one", and `n` of them in one reply for "burst n". Anything else is
/// echoed.
struct Source {
    produced: Arc<Produced>,
    reports: Option<Reporter>,
    seq: u64,
}

impl Source {
    /// The next large message: its sequence number, then filler.
    fn next(&mut self) -> Frame {
        let mut data = vec![(self.seq % 251) as u8; MSG];
        data[..8].copy_from_slice(&self.seq.to_be_bytes());
        self.seq += 1;
        self.produced.0.fetch_add(1, Ordering::SeqCst);
        Frame::binary(data)
    }
}

impl Handler for Source {
    type Info = Pull;

    async fn init(req: &Request) -> Init<Self> {
        let source = Source {
            produced: req.state::<Arc<Produced>>().clone(),
            reports: req.try_state::<Reporter>().cloned(),
            seq: 0,
        };
        match req.query("idle_ms").and_then(|ms| ms.parse().ok()) {
            Some(ms) => Init::upgrade(source).idle_timeout(Duration::from_millis(ms)),
            None => Init::upgrade(source),
        }
    }

    async fn open(&mut self, ctx: &mut Ctx<Pull>) -> Reply {
        if ctx.request().path() == "/sink" {
            let _ = ctx.request().state::<AddrBook>().send(ctx.addr());
        }
        Reply::ok()
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Pull>) -> Reply {
        match frame {
            Frame::Text(text) if text == "one" => Reply::frame(self.next()),
            Frame::Text(text) if text.starts_with("burst ") => {
                let n: usize = text["burst ".len()..].parse().unwrap();
                Reply::frames((0..n).map(|_| self.next()).collect::<Vec<_>>())
            }
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            _ => Reply::ok(),
        }
    }

    async fn info(&mut self, _msg: Pull, _ctx: &mut Ctx<Pull>) -> Reply {
        Reply::frame(self.next())
    }

    async fn terminate(&mut self, reason: &Terminate) {
        if let Some(reports) = &self.reports {
            let _ = reports.send(reason.into());
        }
    }
}

struct Setup {
    server: TestServer,
    reports: support::Reports,
    addrs: mpsc::UnboundedReceiver<Addr<Pull>>,
    produced: Arc<Produced>,
    config: Config,
}

async fn source_server(config: Config) -> Setup {
    let (tx, reports) = reports();
    let (book, addrs) = mpsc::unbounded_channel::<Addr<Pull>>();
    let produced = Arc::new(Produced::default());
    let server = start(
        bind()
            .await
            .config(config.clone())
            .state(tx)
            .state(book)
            .state(produced.clone())
            .route("/sink", Source::handler())
            .route("/echo", Source::handler()),
    );
    Setup {
        server,
        reports,
        addrs,
        produced,
        config,
    }
}

/// The config of these tests: the documented defaults for the watermarks
/// and the limit, a small mailbox.
fn config() -> Config {
    Config {
        mailbox_capacity: 8,
        close_timeout: Duration::from_secs(30),
        idle_timeout: Some(Duration::from_secs(120)),
        ..Config::default()
    }
}

/// Fills the sink's mailbox as fast as it takes messages, up to `cap`.
fn spawn_producer(addr: Addr<Pull>, cap: u64) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for _ in 0..cap {
            if addr.send(Pull).await.is_err() {
                return;
            }
        }
    })
}

/// What [`until_throttled`] saw.
#[derive(Debug)]
struct Throttled {
    /// Large messages produced when production stopped.
    produced: u64,
    /// Echo round trips of the other client meanwhile.
    round_trips: u32,
    /// The slowest of them.
    slowest: Duration,
}

/// Echo round trips that must pass without the sink producing anything for
/// it to count as stopped.
const QUIET_ROUND_TRIPS: u32 = 200;

/// Runs echo round trips on `good` until the sink has produced nothing
/// during [`QUIET_ROUND_TRIPS`] of them in a row: the server keeps serving
/// `good` while the sink, whose peer does not read, is stopped. Fails when
/// production does not stop within 20 000 round trips (the producer's cap
/// would be reached first if the sink were never throttled).
async fn until_throttled(good: &mut RawClient, produced: &Produced) -> Throttled {
    let mut last = produced.get();
    let mut quiet = 0;
    let mut slowest = Duration::ZERO;
    for round_trips in 1..=20_000u32 {
        let started = std::time::Instant::now();
        let text = format!("echo {round_trips}");
        good.send(Frame::text(text.clone())).await;
        good.expect_text(&text).await;
        slowest = slowest.max(started.elapsed());
        let now = produced.get();
        if now == last {
            quiet += 1;
            if quiet == QUIET_ROUND_TRIPS {
                return Throttled {
                    produced: now,
                    round_trips,
                    slowest,
                };
            }
        } else {
            quiet = 0;
            last = now;
        }
    }
    panic!(
        "the sink never stopped producing: {} messages of {MSG} bytes so far",
        produced.get()
    );
}

/// Reads large messages in order until a non-data frame, which it returns
/// with the count read. Panics on a gap or a message out of order.
async fn read_in_order(client: &mut RawClient, next_seq: &mut u64) -> Option<Frame> {
    loop {
        match client.recv().await {
            Some(Frame::Binary(data)) => {
                assert_eq!(data.len(), MSG);
                let seq = u64::from_be_bytes(data[..8].try_into().unwrap());
                assert_eq!(seq, *next_seq, "a large message out of order or missing");
                *next_seq += 1;
            }
            other => return other,
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_is_throttled_with_bounded_memory_while_others_are_served() {
    let _serial = SERIAL.lock().await;
    if !in_own_process(
        "a_client_that_never_reads_is_throttled_with_bounded_memory_while_others_are_served",
    ) {
        return;
    }
    let Setup {
        server,
        mut reports,
        mut addrs,
        produced,
        config,
    } = source_server(config()).await;
    let mut good = RawClient::connect(&server, "/echo").await;
    good.send(Frame::text("warm up")).await;
    good.expect_text("warm up").await;

    let rss_before = rss_bytes();
    reset_peak_rss();
    let mut sink = RawClient::connect(&server, "/sink").await;
    let addr = within("the sink's address", addrs.recv()).await.unwrap();
    // 5000 × 64 KiB = 312 MiB if nothing stopped the sink.
    let cap = 5000;
    let producer = spawn_producer(addr.clone(), cap);
    let throttled = until_throttled(&mut good, &produced).await;
    let peak = peak_rss_bytes();
    let growth = peak.saturating_sub(rss_before);
    eprintln!(
        "never-reading client: throttled after {} messages of 64 KiB ({:.1} MiB, most of it \
         in the kernel's socket buffers); {} echo round trips meanwhile, the slowest {:?}; \
         peak RSS growth {:.2} MiB (RSS {:.1} -> peak {:.1} MiB)",
        throttled.produced,
        mib(throttled.produced * MSG as u64),
        throttled.round_trips,
        throttled.slowest,
        mib(growth),
        mib(rss_before),
        mib(peak),
    );
    assert!(
        throttled.produced < cap / 2,
        "the sink produced {} of {cap} messages before it stopped",
        throttled.produced
    );
    assert!(
        throttled.slowest < Duration::from_secs(1),
        "an echo on the other connection took {:?}",
        throttled.slowest
    );
    // The documented bound: the send buffer stops growing at the high
    // watermark (plus the one reply that crossed it) and never passes
    // `max_write_buffer`; allow 2 MiB more for everything else the process
    // allocates meanwhile.
    let bound = config.max_write_buffer as u64 + 2 * MIB;
    assert!(
        growth < bound,
        "the server's memory grew by {:.1} MiB for a client that never reads (bound {:.1} MiB)",
        mib(growth),
        mib(bound)
    );
    // Still stopped after many more round trips, and still open.
    let again = until_throttled(&mut good, &produced).await;
    assert_eq!(again.produced, throttled.produced);
    assert!(!addr.is_closed());

    // Control frames are not dropped: a ping sent while the server does
    // not read is answered once the buffer drains...
    sink.send(Frame::try_ping(&b"still there?"[..]).unwrap())
        .await;
    let mut next_seq = 0;
    // Nothing more is produced once the client reads the pong: stop the
    // producer first (at most a mailbox full of pulls is left).
    producer.abort();
    let pong = read_in_order(&mut sink, &mut next_seq).await;
    assert_eq!(pong, Some(Frame::try_pong(&b"still there?"[..]).unwrap()));
    // ...and a close asked for with a full send buffer goes out after it.
    sink.stream.flush().await.unwrap();
    let before_close = produced.get();
    assert!(next_seq <= before_close);
    addr.close(CloseCode::new(4000).unwrap());
    let close = read_in_order(&mut sink, &mut next_seq).await;
    assert_eq!(close, Some(Frame::close(CloseCode::new(4000).unwrap())));
    assert_eq!(sink.recv().await, None);
    drop(sink);
    assert_eq!(reports.next().await, Ended::Shutdown);
    // Every message the handler produced reached the client, in order.
    assert_eq!(next_seq, produced.get());
    drop(good);
    assert_eq!(reports.next().await, Ended::Closed);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_throttled_connection_still_ends_at_its_idle_timeout() {
    let _serial = SERIAL.lock().await;
    let Setup {
        server,
        mut reports,
        mut addrs,
        produced,
        ..
    } = source_server(Config {
        close_timeout: Duration::from_millis(500),
        ..config()
    })
    .await;
    let mut good = RawClient::connect(&server, "/echo").await;
    let sink = RawClient::connect(&server, "/sink?idle_ms=4000").await;
    let started = std::time::Instant::now();
    let addr = within("the sink's address", addrs.recv()).await.unwrap();
    let cap = 5000;
    let _producer = spawn_producer(addr.clone(), cap);
    let throttled = until_throttled(&mut good, &produced).await;
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "throttling took {:?}, too close to the idle timeout to tell them apart",
        started.elapsed()
    );
    // The idle timeout closes it (the close frame waits behind what the
    // peer does not read, then the close timeout gives up on it).
    assert_eq!(reports.next().await, Ended::Timeout);
    let ended = started.elapsed();
    assert!(ended >= Duration::from_secs(4), "ended after {ended:?}");
    assert_eq!(
        produced.get(),
        throttled.produced,
        "produced while throttled"
    );
    drop(sink);
    drop(good);
    assert_eq!(reports.next().await, Ended::Closed);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_reply_larger_than_max_write_buffer_closes_with_1008() {
    let _serial = SERIAL.lock().await;
    let Setup {
        server,
        mut reports,
        produced,
        config,
        ..
    } = source_server(config()).await;
    let mut client = RawClient::connect(&server, "/sink").await;
    // 80 × 64 KiB = 5 MiB in one reply: over the 4 MiB limit at once.
    let n = 80;
    assert!(n * MSG > config.max_write_buffer);
    client.send(Frame::text(format!("burst {n}"))).await;
    // What was queued still goes out, then the close frame.
    let mut next_seq = 0;
    let close = read_in_order(&mut client, &mut next_seq).await;
    assert_eq!(close, Some(Frame::close(CloseCode::POLICY_VIOLATION)));
    assert_eq!(next_seq, n as u64);
    assert_eq!(produced.get(), n as u64);
    assert_eq!(client.recv().await, None);
    drop(client);
    assert_eq!(
        reports.next().await,
        Ended::Error(std::io::ErrorKind::Other)
    );
    server.shutdown().await;
}

/// Requests the client writes at once, each answered with one 64 KiB
/// message: 62.5 MiB of replies in all, each one far below any limit.
const PIPELINED: usize = 1000;

/// A client connection with `PIPELINED` "one" requests queued, to be
/// written at once.
fn pipelined_requests() -> Connection {
    let mut conn = Connection::new(Role::Client, CoreConfig::default());
    for _ in 0..PIPELINED {
        conn.send(Frame::text("one")).unwrap();
    }
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pipelines_requests_and_never_reads_is_throttled_not_buffered() {
    let _serial = SERIAL.lock().await;
    if !in_own_process("a_client_that_pipelines_requests_and_never_reads_is_throttled_not_buffered")
    {
        return;
    }
    let Setup {
        server,
        mut reports,
        produced,
        config,
        ..
    } = source_server(config()).await;
    let mut good = RawClient::connect(&server, "/echo").await;
    good.send(Frame::text("warm up")).await;
    good.expect_text("warm up").await;
    let rss_before = rss_bytes();
    reset_peak_rss();
    let mut sink = RawClient::connect(&server, "/sink").await;
    let mut requests = pipelined_requests();
    within(
        "the requests to go out",
        sink.stream.write_all_buf(requests.send_buffer()),
    )
    .await
    .unwrap();
    let throttled = until_throttled(&mut good, &produced).await;
    let peak = peak_rss_bytes();
    let growth = peak.saturating_sub(rss_before);
    eprintln!(
        "pipelining client that never reads: {} of {PIPELINED} requests handled before it \
         stopped; peak RSS growth {:.2} MiB; slowest echo meanwhile {:?}",
        throttled.produced,
        mib(growth),
        throttled.slowest,
    );
    // The replies to what was read must not pile up past the limit: the
    // connection stops handling requests over the high watermark, as it
    // stops reading.
    let bound = config.max_write_buffer as u64 + 2 * MIB;
    assert!(
        growth < bound,
        "the server's memory grew by {:.1} MiB for a client that never reads (bound {:.1} MiB); \
         {} requests were handled at once",
        mib(growth),
        mib(bound),
        throttled.produced,
    );
    // Once the client reads, it gets every reply in order.
    let mut next_seq = 0;
    while next_seq < PIPELINED as u64 {
        match sink.recv().await {
            Some(Frame::Binary(data)) => {
                let seq = u64::from_be_bytes(data[..8].try_into().unwrap());
                assert_eq!(seq, next_seq, "a reply out of order or missing");
                next_seq += 1;
            }
            other => panic!("after {next_seq} of {PIPELINED} replies: {other:?}"),
        }
    }
    drop((sink, good));
    assert_eq!(reports.next_n(2).await, [Ended::Closed, Ended::Closed]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_pipelines_requests_and_reads_gets_every_reply() {
    let _serial = SERIAL.lock().await;
    let Setup {
        server,
        mut reports,
        produced,
        ..
    } = source_server(config()).await;
    let RawClient {
        stream, mut conn, ..
    } = RawClient::connect(&server, "/sink").await;
    let (mut read_half, mut write_half) = stream.into_split();
    // Writes the requests while the test reads the replies as fast as it can.
    let writer = tokio::spawn(async move {
        let mut requests = pipelined_requests();
        write_half
            .write_all_buf(requests.send_buffer())
            .await
            .unwrap();
        write_half
    });
    let mut next_seq = 0u64;
    let end = within("every reply", async {
        use tokio::io::AsyncReadExt;
        loop {
            match conn.poll_frame() {
                Ok(Some(Frame::Binary(data))) => {
                    let seq = u64::from_be_bytes(data[..8].try_into().unwrap());
                    assert_eq!(seq, next_seq);
                    next_seq += 1;
                    if next_seq == PIPELINED as u64 {
                        return None;
                    }
                    continue;
                }
                Ok(Some(other)) => return Some(other),
                Ok(None) => {}
                Err(error) => panic!("{error}"),
            }
            let input = conn.input_mut();
            input.reserve(64 * 1024);
            if read_half.read_buf(input).await.unwrap() == 0 {
                return Some(Frame::text("end of stream"));
            }
        }
    })
    .await;
    assert_eq!(
        end,
        None,
        "after {next_seq} of {PIPELINED} replies ({} produced)",
        produced.get()
    );
    let write_half = within("the writer", writer).await.unwrap();
    drop((read_half, write_half));
    assert_eq!(reports.next().await, Ended::Closed);
    server.shutdown().await;
}
