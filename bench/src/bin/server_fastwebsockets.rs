//! fastwebsockets echo server for the benchmarks, following that crate's
//! own echo example: hyper 1 serves HTTP/1.1 and performs the upgrade
//! (feature `upgrade`), the connection task runs `unconstrained`, a
//! `FragmentCollector` joins fragments, auto-close and auto-pong stay on
//! (the defaults), and every text or binary frame is written back. The
//! message limit is set to 16 MiB; single-threaded tokio.
//!
//! ```sh
//! server_fastwebsockets 127.0.0.1:0   # prints `listening 127.0.0.1:PORT`
//! ```

use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const MAX_MESSAGE: usize = 16 << 20;

async fn echo(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = fut.await?;
    ws.set_max_message_size(MAX_MESSAGE);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    let mut ws = FragmentCollector::new(ws);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => return Ok(()),
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
}

async fn upgrade_request(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    // As in the crate's example: the echo loop opts out of tokio's
    // cooperative budget.
    tokio::spawn(async move {
        let _ = tokio::task::unconstrained(echo(fut)).await;
    });
    Ok(response)
}

fn main() -> std::io::Result<()> {
    bench::serve_each(|stream| async move {
        let _ = stream.set_nodelay(true);
        let conn = http1::Builder::new()
            .serve_connection(TokioIo::new(stream), service_fn(upgrade_request))
            .with_upgrades();
        let _ = conn.await;
    })
}
