//! Instances: the running copies of spaces other than the one this process
//! was started for (its world, which always runs).
//!
//! A join of such a space (`POST /api/v1/space/{id}/join`) starts its
//! instance if none runs: the HTTP side loads the space's placed elements,
//! builds the zone, its [`Server`] and its storage, and hands the whole
//! instance to the zone thread ([`InstanceOrder::Start`]). Every decision about
//! which instances run is taken on the zone thread, so a join and an idle stop
//! never race: a join of a running instance ([`InstanceOrder::Join`]) leaves its
//! saved place there and is answered the instance's number, which its realtime
//! token names as its `space`.
//!
//! All instances share the process's one game transport. A new connection
//! goes to the world's server, which hands it over at its hello when the token
//! names a running instance ([`Server::poll_redirect`]); from then on its
//! events are routed to that instance's server ([`Dispatch`]).
//!
//! An instance with nobody in it, nobody on the way and no connection open
//! stops after the idle grace (`[serve] instance_idle_grace_ms`), its players'
//! places checkpointed as they left; the next join starts it again from the
//! database, where it was.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use meridian_netcode::{ConnectionEvents, ConnectionId, Server};
use meridian_protocol::messages::DisconnectReason;
use meridian_shard_manager::SpawnHint;
use tokio::sync::oneshot;

use super::elements::ElementChange;
use super::moderation_orders::ModerationOrder;
use super::persist::StorageTasks;
use super::seats::SeatQueue;
use super::sim_pool::{self, FromWorker, ToWorker, WorkerFigures, WorkerHandle, WorkerSetup};

pub(crate) use super::instance::{Instance, InstanceFigures};

/// The room an instance runs, and where its seat changes go.
pub(crate) struct Room {
    pub(crate) space: i64,
    pub(crate) id: i64,
    pub(crate) number: u32,
    pub(crate) seats: SeatQueue,
}

/// What the HTTP side asks of the zone thread about instances.
pub(crate) enum InstanceOrder {
    /// A join of `room`: if its instance runs, `hint` waits there and the
    /// answer is its number; `None` if it does not run.
    Join {
        room: i64,
        hint: SpawnHint,
        reply: oneshot::Sender<Option<u32>>,
    },
    /// Runs this instance (built by the HTTP side after `Join` said none
    /// ran) and joins it. If another join started one meanwhile, that one is
    /// joined and this one dropped. The answer is the number joined; `None`
    /// if `max_instances` already run.
    Start {
        instance: Box<Instance>,
        hint: SpawnHint,
        max_instances: usize,
        reply: oneshot::Sender<Option<u32>>,
    },
    /// A placement changed in `space` (applied in its running instances;
    /// the next start reads it from the database).
    Element { space: i64, change: ElementChange },
    /// This shard lost the lease of `room`'s instance (a cluster shard): the
    /// instance stops at once and its players are told to join again.
    Fence { room: i64 },
    /// The shard drains: every running instance is frozen and handed on
    /// (see [`super::hand_on`]); each one's storage comes back on `handed`,
    /// and the answer is how many there are.
    HandOn {
        handed: super::hand_on::HandedQueue,
        reply: oneshot::Sender<usize>,
    },
    /// A handed-on instance's last checkpoint is written (or not: then
    /// `reason` is `ServerShutdown`) and its lease released: its players are
    /// told `reason` and it goes.
    Moved {
        number: u32,
        reason: DisconnectReason,
    },
    /// Whether `room`'s instance runs here.
    Runs {
        room: i64,
        reply: oneshot::Sender<bool>,
    },
}

/// Where a running instance is, as the zone thread knows it.
struct Running {
    space_id: i64,
    room: i64,
    worker: usize,
    /// Joins sent to it (its spawn hints), numbered.
    joins: u64,
    /// Its worker's latest figures.
    latest: Option<WorkerFigures>,
}

/// The router on the zone thread: which instances run on which worker, which
/// connection belongs to which instance, and when an empty one stops. Every
/// decision about which instances run is taken here, so joins and stops never
/// race: a stop is sent only when the worker saw the instance empty for its
/// grace after the last join sent to it.
pub(crate) struct Instances {
    running: HashMap<u32, Running>,
    by_room: HashMap<i64, u32>,
    routes: HashMap<ConnectionId, u32>,
    /// Connections the zone thread writes to itself (a WebSocket, the task
    /// driver): an instance's transmits to them come back through it, not
    /// straight to the event loop.
    outboxed: HashSet<ConnectionId>,
    workers: Vec<WorkerHandle>,
    from_workers: Receiver<FromWorker>,
    idle_grace: Duration,
    /// Where discarded instances' storage finishes writing.
    runtime: tokio::runtime::Handle,
    started: u64,
    stopped: u64,
    /// Muted and hidden lines of the instances stopped so far.
    moderated_before_stop: (u64, u64),
    /// Instances' tick durations (seconds) reported since the last
    /// [`Self::take_tick_seconds`].
    tick_seconds: Vec<f64>,
    /// Where the rooms of stopped instances are told (a cluster shard gives
    /// their leases up).
    stop_notices: Option<tokio::sync::mpsc::UnboundedSender<i64>>,
    /// Instances being handed on (the shard drains), and their workers: their
    /// connections are still routed there until they are told to go.
    handing: HashMap<u32, usize>,
}

impl Instances {
    /// `threads` simulation workers ticking every `tick`; an empty instance
    /// stops after `idle_grace`. Instances still running at the end leave
    /// their storage in `left_running`.
    pub(crate) fn new(
        threads: usize,
        tick: Duration,
        idle_grace: Duration,
        runtime: tokio::runtime::Handle,
        left_running: Arc<Mutex<Vec<StorageTasks>>>,
    ) -> std::io::Result<Self> {
        let (outbox, from_workers) = crossbeam_channel::unbounded();
        let setup = WorkerSetup {
            tick,
            outbox,
            runtime: runtime.clone(),
            left_running,
        };
        let workers = (0..threads.max(1))
            .map(|index| sim_pool::spawn(index, &setup))
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self {
            running: HashMap::new(),
            by_room: HashMap::new(),
            routes: HashMap::new(),
            outboxed: HashSet::new(),
            workers,
            from_workers,
            idle_grace,
            runtime,
            started: 0,
            stopped: 0,
            moderated_before_stop: (0, 0),
            tick_seconds: Vec::new(),
            stop_notices: None,
            handing: HashMap::new(),
        })
    }

    /// From now on the room of every instance that stops is sent to `notices`.
    pub(crate) fn notify_stops(&mut self, notices: tokio::sync::mpsc::UnboundedSender<i64>) {
        self.stop_notices = Some(notices);
    }

    /// Wakes the zone thread when a worker has something for it.
    pub(crate) fn worker_batches(&self) -> Receiver<FromWorker> {
        self.from_workers.clone()
    }

    /// Carries out an order; `world` is the server that takes new connections.
    pub(crate) fn take_order(&mut self, order: InstanceOrder, world: &mut Server) {
        match order {
            InstanceOrder::Join { room, hint, reply } => {
                let number = self.by_room.get(&room).copied();
                if let Some(number) = number {
                    self.join(number, hint);
                }
                let _ = reply.send(number);
            }
            InstanceOrder::Start {
                instance,
                hint,
                max_instances,
                reply,
            } => {
                if let Some(&number) = self.by_room.get(&instance.room) {
                    self.join(number, hint);
                    let _ = reply.send(Some(number));
                    instance.discard(&self.runtime);
                    return;
                }
                if self.running.len() >= max_instances {
                    let _ = reply.send(None);
                    instance.discard(&self.runtime);
                    return;
                }
                let number = instance.number;
                // The least loaded worker.
                let worker = (0..self.workers.len())
                    .min_by_key(|index| self.workers[*index].load)
                    .unwrap_or(0);
                tracing::info!(
                    space = instance.space_id,
                    room = instance.room_number,
                    instance = number,
                    worker,
                    "instance started"
                );
                world.serve_elsewhere(number);
                self.by_room.insert(instance.room, number);
                self.running.insert(
                    number,
                    Running {
                        space_id: instance.space_id,
                        room: instance.room,
                        worker,
                        joins: 1,
                        latest: None,
                    },
                );
                self.workers[worker].load += 1;
                self.workers[worker].pending.push(ToWorker::Start {
                    instance,
                    hint,
                    join: 1,
                });
                self.started += 1;
                let _ = reply.send(Some(number));
            }
            InstanceOrder::Fence { room } => {
                if let Some(&number) = self.by_room.get(&room) {
                    self.stop(number, world, ToWorker::Fence { number });
                }
            }
            InstanceOrder::HandOn { handed, reply } => {
                let _ = reply.send(self.hand_on_all(&handed, world));
            }
            InstanceOrder::Moved { number, reason } => {
                if let Some(&worker) = self.handing.get(&number) {
                    self.workers[worker]
                        .pending
                        .push(ToWorker::Moved { number, reason });
                }
            }
            InstanceOrder::Runs { room, reply } => {
                let _ = reply.send(self.by_room.contains_key(&room));
            }
            InstanceOrder::Element { space, change } => {
                let workers: HashSet<usize> = self
                    .running
                    .values()
                    .filter(|running| running.space_id == space)
                    .map(|running| running.worker)
                    .collect();
                for worker in workers {
                    self.workers[worker].pending.push(ToWorker::Element {
                        space,
                        change: change.clone(),
                    });
                }
            }
        }
    }

    fn join(&mut self, number: u32, hint: SpawnHint) {
        if let Some(running) = self.running.get_mut(&number) {
            running.joins += 1;
            self.workers[running.worker].pending.push(ToWorker::Join {
                number,
                hint,
                join: running.joins,
            });
        }
    }

    /// Hands the connections the world's server passed on to their
    /// instances' workers. One whose instance stopped in between goes back to
    /// the world's server, which refuses it as for another space.
    pub(crate) fn take_redirects(&mut self, world: &mut Server, now: Instant) {
        while let Some(redirect) = world.poll_redirect() {
            match self.running.get(&redirect.space) {
                Some(running) => {
                    let connection = redirect.connection;
                    self.routes.insert(connection, redirect.space);
                    let pending = &mut self.workers[running.worker].pending;
                    pending.push(ToWorker::Redirect(redirect));
                    if self.outboxed.remove(&connection) {
                        pending.push(ToWorker::ThroughZone(connection));
                    }
                }
                None => world.handle_redirected(now, &redirect),
            }
        }
    }

    /// `connection` is written by the zone thread itself (it has an outbox):
    /// should it go to an instance, that instance's transmits to it come
    /// back through the zone thread.
    pub(crate) fn outboxed(&mut self, connection: ConnectionId) {
        self.outboxed.insert(connection);
    }

    /// The worker of the instance that `connection` belongs to, if any.
    fn worker_of(&mut self, connection: ConnectionId) -> Option<&mut WorkerHandle> {
        let number = self.routes.get(&connection)?;
        let worker = match self.running.get(number) {
            Some(running) => running.worker,
            None => *self.handing.get(number)?,
        };
        self.workers.get_mut(worker)
    }

    /// Queues `order` for the worker of `connection`'s instance; `false` if
    /// the connection belongs to none.
    pub(crate) fn forward(&mut self, connection: ConnectionId, order: ToWorker) -> bool {
        match self.worker_of(connection) {
            Some(worker) => {
                worker.pending.push(order);
                true
            }
            None => false,
        }
    }

    /// The transport lost `connection`: its instance (if it had one) hears
    /// it, and the route is forgotten. `false` if it had no instance.
    pub(crate) fn closed(&mut self, connection: ConnectionId) -> bool {
        self.outboxed.remove(&connection);
        let forwarded = self.forward(connection, ToWorker::Closed { connection });
        self.routes.remove(&connection);
        forwarded
    }

    /// Takes a worker's batch: its figures (stopping instances empty for
    /// their grace), and its transmits, which the caller hands out.
    pub(crate) fn take_from_worker(&mut self, batch: &mut FromWorker, world: &mut Server) {
        let Some(figures) = batch.figures.take() else {
            return;
        };
        let now = Instant::now();
        let mut idle = Vec::new();
        for latest in figures {
            let number = latest.figures.number;
            let Some(running) = self.running.get_mut(&number) else {
                continue;
            };
            if latest.joins_seen == running.joins
                && latest
                    .empty_since
                    .is_some_and(|since| now.saturating_duration_since(since) >= self.idle_grace)
            {
                idle.push(number);
            }
            self.tick_seconds.push(latest.tick_seconds);
            running.latest = Some(latest);
        }
        for number in idle {
            self.stop(number, world, ToWorker::Stop { number });
            tracing::info!(
                instance = number,
                "instance stopped: empty for its idle grace"
            );
        }
    }

    /// Forgets instance `number` here and sends its worker `order` (a stop,
    /// or a fence), and its room to the stop notices.
    fn stop(&mut self, number: u32, world: &mut Server, order: ToWorker) {
        let Some(running) = self.forget(number, world) else {
            return;
        };
        self.routes.retain(|_, routed| *routed != number);
        self.workers[running.worker].pending.push(order);
        if let Some(notices) = &self.stop_notices {
            let _ = notices.send(running.room);
        }
    }

    /// Instance `number` no longer runs here: no join or new connection
    /// finds it.
    fn forget(&mut self, number: u32, world: &mut Server) -> Option<Running> {
        let running = self.running.remove(&number)?;
        world.stop_serving_elsewhere(number);
        if let Some(latest) = &running.latest {
            self.moderated_before_stop.0 += latest.figures.muted_lines;
            self.moderated_before_stop.1 += latest.figures.hidden_lines;
        }
        self.by_room.remove(&running.room);
        self.stopped += 1;
        let worker = &mut self.workers[running.worker];
        worker.load = worker.load.saturating_sub(1);
        Some(running)
    }

    /// Hands every running instance on (the shard drains): each is
    /// forgotten for joins, its connections stay routed to its worker, which
    /// freezes it and sends its storage to `handed`. No stop notice: its
    /// lease is released only once its last checkpoint is written.
    fn hand_on_all(&mut self, handed: &super::hand_on::HandedQueue, world: &mut Server) -> usize {
        let numbers: Vec<u32> = self.running.keys().copied().collect();
        for &number in &numbers {
            if let Some(running) = self.forget(number, world) {
                self.handing.insert(number, running.worker);
                self.workers[running.worker].pending.push(ToWorker::HandOn {
                    number,
                    room: running.room,
                    handed: handed.clone(),
                });
            }
        }
        numbers.len()
    }

    /// From now on the workers hand their transmits straight to the event
    /// loop through `exchange` (a tick's batch, one wake-up of the loop),
    /// without a pass through the zone thread.
    pub(crate) fn submit_to(&mut self, exchange: &Arc<meridian_netcode::transport::Exchange>) {
        for worker in &mut self.workers {
            worker.pending.push(ToWorker::SubmitTo(exchange.clone()));
            worker.flush();
        }
    }

    /// Sends each worker what this pass gathered for it, in one batch.
    pub(crate) fn flush(&mut self) {
        for worker in &mut self.workers {
            worker.flush();
        }
    }

    /// Every worker checkpoints its players and says goodbye (at shutdown).
    pub(crate) fn shut_down(&mut self) {
        for worker in &mut self.workers {
            worker.pending.push(ToWorker::ShutDown);
            worker.flush();
        }
    }

    /// Applies a moderation order in every instance (an account may be in any).
    pub(crate) fn moderate(&mut self, order: &ModerationOrder) {
        for worker in &mut self.workers {
            worker.pending.push(ToWorker::Moderation(order.clone()));
        }
    }

    /// Tests: blocks the worker of instance `number` (it says so on
    /// `stalled`) until `go` says go.
    #[cfg(test)]
    pub(crate) fn stall_worker_of(
        &mut self,
        number: u32,
        stalled: crossbeam_channel::Sender<()>,
        go: Receiver<()>,
    ) {
        if let Some(running) = self.running.get(&number) {
            let worker = &mut self.workers[running.worker];
            worker.pending.push(ToWorker::Stall { stalled, go });
            worker.flush();
        }
    }

    /// The instances' tick durations reported since the last call, seconds.
    pub(crate) fn take_tick_seconds(&mut self) -> Vec<f64> {
        std::mem::take(&mut self.tick_seconds)
    }

    /// Chat lines muted and deliveries hidden by blocks in every instance,
    /// the stopped ones included.
    pub(crate) fn moderated_lines(&self) -> (u64, u64) {
        self.running
            .values()
            .filter_map(|running| running.latest.as_ref())
            .fold(self.moderated_before_stop, |(muted, hidden), latest| {
                (
                    muted + latest.figures.muted_lines,
                    hidden + latest.figures.hidden_lines,
                )
            })
    }

    /// The running instances' figures, and how many started and stopped.
    pub(crate) fn figures(&self) -> (Vec<InstanceFigures>, u64, u64) {
        let mut figures: Vec<InstanceFigures> = self
            .running
            .values()
            .filter_map(|running| running.latest.as_ref())
            .map(|latest| latest.figures.clone())
            .collect();
        figures.sort_by_key(|figures| figures.number);
        (figures, self.started, self.stopped)
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        // The zone thread is stopping: each worker ends once its inbox is
        // gone, leaving its instances' storage for the process to finish;
        // wait for that, so that nothing is left unwritten.
        for worker in &mut self.workers {
            let (closed, _) = crossbeam_channel::bounded(0);
            worker.inbox = closed;
            if let Some(thread) = worker.thread.take()
                && thread.join().is_err()
            {
                tracing::error!("a simulation thread ended abnormally");
            }
        }
    }
}

/// The connection events of the shared transport, routed: to the instance a
/// connection was handed to (through its worker), else to the world's server.
pub(crate) struct Dispatch<'a> {
    pub(crate) world: &'a mut Server,
    pub(crate) instances: &'a mut Instances,
}

impl ConnectionEvents for Dispatch<'_> {
    fn handle_connected(&mut self, now: Instant, connection: ConnectionId) {
        self.world.handle_connected(now, connection);
    }

    fn handle_stream(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]) {
        let order = ToWorker::Stream {
            connection,
            bytes: bytes.to_vec(),
        };
        if !self.instances.forward(connection, order) {
            self.world.handle_stream(now, connection, bytes);
            // A hello for an instance: hand it over at once, so that the
            // rest of this batch reaches the right instance.
            self.instances.take_redirects(self.world, now);
        }
    }

    fn handle_datagram(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]) {
        if self.instances.routes.contains_key(&connection) {
            self.handle_datagram_bytes(now, connection, bytes::Bytes::copy_from_slice(bytes));
        } else {
            self.world.handle_datagram(now, connection, bytes);
        }
    }

    fn handle_datagram_bytes(
        &mut self,
        now: Instant,
        connection: ConnectionId,
        bytes: bytes::Bytes,
    ) {
        // The world's datagrams are read in place; an instance's go to its
        // simulation thread as they are (no copy).
        match self.instances.worker_of(connection) {
            Some(worker) => worker
                .pending
                .push(ToWorker::Datagram { connection, bytes }),
            None => self.world.handle_datagram(now, connection, &bytes),
        }
    }

    fn handle_closed(&mut self, now: Instant, connection: ConnectionId) {
        if !self.instances.closed(connection) {
            self.world.handle_closed(now, connection);
        }
    }

    fn awaiting_hello(&self, connection: ConnectionId) -> bool {
        // A connection handed to an instance passed the world's check of its
        // token: it no longer counts as pending for the transport's caps.
        !self.instances.routes.contains_key(&connection) && self.world.awaiting_hello(connection)
    }
}
