//! Authentication in `init`: 401 without a good token, a subprotocol the
//! client offered, and private close codes.
//!
//! ```sh
//! cargo run --example auth                  # ws://127.0.0.1:8083/auth
//! cargo run --example auth -- 127.0.0.1:0   # any free port
//! ```
//!
//! `init` runs on the upgrade request, before any WebSocket exists. It
//! looks for a token in `Authorization: Bearer TOKEN` or, since browsers
//! cannot set headers on a WebSocket, in `?token=TOKEN`, and answers plain
//! HTTP 401 with a `WWW-Authenticate` header when it is missing or unknown.
//! The demo tokens are `ada-secret` (valid for an hour) and `eve-short`
//! (valid for 30 seconds: wait for the private close code 4001 "token
//! expired", set with a `send_after` timer and an `#[info]` clause).
//!
//! The server speaks two subprotocols, `lariat.v2` (JSON answers) and
//! `lariat.v1` (plain text), and picks the first of those, in that order,
//! that the client offered (`Request::protocols`, `Init::protocol`); a
//! client that offers neither is refused with 400, one that offers none
//! gets v1. Commands: `whoami`, `logout` (close 4000 "logged out").
//!
//! ```sh
//! curl -i http://127.0.0.1:8083/auth -H 'Upgrade: websocket' -H 'Connection: Upgrade' \
//!      -H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=='
//!                                                      # 401 Unauthorized
//! websocat -H 'Authorization: Bearer ada-secret' --protocol lariat.v2 ws://127.0.0.1:8083/auth
//! websocat "ws://127.0.0.1:8083/auth?token=eve-short"  # closed with 4001 after 30 s
//! ```
//!
//! In a browser console:
//!
//! ```js
//! const ws = new WebSocket("ws://127.0.0.1:8083/auth?token=ada-secret", ["lariat.v2", "lariat.v1"]);
//! ws.onopen = () => { console.log("protocol", ws.protocol); ws.send("whoami"); };
//! ws.onmessage = (e) => console.log(e.data);
//! ws.onclose = (e) => console.log("closed", e.code, e.reason);
//! ```

use lariat::prelude::*;

/// The subprotocols the server speaks, the one it prefers first.
pub(crate) const PROTOCOLS: [&str; 2] = ["lariat.v2", "lariat.v1"];

/// An account the demo knows: the token that proves it, and how long a
/// session with that token lasts.
#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) token: &'static str,
    pub(crate) user: &'static str,
    pub(crate) lifetime: Duration,
}

/// The demo's accounts. A real server would check a signed token or ask a
/// session store.
pub(crate) const ACCOUNTS: [Account; 2] = [
    Account {
        token: "ada-secret",
        user: "ada",
        lifetime: Duration::from_secs(3600),
    },
    Account {
        token: "eve-short",
        user: "eve",
        lifetime: Duration::from_secs(30),
    },
];

/// What the connection's timer tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Clock {
    /// The token's lifetime is over.
    Expired,
}

/// Which subprotocol the connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `lariat.v1`, or no subprotocol: plain text.
    V1,
    /// `lariat.v2`: JSON.
    V2,
}

/// One authenticated connection.
#[derive(Debug)]
pub(crate) struct Authed {
    account: &'static Account,
    dialect: Dialect,
}

/// The token of a request: the `Authorization: Bearer` header, else `?token=`.
fn token(req: &Request) -> Option<String> {
    let header = req
        .header("authorization")
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| token.trim().to_owned());
    header.or_else(|| req.query("token").map(|token| token.into_owned()))
}

/// A 401 answer; `error` follows RFC 6750 §3 when a token was given.
fn unauthorized(error: Option<&str>, body: &'static str) -> Response {
    let challenge = match error {
        Some(error) => format!(r#"Bearer realm="lariat", error="{error}""#),
        None => r#"Bearer realm="lariat""#.to_owned(),
    };
    Response::new(401)
        .header("WWW-Authenticate", challenge)
        .body(body)
}

#[websocket_handler(info = Clock)]
impl Authed {
    async fn init(req: &Request) -> Init<Self> {
        let Some(token) = token(req) else {
            return Init::reject(unauthorized(
                None,
                "a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN",
            ));
        };
        let Some(account) = ACCOUNTS.iter().find(|a| a.token == token) else {
            return Init::reject(unauthorized(Some("invalid_token"), "unknown token"));
        };
        // Answer with a subprotocol only if the client offered it.
        let offered = req.protocols();
        let chosen = PROTOCOLS
            .into_iter()
            .find(|ours| offered.iter().any(|theirs| theirs == ours));
        match chosen {
            None if offered.is_empty() => Init::upgrade(Authed {
                account,
                dialect: Dialect::V1,
            }),
            None => Init::reject(
                Response::new(400).body("subprotocols spoken here: lariat.v2, lariat.v1"),
            ),
            Some(protocol) => {
                let dialect = if protocol == "lariat.v2" {
                    Dialect::V2
                } else {
                    Dialect::V1
                };
                Init::upgrade(Authed { account, dialect }).protocol(protocol)
            }
        }
    }

    fn open(&mut self, ctx: &mut Ctx<Clock>) -> Reply {
        ctx.send_after(self.account.lifetime, Clock::Expired);
        let protocol = ctx.meta().protocol.as_deref().unwrap_or("none");
        match self.dialect {
            Dialect::V1 => Reply::text(format!("hello {}, protocol {protocol}", self.account.user)),
            Dialect::V2 => Reply::text(format!(
                r#"{{"hello":"{}","protocol":"{protocol}"}}"#,
                self.account.user
            )),
        }
    }

    #[frame(Text("whoami"))]
    fn whoami(&mut self) -> Reply {
        let user = self.account.user;
        let lifetime = self.account.lifetime.as_secs();
        match self.dialect {
            Dialect::V1 => Reply::text(format!("{user} (token valid {lifetime} s)")),
            Dialect::V2 => Reply::text(format!(r#"{{"user":"{user}","lifetime":{lifetime}}}"#)),
        }
    }

    #[frame(Text("logout"))]
    fn logout(&mut self) -> Reply {
        Reply::close(close!(4000, "logged out"))
    }

    #[frame(Text(_))]
    fn help(&mut self) -> Reply {
        Reply::text("commands: whoami, logout")
    }

    #[info(Clock::Expired)]
    fn expired(&mut self) -> Reply {
        Reply::close(close!(4001, "token expired"))
    }

    fn terminate(&mut self, reason: &Terminate) {
        tracing::info!(user = self.account.user, ?reason, "session ended");
    }
}

/// The auth server on `addr`, ready to serve.
pub(crate) async fn server(addr: &str) -> std::io::Result<Server> {
    Ok(Server::bind(addr).await?.route("/auth", Authed::handler()))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8083".to_owned());
    let server = server(&addr).await?;
    println!("auth: ws://{}/auth?token=ada-secret", server.local_addr()?);
    server
        .serve_with_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
