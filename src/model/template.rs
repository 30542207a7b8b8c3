//! The request templates of a mix, as every stage after the plan names them: a template's name,
//! what it sends, its weight and its response checks. The plan builds them, the recorder keeps
//! counts per template and per check under these names, the analysis and the gate refer to
//! them, reports print them. A request record carries only its template's index and a bit set
//! of the checks that failed; this table says what the numbers mean.

use serde::{Deserialize, Serialize};

/// The most response checks one template may have (a request record keeps them as a `u64`).
pub const MAX_CHECKS: usize = 64;

/// The most templates a mix may have (records keep the index as a `u16`; the recorder keeps
/// counts and a histogram per template and phase, so a mix is a handful, not thousands).
pub const MAX_TEMPLATES: usize = 256;

/// One request template, as saved in a result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateInfo {
    /// The name thresholds and reports use (`orders`); `default` for a run of one request
    /// shape given by flags.
    pub name: String,
    pub method: String,
    /// The path (and query) it requests.
    pub path: String,
    /// Its relative weight in the mix.
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<CheckInfo>,
}

/// One response check of a template, as saved in a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckInfo {
    /// The name given in the scenario, or one made from what it checks (`json /fullname exists`).
    pub name: String,
    /// What it checks, in words (`status in 200-299`, `header x-api-version == v2`).
    pub description: String,
    /// A failed `warn` check is counted, but the request still succeeds.
    #[serde(default)]
    pub warn: bool,
}

impl TemplateInfo {
    /// Whether any template of `templates` has a response check.
    pub fn any_checks(templates: &[TemplateInfo]) -> bool {
        templates.iter().any(|t| !t.checks.is_empty())
    }
}
