//! The HTML report of rollouts with failures — one recorded by the real local runtime, one
//! synthetic with every kind of mark — opened in headless Chromium at
//! 1280×800 as a person would open a CI artifact: the screenshot must show the report (not a
//! blank page: many colours, the FAIL badge, the chart's bars and failure marks) and the page
//! must write nothing to the console (no script error, no blocked fetch).
//!
//! Chromium is found as `$ZERODROP_CHROMIUM`, `chromium` or `chromium-browser`. Without it
//! these tests fail under CI, which installs it, and elsewhere print a SKIP line (see
//! `support/tool.rs`).
//! `ZERODROP_UPDATE_SCREENSHOT=1` also copies the recorded rollout's screenshot to
//! `docs/report-timeline.png`.

mod report_support;
#[path = "support/tool.rs"]
mod tool;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zerodrop::report::html;
use zerodrop::report::redact::Redactor;

/// Chromium, or `None` once `tool::require_tool` has said why the test does not run (under CI
/// it fails the test instead).
fn chromium() -> Option<PathBuf> {
    let found = match std::env::var_os("ZERODROP_CHROMIUM") {
        Some(p) => Some(PathBuf::from(p)),
        None => tool::on_path(&["chromium", "chromium-browser"]),
    };
    tool::require_tool(tool::CHROMIUM, found)
}

struct Shot {
    png: PathBuf,
    /// Console messages the page produced, as Chromium logged them.
    console: Vec<String>,
}

/// Opens `page` headless at 1280×800 and takes a screenshot. Chromium is stopped if it has not
/// finished within two minutes so a wedged browser cannot hang the suite.
fn screenshot(browser: &Path, dir: &Path, page: &Path) -> Shot {
    let png = dir.join("shot.png");
    let stderr_path = dir.join("chromium.log");
    let stderr = std::fs::File::create(&stderr_path).expect("log file");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1280,800",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("chromium starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within two minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(status.success(), "chromium failed ({status}):\n{log}");
    assert!(png.is_file(), "no screenshot written:\n{log}");
    // With --enable-logging every console message appears as a `:CONSOLE` line.
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Shot { png, console }
}

struct Pixels {
    rgb: Vec<[u8; 3]>,
}

impl Pixels {
    fn read(path: &Path) -> Pixels {
        let file = std::io::BufReader::new(std::fs::File::open(path).expect("png opens"));
        let mut reader = png::Decoder::new(file).read_info().expect("png header");
        let mut buf = vec![0; reader.output_buffer_size().expect("buffer size")];
        let info = reader.next_frame(&mut buf).expect("png frame");
        assert_eq!(info.bit_depth, png::BitDepth::Eight, "unexpected bit depth");
        let step = info.color_type.samples();
        assert!(step >= 3, "unexpected colour type {:?}", info.color_type);
        let rgb = buf[..info.buffer_size()]
            .chunks_exact(step)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        Pixels { rgb }
    }

    fn near(&self, hex: u32) -> usize {
        let want = [(hex >> 16) as u8, (hex >> 8) as u8, hex as u8];
        self.rgb
            .iter()
            .filter(|p| p.iter().zip(want).all(|(a, b)| a.abs_diff(b) <= 6))
            .count()
    }
}

/// Renders `r` in Chromium and checks what a person would see first: not a blank page, nothing
/// on the console, and each of `colours` (hex, minimum pixels) visible in the first screen.
/// Returns the screenshot's path inside `dir`.
fn check_in_browser(
    browser: &Path,
    dir: &Path,
    r: &zerodrop::result::RunResult,
    colours: &[(u32, usize, &str)],
) -> PathBuf {
    let page = dir.join("report.html");
    std::fs::write(&page, html::render(r, &Redactor::default())).expect("write page");
    let shot = screenshot(browser, dir, &page);
    assert!(
        shot.console.is_empty(),
        "the page wrote to the console:\n{}",
        shot.console.join("\n")
    );
    let px = Pixels::read(&shot.png);
    assert_eq!(px.rgb.len(), 1280 * 800, "not a 1280×800 screenshot");
    let distinct: HashSet<[u8; 3]> = px.rgb.iter().copied().collect();
    assert!(
        distinct.len() >= 50,
        "only {} colours: blank?",
        distinct.len()
    );
    let inked = px.rgb.iter().filter(|p| p.iter().any(|c| *c < 235)).count();
    assert!(
        inked * 100 / px.rgb.len() >= 10,
        "only {inked} non-white pixels: blank?"
    );
    for (hex, min, what) in colours {
        let n = px.near(*hex);
        assert!(
            n >= *min,
            "{what}: {n} pixels of #{hex:06x}, expected {min}"
        );
    }
    shot.png
}

#[test]
fn the_html_of_a_recorded_rollout_renders_in_a_browser_without_console_errors() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let recorded = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/report/local-naive-rollout.json"
    );
    let r = zerodrop::report::load(recorded).expect("recorded result loads");
    // Visible within the first screen: the FAIL badge, the requests chart's ok bars, the
    // connection resets (bars and pins), and the lanes' ready bars.
    let png = check_in_browser(
        &browser,
        dir.path(),
        &r,
        &[
            (0xc62828, 300, "the FAIL badge"),
            (0x8cc084, 20_000, "the requests chart"),
            (0xc0392b, 1_000, "connection_reset failures"),
            (0x66bb6a, 2_000, "pod lanes"),
            (0x6d1b1b, 200, "pods exited while still ready endpoints"),
        ],
    );
    if std::env::var_os("ZERODROP_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report-timeline.png");
        std::fs::copy(&png, docs).expect("copy screenshot to docs/");
    }
}

#[test]
fn the_html_of_the_synthetic_rollout_renders_in_a_browser_without_console_errors() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    check_in_browser(
        &browser,
        dir.path(),
        &report_support::failing_rollout(),
        &[
            (0xc62828, 300, "the FAIL badge"),
            (0x8cc084, 20_000, "the requests chart"),
            (0x8e44ad, 100, "connect_refused failures"),
            (0x66bb6a, 2_000, "pod lanes"),
        ],
    );
}

#[test]
fn a_page_with_a_script_error_is_caught_by_the_console_check() {
    let Some(browser) = chromium() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let page = dir.path().join("broken.html");
    std::fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>x</p><script>undefinedFunction();</script></body></html>",
    )
    .expect("write page");
    let shot = screenshot(&browser, dir.path(), &page);
    assert!(
        shot.console.iter().any(|l| l.contains("undefinedFunction")),
        "the console check saw nothing: {:?}",
        shot.console
    );
}
