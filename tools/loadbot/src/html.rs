//! The report as one self-contained HTML page: summary, the round-trip
//! distribution, bytes and snapshots per second over time, and a row per
//! behaviour. The charts are inline SVG drawn with `plotters`; the page loads
//! nothing else.

use std::fmt::Write as _;

use plotters::prelude::*;

use crate::report::{Percentiles, Report};
use crate::samples::Distribution;

/// A chart could not be drawn.
pub type ChartError = DrawingAreaErrorKind<std::io::Error>;

/// Line colours, distinct on white.
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// Bins of the round-trip distribution chart.
const BINS: usize = 60;

/// One line: its legend (empty for none) and points.
type Line = (String, Vec<(f64, f64)>);

/// Draws lines as an SVG element; the y axis starts at zero.
fn line_chart(
    title: &str,
    x_label: &str,
    y_label: &str,
    lines: &[Line],
) -> Result<String, ChartError> {
    let mut svg = String::new();
    let points = || lines.iter().flat_map(|(_, points)| points.iter());
    let x_high = points().map(|p| p.0).fold(0.0f64, f64::max).max(1.0);
    let y_high = points().map(|p| p.1).fold(0.0f64, f64::max).max(1.0) * 1.1;
    {
        let root = SVGBackend::with_string(&mut svg, (760, 360)).into_drawing_area();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_high, 0.0..y_high)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc(y_label)
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (index, (name, points)) in lines.iter().enumerate() {
            let color = COLORS[index % COLORS.len()];
            let drawn = chart.draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?;
            if !name.is_empty() {
                drawn.label(name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
            }
        }
        if lines.iter().any(|(name, _)| !name.is_empty()) {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .label_font(("sans-serif", 13))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()?;
        }
        root.present()?;
    }
    Ok(svg)
}

/// The share of samples in each bin of `distribution`, percent, against
/// the bin's middle.
fn shares(distribution: &Distribution, upto: f64) -> Vec<(f64, f64)> {
    let counts = distribution.binned(upto, BINS);
    let total = counts.iter().sum::<u64>().max(1) as f64;
    let width = upto / BINS as f64;
    counts
        .iter()
        .enumerate()
        .map(|(index, &count)| ((index as f64 + 0.5) * width, count as f64 / total * 100.0))
        .collect()
}

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn optional(value: Option<f64>, unit: &str) -> String {
    value.map_or_else(|| "n/a".to_string(), |value| format!("{value:.1} {unit}"))
}

fn percentile_cells(p: &Percentiles) -> String {
    format!(
        "<td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td>",
        p.p50, p.p99, p.p999, p.max
    )
}

/// The report as a self-contained HTML page.
pub fn to_html(report: &Report) -> Result<String, ChartError> {
    let mut page = String::from(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>loadbot report</title>\n<style>\n\
         body { font-family: sans-serif; margin: 2em auto; max-width: 820px; color: #222; }\n\
         table { border-collapse: collapse; margin: 1em 0; }\n\
         th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }\n\
         th:first-child, td:first-child { text-align: left; }\n\
         .errors { color: #a00; }\n</style>\n</head>\n<body>\n",
    );
    let _ = writeln!(
        page,
        "<h1>loadbot report</h1>\n<section id=\"summary\">\n<h2>Summary</h2>\n<table>\n\
         <tr><th>bots</th><td>{}</td></tr>\n<tr><th>connected</th><td>{}</td></tr>\n\
         <tr><th>failed</th><td>{}</td></tr>\n<tr><th>dropped</th><td>{}</td></tr>\n\
         <tr><th>decode errors</th><td>{}</td></tr>\n<tr><th>snapshots decoded</th><td>{}</td></tr>\n\
         <tr><th>run time</th><td>{:.1} s</td></tr>\n\
         <tr><th>server tick p50 / p99</th><td>{} / {}</td></tr>\n\
         <tr><th>server CPU</th><td>{}</td></tr>\n<tr><th>loadbot CPU</th><td>{}</td></tr>\n\
         </table>\n</section>",
        report.bots,
        report.connected,
        report.failed,
        report.dropped,
        report.decode_errors,
        report.snapshots,
        report.duration_s,
        optional(report.server_tick_ms.p50, "ms"),
        optional(report.server_tick_ms.p99, "ms"),
        optional(report.server_cpu_pct, "% of a core"),
        optional(report.loadbot_cpu_pct, "% of a core"),
    );

    // Up to the largest behaviour's p99.9, so one slow outlier does not
    // squash the picture.
    let upto = report
        .behaviours
        .iter()
        .map(|row| row.histograms.rtt_ms.value_at(0.999))
        .fold(0.0f64, f64::max)
        .max(1.0)
        * 1.05;
    let lines: Vec<Line> = report
        .behaviours
        .iter()
        .filter(|row| row.histograms.rtt_ms.count() > 0)
        .map(|row| {
            (
                row.behaviour.name().to_string(),
                shares(&row.histograms.rtt_ms, upto),
            )
        })
        .collect();
    let _ = writeln!(
        page,
        "<section id=\"latency\">\n<h2>Input to acknowledgement round trip</h2>\n\
         <p>Share of round trips in each {:.2} ms bin, per behaviour (up to the p99.9).</p>\n{}\n\
         <table>\n<tr><th></th><th>p50 ms</th><th>p99 ms</th><th>p99.9 ms</th><th>max ms</th></tr>\n\
         <tr><td>round trip</td>{}</tr>\n<tr><td>snapshot interval</td>{}</tr>\n\
         <tr><td>snapshot jitter</td>{}</tr>\n</table>\n</section>",
        upto / BINS as f64,
        line_chart(
            "Round trip distribution",
            "round trip (ms)",
            "% of samples",
            &lines
        )?,
        percentile_cells(&report.rtt_ms),
        percentile_cells(&report.snapshot_interval_ms),
        percentile_cells(&report.snapshot_jitter_ms),
    );

    let rates = report.timeline.rates();
    let bytes: Vec<(f64, f64)> = rates
        .iter()
        .map(|&(t, bytes, _)| (t, bytes / 1e3))
        .collect();
    let snapshots: Vec<(f64, f64)> = rates.iter().map(|&(t, _, count)| (t, count)).collect();
    let _ = writeln!(
        page,
        "<section id=\"over-time\">\n<h2>Over time</h2>\n\
         <p>Every bot together, in buckets of {} s from the start of the run (ramp-up included).</p>\n{}\n{}\n</section>",
        report.timeline.bucket_seconds,
        line_chart(
            "Bytes received per second",
            "seconds since start",
            "kB/s",
            &[(String::new(), bytes)]
        )?,
        line_chart(
            "Snapshots decoded per second",
            "seconds since start",
            "snapshots/s",
            &[(String::new(), snapshots)]
        )?,
    );

    page += "<section id=\"behaviours\">\n<h2>Per behaviour</h2>\n<table>\n<tr><th>behaviour</th>\
             <th>bots</th><th>connected</th><th>failed</th><th>dropped</th><th>snapshots</th>\
             <th>rtt p50 ms</th><th>rtt p99 ms</th><th>rtt p99.9 ms</th><th>rtt max ms</th>\
             <th>B/s per bot p50</th><th>jitter p99 ms</th><th>largest view</th></tr>\n";
    for row in &report.behaviours {
        let _ = writeln!(
            page,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>{}<td>{:.0}</td><td>{:.2}</td><td>{}</td></tr>",
            row.behaviour.name(),
            row.bots,
            row.connected,
            row.failed,
            row.dropped,
            row.snapshots,
            percentile_cells(&row.rtt_ms),
            row.bytes_per_client_per_s.p50,
            row.snapshot_jitter_ms.p99,
            row.max_view
        );
    }
    page += "</table>\n</section>\n";
    if !report.errors.is_empty() {
        page += "<section id=\"errors\" class=\"errors\">\n<h2>Errors (first few)</h2>\n<ul>\n";
        for error in &report.errors {
            let _ = writeln!(page, "<li>{}</li>", escape(error));
        }
        page += "</ul>\n</section>\n";
    }
    page += "</body>\n</html>\n";
    Ok(page)
}
