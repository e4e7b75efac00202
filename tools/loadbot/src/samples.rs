//! Bounded stores for what bots measure: each quantity's distribution in an
//! HDR histogram (fixed memory however many samples, three significant
//! figures, mergeable across loadbot processes) and a per-second timeline
//! that halves its resolution rather than grow.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::report::Percentiles;

/// Significant figures a distribution keeps: values within 0.1%.
const SIGNIFICANT_FIGURES: u8 = 3;

/// Why stored samples could not be read back or merged.
#[derive(Debug, Error, PartialEq)]
#[non_exhaustive]
pub enum SampleError {
    /// Two distributions of different units or ranges.
    #[error("distributions of different scales cannot be merged ({0} vs {1} per unit)")]
    Scale(u64, u64),
    /// A bucket beyond the distribution's range, or bad bounds.
    #[error("a stored bucket or bound is out of range")]
    OutOfRange,
    /// Stored buckets that are not `value:count` pairs.
    #[error("stored buckets are not value:count pairs")]
    Malformed,
}

/// The distribution of one quantity, in fixed memory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredDistribution", into = "StoredDistribution")]
pub struct Distribution {
    histogram: Histogram<u64>,
    /// Stored integers per unit (1,000: microseconds for a distribution of
    /// milliseconds).
    per_unit: u64,
}

/// A distribution as JSON: its scale and its non-empty buckets, each as
/// `value:count` (the highest stored value the bucket holds, and how many),
/// separated by spaces: one line, however many buckets.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredDistribution {
    per_unit: u64,
    highest: u64,
    buckets: String,
}

impl StoredDistribution {
    fn pairs(&self) -> impl Iterator<Item = Result<(u64, u64), SampleError>> + '_ {
        self.buckets.split_ascii_whitespace().map(|pair| {
            let (value, count) = pair.split_once(':').ok_or(SampleError::Malformed)?;
            let value = value.parse().map_err(|_| SampleError::Malformed)?;
            let count = count.parse().map_err(|_| SampleError::Malformed)?;
            Ok((value, count))
        })
    }
}

impl From<Distribution> for StoredDistribution {
    fn from(distribution: Distribution) -> Self {
        let highest = distribution.histogram.high();
        // A bucket's top may lie past the highest value; the highest lies in
        // the same bucket.
        let buckets = distribution
            .histogram
            .iter_recorded()
            .map(|bucket| {
                let value = bucket.value_iterated_to().min(highest);
                format!("{value}:{}", bucket.count_at_value())
            })
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            per_unit: distribution.per_unit,
            highest: distribution.histogram.high(),
            buckets,
        }
    }
}

impl TryFrom<StoredDistribution> for Distribution {
    type Error = SampleError;

    fn try_from(stored: StoredDistribution) -> Result<Self, SampleError> {
        if stored.per_unit == 0 || stored.highest < 2 {
            return Err(SampleError::OutOfRange);
        }
        let mut histogram = Histogram::new_with_bounds(1, stored.highest, SIGNIFICANT_FIGURES)
            .map_err(|_| SampleError::OutOfRange)?;
        for pair in stored.pairs() {
            let (value, count) = pair?;
            if value > stored.highest {
                return Err(SampleError::OutOfRange);
            }
            histogram
                .record_n(value, count)
                .map_err(|_| SampleError::OutOfRange)?;
        }
        Ok(Self {
            histogram,
            per_unit: stored.per_unit,
        })
    }
}

impl Distribution {
    /// Milliseconds, kept in microseconds, up to an hour.
    pub fn milliseconds() -> Self {
        Self::with_scale(1_000, 3_600_000)
    }

    /// Metres, kept in millimetres, up to 100 km.
    pub fn metres() -> Self {
        Self::with_scale(1_000, 100_000)
    }

    /// Bytes per second, up to 10 GB/s.
    pub fn bytes_per_second() -> Self {
        Self::with_scale(1, 10_000_000_000)
    }

    fn with_scale(per_unit: u64, highest_units: u64) -> Self {
        // The bounds are constants above: 1 < highest, three figures.
        let histogram =
            Histogram::new_with_bounds(1, per_unit * highest_units, SIGNIFICANT_FIGURES)
                .expect("constant bounds are valid");
        Self {
            histogram,
            per_unit,
        }
    }

    /// Records one value (negative or not a number: as zero; beyond the
    /// range: as the highest).
    pub fn record(&mut self, value: f64) {
        let scaled = (value * self.per_unit as f64).round();
        let stored = if scaled.is_finite() && scaled > 0.0 {
            scaled as u64
        } else {
            0
        };
        self.histogram.saturating_record(stored);
    }

    /// Adds another distribution of the same quantity.
    pub fn merge(&mut self, other: &Self) -> Result<(), SampleError> {
        if self.per_unit != other.per_unit || self.histogram.high() != other.histogram.high() {
            return Err(SampleError::Scale(self.per_unit, other.per_unit));
        }
        self.histogram
            .add(&other.histogram)
            .map_err(|_| SampleError::OutOfRange)
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Counters the histogram holds: its memory, fixed at creation.
    pub fn counters(&self) -> usize {
        self.histogram.distinct_values()
    }

    /// The value at `quantile` (0..=1), in units.
    pub fn value_at(&self, quantile: f64) -> f64 {
        self.histogram.value_at_quantile(quantile) as f64 / self.per_unit as f64
    }

    /// p50, p99, p99.9 and the largest value.
    pub fn percentiles(&self) -> Percentiles {
        if self.histogram.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: self.value_at(0.5),
            p99: self.value_at(0.99),
            p999: self.value_at(0.999),
            max: self.histogram.max() as f64 / self.per_unit as f64,
            count: usize::try_from(self.histogram.len()).unwrap_or(usize::MAX),
        }
    }

    /// Counts in `bins` equal bins from zero to `upto` units (values above
    /// it in the last bin): for drawing the distribution.
    pub fn binned(&self, upto: f64, bins: usize) -> Vec<u64> {
        let mut counts = vec![0; bins.max(1)];
        let width = upto / counts.len() as f64;
        for bucket in self.histogram.iter_recorded() {
            let value = bucket.value_iterated_to() as f64 / self.per_unit as f64;
            let index = if width > 0.0 {
                ((value / width) as usize).min(counts.len() - 1)
            } else {
                0
            };
            counts[index] += bucket.count_at_value();
        }
        counts
    }
}

/// Every distribution one group of bots (one behaviour) measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Samples {
    /// Input → acknowledging snapshot, milliseconds.
    pub rtt_ms: Distribution,
    /// Time between consecutive snapshots, milliseconds.
    pub snapshot_interval_ms: Distribution,
    /// How far snapshot intervals stray from the server's tick interval, ms.
    pub snapshot_jitter_ms: Distribution,
    /// Bytes received per bot per second of its connection (one per bot).
    pub bytes_per_client_per_s: Distribution,
    /// How far a bot's own avatar moved between snapshots, metres.
    pub own_step_m: Distribution,
    /// From a lost connection to the welcome on the next, milliseconds.
    pub back_after_ms: Distribution,
    /// Between a bot's last place before a loss and its first after, metres.
    pub moved_across_reconnect_m: Distribution,
}

impl Default for Samples {
    fn default() -> Self {
        Self {
            rtt_ms: Distribution::milliseconds(),
            snapshot_interval_ms: Distribution::milliseconds(),
            snapshot_jitter_ms: Distribution::milliseconds(),
            bytes_per_client_per_s: Distribution::bytes_per_second(),
            own_step_m: Distribution::metres(),
            back_after_ms: Distribution::milliseconds(),
            moved_across_reconnect_m: Distribution::metres(),
        }
    }
}

impl Samples {
    /// Adds another group's samples.
    pub fn merge(&mut self, other: &Self) -> Result<(), SampleError> {
        self.rtt_ms.merge(&other.rtt_ms)?;
        self.snapshot_interval_ms
            .merge(&other.snapshot_interval_ms)?;
        self.snapshot_jitter_ms.merge(&other.snapshot_jitter_ms)?;
        self.bytes_per_client_per_s
            .merge(&other.bytes_per_client_per_s)?;
        self.own_step_m.merge(&other.own_step_m)?;
        self.back_after_ms.merge(&other.back_after_ms)?;
        self.moved_across_reconnect_m
            .merge(&other.moved_across_reconnect_m)
    }
}

/// The most buckets a timeline keeps; past them, neighbours are added up and
/// each bucket covers twice the time.
pub const TIMELINE_BUCKETS: usize = 720;

/// Bytes and snapshots received by the whole swarm over time, from the run's
/// start, in buckets of `bucket_seconds`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Seconds each bucket covers: 1, doubled each time the buckets run out.
    pub bucket_seconds: u64,
    /// Bytes received in each bucket.
    pub bytes: Vec<u64>,
    /// Snapshots decoded in each bucket.
    pub snapshots: Vec<u64>,
}

impl Default for Timeline {
    fn default() -> Self {
        Self {
            bucket_seconds: 1,
            bytes: Vec::new(),
            snapshots: Vec::new(),
        }
    }
}

impl Timeline {
    /// Adds what arrived at `second` since the run's start.
    pub fn record(&mut self, second: u64, bytes: u64, snapshots: u64) {
        let mut index = second / self.bucket_seconds.max(1);
        while index >= TIMELINE_BUCKETS as u64 {
            self.coarsen();
            index = second / self.bucket_seconds;
        }
        let index = index as usize;
        if self.bytes.len() <= index {
            self.bytes.resize(index + 1, 0);
            self.snapshots.resize(index + 1, 0);
        }
        self.bytes[index] = self.bytes[index].saturating_add(bytes);
        self.snapshots[index] = self.snapshots[index].saturating_add(snapshots);
    }

    /// Each bucket twice as long: neighbours added up.
    fn coarsen(&mut self) {
        let halve = |values: &mut Vec<u64>| {
            *values = values
                .chunks(2)
                .map(|pair| pair.iter().fold(0u64, |sum, &v| sum.saturating_add(v)))
                .collect();
        };
        halve(&mut self.bytes);
        halve(&mut self.snapshots);
        self.bucket_seconds = self.bucket_seconds.max(1) * 2;
    }

    /// Adds another run's timeline, both counted from their own starts.
    pub fn merge(&mut self, other: &Self) -> Result<(), SampleError> {
        let valid = |timeline: &Self| {
            timeline.bucket_seconds.is_power_of_two()
                && timeline.bytes.len() == timeline.snapshots.len()
                && timeline.bytes.len() <= TIMELINE_BUCKETS
        };
        if !valid(self) || !valid(other) {
            return Err(SampleError::OutOfRange);
        }
        let mut other = other.clone();
        while self.bucket_seconds < other.bucket_seconds {
            self.coarsen();
        }
        while other.bucket_seconds < self.bucket_seconds {
            other.coarsen();
        }
        for (index, (&bytes, &snapshots)) in other.bytes.iter().zip(&other.snapshots).enumerate() {
            self.record(index as u64 * self.bucket_seconds, bytes, snapshots);
        }
        Ok(())
    }

    /// Seconds from the start at each bucket's start, with bytes and
    /// snapshots per second over it.
    pub fn rates(&self) -> Vec<(f64, f64, f64)> {
        let seconds = self.bucket_seconds.max(1) as f64;
        self.bytes
            .iter()
            .zip(&self.snapshots)
            .enumerate()
            .map(|(index, (&bytes, &snapshots))| {
                (
                    index as f64 * seconds,
                    bytes as f64 / seconds,
                    snapshots as f64 / seconds,
                )
            })
            .collect()
    }
}

/// Where a bot records: its behaviour's samples and the swarm's timeline,
/// shared by the bots of a run (all on the client loop thread, so the locks
/// are never contended).
#[derive(Debug, Clone)]
pub struct Recorder {
    started: Instant,
    samples: Arc<Mutex<Samples>>,
    timeline: Arc<Mutex<Timeline>>,
}

impl Recorder {
    /// A recorder of its own, for a run that started at `started`.
    pub fn new(started: Instant) -> Self {
        Self::shared(started, Arc::default(), Arc::default())
    }

    /// Records into these shared stores.
    pub fn shared(
        started: Instant,
        samples: Arc<Mutex<Samples>>,
        timeline: Arc<Mutex<Timeline>>,
    ) -> Self {
        Self {
            started,
            samples,
            timeline,
        }
    }

    /// Records into the samples.
    pub fn samples(&self, record: impl FnOnce(&mut Samples)) {
        record(&mut self.samples.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// Counts bytes and snapshots that arrived at `now`.
    pub fn arrived(&self, now: Instant, bytes: u64, snapshots: u64) {
        let second = now.saturating_duration_since(self.started).as_secs();
        self.timeline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .record(second, bytes, snapshots);
    }

    /// A copy of the samples so far.
    pub fn samples_so_far(&self) -> Samples {
        self.samples
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// A copy of the timeline so far.
    pub fn timeline_so_far(&self) -> Timeline {
        self.timeline
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_a_tenth_of_a_percent() {
        let mut distribution = Distribution::milliseconds();
        for value in 1..=1000 {
            distribution.record(f64::from(value));
        }
        let p = distribution.percentiles();
        assert_eq!(p.count, 1000);
        for (got, want) in [
            (p.p50, 500.0),
            (p.p99, 990.0),
            (p.p999, 999.0),
            (p.max, 1000.0),
        ] {
            assert!((got - want).abs() <= want * 0.001, "{got} vs {want}");
        }
        assert_eq!(
            Distribution::milliseconds().percentiles(),
            Percentiles::default()
        );
    }

    #[test]
    fn merged_distributions_equal_one_fed_both_samples() {
        let (mut a, mut b, mut both) = (
            Distribution::milliseconds(),
            Distribution::milliseconds(),
            Distribution::milliseconds(),
        );
        for index in 0..5_000u32 {
            let value = f64::from(index % 97) * 1.7 + f64::from(index) / 100.0;
            if index % 3 == 0 {
                a.record(value);
            } else {
                b.record(value * 2.0);
            }
            both.record(if index % 3 == 0 { value } else { value * 2.0 });
        }
        a.merge(&b).unwrap();
        assert_eq!(a, both);
        assert_eq!(a.percentiles(), both.percentiles());
        assert!(a.merge(&Distribution::metres()).is_err(), "other range");
        assert!(matches!(
            a.merge(&Distribution::bytes_per_second()),
            Err(SampleError::Scale(1000, 1))
        ));
    }

    #[test]
    fn a_distribution_survives_json_exactly() {
        let mut samples = Samples::default();
        for index in 0..10_000u32 {
            samples.rtt_ms.record(f64::from(index) * 0.37);
            samples
                .bytes_per_client_per_s
                .record(f64::from(index) * 91.0);
        }
        let json = serde_json::to_string(&samples).unwrap();
        let back: Samples = serde_json::from_str(&json).unwrap();
        assert_eq!(back, samples);
        let mut top = Distribution::milliseconds();
        top.record(1e12);
        let json = serde_json::to_string(&top).unwrap();
        assert_eq!(serde_json::from_str::<Distribution>(&json).unwrap(), top);
        let bad = r#"{"per_unit":1000,"highest":3600000000,"buckets":"3600000001:1"}"#;
        assert!(serde_json::from_str::<Distribution>(bad).is_err());
        let bad = r#"{"per_unit":1000,"highest":3600000000,"buckets":"12:1 13"}"#;
        assert!(serde_json::from_str::<Distribution>(bad).is_err());
        let good = r#"{"per_unit":1000,"highest":3600000000,"buckets":"12:1 13:4"}"#;
        let good: Distribution = serde_json::from_str(good).unwrap();
        assert_eq!(good.count(), 5);
    }

    #[test]
    fn ten_million_samples_do_not_grow_a_distribution() {
        let mut distribution = Distribution::milliseconds();
        let counters = distribution.counters();
        for index in 0..10_000_000u64 {
            distribution.record((index % 250_000) as f64 * 0.013);
        }
        assert_eq!(distribution.count(), 10_000_000);
        assert_eq!(distribution.counters(), counters, "fixed memory");
        // An hour at three figures is about 23 thousand counters (184 KB).
        assert!(counters < 30_000, "{counters}");
        let stored = StoredDistribution::from(distribution.clone());
        assert!(stored.pairs().count() <= counters);
    }

    #[test]
    fn a_timeline_halves_its_resolution_instead_of_growing() {
        let mut timeline = Timeline::default();
        for second in 0..10 * 3_600u64 {
            timeline.record(second, 1_000, 20);
        }
        assert!(timeline.bytes.len() <= TIMELINE_BUCKETS);
        assert_eq!(timeline.bucket_seconds, 64);
        assert_eq!(timeline.bytes.iter().sum::<u64>(), 36_000 * 1_000);
        let rates = timeline.rates();
        assert_eq!(rates[3], (192.0, 1_000.0, 20.0));
    }

    #[test]
    fn timelines_of_different_lengths_merge_bucket_by_bucket() {
        let (mut short, mut long) = (Timeline::default(), Timeline::default());
        for second in 0..10 {
            short.record(second, 100, 1);
        }
        for second in 0..1_000 {
            long.record(second, 10, 2);
        }
        short.merge(&long).unwrap();
        assert_eq!(short.bucket_seconds, 2);
        assert_eq!(short.bytes[0], 2 * 100 + 2 * 10);
        assert_eq!(short.bytes[10], 2 * 10);
        assert_eq!(short.snapshots.iter().sum::<u64>(), 10 + 2_000);
    }
}
