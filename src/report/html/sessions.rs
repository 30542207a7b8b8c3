//! The HTML report's WebSocket part: how sessions ended, reconnections, and each pod's
//! sessions and messages. Renders what the recorder counted and the analysis attributed.

use std::fmt::Write as _;

use super::esc;
use crate::report::fmt;
use crate::result::RunResult;

pub(super) fn render(h: &mut String, r: &RunResult) {
    let s = &r.recorded.sessions;
    if s.is_empty() {
        return;
    }
    h.push_str(
        r#"<h2>WebSocket sessions</h2><div class="tables"><table><tr><th>ended by</th><th>sessions</th></tr>"#,
    );
    for (c, n) in s.counts.iter().filter(|(_, n)| *n > 0) {
        let cls = if c.is_graceful() { "n" } else { "n bad" };
        let _ = write!(
            h,
            r#"<tr><td><code>{}</code></td><td class="{cls}">{}</td></tr>"#,
            c.name(),
            fmt::count(n)
        );
    }
    h.push_str("</table>");
    if let Some(a) = &r.analysis.sessions {
        h.push_str(
            r#"<table><tr><th>pod</th><th>sessions</th><th>1006</th><th>failed</th><th>answered</th><th>lost</th><th>tied by</th></tr>"#,
        );
        for p in &a.pods {
            let _ = write!(
                h,
                r#"<tr><td>{}</td><td class="n">{}</td><td class="{}">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td></tr>"#,
                esc(&p.pod),
                fmt::count(p.sessions.total()),
                if p.sessions.dropped() > 0 {
                    "n bad"
                } else {
                    "n"
                },
                fmt::count(p.sessions.dropped()),
                fmt::count(p.sessions.failed()),
                fmt::count(p.answered),
                fmt::count(p.lost),
                p.method.map_or("-", fmt::method)
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</div>");
    let mut meta = format!("{} reconnections", fmt::count(s.reconnects));
    if s.reconnects > 0 {
        let _ = write!(
            meta,
            "; time to reconnect p50 {}, max {}",
            fmt::fmt_us(s.reconnect_time.p50_us),
            fmt::fmt_us(s.reconnect_time.max_us)
        );
    }
    meta.push_str(
        ". On the timeline each pod's lane shows the messages it answered per second (blue \
         bars), a hollow circle where the server closed a session with a goodbye and a red \
         cross where one was dropped.",
    );
    let _ = write!(h, r#"<p class="meta">{}</p>"#, esc(&meta));
}
