//! The browser chat room: one HTML page and the WebSocket on one port.
//!
//! ```sh
//! cargo run --release --example chat
//! ```
//!
//! then open http://127.0.0.1:8080 in two browser windows, pick nicknames and
//! talk. From a terminal, `websocat "ws://127.0.0.1:8080/chat?nick=bob"` joins
//! too: type a line to say it, `/nick NAME` to rename, `/quit` to leave.
//!
//! It shows: `#[websocket_handler]` clauses tried top to bottom (a literal,
//! a guard, a catch-all; binary messages match none and are closed with
//! 1003), `init` refusing a bad or taken nickname with plain HTTP (400, 409),
//! a `Topic` fanning every line out to the room, `#[info]` clauses relaying
//! what others said, join and leave notices and a user list, compression,
//! and hibernation between messages so idle members cost little memory.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use lariat::prelude::*;
use lariat::{Config, Topic};
use serde::Serialize;

/// What the rest of the room tells one member's connection.
#[derive(Clone, Debug)]
enum Notice {
    Said { from: String, text: String },
    Joined(String),
    Left(String),
    Renamed { from: String, to: String },
}

/// What the page receives, one JSON object per text message.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Event<'a> {
    Welcome { nick: &'a str, users: Vec<String> },
    Said { from: &'a str, text: &'a str },
    Joined { nick: &'a str },
    Left { nick: &'a str },
    Renamed { from: &'a str, to: &'a str },
    Error { text: &'a str },
}

impl Event<'_> {
    fn reply(&self) -> Reply {
        // Serializing these plain structs cannot fail.
        Reply::text(serde_json::to_string(self).unwrap_or_default())
    }
}

/// The room: who is here, and the topic everyone is subscribed to.
struct Room {
    topic: Topic<Notice>,
    members: Mutex<BTreeSet<String>>,
}

impl Room {
    fn members(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The longest nickname, in characters.
const MAX_NICK: usize = 24;

/// Why a nickname cannot be used, or `None` when it can.
fn invalid_nick(nick: &str) -> Option<&'static str> {
    if nick.is_empty() {
        Some("a nickname is required: ?nick=NAME")
    } else if nick.chars().count() > MAX_NICK {
        Some("a nickname has at most 24 characters")
    } else if nick.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("a nickname has no spaces or control characters")
    } else {
        None
    }
}

/// One member's connection.
struct Chat {
    nick: String,
    room: &'static Room,
}

#[websocket_handler(info = Notice)]
impl Chat {
    /// The upgrade request: a valid nickname nobody in the room uses.
    async fn init(req: &Request) -> Init<Self> {
        let room: &&'static Room = req.state();
        let nick = req.query("nick").unwrap_or_default().trim().to_owned();
        if let Some(problem) = invalid_nick(&nick) {
            return Init::reject(Response::new(400).body(problem));
        }
        if !room.members().insert(nick.clone()) {
            return Init::reject(Response::new(409).body("that nickname is taken"));
        }
        Init::upgrade(Chat { nick, room })
            .compress(true)
            .idle_timeout(Duration::from_secs(300))
            .max_message_size(4096)
    }

    fn open(&mut self, ctx: &mut Ctx<Notice>) -> Reply {
        // Tell the others first, then listen: nobody hears their own join.
        self.room.topic.publish(Notice::Joined(self.nick.clone()));
        self.room.topic.subscribe(ctx.addr());
        let users = self.room.members().iter().cloned().collect();
        Event::Welcome {
            nick: &self.nick,
            users,
        }
        .reply()
        .hibernate()
    }

    #[frame(Text("/quit"))]
    fn quit(&mut self) -> Reply {
        Reply::close(close!(1000, "bye"))
    }

    #[frame(Text(cmd) if cmd.starts_with("/nick "))]
    fn rename(&mut self, cmd: &str) -> Reply {
        let to = cmd["/nick ".len()..].trim();
        if let Some(problem) = invalid_nick(to) {
            return Event::Error { text: problem }.reply();
        }
        if !self.room.members().insert(to.to_owned()) {
            return Event::Error {
                text: "that nickname is taken",
            }
            .reply();
        }
        self.room.members().remove(&self.nick);
        let from = std::mem::replace(&mut self.nick, to.to_owned());
        self.room.topic.publish(Notice::Renamed {
            from,
            to: to.to_owned(),
        });
        Reply::ok().hibernate()
    }

    #[frame(Text(text))]
    fn say(&mut self, text: &str) -> Reply {
        let text = text.trim();
        if !text.is_empty() {
            self.room.topic.publish(Notice::Said {
                from: self.nick.clone(),
                text: text.to_owned(),
            });
        }
        Reply::ok().hibernate()
    }

    #[info(Notice::Said { from, text })]
    fn relay(&mut self, from: String, text: String) -> Reply {
        Event::Said {
            from: &from,
            text: &text,
        }
        .reply()
        .hibernate()
    }

    #[info(Notice::Joined(nick))]
    fn joined(&mut self, nick: String) -> Reply {
        Event::Joined { nick: &nick }.reply().hibernate()
    }

    #[info(Notice::Left(nick))]
    fn left(&mut self, nick: String) -> Reply {
        Event::Left { nick: &nick }.reply().hibernate()
    }

    #[info(Notice::Renamed { from, to })]
    fn renamed(&mut self, from: String, to: String) -> Reply {
        Event::Renamed {
            from: &from,
            to: &to,
        }
        .reply()
        .hibernate()
    }

    /// Always called once: leave the room.
    fn terminate(&mut self, reason: &Terminate) {
        self.room.members().remove(&self.nick);
        self.room.topic.publish(Notice::Left(self.nick.clone()));
        tracing::info!(nick = %self.nick, ?reason, "left the room");
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    // The room lives as long as the server: leak it once, share `&'static`.
    let room: &'static Room = Box::leak(Box::new(Room {
        topic: Topic::new(),
        members: Mutex::new(BTreeSet::new()),
    }));
    let server = Server::bind(&addr).await?;
    println!("chat: open http://{}/ in a browser", server.local_addr()?);
    server
        .config(Config::default())
        .state(room)
        .page("/", include_str!("index.html"))
        .route("/chat", Chat::handler())
        .serve_with_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
