//! A request serialised once for HTTP/1.1 — request line, Host, headers, Content-Length,
//! body — and written as is for every request of its template.

use bytes::Bytes;

/// A request serialised once, written as is for every request.
#[derive(Clone, Debug)]
pub(in crate::load) struct Wire {
    pub(in crate::load) bytes: Bytes,
    /// False for HEAD: responses to it have no body whatever their headers say.
    pub(in crate::load) expects_body: bool,
    /// The request asks the server to close the connection (`--no-keepalive`).
    pub(in crate::load) close: bool,
}

impl Wire {
    /// Serialises a request: request line, Host (unless given), the headers in order,
    /// Content-Length where the method or body needs it, and the body.
    pub(in crate::load) fn new(
        method: &http::Method,
        origin: &str,
        host: &str,
        headers: &http::HeaderMap,
        body: &Bytes,
        close: bool,
    ) -> Wire {
        let mut out = Vec::with_capacity(128 + body.len());
        out.extend_from_slice(method.as_str().as_bytes());
        out.push(b' ');
        out.extend_from_slice(origin.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        if !headers.contains_key(http::header::HOST) {
            out.extend_from_slice(b"host: ");
            out.extend_from_slice(host.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        for (name, value) in headers {
            if name == http::header::CONTENT_LENGTH || name == http::header::CONNECTION {
                continue;
            }
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let has_body_semantics = !matches!(
            *method,
            http::Method::GET
                | http::Method::HEAD
                | http::Method::DELETE
                | http::Method::OPTIONS
                | http::Method::TRACE
                | http::Method::CONNECT
        );
        if !body.is_empty() || has_body_semantics {
            out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
        }
        if close {
            out.extend_from_slice(b"connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Wire {
            bytes: Bytes::from(out),
            expects_body: *method != http::Method::HEAD,
            close,
        }
    }
}
