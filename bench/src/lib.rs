//! What the benchmark's echo servers share: the address they listen on (the
//! first argument, `127.0.0.1:9001` by default), one tokio thread so the
//! server can be pinned to one core, and the `listening ADDR` line
//! `run.sh` waits for.

use std::future::Future;
use std::io::{self, Write as _};
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};

/// The address to listen on: the first argument, or `127.0.0.1:9001`.
pub fn listen_arg() -> String {
    std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned())
}

/// Tells `run.sh` where the server listens.
pub fn announce(addr: SocketAddr) -> io::Result<()> {
    println!("listening {addr}");
    io::stdout().flush()
}

/// Runs `server` on a single-threaded tokio runtime.
pub fn on_one_thread(server: impl Future<Output = io::Result<()>>) -> io::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(server)
}

/// Listens on [`listen_arg`] and runs `serve` on each accepted connection
/// in a task of its own, on one thread; returns only on an accept error.
pub fn serve_each<F, Fut>(serve: F) -> io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let addr = listen_arg();
    on_one_thread(async {
        let listener = TcpListener::bind(&addr).await?;
        announce(listener.local_addr()?)?;
        loop {
            let (stream, _) = listener.accept().await?;
            tokio::spawn(serve(stream));
        }
    })
}
