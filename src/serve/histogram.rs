//! A Prometheus histogram: fixed upper bounds, a count per bucket, the sum
//! and the count of what was observed, rendered as `{name}_bucket{le=..}`
//! (cumulative, ending with `+Inf`), `{name}_sum` and `{name}_count`.

use std::fmt::Write;

/// Upper bounds of zone tick durations, seconds: 0.5 ms to 200 ms.
pub(crate) const TICK_SECONDS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075,
    0.1, 0.2,
];

/// Upper bounds from a handoff's freeze to the client's first snapshot from
/// the new zone, seconds: 10 ms to 5 s.
pub(crate) const CROSSING_SECONDS: &[f64] = &[
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0,
];

/// Upper bounds of the time a handoff keeps its player frozen, seconds
/// (a tick is 50 ms at 20 Hz): 50 ms to 5 s.
pub(crate) const FROZEN_SECONDS: &[f64] = &[0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0];

/// Upper bounds of HTTP request durations, seconds: 1 ms to 10 s.
pub(crate) const HTTP_SECONDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Observations counted into buckets by upper bound.
#[derive(Debug, Clone)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    /// Observations per bucket (not cumulative); one more than `bounds`,
    /// the last for those above every bound.
    counts: Vec<u64>,
    sum: f64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
        }
    }

    /// Counts one value; a negative one counts as zero, a NaN not at all.
    pub(crate) fn observe(&mut self, value: f64) {
        if value.is_nan() {
            return;
        }
        let value = value.max(0.0);
        let bucket = self.bounds.partition_point(|bound| *bound < value);
        self.counts[bucket] += 1;
        self.sum += value;
    }

    /// How many values were counted.
    pub(crate) fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The upper bounds, ascending (`+Inf` is implied after the last).
    pub(crate) fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// The cumulative count at each bound and then at `+Inf`, as
    /// `{name}_bucket` has them.
    pub(crate) fn cumulative(&self) -> Vec<u64> {
        self.counts
            .iter()
            .scan(0, |total, count| {
                *total += count;
                Some(*total)
            })
            .collect()
    }

    /// The sum of what was observed.
    pub(crate) fn sum(&self) -> f64 {
        self.sum
    }

    /// Writes `# HELP` and `# TYPE {name} histogram`, once per metric.
    pub(crate) fn header(out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    }

    /// Writes the samples, each with `labels` (`route="/health"`, or empty)
    /// before `le`.
    pub(crate) fn render(&self, out: &mut String, name: &str, labels: &str) {
        let separator = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count;
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count();
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {count}"
        );
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// A label value as the text format wants it: `\`, `"` and line feeds escaped.
pub(crate) fn label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match character {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            other => escaped.push(other),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_with_the_count() {
        let mut histogram = Histogram::new(&[0.5, 1.0]);
        for value in [0.25, 0.5, 0.75, 3.0, f64::NAN, -1.0] {
            histogram.observe(value);
        }
        let mut out = String::new();
        histogram.render(&mut out, "m", "");
        assert_eq!(
            out,
            "m_bucket{le=\"0.5\"} 3\nm_bucket{le=\"1\"} 4\nm_bucket{le=\"+Inf\"} 5\n\
             m_sum 4.5\nm_count 5\n"
        );
    }

    #[test]
    fn cumulative_counts_match_the_rendered_buckets() {
        let mut histogram = Histogram::new(&[0.5, 1.0]);
        for value in [0.25, 0.75, 0.75, 3.0] {
            histogram.observe(value);
        }
        assert_eq!(histogram.cumulative(), vec![1, 3, 4]);
        assert_eq!(histogram.bounds(), &[0.5, 1.0]);
        assert!((histogram.sum() - 4.75).abs() < 1e-12);
    }

    #[test]
    fn labels_come_before_le() {
        let mut histogram = Histogram::new(&[1.0]);
        histogram.observe(2.0);
        let mut out = String::new();
        histogram.render(&mut out, "m", "route=\"/a\"");
        assert!(out.contains("m_bucket{route=\"/a\",le=\"1\"} 0\n"), "{out}");
        assert!(
            out.contains("m_bucket{route=\"/a\",le=\"+Inf\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("m_count{route=\"/a\"} 1\n"), "{out}");
    }

    #[test]
    fn bounds_ascend() {
        for bounds in [TICK_SECONDS, CROSSING_SECONDS, FROZEN_SECONDS, HTTP_SECONDS] {
            assert!(
                bounds.windows(2).all(|pair| pair[0] < pair[1]),
                "{bounds:?}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
