//! Scenario files: the same settings as the flags, in YAML, with the line of every value kept
//! so a problem can be reported where it is. Unknown keys are errors (a typo must not be
//! silently ignored).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A scenario file as written. Every scalar is kept as text with its location; `plan`
/// validates it exactly like the corresponding flag.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Free text describing the scenario; shown in reports.
    pub description: Option<String>,
    pub target: Option<Spanned<String>>,
    pub path: Option<Spanned<String>>,
    pub method: Option<Spanned<String>>,
    pub headers: Option<Spanned<Headers>>,
    pub body: Option<Spanned<String>>,
    pub body_file: Option<Spanned<String>>,
    pub rate: Option<Spanned<String>>,
    pub duration: Option<Spanned<String>>,
    pub stages: Option<Spanned<Stages>>,
    pub max: Option<Spanned<String>>,
    pub connections: Option<Spanned<String>>,
    pub max_in_flight: Option<Spanned<String>>,
    pub send_window: Option<Spanned<String>>,
    pub timeout: Option<Spanned<String>>,
    pub connect_timeout: Option<Spanned<String>>,
    pub keepalive: Option<Spanned<String>>,
    pub http2: Option<Spanned<String>>,
    pub insecure: Option<Spanned<String>>,
    pub accept_status: Option<Spanned<String>>,
    pub pod_header: Option<Spanned<String>>,
    pub thresholds: Option<Vec<Spanned<String>>>,
    pub redact_headers: Option<Vec<Spanned<String>>>,
    pub failure_log_limit: Option<Spanned<String>>,
    pub via: Option<Spanned<String>>,
    /// gRPC (`--grpc` and its flags): the method, its protos, the request as YAML or JSON.
    pub grpc: Option<Spanned<String>>,
    pub proto: Option<Vec<Spanned<String>>>,
    pub import_paths: Option<Vec<Spanned<String>>>,
    pub data: Option<Spanned<serde_json::Value>>,
    pub data_file: Option<Spanned<String>>,
    pub baseline: Option<Spanned<String>>,
    pub settle: Option<Spanned<String>>,
    pub rollout_timeout: Option<Spanned<String>>,
    /// A weighted mix of request templates, each with its own response checks; read as a
    /// [`Node`] tree so every problem in it is reported at once, where it is.
    pub requests: Option<Spanned<Node>>,
    /// The seed of the mix's sequence of templates.
    pub seed: Option<Spanned<String>>,
    /// The most of a response body read for checks that need it.
    pub max_body: Option<Spanned<String>>,
    /// A response header naming the version that answered.
    pub version_header: Option<Spanned<String>>,
    /// WebSocket sessions instead of requests (`--ws` and its flags).
    pub websocket: Option<super::ws::WsScenario>,
}

/// A YAML value with the location of every value inside it. Settings with a rich shape (the
/// request templates and their checks) are read as this tree and validated by hand, so a
/// scenario with five mistakes gets five messages, each naming its line and key, rather than
/// serde's first.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    /// Entries in file order; keys as text.
    Map(Vec<(String, Spanned<Node>)>),
}

impl Node {
    /// A scalar as text (`None` for null, lists and maps).
    pub fn text(&self) -> Option<String> {
        match self {
            Node::Bool(b) => Some(b.to_string()),
            Node::Int(i) => Some(i.to_string()),
            Node::Float(f) => Some(f.to_string()),
            Node::Str(s) => Some(s.clone()),
            Node::Null | Node::Seq(_) | Node::Map(_) => None,
        }
    }

    /// The value as JSON (for a check's `equals`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Int(i) => Value::from(*i),
            Node::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s.clone()),
            Node::Seq(items) => Value::Array(items.iter().map(|n| n.value.to_json()).collect()),
            Node::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.clone(), v.value.to_json()))
                    .collect(),
            ),
        }
    }

    /// What kind of value it is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Node::Null => "nothing",
            Node::Bool(_) | Node::Int(_) | Node::Float(_) | Node::Str(_) => "a single value",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a map",
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E: serde::de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Node, E> {
                Ok(i64::try_from(v).map_or(Node::Float(v as f64), Node::Int))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Text>()? {
                    let value = map.next_value::<Spanned<Node>>()?;
                    entries.push((key.0, value));
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// Headers as a map (`X-Env: staging`) or a list of `Name: value` strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Headers {
    Map(BTreeMap<String, Text>),
    List(Vec<String>),
}

/// Stages as the flag's text (`0s:100,30s:1000`) or a list of `{at, rate}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stages {
    Text(String),
    List(Vec<StagePoint>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StagePoint {
    pub at: Text,
    pub rate: Text,
}

/// A scalar of any YAML type kept as its text (inside untagged enums serde has already typed
/// `10` as a number, so a plain `String` would not accept it).
#[derive(Debug, Clone, PartialEq)]
pub struct Text(pub String);

impl std::ops::Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a scalar")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A loaded scenario and where it came from.
#[derive(Debug)]
pub struct Scenario {
    pub path: PathBuf,
    pub file: ScenarioFile,
}

impl Scenario {
    /// Reads and parses a scenario file; the error names the file and, for YAML problems,
    /// the line and column.
    pub fn load(path: &Path) -> Result<Scenario, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read scenario file {}: {e}", path.display()))?;
        Scenario::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Scenario, String> {
        let file: ScenarioFile = if text.trim().is_empty() {
            ScenarioFile::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| format!("{}: {e}", path.display()))?
        };
        Ok(Scenario {
            path: path.to_path_buf(),
            file,
        })
    }

    /// A path given in the file, relative to the file's directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.path.parent().unwrap_or(Path::new(".")).join(p)
        }
    }
}
