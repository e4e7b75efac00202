//! The swarm's final report, as text and as JSON. The JSON keeps each
//! behaviour's histograms, so that the reports of loadbot processes that ran
//! side by side merge into the one report a single process would have made.

use serde::{Deserialize, Serialize};

use crate::bot::BehaviourKind;
use crate::rooms::RoomJoins;
use crate::samples::{SampleError, Samples, Timeline};
use crate::voice::VoiceFigures;

/// p50 / p99 / p99.9 of a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
    /// Samples.
    pub count: usize,
}

/// The server's tick over the measurement window, estimated from its
/// `meridian_tick_duration_seconds` histogram read at the window's start and end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerTick {
    /// p99 of the ticks in the window, milliseconds.
    pub p99: Option<f64>,
    /// Median of the same ticks.
    pub p50: Option<f64>,
}

/// What the bots of one behaviour measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BehaviourRow {
    /// The behaviour.
    pub behaviour: BehaviourKind,
    /// Bots asked for.
    pub bots: usize,
    /// Bots welcomed.
    pub connected: usize,
    /// Bots that never got in.
    pub failed: usize,
    /// Bots that lost the connection before the end.
    pub dropped: usize,
    /// Snapshots that did not decode.
    pub decode_errors: u64,
    /// Snapshots decoded.
    pub snapshots: u64,
    /// Chat lines received.
    pub chat_received: u64,
    /// Largest view.
    pub max_view: usize,
    /// Visible jumps of their own avatars.
    pub jumps: u64,
    /// Connections lost and joined again.
    pub reconnects: u64,
    /// Rooms that moved under a bot (a shard drained): joined again at once.
    #[serde(default)]
    pub moves: u64,
    /// The longest gap between two snapshots of one bot, milliseconds.
    #[serde(default)]
    pub largest_freeze_ms: f64,
    /// Input → acknowledging snapshot round trip, milliseconds.
    pub rtt_ms: Percentiles,
    /// How far snapshot arrivals stray from the tick interval, milliseconds.
    pub snapshot_jitter_ms: Percentiles,
    /// Bytes received per bot per second of its connection.
    pub bytes_per_client_per_s: Percentiles,
    /// The histograms behind the percentiles (for merging reports).
    pub histograms: Samples,
}

impl BehaviourRow {
    /// An empty row.
    pub fn new(behaviour: BehaviourKind) -> Self {
        Self {
            behaviour,
            bots: 0,
            connected: 0,
            failed: 0,
            dropped: 0,
            decode_errors: 0,
            snapshots: 0,
            chat_received: 0,
            max_view: 0,
            jumps: 0,
            reconnects: 0,
            moves: 0,
            largest_freeze_ms: 0.0,
            rtt_ms: Percentiles::default(),
            snapshot_jitter_ms: Percentiles::default(),
            bytes_per_client_per_s: Percentiles::default(),
            histograms: Samples::default(),
        }
    }

    /// Adds another run's row of the same behaviour.
    fn merge(&mut self, other: &Self) -> Result<(), SampleError> {
        self.bots += other.bots;
        self.connected += other.connected;
        self.failed += other.failed;
        self.dropped += other.dropped;
        self.decode_errors += other.decode_errors;
        self.snapshots += other.snapshots;
        self.chat_received += other.chat_received;
        self.max_view = self.max_view.max(other.max_view);
        self.jumps += other.jumps;
        self.reconnects += other.reconnects;
        self.moves += other.moves;
        self.largest_freeze_ms = self.largest_freeze_ms.max(other.largest_freeze_ms);
        self.histograms.merge(&other.histograms)
    }

    fn settle(&mut self) {
        self.rtt_ms = self.histograms.rtt_ms.percentiles();
        self.snapshot_jitter_ms = self.histograms.snapshot_jitter_ms.percentiles();
        self.bytes_per_client_per_s = self.histograms.bytes_per_client_per_s.percentiles();
    }
}

/// Everything a run measured. The keys are stable: scripts judge runs by them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Bots asked for.
    pub bots: usize,
    /// Bots welcomed by the server.
    pub connected: usize,
    /// Bots that never got in (HTTP, handshake, refusal).
    pub failed: usize,
    /// Sessions dropped: bots that got in and lost the connection before
    /// the end for good (with `--reconnect`, or after a move: not back in
    /// within 30 s, or not by the end of the run).
    pub dropped: usize,
    /// Snapshots that did not decode, over all bots.
    pub decode_errors: u64,
    /// Input → acknowledging snapshot round trip, milliseconds.
    pub rtt_ms: Percentiles,
    /// How far snapshot arrivals stray from the tick interval, milliseconds.
    pub snapshot_jitter_ms: Percentiles,
    /// Bytes received per bot per second of its connection.
    pub bytes_per_client_per_s: Percentiles,
    /// Snapshots decoded, over all bots.
    pub snapshots: u64,
    /// Chat lines received, over all bots.
    pub chat_received: u64,
    /// Largest view any bot saw.
    pub max_view: usize,
    /// How far a bot's own avatar moved between consecutive snapshots, metres.
    pub own_step_m: Percentiles,
    /// Steps longer than the bot's top speed allows in the server time between
    /// two snapshots (their ticks), plus 0.5 m: visible jumps.
    pub jumps: u64,
    /// Connections lost and joined again through another server.
    pub reconnects: u64,
    /// From a lost connection to the welcome on the next, milliseconds.
    pub back_after_ms: Percentiles,
    /// Rooms that moved under a bot (its shard drained, the server said
    /// `Moved`): each bot joined again at once and its session went on.
    #[serde(default)]
    pub moves: u64,
    /// The longest gap between two snapshots of one bot, across lost
    /// connections and moves, milliseconds: the largest freeze a player saw.
    #[serde(default)]
    pub largest_freeze_ms: f64,
    /// Between a bot's last place before a loss and its first after, metres.
    pub moved_across_reconnect_m: Percentiles,
    /// The server's tick, from its metrics.
    pub server_tick_ms: ServerTick,
    /// The servers' process CPU over the measurement window (after the
    /// ramp-up), percent of one core, summed over the servers; null if their
    /// metrics had no `process_cpu_seconds_total`.
    pub server_cpu_pct: Option<f64>,
    /// loadbot's own process CPU over the same window, percent of one core
    /// (Linux; null elsewhere).
    pub loadbot_cpu_pct: Option<f64>,
    /// The CPU of loadbot's client loop thread alone over the window (every
    /// bot's QUIC, snapshot decoding and behaviour), percent of one core.
    pub loadbot_loop_cpu_pct: Option<f64>,
    /// Seconds the run took, ramp-up included.
    pub duration_s: f64,
    /// Why bots failed or dropped, first few.
    pub errors: Vec<String>,
    /// Time between consecutive snapshots, milliseconds.
    #[serde(default)]
    pub snapshot_interval_ms: Percentiles,
    /// Each behaviour's figures and histograms.
    #[serde(default)]
    pub behaviours: Vec<BehaviourRow>,
    /// Bytes and snapshots over time, from the run's start.
    #[serde(default)]
    pub timeline: Timeline,
    /// The rooms the bots' first joins were seated in, and join → Welcome.
    #[serde(default)]
    pub joins: RoomJoins,
    /// Voice bots' figures; absent when no bot took part in voice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<VoiceFigures>,
}

/// The most error lines a report keeps.
const MAX_ERRORS: usize = 10;

impl Report {
    /// Sets the totals and every percentile from the behaviour rows.
    pub fn settle(&mut self) -> Result<(), SampleError> {
        let mut all = Samples::default();
        let (mut bots, mut connected, mut failed, mut dropped) = (0, 0, 0, 0);
        let (mut decode_errors, mut snapshots, mut chat, mut jumps) = (0, 0, 0, 0);
        let (mut reconnects, mut max_view, mut moves, mut freeze) = (0, 0, 0, 0.0f64);
        for row in &mut self.behaviours {
            row.settle();
            all.merge(&row.histograms)?;
            bots += row.bots;
            connected += row.connected;
            failed += row.failed;
            dropped += row.dropped;
            decode_errors += row.decode_errors;
            snapshots += row.snapshots;
            chat += row.chat_received;
            jumps += row.jumps;
            reconnects += row.reconnects;
            moves += row.moves;
            freeze = freeze.max(row.largest_freeze_ms);
            max_view = max_view.max(row.max_view);
        }
        (self.bots, self.connected, self.failed, self.dropped) = (bots, connected, failed, dropped);
        (self.decode_errors, self.snapshots, self.chat_received) = (decode_errors, snapshots, chat);
        (self.jumps, self.reconnects, self.max_view) = (jumps, reconnects, max_view);
        (self.moves, self.largest_freeze_ms) = (moves, freeze);
        self.rtt_ms = all.rtt_ms.percentiles();
        self.snapshot_interval_ms = all.snapshot_interval_ms.percentiles();
        self.snapshot_jitter_ms = all.snapshot_jitter_ms.percentiles();
        self.bytes_per_client_per_s = all.bytes_per_client_per_s.percentiles();
        self.own_step_m = all.own_step_m.percentiles();
        self.back_after_ms = all.back_after_ms.percentiles();
        self.moved_across_reconnect_m = all.moved_across_reconnect_m.percentiles();
        self.joins.settle();
        Ok(())
    }

    /// Adds the report of a loadbot that ran beside this one: counts add up,
    /// percentiles come from the merged histograms, the timelines add up
    /// second by second from each run's start. Both loadbots measured the
    /// same servers: their tick and CPU are the larger of the two; loadbot's
    /// own CPU adds up.
    pub fn merge(&mut self, other: &Self) -> Result<(), SampleError> {
        for row in &other.behaviours {
            match self
                .behaviours
                .iter_mut()
                .find(|mine| mine.behaviour == row.behaviour)
            {
                Some(mine) => mine.merge(row)?,
                None => self.behaviours.push(row.clone()),
            }
        }
        self.timeline.merge(&other.timeline)?;
        self.joins.merge(&other.joins)?;
        let larger = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let sum = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        self.server_tick_ms.p50 = larger(self.server_tick_ms.p50, other.server_tick_ms.p50);
        self.server_tick_ms.p99 = larger(self.server_tick_ms.p99, other.server_tick_ms.p99);
        self.server_cpu_pct = larger(self.server_cpu_pct, other.server_cpu_pct);
        self.loadbot_cpu_pct = sum(self.loadbot_cpu_pct, other.loadbot_cpu_pct);
        self.loadbot_loop_cpu_pct = sum(self.loadbot_loop_cpu_pct, other.loadbot_loop_cpu_pct);
        self.duration_s = self.duration_s.max(other.duration_s);
        match (&mut self.voice, &other.voice) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine @ None, Some(theirs)) => *mine = Some(theirs.clone()),
            _ => {}
        }
        for error in &other.errors {
            if self.errors.len() < MAX_ERRORS {
                self.errors.push(error.clone());
            }
        }
        self.settle()
    }

    /// Keeps an error line, the first few only.
    pub fn note_error(&mut self, error: String) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(error);
        }
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let line = |name: &str, p: &Percentiles, unit: &str| {
            format!(
                "{name:<26} p50 {:>8.2}  p99 {:>8.2}  p99.9 {:>8.2}  max {:>8.2} {unit} ({} samples)\n",
                p.p50, p.p99, p.p999, p.max, p.count
            )
        };
        let mut out = format!(
            "loadbot: {} bots, {} connected, {} failed, {} dropped, {} decode errors, {:.1} s\n",
            self.bots,
            self.connected,
            self.failed,
            self.dropped,
            self.decode_errors,
            self.duration_s
        );
        out += &line("input -> ack round trip", &self.rtt_ms, "ms");
        out += &line("snapshot interval jitter", &self.snapshot_jitter_ms, "ms");
        out += &line(
            "bytes per client per s",
            &self.bytes_per_client_per_s,
            "B/s",
        );
        out += &format!(
            "snapshots decoded          {}\nchat lines received        {}\nlargest view               {} entities\n",
            self.snapshots, self.chat_received, self.max_view
        );
        out += &line("own step per snapshot", &self.own_step_m, "m");
        out += &format!("jumps (beyond top speed)   {}\n", self.jumps);
        out += &format!(
            "largest freeze             {:.1} ms (longest gap between two snapshots of one bot)\n",
            self.largest_freeze_ms
        );
        if self.moves > 0 {
            out += &format!(
                "rooms moved (drains)       {} (joined again at once; sessions dropped: {})\n",
                self.moves, self.dropped
            );
        }
        if self.reconnects > 0 {
            out += &format!("reconnects                 {}\n", self.reconnects);
            out += &line("back after reconnecting", &self.back_after_ms, "ms");
            out += &line(
                "moved across a reconnect",
                &self.moved_across_reconnect_m,
                "m",
            );
        }
        out += &self.joins.to_text();
        if let Some(voice) = &self.voice {
            out += &voice.to_text();
        }
        match (self.server_tick_ms.p50, self.server_tick_ms.p99) {
            (Some(p50), Some(p99)) => {
                out += &format!("server tick (last minute)  p50 {p50:>8.2}  p99 {p99:>8.2} ms\n");
            }
            _ => out += "server tick                not available (metrics unreachable)\n",
        }
        match self.server_cpu_pct {
            Some(percent) => {
                out += &format!("server CPU (window)        {percent:>8.1} % of one core\n");
            }
            None => out += "server CPU                 not available (no process metrics)\n",
        }
        if let Some(percent) = self.loadbot_cpu_pct {
            out += &format!("loadbot CPU (window)       {percent:>8.1} % of one core");
            match self.loadbot_loop_cpu_pct {
                Some(thread) => out += &format!(", client loop thread {thread:.1} %\n"),
                None => out += "\n",
            }
        }
        if !self.behaviours.is_empty() {
            out += &format!(
                "{:<14} {:>6} {:>9} {:>6} {:>7} {:>10} {:>9} {:>9} {:>10}\n",
                "behaviour",
                "bots",
                "connected",
                "failed",
                "dropped",
                "snapshots",
                "rtt p50",
                "rtt p99",
                "B/s p50"
            );
            for row in &self.behaviours {
                out += &format!(
                    "{:<14} {:>6} {:>9} {:>6} {:>7} {:>10} {:>6.1} ms {:>6.1} ms {:>10.0}\n",
                    row.behaviour.name(),
                    row.bots,
                    row.connected,
                    row.failed,
                    row.dropped,
                    row.snapshots,
                    row.rtt_ms.p50,
                    row.rtt_ms.p99,
                    row.bytes_per_client_per_s.p50
                );
            }
        }
        for error in &self.errors {
            out += &format!("  error: {error}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report made by the report code from these bots' round trips and
    /// byte rates, per behaviour, and their snapshot arrivals (second, bytes).
    fn report_of(bots: &[(BehaviourKind, Vec<f64>, f64)], arrivals: &[(u64, u64)]) -> Report {
        let mut report = Report::default();
        for (kind, rtts, rate) in bots {
            if !report.behaviours.iter().any(|row| row.behaviour == *kind) {
                report.behaviours.push(BehaviourRow::new(*kind));
            }
            let row = report
                .behaviours
                .iter_mut()
                .find(|row| row.behaviour == *kind)
                .unwrap();
            row.bots += 1;
            row.connected += 1;
            row.snapshots += rtts.len() as u64;
            row.max_view = row.max_view.max(rtts.len());
            for &rtt in rtts {
                row.histograms.rtt_ms.record(rtt);
            }
            row.histograms.bytes_per_client_per_s.record(*rate);
        }
        for &(second, bytes) in arrivals {
            report.timeline.record(second, bytes, 1);
        }
        report.settle().unwrap();
        report
    }

    #[test]
    fn merged_reports_equal_the_report_of_both_swarms() {
        let bot = |kind, seed: u32, rate| {
            let rtts = (0..200)
                .map(|i| f64::from((i * 7 + seed * 13) % 90) + 0.25)
                .collect();
            (kind, rtts, rate)
        };
        let first = [
            bot(BehaviourKind::RandomWalk, 1, 9_000.0),
            bot(BehaviourKind::Idle, 2, 4_000.0),
        ];
        let second = [
            bot(BehaviourKind::RandomWalk, 3, 11_000.0),
            bot(BehaviourKind::Chat, 4, 7_500.0),
        ];
        let arrivals_a: Vec<(u64, u64)> = (0..30).map(|s| (s, 1_000)).collect();
        let arrivals_b: Vec<(u64, u64)> = (5..50).map(|s| (s, 500)).collect();
        let mut merged = report_of(&first, &arrivals_a);
        merged.loadbot_cpu_pct = Some(20.0);
        let mut other = report_of(&second, &arrivals_b);
        other.loadbot_cpu_pct = Some(30.0);
        // Through JSON, as `loadbot merge` reads them.
        let other: Report = serde_json::from_str(&serde_json::to_string(&other).unwrap()).unwrap();
        merged.merge(&other).unwrap();

        let both: Vec<_> = first.iter().chain(&second).cloned().collect();
        let arrivals: Vec<(u64, u64)> = arrivals_a.iter().chain(&arrivals_b).copied().collect();
        let mut whole = report_of(&both, &arrivals);
        whole.loadbot_cpu_pct = Some(50.0);
        assert_eq!(merged.rtt_ms, whole.rtt_ms);
        assert_eq!(merged.bytes_per_client_per_s, whole.bytes_per_client_per_s);
        assert_eq!(
            (merged.bots, merged.connected, merged.snapshots),
            (4, 4, 800)
        );
        assert_eq!(merged.timeline, whole.timeline);
        // Rows in order of first appearance in both.
        assert_eq!(merged, whole);
        assert_eq!(merged.behaviours.len(), 3);
        assert_eq!(merged.behaviours[0].bots, 2);
    }

    #[test]
    fn the_html_page_has_its_sections_and_loads_nothing() {
        let report = report_of(
            &[(BehaviourKind::Flock, vec![12.0, 15.5, 30.0], 8_000.0)],
            &[(0, 4_000), (1, 5_000)],
        );
        let mut report = report;
        report.errors.push("dropped: <Idle> & gone".into());
        let page = crate::html::to_html(&report).unwrap();
        for section in ["summary", "latency", "over-time", "behaviours", "errors"] {
            assert!(
                page.contains(&format!("<section id=\"{section}\"")),
                "{section}"
            );
        }
        assert_eq!(page.matches("<svg").count(), 3, "three inline charts");
        assert!(page.contains("Round trip distribution"));
        assert!(page.contains("Bytes received per second"));
        assert!(page.contains("Snapshots decoded per second"));
        assert!(page.contains("<td>flock</td>"));
        assert!(page.contains("&lt;Idle&gt; &amp; gone"), "escaped");
        for outside in ["src=", "href=", "<script", "@import", "url("] {
            assert!(!page.contains(outside), "{outside}");
        }
    }

    #[test]
    fn the_json_has_the_keys_scripts_read() {
        let json = serde_json::to_value(Report::default()).expect("serializes");
        for key in [
            "bots",
            "connected",
            "failed",
            "dropped",
            "decode_errors",
            "rtt_ms",
            "bytes_per_client_per_s",
            "server_tick_ms",
            "server_cpu_pct",
            "loadbot_cpu_pct",
            "loadbot_loop_cpu_pct",
            "joins",
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert!(json["rtt_ms"].get("p999").is_some());
        assert!(json["server_tick_ms"].get("p99").is_some());
        for key in [
            "rooms",
            "starting_join_to_welcome_ms",
            "running_join_to_welcome_ms",
        ] {
            assert!(json["joins"].get(key).is_some(), "joins.{key}");
        }
    }
}
