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

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meridian_netcode::{
    ConnectionEvents, ConnectionId, OneZone, Redirect, Server, SpawnHint, ZoneHost,
};
use meridian_protocol::messages::DisconnectReason;
use tokio::sync::oneshot;

use super::elements::{ElementChange, Elements};
use super::moderation::ModerationOrder;
use super::persist::{StorageTasks, ZoneStorage};
use super::seats::{SeatKeeper, SeatQueue};

/// A running copy of a space (one of its rooms), with everything it needs on
/// the zone thread.
pub(crate) struct Instance {
    /// The space it is a copy of.
    pub(crate) space_id: i64,
    /// The room it runs (see [`super::seats`]).
    pub(crate) room: i64,
    /// The room's number within its space, from 1.
    pub(crate) room_number: u32,
    /// Its number: what its realtime tokens name as their `space`.
    pub(crate) number: u32,
    pub(crate) host: ZoneHost<OneZone>,
    pub(crate) storage: ZoneStorage,
    pub(crate) tasks: StorageTasks,
    pub(crate) elements: Elements,
    /// Ticks between checkpoints.
    pub(crate) checkpoint_every: u64,
    seats: SeatKeeper,
    /// Chat lines said in it.
    messages: u64,
    /// Since when it has been empty (none while someone is in it or coming).
    empty_since: Option<Instant>,
}

impl Instance {
    /// An instance of `room` numbered `number`, not yet empty.
    pub(crate) fn new(
        room: Room,
        number: u32,
        host: ZoneHost<OneZone>,
        (storage, tasks): (ZoneStorage, StorageTasks),
        elements: Elements,
        checkpoint_every: u64,
    ) -> Self {
        Self {
            space_id: room.space,
            room: room.id,
            room_number: room.number,
            seats: SeatKeeper::new(room.id, room.seats),
            messages: 0,
            number,
            host,
            storage,
            tasks,
            elements,
            checkpoint_every,
            empty_since: None,
        }
    }

    /// Nobody in it, nobody expected, no connection open.
    fn is_empty(&mut self) -> bool {
        self.host.member_count() == 0
            && self.host.spawn_hints_waiting() == 0
            && self.host.server_ref().connection_count() == 0
    }
}

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
}

/// What one running instance looks like from outside, for metrics and
/// listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InstanceFigures {
    pub(crate) space_id: i64,
    pub(crate) room_number: u32,
    pub(crate) number: u32,
    pub(crate) players: usize,
    /// Chat lines said in it since it started.
    pub(crate) messages: u64,
}

/// The running instances, and which connection belongs to which.
pub(crate) struct Instances {
    running: HashMap<u32, Instance>,
    by_room: HashMap<i64, u32>,
    routes: HashMap<ConnectionId, u32>,
    idle_grace: Duration,
    /// Where stopped instances' storage finishes writing.
    runtime: tokio::runtime::Handle,
    /// The storage of instances still running when the zone thread stopped,
    /// for the process to finish before it closes the database.
    left_running: Arc<Mutex<Vec<StorageTasks>>>,
    started: u64,
    stopped: u64,
}

impl Instances {
    /// No instance yet; an empty one stops after `idle_grace`.
    pub(crate) fn new(
        idle_grace: Duration,
        runtime: tokio::runtime::Handle,
        left_running: Arc<Mutex<Vec<StorageTasks>>>,
    ) -> Self {
        Self {
            running: HashMap::new(),
            by_room: HashMap::new(),
            routes: HashMap::new(),
            idle_grace,
            runtime,
            left_running,
            started: 0,
            stopped: 0,
        }
    }

    /// Carries out an order; `world` is the server that takes new connections.
    pub(crate) fn take_order(&mut self, order: InstanceOrder, world: &mut Server, now: Instant) {
        match order {
            InstanceOrder::Join { room, hint, reply } => {
                let number = self.by_room.get(&room).copied();
                if let Some(instance) = number.and_then(|number| self.running.get_mut(&number)) {
                    instance.host.set_spawn_hint(now, hint);
                    instance.empty_since = None;
                }
                let _ = reply.send(number);
            }
            InstanceOrder::Start {
                instance,
                hint,
                max_instances,
                reply,
            } => {
                let mut instance = *instance;
                if let Some(&number) = self.by_room.get(&instance.room) {
                    if let Some(running) = self.running.get_mut(&number) {
                        running.host.set_spawn_hint(now, hint);
                        running.empty_since = None;
                    }
                    let _ = reply.send(Some(number));
                    self.discard(instance);
                    return;
                }
                if self.running.len() >= max_instances {
                    let _ = reply.send(None);
                    self.discard(instance);
                    return;
                }
                let number = instance.number;
                instance.host.set_spawn_hint(now, hint);
                tracing::info!(
                    space = instance.space_id,
                    room = instance.room_number,
                    instance = number,
                    "instance started"
                );
                world.serve_elsewhere(number);
                self.by_room.insert(instance.room, number);
                self.running.insert(number, instance);
                self.started += 1;
                let _ = reply.send(Some(number));
            }
            InstanceOrder::Element { space, change } => {
                let copies = self
                    .running
                    .values_mut()
                    .filter(|instance| instance.space_id == space);
                for instance in copies {
                    match &change {
                        ElementChange::Placed(placed) => {
                            instance.elements.place(instance.host.zones_mut(), placed);
                        }
                        ElementChange::Removed(placement) => {
                            instance
                                .elements
                                .remove(instance.host.zones_mut(), *placement);
                        }
                    }
                }
            }
        }
    }

    /// Hands the connections the world's server passed on to their
    /// instances' servers. One whose instance stopped in between goes back to
    /// the world's server, which refuses it as for another space.
    pub(crate) fn take_redirects(&mut self, world: &mut Server, now: Instant) {
        while let Some(redirect) = world.poll_redirect() {
            self.take_redirect(world, &redirect, now);
        }
    }

    fn take_redirect(&mut self, world: &mut Server, redirect: &Redirect, now: Instant) {
        match self.running.get_mut(&redirect.space) {
            Some(instance) => {
                instance.host.server().handle_redirected(now, redirect);
                self.routes.insert(redirect.connection, redirect.space);
            }
            None => world.handle_redirected(now, redirect),
        }
    }

    /// The server of the instance that `connection` belongs to, if any.
    pub(crate) fn server_of(&mut self, connection: ConnectionId) -> Option<&mut Server> {
        let number = self.routes.get(&connection)?;
        self.running
            .get_mut(number)
            .map(|instance| instance.host.server())
    }

    /// The transport lost `connection`: its instance (if it had one) hears
    /// it, and the route is forgotten. `false` if it had no instance.
    pub(crate) fn closed(&mut self, connection: ConnectionId, now: Instant) -> bool {
        let Some(number) = self.routes.remove(&connection) else {
            return false;
        };
        if let Some(instance) = self.running.get_mut(&number) {
            instance.host.server().handle_closed(now, connection);
        }
        true
    }

    /// Ticks every instance, stores what they produced, and stops those
    /// empty for the idle grace (not while `draining`: shutdown stops all).
    pub(crate) fn tick(&mut self, now: Instant, step: u64, draining: bool, world: &mut Server) {
        let mut idle = Vec::new();
        for (number, instance) in &mut self.running {
            instance.host.tick(now);
            let (_, said) =
                super::zone_loop::exchange_with_storage(&mut instance.host, &mut instance.storage);
            instance.messages += said as u64;
            let mut states = instance.host.take_departed();
            instance.seats.update(&instance.host, &states);
            if !draining && step.is_multiple_of(instance.checkpoint_every.max(1)) {
                states.extend(instance.host.member_states());
            }
            instance.storage.checkpoint(&states);
            if instance.is_empty() {
                let since = *instance.empty_since.get_or_insert(now);
                if !draining && now.saturating_duration_since(since) >= self.idle_grace {
                    idle.push(*number);
                }
            } else {
                instance.empty_since = None;
            }
        }
        for number in idle {
            self.stop(number, world);
        }
    }

    fn stop(&mut self, number: u32, world: &mut Server) {
        let Some(instance) = self.running.remove(&number) else {
            return;
        };
        world.stop_serving_elsewhere(number);
        self.by_room.remove(&instance.room);
        self.routes.retain(|_, routed| *routed != number);
        self.stopped += 1;
        tracing::info!(
            space = instance.space_id,
            room = instance.room_number,
            instance = number,
            "instance stopped: empty for its idle grace"
        );
        self.discard(instance);
    }

    /// Drops an instance; its storage writes what is queued, on the runtime.
    fn discard(&self, instance: Instance) {
        let number = instance.number;
        let Instance {
            storage,
            tasks,
            mut seats,
            ..
        } = instance;
        seats.release_all();
        // Its queues close here; the tasks write what is queued and end.
        drop(storage);
        self.runtime.spawn(async move {
            if tasks.finish().await.is_none() {
                tracing::error!(
                    instance = number,
                    "a stopped instance's last writes did not reach the database in time"
                );
            }
        });
    }

    /// Everyone's place is checkpointed and every client told the server is
    /// going away (at shutdown).
    pub(crate) fn shut_down(&mut self) {
        for instance in self.running.values_mut() {
            let states = instance.host.member_states();
            instance.storage.checkpoint(&states);
        }
        let routed: Vec<(ConnectionId, u32)> = self
            .routes
            .iter()
            .map(|(connection, number)| (*connection, *number))
            .collect();
        for (connection, number) in routed {
            if let Some(instance) = self.running.get_mut(&number) {
                instance
                    .host
                    .server()
                    .disconnect(connection, DisconnectReason::ServerShutdown);
            }
        }
    }

    /// Every instance's server, to take their transmits.
    pub(crate) fn servers(&mut self) -> impl Iterator<Item = &mut Server> {
        self.running
            .values_mut()
            .map(|instance| instance.host.server())
    }

    /// Applies a moderation order in every instance (an account may be in any).
    pub(crate) fn moderate(&mut self, order: &ModerationOrder, now: Instant) {
        for instance in self.running.values_mut() {
            super::moderation::apply(&mut instance.host, order.clone(), now);
        }
    }

    /// The running instances' figures, and how many started and stopped.
    pub(crate) fn figures(&self) -> (Vec<InstanceFigures>, u64, u64) {
        let mut figures: Vec<InstanceFigures> = self
            .running
            .values()
            .map(|instance| InstanceFigures {
                space_id: instance.space_id,
                room_number: instance.room_number,
                number: instance.number,
                players: instance.host.member_count(),
                messages: instance.messages,
            })
            .collect();
        figures.sort_by_key(|figures| figures.number);
        (figures, self.started, self.stopped)
    }
}

impl Drop for Instances {
    fn drop(&mut self) {
        // The zone thread is stopping: the process finishes their writes.
        if let Ok(mut left) = self.left_running.lock() {
            for (_, instance) in self.running.drain() {
                let Instance {
                    storage,
                    tasks,
                    mut seats,
                    ..
                } = instance;
                seats.release_all();
                drop(storage);
                left.push(tasks);
            }
        }
    }
}

/// The connection events of the shared transport, routed: to the instance a
/// connection was handed to, else to the world's server.
pub(crate) struct Dispatch<'a> {
    pub(crate) world: &'a mut Server,
    pub(crate) instances: &'a mut Instances,
}

impl ConnectionEvents for Dispatch<'_> {
    fn handle_connected(&mut self, now: Instant, connection: ConnectionId) {
        self.world.handle_connected(now, connection);
    }

    fn handle_stream(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]) {
        match self.instances.server_of(connection) {
            Some(server) => server.handle_stream(now, connection, bytes),
            None => {
                self.world.handle_stream(now, connection, bytes);
                // A hello for an instance: hand it over at once, so that the
                // rest of this batch reaches the right server.
                self.instances.take_redirects(self.world, now);
            }
        }
    }

    fn handle_datagram(&mut self, now: Instant, connection: ConnectionId, bytes: &[u8]) {
        match self.instances.server_of(connection) {
            Some(server) => server.handle_datagram(now, connection, bytes),
            None => self.world.handle_datagram(now, connection, bytes),
        }
    }

    fn handle_closed(&mut self, now: Instant, connection: ConnectionId) {
        if !self.instances.closed(connection, now) {
            self.world.handle_closed(now, connection);
        }
    }

    fn awaiting_hello(&self, connection: ConnectionId) -> bool {
        match self.instances.routes.get(&connection) {
            Some(number) => self
                .instances
                .running
                .get(number)
                .is_some_and(|instance| instance.host.server_ref().awaiting_hello(connection)),
            None => self.world.awaiting_hello(connection),
        }
    }
}
