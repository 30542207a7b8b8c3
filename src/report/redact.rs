//! Masking secrets before anything is written: `Authorization`, `Proxy-Authorization`, `Cookie`,
//! `Set-Cookie`, every header the user names with `--redact-header`, and passwords in URLs.
//!
//! The run flow masks the plan once when it builds the result ([`redact_plan_json`]); every
//! renderer masks again with a [`Redactor`] so a result saved by an older or foreign writer
//! cannot leak through a report. It owns only masking; it does not decide what is shown.

use serde_json::Value;

/// What a masked value is replaced with.
pub const MASK: &str = "<redacted>";

/// Headers masked whatever the user says (compared case-insensitively).
pub const ALWAYS_REDACTED: [&str; 4] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
];

/// Masks secrets in plan JSON and free text. Cheap to build; build one per render.
#[derive(Clone, Debug)]
pub struct Redactor {
    /// Lower-cased header names whose values are masked.
    names: Vec<String>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new(&[])
    }
}

impl Redactor {
    /// The always-masked headers plus `extra` (`--redact-header`).
    pub fn new(extra: &[String]) -> Redactor {
        let mut names: Vec<String> = ALWAYS_REDACTED.iter().map(|s| s.to_string()).collect();
        for e in extra {
            let n = e.trim().to_ascii_lowercase();
            if !n.is_empty() && !names.contains(&n) {
                names.push(n);
            }
        }
        Redactor { names }
    }

    /// True if a header of this name has its value masked.
    pub fn is_sensitive(&self, name: &str) -> bool {
        let n = name.trim().to_ascii_lowercase();
        self.names.contains(&n)
    }

    /// A copy of `value` with every secret masked. Header values are recognised however the
    /// plan spells headers: as an object keyed by name, as `"Name: value"` strings, as
    /// `[name, value]` pairs, or as `{ "name": …, "value": … }` objects.
    pub fn json(&self, value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                // `{ "name": "Authorization", "value": "…" }`
                let named = map
                    .get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| self.is_sensitive(n));
                let out = map
                    .iter()
                    .map(|(k, v)| {
                        let masked = self.is_sensitive(k) || (named && k == "value");
                        let v = if masked { mask_value(v) } else { self.json(v) };
                        (k.clone(), v)
                    })
                    .collect();
                Value::Object(out)
            }
            Value::Array(items) => {
                // `["Authorization", "Bearer …"]`
                if let [Value::String(name), v] = items.as_slice()
                    && self.is_sensitive(name)
                {
                    return Value::Array(vec![Value::String(name.clone()), mask_value(v)]);
                }
                Value::Array(items.iter().map(|v| self.json(v)).collect())
            }
            Value::String(s) => Value::String(self.text(s)),
            other => other.clone(),
        }
    }

    /// `s` with `Name: value` header lines of sensitive headers and URL passwords masked.
    pub fn text(&self, s: &str) -> String {
        let s = mask_url_passwords(s);
        let mut out = String::with_capacity(s.len());
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&self.mask_header_line(line));
        }
        out
    }

    /// Masks the value of every `Name: value` or `Name=value` occurrence of a sensitive name
    /// (`-H 'Authorization: Bearer x'`, `cookie=abc`), up to the end of the line.
    fn mask_header_line(&self, line: &str) -> String {
        let lower = line.to_ascii_lowercase();
        let mut cut = None;
        for name in &self.names {
            let mut from = 0;
            while let Some(pos) = lower[from..].find(name.as_str()) {
                let start = from + pos;
                let end = start + name.len();
                from = end;
                // Whole names only: `x-cookie-id` is not `cookie`.
                let before_ok = lower[..start]
                    .chars()
                    .next_back()
                    .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'));
                let rest = &line[end..];
                let trimmed = rest.trim_start();
                let sep = trimmed.starts_with(':') || trimmed.starts_with('=');
                if before_ok && sep {
                    let value_at = end + (rest.len() - trimmed.len()) + 1;
                    if cut.is_none_or(|c| value_at < c) {
                        cut = Some(value_at);
                    }
                }
            }
        }
        match cut {
            Some(at) => {
                // Keep a closing quote so quoted flags stay readable.
                let tail = &line[at..];
                let quote = tail
                    .trim_end()
                    .chars()
                    .next_back()
                    .filter(|c| *c == '\'' || *c == '"');
                let mut out = format!("{} {MASK}", &line[..at]);
                if let Some(q) = quote {
                    out.push(q);
                }
                out
            }
            None => line.to_string(),
        }
    }
}

fn mask_value(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Array(items) => Value::Array(items.iter().map(mask_value).collect()),
        _ => Value::String(MASK.to_string()),
    }
}

/// Masks the password of every `scheme://user:password@host` in `s`.
fn mask_url_passwords(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let auth_end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace() || c == '"')
            .unwrap_or(tail.len());
        let authority = &tail[..auth_end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[auth_end..];
    }
    out.push_str(rest);
    out
}

/// The plan as the result stores it: secrets masked. `extra_names` are the `--redact-header`
/// names; the always-masked headers are added.
pub fn redact_plan_json(value: &Value, extra_names: &[String]) -> Value {
    Redactor::new(extra_names).json(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_maps_mask_the_always_redacted_names_in_any_case() {
        let plan = json!({"headers": {"Authorization": "Bearer s3cr3t", "COOKIE": "sid=1",
            "Proxy-Authorization": "Basic x", "set-cookie": ["a=1", "b=2"], "Accept": "text/html"}});
        let out = redact_plan_json(&plan, &[]);
        let text = out.to_string();
        assert!(!text.contains("s3cr3t") && !text.contains("sid=1") && !text.contains("Basic x"));
        assert!(!text.contains("a=1"));
        assert_eq!(out["headers"]["Accept"], "text/html");
        assert_eq!(out["headers"]["Authorization"], MASK);
    }

    #[test]
    fn headers_named_by_the_user_are_masked_too() {
        let plan = json!({"headers": {"X-Api-Key": "k-123", "X-Trace": "t"}});
        let out = redact_plan_json(&plan, &["x-api-key".to_string()]);
        assert_eq!(out["headers"]["X-Api-Key"], MASK);
        assert_eq!(out["headers"]["X-Trace"], "t");
    }

    #[test]
    fn header_lines_pairs_and_name_value_objects_are_masked() {
        let plan = json!({
            "lines": ["Authorization: Bearer abc", "Accept: */*"],
            "pairs": [["cookie", "sid=9"], ["accept", "x"]],
            "objects": [{"name": "Authorization", "value": "Bearer def"}, {"name": "A", "value": "b"}],
        });
        let out = redact_plan_json(&plan, &[]);
        let text = out.to_string();
        for secret in ["Bearer abc", "sid=9", "Bearer def"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
        assert_eq!(out["lines"][0], format!("Authorization: {MASK}"));
        assert_eq!(out["lines"][1], "Accept: */*");
        assert_eq!(out["pairs"][1][1], "x");
        assert_eq!(out["objects"][1]["value"], "b");
    }

    #[test]
    fn url_passwords_are_masked_and_users_kept() {
        let r = Redactor::default();
        assert_eq!(
            r.text("GET https://alice:pw@example.com/x failed"),
            format!("GET https://alice:{MASK}@example.com/x failed")
        );
        assert_eq!(r.text("http://example.com/a@b"), "http://example.com/a@b");
    }

    #[test]
    fn a_name_inside_a_longer_header_name_is_not_masked() {
        let r = Redactor::default();
        assert_eq!(r.text("x-cookie-id: 5"), "x-cookie-id: 5");
        assert_eq!(r.text("-H 'Cookie: a=b'"), format!("-H 'Cookie: {MASK}'"));
    }
}
