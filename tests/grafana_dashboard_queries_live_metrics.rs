//! Every query of the Grafana dashboard (`deploy/grafana/meridian.json`)
//! names series that a running embedded server exports: each metric name in
//! each panel's `expr` has a sample on the live `/metrics` page (the
//! dashboard keeps to what an embedded server shows; a cluster adds the
//! link's series, which it does not query). The histograms on the page are
//! well-formed: buckets ascend in `le` and in count, and `+Inf` equals
//! `_count`.

mod common;
#[path = "common/raw_http.rs"]
mod raw_http;

use std::collections::{BTreeMap, BTreeSet};

use common::start_server;
use raw_http::get;

/// PromQL words that are not metric names (aggregations may be followed by
/// `by (...)` rather than `(`).
const KEYWORDS: [&str; 23] = [
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
    "and",
    "or",
    "unless",
];

/// The metric names in a PromQL expression: identifiers that are neither
/// functions (followed by `(`), label names (inside `{}` or the `()` after
/// `by` / `without`), nor inside a range `[..]` or a string.
fn metric_names(expression: &str) -> BTreeSet<String> {
    let characters: Vec<char> = expression.chars().collect();
    let mut names = BTreeSet::new();
    let mut index = 0;
    let mut depth_braces = 0;
    let mut in_range = false;
    let mut labels_group: Option<usize> = None;
    let mut parentheses = 0usize;
    let mut previous_word = String::new();
    while index < characters.len() {
        let character = characters[index];
        match character {
            '"' => {
                index += 1;
                while index < characters.len() && characters[index] != '"' {
                    index += if characters[index] == '\\' { 2 } else { 1 };
                }
            }
            '{' => depth_braces += 1,
            '}' => depth_braces -= 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '(' => {
                parentheses += 1;
                if matches!(previous_word.as_str(), "by" | "without") {
                    labels_group = Some(parentheses);
                }
            }
            ')' => {
                if labels_group == Some(parentheses) {
                    labels_group = None;
                }
                parentheses = parentheses.saturating_sub(1);
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' || c == '$' => {
                let start = index;
                while index < characters.len()
                    && (characters[index].is_ascii_alphanumeric()
                        || matches!(characters[index], '_' | ':' | '$'))
                {
                    index += 1;
                }
                let word: String = characters[start..index].iter().collect();
                let next = characters[index..].iter().find(|c| !c.is_whitespace());
                let is_function = next == Some(&'(');
                if !is_function
                    && depth_braces == 0
                    && !in_range
                    && labels_group.is_none()
                    && !word.starts_with('$')
                    && !KEYWORDS.contains(&word.as_str())
                {
                    names.insert(word.clone());
                }
                previous_word = word;
                continue;
            }
            _ => {}
        }
        if !character.is_whitespace() && character != '(' {
            previous_word.clear();
        }
        index += 1;
    }
    names
}

/// The names that have at least one sample on the page.
fn sampled_names(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Checks every histogram on the page: per series (its labels without `le`),
/// bounds and counts ascend, and `+Inf` equals `_count`.
fn assert_histograms_well_formed(page: &str) -> usize {
    let histograms: BTreeSet<&str> = page
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|line| line.strip_suffix(" histogram"))
        .collect();
    for name in &histograms {
        let bucket_prefix = format!("{name}_bucket{{");
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for line in page.lines() {
            let Some(rest) = line.strip_prefix(&bucket_prefix) else {
                continue;
            };
            let (labels, value) = rest.rsplit_once("} ").expect("a bucket sample");
            let (others, bound) = labels.rsplit_once("le=\"").expect("an le label");
            let bound = bound.trim_end_matches('"');
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().expect("a numeric le")
            };
            series
                .entry(others.trim_end_matches(',').to_owned())
                .or_default()
                .push((bound, value.parse().expect("a count")));
        }
        assert!(!series.is_empty(), "{name} has no buckets");
        for (labels, buckets) in series {
            assert!(
                buckets
                    .windows(2)
                    .all(|pair| pair[0].0 < pair[1].0 && pair[0].1 <= pair[1].1),
                "{name}{{{labels}}}: buckets must ascend: {buckets:?}"
            );
            let (last_bound, last_count) = *buckets.last().expect("buckets");
            assert!(last_bound.is_infinite(), "{name}{{{labels}}} ends at +Inf");
            let count_line = if labels.is_empty() {
                format!("{name}_count ")
            } else {
                format!("{name}_count{{{labels}}} ")
            };
            let count: f64 = page
                .lines()
                .find_map(|line| line.strip_prefix(&count_line))
                .unwrap_or_else(|| panic!("{count_line} is missing"))
                .parse()
                .expect("a count");
            assert_eq!(last_count, count, "{name}{{{labels}}}: +Inf is the count");
        }
    }
    histograms.len()
}

#[test]
fn every_dashboard_query_names_a_live_metric() {
    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../deploy/grafana/meridian.json"))
            .expect("the dashboard is JSON");
    let mut wanted = BTreeSet::new();
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(!panels.is_empty());
    for panel in panels {
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{}", panel["title"]);
        for target in targets {
            let expression = target["expr"].as_str().expect("an expr");
            let names = metric_names(expression);
            assert!(!names.is_empty(), "no metric in {expression}");
            wanted.extend(names);
        }
    }

    let (server, http_address) = start_server();
    // An answered request, so that the HTTP series have samples.
    assert_eq!(get(http_address, "/health", &[]).status, 200);
    let metrics = get(http_address, "/metrics", &[]);
    assert_eq!(metrics.status, 200);
    let page = metrics.body;
    let sampled = sampled_names(&page);
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|name| !sampled.contains(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, which /metrics does not show:\n{page}"
    );
    // The tick, handoff, crossing and HTTP histograms at least.
    assert!(assert_histograms_well_formed(&page) >= 4, "{page}");
    assert!(
        page.contains("meridian_build_info{version=\""),
        "build info: {page}"
    );
    drop(server);
}

#[test]
fn metric_names_leave_out_functions_labels_and_ranges() {
    let names = metric_names(
        "histogram_quantile(0.99, sum by (le, route) (rate(a_seconds_bucket{route=\"/x\"}[$__rate_interval]))) / clamp_min(b_total, 1)",
    );
    assert_eq!(
        names,
        BTreeSet::from(["a_seconds_bucket".to_owned(), "b_total".to_owned()])
    );
}
