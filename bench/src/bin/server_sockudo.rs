//! sockudo-ws echo server for the benchmarks, following that crate's
//! documented HTTP/1.1 server: its own handshake helpers
//! (`parse_request`, `generate_accept_key`, `build_response`),
//! permessage-deflate negotiated with `negotiate_server_deflate` when the
//! client offers it (then a `CompressedWebSocketStream`), and the echo loop
//! its README recommends for throughput: replies are `feed`-ed and the
//! stream flushes them when it runs out of parsed input. Limits raised to
//! 16 MiB; single-threaded tokio.
//!
//! ```sh
//! server_sockudo 127.0.0.1:0   # prints `listening 127.0.0.1:PORT`
//! ```

use bytes::{Bytes, BytesMut};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use sockudo_ws::deflate::{DeflateConfig, negotiate_server_deflate};
use sockudo_ws::handshake::{build_response, generate_accept_key, parse_request};
use sockudo_ws::{CompressedWebSocketStream, Config, Message, Role, WebSocketStream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MAX_MESSAGE: usize = 16 << 20;

/// The README's echo loop, for plain and compressed streams alike.
async fn echo<W>(ws: &mut W) -> sockudo_ws::Result<()>
where
    W: Stream<Item = sockudo_ws::Result<Message>>
        + Sink<Message, Error = sockudo_ws::Error>
        + Unpin,
{
    while let Some(message) = ws.next().await {
        match message? {
            message @ (Message::Text(_) | Message::Binary(_)) => ws.feed(message).await?,
            Message::Close(_) => return Ok(()),
            // Pings are answered by the stream.
            _ => {}
        }
    }
    Ok(())
}

async fn serve(mut stream: TcpStream) -> sockudo_ws::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = BytesMut::with_capacity(4096);
    let (response, deflate, consumed) = loop {
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
        if let Some((req, consumed)) = parse_request(&buf)? {
            let accept = generate_accept_key(req.key);
            let negotiation = req
                .extensions
                .and_then(|ext| negotiate_server_deflate(ext, &DeflateConfig::default()));
            let header = negotiation.as_ref().map(|n| n.to_response_header());
            let response = build_response(&accept, None, header.as_deref());
            break (response, negotiation.map(|n| n.config), consumed);
        }
    };
    stream.write_all(&response).await?;
    let leftover: Option<Bytes> = (consumed < buf.len()).then(|| buf.split_off(consumed).freeze());
    let config = Config::builder().max_payload_length(MAX_MESSAGE).build();
    match deflate {
        Some(deflate) => {
            let mut ws =
                CompressedWebSocketStream::server_with_leftover(stream, config, deflate, leftover);
            echo(&mut ws).await
        }
        None => {
            let mut ws =
                WebSocketStream::from_raw_with_leftover(stream, Role::Server, config, leftover);
            echo(&mut ws).await
        }
    }
}

fn main() -> std::io::Result<()> {
    sockudo_ws::init_clock();
    bench::serve_each(|stream| async move {
        let _ = serve(stream).await;
    })
}
