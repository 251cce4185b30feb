//! tokio-tungstenite echo server for the benchmarks, written as a user who
//! cares about throughput would: replies are `feed`-ed while more messages
//! are already decoded and waiting, and flushed once when the reader would
//! wait, so pipelined messages share one write. Limits raised to 16 MiB;
//! single-threaded tokio.
//!
//! ```sh
//! server_tungstenite 127.0.0.1:0   # prints `listening 127.0.0.1:PORT`
//! ```

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const MAX_MESSAGE: usize = 16 << 20;

async fn echo(stream: TcpStream) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    stream.set_nodelay(true)?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let mut ws = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await?;
    while let Some(msg) = ws.next().await {
        let mut msg = Some(msg?);
        // Echo this message and every one already readable, then flush once.
        while let Some(m) = msg.take() {
            if m.is_text() || m.is_binary() {
                ws.feed(m).await?;
            }
            // Pings are answered and closes replied to by tungstenite.
            match ws.next().now_or_never() {
                Some(Some(next)) => msg = Some(next?),
                Some(None) => return ws.flush().await,
                None => {}
            }
        }
        ws.flush().await?;
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    bench::serve_each(|stream| async move {
        let _ = echo(stream).await;
    })
}
