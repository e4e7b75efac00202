//! `loadbot merge a.json b.json` reads two JSON reports and writes the report
//! one loadbot running both swarms would have written: counts added up,
//! percentiles from the merged histograms, timelines added second by second;
//! with `--report`, the merged HTML page too.

use std::path::PathBuf;
use std::process::Command;

use loadbot::report::BehaviourRow;
use loadbot::{BehaviourKind, Report};

/// A report from the report code: per bot, its behaviour, round trips and
/// byte rate; the swarm's bytes per second.
fn report_of(bots: &[(BehaviourKind, Vec<f64>, f64)], bytes: &[(u64, u64)]) -> Report {
    let mut report = Report::default();
    for (kind, rtts, rate) in bots {
        if !report.behaviours.iter().any(|row| row.behaviour == *kind) {
            report.behaviours.push(BehaviourRow::new(*kind));
        }
        let row = report
            .behaviours
            .iter_mut()
            .find(|row| row.behaviour == *kind)
            .expect("just added");
        row.bots += 1;
        row.connected += 1;
        row.snapshots += rtts.len() as u64;
        for &rtt in rtts {
            row.histograms.rtt_ms.record(rtt);
            row.histograms
                .snapshot_interval_ms
                .record(50.0 + rtt / 10.0);
        }
        row.histograms.bytes_per_client_per_s.record(*rate);
    }
    for &(second, count) in bytes {
        report.timeline.record(second, count, 20);
    }
    report.settle().expect("one scale");
    report
}

fn bot(kind: BehaviourKind, seed: u32, rate: f64) -> (BehaviourKind, Vec<f64>, f64) {
    let rtts = (0..500)
        .map(|i| f64::from((i * 31 + seed * 17) % 240) * 0.5 + 3.0)
        .collect();
    (kind, rtts, rate)
}

fn temporary(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("loadbot_merge_{}_{name}", std::process::id()))
}

#[test]
fn merging_two_reports_gives_the_report_of_both_swarms() {
    let first = vec![
        bot(BehaviourKind::RandomWalk, 1, 12_000.0),
        bot(BehaviourKind::Flock, 2, 30_000.0),
        bot(BehaviourKind::RandomWalk, 5, 14_000.0),
    ];
    let second = vec![
        bot(BehaviourKind::Flock, 3, 28_000.0),
        bot(BehaviourKind::Idle, 4, 6_000.0),
    ];
    let bytes_a: Vec<(u64, u64)> = (0..40).map(|s| (s, 50_000)).collect();
    let bytes_b: Vec<(u64, u64)> = (2..60).map(|s| (s, 20_000)).collect();
    let (a, b) = (temporary("a.json"), temporary("b.json"));
    let (merged_path, page) = (temporary("merged.json"), temporary("merged.html"));
    for (path, report) in [
        (&a, report_of(&first, &bytes_a)),
        (&b, report_of(&second, &bytes_b)),
    ] {
        std::fs::write(path, serde_json::to_string_pretty(&report).unwrap()).unwrap();
    }

    let output = Command::new(env!("CARGO_BIN_EXE_loadbot"))
        .arg("merge")
        .args([&a, &b])
        .arg("-o")
        .arg(&merged_path)
        .arg("--report")
        .arg(&page)
        .output()
        .expect("runs loadbot merge");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let merged: Report =
        serde_json::from_str(&std::fs::read_to_string(&merged_path).unwrap()).unwrap();

    let both: Vec<_> = first.iter().chain(&second).cloned().collect();
    let bytes: Vec<(u64, u64)> = bytes_a.iter().chain(&bytes_b).copied().collect();
    let whole = report_of(&both, &bytes);
    assert_eq!(
        (merged.bots, merged.connected, merged.snapshots),
        (5, 5, 2_500)
    );
    assert_eq!(merged.rtt_ms, whole.rtt_ms);
    assert_eq!(merged.snapshot_interval_ms, whole.snapshot_interval_ms);
    assert_eq!(merged.bytes_per_client_per_s, whole.bytes_per_client_per_s);
    assert_eq!(merged.timeline, whole.timeline);
    assert_eq!(merged, whole);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("loadbot: 5 bots, 5 connected"), "{stdout}");

    let html = std::fs::read_to_string(&page).unwrap();
    for section in ["summary", "latency", "over-time", "behaviours"] {
        assert!(
            html.contains(&format!("<section id=\"{section}\"")),
            "{section}"
        );
    }
    for kind in ["random-walk", "flock", "idle"] {
        assert!(html.contains(&format!("<td>{kind}</td>")), "{kind} row");
    }
    for path in [a, b, merged_path, page] {
        let _ = std::fs::remove_file(path);
    }
}

#[test]
fn merge_refuses_a_file_that_is_not_a_report() {
    let (good, bad) = (temporary("good.json"), temporary("bad.json"));
    let report = report_of(&[bot(BehaviourKind::Idle, 1, 1_000.0)], &[(0, 10)]);
    std::fs::write(&good, serde_json::to_string(&report).unwrap()).unwrap();
    std::fs::write(&bad, r#"{"bots": "many"}"#).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_loadbot"))
        .arg("merge")
        .args([&good, &bad])
        .output()
        .expect("runs loadbot merge");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not a loadbot JSON report"), "{stderr}");
    let _ = std::fs::remove_file(good);
    let _ = std::fs::remove_file(bad);
}
