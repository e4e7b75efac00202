//! A cluster shard's instance leases: which rooms' instances this shard runs
//! by the ledger (`Store::acquire_instance_lease`), kept renewed, and fenced
//! when they cannot be.
//!
//! A join of a room whose instance runs nowhere takes the room's lease for
//! this shard before the instance is built; one whose lease another shard
//! holds is sent to that shard's gateway (the lease row names it). The
//! renewal task renews every held lease once a second. The shard trusts a
//! lease until `sent + ttl - safety`, where `sent` is when it sent the
//! request that granted or renewed it, so it stops before the ledger's expiry
//! lets anyone else in. A lease that was refused, or not renewed in time
//! (the database down past the lease, a partition), is fenced: the zone
//! thread stops its instance and tells its players to join again. An
//! instance that stops (idle, or at shutdown) gives its lease up at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use meridian_persistence::{InstanceLeaseOutcome, InstanceRoom, Store, StoreError};

use super::instances::InstanceOrder;

/// How long an instance lease lasts in the ledger.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(5);

/// How long before the ledger's expiry a shard stops trusting a lease.
const SAFETY: Duration = Duration::from_millis(1_000);

/// How often held leases are renewed.
const RENEW_EVERY: Duration = Duration::from_millis(1_000);

/// Where a room's instance runs, as the ledger says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// Here: this shard holds the lease (just taken or renewed).
    Here,
    /// On the shard whose gateway (HTTP address) this is.
    Elsewhere(String),
}

/// A lease this shard holds.
#[derive(Debug, Clone, Copy)]
struct Held {
    room: InstanceRoom,
    epoch: i64,
    trusted_until: Instant,
}

/// Counts for the metrics page.
#[derive(Debug, Default)]
pub(crate) struct LeaseCounters {
    /// Leases granted to this shard (new or taken over).
    pub(crate) acquired: AtomicU64,
    /// Leases lost: refused at renewal or not renewed in time.
    pub(crate) lost: AtomicU64,
    /// Leases given up (the instance stopped).
    pub(crate) released: AtomicU64,
    /// Instances handed on at drain: every place written, then the lease
    /// given up (also counted in `released`).
    pub(crate) handed_on: AtomicU64,
    /// Instances whose last places were not all written at drain: their
    /// leases are left to lapse.
    pub(crate) not_handed_on: AtomicU64,
}

/// This shard's instance leases, by room id.
pub(crate) struct InstanceLeases {
    store: Store,
    /// The shard's name in the ledger (its id, as for zone leases).
    holder: String,
    /// Its gateway: the HTTP address joins of its instances are sent to.
    gateway: String,
    held: Mutex<HashMap<i64, Held>>,
    /// Fences the zone thread's full queue refused, sent again next round.
    unsent_fences: Mutex<Vec<i64>>,
    pub(crate) counters: LeaseCounters,
}

impl InstanceLeases {
    pub(crate) fn new(store: Store, holder: String, gateway: String) -> Self {
        Self {
            store,
            holder,
            gateway,
            held: Mutex::new(HashMap::new()),
            unsent_fences: Mutex::new(Vec::new()),
            counters: LeaseCounters::default(),
        }
    }

    /// How many leases it holds now.
    pub(crate) fn held_count(&self) -> usize {
        self.held.lock().map_or(0, |held| held.len())
    }

    /// Whether it holds `room_id`'s lease and may still trust it.
    pub(crate) fn holds(&self, room_id: i64) -> bool {
        self.held.lock().is_ok_and(|held| {
            held.get(&room_id)
                .is_some_and(|lease| lease.trusted_until > Instant::now())
        })
    }

    /// Its figures, in Prometheus text.
    pub(crate) fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let count = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP meridian_instance_leases_held Instance leases this shard holds: the instances placed on it.\n# TYPE meridian_instance_leases_held gauge\nmeridian_instance_leases_held {}",
            self.held_count()
        );
        let _ = writeln!(
            out,
            "# HELP meridian_instance_leases_total Instance lease changes on this shard: acquired (new or taken over), lost (refused or not renewed in time: the instance was fenced), released (the instance stopped).\n# TYPE meridian_instance_leases_total counter\nmeridian_instance_leases_total{{outcome=\"acquired\"}} {}\nmeridian_instance_leases_total{{outcome=\"lost\"}} {}\nmeridian_instance_leases_total{{outcome=\"released\"}} {}",
            count(&self.counters.acquired),
            count(&self.counters.lost),
            count(&self.counters.released)
        );
        let _ = writeln!(
            out,
            "# HELP meridian_instance_handoffs_total Instances a draining shard handed on: handed_on (every place written, then the lease given up), unsaved (the last places were not all written: the lease lapses).\n# TYPE meridian_instance_handoffs_total counter\nmeridian_instance_handoffs_total{{outcome=\"handed_on\"}} {}\nmeridian_instance_handoffs_total{{outcome=\"unsaved\"}} {}",
            count(&self.counters.handed_on),
            count(&self.counters.not_handed_on)
        );
    }

    /// Where the instance of `room` (room id `room_id`) may run: here if
    /// this shard got its lease, else where its holder is.
    pub(crate) async fn acquire(
        &self,
        room_id: i64,
        room: InstanceRoom,
    ) -> Result<Placement, StoreError> {
        let sent = Instant::now();
        let outcome = self
            .store
            .acquire_instance_lease(
                room,
                &self.holder,
                &self.gateway,
                now_ms(),
                LEASE_TTL.as_millis() as i64,
            )
            .await?;
        match outcome {
            InstanceLeaseOutcome::Granted(lease) => {
                let Ok(mut held) = self.held.lock() else {
                    return Ok(Placement::Here);
                };
                let trusted_until = sent + LEASE_TTL - SAFETY;
                let known = held.insert(
                    room_id,
                    Held {
                        room,
                        epoch: lease.epoch,
                        trusted_until,
                    },
                );
                if known.is_none_or(|known| known.epoch != lease.epoch) {
                    self.counters.acquired.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        space = room.space_id,
                        room = room.room_number,
                        epoch = lease.epoch,
                        "instance lease acquired"
                    );
                }
                Ok(Placement::Here)
            }
            InstanceLeaseOutcome::HeldBy(lease) => Ok(Placement::Elsewhere(lease.gateway)),
        }
    }

    /// Where the instance of `room` runs now, by the ledger: None when no
    /// shard holds an unexpired lease on it.
    pub(crate) async fn holder_of(
        &self,
        room: InstanceRoom,
    ) -> Result<Option<Placement>, StoreError> {
        let lease = self.store.instance_lease(room).await?;
        Ok(lease.filter(|lease| lease.is_live(now_ms())).map(|lease| {
            if lease.holder == self.holder {
                Placement::Here
            } else {
                Placement::Elsewhere(lease.gateway)
            }
        }))
    }

    /// The instance of `room_id` stopped here: its lease is given up, so the
    /// next join may start it anywhere at once.
    pub(crate) async fn release(&self, room_id: i64) {
        let Some(lease) = self
            .held
            .lock()
            .ok()
            .and_then(|mut held| held.remove(&room_id))
        else {
            return;
        };
        match self
            .store
            .release_instance_lease(lease.room, &self.holder, lease.epoch)
            .await
        {
            Ok(true) => {
                self.counters.released.fetch_add(1, Ordering::Relaxed);
            }
            Ok(false) => tracing::warn!(
                space = lease.room.space_id,
                room = lease.room.room_number,
                "an instance lease to give up was no longer ours"
            ),
            Err(error) => tracing::warn!(
                space = lease.room.space_id,
                %error,
                "an instance lease was not given up; it lapses"
            ),
        }
    }

    /// The instance of `room_id` was handed on (its last places written):
    /// its lease is given up.
    pub(crate) async fn handed_on(&self, room_id: i64) {
        self.release(room_id).await;
        self.counters.handed_on.fetch_add(1, Ordering::Relaxed);
    }

    /// The instance of `room_id` was handed on without its last places all
    /// written: its lease is forgotten, not given up, so it lapses (the
    /// next holder restores what was written before).
    pub(crate) fn not_handed_on(&self, room_id: i64) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(&room_id);
        }
        self.counters.not_handed_on.fetch_add(1, Ordering::Relaxed);
    }

    /// Gives every lease up (at shutdown, once nothing is simulated).
    pub(crate) async fn release_all(&self) {
        let rooms: Vec<i64> = self
            .held
            .lock()
            .map(|held| held.keys().copied().collect())
            .unwrap_or_default();
        let count = rooms.len();
        for room in rooms {
            self.release(room).await;
        }
        tracing::info!(released = count, "instance leases given up");
    }

    /// Renews every held lease once; those refused or past their trust are
    /// forgotten and their instances fenced through `orders`.
    async fn renew_once(&self, orders: &crossbeam_channel::Sender<InstanceOrder>) {
        let unsent: Vec<i64> = self
            .unsent_fences
            .lock()
            .map(|mut unsent| std::mem::take(&mut *unsent))
            .unwrap_or_default();
        for room_id in unsent {
            self.send_fence(room_id, orders);
        }
        let leases: Vec<(i64, Held)> = self
            .held
            .lock()
            .map(|held| held.iter().map(|(room, lease)| (*room, *lease)).collect())
            .unwrap_or_default();
        for (room_id, lease) in leases {
            let sent = Instant::now();
            let patience = lease.trusted_until.saturating_duration_since(sent);
            let renewed = tokio::time::timeout(
                patience,
                self.store.renew_instance_lease(
                    lease.room,
                    &self.holder,
                    lease.epoch,
                    now_ms(),
                    LEASE_TTL.as_millis() as i64,
                ),
            )
            .await;
            let keep = match renewed {
                Ok(Ok(true)) => {
                    if let Ok(mut held) = self.held.lock()
                        && let Some(entry) = held.get_mut(&room_id)
                        && entry.epoch == lease.epoch
                    {
                        entry.trusted_until = sent + LEASE_TTL - SAFETY;
                    }
                    true
                }
                Ok(Ok(false)) => false,
                // Not answered: kept while it may still be trusted.
                Ok(Err(_)) | Err(_) => Instant::now() < lease.trusted_until,
            };
            if !keep {
                self.fence(room_id, lease, orders);
            }
        }
    }

    fn fence(&self, room_id: i64, lease: Held, orders: &crossbeam_channel::Sender<InstanceOrder>) {
        let removed = self.held.lock().is_ok_and(|mut held| {
            held.get(&room_id)
                .is_some_and(|entry| entry.epoch == lease.epoch)
                && held.remove(&room_id).is_some()
        });
        if !removed {
            return;
        }
        self.counters.lost.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            space = lease.room.space_id,
            room = lease.room.room_number,
            epoch = lease.epoch,
            "instance lease lost: the instance stops and its players are told to join again"
        );
        self.send_fence(room_id, orders);
    }

    /// Tells the zone thread to stop `room_id`'s instance; with its queue
    /// full, the order waits for the next renewal round.
    fn send_fence(&self, room_id: i64, orders: &crossbeam_channel::Sender<InstanceOrder>) {
        if orders
            .try_send(InstanceOrder::Fence { room: room_id })
            .is_err()
            && let Ok(mut unsent) = self.unsent_fences.lock()
        {
            unsent.push(room_id);
        }
    }

    /// Renews held leases until the process stops; also fences, on each
    /// round, any lease whose trust ran out meanwhile.
    pub(crate) async fn renew_forever(
        self: std::sync::Arc<Self>,
        orders: crossbeam_channel::Sender<InstanceOrder>,
    ) {
        let mut every = tokio::time::interval(RENEW_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            self.renew_once(&orders).await;
        }
    }
}

fn now_ms() -> i64 {
    i64::try_from(super::ledger::now_ms()).unwrap_or(i64::MAX)
}
