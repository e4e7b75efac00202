//! `meridian simulate --sweep` runs every combination of the knobs' values and
//! writes one CSV row per point and a well-formed SVG chart of each figure
//! against each knob; an unknown knob or a value the config file would refuse
//! stops it with a clear error before anything runs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meridian_sweep_{}_{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn simulate(arguments: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_meridian"))
        .arg("simulate")
        .args([
            "--entities",
            "60",
            "--ticks",
            "4",
            "--snapshot-sample",
            "20",
        ])
        .args(["--world-size", "200"])
        .args(arguments)
        .arg("--out")
        .arg(out)
        .output()
        .expect("runs meridian simulate")
}

/// Checks that `text` is one well-formed XML element: every tag closed in
/// order, attributes quoted, nothing after the root. Returns the root's name.
fn well_formed_root(text: &str) -> Result<String, String> {
    let mut open: Vec<String> = Vec::new();
    let mut root = None;
    let mut rest = text.trim();
    while let Some(start) = rest.find('<') {
        if root.is_some() && open.is_empty() {
            return Err(format!(
                "content after the root: {:?}",
                &rest[..rest.len().min(40)]
            ));
        }
        let after = &rest[start + 1..];
        let end = after
            .find('>')
            .ok_or_else(|| "a tag never ends".to_string())?;
        let tag = &after[..end];
        if !tag.matches('"').count().is_multiple_of(2) {
            return Err(format!("unbalanced quotes in <{tag}>"));
        }
        if let Some(name) = tag.strip_prefix('/') {
            match open.pop() {
                Some(top) if top == name.trim() => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
        } else if !tag.starts_with('?') && !tag.starts_with('!') {
            let name = tag
                .split(|c: char| c.is_whitespace() || c == '/')
                .next()
                .unwrap_or_default()
                .to_string();
            if name.is_empty() {
                return Err("a tag without a name".into());
            }
            root.get_or_insert_with(|| name.clone());
            if !tag.ends_with('/') {
                open.push(name);
            }
        }
        rest = &after[end + 1..];
    }
    if !open.is_empty() {
        return Err(format!("never closed: {open:?}"));
    }
    root.ok_or_else(|| "no element".into())
}

#[test]
fn a_four_by_three_sweep_writes_twelve_rows_and_a_chart_per_figure_and_knob() {
    let out = out_dir("grid");
    let output = simulate(
        &[
            "--sweep",
            "interest_radius=20,30,50,100",
            "--sweep",
            "tick_rate=10,20,30",
        ],
        &out,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let csv = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 4 * 3, "{csv}");
    let header: Vec<&str> = rows[0].split(',').collect();
    assert_eq!(&header[..2], ["interest_radius", "tick_rate"]);
    for column in [
        "tick_p50_ms",
        "tick_p99_ms",
        "bytes_per_client_per_s_mean",
        "view_size_mean",
        "view_size_p99",
    ] {
        assert!(header.contains(&column), "{column} missing from {header:?}");
    }
    let view = header.iter().position(|&c| c == "view_size_mean").unwrap();
    let (mut points, mut views) = (Vec::new(), Vec::new());
    for row in &rows[1..] {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells.len(), header.len(), "{row}");
        let numbers: Vec<f64> = cells
            .iter()
            .map(|cell| cell.parse().expect("a number"))
            .collect();
        points.push((numbers[0], numbers[1]));
        views.push(numbers[view]);
    }
    // 60 agents in 200 m x 200 m: a 100 m radius sees far more than 20 m.
    assert!(views[9] > views[0] * 2.0, "{views:?}");
    assert_eq!(points[0], (20.0, 10.0));
    assert_eq!(points[11], (100.0, 30.0));

    let mut charts: Vec<String> = std::fs::read_dir(&out)
        .expect("the out folder")
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".svg"))
        .collect();
    charts.sort();
    assert_eq!(charts.len(), 4 * 2, "{charts:?}");
    for knob in ["interest_radius", "tick_rate"] {
        for figure in [
            "tick_p50_ms",
            "tick_p99_ms",
            "bytes_per_client_per_s_mean",
            "view_size_mean",
        ] {
            let name = format!("{figure}-vs-{knob}.svg");
            let svg = std::fs::read_to_string(out.join(&name)).expect(&name);
            assert_eq!(well_formed_root(&svg), Ok("svg".into()), "{name}");
            assert!(svg.contains(&format!("against {knob}")), "{name}: no title");
        }
    }
    // Against the radius, one line per tick rate, and the other way round.
    let against_radius =
        std::fs::read_to_string(out.join("view_size_mean-vs-interest_radius.svg")).unwrap();
    for rate in ["tick_rate=10", "tick_rate=20", "tick_rate=30"] {
        assert!(against_radius.contains(rate), "legend lacks {rate}");
    }
    let against_rate =
        std::fs::read_to_string(out.join("view_size_mean-vs-tick_rate.svg")).unwrap();
    assert!(against_rate.contains("interest_radius=100"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("12 points"), "{stdout}");
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn an_unknown_knob_or_a_refused_value_stops_the_sweep_before_it_runs() {
    let out = out_dir("unknown");
    let output = simulate(&["--sweep", "tick_speed=1,2"], &out);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown knob \"tick_speed\"") && stderr.contains("interest_radius"),
        "{stderr}"
    );
    assert!(!out.join("sweep.csv").exists());

    let output = simulate(&["--sweep", "tick_rate=20,1000"], &out);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("tick_rate=1000") && stderr.contains("tick_rate_hz"),
        "{stderr}"
    );
    assert!(!out.join("sweep.csv").exists(), "nothing runs");

    let output = simulate(&["--sweep", "entities=10,ten"], &out);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"ten\" is not a number"));
}

#[test]
fn the_well_formedness_check_catches_broken_documents() {
    assert_eq!(well_formed_root("<svg><g/></svg>"), Ok("svg".into()));
    assert!(well_formed_root("<svg><g></svg>").is_err());
    assert!(well_formed_root("<svg><text a=\"1>x</text></svg>").is_err());
    assert!(well_formed_root("<svg></svg><svg></svg>").is_err());
    assert!(well_formed_root("<svg>").is_err());
}
