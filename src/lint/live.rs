//! A live workload as lint checks it: the workload and every PodDisruptionBudget of its
//! namespace, read by the kube runtime (`cluster::kube::read_workload`, read-only) and handed
//! over as [`Object`]s. Every PDB of the namespace was listed, so one that covers no pod is
//! known to be missing. Pure: lint reads no cluster.

use super::parse::Object;

/// What `zerodrop run` needs from lint before it starts: the findings to print, and the
/// workload's configuration for the analysis of the run.
#[derive(Clone, Debug)]
pub struct LiveLint {
    pub findings: Vec<crate::model::finding::Finding>,
    pub workload: Option<crate::analysis::WorkloadConfig>,
}

/// Lints a live workload's objects (the workload and its namespace's every PDB).
pub fn lint_live_objects(objects: &[Object]) -> LiveLint {
    LiveLint {
        findings: super::lint_with(objects, super::PdbScope::Complete),
        workload: super::workload_config(objects),
    }
}
