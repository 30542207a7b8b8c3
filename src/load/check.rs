//! Response checks, as k6 has them and without a scripting engine: the status (a set of codes
//! or ranges), a header (present, or equal to a value), the JSON body at a JSON Pointer
//! (RFC 6901: exists, equals a value, or has a type), and the body (contains a string, or
//! matches a regular expression). The plan builds them; the clients evaluate them on each
//! response of their template.
//!
//! Cheap by construction: status and header checks read the response head the clients parse
//! anyway; the body is read (up to `--max-body`) only for templates whose checks need it, and
//! parsed as JSON only when a JSON check is there. Regular expressions are the `regex` crate's:
//! matching is linear in the body's length whatever the pattern, and a pattern's compiled size
//! is bounded, so no pattern can stall the engine. A message is written only for a check that
//! failed.

use http::HeaderName;
use regex::Regex;
use serde_json::Value;

use super::request::StatusSet;

/// The JSON types a `json` check can require.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonType {
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    pub fn from_name(s: &str) -> Option<JsonType> {
        Some(match s {
            "null" => JsonType::Null,
            "boolean" | "bool" => JsonType::Boolean,
            "number" => JsonType::Number,
            "string" => JsonType::String,
            "array" => JsonType::Array,
            "object" => JsonType::Object,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }

    fn of(v: &Value) -> JsonType {
        match v {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Boolean,
            Value::Number(_) => JsonType::Number,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }
}

/// What a `json` check expects at its pointer.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonExpect {
    Exists,
    Equals(Value),
    Type(JsonType),
}

/// What a `body` check expects.
#[derive(Clone, Debug)]
pub enum BodyExpect {
    Contains(String),
    Matches(Regex),
}

/// What one check looks at.
#[derive(Clone, Debug)]
pub enum CheckKind {
    Status(StatusSet),
    /// The header is present (`equals: None`) or has exactly this value.
    Header {
        name: HeaderName,
        equals: Option<String>,
    },
    Json {
        pointer: String,
        expect: JsonExpect,
    },
    Body(BodyExpect),
}

/// One check of a template.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: String,
    /// A failed `warn` check is counted but does not fail the request.
    pub warn: bool,
    pub kind: CheckKind,
}

impl Check {
    /// What the check checks, in words (`json /fullname is a string`).
    pub fn describe(&self) -> String {
        match &self.kind {
            CheckKind::Status(s) => format!("status in {s}"),
            CheckKind::Header { name, equals: None } => format!("header {name} present"),
            CheckKind::Header {
                name,
                equals: Some(v),
            } => format!("header {name} == {v}"),
            CheckKind::Json { pointer, expect } => match expect {
                JsonExpect::Exists => format!("json {pointer} exists"),
                JsonExpect::Equals(v) => format!("json {pointer} == {v}"),
                JsonExpect::Type(t) => format!("json {pointer} is a {}", t.name()),
            },
            CheckKind::Body(BodyExpect::Contains(s)) => format!("body contains {s:?}"),
            CheckKind::Body(BodyExpect::Matches(r)) => format!("body matches /{}/", r.as_str()),
        }
    }
}

/// What a response head showed the header checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderScan {
    /// Bit *i* set: header check *i* passed.
    pub passed: u64,
    /// (check, value) of checked headers whose value did not match.
    pub mismatched: Vec<(usize, String)>,
}

/// The body's bytes as the client read them, for the checks that need them.
#[derive(Clone, Copy, Debug)]
pub struct Body<'a> {
    pub bytes: &'a [u8],
    /// The body was longer than `--max-body`: `bytes` is its start.
    pub truncated: bool,
}

/// What the checks of one response found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Bit *i* set: check *i* failed (warn checks included).
    pub failed: u64,
    /// A check not marked `warn` failed: the request fails as `check_failed`.
    pub fatal: bool,
    /// Why, for the first failed check (fatal ones first): `check `name`: …`.
    pub message: Option<String>,
}

/// A template's checks, with what evaluating them needs.
#[derive(Clone, Debug, Default)]
pub struct Checks {
    list: Box<[Check]>,
    needs_body: bool,
    /// Bits of the header checks, so a response head is scanned only when there is one.
    header_bits: u64,
}

impl Checks {
    /// At most 64 checks (the plan enforces it); more are ignored.
    pub fn new(list: Vec<Check>) -> Checks {
        let list: Box<[Check]> = list.into_iter().take(64).collect();
        let needs_body = list
            .iter()
            .any(|c| matches!(c.kind, CheckKind::Json { .. } | CheckKind::Body(_)));
        let header_bits = list
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c.kind, CheckKind::Header { .. }))
            .fold(0u64, |m, (i, _)| m | (1 << i));
        Checks {
            list,
            needs_body,
            header_bits,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn list(&self) -> &[Check] {
        &self.list
    }

    /// Whether the response body must be read to evaluate them.
    #[inline]
    pub fn needs_body(&self) -> bool {
        self.needs_body
    }

    /// Whether any check reads a header.
    #[inline]
    pub fn reads_headers(&self) -> bool {
        self.header_bits != 0
    }

    /// Scans a response head's headers (name, value) for the header checks: which passed,
    /// and the values of checked headers that did not match (kept only then, for messages).
    pub fn scan_headers<'h>(
        &self,
        headers: impl Iterator<Item = (&'h str, &'h [u8])>,
    ) -> HeaderScan {
        let mut scan = HeaderScan::default();
        if self.header_bits == 0 {
            return scan;
        }
        for (name, value) in headers {
            for (i, c) in self.list.iter().enumerate() {
                let CheckKind::Header { name: want, equals } = &c.kind else {
                    continue;
                };
                if !want.as_str().eq_ignore_ascii_case(name) {
                    continue;
                }
                if equals.as_ref().is_none_or(|v| v.as_bytes() == value) {
                    scan.passed |= 1 << i;
                } else {
                    scan.mismatched
                        .push((i, String::from_utf8_lossy(value).into_owned()));
                }
            }
        }
        scan
    }

    /// Evaluates every check on a response: its status, what [`Checks::scan_headers`] found
    /// in its head, and its body (`None` when it was not read).
    pub fn evaluate(&self, status: u16, headers: &HeaderScan, body: Option<Body<'_>>) -> Verdict {
        let mut failed = 0u64;
        let mut fatal_msg: Option<String> = None;
        let mut warn_msg: Option<String> = None;
        let json = JsonBody::new(body);
        for (i, c) in self.list.iter().enumerate() {
            let problem = match &c.kind {
                CheckKind::Status(set) => {
                    (!set.contains(status)).then(|| format!("status {status} is not in {set}"))
                }
                CheckKind::Header { name, equals } => (headers.passed & (1 << i) == 0).then(|| {
                    let seen = headers.mismatched.iter().find(|(j, _)| *j == i);
                    match (seen, equals) {
                        (Some((_, v)), Some(want)) => {
                            format!("header {name} is {:?}, expected {want:?}", truncate(v, 80))
                        }
                        _ => format!("header {name} is missing"),
                    }
                }),
                CheckKind::Json { pointer, expect } => json.check(pointer, expect),
                CheckKind::Body(expect) => body_problem(body, expect),
            };
            let Some(problem) = problem else { continue };
            failed |= 1 << i;
            let slot = if c.warn {
                &mut warn_msg
            } else {
                &mut fatal_msg
            };
            if slot.is_none() {
                *slot = Some(format!("check `{}` failed: {problem}", c.name));
            }
        }
        Verdict {
            failed,
            fatal: fatal_msg.is_some(),
            message: fatal_msg.or(warn_msg),
        }
    }
}

/// The body parsed as JSON once, on the first JSON check that needs it.
struct JsonBody<'a> {
    body: Option<Body<'a>>,
    parsed: std::cell::OnceCell<Result<Value, String>>,
}

impl<'a> JsonBody<'a> {
    fn new(body: Option<Body<'a>>) -> JsonBody<'a> {
        JsonBody {
            body,
            parsed: std::cell::OnceCell::new(),
        }
    }

    fn value(&self) -> &Result<Value, String> {
        self.parsed.get_or_init(|| match self.body {
            None => Err("the body was not read".into()),
            Some(b) if b.truncated => Err(format!(
                "the body is longer than --max-body ({} bytes read): raise --max-body to check it",
                b.bytes.len()
            )),
            Some(b) => {
                serde_json::from_slice(b.bytes).map_err(|e| format!("the body is not JSON ({e})"))
            }
        })
    }

    fn check(&self, pointer: &str, expect: &JsonExpect) -> Option<String> {
        let root = match self.value() {
            Ok(v) => v,
            Err(e) => return Some(e.clone()),
        };
        let Some(found) = root.pointer(pointer) else {
            return Some(format!("{} is missing", shown(pointer)));
        };
        match expect {
            JsonExpect::Exists => None,
            JsonExpect::Equals(want) => (found != want).then(|| {
                format!(
                    "{} is {}, expected {want}",
                    shown(pointer),
                    truncate(&found.to_string(), 80)
                )
            }),
            JsonExpect::Type(t) => (JsonType::of(found) != *t).then(|| {
                format!(
                    "{} is a {}, expected a {}",
                    shown(pointer),
                    JsonType::of(found).name(),
                    t.name()
                )
            }),
        }
    }
}

/// A pointer as messages show it (the empty pointer is the whole document).
fn shown(pointer: &str) -> String {
    if pointer.is_empty() {
        "the document".to_string()
    } else {
        pointer.to_string()
    }
}

fn body_problem(body: Option<Body<'_>>, expect: &BodyExpect) -> Option<String> {
    let Some(b) = body else {
        return Some("the body was not read".into());
    };
    let cut = if b.truncated {
        " (only the first --max-body bytes were read)"
    } else {
        ""
    };
    match expect {
        BodyExpect::Contains(s) => {
            let found = memfind(b.bytes, s.as_bytes());
            (!found).then(|| format!("the body does not contain {s:?}{cut}"))
        }
        BodyExpect::Matches(re) => {
            let text = String::from_utf8_lossy(b.bytes);
            (!re.is_match(&text)).then(|| format!("the body does not match /{}/{cut}", re.as_str()))
        }
    }
}

fn memfind(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w == needle)
}

/// At most `max` characters of `s`, marked when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// How much of a failed response's body its excerpt keeps.
pub const EXCERPT_BODY: usize = 512;

/// A failed response as findings quote it: the status and the start of the body.
pub fn excerpt(status: u16, body: Option<Body<'_>>) -> String {
    match body {
        Some(b) if !b.bytes.is_empty() => {
            let text = String::from_utf8_lossy(b.bytes);
            format!("HTTP {status}: {}", truncate(&text, EXCERPT_BODY))
        }
        _ => format!("HTTP {status}"),
    }
}

/// Whether `s` is a JSON Pointer (RFC 6901): empty, or `/`-separated tokens in which `~` is
/// only ever followed by `0` or `1`.
pub fn valid_pointer(s: &str) -> Result<(), String> {
    if !s.is_empty() && !s.starts_with('/') {
        return Err(format!(
            "`{s}` is not a JSON Pointer: it must be empty or start with / (e.g. /user/full_name)"
        ));
    }
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.peek(), Some('0' | '1')) {
            return Err(format!(
                "`{s}` is not a JSON Pointer: `~` must be followed by 0 (for ~) or 1 (for /)"
            ));
        }
    }
    Ok(())
}

/// The bound on a compiled body regex: patterns that compile bigger are refused.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a body regex within [`REGEX_SIZE_LIMIT`].
pub fn compile_regex(s: &str) -> Result<Regex, String> {
    regex::RegexBuilder::new(s)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| format!("`{s}` is not a regular expression zerodrop can use: {e}"))
}

#[cfg(test)]
mod tests;
