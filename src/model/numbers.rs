//! How every text zerodrop writes spells numbers: counts with thousands separators, a count of
//! requests in words, and microsecond durations with a readable unit. The gate's reasons and
//! measurements and every report use these, so a figure reads the same wherever it appears.
//!
//! They sit here, below both, because the gate writes these words into the result (its
//! verdict's reasons, a threshold's measured value) and the reports write the same figures: the
//! gate must not import the reports, and data flows one way, gate -> report.

/// "1 request", "3 requests", "12,345 requests".
pub fn requests(n: u64) -> String {
    if n == 1 {
        "1 request".to_string()
    } else {
        format!("{} requests", thousands(n))
    }
}

/// "1 message", "3 messages": what a WebSocket run counts where an HTTP run counts requests.
pub fn messages(n: u64) -> String {
    if n == 1 {
        "1 message".to_string()
    } else {
        format!("{} messages", thousands(n))
    }
}

/// A count with thousands separators ("12,345"), as every report prints counts.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in microseconds with a unit that keeps three significant figures readable.
pub fn fmt_us(us: u64) -> String {
    if us < 1_000 {
        format!("{us}µs")
    } else if us < 10_000 {
        format!("{:.2}ms", us as f64 / 1e3)
    } else if us < 1_000_000 {
        format!("{:.0}ms", us as f64 / 1e3)
    } else if us < 60_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else {
        format!("{:.1}m", us as f64 / 6e7)
    }
}

/// A p-value as a test's result quotes it: `p < 0.001`, else three decimals.
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_get_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn durations_are_shown_with_a_fitting_unit() {
        assert_eq!(fmt_us(850), "850µs");
        assert_eq!(fmt_us(4_250), "4.25ms");
        assert_eq!(fmt_us(412_000), "412ms");
        assert_eq!(fmt_us(1_500_000), "1.50s");
        assert_eq!(fmt_us(90_000_000), "1.5m");
    }
}
