//! What the metrics endpoint shows: the zone thread's counters, copied once per
//! tick, plus tick durations, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use meridian_netcode::NetcodeMetrics;
use meridian_netcode::driver::server::DriverCounters;
use meridian_netcode::metrics::{
    DISCONNECT_REASONS, REFUSAL_REASONS, disconnect_label, refusal_label,
};
use meridian_protocol::messages::InventoryStatus;
use meridian_sim::RejectReason;

use super::histogram::{self, Histogram};

/// Shared between the zone thread (writer) and the HTTP handlers (readers).
#[derive(Debug, Default)]
pub(crate) struct LiveMetrics {
    pub(crate) netcode: NetcodeMetrics,
    pub(crate) rejections: Vec<(RejectReason, u64)>,
    pub(crate) avatars: usize,
    pub(crate) tick: u64,
    /// When the zone thread last finished a tick (none before its first).
    pub(crate) last_tick_at: Option<std::time::Instant>,
    durations: Durations,
    overruns: u64,
    pub(crate) outbox_full_drops: u64,
    /// Chat lines neither stored nor heard (queue full or the database failed).
    pub(crate) chat_unstored: u64,
    /// Chat lines dropped because their speaker was muted.
    pub(crate) chat_muted: u64,
    /// Chat deliveries skipped because listener and speaker blocked each other.
    pub(crate) chat_hidden_by_blocks: u64,
    /// Inventory answers sent, by status (in `InventoryStatus` order).
    pub(crate) inventory_results: [u64; INVENTORY_STATUSES.len()],
    /// Inventory changes the zone answered `Busy` itself (past the in-flight limit).
    pub(crate) inventory_busy_here: u64,
    /// Inventory changes the zone refused itself: the game's rules do not
    /// let a client ask for them (items granted by asking).
    pub(crate) inventory_not_allowed_here: u64,
    /// Checkpoint rows replaced by a newer row of the same character before
    /// they were written (the database was slower than the checkpoints).
    pub(crate) checkpoint_rows_coalesced: u64,
    /// Checkpoint rows waiting for the database now (at most one per character).
    pub(crate) checkpoint_rows_pending: u64,
    /// Spawn hints dropped unused: expired, or the oldest when the store was full.
    pub(crate) spawn_hints_dropped: u64,
    /// API requests refused by a quota.
    pub(crate) quota_refusals: crate::http::quotas::QuotaRefusals,
    /// Players handed from one zone to another.
    pub(crate) handoffs: u64,
    /// Elements blocking movement in the zones.
    pub(crate) static_elements: usize,
    /// Zones this process simulates now.
    pub(crate) zones_held: usize,
    /// The other spaces' running instances.
    pub(crate) instances: Vec<super::instances::InstanceFigures>,
    /// Instances started and stopped since the process started.
    pub(crate) instances_started: u64,
    pub(crate) instances_stopped: u64,
    /// Joins refused because `[serve] max_instances` instances ran.
    pub(crate) instance_starts_refused: u64,
    /// Joins refused because their account started too many instances lately.
    pub(crate) instance_starts_refused_by_account: u64,
    /// The shard link's counts: messages, refused handshakes, ignored
    /// Redis entries.
    pub(crate) link: super::cluster::link::LinkTotals,
    /// The event loop's figures, when `[serve] transport = "event-loop"`.
    pub(crate) event_loop: Option<EventLoopFigures>,
    /// The zones, their avatars and views and where the avatars stand,
    /// sampled once a second (set up before the zone thread starts).
    pub(crate) world: Option<super::world_view::WorldView>,
    /// The voice port's figures, when voice is on.
    pub(crate) voice: Option<super::voice::VoiceFigures>,
}

/// What the event loop reports, copied by the zone thread each tick.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct EventLoopFigures {
    pub(crate) stats: meridian_netcode::transport::LoopStats,
    /// Inbound datagrams dropped because the zone did not drain its batch.
    pub(crate) inbound_dropped: u64,
}

/// Every inventory status with its metric label.
pub(crate) const INVENTORY_STATUSES: [(InventoryStatus, &str); 7] = [
    (InventoryStatus::Applied, "applied"),
    (InventoryStatus::UnknownItem, "unknown_item"),
    (InventoryStatus::NotEnough, "not_enough"),
    (InventoryStatus::StackFull, "stack_full"),
    (InventoryStatus::Busy, "busy"),
    (InventoryStatus::Unavailable, "unavailable"),
    (InventoryStatus::NotAllowed, "not_allowed"),
];

/// The durations `/metrics` shows as histograms.
#[derive(Debug)]
struct Durations {
    ticks: Histogram,
    /// Each instance's ticks on the simulation threads, seconds.
    instance_ticks: Histogram,
    /// How long each handoff kept its player frozen, seconds.
    frozen: Histogram,
    /// From each handoff's freeze to the first snapshot its client got from
    /// the new zone (those this gateway saw), seconds.
    crossings: Histogram,
}

impl Default for Durations {
    fn default() -> Self {
        Self {
            ticks: Histogram::new(histogram::TICK_SECONDS),
            instance_ticks: Histogram::new(histogram::TICK_SECONDS),
            frozen: Histogram::new(histogram::FROZEN_SECONDS),
            crossings: Histogram::new(histogram::CROSSING_SECONDS),
        }
    }
}

impl LiveMetrics {
    /// Nothing counted yet; the zone thread samples `world` once a second.
    pub(crate) fn with_world(world: super::world_view::WorldView) -> Self {
        Self {
            world: Some(world),
            ..Self::default()
        }
    }

    /// Records one instance's tick duration, seconds.
    pub(crate) fn record_instance_tick(&mut self, seconds: f64) {
        self.durations.instance_ticks.observe(seconds);
    }

    /// Records one tick's duration, seconds; `budget` is the tick interval.
    pub(crate) fn record_tick(&mut self, seconds: f64, budget: f64) {
        self.durations.ticks.observe(seconds);
        self.last_tick_at = Some(std::time::Instant::now());
        if seconds > budget {
            self.overruns += 1;
        }
    }

    /// Records how long a handoff kept its player frozen, seconds.
    pub(crate) fn record_frozen(&mut self, seconds: f64) {
        self.durations.frozen.observe(seconds);
    }

    /// Records one crossing's freeze-to-first-snapshot time, milliseconds.
    pub(crate) fn record_crossing(&mut self, milliseconds: u64) {
        self.durations
            .crossings
            .observe(milliseconds as f64 / 1_000.0);
    }

    /// Zone tick durations, seconds.
    pub(crate) fn tick_durations(&self) -> &Histogram {
        &self.durations.ticks
    }

    /// How long handoffs kept their players frozen, seconds.
    pub(crate) fn frozen_durations(&self) -> &Histogram {
        &self.durations.frozen
    }

    /// Ticks that took longer than the tick interval.
    pub(crate) fn overruns(&self) -> u64 {
        self.overruns
    }

    /// The Prometheus text exposition.
    pub(crate) fn render(&self, driver: &DriverCounters) -> String {
        let mut out = String::new();
        let n = &self.netcode;
        let mut counter = |name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        counter(
            "meridian_connections_opened_total",
            "Connections the transport accepted.",
            n.connections_opened,
        );
        counter(
            "meridian_bytes_in_total",
            "Bytes received from clients (datagrams and stream).",
            n.bytes_in,
        );
        counter(
            "meridian_bytes_out_total",
            "Bytes queued for clients (datagrams and stream).",
            n.bytes_out,
        );
        counter(
            "meridian_snapshots_sent_total",
            "Snapshots sent.",
            n.snapshots_sent,
        );
        counter(
            "meridian_snapshots_skipped_stale_total",
            "Snapshots skipped: no newer than the last one sent to that client (a handoff between zones a tick apart).",
            n.stale_snapshots_skipped,
        );
        counter(
            "meridian_keyframes_sent_total",
            "Snapshots sent without a baseline.",
            n.keyframes_sent,
        );
        counter(
            "meridian_snapshot_changes_sent_total",
            "Entity changes written into snapshots.",
            n.changes_sent,
        );
        counter(
            "meridian_snapshot_changes_deferred_total",
            "Entity changes that did not fit a client's byte budget and waited.",
            n.changes_deferred_by_budget,
        );
        counter(
            "meridian_malformed_datagrams_total",
            "Datagrams from clients that did not decode.",
            n.malformed_datagrams,
        );
        counter(
            "meridian_malformed_stream_messages_total",
            "Stream messages from clients that did not decode or came out of order.",
            n.malformed_stream_messages,
        );
        counter(
            "meridian_bad_acks_total",
            "Acknowledgements of ticks never sent or no longer held.",
            n.bad_acks,
        );
        counter(
            "meridian_chat_rate_limited_total",
            "Chat lines dropped by the rate limit.",
            n.chat_rate_limited,
        );
        counter(
            "meridian_chat_unstored_total",
            "Chat lines dropped because they could not be stored (so nobody heard them).",
            self.chat_unstored,
        );
        counter(
            "meridian_chat_muted_total",
            "Chat lines dropped because a moderator muted their speaker.",
            self.chat_muted,
        );
        counter(
            "meridian_chat_hidden_by_blocks_total",
            "Chat deliveries skipped because the listener and the speaker blocked each other.",
            self.chat_hidden_by_blocks,
        );
        counter(
            "meridian_checkpoint_rows_coalesced_total",
            "Checkpoint rows replaced by a newer row of the same character before the database took them.",
            self.checkpoint_rows_coalesced,
        );
        counter(
            "meridian_spawn_hints_dropped_total",
            "Saved places of joins whose player never connected, dropped when they expired or the store was full.",
            self.spawn_hints_dropped,
        );
        counter(
            "meridian_handoffs_total",
            "Players handed from one zone to another (committed in the ledger).",
            self.handoffs,
        );
        counter(
            "meridian_transport_losses_total",
            "Connections lost without a goodbye.",
            n.transport_losses,
        );
        counter(
            "meridian_handshake_failures_total",
            "QUIC handshakes that failed.",
            driver.handshake_failures.load(Ordering::Relaxed),
        );
        counter(
            "meridian_quic_retries_total",
            "QUIC Retries sent to validate new connections' addresses (many connections were pending).",
            driver.quic_retries.load(Ordering::Relaxed),
        );
        counter("meridian_ticks_total", "Zone ticks run.", self.tick);
        counter(
            "meridian_tick_overruns_total",
            "Ticks that took longer than the tick interval.",
            self.overruns,
        );
        let histograms = [
            (
                "meridian_handoff_frozen_seconds",
                "How long a handoff kept its player frozen (whole ticks).",
                &self.durations.frozen,
            ),
            (
                "meridian_crossing_to_snapshot_seconds",
                "From a handoff's freeze to the client's first snapshot from the new zone (handoffs of clients on this gateway).",
                &self.durations.crossings,
            ),
            (
                "meridian_tick_duration_seconds",
                "Zone tick duration.",
                &self.durations.ticks,
            ),
            (
                "meridian_instance_tick_duration_seconds",
                "Tick duration of each instance of another space, on its simulation thread.",
                &self.durations.instance_ticks,
            ),
        ];
        for (name, help, histogram) in histograms {
            Histogram::header(&mut out, name, help);
            histogram.render(&mut out, name, "");
        }
        let _ = writeln!(
            out,
            "# HELP meridian_datagrams_dropped_total Datagrams dropped, by cause.\n# TYPE meridian_datagrams_dropped_total counter"
        );
        let dropped = [
            ("rate_limit", n.datagrams_rate_limited),
            ("outbox_full", self.outbox_full_drops + n.datagrams_dropped),
            (
                "inbound_full",
                driver.inbound_dropped.load(Ordering::Relaxed)
                    + self.event_loop.map_or(0, |figures| figures.inbound_dropped),
            ),
            (
                "send_failed",
                driver.datagram_send_failures.load(Ordering::Relaxed),
            ),
        ];
        for (cause, value) in dropped {
            let _ = writeln!(
                out,
                "meridian_datagrams_dropped_total{{cause=\"{cause}\"}} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_connections_refused_total New connections (QUIC or WebSocket) refused before their hello, by the cap they met.\n# TYPE meridian_connections_refused_total counter"
        );
        let refused = [
            (
                "too_many_pending",
                driver.refused_too_many_pending.load(Ordering::Relaxed),
            ),
            (
                "too_many_from_address",
                driver.refused_too_many_from_address.load(Ordering::Relaxed),
            ),
        ];
        for (cap, value) in refused {
            let _ = writeln!(
                out,
                "meridian_connections_refused_total{{cap=\"{cap}\"}} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_pending_connections Connections open whose hello is not verified yet.\n# TYPE meridian_pending_connections gauge\nmeridian_pending_connections {}",
            driver.pending_connections.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP meridian_checkpoint_rows_pending Checkpoint rows waiting for the database (at most one per character).\n# TYPE meridian_checkpoint_rows_pending gauge\nmeridian_checkpoint_rows_pending {}",
            self.checkpoint_rows_pending
        );
        let _ = writeln!(
            out,
            "# HELP meridian_quota_refusals_total API requests refused by a quota, by quota.\n# TYPE meridian_quota_refusals_total counter"
        );
        let quotas = [
            ("spaces_per_user", self.quota_refusals.spaces),
            ("elements_per_space", self.quota_refusals.elements),
        ];
        for (quota, value) in quotas {
            let _ = writeln!(
                out,
                "meridian_quota_refusals_total{{quota=\"{quota}\"}} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_inventory_changes_total Inventory changes answered, by status.\n# TYPE meridian_inventory_changes_total counter"
        );
        for ((status, label), mut value) in INVENTORY_STATUSES.iter().zip(self.inventory_results) {
            if *status == InventoryStatus::Busy {
                value += self.inventory_busy_here;
            }
            if *status == InventoryStatus::NotAllowed {
                value += self.inventory_not_allowed_here;
            }
            let _ = writeln!(
                out,
                "meridian_inventory_changes_total{{status=\"{label}\"}} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_refusals_total Hellos refused, by reason.\n# TYPE meridian_refusals_total counter"
        );
        for (reason, value) in REFUSAL_REASONS.iter().zip(n.refusals) {
            let _ = writeln!(
                out,
                "meridian_refusals_total{{reason=\"{}\"}} {value}",
                refusal_label(*reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_disconnects_total Connections ended, by reason.\n# TYPE meridian_disconnects_total counter"
        );
        for (reason, value) in DISCONNECT_REASONS.iter().zip(n.disconnects) {
            let _ = writeln!(
                out,
                "meridian_disconnects_total{{reason=\"{}\"}} {value}",
                disconnect_label(*reason)
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_rejected_inputs_total Inputs the zone rejected, by reason.\n# TYPE meridian_rejected_inputs_total counter"
        );
        // Every reason, at 0 until the zone first rejects an input for it.
        for reason in RejectReason::ALL {
            let value = self
                .rejections
                .iter()
                .filter(|(rejected, _)| *rejected == reason)
                .map(|(_, count)| count)
                .sum::<u64>();
            let _ = writeln!(
                out,
                "meridian_rejected_inputs_total{{reason=\"{}\"}} {value}",
                reason.name()
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_connected_clients Clients admitted now.\n# TYPE meridian_connected_clients gauge\nmeridian_connected_clients {}",
            n.clients_connected
        );
        let _ = writeln!(
            out,
            "# HELP meridian_avatars Avatars in the zone.\n# TYPE meridian_avatars gauge\nmeridian_avatars {}",
            self.avatars
        );
        let _ = writeln!(
            out,
            "# HELP meridian_link_messages_total Messages on the link between shards.\n# TYPE meridian_link_messages_total counter"
        );
        let link = &self.link;
        for (label, count) in [
            ("sent", link.sent),
            ("received", link.received),
            ("dropped", link.dropped),
            ("refused", link.refused),
        ] {
            let _ = writeln!(
                out,
                "meridian_link_messages_total{{outcome=\"{label}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_link_handshakes_refused_total Shard link connections refused in the handshake (wrong proof, broken or late, too many at once).\n# TYPE meridian_link_handshakes_refused_total counter\nmeridian_link_handshakes_refused_total {}",
            link.handshakes_refused
        );
        let _ = writeln!(
            out,
            "# HELP meridian_link_entries_ignored_total Shard entries in Redis ignored (unsigned, badly signed or stale).\n# TYPE meridian_link_entries_ignored_total counter"
        );
        for (reason, count) in [
            ("unsigned", link.entries_unsigned),
            ("bad_signature", link.entries_badly_signed),
            ("stale", link.entries_stale),
        ] {
            let _ = writeln!(
                out,
                "meridian_link_entries_ignored_total{{reason=\"{reason}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP meridian_redis_errors_total Redis operations that failed (Redis down, unreachable or erring; a shard only).\n# TYPE meridian_redis_errors_total counter\nmeridian_redis_errors_total {}\n# HELP meridian_redis_reconnects_total Times the connection to Redis was lost and made again.\n# TYPE meridian_redis_reconnects_total counter\nmeridian_redis_reconnects_total {}",
            link.redis_errors, link.redis_reconnects
        );
        let _ = writeln!(
            out,
            "# HELP meridian_zones_held Zones this process simulates now.\n# TYPE meridian_zones_held gauge\nmeridian_zones_held {}",
            self.zones_held
        );
        let _ = writeln!(
            out,
            "# HELP meridian_static_elements Placed elements that block movement.\n# TYPE meridian_static_elements gauge\nmeridian_static_elements {}",
            self.static_elements
        );
        render_instances(&mut out, self);
        if let Some(world) = &self.world {
            render_world(&mut out, world);
        }
        if let Some(figures) = &self.event_loop {
            render_event_loop(&mut out, figures);
        }
        if let Some(voice) = &self.voice {
            super::voice::render_metrics(&mut out, voice);
            super::voice::render_relay_metrics(&mut out, voice);
        }
        out
    }
}

/// The other spaces' instances: how many run, started and stopped, and who
/// is in each.
fn render_instances(out: &mut String, live: &LiveMetrics) {
    let _ = writeln!(
        out,
        "# HELP meridian_instances_running Running instances of spaces other than this process's world.\n# TYPE meridian_instances_running gauge\nmeridian_instances_running {}",
        live.instances.len()
    );
    let _ = writeln!(
        out,
        "# HELP meridian_instances_started_total Instances started by a join.\n# TYPE meridian_instances_started_total counter\nmeridian_instances_started_total {}",
        live.instances_started
    );
    let _ = writeln!(
        out,
        "# HELP meridian_instances_stopped_total Instances stopped after their idle grace.\n# TYPE meridian_instances_stopped_total counter\nmeridian_instances_stopped_total {}",
        live.instances_stopped
    );
    let _ = writeln!(
        out,
        "# HELP meridian_instance_starts_refused_total Joins that would have started an instance, refused: the process ran [serve] max_instances (process_cap), or the account had started [serve] instance_starts_per_account_per_minute (account_rate).\n# TYPE meridian_instance_starts_refused_total counter\nmeridian_instance_starts_refused_total{{reason=\"process_cap\"}} {}\nmeridian_instance_starts_refused_total{{reason=\"account_rate\"}} {}",
        live.instance_starts_refused, live.instance_starts_refused_by_account
    );
    render_instance_series(out, live);
    let _ = writeln!(
        out,
        "# HELP meridian_instance_voice_refused_total Voice offers refused in each running instance, by reason (PROTOCOL.md VoiceRefusalReason).\n# TYPE meridian_instance_voice_refused_total counter"
    );
    for instance in &live.instances {
        for (reason, value) in instance.voice_refusals.by_reason() {
            let _ = writeln!(
                out,
                "meridian_instance_voice_refused_total{{space=\"{}\",room=\"{}\",instance=\"{}\",reason=\"{reason}\"}} {value}",
                instance.space_id, instance.room_number, instance.number
            );
        }
    }
}

/// One series per running instance: its players and chat lines, its voice
/// members, and its voice traffic through the voice port (packets and payload
/// bytes its speakers sent and the copies its listeners got, and the datagram
/// bytes each way: the forwarding unit's bandwidth for it).
fn render_instance_series(out: &mut String, live: &LiveMetrics) {
    type Field = fn(&super::instances::InstanceFigures) -> u64;
    let series: [(&str, &str, &str, Field); 9] = [
        (
            "players",
            "gauge",
            "Players in each running instance (a room of its space).",
            |i| i.players as u64,
        ),
        (
            "messages_total",
            "counter",
            "Chat lines said in each running instance since it started.",
            |i| i.messages,
        ),
        (
            "voice_members",
            "gauge",
            "Players with voice on in each running instance (an offer sent and not ended).",
            |i| i.voice_members as u64,
        ),
        (
            "voice_packets_in_total",
            "counter",
            "Opus packets each running instance's speakers sent to the voice port (from zero when its first voice session opens).",
            |i| i.voice_traffic.packets_in,
        ),
        (
            "voice_bytes_in_total",
            "counter",
            "Payload bytes of the Opus packets each running instance's speakers sent.",
            |i| i.voice_traffic.bytes_in,
        ),
        (
            "voice_packets_forwarded_total",
            "counter",
            "Copies of speakers' packets written to each running instance's listeners.",
            |i| i.voice_traffic.packets_forwarded,
        ),
        (
            "voice_bytes_forwarded_total",
            "counter",
            "Payload bytes of the copies written to each running instance's listeners.",
            |i| i.voice_traffic.bytes_forwarded,
        ),
        (
            "voice_datagram_bytes_in_total",
            "counter",
            "Datagram bytes each running instance's voice peers sent to the voice port (STUN, DTLS, SRTP, SRTCP).",
            |i| i.voice_traffic.datagram_bytes_in,
        ),
        (
            "voice_datagram_bytes_out_total",
            "counter",
            "Datagram bytes the voice port sent to each running instance's voice peers.",
            |i| i.voice_traffic.datagram_bytes_out,
        ),
    ];
    for (name, kind, help, field) in series {
        let _ = writeln!(
            out,
            "# HELP meridian_instance_{name} {help}\n# TYPE meridian_instance_{name} {kind}"
        );
        for instance in &live.instances {
            let _ = writeln!(
                out,
                "meridian_instance_{name}{{space=\"{}\",room=\"{}\",instance=\"{}\"}} {}",
                instance.space_id,
                instance.room_number,
                instance.number,
                field(instance)
            );
        }
    }
}

/// The zones' sampled figures (the dashboard shows the same sample).
fn render_world(out: &mut String, world: &super::world_view::WorldView) {
    let _ = writeln!(
        out,
        "# HELP meridian_zone_avatars Avatars each zone simulates here (sampled once a second).\n# TYPE meridian_zone_avatars gauge"
    );
    for zone in &world.zones {
        let _ = writeln!(
            out,
            "meridian_zone_avatars{{zone=\"{}\"}} {}",
            zone.id, zone.avatars
        );
    }
    let _ = writeln!(
        out,
        "# HELP meridian_zone_view_entities Entities in view summed over each zone's avatars (sampled once a second; divide by meridian_zone_avatars for the mean view size).\n# TYPE meridian_zone_view_entities gauge"
    );
    for zone in &world.zones {
        let _ = writeln!(
            out,
            "meridian_zone_view_entities{{zone=\"{}\"}} {}",
            zone.id, zone.view_entities
        );
    }
}

/// The event loop's counters (docs/TRANSPORT.md).
fn render_event_loop(out: &mut String, figures: &EventLoopFigures) {
    let loop_counters = figures.stats.counters;
    let udp = figures.stats.udp;
    let counters = [
        (
            "meridian_event_loop_turns_total",
            "Turns of the event loop (one wait on the socket each).",
            loop_counters.turns,
        ),
        (
            "meridian_event_loop_datagrams_ignored_total",
            "Datagrams the QUIC endpoint dropped: undecodable, for no connection, or unanswerable.",
            loop_counters.datagrams_ignored,
        ),
        (
            "meridian_event_loop_closed_too_slow_total",
            "Clients closed because they did not read their stream.",
            loop_counters.closed_too_slow,
        ),
        (
            "meridian_event_loop_http3_errors_total",
            "Browser connections closed for breaking HTTP/3 or WebTransport.",
            loop_counters.http3_errors,
        ),
        (
            "meridian_event_loop_http3_datagrams_dropped_total",
            "WebTransport datagrams dropped: before the session opened or for another session.",
            loop_counters.http3_datagrams_dropped,
        ),
        (
            "meridian_event_loop_receive_calls_total",
            "recvmmsg calls that returned datagrams.",
            udp.receive_calls,
        ),
        (
            "meridian_event_loop_datagrams_received_total",
            "UDP datagrams received (GRO segments one by one).",
            udp.datagrams_received,
        ),
        (
            "meridian_event_loop_send_calls_total",
            "sendmmsg calls made (up to 64 transmits to any peers each, several datagrams per transmit with GSO).",
            udp.send_calls,
        ),
        (
            "meridian_event_loop_datagrams_sent_total",
            "UDP datagrams sent (GSO segments one by one).",
            udp.datagrams_sent,
        ),
        (
            "meridian_event_loop_sends_dropped_total",
            "Transmits dropped because the socket's send buffer was full.",
            udp.send_would_block,
        ),
        (
            "meridian_event_loop_send_failures_total",
            "Transmits the kernel refused for another reason than a full buffer (an MTU probe too large for the path is not counted).",
            udp.send_failures,
        ),
    ];
    for (name, help, value) in counters {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP meridian_event_loop_connections QUIC connections the event loop holds (handshaking, open or draining).\n# TYPE meridian_event_loop_connections gauge\nmeridian_event_loop_connections {}",
        figures.stats.connections
    );
}
