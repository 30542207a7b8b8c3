//! Dialling the target: TCP to a known address within the connect timeout, then TLS (rustls,
//! the platform's trust store or `--insecure`, ALPN offering h2 only when asked) — yielding a
//! stream ([`Io`]) and its identity (local and peer address). What speaks HTTP on it lives in
//! `h1` (HTTP/1.1) and `h2` (hyper's HTTP/2).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::classify::{Stage, classify, error_chain};
use crate::model::outcome::OutcomeClass;

/// A plain or TLS stream.
pub enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// How to dial the target.
#[derive(Clone)]
pub struct Dialer {
    pub tls: Option<TlsConnector>,
    /// Server name for SNI and certificate checks.
    pub server_name: Option<rustls::pki_types::ServerName<'static>>,
    pub http2: bool,
    pub connect_timeout: Duration,
}

/// A failed dial: the outcome class, the address tried, and the error chain.
#[derive(Debug)]
pub struct DialError {
    pub class: OutcomeClass,
    pub peer: SocketAddr,
    pub error: String,
}

/// An established stream, before any HTTP.
pub struct Opened {
    pub io: Io,
    pub local: SocketAddr,
    pub peer: SocketAddr,
    /// Speak HTTP/2 on it (prior knowledge asked for, or h2 negotiated by ALPN).
    pub h2: bool,
}

impl Opened {
    /// Fails unless HTTP/2 is to be spoken on it (an https server that did not negotiate h2).
    pub fn require_h2(&self) -> Result<(), DialError> {
        if self.h2 {
            return Ok(());
        }
        Err(DialError {
            class: OutcomeClass::Other,
            peer: self.peer,
            error: "the server did not negotiate HTTP/2 (ALPN h2)".to_string(),
        })
    }
}

impl Dialer {
    /// Connects to `peer` within the connect timeout, then performs TLS if configured.
    pub async fn open(&self, peer: SocketAddr) -> Result<Opened, DialError> {
        let fail = |stage: Stage, e: &(dyn std::error::Error + 'static)| DialError {
            class: classify(stage, e),
            peer,
            error: error_chain(e),
        };
        let tcp = match tokio::time::timeout(self.connect_timeout, TcpStream::connect(peer)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(fail(Stage::Connect, &e)),
            Err(_) => {
                return Err(DialError {
                    class: OutcomeClass::ConnectTimeout,
                    peer,
                    error: format!(
                        "connect to {peer} did not complete within {:?}",
                        self.connect_timeout
                    ),
                });
            }
        };
        // Small requests must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().map_err(|e| fail(Stage::Connect, &e))?;
        match (&self.tls, &self.server_name) {
            (Some(tls), Some(name)) => {
                let hs = tokio::time::timeout(self.connect_timeout, tls.connect(name.clone(), tcp))
                    .await;
                let stream = match hs {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => return Err(fail(Stage::Tls, &e)),
                    Err(_) => {
                        return Err(DialError {
                            class: OutcomeClass::Tls,
                            peer,
                            error: format!(
                                "TLS handshake with {peer} did not complete within {:?}",
                                self.connect_timeout
                            ),
                        });
                    }
                };
                let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                Ok(Opened {
                    io: Io::Tls(Box::new(stream)),
                    local,
                    peer,
                    h2,
                })
            }
            _ => Ok(Opened {
                io: Io::Plain(tcp),
                local,
                peer,
                h2: self.http2,
            }),
        }
    }
}

/// A rustls client configuration: the platform's trust store, or no verification at all
/// (`--insecure`). ALPN offers h2 only when HTTP/2 was asked for.
pub fn tls_config(insecure: bool, http2: bool) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    } else {
        let verifier = rustls_platform_verifier::Verifier::new(provider)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    };
    config.alpn_protocols = if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// Accepts any certificate: `--insecure`, for self-signed staging endpoints.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
