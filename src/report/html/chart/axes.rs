//! The chart's axes: round maxima for the value axes, time ticks under the lanes, and the
//! frame and value labels of each panel.

use std::fmt::Write as _;

use super::{ML, PW, Scale};

/// A round number at or above `v`, for axis maxima.
pub(super) fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * mag >= v {
            return m * mag;
        }
    }
    10.0 * mag
}

/// Tick spacing in seconds giving at most about a dozen ticks.
fn tick_step(t1: f64) -> f64 {
    for step in [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
    ] {
        if t1 / step <= 12.0 {
            return step;
        }
    }
    7200.0
}

fn tick_label(s: f64) -> String {
    let s = s.round() as u64;
    if s >= 60 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else if s >= 60 {
        format!("{}m{}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

/// Ticks and labels of the time axis, every [`tick_step`] seconds.
pub(super) fn time_axis(s: &mut String, sc: &Scale, y_axis: f64) {
    let step = tick_step(sc.t1);
    let mut t = 0.0;
    while t <= sc.t1 + 1e-9 {
        let x = sc.xs(t);
        let _ = write!(
            s,
            r#"<line x1="{x:.1}" x2="{x:.1}" y1="{y_axis:.1}" y2="{:.1}" class="tick"/><text x="{x:.1}" y="{:.1}" class="axis" text-anchor="middle">{}</text>"#,
            y_axis + 4.0,
            y_axis + 17.0,
            tick_label(t)
        );
        t += step;
    }
}

pub(super) fn panel_frame(s: &mut String, y: f64, h: f64, label: &str) {
    let _ = write!(
        s,
        r#"<rect x="{ML}" y="{y:.1}" width="{PW}" height="{h:.1}" class="frame"/><text x="{:.1}" y="{:.1}" class="panel-label">{label}</text>"#,
        ML - 8.0,
        y + h / 2.0 + 4.0
    );
}

pub(super) fn y_labels(s: &mut String, y: f64, h: f64, max: f64, unit: &dyn Fn(f64) -> String) {
    for (frac, v) in [(0.0, max), (0.5, max / 2.0)] {
        let yy = y + h * frac;
        let _ = write!(
            s,
            r#"<line x1="{ML}" x2="{:.1}" y1="{yy:.1}" y2="{yy:.1}" class="grid"/><text x="{:.1}" y="{:.1}" class="axis" text-anchor="start">{}</text>"#,
            ML + PW,
            ML + 3.0,
            yy + 11.0,
            unit(v)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_maxima_round_up_to_readable_numbers() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(48.0), 50.0);
        assert_eq!(nice_ceiling(101.0), 200.0);
        assert_eq!(nice_ceiling(2.2), 2.5);
    }

    #[test]
    fn ticks_stay_few_on_long_runs() {
        assert_eq!(tick_step(10.0), 1.0);
        assert_eq!(tick_step(40.0), 5.0);
        assert!(3600.0 / tick_step(3600.0) <= 12.0);
        assert_eq!(tick_label(90.0), "1m30s");
        assert_eq!(tick_label(120.0), "2m");
    }
}
