//! The benchmark load generator: one tokio worker thread, raw TCP sockets,
//! its own HTTP upgrade, pre-built masked frames, N messages in flight per
//! connection, and byte-exact verification of every echoed message.
//!
//! ```sh
//! loadgen --scenario a --addr 127.0.0.1:9001 --secs 5 [--server-pid PID]
//! ```
//!
//! Scenarios (each setting can be overridden with `--conns`, `--inflight`,
//! `--size`, `--text`, `--binary`, `--concurrency`):
//!
//! | scenario | what |
//! |---|---|
//! | `a` | 64 connections × 16 in flight × 16 B text |
//! | `b` | 256 connections × 1 in flight × 128 B binary |
//! | `c` | 8 connections × 4 in flight × 64 KiB binary |
//! | `d` | 2 connections × 1 in flight × 1 MiB binary |
//! | `e` | handshakes: connect, upgrade, close, wait for TCP EOF; 16 loops |
//! | `f` | 10,000 idle connections, one 16 B message each, then held |
//! | `g` | permessage-deflate, 64 connections × 4 in flight × ~1 KiB JSON text |
//!
//! `--raw-tcp` (scenarios a and b) talks plain TCP to a raw echo server:
//! fixed-size records, no WebSocket framing.
//!
//! A run connects every connection, runs `--warmup` seconds unmeasured,
//! then `--secs` seconds measured, and prints one line of `key=value`
//! pairs on stdout: messages, payload bytes, seconds, msg/s, bytes/s, p50 and
//! p99 latency in µs and, with `--server-pid`, the server's CPU time over
//! the measured window (from `/proc/PID/stat`) and its memory (from
//! `/proc/PID/status`). Any echo that differs from what was sent, by a single
//! byte, opcode or frame bit, ends the run at once with exit status 2.
//!
//! Scenario `f` binds its sockets to the source addresses 127.0.0.2 to
//! 127.0.0.11 so that 10,000 connections do not run out of ports, and with
//! `--server-pid` reads the server's `VmRSS` before connecting and once
//! every connection has echoed its message and `--settle` has passed; it
//! then holds the connections `--hold` seconds more (for a look with other
//! tools) and prints its line.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use lariat::core::handshake::{client_key, client_request, parse_extensions, parse_response};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::task::LocalSet;

const USAGE: &str = "usage: loadgen --scenario a|b|c|d|e|f|g --addr HOST:PORT [--secs S] [--warmup S] \
[--raw-tcp] [--server-pid PID] [--clk-tck N] [--conns N] [--inflight N] [--size BYTES] \
[--text|--binary] [--concurrency N] [--settle S] [--hold S] [--path /P]";

/// The permessage-deflate offer of scenario g (RFC 7692 §7.1).
const DEFLATE_OFFER: &str =
    "permessage-deflate; client_no_context_takeover; server_no_context_takeover";

/// The client's fixed masking key: frames are masked once and reused.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

type Res<T> = Result<T, String>;

// ---------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Pipelined echo of one message over and over.
    Echo,
    /// Connect, upgrade, close, EOF, again.
    Handshake,
    /// Many connections, one message each, then held.
    Idle,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Binary,
    Json,
}

struct Opts {
    scenario: String,
    mode: Mode,
    addr: SocketAddr,
    path: String,
    conns: usize,
    inflight: usize,
    size: usize,
    kind: Kind,
    deflate: bool,
    raw_tcp: bool,
    warmup: Duration,
    secs: Duration,
    concurrency: usize,
    server_pid: Option<u32>,
    clk_tck: u64,
    settle: Duration,
    hold: Duration,
    spread_sources: bool,
}

fn parse_secs(v: &str) -> Res<Duration> {
    let s: f64 = v
        .parse()
        .map_err(|_| format!("not a number of seconds: {v}"))?;
    Duration::try_from_secs_f64(s).map_err(|e| format!("bad duration {v}: {e}"))
}

fn parse_num<T: std::str::FromStr>(v: &str) -> Res<T> {
    v.parse().map_err(|_| format!("not a number: {v}"))
}

fn parse_args() -> Res<Opts> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    let mut kv: Vec<(String, Option<String>)> = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--raw-tcp" | "--text" | "--binary" => kv.push((a.clone(), None)),
            "-h" | "--help" => return Err("help".into()),
            _ if a.starts_with("--") => {
                let v = it.next().ok_or_else(|| format!("{a} needs a value"))?;
                kv.push((a.clone(), Some(v.clone())));
            }
            _ => return Err(format!("unexpected argument {a}")),
        }
    }
    let get = |name: &str| {
        kv.iter()
            .rev()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.clone())
    };
    let has = |name: &str| kv.iter().any(|(k, _)| k == name);

    let scenario = get("--scenario").ok_or("--scenario is required")?;
    let addr: SocketAddr = get("--addr")
        .ok_or("--addr is required")?
        .parse()
        .map_err(|e| format!("--addr: {e}"))?;
    let mut o = Opts {
        scenario: scenario.clone(),
        mode: Mode::Echo,
        addr,
        path: get("--path").unwrap_or_else(|| "/".into()),
        conns: 1,
        inflight: 1,
        size: 16,
        kind: Kind::Text,
        deflate: false,
        raw_tcp: has("--raw-tcp"),
        warmup: Duration::from_secs(1),
        secs: Duration::from_secs(5),
        concurrency: 16,
        server_pid: None,
        clk_tck: 100,
        settle: Duration::from_millis(500),
        hold: Duration::ZERO,
        spread_sources: false,
    };
    match scenario.as_str() {
        "a" => (o.conns, o.inflight, o.size, o.kind) = (64, 16, 16, Kind::Text),
        "b" => (o.conns, o.inflight, o.size, o.kind) = (256, 1, 128, Kind::Binary),
        "c" => (o.conns, o.inflight, o.size, o.kind) = (8, 4, 64 << 10, Kind::Binary),
        "d" => (o.conns, o.inflight, o.size, o.kind) = (2, 1, 1 << 20, Kind::Binary),
        "e" => {
            o.mode = Mode::Handshake;
            o.spread_sources = true;
        }
        "f" => {
            o.mode = Mode::Idle;
            (o.conns, o.size, o.kind) = (10_000, 16, Kind::Text);
            o.concurrency = 128;
            o.spread_sources = true;
        }
        "g" => {
            (o.conns, o.inflight, o.kind) = (64, 4, Kind::Json);
            o.deflate = true;
        }
        other => return Err(format!("unknown scenario {other}")),
    }
    if let Some(v) = get("--conns") {
        o.conns = parse_num(&v)?;
    }
    if let Some(v) = get("--inflight") {
        o.inflight = parse_num(&v)?;
    }
    if let Some(v) = get("--size") {
        o.size = parse_num(&v)?;
    }
    if has("--text") {
        o.kind = Kind::Text;
    }
    if has("--binary") {
        o.kind = Kind::Binary;
    }
    if let Some(v) = get("--concurrency") {
        o.concurrency = parse_num(&v)?;
    }
    if let Some(v) = get("--secs") {
        o.secs = parse_secs(&v)?;
    }
    if let Some(v) = get("--warmup") {
        o.warmup = parse_secs(&v)?;
    }
    if let Some(v) = get("--settle") {
        o.settle = parse_secs(&v)?;
    }
    if let Some(v) = get("--hold") {
        o.hold = parse_secs(&v)?;
    }
    if let Some(v) = get("--server-pid") {
        o.server_pid = Some(parse_num(&v)?);
    }
    if let Some(v) = get("--clk-tck") {
        o.clk_tck = parse_num(&v)?;
    }
    if o.raw_tcp && (o.mode != Mode::Echo || o.deflate) {
        return Err("--raw-tcp works with the echo scenarios a-d only".into());
    }
    if o.conns == 0 || o.inflight == 0 || o.concurrency == 0 {
        return Err("--conns, --inflight and --concurrency must be positive".into());
    }
    if o.raw_tcp && o.size == 0 {
        return Err("--raw-tcp needs --size > 0".into());
    }
    Ok(o)
}

// ---------------------------------------------------------------------------
// Latency histogram: log-linear buckets over nanoseconds, 32 per power of
// two (about 3 % resolution), 15 KiB, no allocation while recording.
// ---------------------------------------------------------------------------

const SUB_BITS: u32 = 5;
const BUCKETS: usize = (64 - SUB_BITS as usize) << SUB_BITS;

struct Hist {
    counts: Vec<u64>,
    total: u64,
}

impl Hist {
    fn new() -> Hist {
        Hist {
            counts: vec![0; BUCKETS],
            total: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < (1 << (SUB_BITS + 1)) {
            v as usize
        } else {
            let exp = 63 - v.leading_zeros();
            let shift = exp - SUB_BITS;
            ((shift as usize) << SUB_BITS) + (v >> shift) as usize
        }
    }

    /// The middle of bucket `idx`, in nanoseconds.
    fn value(idx: usize) -> u64 {
        if idx < (1 << (SUB_BITS + 1)) {
            idx as u64
        } else {
            let shift = (idx >> SUB_BITS) - 1;
            let mantissa = (idx - (shift << SUB_BITS)) as u64;
            (mantissa << shift) + ((1u64 << shift) >> 1)
        }
    }

    fn record(&mut self, d: Duration, n: u64) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        if let Some(c) = self.counts.get_mut(Self::index(ns)) {
            *c += n;
            self.total += n;
        }
    }

    /// The `q` quantile in microseconds.
    fn quantile_us(&self, q: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let target = ((q * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (idx, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Self::value(idx) as f64 / 1000.0;
            }
        }
        0.0
    }
}

// ---------------------------------------------------------------------------
// Shared run state (one thread: Cells)
// ---------------------------------------------------------------------------

struct Shared {
    measuring: Cell<bool>,
    messages: Cell<u64>,
    bytes: Cell<u64>,
    compressed: Cell<u64>,
    hist: RefCell<Hist>,
    ready: Cell<usize>,
    ready_notify: Notify,
}

impl Shared {
    fn new() -> Shared {
        Shared {
            measuring: Cell::new(false),
            messages: Cell::new(0),
            bytes: Cell::new(0),
            compressed: Cell::new(0),
            hist: RefCell::new(Hist::new()),
            ready: Cell::new(0),
            ready_notify: Notify::new(),
        }
    }

    fn connected(&self) {
        self.ready.set(self.ready.get() + 1);
        self.ready_notify.notify_one();
    }
}

/// Ends the process: a benchmark whose echo is wrong has no result.
fn fail(what: &str) -> ! {
    eprintln!("loadgen: FAILED: {what}");
    std::process::exit(2)
}

// ---------------------------------------------------------------------------
// Payloads and frames
// ---------------------------------------------------------------------------

fn text_payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| b'a' + (i % 26) as u8).collect()
}

fn binary_payload(n: usize) -> Vec<u8> {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 32) as u8
        })
        .collect()
}

/// A JSON document of a little over 1 KiB (Node `ws` compresses from 1024
/// bytes up by default).
fn json_payload() -> Vec<u8> {
    let mut s = String::from(
        "{\"type\":\"book\",\"symbol\":\"BTC-USD\",\"seq\":1234567,\"venue\":\"lariat\",\"levels\":[",
    );
    let mut i = 0usize;
    while s.len() < 1010 {
        if i > 0 {
            s.push(',');
        }
        let side = if i.is_multiple_of(2) { "bid" } else { "ask" };
        let _ = write!(
            s,
            "{{\"px\":{}.{:02},\"qty\":{}.{:03},\"side\":\"{side}\"}}",
            30_000 + i * 7,
            (i * 13) % 100,
            1 + i % 5,
            (i * 37) % 1000
        );
        i += 1;
    }
    s.push_str("],\"ts\":1700000000000}");
    s.into_bytes()
}

/// One whole client frame, masked with [`MASK`].
fn masked_frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    out.push(first);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, k)| b ^ k));
    out
}

/// Raw DEFLATE of `data` as one permessage-deflate message: a sync flush,
/// its trailing `00 00 ff ff` removed (RFC 7692 §7.2.1).
fn deflate_message(data: &[u8]) -> Res<Vec<u8>> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 128);
    c.compress_vec(data, &mut out, FlushCompress::Sync)
        .map_err(|e| format!("deflate: {e}"))?;
    if c.total_in() != data.len() as u64 {
        return Err("deflate: output buffer too small".into());
    }
    match out.strip_suffix(&[0, 0, 0xff, 0xff]) {
        Some(body) => Ok(body.to_vec()),
        None => Err("deflate: sync flush did not end in 00 00 ff ff".into()),
    }
}

/// What every connection of an echo run sends and expects back.
struct Plan {
    /// The message as the server must echo it (uncompressed).
    payload: Vec<u8>,
    /// `inflight` copies of the frame (or raw record) back to back.
    frames: Vec<u8>,
    frame_len: usize,
    /// 1 text, 2 binary.
    opcode: u8,
}

impl Plan {
    fn new(o: &Opts) -> Res<Plan> {
        let payload = match o.kind {
            Kind::Text => text_payload(o.size),
            Kind::Binary => binary_payload(o.size),
            Kind::Json => json_payload(),
        };
        let opcode = if o.kind == Kind::Binary { 2 } else { 1 };
        let one = if o.raw_tcp {
            payload.clone()
        } else if o.deflate {
            masked_frame(0x80 | 0x40 | opcode, &deflate_message(&payload)?)
        } else {
            masked_frame(0x80 | opcode, &payload)
        };
        let frames = one.repeat(o.inflight);
        Ok(Plan {
            payload,
            frames,
            frame_len: one.len(),
            opcode,
        })
    }

    fn frames_for(&self, k: usize) -> &[u8] {
        self.frames
            .get(..k * self.frame_len)
            .unwrap_or(&self.frames)
    }
}

// ---------------------------------------------------------------------------
// Connecting and the opening handshake
// ---------------------------------------------------------------------------

async fn connect(o: &Opts, idx: usize) -> io::Result<TcpStream> {
    let stream = if o.spread_sources && o.addr.ip().is_loopback() && o.addr.is_ipv4() {
        let socket = TcpSocket::new_v4()?;
        let source = Ipv4Addr::new(127, 0, 0, 2 + (idx % 10) as u8);
        socket.bind(SocketAddr::new(source.into(), 0))?;
        socket.connect(o.addr).await?
    } else {
        TcpStream::connect(o.addr).await?
    };
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// What the server agreed to for permessage-deflate.
struct Negotiated {
    deflate: bool,
    server_no_context_takeover: bool,
}

/// Sends the upgrade request and reads the 101; returns the bytes that
/// followed the response head.
async fn upgrade(stream: &mut TcpStream, o: &Opts, nonce: u64) -> Res<(Vec<u8>, Negotiated)> {
    let mut n = [0u8; 16];
    for (dst, src) in n.iter_mut().zip(nonce.to_le_bytes().iter().cycle()) {
        *dst = *src;
    }
    let key = client_key(&n);
    let host = o.addr.to_string();
    let offer = o.deflate.then_some(DEFLATE_OFFER);
    let request = client_request(&host, &o.path, &key, &[], offer);
    stream
        .write_all(&request)
        .await
        .map_err(|e| format!("writing the upgrade request: {e}"))?;
    let mut buf = Vec::with_capacity(512);
    loop {
        let read = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("reading the upgrade response: {e}"))?;
        if read == 0 {
            return Err("the server closed the connection during the upgrade".into());
        }
        match parse_response(&buf, &key) {
            Ok(None) => continue,
            Err(e) => {
                let head = String::from_utf8_lossy(&buf);
                return Err(format!("bad upgrade response ({e}): {head:?}"));
            }
            Ok(Some((resp, used))) => {
                let mut neg = Negotiated {
                    deflate: false,
                    server_no_context_takeover: false,
                };
                if let Some(ext) = resp.extensions.as_deref() {
                    let offers = parse_extensions(ext)
                        .map_err(|e| format!("bad extensions {ext:?}: {e:?}"))?;
                    for offer in offers {
                        if offer.name != "permessage-deflate" || !o.deflate {
                            return Err(format!(
                                "the server chose an extension not offered: {ext}"
                            ));
                        }
                        neg.deflate = true;
                        neg.server_no_context_takeover =
                            offer.param("server_no_context_takeover").is_some();
                    }
                }
                if o.deflate && !neg.deflate {
                    return Err("the server did not accept permessage-deflate".into());
                }
                let rest = buf.get(used..).unwrap_or_default().to_vec();
                return Ok((rest, neg));
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Reading server frames: a streaming parser that checks payload bytes as
// they arrive, so a 1 MiB echo is never buffered whole (unless compressed).
// ---------------------------------------------------------------------------

/// A server frame header: (first byte, payload length, header length).
fn parse_header(b: &[u8]) -> Res<Option<(u8, u64, usize)>> {
    let (Some(&first), Some(&second)) = (b.first(), b.get(1)) else {
        return Ok(None);
    };
    if second & 0x80 != 0 {
        return Err("the server sent a masked frame".into());
    }
    let (len, hlen) = match second & 0x7f {
        126 => match b.get(2..4) {
            Some(&[x, y]) => (u64::from(u16::from_be_bytes([x, y])), 4),
            _ => return Ok(None),
        },
        127 => match b.get(2..10).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
            Some(bytes) => (u64::from_be_bytes(bytes), 10),
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    Ok(Some((first, len, hlen)))
}

struct RxBuf {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl RxBuf {
    fn new(cap: usize, leftover: &[u8]) -> RxBuf {
        let mut buf = vec![0; cap.max(leftover.len())];
        if let Some(dst) = buf.get_mut(..leftover.len()) {
            dst.copy_from_slice(leftover);
        }
        RxBuf {
            buf,
            start: 0,
            end: leftover.len(),
        }
    }

    fn avail(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    /// Frees the tail: rewinds when empty, moves a partial header to the
    /// front when the tail is full.
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    /// Reads once into the free tail, moving a partial header to the front
    /// first when the tail is full.
    async fn fill(&mut self, rd: &mut ReadHalf<'_>) -> Res<()> {
        self.make_room();
        let tail = self.buf.get_mut(self.end..).unwrap_or_default();
        let n = rd.read(tail).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("the server closed the connection".into());
        }
        self.end += n;
        Ok(())
    }
}

/// A raw inflater for the server's compressed messages.
struct Inflater {
    z: Decompress,
    out: Vec<u8>,
    /// `server_no_context_takeover`: every message starts a fresh stream.
    reset_each: bool,
}

impl Inflater {
    fn inflate(&mut self, input: &mut Vec<u8>, limit: usize) -> Res<&[u8]> {
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        self.out.clear();
        let mut used = 0usize;
        while used < input.len() {
            if self.out.len() == self.out.capacity() {
                self.out.reserve(4096);
            }
            let before_in = self.z.total_in();
            let before_out = self.z.total_out();
            let rest = input.get(used..).unwrap_or_default();
            self.z
                .decompress_vec(rest, &mut self.out, FlushDecompress::Sync)
                .map_err(|e| format!("inflating the echo: {e}"))?;
            let took = (self.z.total_in() - before_in) as usize;
            used += took;
            if took == 0 && self.z.total_out() == before_out {
                return Err("inflating the echo made no progress".into());
            }
            if self.out.len() > limit {
                return Err(format!("the echo inflates to more than {limit} bytes"));
            }
        }
        if self.reset_each {
            self.z.reset(false);
        }
        Ok(&self.out)
    }
}

/// The frame and message being read.
struct MsgState {
    in_payload: bool,
    remaining: u64,
    frame_opcode: u8,
    frame_fin: bool,
    /// The opcode of the message being assembled, 0 when none.
    msg_opcode: u8,
    compressed: bool,
    offset: usize,
    zbuf: Vec<u8>,
    control: Vec<u8>,
    inflater: Option<Inflater>,
    messages: u64,
}

impl MsgState {
    fn new(neg: &Negotiated) -> MsgState {
        MsgState {
            in_payload: false,
            remaining: 0,
            frame_opcode: 0,
            frame_fin: false,
            msg_opcode: 0,
            compressed: false,
            offset: 0,
            zbuf: Vec::new(),
            control: Vec::new(),
            inflater: neg.deflate.then(|| Inflater {
                z: Decompress::new(false),
                out: Vec::new(),
                reset_each: neg.server_no_context_takeover,
            }),
            messages: 0,
        }
    }

    fn header(&mut self, first: u8, len: u64, plan: &Plan) -> Res<()> {
        let opcode = first & 0x0f;
        let rsv1 = first & 0x40 != 0;
        if first & 0x30 != 0 {
            return Err(format!("RSV2/RSV3 set: first byte {first:#04x}"));
        }
        match opcode {
            0 => {
                if self.msg_opcode == 0 {
                    return Err("a continuation frame without a message".into());
                }
                if rsv1 {
                    return Err("RSV1 on a continuation frame".into());
                }
            }
            1 | 2 => {
                if self.msg_opcode != 0 {
                    return Err("a new message inside a fragmented one".into());
                }
                if opcode != plan.opcode {
                    return Err(format!(
                        "echo opcode {opcode}, sent {} (message {})",
                        plan.opcode, self.messages
                    ));
                }
                if rsv1 && self.inflater.is_none() {
                    return Err("RSV1 without permessage-deflate".into());
                }
                self.msg_opcode = opcode;
                self.compressed = rsv1;
                self.offset = 0;
                self.zbuf.clear();
            }
            8..=10 => {
                if first & 0x80 == 0 || len > 125 || rsv1 {
                    return Err(format!(
                        "bad control frame: first byte {first:#04x}, {len} B"
                    ));
                }
                self.control.clear();
            }
            _ => return Err(format!("reserved opcode {opcode}")),
        }
        self.frame_opcode = opcode;
        self.frame_fin = first & 0x80 != 0;
        self.remaining = len;
        self.in_payload = true;
        Ok(())
    }

    fn chunk(&mut self, chunk: &[u8], plan: &Plan) -> Res<()> {
        if self.frame_opcode >= 8 {
            self.control.extend_from_slice(chunk);
        } else if self.compressed {
            self.zbuf.extend_from_slice(chunk);
            if self.zbuf.len() > 2 * plan.payload.len() + 1024 {
                return Err("the compressed echo is far larger than the message".into());
            }
        } else {
            let end = self.offset + chunk.len();
            match plan.payload.get(self.offset..end) {
                Some(expected) if expected == chunk => self.offset = end,
                Some(expected) => {
                    let at = expected
                        .iter()
                        .zip(chunk)
                        .position(|(a, b)| a != b)
                        .unwrap_or(0);
                    return Err(format!(
                        "echo differs at byte {} of message {}",
                        self.offset + at,
                        self.messages
                    ));
                }
                None => {
                    return Err(format!(
                        "echo longer than the {} B sent (message {})",
                        plan.payload.len(),
                        self.messages
                    ));
                }
            }
        }
        Ok(())
    }

    /// The current frame's payload is complete; returns whether a message
    /// ended (and was verified).
    fn frame_done(&mut self, plan: &Plan, shared: &Shared) -> Res<bool> {
        self.in_payload = false;
        match self.frame_opcode {
            8 => {
                let code = match self.control.get(..2) {
                    Some(&[a, b]) => u16::from_be_bytes([a, b]).to_string(),
                    _ => "none".into(),
                };
                let reason = String::from_utf8_lossy(self.control.get(2..).unwrap_or_default());
                Err(format!("the server closed: code {code} {reason:?}"))
            }
            // Pings (none expected while busy) and pongs are not data.
            9 | 10 => Ok(false),
            _ if !self.frame_fin => Ok(false),
            _ => {
                if self.compressed {
                    let limit = plan.payload.len();
                    let Some(inflater) = self.inflater.as_mut() else {
                        return Err("compressed echo without deflate".into());
                    };
                    let out = inflater.inflate(&mut self.zbuf, limit)?;
                    if out != plan.payload.as_slice() {
                        return Err(format!(
                            "inflated echo differs from the message sent ({} B vs {} B, message {})",
                            out.len(),
                            plan.payload.len(),
                            self.messages
                        ));
                    }
                    shared.compressed.set(shared.compressed.get() + 1);
                } else if self.offset != plan.payload.len() {
                    return Err(format!(
                        "echo of {} B, sent {} B (message {})",
                        self.offset,
                        plan.payload.len(),
                        self.messages
                    ));
                }
                self.msg_opcode = 0;
                self.messages += 1;
                Ok(true)
            }
        }
    }

    /// Consumes what `rx` holds; returns the number of whole messages.
    fn process(&mut self, rx: &mut RxBuf, plan: &Plan, shared: &Shared) -> Res<u64> {
        let mut done = 0;
        loop {
            if !self.in_payload {
                let Some((first, len, hlen)) = parse_header(rx.avail())? else {
                    break;
                };
                rx.start += hlen;
                self.header(first, len, plan)?;
            }
            let avail = rx.end - rx.start;
            let take = usize::try_from(self.remaining)
                .unwrap_or(usize::MAX)
                .min(avail);
            let chunk = rx.buf.get(rx.start..rx.start + take).unwrap_or_default();
            self.chunk(chunk, plan)?;
            rx.start += take;
            self.remaining -= take as u64;
            if self.remaining > 0 {
                break;
            }
            if self.frame_done(plan, shared)? {
                done += 1;
            }
        }
        Ok(done)
    }
}

// ---------------------------------------------------------------------------
// Echo connections
// ---------------------------------------------------------------------------

/// What the reader and the writer of one connection share.
struct Conn<'a> {
    shared: &'a Shared,
    plan: &'a Plan,
    /// Messages that may be sent now.
    credits: Cell<usize>,
    /// Send time of each write and how many messages it carried.
    sent: RefCell<VecDeque<(Instant, u64)>>,
    wake: Notify,
}

impl Conn<'_> {
    fn completed(&self, mut n: u64, now: Instant) -> Res<()> {
        if n == 0 {
            return Ok(());
        }
        self.credits.set(self.credits.get() + n as usize);
        self.wake.notify_one();
        let measuring = self.shared.measuring.get();
        if measuring {
            let s = self.shared;
            s.messages.set(s.messages.get() + n);
            s.bytes
                .set(s.bytes.get() + n * self.plan.payload.len() as u64);
        }
        let mut sent = self.sent.borrow_mut();
        let mut hist = self.shared.hist.borrow_mut();
        while n > 0 {
            let Some(front) = sent.front_mut() else {
                return Err("more echoes than messages sent".into());
            };
            let k = front.1.min(n);
            if measuring {
                hist.record(now.saturating_duration_since(front.0), k);
            }
            front.1 -= k;
            n -= k;
            if front.1 == 0 {
                sent.pop_front();
            }
        }
        Ok(())
    }

    async fn writer(&self, wr: &mut WriteHalf<'_>) -> Res<()> {
        loop {
            let k = self.credits.replace(0);
            if k == 0 {
                self.wake.notified().await;
                continue;
            }
            self.sent.borrow_mut().push_back((Instant::now(), k as u64));
            wr.write_all(self.plan.frames_for(k))
                .await
                .map_err(|e| format!("write: {e}"))?;
        }
    }

    async fn ws_reader(
        &self,
        rd: &mut ReadHalf<'_>,
        leftover: &[u8],
        neg: &Negotiated,
        cap: usize,
    ) -> Res<()> {
        let mut rx = RxBuf::new(cap, leftover);
        let mut msg = MsgState::new(neg);
        loop {
            if rx.start < rx.end {
                let done = msg.process(&mut rx, self.plan, self.shared)?;
                self.completed(done, Instant::now())?;
            }
            rx.fill(rd).await?;
        }
    }

    async fn raw_reader(&self, rd: &mut ReadHalf<'_>, cap: usize) -> Res<()> {
        let size = self.plan.payload.len();
        let mut buf = vec![0u8; cap];
        let mut total: u64 = 0;
        loop {
            let n = rd.read(&mut buf).await.map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("the server closed the connection".into());
            }
            let now = Instant::now();
            let mut rest = buf.get(..n).unwrap_or_default();
            let mut pos = (total % size as u64) as usize;
            while !rest.is_empty() {
                let take = (size - pos).min(rest.len());
                let (got, tail) = rest.split_at(take);
                if self.plan.payload.get(pos..pos + take) != Some(got) {
                    return Err(format!(
                        "raw echo differs in record {}",
                        total / size as u64
                    ));
                }
                rest = tail;
                pos = 0;
            }
            let before = total / size as u64;
            total += n as u64;
            self.completed(total / size as u64 - before, now)?;
        }
    }
}

fn read_cap(size: usize) -> usize {
    if size >= 16 << 10 {
        256 << 10
    } else {
        64 << 10
    }
}

async fn echo_conn(idx: usize, o: &Opts, shared: &Shared, plan: &Plan) -> Res<()> {
    let mut stream = tokio::time::timeout(Duration::from_secs(10), connect(o, idx))
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let (leftover, neg) = if o.raw_tcp {
        (
            Vec::new(),
            Negotiated {
                deflate: false,
                server_no_context_takeover: false,
            },
        )
    } else {
        tokio::time::timeout(Duration::from_secs(10), upgrade(&mut stream, o, idx as u64))
            .await
            .map_err(|_| "upgrade timed out".to_string())??
    };
    shared.connected();
    let conn = Conn {
        shared,
        plan,
        credits: Cell::new(o.inflight),
        sent: RefCell::new(VecDeque::with_capacity(o.inflight + 1)),
        wake: Notify::new(),
    };
    let (mut rd, mut wr) = stream.split();
    let cap = read_cap(plan.payload.len());
    if o.raw_tcp {
        tokio::try_join!(conn.writer(&mut wr), conn.raw_reader(&mut rd, cap))?;
    } else {
        tokio::try_join!(
            conn.writer(&mut wr),
            conn.ws_reader(&mut rd, &leftover, &neg, cap)
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Handshake loops
// ---------------------------------------------------------------------------

/// A masked close frame with code 1000.
fn close_frame() -> Vec<u8> {
    masked_frame(0x88, &1000u16.to_be_bytes())
}

async fn one_handshake(o: &Opts, idx: usize, nonce: u64, close: &[u8]) -> Res<()> {
    let mut stream = connect(o, idx).await.map_err(|e| format!("connect: {e}"))?;
    let (mut buf, _) = upgrade(&mut stream, o, nonce).await?;
    stream
        .write_all(close)
        .await
        .map_err(|e| format!("writing close: {e}"))?;
    // The server's close frame.
    loop {
        if let Some((first, len, hlen)) = parse_header(&buf)? {
            let whole = hlen + len as usize;
            if buf.len() >= whole {
                if first & 0x0f != 8 {
                    return Err(format!(
                        "expected a close frame, got first byte {first:#04x}"
                    ));
                }
                let payload = buf.get(hlen..whole).unwrap_or_default();
                if let Some(&[a, b]) = payload.get(..2)
                    && u16::from_be_bytes([a, b]) != 1000
                {
                    return Err(format!(
                        "close answered with code {}",
                        u16::from_be_bytes([a, b])
                    ));
                }
                break;
            }
        }
        let n = stream
            .read_buf(&mut buf)
            .await
            .map_err(|e| format!("reading close: {e}"))?;
        if n == 0 {
            return Err("TCP EOF before the server's close frame".into());
        }
    }
    // Then TCP EOF: the server closes first (RFC 6455 §7.1.1).
    let mut sink = [0u8; 64];
    loop {
        let n = stream
            .read(&mut sink)
            .await
            .map_err(|e| format!("waiting for EOF: {e}"))?;
        if n == 0 {
            return Ok(());
        }
    }
}

async fn handshake_loop(id: usize, o: &Opts, shared: &Shared, close: &[u8]) -> Res<()> {
    shared.connected();
    let mut i = 0usize;
    loop {
        let t0 = Instant::now();
        let idx = id + i * o.concurrency;
        tokio::time::timeout(
            Duration::from_secs(10),
            one_handshake(o, idx, idx as u64, close),
        )
        .await
        .map_err(|_| format!("handshake {i} timed out"))??;
        if shared.measuring.get() {
            shared.messages.set(shared.messages.get() + 1);
            shared.hist.borrow_mut().record(t0.elapsed(), 1);
        }
        i += 1;
    }
}

// ---------------------------------------------------------------------------
// Idle connections
// ---------------------------------------------------------------------------

async fn idle_conn(
    idx: usize,
    o: &Opts,
    shared: &Shared,
    plan: &Plan,
    gate: &Semaphore,
) -> Res<TcpStream> {
    let permit = gate.acquire().await.map_err(|e| e.to_string())?;
    let mut stream = connect(o, idx).await.map_err(|e| format!("connect: {e}"))?;
    let (leftover, neg) = upgrade(&mut stream, o, idx as u64).await?;
    stream
        .write_all(plan.frames_for(1))
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut rx = RxBuf::new(256, &leftover);
    let mut msg = MsgState::new(&neg);
    {
        let (mut rd, _) = stream.split();
        loop {
            if rx.start < rx.end && msg.process(&mut rx, plan, shared)? > 0 {
                break;
            }
            rx.fill(&mut rd).await?;
        }
    }
    drop(permit);
    shared.messages.set(shared.messages.get() + 1);
    shared
        .bytes
        .set(shared.bytes.get() + plan.payload.len() as u64);
    Ok(stream)
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // After the command name: field 3 (state) is the first; utime is 14.
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// A `/proc/PID/status` line in KiB, e.g. `VmRSS` or `VmHWM`.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

// ---------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------

async fn wait_ready(shared: &Shared, n: usize, deadline: Duration) -> Res<()> {
    let until = tokio::time::Instant::now() + deadline;
    while shared.ready.get() < n {
        if tokio::time::timeout_at(until, shared.ready_notify.notified())
            .await
            .is_err()
        {
            return Err(format!(
                "only {} of {n} connections were ready after {deadline:?}",
                shared.ready.get()
            ));
        }
    }
    Ok(())
}

/// Runs the warmup and the measured window; returns the result line.
async fn measure(o: &Opts, shared: &Shared) -> Res<String> {
    tokio::time::sleep(o.warmup).await;
    let cpu0 = o.server_pid.and_then(cpu_ticks);
    let t0 = Instant::now();
    shared.messages.set(0);
    shared.bytes.set(0);
    shared.compressed.set(0);
    shared.measuring.set(true);
    tokio::time::sleep(o.secs).await;
    shared.measuring.set(false);
    let secs = t0.elapsed().as_secs_f64();
    let cpu1 = o.server_pid.and_then(cpu_ticks);
    let messages = shared.messages.get();
    let bytes = shared.bytes.get();
    if messages == 0 {
        return Err(format!("no message completed in {secs:.2} s"));
    }
    let hist = shared.hist.borrow();
    let mut line = format!(
        "scenario={} mode={} conns={} inflight={} size={} messages={messages} bytes={bytes} \
         secs={secs:.3} msg_per_s={:.0} bytes_per_s={:.0} p50_us={:.1} p99_us={:.1}",
        o.scenario,
        match (o.mode, o.raw_tcp, o.deflate) {
            (Mode::Handshake, ..) => "handshake",
            (Mode::Idle, ..) => "idle",
            (_, true, _) => "raw_tcp",
            (_, _, true) => "deflate",
            _ => "echo",
        },
        if o.mode == Mode::Handshake {
            o.concurrency
        } else {
            o.conns
        },
        o.inflight,
        shared_size(o),
        messages as f64 / secs,
        bytes as f64 / secs,
        hist.quantile_us(0.50),
        hist.quantile_us(0.99),
    );
    if o.deflate {
        let _ = write!(line, " compressed_replies={}", shared.compressed.get());
    }
    if let (Some(a), Some(b)) = (cpu0, cpu1) {
        let cpu_s = (b.saturating_sub(a)) as f64 / o.clk_tck as f64;
        let _ = write!(
            line,
            " server_cpu_s={cpu_s:.3} server_cpu_us_per_msg={:.3} server_cpu_share={:.3}",
            cpu_s * 1e6 / messages as f64,
            cpu_s / secs
        );
    }
    Ok(line)
}

fn shared_size(o: &Opts) -> usize {
    match (o.mode, o.kind) {
        (Mode::Handshake, _) => 0,
        (_, Kind::Json) => json_payload().len(),
        _ => o.size,
    }
}

fn spawn_checked<F>(what: String, fut: F)
where
    F: Future<Output = Res<()>> + 'static,
{
    tokio::task::spawn_local(async move {
        if let Err(e) = fut.await {
            fail(&format!("{what}: {e}"));
        }
    });
}

async fn run(o: Rc<Opts>) -> Res<String> {
    let shared = Rc::new(Shared::new());
    match o.mode {
        Mode::Echo => {
            let plan = Rc::new(Plan::new(&o)?);
            for idx in 0..o.conns {
                let (o, shared, plan) = (o.clone(), shared.clone(), plan.clone());
                spawn_checked(format!("connection {idx}"), async move {
                    echo_conn(idx, &o, &shared, &plan).await
                });
            }
            wait_ready(&shared, o.conns, Duration::from_secs(30)).await?;
            measure(&o, &shared).await
        }
        Mode::Handshake => {
            let close: Rc<[u8]> = close_frame().into();
            for id in 0..o.concurrency {
                let (o, shared, close) = (o.clone(), shared.clone(), close.clone());
                spawn_checked(format!("handshake loop {id}"), async move {
                    handshake_loop(id, &o, &shared, &close).await
                });
            }
            wait_ready(&shared, o.concurrency, Duration::from_secs(30)).await?;
            measure(&o, &shared).await
        }
        Mode::Idle => run_idle(o, shared).await,
    }
}

async fn run_idle(o: Rc<Opts>, shared: Rc<Shared>) -> Res<String> {
    let plan = Rc::new(Plan::new(&o)?);
    let gate = Rc::new(Semaphore::new(o.concurrency));
    let rss0 = o.server_pid.and_then(|p| status_kib(p, "VmRSS"));
    let t0 = Instant::now();
    for idx in 0..o.conns {
        let (o, shared, plan, gate) = (o.clone(), shared.clone(), plan.clone(), gate.clone());
        spawn_checked(format!("idle connection {idx}"), async move {
            let stream = idle_conn(idx, &o, &shared, &plan, &gate).await?;
            shared.connected();
            // Hold the connection until the process exits.
            std::future::pending::<()>().await;
            drop(stream);
            Ok(())
        });
    }
    wait_ready(&shared, o.conns, Duration::from_secs(120)).await?;
    let secs = t0.elapsed().as_secs_f64();
    eprintln!("loadgen: ready: {} connections held", o.conns);
    tokio::time::sleep(o.settle).await;
    let rss1 = o.server_pid.and_then(|p| status_kib(p, "VmRSS"));
    let mut line = format!(
        "scenario={} mode=idle conns={} inflight=1 size={} messages={} bytes={} secs={secs:.3} \
         msg_per_s={:.0} bytes_per_s={:.0} p50_us=0 p99_us=0",
        o.scenario,
        o.conns,
        o.size,
        shared.messages.get(),
        shared.bytes.get(),
        shared.messages.get() as f64 / secs,
        shared.bytes.get() as f64 / secs,
    );
    if let (Some(a), Some(b)) = (rss0, rss1) {
        let per_conn = (b as f64 - a as f64) * 1024.0 / o.conns as f64;
        let _ = write!(
            line,
            " rss_before_kib={a} rss_after_kib={b} rss_per_conn_bytes={per_conn:.0}"
        );
    }
    tokio::time::sleep(o.hold).await;
    Ok(line)
}

fn main() {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) if e == "help" => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("loadgen: {e}\n{USAGE}");
            std::process::exit(64);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => fail(&format!("tokio runtime: {e}")),
    };
    let local = LocalSet::new();
    match local.block_on(&runtime, run(Rc::new(opts))) {
        Ok(line) => {
            println!("{line}");
            // Connections are dropped with the process, not closed one by one.
            std::process::exit(0);
        }
        Err(e) => fail(&e),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn plan(payload: &[u8], opcode: u8) -> Plan {
        Plan {
            payload: payload.to_vec(),
            frames: Vec::new(),
            frame_len: 0,
            opcode,
        }
    }

    /// An unmasked server frame.
    fn server_frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mut f = masked_frame(first, payload);
        // Unmask: drop the key and the mask bit, xor back.
        let hlen = f.len() - payload.len();
        f[1] &= 0x7f;
        f.drain(hlen - 4..hlen);
        let body = f.len() - payload.len();
        f[body..].copy_from_slice(payload);
        f
    }

    fn feed(bytes: &[u8], plan: &Plan, neg: &Negotiated) -> Res<u64> {
        let shared = Shared::new();
        let mut msg = MsgState::new(neg);
        let mut done = 0;
        // One byte at a time: every split point of the stream.
        let mut rx = RxBuf::new(16, &[]);
        for b in bytes {
            rx.make_room();
            rx.buf[rx.end] = *b;
            rx.end += 1;
            done += msg.process(&mut rx, plan, &shared)?;
        }
        // And all at once.
        let mut msg = MsgState::new(neg);
        let mut rx = RxBuf::new(bytes.len(), bytes);
        assert_eq!(msg.process(&mut rx, plan, &shared)?, done);
        Ok(done)
    }

    const PLAIN: Negotiated = Negotiated {
        deflate: false,
        server_no_context_takeover: false,
    };

    #[test]
    fn histogram_buckets_are_monotonic_and_close() {
        let mut last = 0;
        for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 123_456, 10_000_000_000] {
            let idx = Hist::index(v);
            assert!(idx >= last && idx < BUCKETS);
            last = idx;
            let back = Hist::value(idx);
            assert!(back.abs_diff(v) <= v / 16 + 1, "{v} -> {back}");
        }
        let mut h = Hist::new();
        h.record(Duration::from_micros(100), 99);
        h.record(Duration::from_millis(10), 1);
        assert!((h.quantile_us(0.5) - 100.0).abs() < 4.0);
        assert!((h.quantile_us(0.99) - 100.0).abs() < 4.0);
        assert!((h.quantile_us(1.0) - 10_000.0).abs() < 400.0);
    }

    #[test]
    fn masked_frames_unmask_to_the_payload() {
        for n in [0usize, 5, 125, 126, 65_535, 65_536] {
            let payload = binary_payload(n);
            let f = masked_frame(0x82, &payload);
            let hlen = f.len() - n;
            let key: [u8; 4] = f[hlen - 4..hlen].try_into().unwrap();
            let unmasked: Vec<u8> = f[hlen..]
                .iter()
                .zip(key.iter().cycle())
                .map(|(b, k)| b ^ k)
                .collect();
            assert_eq!(unmasked, payload);
        }
    }

    #[test]
    fn exact_echoes_pass_whole_or_fragmented() {
        let p = plan(b"hello world", 1);
        let mut wire = server_frame(0x81, b"hello world");
        wire.extend(server_frame(0x89, b"ping"));
        wire.extend(server_frame(0x01, b"hello"));
        wire.extend(server_frame(0x8A, b""));
        wire.extend(server_frame(0x80, b" world"));
        assert_eq!(feed(&wire, &p, &PLAIN).unwrap(), 2);
    }

    #[test]
    fn wrong_echoes_fail() {
        let p = plan(b"hello world", 1);
        for wire in [
            server_frame(0x81, b"hello wOrld"),
            server_frame(0x81, b"hello worl"),
            server_frame(0x81, b"hello world!"),
            server_frame(0x82, b"hello world"),
            server_frame(0xC1, b"hello world"),
            server_frame(0x88, &1001u16.to_be_bytes()),
            masked_frame(0x81, b"hello world"),
        ] {
            assert!(feed(&wire, &p, &PLAIN).is_err(), "{wire:?}");
        }
    }

    #[test]
    fn compressed_echoes_are_inflated_and_compared() {
        let json = json_payload();
        assert!(json.len() >= 1024);
        let p = plan(&json, 1);
        let neg = Negotiated {
            deflate: true,
            server_no_context_takeover: true,
        };
        let z = deflate_message(&json).unwrap();
        let mut wire = server_frame(0xC1, &z);
        wire.extend(server_frame(0xC1, &z));
        assert_eq!(feed(&wire, &p, &neg).unwrap(), 2);
        let mut other = json.clone();
        other[100] ^= 1;
        let bad = server_frame(0xC1, &deflate_message(&other).unwrap());
        assert!(feed(&bad, &p, &neg).is_err());
    }
}
