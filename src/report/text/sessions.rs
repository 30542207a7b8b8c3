//! The terminal summary's WebSocket part: how the sessions ended, reconnections, and the
//! sessions and messages of each pod. Formats what the recorder counted and the analysis
//! attributed; adds nothing up beyond a row's own columns.

use super::{Align, Painter, Style, nonzero, plain, table};
use crate::model::session::SessionClass;
use crate::report::fmt;
use crate::result::RunResult;

/// "requests", or "messages" for a WebSocket run: what the tables count.
pub(super) fn unit(r: &RunResult) -> &'static str {
    if r.recorded.sessions.is_empty() {
        "requests"
    } else {
        "messages"
    }
}

pub(super) fn render(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let s = &r.recorded.sessions;
    if s.is_empty() {
        return;
    }
    out.push(p.paint("WebSocket sessions", Style::Bold));
    let rows: Vec<Vec<(String, Style)>> = s
        .counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(c, n)| {
            let style = if c.is_graceful() {
                Style::Good
            } else {
                Style::Bad
            };
            vec![
                (c.name().to_string(), style),
                plain(fmt::count(n)),
                plain(meaning(c)),
            ]
        })
        .collect();
    out.extend(table(
        p,
        "  ",
        &[
            ("ended by", Align::Left),
            ("sessions", Align::Right),
            ("meaning", Align::Left),
        ],
        &rows,
    ));
    let lost = r.verdict.sessions.as_ref().map_or(0, |c| c.messages_lost);
    let mut line = format!(
        "{} reconnections · {} messages lost",
        fmt::count(s.reconnects),
        fmt::count(lost)
    );
    if s.reconnects > 0 {
        line.push_str(&format!(
            " · time to reconnect p50 {}, max {}",
            fmt::fmt_us(s.reconnect_time.p50_us),
            fmt::fmt_us(s.reconnect_time.max_us)
        ));
    }
    if s.not_kept > 0 {
        line.push_str(&format!(
            " · {} sessions beyond the log's limit counted, not attributed",
            fmt::count(s.not_kept)
        ));
    }
    super::note(p, out, &line, Style::Dim);
    pods(p, r, out);
    out.push(String::new());
}

fn pods(p: &Painter, r: &RunResult, out: &mut Vec<String>) {
    let Some(a) = &r.analysis.sessions else {
        return;
    };
    if a.pods.is_empty() {
        return;
    }
    let rows: Vec<Vec<(String, Style)>> = a
        .pods
        .iter()
        .map(|ps| {
            let graceful: u64 = ps
                .sessions
                .iter()
                .filter(|(c, _)| c.is_graceful())
                .map(|(_, n)| n)
                .sum();
            vec![
                plain(ps.pod.clone()),
                plain(fmt::count(ps.sessions.total())),
                plain(fmt::count(graceful)),
                nonzero(ps.sessions.dropped(), Style::Bad),
                nonzero(ps.sessions.failed(), Style::Bad),
                plain(fmt::count(ps.answered)),
                nonzero(ps.lost, Style::Bad),
                plain(ps.method.map_or("-", fmt::method).to_string()),
            ]
        })
        .collect();
    out.extend(table(
        p,
        "  ",
        &[
            ("pod", Align::Left),
            ("sessions", Align::Right),
            ("goodbye", Align::Right),
            ("1006", Align::Right),
            ("failed", Align::Right),
            ("answered", Align::Right),
            ("lost", Align::Right),
            ("tied by", Align::Left),
        ],
        &rows,
    ));
    if a.unattributed > 0 {
        super::note(
            p,
            out,
            &format!("{} sessions tied to no pod", fmt::count(a.unattributed)),
            Style::Dim,
        );
    }
}

fn meaning(c: SessionClass) -> &'static str {
    match c {
        SessionClass::ClientClose => "closed by zerodrop (session over or load ended)",
        SessionClass::Close1000 => "the server closed it: normal closure",
        SessionClass::Close1001 => "the server closed it: going away (graceful shutdown)",
        SessionClass::Close1012 => "the server closed it: service restart",
        SessionClass::CloseOther => "the server closed it with an error code",
        SessionClass::Abnormal1006 => "dropped: the connection ended without a close frame",
        SessionClass::HandshakeFailed => "never opened: connect or upgrade failed",
        SessionClass::ProtocolError => "a protocol violation ended it",
    }
}
