//! Plain TCP echo server (no WebSocket): the "raw TCP echo" column, the
//! machine's limit for an echo on one core. Single-threaded tokio.
//!
//! ```sh
//! server_raw_tcp 127.0.0.1:0   # prints `listening 127.0.0.1:PORT`
//! ```

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn echo(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = stream.read(&mut buf).await?;
        let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
            return Ok(());
        };
        stream.write_all(data).await?;
    }
}

fn main() -> std::io::Result<()> {
    bench::serve_each(|stream| async move {
        let _ = echo(stream).await;
    })
}
