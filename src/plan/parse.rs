//! Parsers for the values users type: durations, rates, stages, status sets, headers, counts.
//! Each returns a message that says what was expected; the caller names the field.

use std::time::Duration;

use crate::load::StatusSet;

/// `30s`, `1m30s`, `500ms`, `2h`, `1.5s`, `250us`; a bare `0` is zero.
pub fn duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err("expected a duration such as 30s, 1m30s or 500ms, got nothing".into());
    }
    let mut total = 0f64;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let n: f64 = num
            .parse()
            .map_err(|_| format!("expected a duration such as 30s, 1m30s or 500ms, got `{t}`"))?;
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "" => return Err(format!("`{t}` has no unit: write e.g. {num}s or {num}ms")),
            _ => {
                return Err(format!(
                    "unknown unit `{unit}` in `{t}` (use h, m, s, ms or us)"
                ));
            }
        };
        total += n * scale;
        rest = next;
    }
    if !total.is_finite() || total > 1e9 {
        return Err(format!("`{t}` is too long"));
    }
    Ok(Duration::from_secs_f64(total))
}

/// A rate per second: `1000`, `1000/s`, `60/m`, `0.5`.
pub fn rate(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let (num, per) = match t.split_once('/') {
        Some((n, u)) => (n.trim(), u.trim()),
        None => (t, "s"),
    };
    let scale = match per {
        "s" => 1.0,
        "m" => 1.0 / 60.0,
        "h" => 1.0 / 3600.0,
        _ => {
            return Err(format!(
                "unknown rate unit `/{per}` in `{t}` (use /s, /m or /h)"
            ));
        }
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("expected requests per second such as 1000 or 60/m, got `{t}`"))?;
    if !n.is_finite() || n < 0.0 {
        return Err(format!("must be a non-negative number, got `{t}`"));
    }
    Ok(n * scale)
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

/// A positive whole number.
pub fn count(s: &str) -> Result<usize, String> {
    let v: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("expected a whole number, got `{s}`"))?;
    if v == 0 {
        Err("must be at least 1".into())
    } else {
        Ok(v)
    }
}

/// A whole number that may be zero.
pub fn count0(s: &str) -> Result<usize, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("expected a whole number, got `{s}`"))
}

pub fn boolean(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(format!("expected true or false, got `{s}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_compound_and_fractional_forms() {
        assert_eq!(duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(duration("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn a_duration_without_unit_says_which_unit_to_add() {
        let e = duration("30").unwrap_err();
        assert!(e.contains("30s"), "{e}");
        assert!(duration("3x").unwrap_err().contains("unknown unit"));
    }

    #[test]
    fn rates_accept_per_second_and_per_minute() {
        assert_eq!(rate("1000"), Ok(1000.0));
        assert_eq!(rate("1000/s"), Ok(1000.0));
        assert_eq!(rate("60/m"), Ok(1.0));
        assert!(rate("-3").is_err());
        assert!(rate("fast").is_err());
    }

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
}
