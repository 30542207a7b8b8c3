//! The flags of `zerodrop run` that configure the Kubernetes runtime and make a run one
//! generator of several, as clap reads them (traffic, phase and output flags are
//! [`super::traffic`]'s). Validated by `config::kube` and `config::worker`.

use std::path::PathBuf;

/// Kubernetes flags of `zerodrop run`, named as kubectl names them where kubectl has one.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "Kubernetes")]
pub struct KubeArgs {
    /// Namespace of the workload (default: the context's namespace, or the pod's in a cluster).
    #[arg(long, short = 'n', value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// kubeconfig context to use (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then the in-cluster
    /// service account).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Service whose endpoints are watched (default: the one Service selecting the workload's
    /// pods).
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,
    /// What starts the rollout: restart | 'image CONTAINER=IMAGE' | 'patch FILE' | exec (the
    /// command after --) | external | kill-pod | 'selector KEY=VALUE'. A colon may replace the
    /// space: image:web=web:2.
    #[arg(long, value_name = "TRIGGER", default_value = "restart")]
    pub trigger: String,
    /// How `--trigger patch FILE` is merged: strategic, merge or json (kubectl patch --type).
    #[arg(long = "patch-type", value_name = "TYPE", default_value = "strategic")]
    pub patch_type: String,
    /// Time between pod deletions of `--trigger kill-pod`.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub interval: String,
    /// When the rollout fails or times out, roll back as `kubectl rollout undo` would.
    #[arg(long = "undo-on-failure")]
    pub undo_on_failure: bool,
    /// How long one API request may take before the API server counts as unresponsive.
    #[arg(
        long = "request-timeout",
        value_name = "DURATION",
        default_value = "30s"
    )]
    pub request_timeout: String,
    /// Print each pod, endpoint and rollout event as it is observed (plain lines on stderr).
    #[arg(long)]
    pub events: bool,
}

/// Flags of `zerodrop run` for in-cluster and distributed runs.
#[derive(Clone, Debug, Default, clap::Args)]
#[command(next_help_heading = "In-cluster and distributed runs")]
pub struct WorkerArgs {
    /// Generators sharing this run; each sends every N-th request (rate/N). `zerodrop manifest
    /// job --workers N` makes an Indexed Job of N.
    #[arg(long, value_name = "N")]
    pub workers: Option<String>,
    /// This generator's index, 0 to N-1 (an Indexed Job sets $JOB_COMPLETION_INDEX). Only
    /// generator 0 triggers the rollout.
    #[arg(long = "worker-index", env = "JOB_COMPLETION_INDEX", value_name = "K")]
    pub worker_index: Option<String>,
    /// Label selector of every generator's pod: wait until all N run, then start the load
    /// together.
    #[arg(long = "worker-pods", value_name = "SELECTOR")]
    pub worker_pods: Option<String>,
    /// Print the result as one line of JSON after a marker line on standard output, for
    /// `kubectl logs job/NAME | zerodrop report -`.
    #[arg(long = "result-log")]
    pub result_log: bool,
    /// Also patch the result into this ConfigMap (key result-K.json), trimmed to fit its 1 MiB.
    #[arg(long = "result-configmap", value_name = "NAME")]
    pub result_configmap: Option<String>,
}
