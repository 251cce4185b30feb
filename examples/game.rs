//! Guess the number: a multi-phase protocol (lobby → playing → finished)
//! written as clauses guarded on the handler's own state.
//!
//! ```sh
//! cargo run --example game                  # ws://127.0.0.1:8084/game
//! cargo run --example game -- 127.0.0.1:0   # any free port
//! ```
//!
//! Each connection is one player and one state machine. The same text means
//! different things in different phases, so the clauses carry guards on
//! `self`, like `#[frame(Text(cmd) if self.phase == Phase::Playing &&
//! cmd.starts_with("guess "))]`; a command that fits no phase falls through
//! to a last clause that says what the phase allows.
//!
//! | phase | commands |
//! |---|---|
//! | lobby | `join NAME`, then `start` |
//! | playing | `guess N` (1 to 100, 7 tries, 60 seconds) |
//! | finished | `again` (a new round), `quit` |
//!
//! `quit` works in every phase (close 1000 "bye"). A `send_after` timer ends
//! a round after 60 seconds; its `#[info]` clause is guarded too, so the
//! timer of a round already won is ignored. `?seed=N` makes the numbers
//! repeatable. Play it:
//!
//! ```sh
//! websocat ws://127.0.0.1:8084/game
//! join ada
//! start
//! guess 50
//! ```
//!
//! or in a browser console:
//!
//! ```js
//! const ws = new WebSocket("ws://127.0.0.1:8084/game");
//! ws.onmessage = (e) => console.log(e.data);
//! ws.onopen = () => ["join ada", "start", "guess 50"].forEach((c) => ws.send(c));
//! ```

use lariat::prelude::*;

/// The numbers to guess from.
const RANGE: std::ops::RangeInclusive<u32> = 1..=100;
/// Guesses per round.
const TRIES: u32 = 7;
/// Time per round.
const ROUND_TIME: Duration = Duration::from_secs(60);

/// Where a player is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Connected: pick a name, then start.
    Lobby,
    /// A round is on: guess.
    Playing,
    /// The round is over, won or lost: again or quit.
    Finished,
}

/// What a player's timers deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    /// The time of round `n` is up.
    TimeUp(u32),
}

/// One player.
#[derive(Debug)]
pub(crate) struct Game {
    pub(crate) phase: Phase,
    name: String,
    secret: u32,
    tries: u32,
    /// Rounds started so far; the current one's number.
    round: u32,
    wins: u32,
    /// State of the pseudo-random numbers (xorshift64).
    seed: u64,
}

impl Game {
    pub(crate) fn new(seed: u64) -> Game {
        Game {
            phase: Phase::Lobby,
            name: String::new(),
            secret: 0,
            tries: 0,
            round: 0,
            wins: 0,
            seed: seed | 1,
        }
    }

    fn next_secret(&mut self) -> u32 {
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let span = u64::from(RANGE.end() - RANGE.start() + 1);
        // The remainder is below 100, so it fits.
        RANGE.start() + u32::try_from(self.seed % span).unwrap_or(0)
    }

    /// Starts a round: a new number, a new timer.
    fn new_round(&mut self, ctx: &mut Ctx<Round>) -> Reply {
        self.phase = Phase::Playing;
        self.secret = self.next_secret();
        self.tries = 0;
        self.round += 1;
        ctx.send_after(ROUND_TIME, Round::TimeUp(self.round));
        Reply::text(format!(
            "round {}: guess my number from {} to {}, {TRIES} tries, {} seconds",
            self.round,
            RANGE.start(),
            RANGE.end(),
            ROUND_TIME.as_secs()
        ))
    }

    fn finish(&mut self, outcome: String) -> Reply {
        self.phase = Phase::Finished;
        Reply::text(format!(
            "{outcome}; {} won {} of {} rounds; say again or quit",
            self.name, self.wins, self.round
        ))
    }
}

#[websocket_handler(info = Round)]
impl Game {
    async fn init(req: &Request) -> Init<Self> {
        let seed = match req.query("seed") {
            Some(seed) => match seed.parse() {
                Ok(seed) => seed,
                Err(_) => return Init::reject(Response::new(400).body("seed: a number")),
            },
            // Not cryptographic, and need not be: it is a guessing game.
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |t| t.as_nanos() as u64),
        };
        Init::upgrade(Game::new(seed)).idle_timeout(Duration::from_secs(300))
    }

    fn open(&mut self) -> Reply {
        Reply::text("lobby: join NAME, then start")
    }

    #[frame(Text("quit"))]
    fn quit(&mut self) -> Reply {
        Reply::close(close!(1000, "bye"))
    }

    #[frame(Text(cmd) if self.phase == Phase::Lobby && cmd.starts_with("join "))]
    fn join(&mut self, cmd: &str) -> Reply {
        let name = cmd.trim_start_matches("join ").trim();
        if name.is_empty() || name.chars().count() > 24 {
            return Reply::text("a name has 1 to 24 characters");
        }
        self.name = name.to_owned();
        Reply::text(format!("welcome {name}; say start"))
    }

    #[frame(Text("start") if self.phase == Phase::Lobby && !self.name.is_empty())]
    fn start(&mut self, ctx: &mut Ctx<Round>) -> Reply {
        self.new_round(ctx)
    }

    #[frame(Text(cmd) if self.phase == Phase::Playing && cmd.starts_with("guess "))]
    fn guess(&mut self, cmd: &str) -> Reply {
        let Some(n) = cmd
            .trim_start_matches("guess ")
            .trim()
            .parse()
            .ok()
            .filter(|n| RANGE.contains(n))
        else {
            return Reply::text(format!(
                "guess a number from {} to {}",
                RANGE.start(),
                RANGE.end()
            ));
        };
        self.tries += 1;
        let left = TRIES - self.tries;
        if n == self.secret {
            self.wins += 1;
            let tries = self.tries;
            self.finish(format!("{n} is right, found in {tries} tries"))
        } else if left == 0 {
            let secret = self.secret;
            self.finish(format!(
                "{n} is wrong and no tries are left: it was {secret}"
            ))
        } else if n < self.secret {
            Reply::text(format!("{n} is too low, {left} tries left"))
        } else {
            Reply::text(format!("{n} is too high, {left} tries left"))
        }
    }

    #[frame(Text("again") if self.phase == Phase::Finished)]
    fn again(&mut self, ctx: &mut Ctx<Round>) -> Reply {
        self.new_round(ctx)
    }

    /// Anything else: say what this phase allows.
    #[frame(Text(cmd))]
    fn out_of_phase(&mut self, cmd: &str) -> Reply {
        let (phase, allowed) = match self.phase {
            Phase::Lobby if self.name.is_empty() => ("in the lobby", "join NAME"),
            Phase::Lobby => ("in the lobby", "start"),
            Phase::Playing => ("while playing", "guess N"),
            Phase::Finished => ("after a round", "again, quit"),
        };
        let mut cmd = cmd.to_owned();
        if cmd.chars().count() > 32 {
            cmd = cmd.chars().take(32).collect::<String>() + "…";
        }
        Reply::text(format!("`{cmd}` does not work {phase}; say {allowed}"))
    }

    /// The timer of the round being played: time is up.
    #[info(Round::TimeUp(round) if self.phase == Phase::Playing && round == self.round)]
    fn time_up(&mut self, round: u32) -> Reply {
        let secret = self.secret;
        self.finish(format!("time is up in round {round}: it was {secret}"))
    }

    /// The timer of a round that is over already.
    #[info(Round::TimeUp(_))]
    fn stale_timer(&mut self) -> Reply {
        Reply::ok()
    }
}

/// The game server on `addr`, ready to serve.
pub(crate) async fn server(addr: &str) -> std::io::Result<Server> {
    Ok(Server::bind(addr).await?.route("/game", Game::handler()))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8084".to_owned());
    let server = server(&addr).await?;
    println!("game: ws://{}/game", server.local_addr()?);
    server
        .serve_with_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
