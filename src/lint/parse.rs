//! Reads manifests — one file, several documents, Helm-rendered output, `kind: List` — into
//! typed Kubernetes objects, with errors that name the file and the line.
//!
//! Each document is parsed with serde-saphyr into a `serde_json::Value` to read its kind, then
//! converted into the k8s-openapi type of that kind. A document of a kind lint does not check
//! (Service, ConfigMap, …) is kept as [`Object::Other`], never an error. No I/O here: callers
//! pass the text.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde::de::DeserializeOwned;

use super::LintError;

/// One object of the input.
#[derive(Clone, Debug, PartialEq)]
pub enum Object {
    Deployment(Box<Deployment>),
    StatefulSet(Box<StatefulSet>),
    DaemonSet(Box<DaemonSet>),
    PodDisruptionBudget(Box<PodDisruptionBudget>),
    /// A kind lint does not check.
    Other {
        kind: String,
        name: String,
    },
}

/// One YAML document of a file and the line it starts on (1-based).
struct Doc<'a> {
    text: &'a str,
    first_line: usize,
}

/// Splits at document markers (`---` at the start of a line). A `---` inside a block scalar
/// would have to be indented, so a marker at column 0 always separates documents.
fn documents(text: &str) -> Vec<Doc<'_>> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut first_line = 1usize;
    let mut offset = 0usize;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        let is_marker = bare == "---"
            || bare.starts_with("--- ")
            || bare.starts_with("---\t")
            || bare == "..."
            || bare.starts_with("--- #");
        if is_marker {
            out.push(Doc {
                text: &text[start..offset],
                first_line,
            });
            start = offset + line.len();
            first_line = i + 2;
        }
        offset += line.len();
    }
    out.push(Doc {
        text: &text[start..],
        first_line,
    });
    // Helm output is full of documents holding only a `# Source:` comment.
    out.retain(|d| {
        d.text
            .lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    out
}

/// Parses every object in `text`, read from `source` (a path, or `-` for standard input).
pub fn parse_manifests(source: &str, text: &str) -> Result<Vec<Object>, LintError> {
    let mut out = Vec::new();
    for doc in documents(text) {
        let value: serde_json::Value =
            serde_saphyr::from_str(doc.text).map_err(|e| LintError::Yaml {
                message: render(&e, source, doc.first_line),
            })?;
        collect(value, source, &doc, &mut out)?;
    }
    Ok(out)
}

fn render(e: &serde_saphyr::Error, source: &str, first_line: usize) -> String {
    let options = serde_saphyr::render_options! {
        line_offset: first_line.saturating_sub(1) as u64,
        source_name: Some(source),
    };
    e.render_with_options(options)
}

fn collect(
    value: serde_json::Value,
    source: &str,
    doc: &Doc<'_>,
    out: &mut Vec<Object>,
) -> Result<(), LintError> {
    if value.is_null() {
        return Ok(());
    }
    let kind = value
        .get("kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default()
        .to_string();
    let name = value
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or_default()
        .to_string();
    let obj = match kind.as_str() {
        "Deployment" => Object::Deployment(Box::new(typed(value, source, doc, &kind, &name)?)),
        "StatefulSet" => Object::StatefulSet(Box::new(typed(value, source, doc, &kind, &name)?)),
        "DaemonSet" => Object::DaemonSet(Box::new(typed(value, source, doc, &kind, &name)?)),
        "PodDisruptionBudget" => {
            Object::PodDisruptionBudget(Box::new(typed(value, source, doc, &kind, &name)?))
        }
        // `kubectl get -o yaml` wraps several objects in a List.
        "List" => {
            if let Some(serde_json::Value::Array(items)) = value.get("items") {
                for item in items.clone() {
                    collect(item, source, doc, out)?;
                }
            }
            return Ok(());
        }
        _ => Object::Other { kind, name },
    };
    out.push(obj);
    Ok(())
}

/// Converts a document to its k8s type. On failure the document is read again straight into
/// the type, so the error can point at the offending line.
fn typed<T: DeserializeOwned>(
    value: serde_json::Value,
    source: &str,
    doc: &Doc<'_>,
    kind: &str,
    name: &str,
) -> Result<T, LintError> {
    serde_json::from_value(value).map_err(|json_err| {
        let message = match serde_saphyr::from_str::<T>(doc.text) {
            Err(e) if e.location().is_some() => render(&e, source, doc.first_line),
            _ => format!("{source}:{}: {json_err}", doc.first_line),
        };
        LintError::Invalid {
            kind: kind.to_string(),
            name: name.to_string(),
            message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_at_markers_and_skip_comment_only_ones() {
        let text =
            "# Source: chart/templates/a.yaml\n---\na: 1\n---\n# only a comment\n--- \nb: 2\n";
        let docs = documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].text, "a: 1\n");
        assert_eq!(docs[0].first_line, 3);
        assert_eq!(docs[1].first_line, 7);
    }

    #[test]
    fn a_yaml_syntax_error_names_the_file_and_the_line_in_the_file() {
        let text =
            "kind: Service\nmetadata:\n  name: a\n---\nkind: Deployment\nmetadata: [unclosed\n";
        let err = parse_manifests("web.yaml", text).expect_err("bad yaml");
        let msg = err.to_string();
        assert!(msg.contains("web.yaml:"), "{msg}");
        assert!(msg.contains(":6:") || msg.contains(":7:"), "{msg}");
    }

    #[test]
    fn a_wrongly_typed_field_names_its_line() {
        let text = "kind: Service\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: three\n  selector: {}\n  template: {}\n";
        let err = parse_manifests("web.yaml", text).expect_err("bad type");
        let msg = err.to_string();
        assert!(msg.contains("Deployment web"), "{msg}");
        assert!(msg.contains("web.yaml:8"), "{msg}");
    }

    #[test]
    fn lists_and_unknown_kinds_are_read() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata: {name: s}\n- apiVersion: policy/v1\n  kind: PodDisruptionBudget\n  metadata: {name: p}\n  spec: {maxUnavailable: 1}\n";
        let objs = parse_manifests("-", text).expect("parses");
        assert_eq!(objs.len(), 2);
        assert!(matches!(&objs[0], Object::Other { kind, .. } if kind == "Service"));
        assert!(matches!(&objs[1], Object::PodDisruptionBudget(_)));
    }
}
