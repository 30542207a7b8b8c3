//! `--send-window` and the scenario's `send_window`: values, conflicts, and where they go.

use std::time::Duration;

use super::*;

#[test]
fn a_send_window_is_auto_zero_or_a_duration_up_to_ten_milliseconds() {
    let base = [
        ("target", "http://127.0.0.1:9/"),
        ("rate", "1000"),
        ("duration", "1s"),
    ];
    let window = |w: &str| {
        let mut args = base.to_vec();
        args.push(("send-window", w));
        load(&args)
    };
    assert_eq!(load(&base).expect("valid").traffic.send_window, None);
    assert_eq!(window("auto").expect("valid").traffic.send_window, None);
    assert_eq!(
        window("0").expect("valid").traffic.send_window,
        Some(Duration::ZERO)
    );
    assert_eq!(
        window("1500us").expect("valid").traffic.send_window,
        Some(Duration::from_micros(1_500))
    );
    assert_eq!(
        window("10ms").expect("valid").traffic.send_window,
        Some(Duration::from_millis(10))
    );
    let text = window("11ms").unwrap_err().to_string();
    assert!(
        text.contains("--send-window") && text.contains("at most 10ms"),
        "{text}"
    );
    let text = window("2").unwrap_err().to_string();
    assert!(
        text.contains("--send-window") && text.contains("needs a unit") && text.contains("`auto`"),
        "{text}"
    );
}

#[test]
fn a_send_window_reaches_the_engine_and_the_saved_plan() {
    let p = load(&[
        ("target", "http://127.0.0.1:9/"),
        ("rate", "1000"),
        ("duration", "1s"),
        ("send-window", "2ms"),
    ])
    .expect("valid");
    match p.load_spec(None).expect("a spec").mode {
        crate::load::engine::Mode::Open { send_window, .. } => {
            assert_eq!(send_window, Some(Duration::from_millis(2)));
        }
        other => panic!("an open-model run, got {other:?}"),
    }
    let saved = serde_json::to_value(&p.traffic).expect("serializes");
    assert_eq!(saved["send_window"], 0.002);
    let auto = load(&[
        ("target", "http://127.0.0.1:9/"),
        ("rate", "1000"),
        ("duration", "1s"),
    ])
    .expect("valid");
    let saved = serde_json::to_value(&auto.traffic).expect("serializes");
    assert!(saved.get("send_window").is_none(), "{saved}");
}

#[test]
fn a_send_window_is_refused_by_the_closed_loop_which_has_no_schedule() {
    let text = load(&[
        ("target", "http://127.0.0.1:9/"),
        ("max", ""),
        ("duration", "1s"),
        ("send-window", "1ms"),
    ])
    .unwrap_err()
    .to_string();
    assert!(
        text.contains("--send-window") && text.contains("closed-loop --max"),
        "{text}"
    );
}

#[test]
fn a_send_window_is_read_from_the_scenario_and_a_flag_wins() {
    let f =
        scenario_file("target: http://127.0.0.1:9/\nrate: 100\nduration: 1s\nsend_window: 3ms\n");
    let path = f.path().to_string_lossy().to_string();
    let p = load(&[("scenario", &path)]).expect("valid");
    assert_eq!(p.traffic.send_window, Some(Duration::from_millis(3)));
    let p = load(&[("scenario", &path), ("send-window", "auto")]).expect("valid");
    assert_eq!(p.traffic.send_window, None);
    let f =
        scenario_file("target: http://127.0.0.1:9/\nrate: 100\nduration: 1s\nsend_window: 1s\n");
    let path = f.path().to_string_lossy().to_string();
    let text = load(&[("scenario", &path)]).unwrap_err().to_string();
    assert!(text.contains("line 4 (send_window)"), "{text}");
}
