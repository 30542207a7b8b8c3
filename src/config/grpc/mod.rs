//! gRPC load: the flags as typed ([`GrpcFlags`]: `--grpc SERVICE/METHOD`, `--proto`,
//! `--import-path`, `--data`, `--data-file`, and their scenario keys) validated into a
//! [`GrpcPlan`] whose request message is already encoded — at plan time, so a typo in the
//! JSON or the method name stops the run before anything is sent (exit 2, with every other
//! problem). Only a method whose descriptor comes from the server's reflection is encoded when
//! the run starts ([`load_spec`]), the server being the only one who knows it.
//!
//! The HTTP request flags that mean nothing for a gRPC call (`--method`, `--body`, `--path`,
//! `--accept-status`, `--no-keepalive`) are refused rather than ignored, and so are metadata
//! headers gRPC reserves.

pub mod descriptors;

use std::path::PathBuf;

use bytes::Bytes;
use serde::Serialize;

use super::plan::Plan;
use super::problems::{Inapplicable, Problems};
use super::request::{FileSetting, inline_or_file};
use super::traffic::TrafficFlags;
use crate::load::LoadSpec;
use crate::load::grpc::reflect::{ReflectError, Target, file_descriptors};
use crate::load::grpc::{GrpcCall, RESERVED_HEADERS};

/// The gRPC flags as typed (first stage).
#[derive(Clone, Debug, Default)]
pub struct GrpcFlags {
    /// `--grpc`: `Some("")` when given without a method (the health check).
    pub grpc: Option<String>,
    pub proto: Vec<PathBuf>,
    pub import_path: Vec<PathBuf>,
    pub data: Option<String>,
    pub data_file: Option<PathBuf>,
}

/// Where the method's descriptor comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Descriptors {
    /// The `--proto` files.
    Proto,
    /// Built in (the standard health service, the demo app's echo).
    BuiltIn,
    /// Asked of the server when the run starts.
    Reflection,
}

/// A validated gRPC call.
#[derive(Clone, Debug, Serialize)]
pub struct GrpcPlan {
    /// Fully qualified service (`grpc.health.v1.Health`).
    pub service: String,
    pub method: String,
    pub descriptors: Descriptors,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proto: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub import_paths: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_file: Option<PathBuf>,
    /// The encoded request's size, once known (the message itself is not saved: it may hold
    /// what the headers' redaction would mask).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_bytes: Option<usize>,
    /// The request message as JSON.
    #[serde(skip)]
    pub data: String,
    /// The request message, encoded (`None` until reflection provides the descriptor).
    #[serde(skip)]
    pub message: Option<Bytes>,
}

impl GrpcPlan {
    /// `/package.Service/Method`, the call's HTTP/2 path.
    pub fn path(&self) -> String {
        format!("/{}/{}", self.service, self.method)
    }

    /// The standard health check with an empty request: what `--grpc` alone calls.
    pub fn health_check() -> GrpcPlan {
        let mut g = GrpcPlan {
            service: descriptors::HEALTH_SERVICE.into(),
            method: "Check".into(),
            descriptors: Descriptors::BuiltIn,
            proto: Vec::new(),
            import_paths: Vec::new(),
            data_file: None,
            message_bytes: None,
            data: "{}".into(),
            message: None,
        };
        g.set_message(Bytes::new());
        g
    }

    /// A call to a built-in service (the health check, the demo app's echo) with `data` as its
    /// request, encoded now.
    pub fn built_in(service: &str, method: &str, data: &str) -> Result<GrpcPlan, String> {
        let found = descriptors::find_method(descriptors::builtin(), service, method)?;
        let mut g = GrpcPlan {
            service: service.into(),
            method: method.into(),
            descriptors: Descriptors::BuiltIn,
            proto: Vec::new(),
            import_paths: Vec::new(),
            data_file: None,
            message_bytes: None,
            data: data.into(),
            message: None,
        };
        g.set_message(descriptors::encode(&found, data)?);
        Ok(g)
    }

    fn set_message(&mut self, m: Bytes) {
        self.message_bytes = Some(m.len());
        self.message = Some(m);
    }
}

/// `SERVICE/METHOD` (or grpcurl's `SERVICE.METHOD`, with or without a leading `/`) split into
/// the fully qualified service and the method.
pub fn method_name(s: &str) -> Result<(String, String), String> {
    let s = s.trim().trim_start_matches('/');
    let (service, method) = s
        .rsplit_once('/')
        .or_else(|| s.rsplit_once('.'))
        .ok_or_else(|| format!("`{s}` is not SERVICE/METHOD (e.g. grpc.health.v1.Health/Check)"))?;
    let ident = |x: &str| {
        !x.is_empty()
            && x.split('.').all(|p| {
                p.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                    && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            })
    };
    if !ident(service) || !ident(method) || method.contains('.') {
        return Err(format!(
            "`{s}` is not SERVICE/METHOD: a dotted service name, a slash, a method name \
             (e.g. grpc.health.v1.Health/Check)"
        ));
    }
    Ok((service.to_string(), method.to_string()))
}

/// Validates the gRPC flags (and the scenario's keys) into a plan, encoding the request
/// message when its descriptor is at hand; `None` when no gRPC call was asked for (then every
/// gRPC-only flag given is a problem).
pub fn from_args(t: &TrafficFlags, p: &mut Problems<'_>) -> Option<GrpcPlan> {
    let g = &t.grpc;
    let f = p.file();
    let given = g.grpc.is_some() || f.grpc.is_some();
    if !given {
        only_with_grpc(t, p);
        return None;
    }
    http_flags_refused(t, p);
    let name = p.value(g.grpc.as_deref(), "--grpc", f.grpc.as_ref(), "grpc", |s| {
        if s.trim().is_empty() {
            Ok(None)
        } else {
            method_name(s).map(Some)
        }
    });
    let proto = paths(p, &g.proto, &f.proto);
    let import_paths = paths(p, &g.import_path, &f.import_paths);
    let (data, data_file, data_place) = data(t, p);
    let (service, method) = match name {
        Some((Some(sm), _)) => sm,
        Some((None, _)) => (descriptors::HEALTH_SERVICE.to_string(), "Check".to_string()),
        None => return None,
    };
    let mut plan = GrpcPlan {
        service,
        method,
        descriptors: Descriptors::Reflection,
        proto,
        import_paths,
        data_file,
        message_bytes: None,
        data: data.unwrap_or_else(|| "{}".into()),
        message: None,
    };
    encode_now(&mut plan, &data_place, p);
    Some(plan)
}

/// Encodes the message when the descriptor is known now: from `--proto`, or built in.
fn encode_now(plan: &mut GrpcPlan, data_place: &str, p: &mut Problems<'_>) {
    let pool = if !plan.proto.is_empty() {
        plan.descriptors = Descriptors::Proto;
        match descriptors::compile(&plan.proto, &plan.import_paths) {
            Ok(pool) => pool,
            Err(e) => return p.push("--proto", e),
        }
    } else if descriptors::builtin()
        .get_service_by_name(&plan.service)
        .is_some()
    {
        plan.descriptors = Descriptors::BuiltIn;
        descriptors::builtin().clone()
    } else {
        if !plan.import_paths.is_empty() {
            p.push("--import-path", "only means something with --proto");
        }
        // Reflection, when the run starts; the JSON can be checked now.
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&plan.data) {
            p.push(data_place, format!("not valid JSON: {e}"));
        }
        return;
    };
    let method = match descriptors::find_method(&pool, &plan.service, &plan.method) {
        Ok(m) => m,
        Err(e) => return p.push("--grpc", e),
    };
    match descriptors::encode(&method, &plan.data) {
        Ok(m) => plan.set_message(m),
        Err(e) => p.push(data_place, e),
    }
}

/// `--data` or `--data-file` (a file named in the scenario is relative to the scenario): the
/// JSON text, the file it came from, and where it was given.
fn data(t: &TrafficFlags, p: &mut Problems<'_>) -> (Option<String>, Option<PathBuf>, String) {
    let f = p.file();
    let g = &t.grpc;
    // The file's `data` may be written as YAML (a mapping) or as JSON text.
    let inline = match (&g.data, &f.data) {
        (Some(d), _) => Some((d.clone(), "--data".to_string())),
        (None, Some(v)) => {
            let place = p.file_place("data", v.referenced.line());
            let text = match &v.value {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some((text, place))
        }
        (None, None) => None,
    };
    let file = FileSetting {
        flag: g.data_file.as_ref(),
        flag_name: "--data-file",
        file: f.data_file.as_ref(),
        key: "data_file",
    };
    match inline_or_file(p, inline, file) {
        Some((bytes, path, place)) => match String::from_utf8(bytes) {
            Ok(text) => (Some(text), path, place),
            Err(_) => {
                p.push(&place, "is not UTF-8 text (JSON is)");
                (None, None, place)
            }
        },
        None => (None, None, "--data".into()),
    }
}

/// Paths from a repeated flag, or else the scenario's list (relative to the scenario).
fn paths(
    p: &Problems<'_>,
    flags: &[PathBuf],
    file: &Option<Vec<serde_saphyr::Spanned<String>>>,
) -> Vec<PathBuf> {
    if !flags.is_empty() {
        return flags.to_vec();
    }
    let Some(list) = file else { return Vec::new() };
    list.iter()
        .map(|s| match p.scenario() {
            Some(sc) => sc.resolve(&s.value),
            None => PathBuf::from(&s.value),
        })
        .collect()
}

/// The HTTP request settings a gRPC call has no use for, each refused where it was given.
fn http_flags_refused(t: &TrafficFlags, p: &mut Problems<'_>) {
    let f = p.file();
    let line = |s: &Option<serde_saphyr::Spanned<String>>| s.as_ref().map(|s| s.referenced.line());
    let settings = [
        (
            t.method.is_some(),
            "--method",
            line(&f.method),
            "method",
            "every call is a POST",
        ),
        (
            t.body.is_some(),
            "--body",
            line(&f.body),
            "body",
            "the message is --data (JSON)",
        ),
        (
            t.body_file.is_some(),
            "--body-file",
            line(&f.body_file),
            "body_file",
            "the message is --data-file",
        ),
        (
            t.path.is_some(),
            "--path",
            line(&f.path),
            "path",
            "the path is the method (--grpc SERVICE/METHOD)",
        ),
        (
            t.accept_status.is_some(),
            "--accept-status",
            line(&f.accept_status),
            "accept_status",
            "only grpc-status OK counts as ok",
        ),
        (
            t.no_keepalive,
            "--no-keepalive",
            None,
            "keepalive",
            "calls share long-lived HTTP/2 connections",
        ),
    ];
    let mix = mix_settings(t, f);
    p.refuse(
        "does not apply to gRPC calls",
        settings.into_iter().chain(mix),
    );
    for h in &t.header {
        let name = h
            .split(':')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&name.as_str()) {
            p.push(
                "--header",
                format!(
                    "`{name}` is set by the gRPC protocol itself; it cannot be a metadata header"
                ),
            );
        }
    }
}

/// A request mix's settings: HTTP's, like the request's own.
fn mix_settings(t: &TrafficFlags, f: &crate::config::scenario::ScenarioFile) -> [Inapplicable; 3] {
    let line = |s: &Option<serde_saphyr::Spanned<String>>| s.as_ref().map(|s| s.referenced.line());
    [
        (
            false,
            "requests",
            f.requests.as_ref().map(|s| s.referenced.line()),
            "requests",
            "a request mix and its checks are HTTP's; a gRPC run makes one call",
        ),
        (
            t.seed.is_some(),
            "--seed",
            line(&f.seed),
            "seed",
            "it seeds a request mix, which is HTTP's",
        ),
        (
            t.max_body.is_some(),
            "--max-body",
            line(&f.max_body),
            "max_body",
            "it bounds the body HTTP response checks read",
        ),
    ]
}

/// gRPC-only settings given without `--grpc`.
fn only_with_grpc(t: &TrafficFlags, p: &mut Problems<'_>) {
    let g = &t.grpc;
    let f = p.file();
    let given = [
        (
            g.data.is_some() || f.data.is_some(),
            "--data",
            "the gRPC request message (for HTTP, --body)",
        ),
        (
            g.data_file.is_some() || f.data_file.is_some(),
            "--data-file",
            "the gRPC request message (for HTTP, --body-file)",
        ),
        (
            !g.proto.is_empty() || f.proto.is_some(),
            "--proto",
            "the gRPC service's definition",
        ),
        (
            !g.import_path.is_empty() || f.import_paths.is_some(),
            "--import-path",
            "where --proto's imports are",
        ),
    ];
    for (present, flag, what) in given {
        if present {
            p.push(flag, format!("is {what}: it needs --grpc SERVICE/METHOD"));
        }
    }
}

/// Why the engine's input could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The plan cannot be aimed at the target (exit 2).
    #[error("{0}")]
    Plan(String),
    /// The server could not be asked for its descriptors (exit 4).
    #[error(transparent)]
    Unreachable(ReflectError),
    /// The server's descriptors do not define what was asked, or it serves no reflection
    /// (exit 2).
    #[error("{0}")]
    Method(String),
}

/// The engine's input aimed at `base` (or the plan's target), with the gRPC message encoded —
/// through the server's reflection when that is where its descriptor comes from.
pub async fn load_spec(plan: &Plan, base: Option<&str>) -> Result<LoadSpec, SpecError> {
    let mut spec = plan.load_spec(base).map_err(SpecError::Plan)?;
    let Some(g) = &plan.grpc else { return Ok(spec) };
    let message = match &g.message {
        Some(m) => m.clone(),
        None => {
            let target = Target {
                url: &spec.requests[0].url,
                insecure: spec.insecure,
                connect_timeout: spec.connect_timeout,
                metadata: &spec.requests[0].headers,
            };
            let files = file_descriptors(&target, &g.service)
                .await
                .map_err(|e| match e {
                    ReflectError::Unreachable { .. } => SpecError::Unreachable(e),
                    other => SpecError::Method(other.to_string()),
                })?;
            let pool = descriptors::from_reflection(files).map_err(SpecError::Method)?;
            let method = descriptors::find_method(&pool, &g.service, &g.method)
                .map_err(SpecError::Method)?;
            descriptors::encode(&method, &g.data)
                .map_err(|e| SpecError::Method(format!("--data: {e}")))?
        }
    };
    spec.grpc = Some(GrpcCall {
        path: g.path(),
        message,
    });
    Ok(spec)
}

#[cfg(test)]
mod tests;
