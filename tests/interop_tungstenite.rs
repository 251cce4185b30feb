//! Interop with tokio-tungstenite, an independent client: text and binary
//! from 0 B to 16 MiB, whole and fragmented, and closes in both directions,
//! against a handler that echoes like `examples/echo` (16 MiB limits).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use futures_util::{SinkExt, StreamExt};
use lariat::prelude::*;
use lariat::{Config, Never};
use support::{start, within};
use tokio_tungstenite::tungstenite::protocol::frame::Frame as WireFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{
    CloseCode as WireCode, Data, OpCode,
};
use tokio_tungstenite::tungstenite::protocol::{CloseFrame as WireClose, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Bytes as WireBytes, Message};

const LIMIT: usize = 16 << 20;
const SIZES: [usize; 7] = [0, 125, 126, 65_535, 65_536, 1 << 20, 16 << 20];

struct Echo;

impl Handler for Echo {
    type Info = Never;

    async fn init(_req: &Request) -> Init<Self> {
        Init::upgrade(Echo)
            .compress(true)
            .max_frame_size(LIMIT)
            .max_message_size(LIMIT)
    }

    async fn handle(&mut self, frame: Frame, _ctx: &mut Ctx<Never>) -> Reply {
        match frame {
            Frame::Text(_) | Frame::Binary(_) => Reply::frame(frame),
            _ => Reply::ok(),
        }
    }
}

async fn echo_server() -> support::TestServer {
    let server = Server::bind("127.0.0.1:0")
        .await
        .unwrap()
        .config(Config {
            max_frame_size: LIMIT,
            max_message_size: LIMIT,
            ..Config::default()
        })
        .route_any(Echo::handler());
    start(server)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(server: &support::TestServer) -> Ws {
    // Room for the 17 MiB message the server refuses, and its 16 MiB echoes.
    let config = WebSocketConfig::default()
        .max_message_size(Some(64 << 20))
        .max_frame_size(Some(64 << 20));
    let (ws, _) = within(
        "the handshake",
        tokio_tungstenite::connect_async_with_config(server.url("/"), Some(config), false),
    )
    .await
    .unwrap();
    ws
}

async fn next_data(ws: &mut Ws) -> Message {
    loop {
        match within("a message", ws.next()).await {
            Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => return message,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a data message, got {other:?}"),
        }
    }
}

fn text_of(size: usize) -> String {
    let pattern = "κόσμε, hello ✓ ";
    let mut text: String = pattern.repeat(size / pattern.len() + 1);
    while text.len() > size {
        text.pop();
    }
    text
}

#[tokio::test]
async fn tungstenite_text_and_binary_from_0_bytes_to_16_mib_are_echoed() {
    let server = echo_server().await;
    let mut ws = connect(&server).await;
    for size in SIZES {
        let text = text_of(size);
        within("send", ws.send(Message::text(text.clone())))
            .await
            .unwrap();
        match next_data(&mut ws).await {
            Message::Text(echo) => assert_eq!(echo.as_str(), text, "text of {size} bytes"),
            other => panic!("expected text, got {other:?}"),
        }
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        within("send", ws.send(Message::binary(data.clone())))
            .await
            .unwrap();
        match next_data(&mut ws).await {
            Message::Binary(echo) => assert_eq!(&echo[..], &data[..], "binary of {size} bytes"),
            other => panic!("expected binary, got {other:?}"),
        }
    }
    within("close", ws.close(None)).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn tungstenite_fragmented_messages_up_to_16_mib_are_echoed_whole() {
    let server = echo_server().await;
    let mut ws = connect(&server).await;
    for (size, pieces) in [(10usize, 3usize), (65_536, 7), (LIMIT, 16)] {
        let text = text_of(size).into_bytes();
        let chunk = text.len().div_ceil(pieces).max(1);
        let parts: Vec<&[u8]> = text.chunks(chunk).collect();
        for (i, part) in parts.iter().enumerate() {
            let opcode = if i == 0 {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            let frame = WireFrame::message(
                WireBytes::copy_from_slice(part),
                opcode,
                i + 1 == parts.len(),
            );
            within("send a fragment", ws.send(Message::Frame(frame)))
                .await
                .unwrap();
        }
        match next_data(&mut ws).await {
            Message::Text(echo) => assert_eq!(
                echo.as_bytes(),
                &text[..],
                "{size} bytes in {pieces} fragments"
            ),
            other => panic!("expected text, got {other:?}"),
        }
    }
    within("close", ws.close(None)).await.unwrap();
    server.shutdown().await;
}

#[tokio::test]
async fn tungstenite_close_is_echoed_with_its_code() {
    let server = echo_server().await;
    let mut ws = connect(&server).await;
    let close = WireClose {
        code: WireCode::from(4000),
        reason: "client says bye".into(),
    };
    within("close", ws.close(Some(close))).await.unwrap();
    let echoed = loop {
        match within("the close echo", ws.next()).await {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => {}
            other => panic!("expected the close echo, got {other:?}"),
        }
    };
    assert_eq!(echoed.map(|f| u16::from(f.code)), Some(4000));
    server.shutdown().await;
}

#[tokio::test]
async fn tungstenite_message_over_16_mib_is_closed_by_the_server_with_1009() {
    let server = echo_server().await;
    let mut ws = connect(&server).await;
    let _ = within("send", ws.send(Message::binary(vec![0u8; LIMIT + 1]))).await;
    let code = loop {
        match within("the server's close", ws.next()).await {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            Some(Ok(_)) => {}
            // The server may reset after closing while the client still writes.
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(code, Some(1009));
    server.shutdown().await;
}
