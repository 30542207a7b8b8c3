//! A template's `checks`, read from the scenario's [`Node`] tree into the engine's checks
//! ([`crate::load::check`]) and the names reports use. Each check is a map with exactly one of
//! the kinds and, besides, its options:
//!
//! ```yaml
//! checks:
//!   - status: 200-299            # a set or ranges, as --accept-status
//!   - header: content-type       # present …
//!     equals: application/json   # … or equal to a value
//!   - json: /user/full_name      # a JSON Pointer (RFC 6901): exists …
//!     type: string               # … has a type (null, boolean, number, string, array, object)
//!   - json: /user/id
//!     equals: 42                 # … or equals a value (any JSON)
//!   - body_contains: full_name
//!   - body_matches: '"id":\s*\d+'   # a regular expression (the regex crate: linear time)
//!     name: has an id            # optional; made from what it checks otherwise
//!     warn: true                 # counted, but does not fail the request
//! ```
//!
//! Every problem is reported, with the file, line and key (`requests[0].checks[2].json`).

use serde_saphyr::Spanned;

use super::mix::{parsed, place, scalar};
use super::parse;
use super::problems::Problems;
use super::scenario::Node;
use crate::load::check::{
    BodyExpect, Check, CheckKind, JsonExpect, JsonType, compile_regex, valid_pointer,
};
use crate::model::template::{CheckInfo, MAX_CHECKS};

/// The kinds of check, one per check.
const KINDS: [&str; 5] = ["status", "header", "json", "body_contains", "body_matches"];
/// The options a check may have besides its kind.
const OPTIONS: [&str; 4] = ["name", "warn", "equals", "type"];

/// The checks of template `key`, as reports name them and as the engine runs them.
pub fn from_node(
    key: &str,
    node: Option<&Spanned<Node>>,
    p: &mut Problems<'_>,
) -> (Vec<CheckInfo>, Vec<Check>) {
    let Some(node) = node else {
        return (Vec::new(), Vec::new());
    };
    let k = format!("{key}.checks");
    let Node::Seq(items) = &node.value else {
        let at = place(p, &k, node);
        p.push(
            at,
            format!("expected a list of checks, got {}", node.value.kind()),
        );
        return (Vec::new(), Vec::new());
    };
    if items.len() > MAX_CHECKS {
        let at = place(p, &k, node);
        p.push(
            at,
            format!(
                "{} checks: a template has at most {MAX_CHECKS}",
                items.len()
            ),
        );
    }
    let mut checks: Vec<Check> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ck = format!("{k}[{i}]");
        if let Some(c) = check(&ck, item, p) {
            if checks.iter().any(|o| o.name == c.name) {
                let at = place(p, &ck, item);
                p.push(
                    at,
                    format!(
                        "two checks of this template are named `{}`: give one a distinct `name`",
                        c.name
                    ),
                );
            }
            checks.push(c);
        }
    }
    let infos = checks
        .iter()
        .map(|c| CheckInfo {
            name: c.name.clone(),
            description: c.describe(),
            warn: c.warn,
        })
        .collect();
    (infos, checks)
}

/// The entries of one check: its kind (key and value) and its options.
struct Entries<'a> {
    kind: Option<(&'a str, &'a Spanned<Node>)>,
    name: Option<&'a Spanned<Node>>,
    warn: Option<&'a Spanned<Node>>,
    equals: Option<&'a Spanned<Node>>,
    ty: Option<&'a Spanned<Node>>,
}

fn entries<'a>(
    key: &str,
    item: &'a Spanned<Node>,
    map: &'a [(String, Spanned<Node>)],
    p: &mut Problems<'_>,
) -> Option<Entries<'a>> {
    let mut e = Entries {
        kind: None,
        name: None,
        warn: None,
        equals: None,
        ty: None,
    };
    let mut ok = true;
    for (k, v) in map {
        match k.as_str() {
            "name" => e.name = Some(v),
            "warn" => e.warn = Some(v),
            "equals" => e.equals = Some(v),
            "type" => e.ty = Some(v),
            kind if KINDS.contains(&kind) => {
                if let Some((first, _)) = e.kind {
                    let at = place(p, &format!("{key}.{kind}"), v);
                    p.push(
                        at,
                        format!(
                            "a check checks one thing: `{first}` and `{kind}` are both given; write two checks"
                        ),
                    );
                    ok = false;
                } else {
                    e.kind = Some((KINDS[KINDS.iter().position(|x| *x == kind)?], v));
                }
            }
            other => {
                let at = place(p, &format!("{key}.{other}"), v);
                p.push(
                    at,
                    format!(
                        "unknown check `{other}`: a check is one of {} (with {})",
                        KINDS.join(", "),
                        OPTIONS.join(", ")
                    ),
                );
                ok = false;
            }
        }
    }
    if e.kind.is_none() && ok {
        let at = place(p, key, item);
        p.push(
            at,
            format!("unknown check: it has none of {}", KINDS.join(", ")),
        );
        ok = false;
    }
    ok.then_some(e)
}

fn check(key: &str, item: &Spanned<Node>, p: &mut Problems<'_>) -> Option<Check> {
    let Node::Map(map) = &item.value else {
        let at = place(p, key, item);
        p.push(
            at,
            format!(
                "a check is a map such as `json: /user/id`, got {}",
                item.value.kind()
            ),
        );
        return None;
    };
    let e = entries(key, item, map, p)?;
    let (kind_key, value) = e.kind?;
    let before = p.count();
    misplaced_options(key, kind_key, &e, p);
    let kind = kind(key, kind_key, value, &e, p);
    let warn = e.warn.map_or(Some(false), |w| {
        parsed(
            p,
            &format!("{key}.warn"),
            w,
            "true or false",
            parse::boolean,
        )
    });
    let name = e.name.map(|n| {
        parsed(p, &format!("{key}.name"), n, "a name", |s| {
            let s = s.trim();
            if s.is_empty() {
                Err("a check's name is empty".to_string())
            } else {
                Ok(s.to_string())
            }
        })
    });
    if p.count() > before {
        return None;
    }
    let mut c = Check {
        name: String::new(),
        warn: warn?,
        kind: kind?,
    };
    c.name = match name {
        Some(n) => n?,
        None => c.describe(),
    };
    Some(c)
}

/// `equals` belongs to header and json checks, `type` to json checks.
fn misplaced_options(key: &str, kind_key: &str, e: &Entries<'_>, p: &mut Problems<'_>) {
    if kind_key != "header" && kind_key != "json" {
        if let Some(eq) = e.equals {
            let at = place(p, &format!("{key}.equals"), eq);
            p.push(
                at,
                format!("`equals` applies to header and json checks, not `{kind_key}`"),
            );
        }
    }
    if kind_key != "json" {
        if let Some(t) = e.ty {
            let at = place(p, &format!("{key}.type"), t);
            p.push(
                at,
                format!("`type` applies to json checks, not `{kind_key}`"),
            );
        }
    }
}

/// What a check of kind `kind_key` with value `value` looks at.
fn kind(
    key: &str,
    kind_key: &str,
    value: &Spanned<Node>,
    e: &Entries<'_>,
    p: &mut Problems<'_>,
) -> Option<CheckKind> {
    let vk = format!("{key}.{kind_key}");
    match kind_key {
        "status" => status(&vk, value, p).map(CheckKind::Status),
        "header" => header(key, &vk, value, e.equals, p),
        "json" => json(key, &vk, value, e, p),
        "body_contains" => scalar(p, &vk, value, "the text to find").and_then(|s| {
            if s.is_empty() {
                let at = place(p, &vk, value);
                p.push(at, "the text to find is empty");
                None
            } else {
                Some(CheckKind::Body(BodyExpect::Contains(s)))
            }
        }),
        _ => parsed(p, &vk, value, "a regular expression", compile_regex)
            .map(|r| CheckKind::Body(BodyExpect::Matches(r))),
    }
}

/// `status: 200-299`, `status: 200`, or `status: [200, 204]`.
fn status(
    key: &str,
    value: &Spanned<Node>,
    p: &mut Problems<'_>,
) -> Option<crate::load::StatusSet> {
    let text = match &value.value {
        Node::Seq(items) => {
            let parts: Vec<String> = items.iter().filter_map(|n| n.value.text()).collect();
            parts.join(",")
        }
        _ => scalar(p, key, value, "statuses such as 200-299 or [200, 204]")?,
    };
    let at = place(p, key, value);
    p.check(&at, parse::status_set(&text))
}

fn header(
    key: &str,
    vk: &str,
    value: &Spanned<Node>,
    equals: Option<&Spanned<Node>>,
    p: &mut Problems<'_>,
) -> Option<CheckKind> {
    let name = parsed(p, vk, value, "a header name", parse::header_name);
    let equals = match equals {
        None => Some(None),
        Some(eq) => scalar(p, &format!("{key}.equals"), eq, "the header's value").map(Some),
    };
    Some(CheckKind::Header {
        name: name?,
        equals: equals?,
    })
}

fn json(
    key: &str,
    vk: &str,
    value: &Spanned<Node>,
    e: &Entries<'_>,
    p: &mut Problems<'_>,
) -> Option<CheckKind> {
    let pointer = parsed(p, vk, value, "a JSON Pointer such as /user/id", |s| {
        valid_pointer(s).map(|()| s.to_string())
    });
    let expect = match (e.equals, e.ty) {
        (Some(_), Some(t)) => {
            let at = place(p, &format!("{key}.type"), t);
            p.push(at, "give either equals or type, not both");
            None
        }
        (Some(eq), None) => Some(JsonExpect::Equals(eq.value.to_json())),
        (None, Some(t)) => parsed(p, &format!("{key}.type"), t, "a JSON type", |s| {
            JsonType::from_name(s.trim()).ok_or_else(|| {
                format!(
                    "`{s}` is not a JSON type: use null, boolean, number, string, array or object"
                )
            })
        })
        .map(JsonExpect::Type),
        (None, None) => Some(JsonExpect::Exists),
    };
    Some(CheckKind::Json {
        pointer: pointer?,
        expect: expect?,
    })
}
