//! Seats in rooms, seen from the simulation threads: a join reserves a seat (on the
//! HTTP side, in the database), the player's arrival in the room's instance
//! takes it, and its departure releases it, so a reserved seat nobody takes
//! lapses and a room's count is the people in it or on their way.
//!
//! A simulation thread never waits on the database: each instance notices
//! arrivals and departures each tick ([`SeatKeeper`]) and queues the changes (a tokio
//! queue's `try_send`, which needs no runtime) for one writer task
//! ([`start_writer`]).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use meridian_persistence::{SeatError, Store};
use meridian_shard_manager::{MemberState, OneZone, ZoneHost};

/// Seat changes waiting for the database, at most.
const QUEUE: usize = 8_192;

/// How often lapsed reservations are released even without joins.
const LAPSE_SWEEP: Duration = Duration::from_secs(30);

/// What happened to a seat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeatChange {
    /// The account arrived in the room.
    Taken { room: i64, account: i64 },
    /// The account left the room.
    Released { room: i64, account: i64 },
}

/// Where seat changes go, and what was lost on the way.
#[derive(Clone)]
pub(crate) struct SeatQueue {
    sender: tokio::sync::mpsc::Sender<SeatChange>,
    /// Changes that did not fit the queue (a seat taken late, or released
    /// only when it lapses).
    pub(crate) dropped: Arc<AtomicU64>,
}

impl SeatQueue {
    fn push(&self, change: SeatChange) {
        if self.sender.try_send(change).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Starts the task that writes seat changes, and releases lapsed
/// reservations every [`LAPSE_SWEEP`].
pub(crate) fn start_writer(store: Store) -> (SeatQueue, tokio::task::JoinHandle<()>) {
    let (sender, mut changes) = tokio::sync::mpsc::channel::<SeatChange>(QUEUE);
    let queue = SeatQueue {
        sender,
        dropped: Arc::new(AtomicU64::new(0)),
    };
    let task = tokio::spawn(async move {
        let mut sweep = tokio::time::interval(LAPSE_SWEEP);
        loop {
            tokio::select! {
                change = changes.recv() => match change {
                    Some(change) => write(&store, change).await,
                    // Every queue is gone: what was queued is written.
                    None => return,
                },
                _ = sweep.tick() => {
                    if let Err(error) = store.release_expired(super::persist::now_seconds()).await {
                        tracing::warn!(%error, "lapsed seats were not released");
                    }
                }
            }
        }
    });
    (queue, task)
}

async fn write(store: &Store, change: SeatChange) {
    let outcome = match change {
        SeatChange::Taken { room, account } => store
            .take_seat(room, account, super::persist::now_seconds())
            .await
            .map(|()| true),
        SeatChange::Released { room, account } => store
            .release_seat(room, account)
            .await
            .map_err(SeatError::from),
    };
    match outcome {
        Ok(_) => {}
        // Arrived after the reservation lapsed (or was never made: a join
        // of the room before this process restarted): the player is in the
        // room all the same; the next join counts them by the database.
        Err(SeatError::NotSeated) => {
            tracing::debug!(?change, "a seat to take was no longer reserved");
        }
        Err(error) => tracing::warn!(%error, ?change, "a seat change was not written"),
    }
}

/// Who is seated in one room's instance, as far as the database was told.
pub(crate) struct SeatKeeper {
    room: i64,
    seated: HashSet<u64>,
    queue: SeatQueue,
}

impl SeatKeeper {
    pub(crate) fn new(room: i64, queue: SeatQueue) -> Self {
        Self {
            room,
            seated: HashSet::new(),
            queue,
        }
    }

    /// Takes the seats of members who arrived since the last call and
    /// releases those of the `departed`.
    pub(crate) fn update(&mut self, host: &ZoneHost<OneZone>, departed: &[MemberState]) {
        for state in departed {
            if self.seated.remove(&state.account) {
                self.queue.push(SeatChange::Released {
                    room: self.room,
                    account: state.account as i64,
                });
            }
        }
        if host.member_count() == self.seated.len() {
            return;
        }
        for state in host.member_states() {
            if self.seated.insert(state.account) {
                self.queue.push(SeatChange::Taken {
                    room: self.room,
                    account: state.account as i64,
                });
            }
        }
    }

    /// The accounts seated now, forgotten here without a change queued: the
    /// caller releases their seats itself (a drain does, in order, before
    /// the players are told to join again).
    pub(crate) fn take_seated(&mut self) -> Vec<i64> {
        self.seated.drain().map(|account| account as i64).collect()
    }

    /// Everyone still seated leaves (the instance stops or the process does).
    pub(crate) fn release_all(&mut self) {
        for account in self.seated.drain() {
            self.queue.push(SeatChange::Released {
                room: self.room,
                account: account as i64,
            });
        }
    }
}
