//! The swarm's final report, as text and as JSON.

use serde::Serialize;

/// p50 / p99 / p99.9 of a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
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

impl Percentiles {
    /// Nearest-rank percentiles of `values` (sorted here).
    pub fn of(values: &mut [f64]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_by(f64::total_cmp);
        let at = |quantile: f64| {
            let rank = ((values.len() as f64) * quantile).ceil() as usize;
            values[rank.clamp(1, values.len()) - 1]
        };
        Self {
            p50: at(0.5),
            p99: at(0.99),
            p999: at(0.999),
            max: values[values.len() - 1],
            count: values.len(),
        }
    }
}

/// The server's tick, read from its metrics at the end of the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ServerTick {
    /// p99 over the server's last minute of ticks, milliseconds.
    pub p99: Option<f64>,
    /// Median over the same window.
    pub p50: Option<f64>,
}

/// Everything a run measured. The keys are stable: scripts judge runs by them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// Bots asked for.
    pub bots: usize,
    /// Bots welcomed by the server.
    pub connected: usize,
    /// Bots that never got in (HTTP, handshake, refusal).
    pub failed: usize,
    /// Bots that got in and lost the connection before the end.
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
}

impl Report {
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
        if self.reconnects > 0 {
            out += &format!("reconnects                 {}\n", self.reconnects);
            out += &line("back after reconnecting", &self.back_after_ms, "ms");
            out += &line(
                "moved across a reconnect",
                &self.moved_across_reconnect_m,
                "m",
            );
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
        for error in &self.errors {
            out += &format!("  error: {error}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut values: Vec<f64> = (1..=1000).map(f64::from).collect();
        let p = Percentiles::of(&mut values);
        assert_eq!((p.p50, p.p99, p.p999, p.max), (500.0, 990.0, 999.0, 1000.0));
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
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
        ] {
            assert!(json.get(key).is_some(), "{key}");
        }
        assert!(json["rtt_ms"].get("p999").is_some());
        assert!(json["server_tick_ms"].get("p99").is_some());
    }
}
