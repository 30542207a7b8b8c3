//! What counts as the answer to a WebSocket message: the echo of what was sent (the default),
//! a JSON pointer in the reply (`--expect /type`, or `/type=pong` for a value), or a substring
//! (`--expect pong`). Replies pair with messages in order (a session's server answers in the
//! order it reads), so a reply is only judged, never searched for.
//!
//! Pure: no I/O.

/// How a reply is judged.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    /// The reply is exactly the message sent.
    Echo,
    /// The reply contains this text.
    Contains(String),
    /// The reply is JSON with a value at `pointer` (RFC 6901), equal to `value` when given.
    Pointer {
        pointer: String,
        value: Option<serde_json::Value>,
    },
}

impl Expect {
    /// Reads `--expect`: a value starting with `/` is a JSON pointer, optionally `=VALUE`
    /// (VALUE read as JSON when it parses, else as a string); anything else is a substring.
    pub fn parse(s: &str) -> Result<Expect, String> {
        if s.is_empty() {
            return Err(
                "must not be empty: a JSON pointer (`/type`, `/type=pong`) or a \
                        substring of the reply"
                    .into(),
            );
        }
        if !s.starts_with('/') {
            return Ok(Expect::Contains(s.to_string()));
        }
        let (pointer, value) = match s.split_once('=') {
            Some((p, v)) => {
                let value = serde_json::from_str(v)
                    .unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
                (p.to_string(), Some(value))
            }
            None => (s.to_string(), None),
        };
        if pointer.contains('~') && !valid_escapes(&pointer) {
            return Err(format!(
                "`{pointer}` is not a JSON pointer: `~` must be followed by 0 or 1 (RFC 6901)"
            ));
        }
        Ok(Expect::Pointer { pointer, value })
    }

    /// Whether `reply` answers `sent`.
    pub fn matches(&self, sent: &[u8], reply: &[u8]) -> bool {
        match self {
            Expect::Echo => sent == reply,
            Expect::Contains(text) => {
                let needle = text.as_bytes();
                reply.windows(needle.len()).any(|w| w == needle)
            }
            Expect::Pointer { pointer, value } => {
                let Ok(json) = serde_json::from_slice::<serde_json::Value>(reply) else {
                    return false;
                };
                match (json.pointer(pointer), value) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(found), Some(want)) => found == want,
                }
            }
        }
    }

    /// The expectation in words, for a failure's detail.
    pub fn describe(&self) -> String {
        match self {
            Expect::Echo => "the echo of the message".into(),
            Expect::Contains(t) => format!("a reply containing `{t}`"),
            Expect::Pointer {
                pointer,
                value: None,
            } => format!("JSON with `{pointer}`"),
            Expect::Pointer {
                pointer,
                value: Some(v),
            } => format!("JSON with `{pointer}` = {v}"),
        }
    }
}

fn valid_escapes(p: &str) -> bool {
    let b = p.as_bytes();
    b.iter()
        .enumerate()
        .all(|(i, c)| *c != b'~' || matches!(b.get(i + 1), Some(b'0' | b'1')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_echo_must_be_exactly_what_was_sent() {
        assert!(Expect::Echo.matches(b"hello 1", b"hello 1"));
        assert!(!Expect::Echo.matches(b"hello 1", b"hello 2"));
    }

    #[test]
    fn a_value_without_a_leading_slash_is_a_substring() {
        let e = Expect::parse("pong").expect("parses");
        assert_eq!(e, Expect::Contains("pong".into()));
        assert!(e.matches(b"x", b"{\"type\":\"pong\"}"));
        assert!(!e.matches(b"x", b"{\"type\":\"ping\"}"));
    }

    #[test]
    fn a_json_pointer_checks_presence_or_value() {
        let present = Expect::parse("/data/id").expect("parses");
        assert!(present.matches(b"", br#"{"data":{"id":7}}"#));
        assert!(!present.matches(b"", br#"{"data":{}}"#));
        assert!(!present.matches(b"", b"not json"));
        let string = Expect::parse("/type=pong").expect("parses");
        assert!(string.matches(b"", br#"{"type":"pong"}"#));
        assert!(!string.matches(b"", br#"{"type":"ping"}"#));
        let number = Expect::parse("/n=7").expect("parses");
        assert!(number.matches(b"", br#"{"n":7}"#));
        assert!(!number.matches(b"", br#"{"n":"7"}"#));
    }

    #[test]
    fn an_empty_expectation_or_a_bad_pointer_escape_is_refused() {
        assert!(Expect::parse("").is_err());
        let e = Expect::parse("/a~2b").expect_err("bad escape");
        assert!(e.contains("RFC 6901"), "{e}");
        assert!(Expect::parse("/a~1b").is_ok());
    }
}
