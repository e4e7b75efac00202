//! The zone thread: drains network events, ticks the zone at its fixed rate, and
//! hands each connection its payloads without ever waiting on one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use meridian_netcode::driver::admission::Admission;
use meridian_netcode::driver::server::NetEvent;
use meridian_netcode::transport::ZoneSide;
use meridian_netcode::{ConnectionEvents, ConnectionId, Payload};
use meridian_protocol::messages::DisconnectReason;
use meridian_shard_manager::Borders;
use meridian_shard_manager::ids::{Epoch, ZoneId};
use meridian_shard_manager::{Shard, SpawnHint, ZoneHost};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::cluster::ClusterLoop;
use super::elements::{ElementChange, Elements};
use super::instances::{Dispatch, InstanceOrder, Instances};
use super::live::{INVENTORY_STATUSES, LiveMetrics};
use super::persist::ZoneStorage;
use super::sim_pool::{FromWorker, ToWorker};

/// How long shutdown waits for goodbyes to be handed to the transport.
const DRAIN_TICKS: u32 = 5;

/// One tick in this many runs in a `zone_tick` span (level `debug`) and says
/// how long it took: a sample, so that tracing every tick costs nothing.
const TICK_SAMPLE_EVERY: u64 = 100;

/// Ticks over their interval are reported at most this often, with how many
/// there were since the last report.
const SLOW_TICK_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Ticks that took longer than their interval, since the last warning.
struct SlowTicks {
    count: u64,
    slowest: Duration,
    reported: Option<Instant>,
}

/// Milliseconds to one decimal, as logged.
fn tenths_of_a_millisecond(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e4).round() / 10.0
}

impl SlowTicks {
    fn new() -> Self {
        Self {
            count: 0,
            slowest: Duration::ZERO,
            reported: None,
        }
    }

    /// Counts a tick that took `elapsed` of its `interval`; warns (at most
    /// every [`SLOW_TICK_REPORT_EVERY`]) if some ran over.
    fn record(&mut self, elapsed: Duration, interval: Duration, now: Instant) {
        if elapsed <= interval {
            return;
        }
        self.count += 1;
        self.slowest = self.slowest.max(elapsed);
        if self
            .reported
            .is_some_and(|at| now.saturating_duration_since(at) < SLOW_TICK_REPORT_EVERY)
        {
            return;
        }
        tracing::warn!(
            ticks = self.count,
            slowest_ms = tenths_of_a_millisecond(self.slowest),
            interval_ms = tenths_of_a_millisecond(interval),
            "ticks took longer than their interval"
        );
        *self = Self {
            count: 0,
            slowest: Duration::ZERO,
            reported: Some(now),
        };
    }
}

/// Everything the zone thread needs besides its host and its link to other
/// shards.
pub(crate) struct Parts {
    /// The world's space (its id in the store).
    pub(crate) space_id: i64,
    pub(crate) inbound: Receiver<NetEvent>,
    pub(crate) live: Arc<Mutex<LiveMetrics>>,
    pub(crate) stop: Arc<AtomicBool>,
    /// Saved places of accounts about to join, from the join endpoint.
    pub(crate) spawn_hints: Receiver<SpawnHint>,
    pub(crate) storage: ZoneStorage,
    /// Ticks between checkpoints.
    pub(crate) checkpoint_every: u64,
    /// Ledger operations of the handoff protocol, to the ledger task.
    pub(crate) ledger_requests: super::ledger::LedgerQueue,
    /// Their answers.
    pub(crate) ledger_answers: Receiver<super::ledger::Answer>,
    /// The placed elements in the zones.
    pub(crate) elements: Elements,
    /// Placements made or removed through the API.
    pub(crate) element_changes: Receiver<ElementChange>,
    /// Blocks, mutes, kicks and bans from the HTTP API.
    pub(crate) moderation_orders: Receiver<super::moderation_orders::ModerationOrder>,
    /// Live settings an admin changed, applied between two ticks.
    pub(crate) settings_orders: Receiver<super::live_settings::LiveSettingsOrder>,
    /// The transports' pending-connection caps: told when a hello is verified.
    pub(crate) admission: Arc<Admission>,
    /// The event loop's batches, when `[serve] transport = "event-loop"`.
    pub(crate) event_loop: Option<ZoneSide>,
    /// The other spaces' running copies.
    pub(crate) instances: Instances,
    /// Joins and starts of instances, from the join endpoint.
    pub(crate) instance_orders: Receiver<InstanceOrder>,
    /// The voice port, when voice is on.
    pub(crate) voice: Option<super::voice::VoiceRelay>,
}

pub(crate) struct ZoneLoop {
    /// The world's zones, as one shard of a cluster (of one, in one process).
    shard: Shard,
    /// Other shards, if any.
    neighbours: ClusterLoop,
    inbound: Receiver<NetEvent>,
    live: Arc<Mutex<LiveMetrics>>,
    stop: Arc<AtomicBool>,
    spawn_hints: Receiver<SpawnHint>,
    storage: ZoneStorage,
    checkpoint_every: u64,
    ledger_requests: super::ledger::LedgerQueue,
    ledger_answers: Receiver<super::ledger::Answer>,
    elements: Elements,
    element_changes: Receiver<ElementChange>,
    moderation_orders: Receiver<super::moderation_orders::ModerationOrder>,
    settings_orders: Receiver<super::live_settings::LiveSettingsOrder>,
    admission: Arc<Admission>,
    event_loop: Option<ZoneSide>,
    instances: Instances,
    instance_orders: Receiver<InstanceOrder>,
    voice: Option<super::voice::VoiceRelay>,
    space_id: i64,
    /// The simulation threads' batches taken but not yet handed out.
    worker_batches: Vec<FromWorker>,
}

/// Starts the zone thread.
pub(crate) fn launch(
    shard: Shard,
    neighbours: ClusterLoop,
    parts: Parts,
) -> anyhow::Result<std::thread::JoinHandle<Vec<(ZoneId, Epoch)>>> {
    let mut shard = shard;
    shard.host_mut().set_voice_enabled(parts.voice.is_some());
    let mut instances = parts.instances;
    if let Some(side) = &parts.event_loop {
        // The instances' snapshots go from their simulation threads to the
        // loop directly; this thread routes only what comes in.
        instances.submit_to(&side.exchange());
    }
    let zone_loop = ZoneLoop {
        shard,
        neighbours,
        inbound: parts.inbound,
        live: parts.live,
        stop: parts.stop,
        spawn_hints: parts.spawn_hints,
        storage: parts.storage,
        checkpoint_every: parts.checkpoint_every,
        ledger_requests: parts.ledger_requests,
        ledger_answers: parts.ledger_answers,
        elements: parts.elements,
        element_changes: parts.element_changes,
        moderation_orders: parts.moderation_orders,
        settings_orders: parts.settings_orders,
        admission: parts.admission,
        event_loop: parts.event_loop,
        instances,
        instance_orders: parts.instance_orders,
        voice: parts.voice,
        space_id: parts.space_id,
        worker_batches: Vec::new(),
    };
    use anyhow::Context;
    std::thread::Builder::new()
        .name("zones".to_owned())
        .spawn(move || zone_loop.run())
        .context("cannot start the zone thread")
}

impl ZoneLoop {
    /// Runs until `stop` is set, then says goodbye to everyone; the leases
    /// to give up, now that nothing here simulates their zones.
    pub(crate) fn run(mut self) -> Vec<(ZoneId, Epoch)> {
        let mut interval =
            Duration::from_secs_f32(self.shard.host().zone().config().tick_seconds());
        let mut outboxes: HashMap<ConnectionId, mpsc::Sender<Payload>> = HashMap::new();
        let mut next_tick = Instant::now() + interval;
        let mut draining: Option<u32> = None;
        let mut steps = 0u64;
        let mut slow_ticks = SlowTicks::new();
        let wake = self.neighbours.wake();
        let ledger_answers = self.ledger_answers.clone();
        let instance_orders = self.instance_orders.clone();
        let from_workers = self.instances.worker_batches();
        loop {
            if draining.is_none() && self.stop.load(Ordering::Relaxed) {
                // Everyone's last place, before they are told to go.
                let states = self.shard.host_mut().member_states();
                self.storage.checkpoint(&states);
                let mut connections: Vec<ConnectionId> = outboxes.keys().copied().collect();
                if let Some(side) = &self.event_loop {
                    connections.extend(side.open_connections());
                }
                for connection in connections {
                    self.shard
                        .host_mut()
                        .server()
                        .disconnect(connection, DisconnectReason::ServerShutdown);
                }
                self.instances.shut_down();
                draining = Some(DRAIN_TICKS);
            }
            let wait = next_tick.saturating_duration_since(Instant::now());
            crossbeam_channel::select! {
                recv(self.inbound) -> event => match event {
                    Ok(event) => self.handle(event, &mut outboxes),
                    Err(_) => return self.shard.host().borders().held(),
                },
                recv(wake) -> _ => {}
                // A join waits for its answer: take it now, not at the next tick.
                recv(instance_orders) -> order => {
                    if let Ok(order) = order {
                        self.take_instance_order(order);
                    }
                }
                // A simulation thread ticked: its snapshots go out now.
                recv(from_workers) -> batch => {
                    if let Ok(batch) = batch {
                        self.worker_batches.push(batch);
                    }
                }
                // A commit's answer ends a freeze: take it now, not at the next event.
                recv(ledger_answers) -> answer => {
                    if let Ok(answer) = answer {
                        self.take_answer(answer);
                    }
                }
                default(wait) => {}
            }
            while let Ok(event) = self.inbound.try_recv() {
                self.handle(event, &mut outboxes);
            }
            while let Ok(order) = self.instance_orders.try_recv() {
                self.take_instance_order(order);
            }
            if let Some(side) = &mut self.event_loop {
                // The loop's whole batch since the last pass, in one swap.
                side.receive(
                    Instant::now(),
                    &mut Dispatch {
                        world: self.shard.host_mut().server(),
                        instances: &mut self.instances,
                    },
                );
            }
            let received = Instant::now();
            while let Ok(hint) = self.spawn_hints.try_recv() {
                self.shard.host_mut().set_spawn_hint(received, hint);
            }
            while let Ok(order) = self.moderation_orders.try_recv() {
                self.instances.moderate(&order);
                if let super::moderation_orders::ModerationOrder::Stage { space, .. } = &order
                    && *space != self.space_id
                {
                    continue;
                }
                super::moderation_orders::apply(self.shard.host_mut(), order, Instant::now());
            }
            while let Ok(order) = self.settings_orders.try_recv() {
                // Between two ticks: the next one runs with them, and the one
                // after comes at the new interval.
                if let Some(changed) = self.retune(order, interval) {
                    next_tick = next_tick.checked_sub(interval).unwrap_or(next_tick) + changed;
                    interval = changed;
                }
            }
            while let Ok(change) = self.element_changes.try_recv() {
                match change {
                    ElementChange::Placed(placed) => {
                        self.elements
                            .place(self.shard.host_mut().zones_mut(), &placed);
                    }
                    ElementChange::Removed(placement) => {
                        self.elements
                            .remove(self.shard.host_mut().zones_mut(), placement);
                    }
                }
            }
            self.shard
                .handle_time(Instant::now(), super::ledger::now_ms());
            // A handoff message is answered (to its peer, and to the ledger)
            // before the rest of what came is handled.
            while self.neighbours.receive(&mut self.shard) {
                self.exchange_with_ledger();
                self.neighbours.send(&mut self.shard);
            }
            // Voice relayed from other shards goes to the port as it comes.
            if let Some(voice) = &self.voice {
                voice.pass_relayed(self.shard.host_mut());
            }
            let now = Instant::now();
            if now >= next_tick {
                let span = if steps.is_multiple_of(TICK_SAMPLE_EVERY) {
                    tracing::debug_span!("zone_tick", step = steps)
                } else {
                    tracing::Span::none()
                };
                let entered = span.enter();
                let mut report = self.shard.step(now);
                if let Some(voice) = &mut self.voice {
                    voice.exchange(self.shard.host_mut());
                }
                // What other shards wait for (a handoff's prepare, their
                // clients' frames) goes before our own snapshots are encoded.
                self.exchange_with_ledger();
                self.neighbours.send(&mut self.shard);
                self.shard.replicate(&mut report);
                steps += 1;
                self.persist(steps, draining.is_some());
                // Hellos for instances, once the world's server has read them this tick.
                self.instances
                    .take_redirects(self.shard.host_mut().server(), Instant::now());
                let elapsed = now.elapsed();
                if !span.is_disabled() {
                    tracing::debug!(
                        tick = report.tick,
                        elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
                        avatars = self.shard.host().avatar_count(),
                        "ticked"
                    );
                }
                drop(entered);
                slow_ticks.record(elapsed, interval, now);
                next_tick += interval;
                if next_tick < now {
                    // Far behind (a stalled machine): skip rather than burst.
                    next_tick = now + interval;
                }
                self.publish(report.tick, elapsed, interval);
                if let Some(left) = draining.as_mut() {
                    *left = left.saturating_sub(1);
                }
            }
            // Ledger answers are taken as soon as they come, not once a tick:
            // a handoff is frozen only as long as its commit takes.
            self.exchange_with_ledger();
            self.neighbours.send(&mut self.shard);
            self.route(&mut outboxes);
            if draining == Some(0) {
                if let Some(voice) = self.voice.take() {
                    voice.stop();
                }
                return self.shard.host().borders().held();
            }
        }
    }

    /// Carries out a join's order about an instance. Every moderation order
    /// reaches the world's host, so a new instance starts with its blocks,
    /// mutes and bans.
    fn take_instance_order(&mut self, mut order: InstanceOrder) {
        if let InstanceOrder::Start { instance, .. } = &mut order {
            *instance.host.moderation_mut() = self.shard.host_mut().moderation().standing();
        }
        self.instances
            .take_order(order, self.shard.host_mut().server());
    }

    /// Applies live settings an admin changed; the new tick interval if they
    /// apply (checkpoints keep their interval in time, not in ticks).
    fn retune(
        &mut self,
        order: super::live_settings::LiveSettingsOrder,
        interval: Duration,
    ) -> Option<Duration> {
        if let Err(error) = self
            .shard
            .host_mut()
            .apply_live_settings(&order.live, order.snapshot_bytes_per_second)
        {
            // Checked the same way before it was queued: not expected.
            tracing::error!(%error, "the zone thread refused live settings");
            return None;
        }
        let changed = Duration::from_secs_f32(self.shard.host().zone().config().tick_seconds());
        // The tick count follows the cluster's clock at the new rate.
        self.shard.set_tick(changed);
        let every = self.checkpoint_every as f64 * interval.as_secs_f64() / changed.as_secs_f64();
        self.checkpoint_every = (every.round() as u64).max(1);
        tracing::info!(
            tick_rate_hz = order.live.tick_rate_hz,
            interest_radius_m = order.live.interest_radius,
            snapshot_bytes_per_second = order.snapshot_bytes_per_second,
            "live settings in force from this tick"
        );
        Some(changed)
    }

    /// Hands the handoff protocol's ledger operations to the ledger task and
    /// its answers back, without waiting. An operation that does not fit the
    /// queue, or whose database call failed, has an unknown outcome: the
    /// protocol settles it by reading the ledger.
    fn exchange_with_ledger(&mut self) {
        // One batch a pass: what the protocol asks again for a request that
        // could not be queued waits for the next pass (else a full lane would
        // hold the thread here until the database frees it).
        let mut lost = Vec::new();
        while let Some((request, op)) = self.shard.poll_ledger() {
            if !self.ledger_requests.try_send(request, op) {
                lost.push(request);
            }
        }
        for request in lost {
            self.shard.handle_ledger(request, None);
        }
        while let Ok(answer) = self.ledger_answers.try_recv() {
            self.take_answer(answer);
        }
    }

    fn take_answer(&mut self, (request, answer): super::ledger::Answer) {
        self.shard.handle_ledger(request, answer.as_ref());
    }

    /// Hands chat lines, inventory changes and checkpoints to storage without
    /// waiting, and relays or answers what storage finished.
    ///
    /// `step` counts this loop's ticks (not the zones' tick numbers, which
    /// follow the cluster's clock and skip when the loop falls behind, and
    /// stay 0 on a shard that simulates no zone).
    fn persist(&mut self, step: u64, draining: bool) {
        let (results, _) = exchange_with_storage(self.shard.host_mut(), &mut self.storage);
        if let Ok(mut live) = self.live.lock() {
            for (_, result) in &results {
                let status = INVENTORY_STATUSES
                    .iter()
                    .position(|(status, _)| *status == result.status);
                if let Some(index) = status {
                    live.inventory_results[index] += 1;
                }
            }
            live.chat_unstored = self.storage.chat_dropped.load(Ordering::Relaxed);
            let (muted, hidden) = self.instances.moderated_lines();
            live.chat_muted = self.shard.host_mut().moderation().muted_lines() + muted;
            live.chat_hidden_by_blocks = self.shard.host_mut().moderation().hidden_lines() + hidden;
            live.inventory_busy_here = self.shard.host_mut().inventory_busy();
            live.inventory_not_allowed_here = self.shard.host_mut().inventory_not_allowed();
            let checkpoints = self.storage.checkpoints.counters();
            live.checkpoint_rows_coalesced = checkpoints.coalesced_rows.load(Ordering::Relaxed);
            live.checkpoint_rows_pending = checkpoints.pending_rows.load(Ordering::Relaxed);
            live.spawn_hints_dropped = self.shard.host().spawn_hints_dropped();
        }
        let mut states = self.shard.host_mut().take_departed();
        if !draining && step.is_multiple_of(self.checkpoint_every.max(1)) {
            states.extend(self.shard.host_mut().member_states());
        }
        self.storage.checkpoint(&states);
    }

    fn handle(
        &mut self,
        event: NetEvent,
        outboxes: &mut HashMap<ConnectionId, mpsc::Sender<Payload>>,
    ) {
        let now = Instant::now();
        let server = self.shard.host_mut().server();
        match event {
            NetEvent::Opened {
                connection, outbox, ..
            } => {
                outboxes.insert(connection, outbox);
                self.instances.outboxed(connection);
                server.handle_connected(now, connection);
            }
            NetEvent::Stream { connection, bytes } => {
                let mut dispatch = Dispatch {
                    world: server,
                    instances: &mut self.instances,
                };
                dispatch.handle_stream(now, connection, &bytes);
                if !dispatch.awaiting_hello(connection) {
                    // Verified (or closed): no longer pending for the caps.
                    self.admission.verified(connection);
                }
            }
            NetEvent::Datagram { connection, bytes } => {
                Dispatch {
                    world: server,
                    instances: &mut self.instances,
                }
                .handle_datagram(now, connection, &bytes);
            }
            NetEvent::Closed { connection } => {
                outboxes.remove(&connection);
                Dispatch {
                    world: server,
                    instances: &mut self.instances,
                }
                .handle_closed(now, connection);
            }
        }
    }

    fn route(&mut self, outboxes: &mut HashMap<ConnectionId, mpsc::Sender<Payload>>) {
        let mut handed = HandedOut::default();
        while let Some(transmit) = self.shard.host_mut().server().poll_transmit() {
            handed.hand(transmit, outboxes, &mut self.event_loop);
        }
        self.worker_batches
            .extend(self.instances.worker_batches().try_iter());
        for mut batch in std::mem::take(&mut self.worker_batches) {
            self.instances
                .take_from_worker(&mut batch, self.shard.host_mut().server());
            for transmit in batch.transmits {
                handed.hand(transmit, outboxes, &mut self.event_loop);
            }
        }
        if let Some(side) = &mut self.event_loop {
            // One batch, one wake-up of the loop.
            side.submit();
        }
        // Its task is gone (and may not have been able to say so): forget it now
        // rather than at the idle timeout.
        let now = Instant::now();
        for connection in handed.closed {
            outboxes.remove(&connection);
            Dispatch {
                world: self.shard.host_mut().server(),
                instances: &mut self.instances,
            }
            .handle_closed(now, connection);
        }
        for connection in handed.slow {
            // A must-arrive message did not fit: the client reads too slowly.
            outboxes.remove(&connection);
            let reason = DisconnectReason::ProtocolViolation;
            let order = ToWorker::Disconnect { connection, reason };
            if !self.instances.forward(connection, order) {
                self.shard
                    .host_mut()
                    .server()
                    .disconnect(connection, reason);
            }
        }
        if handed.dropped > 0 {
            self.live
                .lock()
                .map(|mut live| live.outbox_full_drops += handed.dropped)
                .ok();
        }
        // What this pass gathered for the simulation threads, one batch each.
        self.instances.flush();
    }

    fn publish(&mut self, tick: u64, elapsed: Duration, interval: Duration) {
        let Ok(mut live) = self.live.lock() else {
            return;
        };
        live.record_tick(elapsed.as_secs_f64(), interval.as_secs_f64());
        live.tick = tick;
        live.netcode
            .clone_from(self.shard.host().server_ref().metrics());
        live.avatars = self.shard.host().avatar_count();
        live.static_elements = self.shard.host().zone().element_count();
        live.handoffs = self.shard.host().handoffs();
        live.zones_held = self.shard.host().borders().zone_count();
        (
            live.instances,
            live.instances_started,
            live.instances_stopped,
        ) = self.instances.figures();
        for seconds in self.instances.take_tick_seconds() {
            live.record_instance_tick(seconds);
        }
        live.link = self.neighbours.counters();
        live.event_loop = self
            .event_loop
            .as_ref()
            .map(|side| super::live::EventLoopFigures {
                stats: side.stats(),
                inbound_dropped: side.inbound_dropped(),
            });
        live.voice = self
            .voice
            .as_ref()
            .map(|voice| voice.figures(self.shard.host()));
        for frozen in self.shard.host_mut().borders_mut().take_frozen_ticks() {
            live.record_frozen(f64::from(frozen) * interval.as_secs_f64());
        }
        for crossing in self.shard.host_mut().take_crossings() {
            live.record_crossing(crossing);
        }
        live.rejections.clear();
        live.rejections.extend(
            self.shard
                .host_mut()
                .rejections_by_reason()
                .iter()
                .map(|(reason, count)| (*reason, *count)),
        );
        let now = Instant::now();
        if let Some(world) = live.world.as_mut().filter(|world| world.due(now)) {
            world.sample(self.shard.host(), tick, now);
        }
    }
}

/// What one pass over the servers' transmits left to do.
#[derive(Default)]
struct HandedOut {
    /// Datagrams dropped because a connection's queue was full.
    dropped: u64,
    /// Connections whose must-arrive message did not fit their queue.
    slow: Vec<ConnectionId>,
    /// Connections whose task is gone.
    closed: Vec<ConnectionId>,
}

impl HandedOut {
    /// Hands a transmit to its connection's outbox (the task driver) or to
    /// the event loop's batch.
    fn hand(
        &mut self,
        transmit: meridian_netcode::Transmit,
        outboxes: &mut HashMap<ConnectionId, mpsc::Sender<Payload>>,
        event_loop: &mut Option<ZoneSide>,
    ) {
        let connection = transmit.connection;
        let Some(outbox) = outboxes.get(&connection) else {
            if let Some(side) = event_loop.as_mut().filter(|side| side.is_open(connection)) {
                side.queue(transmit);
            }
            return;
        };
        let closing = matches!(transmit.payload, Payload::Close(_));
        match outbox.try_send(transmit.payload) {
            Ok(()) => {}
            Err(TrySendError::Full(Payload::Datagram(_))) => self.dropped += 1,
            Err(TrySendError::Full(_)) => self.slow.push(connection),
            Err(TrySendError::Closed(_)) => self.closed.push(connection),
        }
        if closing {
            // Dropping the sender ends the connection's writer once it has
            // sent what is queued.
            outboxes.remove(&connection);
        }
    }
}

/// Hands a host's chat lines and inventory changes to its storage without
/// waiting, relays the lines stored, and answers the changes finished; the
/// inventory results and how many lines were said, for counting.
pub(crate) fn exchange_with_storage<B: Borders>(
    host: &mut ZoneHost<B>,
    storage: &mut ZoneStorage,
) -> (
    Vec<(ConnectionId, meridian_protocol::messages::InventoryResult)>,
    usize,
) {
    let said = host.take_said();
    let lines = said.len();
    storage.store_chat(said);
    while let Ok(line) = storage.chat_stored.try_recv() {
        host.relay_said(line);
    }
    let mut results = storage.change_inventory(host.take_inventory_requests());
    results.extend(storage.inventory_done.try_iter());
    for (connection, result) in &results {
        host.finish_inventory(*connection, result.clone());
    }
    (results, lines)
}
