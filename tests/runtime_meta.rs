//! `ctx.meta()` and subprotocol negotiation over real loopback sockets.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    missing_docs
)]

mod support;

use lariat::prelude::*;
use support::{
    RawClient, SAMPLE_KEY, bind, start, upgrade_request, ws_connect, ws_connect_with,
    ws_expect_text,
};
use tokio_tungstenite::MaybeTlsStream;

/// Picks subprotocol `?pick=..` (default "b") and reports what it saw.
struct Who {
    offered: Vec<String>,
    request_version: u8,
}

impl Handler for Who {
    type Info = lariat::Never;

    async fn init(req: &Request) -> Init<Self> {
        let pick = req.query("pick").unwrap_or("b".into()).into_owned();
        Init::upgrade(Who {
            offered: req.protocols().to_vec(),
            request_version: req.version(),
        })
        .protocol(pick)
    }

    async fn open(&mut self, ctx: &mut Ctx<Self::Info>) -> Reply {
        let meta = ctx.meta();
        Reply::text(format!(
            "version={} protocol={:?} compress={} peer={} offered={:?} request_version={} path={}",
            meta.version,
            meta.protocol,
            meta.compress,
            meta.peer,
            self.offered,
            self.request_version,
            ctx.request().path(),
        ))
    }
}

#[tokio::test]
async fn meta_reports_version_13_the_chosen_subprotocol_and_the_peer() {
    let server = start(bind().await.route("/who", Who::handler()));
    let (mut ws, response) =
        ws_connect_with(&server, "/who", &[("Sec-WebSocket-Protocol", "a, b")]).await;
    assert_eq!(response.status().as_u16(), 101);
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.to_str().unwrap()),
        Some("b")
    );
    let MaybeTlsStream::Plain(tcp) = ws.get_ref() else {
        panic!("plain TCP expected");
    };
    let local = tcp.local_addr().unwrap();
    assert!(local.ip().is_loopback());
    ws_expect_text(
        &mut ws,
        &format!(
            "version=13 protocol=Some(\"b\") compress=false peer={local} \
             offered=[\"a\", \"b\"] request_version=13 path=/who"
        ),
    )
    .await;
    drop(ws);
    server.shutdown().await;
}

#[tokio::test]
async fn a_subprotocol_the_client_did_not_offer_is_not_answered() {
    let server = start(bind().await.route("/who", Who::handler()));
    // The client offers "a" only; init picks "b".
    let mut client = RawClient::connect_with(&server, "/who", &["a"], &[]).await;
    assert_eq!(client.response.protocol, None);
    let local = client.stream.local_addr().unwrap();
    client
        .expect_text(&format!(
            "version=13 protocol=None compress=false peer={local} \
             offered=[\"a\"] request_version=13 path=/who"
        ))
        .await;
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn no_subprotocol_is_answered_when_the_client_offers_none() {
    let server = start(bind().await.route("/who", Who::handler()));
    // tokio-tungstenite fails the handshake if a protocol comes back unasked.
    let mut ws = ws_connect(&server, "/who?pick=a").await;
    let MaybeTlsStream::Plain(tcp) = ws.get_ref() else {
        panic!("plain TCP expected");
    };
    let local = tcp.local_addr().unwrap();
    ws_expect_text(
        &mut ws,
        &format!(
            "version=13 protocol=None compress=false peer={local} \
             offered=[] request_version=13 path=/who"
        ),
    )
    .await;
    drop(ws);
    server.shutdown().await;
}

#[tokio::test]
async fn the_first_offered_protocol_can_be_chosen_too() {
    let server = start(bind().await.route("/who", Who::handler()));
    let mut client = RawClient::connect_with(&server, "/who?pick=a", &["a", "b"], &[]).await;
    assert_eq!(client.response.protocol.as_deref(), Some("a"));
    match client.recv().await {
        Some(Frame::Text(text)) => assert!(text.contains("protocol=Some(\"a\")"), "{text}"),
        other => panic!("expected the meta text, got {other:?}"),
    }
    drop(client);
    server.shutdown().await;
}

#[tokio::test]
async fn version_8_and_7_clients_are_accepted_and_meta_reports_their_version() {
    let server = start(bind().await.route("/who", Who::handler()));
    for version in ["8", "7"] {
        let mut client =
            RawClient::handshake(&server, &upgrade_request("/who", version), SAMPLE_KEY).await;
        match client.recv().await {
            Some(Frame::Text(text)) => {
                assert!(text.starts_with(&format!("version={version} ")), "{text}");
                assert!(
                    text.contains(&format!("request_version={version} ")),
                    "{text}"
                );
            }
            other => panic!("expected the meta text, got {other:?}"),
        }
    }
    server.shutdown().await;
}
