//! A draining cluster shard hands its instances on (issue #15, item 3).
//!
//! For each running instance, in this order:
//!
//! 1. The zone thread forgets it for joins and new connections, and its
//!    worker freezes it (its zone no longer ticks, so nobody moves any
//!    more), queues every player's place for a last checkpoint and closes
//!    its storage queues ([`super::instances::Instance::hand_on`]).
//! 2. Here, the storage tasks write what was queued; then the room's seats
//!    are released (awaited, so no join can find a seat of the old instance
//!    afterwards and a room never seats more than its capacity); only if
//!    every row was written (the database acknowledged it) is the room's
//!    lease released, so the next join starts it on another shard at once,
//!    restored from those rows.
//! 3. Its players are told [`DisconnectReason::Moved`]: they join again at
//!    once (the join endpoint of any shard names where the room runs now).
//!    If the last rows were not written, they are told `ServerShutdown`
//!    instead and the lease is left to lapse (at most
//!    [`super::instance_leases::LEASE_TTL`]), as after a crash.
//!
//! Instances are handed on side by side; the freeze a player sees is one
//! checkpoint write, one lease release and one join.

use std::sync::Arc;
use std::time::{Duration, Instant};

use meridian_protocol::messages::DisconnectReason;
use tokio::sync::{mpsc, oneshot};

use meridian_persistence::Store;

use super::instance_leases::InstanceLeases;
use super::instances::InstanceOrder;
use super::persist::StorageTasks;

/// Where workers send the instances they froze.
pub(crate) type HandedQueue = mpsc::UnboundedSender<HandedOn>;

/// One frozen instance's storage, on its way to be finished.
pub(crate) struct HandedOn {
    /// The room it ran (its lease's key here).
    pub(crate) room: i64,
    /// Its number on this shard.
    pub(crate) number: u32,
    /// Players in it when it froze.
    pub(crate) players: usize,
    pub(crate) tasks: StorageTasks,
    /// The accounts seated in its room: their seats are released here.
    pub(crate) seated: Vec<i64>,
}

/// How long the zone thread and its workers get to freeze every instance.
const FREEZE_PATIENCE: Duration = Duration::from_secs(5);

/// What a drain did with the instances.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HandOnSummary {
    /// Instances handed on with every place written and the lease released.
    pub(crate) handed_on: usize,
    /// Instances whose last places were not all written (their players
    /// were told `ServerShutdown`; the lease lapses).
    pub(crate) unsaved: usize,
    /// Players told to join again elsewhere.
    pub(crate) players: usize,
}

/// Hands every instance running here on, as the module says; returns once
/// every one was handed on or given up. `orders` is the zone thread's queue.
pub(crate) async fn hand_on_instances(
    orders: &crossbeam_channel::Sender<InstanceOrder>,
    leases: &Arc<InstanceLeases>,
    store: &Store,
) -> HandOnSummary {
    let began = Instant::now();
    let (handed, mut frozen) = mpsc::unbounded_channel();
    let (reply, answer) = oneshot::channel();
    if orders
        .try_send(InstanceOrder::HandOn { handed, reply })
        .is_err()
    {
        tracing::error!("the zone thread took no hand-on order; instances stop with the process");
        return HandOnSummary::default();
    }
    let Ok(Ok(count)) = tokio::time::timeout(FREEZE_PATIENCE, answer).await else {
        tracing::error!("the zone thread did not answer the hand-on order");
        return HandOnSummary::default();
    };
    let mut finishing = tokio::task::JoinSet::new();
    for _ in 0..count {
        let Ok(Some(instance)) = tokio::time::timeout(FREEZE_PATIENCE, frozen.recv()).await else {
            tracing::error!("a simulation thread did not hand its instance over in time");
            break;
        };
        let leases = leases.clone();
        let orders = orders.clone();
        let store = store.clone();
        finishing.spawn(async move { finish(instance, &leases, &store, &orders).await });
    }
    let mut summary = HandOnSummary::default();
    while let Some(done) = finishing.join_next().await {
        let Ok((saved, players)) = done else { continue };
        summary.players += players;
        if saved {
            summary.handed_on += 1;
        } else {
            summary.unsaved += 1;
        }
    }
    tracing::info!(
        handed_on = summary.handed_on,
        unsaved = summary.unsaved,
        players = summary.players,
        took_ms = began.elapsed().as_millis() as u64,
        "instances handed on to the other shards"
    );
    summary
}

/// Writes one frozen instance's last rows, releases its lease if they were
/// all written, and tells its players; (whether saved, players).
async fn finish(
    instance: HandedOn,
    leases: &InstanceLeases,
    store: &Store,
    orders: &crossbeam_channel::Sender<InstanceOrder>,
) -> (bool, usize) {
    let saved = match instance.tasks.finish().await {
        Some(counters) => counters
            .lost_rows
            .load(std::sync::atomic::Ordering::Relaxed)
            .eq(&0),
        None => false,
    };
    for account in &instance.seated {
        if let Err(error) = store.release_seat(instance.room, *account).await {
            tracing::warn!(%error, "a handed-on player's seat was not released; it stays taken");
        }
    }
    let reason = if saved {
        leases.handed_on(instance.room).await;
        DisconnectReason::Moved
    } else {
        tracing::error!(
            instance = instance.number,
            "a handed-on instance's last places were not all written; its lease lapses"
        );
        leases.not_handed_on(instance.room);
        DisconnectReason::ServerShutdown
    };
    let told = orders.try_send(InstanceOrder::Moved {
        number: instance.number,
        reason,
    });
    if told.is_err() {
        tracing::warn!(
            instance = instance.number,
            "its players were not told to go; they leave when the process stops"
        );
    }
    (saved, instance.players)
}
