//! A price ticker: `ctx.send_after` timers push a price to each client.
//!
//! ```sh
//! cargo run --example ticker                  # ws://127.0.0.1:8081/ticker
//! cargo run --example ticker -- 127.0.0.1:0   # any free port
//! ```
//!
//! Each connection runs its own timer: `open` sets the first one with
//! `ctx.send_after`, and every `#[info(Tick::Price)]` sends a price and sets
//! the next. The query picks the symbol, the period in milliseconds (50 to
//! 60 000, default 500) and, optionally, how many seconds the session lasts:
//!
//! ```sh
//! websocat "ws://127.0.0.1:8081/ticker?symbol=LRT&every=250&for=10"
//! ```
//!
//! Type `pause` (the timer is cancelled with `ctx.cancel_timer`), `resume`,
//! or `every 100` to change the period. Anything else gets the list of
//! commands; a binary message is closed with 1003. When `for` is given, an
//! `#[info(Tick::Expire)]` clause closes with 1000 "session over". In a
//! browser console:
//!
//! ```js
//! const ws = new WebSocket("ws://127.0.0.1:8081/ticker?symbol=LRT");
//! ws.onmessage = (e) => console.log(e.data);   // "LRT 100.13", ...
//! setTimeout(() => ws.send("pause"), 3000);
//! ```

use lariat::Timer;
use lariat::prelude::*;

/// The shortest and longest period a client may ask for, in milliseconds.
const PERIOD_MS: std::ops::RangeInclusive<u64> = 50..=60_000;

/// What a connection's own timers deliver to its `info` clauses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Time to push the next price.
    Price,
    /// The session the client asked for (`?for=SECONDS`) is over.
    Expire,
}

/// One subscriber: its symbol, its simulated price and its timer.
#[derive(Debug)]
pub(crate) struct Ticker {
    symbol: String,
    /// The price in cents.
    cents: u64,
    every: Duration,
    lasts: Option<Duration>,
    /// The pending price timer; `None` while paused.
    timer: Option<Timer>,
    /// State of the pseudo-random walk (xorshift64).
    seed: u64,
}

impl Ticker {
    /// A ticker for `symbol` at 100.00, its walk seeded by the symbol, so a
    /// symbol always starts the same way.
    pub(crate) fn new(symbol: &str, every: Duration) -> Ticker {
        let hash = symbol.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        Ticker {
            symbol: symbol.to_owned(),
            cents: 10_000,
            every,
            lasts: None,
            timer: None,
            seed: hash | 1,
        }
    }

    /// Moves the price by up to 0.50 either way, never below 0.01.
    fn step(&mut self) -> u64 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let delta = self.seed % 101; // 0..=100 cents, 50 is no change
        self.cents = (self.cents + delta).saturating_sub(50).max(1);
        self.cents
    }

    /// The next price line, as the client sees it.
    pub(crate) fn quote(&mut self) -> String {
        let cents = self.step();
        format!("{} {}.{:02}", self.symbol, cents / 100, cents % 100)
    }

    fn schedule(&mut self, ctx: &mut Ctx<Tick>) {
        self.timer = Some(ctx.send_after(self.every, Tick::Price));
    }
}

/// Parses a period in milliseconds, within [`PERIOD_MS`].
fn period(ms: &str) -> Option<Duration> {
    let ms: u64 = ms.trim().parse().ok()?;
    PERIOD_MS.contains(&ms).then(|| Duration::from_millis(ms))
}

#[websocket_handler(info = Tick)]
impl Ticker {
    async fn init(req: &Request) -> Init<Self> {
        let symbol = req.query("symbol").unwrap_or("LRT".into()).to_uppercase();
        if symbol.is_empty()
            || symbol.len() > 8
            || !symbol.chars().all(|c| c.is_ascii_alphanumeric())
        {
            return Init::reject(Response::new(400).body("symbol: 1 to 8 letters or digits"));
        }
        let every = match req.query("every") {
            None => Duration::from_millis(500),
            Some(ms) => match period(&ms) {
                Some(every) => every,
                None => return Init::reject(Response::new(400).body("every: 50 to 60000 ms")),
            },
        };
        let mut ticker = Ticker::new(&symbol, every);
        ticker.lasts = req
            .query("for")
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs);
        // Listeners may never send anything: wait a long time for data.
        Init::upgrade(ticker).idle_timeout(Duration::from_secs(3600))
    }

    fn open(&mut self, ctx: &mut Ctx<Tick>) -> Reply {
        self.schedule(ctx);
        if let Some(lasts) = self.lasts {
            ctx.send_after(lasts, Tick::Expire);
        }
        Reply::text(format!(
            "ticking {} every {} ms",
            self.symbol,
            self.every.as_millis()
        ))
    }

    #[frame(Text("pause"))]
    fn pause(&mut self, ctx: &mut Ctx<Tick>) -> Reply {
        // A cancelled timer never reaches `info`.
        if let Some(timer) = self.timer.take() {
            ctx.cancel_timer(timer);
        }
        Reply::text("paused")
    }

    #[frame(Text("resume"))]
    fn resume(&mut self, ctx: &mut Ctx<Tick>) -> Reply {
        if self.timer.is_none() {
            self.schedule(ctx);
        }
        Reply::text("resumed")
    }

    #[frame(Text(cmd) if cmd.starts_with("every "))]
    fn every(&mut self, cmd: &str, ctx: &mut Ctx<Tick>) -> Reply {
        let Some(every) = period(cmd.trim_start_matches("every ")) else {
            return Reply::text("every: 50 to 60000 ms");
        };
        self.every = every;
        // Restart a running timer so the new period applies at once.
        if let Some(timer) = self.timer.take() {
            ctx.cancel_timer(timer);
            self.schedule(ctx);
        }
        Reply::text(format!("every {} ms", every.as_millis()))
    }

    #[frame(Text(_))]
    fn help(&mut self) -> Reply {
        Reply::text("commands: pause, resume, every MS")
    }

    #[info(Tick::Price)]
    fn price(&mut self, ctx: &mut Ctx<Tick>) -> Reply {
        self.schedule(ctx);
        Reply::text(self.quote())
    }

    #[info(Tick::Expire)]
    fn expire(&mut self) -> Reply {
        Reply::close(close!(1000, "session over"))
    }
}

/// The ticker server on `addr`, ready to serve.
pub(crate) async fn server(addr: &str) -> std::io::Result<Server> {
    Ok(Server::bind(addr)
        .await?
        .route("/ticker", Ticker::handler()))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let server = server(&addr).await?;
    println!("ticker: ws://{}/ticker?symbol=LRT", server.local_addr()?);
    server
        .serve_with_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
