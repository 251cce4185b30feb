//! lariat echo server for the benchmarks: every text and binary message
//! comes back unchanged, permessage-deflate is accepted when offered, and
//! limits are raised to 16 MiB. The same handler as `examples/echo.rs`,
//! written against the public API, on a single-threaded tokio runtime so
//! it can be pinned to one core.
//!
//! ```sh
//! server_lariat 127.0.0.1:0   # prints `listening 127.0.0.1:PORT`
//! ```

use lariat::Config;
use lariat::prelude::*;

/// The largest message the server takes: 16 MiB.
const MAX_MESSAGE: usize = 16 << 20;

/// One connection: no state.
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
            // The runtime answers pings; closes end the connection.
            _ => Reply::ok(),
        }
    }
}

fn main() -> std::io::Result<()> {
    let addr = bench::listen_arg();
    bench::on_one_thread(async {
        let server = Server::bind(&addr).await?;
        bench::announce(server.local_addr()?)?;
        server
            .config(Config {
                max_frame_size: MAX_MESSAGE,
                max_message_size: MAX_MESSAGE,
                ..Config::default()
            })
            .route_any(Echo::handler())
            .serve()
            .await
    })
}
