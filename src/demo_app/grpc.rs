//! The demo app's gRPC side, on the same port as its HTTP (HTTP/2 requests with content-type
//! `application/grpc`): the standard health service (`grpc.health.v1.Health/Check`: SERVING,
//! NOT_SERVING while draining) and an echo method (`zerodrop.demo.v1.Echo/Echo`: the request's
//! message back, with the replica's name). Both honour the app's knobs: `--delay` per call,
//! UNAVAILABLE during warm-up, the replica named in the `x-zerodrop-replica` response header.
//! What happens to connections at shutdown is the server's business (`serve`), not this one's.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::BodyExt;
use http_body_util::combinators::BoxBody;
use hyper::body::{Frame, Incoming};
use prost::Message as _;

use super::{REPLICA_HEADER, State};

/// Health and echo paths.
const HEALTH_CHECK: &str = "/grpc.health.v1.Health/Check";
const ECHO: &str = "/zerodrop.demo.v1.Echo/Echo";

/// grpc.health.v1.HealthCheckResponse.ServingStatus.
const SERVING: i32 = 1;
const NOT_SERVING: i32 = 2;

#[derive(Clone, PartialEq, prost::Message)]
struct HealthCheckResponse {
    #[prost(int32, tag = "1")]
    status: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EchoRequest {
    #[prost(string, tag = "1")]
    message: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EchoReply {
    #[prost(string, tag = "1")]
    message: String,
    #[prost(string, tag = "2")]
    replica: String,
}

pub type Body = BoxBody<Bytes, std::convert::Infallible>;

/// A gRPC request: HTTP/2 with a gRPC content type.
pub fn is_grpc<B>(req: &Request<B>) -> bool {
    req.version() == http::Version::HTTP_2
        && req
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/grpc"))
}

/// Answers one unary call.
pub async fn handle(req: Request<Incoming>, state: Arc<State>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let request = match read_message(req.into_body()).await {
        Ok(m) => m,
        Err(why) => return status_only(&state, 13, &why),
    };
    let args = &state.args;
    if path != HEALTH_CHECK && state.listening_since.elapsed() < args.warmup {
        return status_only(&state, 14, "warming up");
    }
    let reply = match path.as_str() {
        HEALTH_CHECK => {
            let status = if state.draining.load(Ordering::Relaxed) {
                NOT_SERVING
            } else {
                SERVING
            };
            HealthCheckResponse { status }.encode_to_vec()
        }
        ECHO => {
            let Ok(r) = EchoRequest::decode(request) else {
                return status_only(&state, 3, "not an EchoRequest");
            };
            if !args.delay.is_zero() {
                tokio::time::sleep(args.delay).await;
            }
            EchoReply {
                message: r.message,
                replica: args.name.clone(),
            }
            .encode_to_vec()
        }
        other => return status_only(&state, 12, &format!("unknown method {other}")),
    };
    let mut trailers = HeaderMap::new();
    trailers.insert("grpc-status", HeaderValue::from_static("0"));
    let body = http_body_util::StreamBody::new(futures::stream::iter([
        Ok(Frame::data(crate::load::grpc::frame(&reply))),
        Ok(Frame::trailers(trailers)),
    ]));
    response(&state, BodyExt::boxed(body))
}

/// The one request message of a unary call, unframed.
async fn read_message(body: Incoming) -> Result<Bytes, String> {
    let mut all = BytesMut::new();
    let mut body = body;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the request: {e}"))?;
        if let Ok(data) = frame.into_data() {
            all.extend_from_slice(&data);
        }
    }
    if all.len() < 5 {
        return Err("no request message".into());
    }
    let len = u32::from_be_bytes([all[1], all[2], all[3], all[4]]) as usize;
    all.advance(5);
    if all.len() != len {
        return Err("one whole request message expected".into());
    }
    Ok(all.freeze())
}

/// A response's head: HTTP 200, the gRPC content type, the replica's name.
fn response(state: &State, body: Body) -> Response<Body> {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert(REPLICA_HEADER, state.name.clone());
    r
}

/// A Trailers-Only response: the status in the head, no message.
fn status_only(state: &State, code: u32, message: &str) -> Response<Body> {
    let mut r = response(
        state,
        BodyExt::boxed(http_body_util::Empty::<Bytes>::new().map_err(|e| match e {})),
    );
    let h = r.headers_mut();
    h.insert("grpc-status", HeaderValue::from(code));
    if let Ok(v) = HeaderValue::from_str(&message.replace('%', "%25")) {
        h.insert("grpc-message", v);
    }
    r
}
