//! The simulation pool: a few threads that run the instances of spaces, each
//! on its own clock, so one instance's slow tick delays only the instances on
//! its thread, never the world or the others' snapshots.
//!
//! The zone thread routes (see [`super::instances::Instances`]): it hands each
//! worker, once per pass, one batch of what concerns its instances
//! ([`ToWorker`]: connection events, joins, orders), and takes back, after
//! each of the worker's ticks, one batch of transmits and the instances'
//! figures ([`FromWorker`]). No channel message per datagram, no lock shared
//! with the zone thread.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use meridian_netcode::{ConnectionId, Payload, Redirect, Server, Transmit};
use meridian_protocol::messages::DisconnectReason;
use meridian_shard_manager::{OneZone, SpawnHint, ZoneHost};

use super::elements::ElementChange;
use super::instances::{Instance, InstanceFigures};
use super::moderation_orders::ModerationOrder;
use super::persist::StorageTasks;

/// Ticks a worker keeps running after shutdown, for goodbyes to go out.
const DRAIN_TICKS: u32 = 5;

/// Ticks a fenced instance keeps running (its goodbyes going out) before it
/// is dropped.
const FENCE_TICKS: u32 = 3;

/// What the zone thread hands a worker.
pub(crate) enum ToWorker {
    /// Run this instance, with a join's saved place waiting; `join` numbers
    /// the joins the zone thread sent it.
    Start {
        instance: Box<Instance>,
        hint: SpawnHint,
        join: u64,
    },
    /// Another join of a running instance.
    Join {
        number: u32,
        hint: SpawnHint,
        join: u64,
    },
    /// A connection whose hello names one of this worker's instances.
    Redirect(Redirect),
    Stream {
        connection: ConnectionId,
        bytes: Vec<u8>,
    },
    /// A datagram, as the transport read it (shared, not copied).
    Datagram {
        connection: ConnectionId,
        bytes: bytes::Bytes,
    },
    Closed {
        connection: ConnectionId,
    },
    /// The transport could not take a must-arrive message: end it.
    Disconnect {
        connection: ConnectionId,
        reason: DisconnectReason,
    },
    Element {
        space: i64,
        change: ElementChange,
    },
    Moderation(ModerationOrder),
    /// Stop this instance (the zone thread saw it empty for its grace, with
    /// no join since).
    Stop {
        number: u32,
    },
    /// This instance's lease was lost: tell its clients to join again, tick
    /// it a few more times so the goodbyes leave, then drop it.
    Fence {
        number: u32,
    },
    /// The shard drains: freeze this instance, queue its last checkpoint
    /// and send its storage to `handed` (see [`super::hand_on`]); its
    /// connections stay until [`ToWorker::Moved`].
    HandOn {
        number: u32,
        room: i64,
        handed: super::hand_on::HandedQueue,
    },
    /// A handed-on instance's players are told `reason` and it goes a few
    /// ticks later, once the goodbyes left.
    Moved {
        number: u32,
        reason: DisconnectReason,
    },
    /// From now on the instances' transmits go straight to the event loop
    /// (one batch and one wake-up of the loop per tick), not through the
    /// zone thread; only the figures go there.
    SubmitTo(Arc<meridian_netcode::transport::Exchange>),
    /// This connection is written by the zone thread (a WebSocket, the task
    /// driver), not by the event loop: its transmits go back there.
    ThroughZone(ConnectionId),
    /// The process stops: checkpoint everyone, say goodbye, end.
    ShutDown,
    /// Tests: the worker says it stalled, then blocks until told to go, as a
    /// very slow tick would.
    #[cfg(test)]
    Stall {
        stalled: Sender<()>,
        go: Receiver<()>,
    },
}

/// What a worker hands back after a tick (or when it has something to send).
pub(crate) struct FromWorker {
    pub(crate) transmits: Vec<Transmit>,
    /// Each instance's figures as of this tick (after a tick only).
    pub(crate) figures: Option<Vec<WorkerFigures>>,
}

/// One instance as its worker last saw it.
#[derive(Debug, Clone)]
pub(crate) struct WorkerFigures {
    pub(crate) figures: InstanceFigures,
    /// Since when nobody was in it, nobody on the way and no connection open.
    pub(crate) empty_since: Option<Instant>,
    /// The last join (of the zone thread's numbering) it had taken then.
    pub(crate) joins_seen: u64,
    /// How long its tick took, seconds.
    pub(crate) tick_seconds: f64,
}

/// A worker's handle on the zone thread.
pub(crate) struct WorkerHandle {
    pub(crate) inbox: Sender<Vec<ToWorker>>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
    /// Orders gathered this pass, sent in one batch by [`Self::flush`].
    pub(crate) pending: Vec<ToWorker>,
    /// Instances it runs.
    pub(crate) load: usize,
}

impl WorkerHandle {
    pub(crate) fn flush(&mut self) {
        if !self.pending.is_empty() {
            // A worker that is gone has taken its instances with it.
            let _ = self.inbox.send(std::mem::take(&mut self.pending));
        }
    }
}

/// What every worker is started with.
pub(crate) struct WorkerSetup {
    pub(crate) tick: Duration,
    pub(crate) outbox: Sender<FromWorker>,
    /// Where stopped instances' storage finishes writing.
    pub(crate) runtime: tokio::runtime::Handle,
    pub(crate) left_running: Arc<Mutex<Vec<StorageTasks>>>,
}

/// Starts worker `index`.
pub(crate) fn spawn(index: usize, setup: &WorkerSetup) -> std::io::Result<WorkerHandle> {
    let (inbox, orders) = crossbeam_channel::unbounded();
    let mut worker = Worker {
        orders,
        outbox: setup.outbox.clone(),
        tick: setup.tick,
        instances: HashMap::new(),
        routes: HashMap::new(),
        joins_seen: HashMap::new(),
        runtime: setup.runtime.clone(),
        left_running: setup.left_running.clone(),
        steps: 0,
        draining: None,
        fenced: HashMap::new(),
        handing: HashMap::new(),
        event_loop: None,
        transmits: Vec::new(),
        through_zone: HashSet::new(),
    };
    let thread = std::thread::Builder::new()
        .name(format!("sim-{index}"))
        .spawn(move || worker.run())?;
    Ok(WorkerHandle {
        inbox,
        thread: Some(thread),
        pending: Vec::new(),
        load: 0,
    })
}

struct Worker {
    orders: Receiver<Vec<ToWorker>>,
    outbox: Sender<FromWorker>,
    tick: Duration,
    instances: HashMap<u32, Instance>,
    routes: HashMap<ConnectionId, u32>,
    joins_seen: HashMap<u32, u64>,
    runtime: tokio::runtime::Handle,
    left_running: Arc<Mutex<Vec<StorageTasks>>>,
    steps: u64,
    draining: Option<u32>,
    /// Fenced instances, and the ticks each has left.
    fenced: HashMap<u32, u32>,
    /// Instances handed on (frozen: their hosts no longer tick), and once
    /// their players were told to go, the ticks each has left.
    handing: HashMap<u32, (ZoneHost<OneZone>, Option<u32>)>,
    /// The event loop's exchange, when transmits go straight to it.
    event_loop: Option<Arc<meridian_netcode::transport::Exchange>>,
    /// The batch of transmits being gathered (its capacity kept when the
    /// loop takes them).
    transmits: Vec<Transmit>,
    /// Connections whose transmits go through the zone thread even when the
    /// rest go straight to the event loop.
    through_zone: HashSet<ConnectionId>,
}

impl Worker {
    fn run(&mut self) {
        let mut next_tick = Instant::now() + self.tick;
        loop {
            if self.is_idle() {
                // Nothing to tick: wait for work rather than wake 20 times
                // a second for nothing, and tick a tick after it comes.
                match self.orders.recv() {
                    Ok(batch) => self.take(batch),
                    Err(crossbeam_channel::RecvError) => break,
                }
                next_tick = Instant::now() + self.tick;
                continue;
            }
            let wait = next_tick.saturating_duration_since(Instant::now());
            match self.orders.recv_timeout(wait) {
                Ok(batch) => self.take(batch),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            }
            while let Ok(batch) = self.orders.try_recv() {
                self.take(batch);
            }
            let now = Instant::now();
            if now >= next_tick {
                let figures = self.tick_all(now);
                self.send(Some(figures));
                self.drop_fenced();
                next_tick += self.tick;
                if next_tick < now {
                    next_tick = now + self.tick;
                }
                if let Some(left) = self.draining.as_mut() {
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        break;
                    }
                }
            } else {
                // A refusal or a goodbye should not wait for the tick.
                self.send(None);
            }
        }
        self.leave();
    }

    /// No instance to tick, none leaving, no drain under way, nothing to
    /// send.
    fn is_idle(&self) -> bool {
        self.instances.is_empty()
            && self.handing.is_empty()
            && self.fenced.is_empty()
            && self.draining.is_none()
            && self.transmits.is_empty()
    }

    fn take(&mut self, batch: Vec<ToWorker>) {
        let now = Instant::now();
        for order in batch {
            self.apply(order, now);
        }
    }

    fn apply(&mut self, order: ToWorker, now: Instant) {
        match order {
            ToWorker::Start {
                instance,
                hint,
                join,
            } => {
                let mut instance = *instance;
                instance.host.set_spawn_hint(now, hint);
                self.joins_seen.insert(instance.number, join);
                self.instances.insert(instance.number, instance);
            }
            ToWorker::Join { number, hint, join } => {
                if let Some(instance) = self.instances.get_mut(&number) {
                    instance.host.set_spawn_hint(now, hint);
                    self.joins_seen.insert(number, join);
                }
            }
            ToWorker::Redirect(redirect) => {
                if let Some(instance) = self.instances.get_mut(&redirect.space) {
                    instance.host.server().handle_redirected(now, &redirect);
                    self.routes.insert(redirect.connection, redirect.space);
                }
            }
            ToWorker::Stream { connection, bytes } => {
                if let Some(server) = self.server_of(connection) {
                    server.handle_stream(now, connection, &bytes);
                }
            }
            ToWorker::Datagram { connection, bytes } => {
                if let Some(server) = self.server_of(connection) {
                    server.handle_datagram(now, connection, &bytes);
                }
            }
            ToWorker::Closed { connection } => {
                if let Some(server) = self.server_of(connection) {
                    server.handle_closed(now, connection);
                }
                self.routes.remove(&connection);
                self.through_zone.remove(&connection);
            }
            ToWorker::Disconnect { connection, reason } => {
                if let Some(server) = self.server_of(connection) {
                    server.disconnect(connection, reason);
                }
            }
            ToWorker::Element { space, change } => {
                for instance in self.instances.values_mut() {
                    if instance.space_id == space {
                        instance.apply_element(&change);
                    }
                }
            }
            ToWorker::Moderation(order) => {
                for instance in self.instances.values_mut() {
                    if let ModerationOrder::Stage { space, .. } = &order
                        && *space != instance.space_id
                    {
                        continue;
                    }
                    super::moderation_orders::apply(&mut instance.host, order.clone(), now);
                }
            }
            ToWorker::Stop { number } => {
                if let Some(instance) = self.instances.remove(&number) {
                    self.routes.retain(|_, routed| *routed != number);
                    self.joins_seen.remove(&number);
                    instance.discard(&self.runtime);
                }
            }
            ToWorker::Fence { number } => {
                if let Some(instance) = self.instances.get_mut(&number) {
                    instance.fence();
                    self.fenced.insert(number, FENCE_TICKS);
                }
            }
            ToWorker::HandOn {
                number,
                room,
                handed,
            } => {
                if let Some(instance) = self.instances.remove(&number) {
                    self.joins_seen.remove(&number);
                    let players = instance.host.member_count();
                    let (host, tasks, seated) = instance.hand_on();
                    self.handing.insert(number, (host, None));
                    let _ = handed.send(super::hand_on::HandedOn {
                        room,
                        number,
                        players,
                        tasks,
                        seated,
                    });
                }
            }
            ToWorker::Moved { number, reason } => {
                if let Some((host, goodbye)) = self.handing.get_mut(&number) {
                    let connections: Vec<ConnectionId> =
                        host.server_ref().connection_ids().collect();
                    for connection in connections {
                        host.server().disconnect(connection, reason);
                    }
                    goodbye.get_or_insert(FENCE_TICKS);
                }
            }
            ToWorker::SubmitTo(exchange) => self.event_loop = Some(exchange),
            ToWorker::ThroughZone(connection) => {
                self.through_zone.insert(connection);
            }
            ToWorker::ShutDown => {
                for instance in self.instances.values_mut() {
                    instance.shut_down();
                }
                self.draining.get_or_insert(DRAIN_TICKS);
            }
            #[cfg(test)]
            ToWorker::Stall { stalled, go } => {
                let _ = stalled.send(());
                let _ = go.recv();
            }
        }
    }

    /// The server of `connection`'s instance, running or being handed on.
    fn server_of(&mut self, connection: ConnectionId) -> Option<&mut Server> {
        let number = self.routes.get(&connection)?;
        match self.instances.get_mut(number) {
            Some(instance) => Some(instance.host.server()),
            None => self.handing.get_mut(number).map(|(host, _)| host.server()),
        }
    }

    fn tick_all(&mut self, now: Instant) -> Vec<WorkerFigures> {
        self.steps += 1;
        let draining = self.draining.is_some();
        self.instances
            .values_mut()
            .map(|instance| {
                let began = Instant::now();
                let empty_since = instance.tick(now, self.steps, draining);
                WorkerFigures {
                    figures: instance.figures(),
                    empty_since,
                    joins_seen: self.joins_seen.get(&instance.number).copied().unwrap_or(0),
                    tick_seconds: began.elapsed().as_secs_f64(),
                }
            })
            .collect()
    }

    /// Drops the fenced and handed-on instances whose goodbyes have had
    /// their ticks.
    fn drop_fenced(&mut self) {
        let mut gone = Vec::new();
        for (number, (_, goodbye)) in &mut self.handing {
            if let Some(left) = goodbye {
                *left = left.saturating_sub(1);
                if *left == 0 {
                    gone.push(*number);
                }
            }
        }
        for number in gone {
            self.handing.remove(&number);
            self.routes.retain(|_, routed| *routed != number);
        }
        let mut done = Vec::new();
        for (number, left) in &mut self.fenced {
            *left = left.saturating_sub(1);
            if *left == 0 {
                done.push(*number);
            }
        }
        for number in done {
            self.fenced.remove(&number);
            if let Some(instance) = self.instances.remove(&number) {
                self.routes.retain(|_, routed| *routed != number);
                self.joins_seen.remove(&number);
                instance.discard(&self.runtime);
            }
        }
    }

    /// Sends what the instances' servers have to send, and the figures.
    fn send(&mut self, figures: Option<Vec<WorkerFigures>>) {
        let mut transmits = std::mem::take(&mut self.transmits);
        let servers = self
            .instances
            .values_mut()
            .map(|instance| instance.host.server())
            .chain(self.handing.values_mut().map(|(host, _)| host.server()));
        for server in servers {
            while let Some(transmit) = server.poll_transmit() {
                transmits.push(transmit);
            }
        }
        if let Some(exchange) = &self.event_loop {
            // The zone thread's own connections (WebSockets) go back there.
            // (In order: a connection's stream bytes must stay in order.)
            let mut through_zone = Vec::new();
            if !self.through_zone.is_empty() {
                let zone_bound = &self.through_zone;
                through_zone.extend(
                    transmits.extract_if(.., |transmit| zone_bound.contains(&transmit.connection)),
                );
                for transmit in &through_zone {
                    if matches!(transmit.payload, Payload::Close(_)) {
                        self.through_zone.remove(&transmit.connection);
                    }
                }
            }
            // The rest straight to the loop: it wakes once for the batch
            // (submit leaves `transmits` empty, its capacity kept).
            exchange.submit(&mut transmits);
            self.transmits = transmits;
            if figures.is_some() || !through_zone.is_empty() {
                let _ = self.outbox.send(FromWorker {
                    transmits: through_zone,
                    figures,
                });
            }
            return;
        }
        if transmits.is_empty() && figures.is_none() {
            self.transmits = transmits;
            return;
        }
        let _ = self.outbox.send(FromWorker { transmits, figures });
    }

    /// The worker ends: its instances' storage is left for the process to
    /// finish.
    fn leave(&mut self) {
        let Ok(mut left) = self.left_running.lock() else {
            return;
        };
        for (_, instance) in self.instances.drain() {
            left.push(instance.into_storage_tasks());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use meridian_netcode::{NetcodeConfig, Server, TokenAuthority};
    use meridian_shard_manager::{SpawnHint, ZoneHost};
    use meridian_sim::{SimConfig, Zone};
    use tokio::sync::oneshot;

    use super::*;
    use crate::serve::elements::Elements;
    use crate::serve::instances::{InstanceOrder, Instances, Room};

    fn server(authority: &TokenAuthority, space: u32) -> Server {
        Server::new(
            NetcodeConfig::default(),
            authority.clone(),
            space,
            Instant::now(),
            1_800_000_000,
        )
        .expect("valid")
    }

    fn instance(
        store: &meridian_persistence::Store,
        seats: &crate::serve::seats::SeatQueue,
        authority: &TokenAuthority,
        number: u32,
    ) -> Instance {
        let sim = SimConfig {
            world_width: 40.0,
            world_height: 40.0,
            ..SimConfig::default()
        };
        let host = ZoneHost::new(
            Zone::new(sim).expect("valid"),
            server(authority, number),
            0,
            1,
        );
        let room = Room {
            space: 1,
            id: i64::from(number),
            number: 1,
            seats: seats.clone(),
        };
        Instance::new(
            room,
            number,
            host,
            crate::serve::persist::start(store, 1, 0),
            Elements::default(),
            40,
            None,
        )
    }

    /// Ticks reported for `number` in the batches that arrive until `until`
    /// says stop (or 60 s pass, a safety bound, not a timing assertion).
    fn count_ticks(
        from_workers: &Receiver<FromWorker>,
        mut counts: impl FnMut(u32),
        until: impl Fn() -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !until() && Instant::now() < deadline {
            if let Ok(batch) = from_workers.recv_timeout(Duration::from_millis(100)) {
                for figures in batch.figures.into_iter().flatten() {
                    counts(figures.figures.number);
                }
            }
        }
    }

    #[test]
    fn idle_simulation_threads_wait_for_work_without_ticking() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let instances = Instances::new(
            2,
            Duration::from_millis(20),
            Duration::from_secs(3_600),
            runtime.handle().clone(),
            Arc::new(Mutex::new(Vec::new())),
        )
        .expect("threads");
        let from_workers = instances.worker_batches();
        // Ten ticks' time: a ticking worker would have sent its (empty)
        // figures ten times.
        let batch = from_workers.recv_timeout(Duration::from_millis(200));
        assert!(batch.is_err(), "an idle worker ticked");
        drop(instances);
    }

    #[test]
    fn a_stalled_simulation_thread_does_not_hold_up_the_instances_of_another() {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let folder = std::env::temp_dir().join(format!("meridian-pool-{}", std::process::id()));
        let url = format!("sqlite://{}/pool.db", folder.display());
        let store = runtime
            .block_on(crate::serve::persist::open(&url))
            .expect("store");
        let _entered = runtime.enter();
        let (seats, _writer) = crate::serve::seats::start_writer(store.clone());
        let authority = TokenAuthority::new(b"a test key that is long enough!!");
        let mut world = server(&authority, 1);
        let left = Arc::new(Mutex::new(Vec::new()));
        let mut instances = Instances::new(
            2,
            Duration::from_millis(20),
            Duration::from_secs(3_600),
            runtime.handle().clone(),
            left.clone(),
        )
        .expect("threads");
        let from_workers = instances.worker_batches();
        for number in [10, 11] {
            let (reply, answer) = oneshot::channel();
            instances.take_order(
                InstanceOrder::Start {
                    instance: Box::new(instance(&store, &seats, &authority, number)),
                    hint: SpawnHint {
                        account: 1,
                        place: None,
                        appearance: None,
                    },
                    max_instances: 10,
                    reply,
                },
                &mut world,
            );
            assert_eq!(answer.blocking_recv().expect("answered"), Some(number));
        }
        instances.flush();
        // Both tick.
        let mut ticks: HashMap<u32, u32> = HashMap::new();
        let both = std::cell::Cell::new(false);
        count_ticks(
            &from_workers,
            |number| {
                *ticks.entry(number).or_default() += 1;
                both.set(ticks.len() == 2);
            },
            || both.get(),
        );
        assert!(both.get(), "both instances tick: {ticks:?}");

        // The first worker (instance 10, started first on the emptier
        // worker) stalls; the other's instance goes on ticking.
        let (go, wait) = crossbeam_channel::bounded(1);
        let (stalled, has_stalled) = crossbeam_channel::bounded(1);
        instances.stall_worker_of(10, stalled, wait);
        has_stalled.recv().expect("the worker stalls");
        // What it sent before it stalled.
        from_workers.try_iter().for_each(drop);
        let mut during: HashMap<u32, u32> = HashMap::new();
        let enough = std::cell::Cell::new(false);
        count_ticks(
            &from_workers,
            |number| {
                let count = during.entry(number).or_default();
                *count += 1;
                enough.set(number == 11 && *count >= 20);
            },
            || enough.get(),
        );
        assert_eq!(during.get(&11), Some(&20), "{during:?}");
        assert_eq!(
            during.get(&10),
            None,
            "the stalled instance did not tick: {during:?}"
        );
        // Released, it ticks again.
        go.send(()).expect("released");
        let again = std::cell::Cell::new(false);
        count_ticks(
            &from_workers,
            |number| again.set(again.get() || number == 10),
            || again.get(),
        );
        assert!(again.get(), "the stalled instance ticks once released");
        drop(instances);
        assert_eq!(left.lock().expect("not poisoned").len(), 2);
        let _ = std::fs::remove_dir_all(folder);
    }
}
