//! Masking secrets before anything is written: `Authorization`, `Proxy-Authorization`, `Cookie`,
//! `Set-Cookie`, every header the user names with `--redact-header`, passwords in URLs, the
//! values of secret-named settings in free text and command lines (`--password x`,
//! `db.password=x`, `API_TOKEN=x`, `"client_secret": "x"`), and, wherever they appear, the
//! literal values of the run's own sensitive request headers (an app or a trigger command that
//! echoes the token is masked too).
//!
//! The run flow masks the plan once when it builds the result ([`Redactor::json`]); every
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
    /// Literal secret values masked wherever they appear, longest first.
    values: Vec<String>,
}

/// How the name of a setting whose value is secret ends, once lower-cased and stripped of
/// `-`, `_` and `.` (`DB_PASSWORD`, `--api-key`, `clientSecret`, `aws.session_token`).
const SECRET_NAME_ENDINGS: [&str; 9] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "credential",
    "credentials",
];

/// Secret values shorter than this are not masked by value: they would hit ordinary words.
const MIN_SECRET_VALUE_LEN: usize = 6;

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
        Redactor {
            names,
            values: Vec::new(),
        }
    }

    /// Also masks these literal values wherever they appear: the values of the run's sensitive
    /// request headers, whole and (for `Bearer abc…`-style values) each word of them. Values
    /// shorter than six characters are ignored.
    pub fn with_values<'a>(mut self, values: impl IntoIterator<Item = &'a str>) -> Redactor {
        for v in values {
            let v = v.trim();
            let words = v.split_whitespace().filter(|w| w.len() != v.len());
            for candidate in std::iter::once(v).chain(words) {
                if candidate.len() >= MIN_SECRET_VALUE_LEN
                    && !self.values.iter().any(|x| x == candidate)
                {
                    self.values.push(candidate.to_string());
                }
            }
        }
        // Longest first, so a whole value is masked before one of its words.
        self.values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        self
    }

    /// The masker for a run: `extra` header names, plus the literal values of every request
    /// header among `headers` that is sensitive.
    pub fn for_headers(extra: &[String], headers: &[(String, String)]) -> Redactor {
        let r = Redactor::new(extra);
        let values: Vec<&str> = headers
            .iter()
            .filter(|(n, _)| r.is_sensitive(n))
            .map(|(_, v)| v.as_str())
            .collect();
        r.with_values(values)
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

    /// `s` with `Name: value` header lines of sensitive headers, URL passwords, secret-named
    /// settings and known secret values masked.
    pub fn text(&self, s: &str) -> String {
        let mut s = mask_url_passwords(s);
        for v in &self.values {
            if s.contains(v.as_str()) {
                s = s.replace(v.as_str(), MASK);
            }
        }
        let mut out = String::with_capacity(s.len());
        for (i, line) in s.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
            }
            out.push_str(&mask_secret_settings(&self.mask_header_line(line)));
        }
        out
    }

    /// A command line with secrets masked: each argument as [`Redactor::text`] masks it, and
    /// the argument after a secret-named flag given on its own (`--password hunter2`).
    pub fn argv(&self, argv: &[String]) -> Vec<String> {
        let mut out = Vec::with_capacity(argv.len());
        let mut mask_next = false;
        for a in argv {
            if std::mem::take(&mut mask_next) && !a.starts_with('-') {
                out.push(MASK.to_string());
                continue;
            }
            mask_next = a.starts_with('-') && !a.contains('=') && is_secret_name(a);
            out.push(self.text(a));
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

/// True if a setting of this name holds a secret (see [`SECRET_NAME_ENDINGS`]).
fn is_secret_name(name: &str) -> bool {
    let norm: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    SECRET_NAME_ENDINGS.iter().any(|e| norm.ends_with(e))
}

/// Masks the value after every secret-named setting in one line: `name=value`, `name: value`,
/// `"name": "value"`, and a flag followed by its value (`--token abc`). A quoted value ends at
/// its quote, an unquoted one after `:` at the end of the line, any other at white space, a
/// quote, `&`, `,` or `;`.
fn mask_secret_settings(line: &str) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let ends_value = |c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '&' | ',' | ';');
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < line.len() {
        let c = line[i..].chars().next().unwrap_or(' ');
        if !is_name(c) || (i > 0 && is_name(line[..i].chars().next_back().unwrap_or(' '))) {
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        // A name starts at `i`.
        let end = line[i..]
            .find(|c: char| !is_name(c))
            .map_or(line.len(), |e| i + e);
        let name = &line[i..end];
        out.push_str(name);
        i = end;
        if !is_secret_name(name) || !name.chars().any(|c| c.is_ascii_alphabetic()) {
            continue;
        }
        // After the name: an optional closing quote, spaces, then `=` or `:`; or, for a flag,
        // spaces then a value that is not another flag.
        let mut j = i;
        if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
            j += 1;
        }
        while j < b.len() && b[j] == b' ' {
            j += 1;
        }
        let separated = j < b.len() && (b[j] == b'=' || b[j] == b':');
        let colon = separated && b[j] == b':';
        if separated {
            j += 1;
            while j < b.len() && b[j] == b' ' {
                j += 1;
            }
        } else if !(name.starts_with('-') && j > i && j < b.len() && b[j] != b'-') {
            continue;
        }
        let quote = (j < b.len() && (b[j] == b'"' || b[j] == b'\'')).then(|| b[j]);
        if quote.is_some() {
            j += 1;
        }
        // A quoted value ends at its closing quote; an unquoted one after `:` (a header, a YAML
        // key) runs to the end of the line, since such values have spaces (`Bearer abc`).
        let value_end = match quote {
            Some(q) => line[j..].find(q as char).map_or(line.len(), |e| j + e),
            None if colon => line.trim_end().len().max(j),
            None => line[j..].find(ends_value).map_or(line.len(), |e| j + e),
        };
        if value_end == j || line[j..value_end] == *MASK {
            continue;
        }
        out.push_str(&line[i..j]);
        out.push_str(MASK);
        i = value_end;
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_maps_mask_the_always_redacted_names_in_any_case() {
        let plan = json!({"headers": {"Authorization": "Bearer s3cr3t", "COOKIE": "sid=1",
            "Proxy-Authorization": "Basic x", "set-cookie": ["a=1", "b=2"], "Accept": "text/html"}});
        let out = Redactor::default().json(&plan);
        let text = out.to_string();
        assert!(!text.contains("s3cr3t") && !text.contains("sid=1") && !text.contains("Basic x"));
        assert!(!text.contains("a=1"));
        assert_eq!(out["headers"]["Accept"], "text/html");
        assert_eq!(out["headers"]["Authorization"], MASK);
    }

    #[test]
    fn headers_named_by_the_user_are_masked_too() {
        let plan = json!({"headers": {"X-Api-Key": "k-123", "X-Trace": "t"}});
        let out = Redactor::new(&["x-api-key".to_string()]).json(&plan);
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
        let out = Redactor::default().json(&plan);
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
    #[test]
    fn secret_named_settings_are_masked_in_every_spelling() {
        let r = Redactor::default();
        for (input, want) in [
            (
                "DB_PASSWORD=abc123 next",
                format!("DB_PASSWORD={MASK} next"),
            ),
            (
                "--set db.password=abc123",
                format!("--set db.password={MASK}"),
            ),
            (
                "--api-key=k1 --api-token t2",
                format!("--api-key={MASK} --api-token {MASK}"),
            ),
            ("password: hunter2", format!("password: {MASK}")),
            (
                r#"{"clientSecret": "s-1", "user": "bob"}"#,
                format!(r#"{{"clientSecret": "{MASK}", "user": "bob"}}"#),
            ),
            (
                "GET /x?access_token=abc&page=2",
                format!("GET /x?access_token={MASK}&page=2"),
            ),
            ("X-Auth-Token: Bearer t0k", format!("X-Auth-Token: {MASK}")),
        ] {
            assert_eq!(r.text(input), want, "{input}");
        }
    }

    #[test]
    fn names_that_only_contain_a_secret_word_are_left_alone() {
        let r = Redactor::default();
        for input in [
            "token-service-7d9f: ready",
            r#"MountVolume.SetUp failed for volume "secret-vol" : secret "db" not found"#,
            "broken=1 tokens=5",
            "restartedAt=2026-11-22T07:00:00Z",
            "password:",
        ] {
            assert_eq!(r.text(input), input);
        }
    }

    #[test]
    fn the_value_after_a_secret_flag_given_on_its_own_is_masked_in_a_command_line() {
        let r = Redactor::default();
        let argv: Vec<String> = [
            "deploy",
            "--password",
            "p4ss",
            "--token=t",
            "--verbose",
            "-n",
            "shop",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            r.argv(&argv),
            [
                "deploy",
                "--password",
                MASK,
                &format!("--token={MASK}"),
                "--verbose",
                "-n",
                "shop"
            ]
        );
        // A secret flag followed by another flag has no value to mask.
        let argv: Vec<String> = ["--token", "--dry-run"].map(String::from).to_vec();
        assert_eq!(r.argv(&argv), argv);
    }

    #[test]
    fn the_literal_values_of_sensitive_headers_are_masked_wherever_they_appear() {
        let headers = [
            (
                "Authorization".to_string(),
                "Bearer sk-live-42424242".to_string(),
            ),
            ("Accept".to_string(), "application/json".to_string()),
            ("X-Api-Key".to_string(), "abc".to_string()),
        ];
        let r = Redactor::for_headers(&["x-api-key".to_string()], &headers);
        assert_eq!(
            r.text("echo Bearer sk-live-42424242 | app; app saw sk-live-42424242"),
            format!("echo {MASK} | app; app saw {MASK}")
        );
        // Not a sensitive header, and too short a value to mask by value alone.
        assert_eq!(r.text("application/json abc"), "application/json abc");
    }
}
