//! Server reflection: the file descriptors that define a service, asked of the server itself
//! (`grpc.reflection.v1.ServerReflection`, falling back to `v1alpha` for older servers), so a
//! method can be called with no `.proto` file at hand — what grpcurl does.
//!
//! One bidirectional stream: ask for the file containing the service, then for any file it
//! imports that did not come with it, until every dependency is known. The messages are the
//! reflection protocol's few fields, declared here with prost; the descriptors themselves are
//! returned encoded, for the plan to read.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use bytes::{Buf as _, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Uri};
use prost::Message as _;

use super::frame;
use crate::load::conn::{Dialer, tls_config};
use crate::load::state::resolve;

/// Why the descriptors could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ReflectError {
    /// The server could not be reached or spoke no HTTP/2.
    #[error("server reflection: cannot reach {target}: {error}")]
    Unreachable { target: String, error: String },
    /// The server does not serve reflection.
    #[error(
        "the server does not serve gRPC reflection ({0}); give the service's .proto with --proto"
    )]
    Unsupported(String),
    /// The server answered, but not with what was asked.
    #[error("server reflection: {0}")]
    Refused(String),
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReflectionRequest {
    #[prost(string, tag = "1")]
    host: String,
    #[prost(oneof = "Ask", tags = "3, 4")]
    ask: Option<Ask>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Ask {
    #[prost(string, tag = "3")]
    FileByFilename(String),
    #[prost(string, tag = "4")]
    FileContainingSymbol(String),
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReflectionResponse {
    #[prost(oneof = "Answer", tags = "4, 7")]
    answer: Option<Answer>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum Answer {
    #[prost(message, tag = "4")]
    Files(FileDescriptorResponse),
    #[prost(message, tag = "7")]
    Error(ErrorResponse),
}

#[derive(Clone, PartialEq, prost::Message)]
struct FileDescriptorResponse {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    file_descriptor_proto: Vec<Bytes>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ErrorResponse {
    #[prost(int32, tag = "1")]
    error_code: i32,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// Where to ask, and how.
pub struct Target<'a> {
    pub url: &'a Uri,
    pub insecure: bool,
    pub connect_timeout: Duration,
    /// Metadata every call carries (credentials the reflection service may want too).
    pub metadata: &'a HeaderMap,
}

/// The encoded `FileDescriptorProto`s of the file defining `symbol` (a fully qualified service
/// name) and of every file it imports.
pub async fn file_descriptors(t: &Target<'_>, symbol: &str) -> Result<Vec<Bytes>, ReflectError> {
    let unreachable = |error: String| ReflectError::Unreachable {
        target: t.url.to_string(),
        error,
    };
    let mut sender = connect(t).await.map_err(unreachable)?;
    let mut last = String::new();
    for version in ["v1", "v1alpha"] {
        let path = format!("/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo");
        match ask(t, &mut sender, &path, symbol).await? {
            Asked::Files(files) => return Ok(files),
            Asked::Unimplemented(why) => last = why,
        }
    }
    Err(ReflectError::Unsupported(last))
}

/// Opens a connection and starts HTTP/2 on it; its driver runs as a task.
async fn connect(t: &Target<'_>) -> Result<h2::client::SendRequest<Bytes>, String> {
    let https = t.url.scheme_str() == Some("https");
    let host = t.url.host().ok_or("no host")?.to_string();
    let port = t.url.port_u16().unwrap_or(if https { 443 } else { 80 });
    let addr = *resolve(&host, port).await?.first().ok_or("no address")?;
    let (tls, server_name) = if https {
        let cfg = tls_config(t.insecure, true).map_err(|e| e.to_string())?;
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let name = rustls::pki_types::ServerName::try_from(bare).map_err(|e| e.to_string())?;
        (
            Some(tokio_rustls::TlsConnector::from(std::sync::Arc::new(cfg))),
            Some(name),
        )
    } else {
        (None, None)
    };
    let dialer = Dialer {
        tls,
        server_name,
        http2: true,
        connect_timeout: t.connect_timeout,
    };
    let opened = dialer.open(addr).await.map_err(|e| e.error)?;
    if !opened.h2 {
        return Err("the server did not negotiate HTTP/2 (ALPN h2)".into());
    }
    let (sender, driver) = h2::client::handshake(opened.io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = driver.await;
    });
    Ok(sender)
}

/// What one version of the reflection service said.
enum Asked {
    Files(Vec<Bytes>),
    /// That version is not served (grpc-status 12), with the server's words.
    Unimplemented(String),
}

/// One reflection stream: the file with `symbol`, then every missing import.
async fn ask(
    t: &Target<'_>,
    sender: &mut h2::client::SendRequest<Bytes>,
    path: &str,
    symbol: &str,
) -> Result<Asked, ReflectError> {
    let refused = |e: h2::Error| ReflectError::Refused(e.to_string());
    let within = t.connect_timeout * 3;
    let mut request = Request::post(format!(
        "{}://{}{path}",
        t.url.scheme_str().unwrap_or("http"),
        t.url.authority().map_or("", |a| a.as_str())
    ))
    .body(())
    .map_err(|e| ReflectError::Refused(e.to_string()))?;
    let h = request.headers_mut();
    for (name, value) in t.metadata {
        if !super::RESERVED_HEADERS.contains(&name.as_str()) && name != http::header::HOST {
            h.append(name.clone(), value.clone());
        }
    }
    h.insert("content-type", HeaderValue::from_static("application/grpc"));
    h.insert("te", HeaderValue::from_static("trailers"));
    let sender = sender.clone().ready().await.map_err(refused)?;
    let mut sender = sender;
    let (response, mut out) = sender.send_request(request, false).map_err(refused)?;
    let send = |out: &mut h2::SendStream<Bytes>, ask: Ask| {
        let m = ReflectionRequest {
            host: String::new(),
            ask: Some(ask),
        };
        out.send_data(frame(&m.encode_to_vec()), false)
    };
    send(&mut out, Ask::FileContainingSymbol(symbol.to_string())).map_err(refused)?;
    let response = tokio::time::timeout(within, response)
        .await
        .map_err(|_| ReflectError::Refused(format!("no answer within {within:?}")))?
        .map_err(refused)?;
    if let Some(s) = response.headers().get("grpc-status") {
        return Ok(status_only(s, response.headers()));
    }
    let mut body = response.into_body();
    let mut files: HashMap<String, Bytes> = HashMap::new();
    let mut asked: BTreeSet<String> = BTreeSet::new();
    let mut buf = BytesMut::new();
    loop {
        let chunk = tokio::time::timeout(within, body.data()).await;
        let chunk = match chunk {
            Ok(Some(c)) => c.map_err(refused)?,
            Ok(None) => break,
            Err(_) => {
                return Err(ReflectError::Refused(format!(
                    "no answer within {within:?}"
                )));
            }
        };
        let _ = body.flow_control().release_capacity(chunk.len());
        buf.extend_from_slice(&chunk);
        while let Some(message) = next_message(&mut buf) {
            take_answer(&message, symbol, &mut files)?;
        }
        let missing = missing_imports(&files);
        if missing.is_empty() && !files.is_empty() {
            let _ = out.send_data(Bytes::new(), true);
            return Ok(Asked::Files(files.into_values().collect()));
        }
        for name in missing {
            if asked.insert(name.clone()) {
                send(&mut out, Ask::FileByFilename(name)).map_err(refused)?;
            }
        }
    }
    let trailers = body.trailers().await.map_err(refused)?.unwrap_or_default();
    match trailers.get("grpc-status") {
        Some(s) => Ok(status_only(s, &trailers)),
        None => Err(ReflectError::Refused(
            "the stream ended with no answer".into(),
        )),
    }
}

/// A response that ended with a status and no files.
fn status_only(status: &HeaderValue, fields: &HeaderMap) -> Asked {
    let message = fields
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .unwrap_or_default();
    Asked::Unimplemented(format!(
        "grpc-status {} {message}",
        status.to_str().unwrap_or("?")
    ))
}

/// The next whole length-prefixed message in `buf`, if one has arrived.
fn next_message(buf: &mut BytesMut) -> Option<Bytes> {
    if buf.len() < 5 {
        return None;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    if buf.len() < 5 + len {
        return None;
    }
    buf.advance(5);
    Some(buf.split_to(len).freeze())
}

/// Adds the files of one reflection answer, or says why the server refused.
fn take_answer(
    message: &[u8],
    symbol: &str,
    files: &mut HashMap<String, Bytes>,
) -> Result<(), ReflectError> {
    let r = ReflectionResponse::decode(message)
        .map_err(|e| ReflectError::Refused(format!("unreadable answer: {e}")))?;
    match r.answer {
        Some(Answer::Files(f)) => {
            for raw in f.file_descriptor_proto {
                let fd = prost_types::FileDescriptorProto::decode(raw.clone())
                    .map_err(|e| ReflectError::Refused(format!("unreadable descriptor: {e}")))?;
                files.insert(fd.name().to_string(), raw);
            }
            Ok(())
        }
        Some(Answer::Error(e)) => Err(ReflectError::Refused(format!(
            "the server's reflection has no `{symbol}`: {} (grpc code {})",
            e.error_message, e.error_code
        ))),
        None => Err(ReflectError::Refused(
            "an answer of a kind not asked for".into(),
        )),
    }
}

/// Imports named by the files so far that are not among them.
fn missing_imports(files: &HashMap<String, Bytes>) -> Vec<String> {
    let mut missing = BTreeSet::new();
    for raw in files.values() {
        if let Ok(fd) = prost_types::FileDescriptorProto::decode(raw.clone()) {
            for dep in fd.dependency {
                if !files.contains_key(&dep) {
                    missing.insert(dep);
                }
            }
        }
    }
    missing.into_iter().collect()
}
