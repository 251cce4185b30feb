//! Flow control with `.active(false)`: a slow consumer stops reading its
//! socket while it works, so TCP backpressure reaches a fast client.
//!
//! ```sh
//! cargo run --example backpressure                  # ws://127.0.0.1:8085/slow
//! cargo run --example backpressure -- 127.0.0.1:0   # any free port
//! ```
//!
//! Every message (text or binary) is a job that takes `?delay_ms=` (default
//! 100, at most 10 000) milliseconds, simulated with a `send_after` timer.
//! The clause that takes a job replies `.active(false)`: the server stops
//! reading the socket. The timer's `#[info(Work::Done)]` clause acknowledges
//! the job (`done 3: 5 bytes after 100 ms`) and replies `.active(true)` once
//! nothing is left: reading resumes. Frames already read when reading paused
//! still arrive (as in Cowboy), so the handler keeps a small backlog: at most
//! what one read brought in.
//!
//! While the server does not read, the kernel's buffers fill and the
//! client's writes stall: a fast sender goes at the consumer's pace and the
//! server holds no more than one read of its data. Watch it with a sender
//! much faster than 10 jobs a second:
//!
//! ```sh
//! yes hello | head -n 100 | websocat "ws://127.0.0.1:8085/slow?delay_ms=100"
//! ```
//!
//! or in a browser console, where `bufferedAmount` shows the data the
//! browser could not hand to TCP yet:
//!
//! ```js
//! const ws = new WebSocket("ws://127.0.0.1:8085/slow?delay_ms=200");
//! ws.onmessage = (e) => console.log(e.data);
//! ws.onopen = () => { const job = "x".repeat(65536); for (let i = 0; i < 200; i++) ws.send(job); };
//! setInterval(() => console.log("waiting in the browser:", ws.bufferedAmount), 1000);
//! ```

use std::collections::VecDeque;

use lariat::prelude::*;

/// The longest a job may take, in milliseconds.
const MAX_DELAY_MS: u64 = 10_000;

/// What the consumer's timer tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    /// The job in progress is done.
    Done,
}

/// One slow consumer.
#[derive(Debug)]
pub(crate) struct Slow {
    delay: Duration,
    /// Sizes of the jobs taken but not done, the one in progress first.
    backlog: VecDeque<usize>,
    done: u64,
}

impl Slow {
    /// Takes a job: starts it if nothing is in progress, and stops reading.
    fn take(&mut self, len: usize, ctx: &mut Ctx<Work>) -> Reply {
        self.backlog.push_back(len);
        if self.backlog.len() == 1 {
            ctx.send_after(self.delay, Work::Done);
        }
        Reply::ok().active(false)
    }
}

#[websocket_handler(info = Work)]
impl Slow {
    async fn init(req: &Request) -> Init<Self> {
        let delay_ms = match req.query("delay_ms") {
            None => 100,
            Some(ms) => match ms.parse::<u64>() {
                Ok(ms) if ms <= MAX_DELAY_MS => ms,
                _ => return Init::reject(Response::new(400).body("delay_ms: 0 to 10000")),
            },
        };
        Init::upgrade(Slow {
            delay: Duration::from_millis(delay_ms),
            backlog: VecDeque::new(),
            done: 0,
        })
        // The idle timeout counts time without reading, and a paused
        // consumer reads nothing while it works through its backlog.
        .idle_timeout(Duration::from_secs(300))
    }

    fn open(&mut self) -> Reply {
        Reply::text(format!(
            "slow consumer: every message takes {} ms",
            self.delay.as_millis()
        ))
    }

    #[frame(Text(text))]
    fn text(&mut self, text: &str, ctx: &mut Ctx<Work>) -> Reply {
        self.take(text.len(), ctx)
    }

    #[frame(Binary(data))]
    fn binary(&mut self, data: &[u8], ctx: &mut Ctx<Work>) -> Reply {
        self.take(data.len(), ctx)
    }

    #[info(Work::Done)]
    fn done(&mut self, ctx: &mut Ctx<Work>) -> Reply {
        let len = self.backlog.pop_front().unwrap_or(0);
        self.done += 1;
        let ack = Reply::text(format!(
            "done {}: {len} bytes after {} ms",
            self.done,
            self.delay.as_millis()
        ));
        if self.backlog.is_empty() {
            // Nothing left: read the socket again.
            ack.active(true)
        } else {
            ctx.send_after(self.delay, Work::Done);
            ack
        }
    }
}

/// The slow-consumer server on `addr`, ready to serve.
pub(crate) async fn server(addr: &str) -> std::io::Result<Server> {
    Ok(Server::bind(addr).await?.route("/slow", Slow::handler()))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8085".to_owned());
    let server = server(&addr).await?;
    println!(
        "backpressure: ws://{}/slow?delay_ms=100",
        server.local_addr()?
    );
    server
        .serve_with_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
