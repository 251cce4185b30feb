//! Typed JSON messages with serde: a small key-value store per connection.
//!
//! ```sh
//! cargo run --example json                  # ws://127.0.0.1:8082/json
//! cargo run --example json -- 127.0.0.1:0   # any free port
//! ```
//!
//! Every text message is one command, a JSON object tagged by `type`
//! (`#[serde(tag = "type")]`), and every answer is one JSON object:
//!
//! ```sh
//! websocat ws://127.0.0.1:8082/json           <- {"type":"hello","commands":[..]}
//! {"type":"set","key":"a","value":[1,2,3]}    -> {"type":"stored","key":"a","replaced":false}
//! {"type":"get","key":"a"}                    -> {"type":"value","key":"a","value":[1,2,3]}
//! {"type":"add","numbers":[1,2.5]}            -> {"type":"sum","total":3.5}
//! {"type":"keys"}                             -> {"type":"keys","keys":["a"]}
//! {"type":"delete","key":"a"}                 -> {"type":"deleted","key":"a","existed":true}
//! {"type":"bye"}                              -> close 1000 "bye"
//! ```
//!
//! Mistakes end the connection with a close code that says which:
//! text that is not JSON closes with 1007 (invalid payload data), JSON that
//! is not a known command with the private code 4400 and serde's message as
//! the reason, a binary message with 1003 (no clause matches it). In a
//! browser console:
//!
//! ```js
//! const ws = new WebSocket("ws://127.0.0.1:8082/json");
//! ws.onmessage = (e) => console.log(JSON.parse(e.data));
//! ws.onclose = (e) => console.log("closed", e.code, e.reason);
//! ws.onopen = () => ws.send(JSON.stringify({ type: "add", numbers: [1, 2] }));
//! ```

use std::collections::BTreeMap;

use lariat::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The private close code for JSON that is not a known command.
const BAD_COMMAND: CloseCode = close!(4400);

/// At most this many keys per connection.
const MAX_KEYS: usize = 1000;

/// What a client may ask, one JSON object per text message.
#[derive(Debug, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Command {
    /// Store a JSON value under a key.
    Set { key: String, value: Value },
    /// Read a key.
    Get { key: String },
    /// Remove a key.
    Delete { key: String },
    /// List the keys, in order. (`{}`: so unknown fields are refused here too.)
    Keys {},
    /// Add numbers up.
    Add { numbers: Vec<f64> },
    /// Close the connection.
    Bye {},
}

/// What the server answers, one JSON object per text message.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Answer<'a> {
    Hello {
        commands: &'a [&'a str],
    },
    Stored {
        key: &'a str,
        replaced: bool,
    },
    Value {
        key: &'a str,
        value: Option<&'a Value>,
    },
    Deleted {
        key: &'a str,
        existed: bool,
    },
    Keys {
        keys: Vec<&'a str>,
    },
    Sum {
        total: f64,
    },
    Full {
        limit: usize,
    },
}

impl Answer<'_> {
    fn reply(&self) -> Reply {
        match serde_json::to_string(self) {
            Ok(json) => Reply::text(json),
            // These plain values always serialize; should one not, say so.
            Err(_) => Reply::text(r#"{"type":"error"}"#),
        }
    }
}

/// One connection's store.
#[derive(Debug, Default)]
pub(crate) struct Store {
    values: BTreeMap<String, Value>,
}

/// A close frame for JSON that is not a command, with serde's reason cut to
/// what fits in a close frame.
fn bad_command(error: &serde_json::Error) -> CloseFrame {
    let mut reason = error.to_string();
    while reason.len() > 123 {
        reason.pop();
    }
    CloseFrame::try_new(BAD_COMMAND, reason).unwrap_or_else(|_| CloseFrame::new(BAD_COMMAND))
}

#[websocket_handler]
impl Store {
    async fn init(_req: &Request) -> Init<Self> {
        Init::upgrade(Store::default()).max_message_size(64 * 1024)
    }

    fn open(&mut self) -> Reply {
        Answer::Hello {
            commands: &["set", "get", "delete", "keys", "add", "bye"],
        }
        .reply()
    }

    // Only text clauses: a binary message matches none and closes with 1003.
    #[frame(Text(text))]
    fn command(&mut self, text: &str) -> Reply {
        // Two steps tell the mistakes apart: not JSON at all, or not a command.
        let json: Value = match serde_json::from_str(text) {
            Ok(json) => json,
            Err(_) => return Reply::close(close!(1007, "invalid JSON")),
        };
        match Command::deserialize(json) {
            Ok(command) => self.run(command),
            Err(error) => Reply::close(bad_command(&error)),
        }
    }

    /// Runs one command: an ordinary method, no clause.
    pub(crate) fn run(&mut self, command: Command) -> Reply {
        match command {
            Command::Set { key, value } => {
                if self.values.len() >= MAX_KEYS && !self.values.contains_key(&key) {
                    return Answer::Full { limit: MAX_KEYS }.reply();
                }
                let replaced = self.values.insert(key.clone(), value).is_some();
                Answer::Stored {
                    key: &key,
                    replaced,
                }
                .reply()
            }
            Command::Get { key } => Answer::Value {
                key: &key,
                value: self.values.get(&key),
            }
            .reply(),
            Command::Delete { key } => {
                let existed = self.values.remove(&key).is_some();
                Answer::Deleted { key: &key, existed }.reply()
            }
            Command::Keys {} => Answer::Keys {
                keys: self.values.keys().map(String::as_str).collect(),
            }
            .reply(),
            Command::Add { numbers } => Answer::Sum {
                total: numbers.iter().sum(),
            }
            .reply(),
            Command::Bye {} => Reply::close(close!(1000, "bye")),
        }
    }
}

/// The JSON server on `addr`, ready to serve.
pub(crate) async fn server(addr: &str) -> std::io::Result<Server> {
    Ok(Server::bind(addr).await?.route("/json", Store::handler()))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8082".to_owned());
    let server = server(&addr).await?;
    println!("json: ws://{}/json", server.local_addr()?);
    server
        .serve_with_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
