//! Graceful shutdown: on Ctrl-C every client gets close 1001 "going away"
//! and every handler's `terminate` sees `Terminate::Shutdown`.
//!
//! ```sh
//! cargo run --example shutdown                  # ws://127.0.0.1:8086/
//! cargo run --example shutdown -- 127.0.0.1:0   # any free port
//! ```
//!
//! Connect a few clients (any path), then press Ctrl-C in the server's
//! terminal:
//!
//! ```sh
//! websocat ws://127.0.0.1:8086/    # type lines: they come back; then Ctrl-C the server
//! ```
//!
//! `serve_with_shutdown(signal)` stops accepting when `signal` completes
//! (here `tokio::signal::ctrl_c()`), sends 1001 to every connection, waits
//! up to `Config::close_timeout` for the clients' closing handshakes, and
//! returns. Each handler's `terminate` prints its reason, `Shutdown`, and
//! the server prints how many connections it closed. In a browser console:
//!
//! ```js
//! const ws = new WebSocket("ws://127.0.0.1:8086/");
//! ws.onmessage = (e) => console.log(e.data);
//! ws.onclose = (e) => console.log("closed", e.code);   // 1001 after Ctrl-C
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lariat::prelude::*;

/// What the server counts, shared by every connection.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    opened: AtomicU64,
    /// Connections whose `terminate` saw `Terminate::Shutdown`.
    shut_down: AtomicU64,
}

impl Tally {
    /// Connections that ended with `Terminate::Shutdown`.
    pub(crate) fn shut_down(&self) -> u64 {
        self.shut_down.load(Ordering::Relaxed)
    }
}

/// One client: echoed until the server goes away.
#[derive(Debug)]
pub(crate) struct Client {
    id: u64,
    tally: Arc<Tally>,
}

#[websocket_handler]
impl Client {
    async fn init(req: &Request) -> Init<Self> {
        let tally: &Arc<Tally> = req.state();
        let id = tally.opened.fetch_add(1, Ordering::Relaxed) + 1;
        Init::upgrade(Client {
            id,
            tally: tally.clone(),
        })
    }

    fn open(&mut self) -> Reply {
        Reply::text(format!(
            "connection {}: lines come back until the server stops",
            self.id
        ))
    }

    #[frame(Text(text))]
    fn echo(&mut self, text: Text) -> Reply {
        Reply::text(text)
    }

    /// Called once per connection; a graceful shutdown says `Shutdown`.
    fn terminate(&mut self, reason: &Terminate) {
        if matches!(reason, Terminate::Shutdown) {
            self.tally.shut_down.fetch_add(1, Ordering::Relaxed);
        }
        eprintln!("connection {} ended: {reason:?}", self.id);
    }
}

/// The server on `addr`, counting into `tally`, ready to serve.
pub(crate) async fn server(addr: &str, tally: Arc<Tally>) -> std::io::Result<Server> {
    Ok(Server::bind(addr)
        .await?
        .state(tally)
        .route_any(Client::handler()))
}

/// Serves until `signal`, then closes every connection with 1001 and
/// returns how many ended with `Terminate::Shutdown`.
pub(crate) async fn run(
    server: Server,
    tally: Arc<Tally>,
    signal: impl Future<Output = ()>,
) -> std::io::Result<u64> {
    server
        .serve_with_shutdown(async {
            signal.await;
            eprintln!("shutting down: closing every connection with 1001");
        })
        .await?;
    Ok(tally.shut_down())
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8086".to_owned());
    let tally = Arc::new(Tally::default());
    let server = server(&addr, tally.clone()).await?;
    println!("shutdown: ws://{}/ (Ctrl-C to stop)", server.local_addr()?);
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let closed = run(server, tally, ctrl_c).await?;
    println!("stopped: {closed} connections closed with 1001 going away");
    Ok(())
}
