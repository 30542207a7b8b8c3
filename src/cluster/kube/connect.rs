//! Connecting like kubectl: `--kubeconfig`, then `KUBECONFIG` / `~/.kube/config`, with
//! `--context`; in-cluster service-account config when none of those exists (running as a Job).
//! The namespace is `-n` when given, else the context's (or the pod's) namespace.
//!
//! Only builds the client; it makes no API call (the first call tells whether the server is
//! reachable, and names the call that failed).

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::error::{KubeError, error_chain};

/// Where to connect, as the user said it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `--kubeconfig`; else `KUBECONFIG`, else `~/.kube/config`, else in-cluster.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; else the kubeconfig's current context.
    pub context: Option<String>,
    /// `-n`; else the context's namespace, else the pod's, else "default".
    pub namespace: Option<String>,
}

/// A connected client and the namespace to work in.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    pub namespace: String,
    /// The API server's URL, for messages.
    pub server: String,
}

/// kube's TLS stack needs a process-wide crypto provider; installing it twice is harmless.
pub fn install_crypto_provider() {
    // Err means another part of the process installed one first, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Loads the configuration and builds a client.
pub async fn connect(opts: &ConnectOptions) -> Result<Connection, KubeError> {
    install_crypto_provider();
    let kc_opts = KubeConfigOptions {
        context: opts.context.clone(),
        cluster: None,
        user: None,
    };
    let config = match &opts.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path).map_err(|e| {
                KubeError::NoConfig(format!(
                    "cannot read kubeconfig {}: {}",
                    path.display(),
                    error_chain(&e)
                ))
            })?;
            kube::Config::from_custom_kubeconfig(kc, &kc_opts)
                .await
                .map_err(|e| {
                    KubeError::NoConfig(format!("{}: {}", path.display(), error_chain(&e)))
                })?
        }
        None => match kube::Config::from_kubeconfig(&kc_opts).await {
            Ok(c) => c,
            // A named context only exists in a kubeconfig: do not fall back to in-cluster.
            Err(e) if opts.context.is_some() => {
                return Err(KubeError::NoConfig(error_chain(&e)));
            }
            Err(kc_err) => kube::Config::incluster().map_err(|ic| {
                KubeError::NoConfig(format!(
                    "no kubeconfig ({}) and not running in a pod ({})",
                    error_chain(&kc_err),
                    error_chain(&ic)
                ))
            })?,
        },
    };
    let namespace = opts
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).map_err(|e| {
        KubeError::NoConfig(format!(
            "cannot build a client for {server}: {}",
            error_chain(&e)
        ))
    })?;
    Ok(Connection {
        client,
        namespace,
        server,
    })
}
