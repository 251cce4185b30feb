//! The echo server: every text and binary message comes back unchanged.
//!
//! It is the target of the conformance suite and the benchmarks, so its
//! address argument and behaviour stay stable:
//!
//! ```sh
//! cargo run --release --example echo -- 127.0.0.1:9001
//! ```
//!
//! Poke it from another terminal with any WebSocket client, on any path:
//!
//! ```sh
//! websocat ws://127.0.0.1:9001/anything
//! ```
//!
//! or from a browser console:
//!
//! ```js
//! const ws = new WebSocket("ws://127.0.0.1:9001/");
//! ws.onmessage = (e) => console.log(e.data);
//! ws.onopen = () => ws.send("hello");
//! ```
//!
//! permessage-deflate is accepted when offered. Limits are raised so 16 MiB
//! messages pass. Pings are answered by the
//! runtime; close frames end in `terminate`.

use lariat::Config;
use lariat::prelude::*;

/// The largest message the echo server takes: 16 MiB.
const MAX_MESSAGE: usize = 16 << 20;

/// One connection of the echo server: no state at all.
struct Echo;

impl Handler for Echo {
    type Info = lariat::Never;

    async fn init(_req: &Request) -> Init<Self> {
        Init::upgrade(Echo)
            .compress(true)
            .max_frame_size(MAX_MESSAGE)
            .max_message_size(MAX_MESSAGE)
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Self::Info>) -> Reply {
        match frame {
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            // Pings were answered with pongs by the runtime already.
            _ => Reply::ok(),
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    let server = Server::bind(&addr).await?;
    println!("echo: ws://{}/ (any path)", server.local_addr()?);
    server
        .config(Config {
            max_frame_size: MAX_MESSAGE,
            max_message_size: MAX_MESSAGE,
            ..Config::default()
        })
        .route_any(Echo::handler())
        .serve_with_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}
