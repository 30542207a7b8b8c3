//! Parsers for the structured values users type: stages, status sets, headers, switches and
//! command lines. Quantities inside them (the instants and rates of stages) are read by the one
//! unit grammar, [`crate::model::units`]. Each returns a message that says what was expected; the
//! caller names the field.

use std::time::Duration;

use crate::load::StatusSet;
use crate::model::units::{duration, rate};

/// An absolute http:// or https:// URL.
pub fn url(s: &str) -> Result<String, String> {
    let uri: http::Uri = s.parse().map_err(|_| format!("`{s}` is not a URL"))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("http" | "https"), Some(_)) => Ok(s.to_string()),
        (Some(other), _) if other != "http" && other != "https" => {
            Err(format!("`{s}`: only http:// and https:// are supported"))
        }
        _ => Err(format!(
            "`{s}` must be an absolute URL such as http://127.0.0.1:8080/"
        )),
    }
}

/// A request path (and query), starting with `/`.
pub fn path(s: &str) -> Result<String, String> {
    if !s.starts_with('/') {
        return Err(format!("`{s}` must start with /"));
    }
    s.parse::<http::uri::PathAndQuery>()
        .map(|_| s.to_string())
        .map_err(|_| format!("`{s}` is not a valid path"))
}

/// An HTTP method, upper-cased.
pub fn method(s: &str) -> Result<String, String> {
    http::Method::from_bytes(s.trim().to_ascii_uppercase().as_bytes())
        .map(|m| m.to_string())
        .map_err(|_| format!("`{s}` is not an HTTP method"))
}

/// `0s:100,30s:1000,90s:1000`: the arrival rate at each instant, linear in between.
pub fn stages(s: &str) -> Result<Vec<(Duration, f64)>, String> {
    let mut points = Vec::new();
    for (i, part) in s.split(',').map(str::trim).enumerate() {
        let (at, r) = part
            .split_once(':')
            .ok_or_else(|| format!("point {} `{part}` must be TIME:RATE, e.g. 30s:1000", i + 1))?;
        let at = duration(at).map_err(|e| format!("point {} `{part}`: {e}", i + 1))?;
        let r = rate(r).map_err(|e| format!("point {} `{part}`: {e}", i + 1))?;
        points.push((at, r));
    }
    check_stages(&points)?;
    Ok(points)
}

/// The rules every stage list obeys, whatever syntax it came in.
pub fn check_stages(points: &[(Duration, f64)]) -> Result<(), String> {
    if points.len() < 2 {
        return Err("needs at least two points, e.g. 0s:100,30s:1000".into());
    }
    if points[0].0 != Duration::ZERO {
        return Err(format!(
            "the first point must be at 0s (points are instants from the start, not durations); got {:?}",
            points[0].0
        ));
    }
    for w in points.windows(2) {
        if w[1].0 < w[0].0 {
            return Err(format!(
                "instants must not go backwards: {:?} comes after {:?}",
                w[1].0, w[0].0
            ));
        }
    }
    let last = points[points.len() - 1].0;
    if last == Duration::ZERO {
        return Err("the last point must be after 0s: it sets the length of the run".into());
    }
    if points.iter().all(|p| p.1 == 0.0) {
        return Err("every rate is 0: nothing would be sent".into());
    }
    Ok(())
}

/// `200-299,404`.
pub fn status_set(s: &str) -> Result<StatusSet, String> {
    let mut ranges = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let parse = |x: &str| -> Result<u16, String> {
            let v: u16 = x
                .parse()
                .map_err(|_| format!("`{part}` is not a status code or range like 200-299"))?;
            if (100..=599).contains(&v) {
                Ok(v)
            } else {
                Err(format!("status {v} is outside 100-599"))
            }
        };
        let (lo, hi) = (parse(lo)?, parse(hi)?);
        if lo > hi {
            return Err(format!("range `{part}` runs backwards"));
        }
        ranges.push((lo, hi));
    }
    if ranges.is_empty() {
        return Err("expected statuses such as 200-299,404".into());
    }
    Ok(StatusSet(ranges))
}

/// `Name: value` (the space is optional).
pub fn header(s: &str) -> Result<(http::HeaderName, http::HeaderValue), String> {
    let (k, v) = s
        .split_once(':')
        .ok_or_else(|| format!("`{s}` must be NAME:VALUE"))?;
    let name = http::HeaderName::from_bytes(k.trim().as_bytes())
        .map_err(|_| format!("`{}` is not a valid header name", k.trim()))?;
    let value = http::HeaderValue::from_str(v.trim()).map_err(|_| {
        format!(
            "the value of `{}` has characters not allowed in a header",
            k.trim()
        )
    })?;
    Ok((name, value))
}

pub fn header_name(s: &str) -> Result<http::HeaderName, String> {
    http::HeaderName::from_bytes(s.trim().as_bytes())
        .map_err(|_| format!("`{s}` is not a valid header name"))
}

/// A DNS-1123 subdomain, what Kubernetes requires of a ConfigMap's name.
pub fn dns_subdomain(s: &str) -> Result<(), String> {
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let ends_ok = s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric());
    if s.is_empty() || s.len() > 253 || !ok_chars || !ends_ok {
        return Err(format!(
            "`{s}` is not a valid Kubernetes name: lower-case letters, digits, '-' and '.', \
             starting and ending with a letter or digit, at most 253 characters"
        ));
    }
    Ok(())
}

pub fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got `{s}`")),
    }
}

/// Splits a command line into words: whitespace separates, single quotes keep everything,
/// double quotes keep everything but `\"` and `\\`, a backslash outside quotes escapes a
/// character. No variables, globs or other shell syntax.
pub fn split_command(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated ' in `{s}`")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => cur.push(c),
                            Some(c) => {
                                cur.push('\\');
                                cur.push(c);
                            }
                            None => return Err(format!("unterminated \" in `{s}`")),
                        },
                        Some(c) => cur.push(c),
                        None => return Err(format!("unterminated \" in `{s}`")),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => cur.push(c),
                    None => return Err(format!("trailing backslash in `{s}`")),
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_instants_from_the_start() {
        let s = stages("0s:100,30s:1000,90s:1000").expect("valid");
        assert_eq!(
            s,
            vec![
                (Duration::ZERO, 100.0),
                (Duration::from_secs(30), 1000.0),
                (Duration::from_secs(90), 1000.0)
            ]
        );
    }

    #[test]
    fn stages_not_starting_at_zero_explain_the_format() {
        let e = stages("30s:100,60s:200").unwrap_err();
        assert!(e.contains("first point must be at 0s"), "{e}");
    }

    #[test]
    fn stages_going_backwards_are_rejected() {
        assert!(stages("0s:1,10s:2,5s:3").unwrap_err().contains("backwards"));
        assert!(stages("0s:1").unwrap_err().contains("two points"));
        assert!(
            stages("0s:0,10s:0")
                .unwrap_err()
                .contains("nothing would be sent")
        );
        assert!(stages("0s-1").unwrap_err().contains("TIME:RATE"));
    }

    #[test]
    fn status_sets_parse_ranges_and_single_codes() {
        let s = status_set("200-299,404").expect("valid");
        assert!(s.contains(204) && s.contains(404) && !s.contains(500));
        assert!(status_set("299-200").unwrap_err().contains("backwards"));
        assert!(status_set("700").unwrap_err().contains("outside"));
        assert!(status_set("ok").is_err());
    }

    #[test]
    fn headers_need_a_colon_and_a_valid_name() {
        let (n, v) = header("X-Env: staging").expect("valid");
        assert_eq!((n.as_str(), v.to_str().unwrap_or("")), ("x-env", "staging"));
        assert!(header("no colon").is_err());
        assert!(header("bad name: x").is_err());
    }

    #[test]
    fn unterminated_quotes_are_errors() {
        assert!(split_command("srv 'oops").is_err());
        assert_eq!(split_command("  a  b ").expect("ok"), vec!["a", "b"]);
    }
}
