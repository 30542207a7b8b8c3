//! The demo app's WebSocket echo endpoint (`--ws-path`, default `/ws`): every text or binary
//! message is sent back as it came. Its shutdown follows the app's `--shutdown`:
//!
//! - `immediate`: no handler, so the stop signal kills the process and every session's TCP
//!   connection goes away without a close frame (clients see 1006);
//! - `graceful`: readiness fails at once (the app's `draining`), then every session is sent
//!   close 1001 (going away) and the app waits for the clients' close replies (at most the
//!   drain timeout) before it exits.
//!
//! The upgrade is hyper's (`serve_connection_with_upgrades`); the frames are tokio-tungstenite's.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt as _, StreamExt as _};
use http::{HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use super::State;

/// Whether `req` asks to upgrade to a WebSocket.
pub(super) fn is_upgrade(req: &Request<Incoming>) -> bool {
    let has = |name: http::header::HeaderName, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    has(http::header::UPGRADE, "websocket") && has(http::header::CONNECTION, "upgrade")
}

/// Answers the upgrade with 101 and runs the session on the upgraded connection; refuses it
/// with 503 once the app is draining (a new session must go to another replica).
pub(super) fn accept(mut req: Request<Incoming>, state: Arc<State>) -> Response<Full<Bytes>> {
    let key = req.headers().get(http::header::SEC_WEBSOCKET_KEY).cloned();
    let draining = state.draining.load(Ordering::Relaxed);
    let Some(key) = key.filter(|_| !draining) else {
        let mut resp = Response::new(Full::new(Bytes::from_static(b"not accepting sessions\n")));
        *resp.status_mut() = if draining {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::BAD_REQUEST
        };
        resp.headers_mut()
            .insert(super::REPLICA_HEADER, state.name.clone());
        return resp;
    };
    let upgrade = hyper::upgrade::on(&mut req);
    let drain = state.drain.clone();
    state.sessions.fetch_add(1, Ordering::Relaxed);
    let st = state.clone();
    tokio::spawn(async move {
        if let Ok(upgraded) = upgrade.await {
            let ws =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            session(ws, drain, st.args.drain_timeout).await;
        }
        st.sessions.fetch_sub(1, Ordering::Relaxed);
    });
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(
        http::header::CONNECTION,
        HeaderValue::from_static("upgrade"),
    );
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert(http::header::SEC_WEBSOCKET_ACCEPT, v);
    }
    h.insert(super::REPLICA_HEADER, state.name.clone());
    resp
}

/// Resolves once the drain begins (the watch's guard is not held across the await).
async fn drained(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|d| *d).await;
}

/// Echoes until the client closes, or — on drain — closes with 1001 and waits for the reply.
async fn session(
    ws: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    mut drain: watch::Receiver<bool>,
    drain_timeout: Duration,
) {
    let (mut tx, mut rx) = ws.split();
    loop {
        tokio::select! {
            m = rx.next() => match m {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if tx.send(m).await.is_err() {
                        return;
                    }
                }
                Some(Ok(Message::Close(_))) => {
                    // tungstenite answers the close; reading once more flushes it.
                    let _ = tokio::time::timeout(Duration::from_secs(1), rx.next()).await;
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return,
            },
            _ = drained(&mut drain) => break,
        }
    }
    let frame = CloseFrame {
        code: CloseCode::Away,
        reason: "going away: server shutting down".into(),
    };
    if tx.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    // The client's close reply ends the handshake; messages crossing ours are not answered
    // (RFC 6455 §5.5.1: no data after a close frame).
    let _ = tokio::time::timeout(drain_timeout, async {
        while let Some(Ok(m)) = rx.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}
