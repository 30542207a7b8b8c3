//! The one grammar for the quantities a user types — in a flag, a scenario key or a threshold:
//! durations, rates, counts, percentages and sizes. Every caller parses them here, so `2s` means the
//! same thing everywhere and a mistake gets the same message wherever it is made. The caller
//! names the flag, key or expression; these messages say what was expected.
//!
//! This module imports nothing of ours, so the gate's threshold parser can use it too.
//!
//! | quantity | accepted | rejected |
//! |---|---|---|
//! | duration | `30s`, `500ms`, `1.5s`, `1m30s`, `2h`, `250us` (or `250µs`), `5 ms`; `0` alone is zero | a number without a unit (`2` → "`2` needs a unit: 2s, 2ms or 1m30s"), an unknown unit (`2d`), a sign, nothing, more than 10⁹ s |
//! | rate | `1000` (a bare rate is per second), `1000/s`, `60/m`, `3600/h`, `0.5` | a negative number, another unit (`/d`) |
//! | count | `1`, `42`: a whole number, at least 1 | `0`, `-1`, `1.5`, `x` |
//! | count or zero | `0`, `42` | `-1`, `1.5`, `x` |
//! | count or percentage | `1`, `25%` (Kubernetes' maxSurge / maxUnavailable) | `1.5`, `-1`, `x%` |
//! | size | `65536` (bytes), `512B`, `64KiB`, `1MiB`, `64KB` (= 64,000), `1MB`; at least 1 byte, at most 1 GiB | `0`, `1.5KiB`, `64kb`, `x` |
//!
//! Duration units: `h`, `m`, `s`, `ms`, `us`/`µs`. Parts add up (`1m30s`), blanks may separate
//! them and a number from its unit. A duration never takes a unit by default: `--grace-period 2`
//! meant seconds and a threshold's `p(99)<2` milliseconds, so a bare number is refused with
//! the fix rather than guessed. A rate does: per second, everywhere.

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Nothing was given.
    #[error("expected a duration such as 30s, 1m30s or 500ms, got nothing")]
    Empty,
    /// A number without a unit: the message shows the fix.
    #[error("`{text}` needs a unit: {}", fix(.text))]
    NoUnit { text: String },
    /// A unit that is not one of h, m, s, ms, us.
    #[error("unknown unit `{unit}` in `{text}` (use h, m, s, ms or us)")]
    UnknownUnit { unit: String, text: String },
    /// Not a number followed by a unit (a sign, a word).
    #[error("expected a duration such as 30s, 1m30s or 500ms, got `{text}`")]
    Malformed { text: String },
    /// More than 10⁹ seconds (or not finite).
    #[error("`{text}` is too long")]
    TooLong { text: String },
}

impl From<DurationError> for String {
    fn from(e: DurationError) -> String {
        e.to_string()
    }
}

/// The forms a unit-less duration was probably meant as.
fn fix(text: &str) -> String {
    if text.contains(|c: char| c.is_ascii_alphabetic()) {
        format!("{text}s or {text}ms")
    } else {
        format!("{text}s, {text}ms or 1m30s")
    }
}

/// Nanoseconds per unit.
fn unit_nanos(unit: &str) -> Option<f64> {
    Some(match unit {
        "h" => 3_600e9,
        "m" => 60e9,
        "s" => 1e9,
        "ms" => 1e6,
        "us" | "µs" => 1e3,
        _ => return None,
    })
}

/// A duration: one or more `NUMBER UNIT` parts (`1m30s`, `500ms`, `1.5 s`); `0` alone is zero.
pub fn duration(s: &str) -> Result<Duration, DurationError> {
    let text = s.trim();
    if text.is_empty() {
        return Err(DurationError::Empty);
    }
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let owned = || text.to_string();
    let mut nanos = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, tail) = rest.split_at(num_len);
        let tail = tail.trim_start();
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.' || c.is_whitespace())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        rest = next.trim_start();
        let n: f64 = num
            .parse()
            .map_err(|_| DurationError::Malformed { text: owned() })?;
        let scale = match (unit, unit_nanos(unit)) {
            ("", _) => return Err(DurationError::NoUnit { text: owned() }),
            (_, Some(scale)) => scale,
            (_, None) => {
                return Err(DurationError::UnknownUnit {
                    unit: unit.to_string(),
                    text: owned(),
                });
            }
        };
        nanos += n * scale;
    }
    if !nanos.is_finite() || nanos > 1e18 {
        return Err(DurationError::TooLong { text: owned() });
    }
    // Whole nanoseconds: `800us` is exactly 800,000 ns, not the nearest f64 of 0.0008 s.
    Ok(Duration::from_nanos(nanos.round() as u64))
}

/// A duration more than zero.
pub fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = duration(s)?;
    if d > Duration::ZERO {
        Ok(d)
    } else {
        Err("must be more than 0s".into())
    }
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

/// A positive whole number.
pub fn count(s: &str) -> Result<usize, String> {
    let v = count0(s)?;
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

/// A size in bytes: a whole number, alone (bytes) or with `B`, `KiB`, `MiB`, `GiB`, `KB`, `MB`
/// or `GB`; at least one byte and at most 1 GiB.
pub fn size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = (&t[..split], t[split..].trim());
    let scale: u64 = match unit {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => {
            return Err(format!(
                "expected a size such as 65536, 64KiB or 1MiB (units B, KiB, MiB, GiB, KB, MB, GB), got `{s}`"
            ));
        }
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("expected a size such as 65536, 64KiB or 1MiB, got `{s}`"))?;
    match n.checked_mul(scale) {
        Some(0) => Err("must be at least 1 byte".into()),
        Some(b) if b <= 1 << 30 => Ok(b as usize),
        _ => Err(format!("`{s}` is more than 1 GiB")),
    }
}

/// A count, or a percentage of some whole (`25%`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub enum CountOrPercent {
    Count(u32),
    Percent(u32),
}

impl CountOrPercent {
    pub fn is_zero(self) -> bool {
        matches!(self, CountOrPercent::Count(0) | CountOrPercent::Percent(0))
    }

    /// The value against `total`, rounding a percentage up or down.
    pub fn resolve(self, total: u32, round_up: bool) -> u32 {
        match self {
            CountOrPercent::Count(n) => n,
            CountOrPercent::Percent(p) => {
                let scaled = u64::from(p) * u64::from(total);
                let v = if round_up {
                    scaled.div_ceil(100)
                } else {
                    scaled / 100
                };
                u32::try_from(v).unwrap_or(u32::MAX)
            }
        }
    }
}

impl std::fmt::Display for CountOrPercent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CountOrPercent::Count(n) => write!(f, "{n}"),
            CountOrPercent::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// `1` or `25%`.
pub fn count_or_percent(s: &str) -> Result<CountOrPercent, String> {
    let t = s.trim();
    let parsed = match t.strip_suffix('%') {
        Some(p) => p.trim().parse().map(CountOrPercent::Percent),
        None => t.parse().map(CountOrPercent::Count),
    };
    parsed.map_err(|_| format!("`{s}` is not a count or a percentage (e.g. 1 or 25%)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn every_size_form_is_accepted_or_rejected_as_the_table_says() {
        for (text, want) in [
            ("65536", 65_536),
            ("512B", 512),
            ("64KiB", 65_536),
            ("1MiB", 1 << 20),
            ("64KB", 64_000),
            ("1MB", 1_000_000),
            (" 2 KiB ", 2_048),
            ("1GiB", 1 << 30),
        ] {
            assert_eq!(size(text), Ok(want), "{text}");
        }
        for text in ["0", "1.5KiB", "64kb", "x", "", "-1", "2GiB"] {
            assert!(size(text).is_err(), "{text} must be refused");
        }
    }

    #[test]
    fn every_duration_form_is_accepted_or_rejected_as_the_table_says() {
        let accepted: &[(&str, Duration)] = &[
            ("30s", S(30)),
            ("500ms", MS(500)),
            ("1.5s", MS(1500)),
            (".5s", MS(500)),
            ("1m30s", S(90)),
            ("1m 30s", S(90)),
            ("2h", S(7200)),
            ("250us", Duration::from_micros(250)),
            ("800µs", Duration::from_micros(800)),
            ("5 ms", MS(5)),
            (" 2s ", S(2)),
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
        ];
        for (text, want) in accepted {
            assert_eq!(duration(text).as_ref(), Ok(want), "`{text}`");
        }
        let rejected: &[(&str, &str)] = &[
            ("2", "`2` needs a unit: 2s, 2ms or 1m30s"),
            ("1.5", "`1.5` needs a unit: 1.5s, 1.5ms or 1m30s"),
            ("1m30", "`1m30` needs a unit: 1m30s or 1m30ms"),
            ("0.0", "needs a unit"),
            ("2d", "unknown unit `d` in `2d`"),
            ("2 fortnights", "unknown unit `fortnights`"),
            ("-5ms", "got `-5ms`"),
            ("+5ms", "got `+5ms`"),
            ("ten", "got `ten`"),
            ("s", "got `s`"),
            ("", "got nothing"),
            ("   ", "got nothing"),
            ("2000000000s", "too long"),
        ];
        for (text, want) in rejected {
            let e = duration(text).expect_err(text).to_string();
            assert!(e.contains(want), "`{text}`: {e}");
        }
    }

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
        let e = duration("30").unwrap_err().to_string();
        assert!(e.contains("30s"), "{e}");
        assert!(
            duration("3x")
                .unwrap_err()
                .to_string()
                .contains("unknown unit")
        );
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
    fn durations_take_units_and_a_bare_number_is_refused() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        // `--grace-period 2` meant 2 s once; now it says how to write it.
        assert_eq!(
            duration("2").map_err(String::from),
            Err("`2` needs a unit: 2s, 2ms or 1m30s".to_string())
        );
        assert_eq!(duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert!(duration("2 fortnights").is_err());
        assert!(duration("").is_err());
    }

    #[test]
    fn only_durations_above_zero_are_positive() {
        assert_eq!(positive_duration("1ms"), Ok(MS(1)));
        assert_eq!(positive_duration("0s"), Err("must be more than 0s".into()));
        assert!(positive_duration("5").unwrap_err().contains("5s"));
    }

    #[test]
    fn every_rate_form_is_accepted_or_rejected_as_the_table_says() {
        for (text, want) in [
            ("1000", 1000.0),
            ("1000/s", 1000.0),
            ("60/m", 1.0),
            ("3600/h", 1.0),
            ("0.5", 0.5),
            ("0", 0.0),
        ] {
            assert_eq!(rate(text), Ok(want), "`{text}`");
        }
        for (text, want) in [
            ("-3", "non-negative"),
            ("fast", "got `fast`"),
            ("5/d", "unknown rate unit `/d`"),
            ("inf", "non-negative"),
        ] {
            let e = rate(text).expect_err(text);
            assert!(e.contains(want), "`{text}`: {e}");
        }
    }

    #[test]
    fn every_count_form_is_accepted_or_rejected_as_the_table_says() {
        assert_eq!(count("1"), Ok(1));
        assert_eq!(count(" 42 "), Ok(42));
        assert_eq!(count("0"), Err("must be at least 1".into()));
        assert_eq!(count0("0"), Ok(0));
        for text in ["-1", "1.5", "x", ""] {
            assert!(count(text).is_err(), "`{text}`");
            let e = count0(text).expect_err(text);
            assert!(e.contains("expected a whole number"), "`{text}`: {e}");
        }
    }

    #[test]
    fn every_count_or_percentage_form_is_accepted_or_rejected_as_the_table_says() {
        assert_eq!(count_or_percent("1"), Ok(CountOrPercent::Count(1)));
        assert_eq!(count_or_percent("0"), Ok(CountOrPercent::Count(0)));
        assert_eq!(count_or_percent("25%"), Ok(CountOrPercent::Percent(25)));
        assert_eq!(count_or_percent("25 %"), Ok(CountOrPercent::Percent(25)));
        for text in ["1.5", "-1", "x%", "%", ""] {
            let e = count_or_percent(text).expect_err(text);
            assert!(
                e.contains("is not a count or a percentage"),
                "`{text}`: {e}"
            );
        }
    }
}
