//! The HTTP side of entering a space other than the process's world: reserve
//! a seat in one of its rooms (the fullest with a free seat, or a friend's;
//! see `Store::reserve_seat`), then find the room's running instance on the
//! zone thread, or build one from the database and hand it over (see
//! [`crate::serve::instances`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use meridian_netcode::{NetcodeConfig, Server, TokenAuthority};
use meridian_persistence::{
    InstanceRoom, Seat, SeatError, SeatState, SpaceSummary, Store, StoreError,
};
use meridian_shard_manager::{SpawnHint, ZoneHost};
use meridian_sim::{SimConfig, Zone};
use tokio::sync::{Mutex, oneshot};

use super::rate_limit::RateLimiter;
use crate::serve::elements::Elements;
use crate::serve::instance_leases::{InstanceLeases, Placement};
use crate::serve::instances::{Instance, InstanceOrder, Room};
use crate::serve::live::LiveMetrics;
use crate::serve::seats::SeatQueue;
use crate::serve::settings::SpawnPolicy;
use crate::serve::shard_loads::ShardLoads;

/// Accounts whose recent instance starts are remembered, at most.
const TRACKED_STARTERS: usize = 65_536;

/// How long a join waits for the zone thread to answer.
const ZONE_THREAD_PATIENCE: Duration = Duration::from_secs(5);

/// Why a space could not be entered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnterError {
    /// The room's instance runs on (or is placed on) another shard of the
    /// cluster: join through that shard's gateway, this HTTP address.
    #[error("this room's instance runs on another shard: join through {0}")]
    Elsewhere(String),
    /// As many instances run as the process allows.
    #[error("this server runs as many instances as it may ({0}); try again later")]
    TooManyInstances(usize),
    /// This account's joins started as many instances as it may in a minute.
    #[error("this account started too many instances lately")]
    TooManyStarts(Duration),
    /// The zone thread did not answer (stopping, or stalled).
    #[error("the zone thread did not answer")]
    ZoneThread,
    /// This server drains and no other shard can take the join now.
    #[error("this server is draining; join again through another")]
    Draining,
    /// The space's settings do not make a valid zone.
    #[error("the space cannot be simulated: {0}")]
    InvalidSpace(String),
    /// No seat: the space is full, or the friend to join is not there or
    /// their room is full.
    #[error(transparent)]
    Seat(#[from] SeatError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts and finds instances for the join endpoint.
pub(crate) struct Entrance {
    orders: crossbeam_channel::Sender<InstanceOrder>,
    store: Store,
    sim: SimConfig,
    netcode: NetcodeConfig,
    authority: TokenAuthority,
    spawn: SpawnPolicy,
    seed: u64,
    checkpoint_interval_ms: u64,
    max_instances: usize,
    /// The world's number: never given to an instance.
    world: u32,
    /// The gateway id of this process's realtime tokens.
    gateway: u32,
    next_number: AtomicU32,
    /// One cold start at a time, so two first joins start one instance.
    starting: Mutex<()>,
    /// In cluster mode, this shard's instance leases: an instance runs here
    /// only under its lease.
    leases: Option<Arc<InstanceLeases>>,
    /// In cluster mode, the shards' loads: a cold start goes to the least
    /// loaded shard.
    loads: Option<Arc<ShardLoads>>,
    /// Where refused starts are counted.
    live: Arc<std::sync::Mutex<LiveMetrics>>,
    /// Where the rooms' instances send their seat changes.
    seats: SeatQueue,
    /// Instances each account's joins may start a minute.
    starts: std::sync::Mutex<RateLimiter<u64>>,
    /// How long a reserved seat waits for its player.
    seat_lifetime: Duration,
    /// The voice port's handle, when voice is on: each instance gets its own.
    voice: Option<crate::serve::voice::VoiceRelay>,
    /// Set when the process drains: no join is seated here any more.
    draining: std::sync::atomic::AtomicBool,
}

/// Where a join was seated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entered {
    /// The instance: what the realtime token names as its `space`.
    pub(crate) number: u32,
    /// The room within the space, from 1.
    pub(crate) room_number: u32,
}

/// What an [`Entrance`] is built from.
pub(crate) struct EntranceSettings {
    pub(crate) sim: SimConfig,
    pub(crate) netcode: NetcodeConfig,
    pub(crate) authority: TokenAuthority,
    pub(crate) spawn: SpawnPolicy,
    pub(crate) seed: u64,
    pub(crate) checkpoint_interval_ms: u64,
    pub(crate) max_instances: usize,
    pub(crate) world: u32,
    /// The gateway id its realtime tokens are bound to (see
    /// `Server::set_gateway`): its instances admit those only.
    pub(crate) gateway: u32,
    pub(crate) leases: Option<Arc<InstanceLeases>>,
    /// The voice port's handle, when voice is on.
    pub(crate) voice: Option<crate::serve::voice::VoiceRelay>,
    pub(crate) loads: Option<Arc<ShardLoads>>,
    pub(crate) live: Arc<std::sync::Mutex<LiveMetrics>>,
    pub(crate) seats: SeatQueue,
    pub(crate) seat_lifetime: Duration,
    pub(crate) starts_per_account_per_minute: u32,
}

impl Entrance {
    pub(crate) fn new(
        orders: crossbeam_channel::Sender<InstanceOrder>,
        store: Store,
        settings: EntranceSettings,
    ) -> Self {
        Self {
            orders,
            store,
            sim: settings.sim,
            netcode: settings.netcode,
            authority: settings.authority,
            spawn: settings.spawn,
            seed: settings.seed,
            checkpoint_interval_ms: settings.checkpoint_interval_ms,
            max_instances: settings.max_instances,
            world: settings.world,
            gateway: settings.gateway,
            next_number: AtomicU32::new(settings.world.wrapping_add(1)),
            starting: Mutex::new(()),
            leases: settings.leases,
            loads: settings.loads,
            live: settings.live,
            seats: settings.seats,
            starts: std::sync::Mutex::new(RateLimiter::new(
                settings.starts_per_account_per_minute,
                TRACKED_STARTERS,
            )),
            seat_lifetime: settings.seat_lifetime,
            voice: settings.voice,
            draining: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// From now on no join is seated here: each is sent to the shard that
    /// runs its room, or to the least loaded other one (a cluster), or
    /// refused as draining.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Where a join goes while this process drains.
    async fn elsewhere_while_draining(&self, room: InstanceRoom) -> EnterError {
        if let Some(leases) = &self.leases
            && let Ok(Some(Placement::Elsewhere(gateway))) = leases.holder_of(room).await
        {
            return EnterError::Elsewhere(gateway);
        }
        // Its load entry is withdrawn: the least loaded is another shard.
        if let Some(loads) = &self.loads
            && let Some(gateway) = loads.elsewhere().await
        {
            return EnterError::Elsewhere(gateway.to_string());
        }
        EnterError::Draining
    }

    /// Seats the account of `hint` in a room of `space` (with `with`'s, if
    /// given) and leaves `hint` at the room's instance, starting it if none
    /// runs. When it fails, a seat it reserved is released. In a cluster, a
    /// room whose instance runs nowhere starts on the least loaded shard,
    /// unless `placed` (the join was sent here by another shard's placement:
    /// it starts here).
    pub(crate) async fn enter(
        &self,
        space: &SpaceSummary,
        hint: SpawnHint,
        with: Option<i64>,
        placed: bool,
    ) -> Result<Entered, EnterError> {
        let account = hint.account as i64;
        let now = crate::serve::persist::now_seconds();
        let seat = self
            .store
            .reserve_seat(space.id, account, with, now, self.seat_lifetime)
            .await?;
        match self.enter_room(space, seat, hint, placed).await {
            Ok(number) => Ok(Entered {
                number,
                room_number: seat.number,
            }),
            Err(failed) => {
                // Nothing reserved by a failed join (a seat already taken
                // belongs to a connection still in the room). A join sent on
                // to another shard keeps its seat: that shard's join of the
                // same account finds it.
                if seat.state == SeatState::Reserved
                    && !matches!(failed, EnterError::Elsewhere(_))
                    && let Err(error) = self.store.release_seat(seat.room, account).await
                {
                    tracing::warn!(%error, "a failed join's seat was not released; it lapses");
                }
                Err(failed)
            }
        }
    }

    async fn enter_room(
        &self,
        space: &SpaceSummary,
        seat: Seat,
        hint: SpawnHint,
        placed: bool,
    ) -> Result<u32, EnterError> {
        let room = InstanceRoom {
            space_id: space.id,
            room_number: i64::from(seat.number),
        };
        if self.draining.load(Ordering::Relaxed) {
            return Err(self.elsewhere_while_draining(room).await);
        }
        if let Some(number) = self.join_placed(seat.room, room, hint).await? {
            return Ok(number);
        }
        let _one_start = self.starting.lock().await;
        // Started by the join that held the lock before us?
        if let Some(number) = self.join_placed(seat.room, room, hint).await? {
            return Ok(number);
        }
        // A cold start costs a zone, a thread's time and database work: each
        // account may cause only so many a minute.
        let allowed = self.starts.lock().map_or(Ok(()), |mut starts| {
            starts.attempt(&hint.account, std::time::Instant::now())
        });
        if let Err(wait) = allowed {
            self.count_refusal(|live| live.instance_starts_refused_by_account += 1);
            return Err(EnterError::TooManyStarts(wait));
        }
        // Placement by load: the least loaded live shard starts it.
        if !placed
            && let Some(loads) = &self.loads
            && let Some(gateway) = loads.elsewhere().await
        {
            return Err(EnterError::Elsewhere(gateway.to_string()));
        }
        // In a cluster the instance starts here only under its lease, taken
        // now (under the start lock, so an idle stop's release cannot undo it).
        if let Some(leases) = &self.leases
            && let Placement::Elsewhere(gateway) = leases.acquire(seat.room, room).await?
        {
            return Err(EnterError::Elsewhere(gateway));
        }
        let number = self.start(space, seat, hint).await;
        if number.is_err()
            && let Some(leases) = &self.leases
        {
            leases.release(seat.room).await;
        }
        number
    }

    /// Builds the instance of `seat`'s room and runs it with `hint` waiting.
    async fn start(
        &self,
        space: &SpaceSummary,
        seat: Seat,
        hint: SpawnHint,
    ) -> Result<u32, EnterError> {
        let instance = self.build(space, seat).await?;
        let (reply, answer) = oneshot::channel();
        self.send(InstanceOrder::Start {
            instance: Box::new(instance),
            hint,
            max_instances: self.max_instances,
            reply,
        })?;
        match tokio::time::timeout(ZONE_THREAD_PATIENCE, answer).await {
            Ok(Ok(Some(number))) => Ok(number),
            Ok(Ok(None)) => {
                self.count_refusal(|live| live.instance_starts_refused += 1);
                Err(EnterError::TooManyInstances(self.max_instances))
            }
            Ok(Err(_)) | Err(_) => Err(EnterError::ZoneThread),
        }
    }

    /// Joins the instance of room `room_id` if it runs here (and, in a
    /// cluster, this shard still holds its lease); sends the join to the
    /// shard that holds the lease if another does; `None` if it runs nowhere.
    async fn join_placed(
        &self,
        room_id: i64,
        room: InstanceRoom,
        hint: SpawnHint,
    ) -> Result<Option<u32>, EnterError> {
        let Some(leases) = &self.leases else {
            return self.join(room_id, hint).await;
        };
        if leases.holds(room_id) {
            return self.join(room_id, hint).await;
        }
        match leases.holder_of(room).await? {
            Some(Placement::Elsewhere(gateway)) => Err(EnterError::Elsewhere(gateway)),
            Some(Placement::Here) | None => Ok(None),
        }
    }

    /// An instance of room `room_id` stopped on the zone thread (empty for
    /// its grace): its lease is given up unless a join started it again
    /// meanwhile. Taken under the start lock, so no cold start of the room
    /// is half done.
    pub(crate) async fn instance_stopped(&self, room_id: i64) {
        let Some(leases) = &self.leases else {
            return;
        };
        let _one_start = self.starting.lock().await;
        let (reply, answer) = oneshot::channel();
        if self
            .send(InstanceOrder::Runs {
                room: room_id,
                reply,
            })
            .is_err()
        {
            return;
        }
        if let Ok(Ok(false)) = tokio::time::timeout(ZONE_THREAD_PATIENCE, answer).await {
            leases.release(room_id).await;
        }
    }

    /// Tells the instance of `space`, if one runs, that a placement changed
    /// (a full queue only leaves the change to the instance's next start).
    pub(crate) fn element_changed(
        &self,
        space: i64,
        change: crate::serve::elements::ElementChange,
    ) {
        let _ = self.send(InstanceOrder::Element { space, change });
    }

    fn count_refusal(&self, count: impl FnOnce(&mut LiveMetrics)) {
        if let Ok(mut live) = self.live.lock() {
            count(&mut live);
        }
    }

    async fn join(&self, room: i64, hint: SpawnHint) -> Result<Option<u32>, EnterError> {
        let (reply, answer) = oneshot::channel();
        self.send(InstanceOrder::Join { room, hint, reply })?;
        match tokio::time::timeout(ZONE_THREAD_PATIENCE, answer).await {
            Ok(Ok(number)) => Ok(number),
            Ok(Err(_)) | Err(_) => Err(EnterError::ZoneThread),
        }
    }

    fn send(&self, order: InstanceOrder) -> Result<(), EnterError> {
        self.orders
            .try_send(order)
            .map_err(|_| EnterError::ZoneThread)
    }

    /// A new instance of `space` for the room of `seat`: its zone sized to
    /// the space, its placed elements in place, its storage started.
    async fn build(&self, space: &SpaceSummary, seat: Seat) -> Result<Instance, EnterError> {
        let placed = self.store.placed_elements(space.id).await?;
        let sim = SimConfig {
            world_width: space.width as f32,
            world_height: space.height as f32,
            ..self.sim.clone()
        };
        let zone =
            Zone::new(sim.clone()).map_err(|error| EnterError::InvalidSpace(error.to_string()))?;
        let number = self.number();
        let mut server = Server::new(
            self.netcode.clone(),
            self.authority.clone(),
            number,
            std::time::Instant::now(),
            crate::serve::unix_now(),
        )
        .map_err(|error| EnterError::InvalidSpace(error.to_string()))?;
        server.set_gateway(self.gateway);
        let mut host = ZoneHost::new(zone, server, 0, self.seed ^ u64::from(number));
        crate::serve::configure_host(&mut host, self.spawn, &sim);
        let voice = self.voice.as_ref().map(|voice| voice.for_instance(number));
        host.set_voice_enabled(voice.is_some());
        let mut elements = Elements::default();
        for placement in &placed {
            elements.place(host.zones_mut(), placement);
        }
        let tick_ms = 1_000 / u64::from(sim.tick_rate_hz.max(1));
        let checkpoint_every = (self.checkpoint_interval_ms / tick_ms.max(1)).max(1);
        let room = Room {
            space: space.id,
            id: seat.room,
            number: seat.number,
            seats: self.seats.clone(),
        };
        Ok(Instance::new(
            room,
            number,
            host,
            crate::serve::persist::start(&self.store, space.id, 0),
            elements,
            checkpoint_every,
            voice,
        ))
    }

    /// A number no running instance and not the world has (numbers are not
    /// reused until the counter wraps, so an old token never fits a new
    /// instance).
    fn number(&self) -> u32 {
        loop {
            let number = self.next_number.fetch_add(1, Ordering::Relaxed);
            if number != self.world && number != 0 {
                return number;
            }
        }
    }
}
