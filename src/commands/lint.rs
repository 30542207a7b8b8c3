//! `zerodrop lint`: manifest files, or one live workload read through the kube runtime
//! (`cluster::kube::read_workload`, read-only), checked by `lint`, which writes the report; an
//! error, if any, is printed here with its exit code.
//!
//! `zerodrop run`'s pre-flight lint of its workload goes through [`lint_workload`] too.

use std::io::{Read, Write};

use crate::cli::lint::LintArgs;
use crate::cluster::kube::read_workload::{LiveWorkload, read_workload};
use crate::cluster::kube::workload::Workload;
use crate::cluster::kube::{ConnectOptions, Connection, KubeError, WorkloadRef, connect::connect};
use crate::commands::error;
use crate::lint::live::{LiveLint, lint_live_objects};
use crate::lint::{self, LintError, LintOptions, Object};
use crate::model::finding::Finding;

/// Why `zerodrop lint` could not check anything.
#[derive(Debug, thiserror::Error)]
pub enum LintCommandError {
    /// The manifests could not be read or parsed, or the report not written.
    #[error(transparent)]
    Lint(#[from] LintError),
    /// Reading a live workload failed: no cluster, RBAC, not found (the message says which).
    #[error("{0}")]
    /// Boxed: it is large, and every other result of lint would pay for its size.
    Kube(Box<KubeError>),
    /// The async runtime for a live read could not start.
    #[error("cannot start the runtime for a live read: {0}")]
    Runtime(std::io::Error),
}

impl From<KubeError> for LintCommandError {
    fn from(e: KubeError) -> LintCommandError {
        LintCommandError::Kube(Box::new(e))
    }
}

impl LintCommandError {
    pub fn exit_code(&self) -> u8 {
        match self {
            LintCommandError::Lint(e) => e.exit_code(),
            LintCommandError::Kube(e)
                if matches!(**e, KubeError::NotFound { .. } | KubeError::BadInput(_)) =>
            {
                crate::model::exit::BAD_INPUT
            }
            LintCommandError::Kube(_) | LintCommandError::Runtime(_) => {
                crate::model::exit::COULD_NOT_RUN
            }
        }
    }
}

pub fn run(args: LintArgs) -> u8 {
    match lint_files_or_live(
        &options(args),
        &mut std::io::stdin(),
        &mut std::io::stdout(),
    ) {
        Ok(code) => code,
        Err(e) => {
            error(&e);
            e.exit_code()
        }
    }
}

/// The flags as lint's options.
fn options(a: LintArgs) -> LintOptions {
    LintOptions {
        files: a.files,
        workload: a.workload,
        namespace: a.namespace,
        context: a.context,
        kubeconfig: a.kubeconfig,
        fail_on: a.fail_on,
        format: a.format,
    }
}

/// Lints the manifest files, or the live workload, writes the report and returns the exit
/// code: 0, or 1 when a finding reaches `--fail-on`.
pub fn lint_files_or_live(
    args: &LintOptions,
    stdin: &mut dyn Read,
    out: &mut dyn Write,
) -> Result<u8, LintCommandError> {
    let Some(w) = &args.workload else {
        return Ok(lint::run(args, stdin, out)?);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(LintCommandError::Runtime)?;
    let findings = rt.block_on(lint_live(args, w))?;
    lint::write_report(&findings, args.format, out)?;
    Ok(lint::exit_code(&findings, args.fail_on))
}

/// Lints a live workload: its spec and every PodDisruptionBudget of its namespace.
pub async fn lint_live(
    args: &LintOptions,
    workload: &str,
) -> Result<Vec<Finding>, LintCommandError> {
    let workload = WorkloadRef::parse(workload)?;
    let conn = connect(&ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        namespace: args.namespace.clone(),
    })
    .await?;
    Ok(lint_workload(&conn, &workload).await?.findings)
}

/// Lints a live workload over an existing connection.
pub async fn lint_workload(
    conn: &Connection,
    workload: &WorkloadRef,
) -> Result<LiveLint, KubeError> {
    let live = read_workload(conn, workload).await?;
    Ok(lint_live_objects(&objects(live)))
}

/// The workload and its namespace's PodDisruptionBudgets as lint objects, the workload first.
fn objects(live: LiveWorkload) -> Vec<Object> {
    let mut out = vec![match live.workload {
        Workload::Deployment(d) => Object::Deployment(d),
        Workload::StatefulSet(s) => Object::StatefulSet(s),
        Workload::DaemonSet(d) => Object::DaemonSet(d),
    }];
    out.extend(
        live.budgets
            .into_iter()
            .map(|p| Object::PodDisruptionBudget(Box::new(p))),
    );
    out
}
