//! Live progress while load runs: an indicatif bar on a terminal, one plain line every 5 s
//! otherwise (CI logs), nothing with `--quiet`. Reads the recorder's [`LiveStats`] only; it
//! never touches the hot path.

use std::io::IsTerminal as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::model::request::LiveStats;

/// How progress is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    Bar,
    Lines,
    Off,
}

impl ProgressMode {
    /// A bar when stderr is a terminal, plain lines otherwise, nothing when quiet.
    pub fn detect(quiet: bool) -> ProgressMode {
        if quiet {
            ProgressMode::Off
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bar
        } else {
            ProgressMode::Lines
        }
    }
}

/// A running progress display; stops when finished or dropped.
pub struct ProgressDisplay {
    stop: Arc<AtomicBool>,
    phase: Arc<Mutex<String>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

struct Sample {
    at: Instant,
    done: u64,
}

fn format_us(us: u64) -> String {
    if us >= 1_000_000 {
        format!("{:.2}s", us as f64 / 1e6)
    } else if us >= 1_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{us}µs")
    }
}

fn line(live: &LiveStats, phase: &str, rate: f64) -> String {
    let ok = live.ok.load(Ordering::Relaxed);
    let failed = live.failed.load(Ordering::Relaxed);
    let dropped = live.dropped.load(Ordering::Relaxed);
    let in_flight = live.in_flight.load(Ordering::Relaxed);
    let p99 = live.p99_us.load(Ordering::Relaxed);
    let mut s = String::new();
    if !phase.is_empty() {
        s.push_str(phase);
        s.push_str("  ");
    }
    s.push_str(&format!(
        "{rate:.0}/s  in flight {in_flight}  ok {ok}  failed {failed}  p99 {}",
        format_us(p99)
    ));
    if dropped > 0 {
        s.push_str(&format!("  dropped by generator {dropped}"));
    }
    s
}

impl ProgressDisplay {
    /// Starts showing progress. `total` is the planned length when known.
    pub fn start(
        live: Arc<LiveStats>,
        total: Option<Duration>,
        mode: ProgressMode,
    ) -> ProgressDisplay {
        let stop = Arc::new(AtomicBool::new(false));
        let phase = Arc::new(Mutex::new(String::new()));
        if mode == ProgressMode::Off {
            return ProgressDisplay {
                stop,
                phase,
                handle: None,
            };
        }
        let (stop2, phase2) = (stop.clone(), phase.clone());
        let handle = std::thread::Builder::new()
            .name("zerodrop-progress".into())
            .spawn(move || show(&live, &stop2, &phase2, mode, total))
            .ok();
        ProgressDisplay {
            stop,
            phase,
            handle,
        }
    }

    /// Names the phase shown in front of the figures ("baseline", "rollout", …).
    pub fn set_phase(&self, name: &str) {
        if let Ok(mut p) = self.phase.lock() {
            *p = name.to_string();
        }
    }

    pub fn finish(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// The progress thread: samples the live figures every 100 ms and shows them (the rate over the
/// last second) until `stop` is set.
fn show(
    live: &LiveStats,
    stop: &AtomicBool,
    phase: &Mutex<String>,
    mode: ProgressMode,
    total: Option<Duration>,
) {
    let started = Instant::now();
    let bar = progress_bar(mode, total);
    let tick = if bar.is_some() {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(5)
    };
    let mut window = std::collections::VecDeque::from([Sample {
        at: started,
        done: 0,
    }]);
    let mut last_line = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        let now = Instant::now();
        let done = live.ok.load(Ordering::Relaxed) + live.failed.load(Ordering::Relaxed);
        window.push_back(Sample { at: now, done });
        while window.len() > 2 && now.duration_since(window[0].at) > Duration::from_secs(1) {
            window.pop_front();
        }
        let span = now.duration_since(window[0].at).as_secs_f64();
        let rate = if span > 0.0 {
            (done - window[0].done) as f64 / span
        } else {
            0.0
        };
        let name = phase.lock().map(|p| p.clone()).unwrap_or_default();
        let text = line(live, &name, rate);
        if let Some(b) = &bar {
            b.set_position(now.duration_since(started).as_millis() as u64);
            b.set_message(text);
        } else if now.duration_since(last_line) >= tick {
            last_line = now;
            eprintln!(
                "[{:>6.1}s] {text}",
                now.duration_since(started).as_secs_f64()
            );
        }
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
}

/// The indicatif bar for `mode`: with a length when the run's is known, a spinner otherwise;
/// none for plain lines.
fn progress_bar(mode: ProgressMode, total: Option<Duration>) -> Option<ProgressBar> {
    match (mode, total) {
        (ProgressMode::Bar, Some(t)) => {
            let b = ProgressBar::with_draw_target(
                Some(t.as_millis() as u64),
                ProgressDrawTarget::stderr(),
            );
            b.set_style(
                ProgressStyle::with_template("{elapsed_precise} [{bar:25}] {percent:>3}%  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            Some(b)
        }
        (ProgressMode::Bar, None) => {
            let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template("{elapsed_precise} {spinner}  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            Some(b)
        }
        _ => None,
    }
}
