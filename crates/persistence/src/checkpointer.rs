//! The write-behind checkpointer: zones hand batches of dirty character state
//! to it without waiting; one task writes them, one transaction per write
//! (statements of a few fixed shapes, see `Store::checkpoint_characters`).
//!
//! What waits to be written is a set with one row per character, the newest:
//! a batch queued while a write is under way (or while the database stalls)
//! replaces older rows of the same characters instead of queueing behind them
//! (counted in [`CheckpointCounters::coalesced_rows`]). So memory is bounded
//! by the number of characters, whatever the database does. A write that
//! fails goes back into the set under any newer rows and is tried again: a
//! queued row is never dropped while the checkpointer runs. After every
//! queue handle is dropped the task writes what is left and ends; only then
//! do [`FINAL_ATTEMPTS`] failed writes in a row give the rest up (counted in
//! [`CheckpointCounters::lost_rows`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::characters::CharacterState;
use crate::store::Store;

/// Failed writes in a row, after the queue closed, before the rest is given up.
const FINAL_ATTEMPTS: u32 = 3;

/// The longest pause between two attempts of a failing write.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Counters of the checkpointer, shared with metrics.
#[derive(Debug, Default)]
pub struct CheckpointCounters {
    /// Writes done (each one transaction).
    pub writes: AtomicU64,
    /// Character rows written.
    pub rows: AtomicU64,
    /// Write attempts that failed (their rows are tried again).
    pub failed_writes: AtomicU64,
    /// Rows given up at shutdown because the database kept failing.
    pub lost_rows: AtomicU64,
    /// Queued rows replaced by a newer row of the same character before they
    /// were written.
    pub coalesced_rows: AtomicU64,
    /// Rows waiting to be written now (a gauge): at most one per character.
    pub pending_rows: AtomicU64,
}

/// Why a batch was not queued.
#[derive(Debug, PartialEq)]
#[non_exhaustive]
pub enum QueueError {
    /// The checkpointer task has ended; the batch is handed back.
    Closed(Vec<CharacterState>),
}

/// Newest row per (account, space), waiting for the writer.
type Rows = HashMap<(i64, i64), CharacterState>;

#[derive(Debug, Default)]
struct Pending {
    rows: Rows,
    /// Every queue handle is gone: write what is left and end.
    closed: bool,
    /// The task has ended: nothing more will be written.
    ended: bool,
}

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
    counters: Arc<CheckpointCounters>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        // The lock guards plain data that every holder leaves consistent.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds rows under any newer ones already waiting (`newer`: these rows
    /// are newer and replace waiting ones).
    fn merge(&self, pending: &mut Pending, rows: Vec<CharacterState>, newer: bool) {
        let mut coalesced = 0;
        for row in rows {
            let key = (row.account_id, row.space_id);
            match pending.rows.entry(key) {
                std::collections::hash_map::Entry::Occupied(mut waiting) => {
                    coalesced += 1;
                    if newer {
                        waiting.insert(row);
                    }
                }
                std::collections::hash_map::Entry::Vacant(slot) => {
                    slot.insert(row);
                }
            }
        }
        let counters = &self.counters;
        counters
            .coalesced_rows
            .fetch_add(coalesced, Ordering::Relaxed);
        counters
            .pending_rows
            .store(pending.rows.len() as u64, Ordering::Relaxed);
    }
}

/// The zones' end: queue batches without ever waiting. The task ends once
/// every clone is dropped.
#[derive(Debug, Clone)]
pub struct CheckpointQueue(Arc<QueueHandle>);

#[derive(Debug)]
struct QueueHandle(Arc<Shared>);

impl Drop for QueueHandle {
    fn drop(&mut self) {
        self.0.lock().closed = true;
        self.0.wake.notify_one();
    }
}

impl CheckpointQueue {
    /// Queues a batch: its rows replace the waiting rows of the same
    /// characters. Never waits for the database.
    pub fn try_queue(&self, batch: Vec<CharacterState>) -> Result<(), QueueError> {
        let shared = &self.0.0;
        {
            let mut pending = shared.lock();
            if pending.ended {
                return Err(QueueError::Closed(batch));
            }
            shared.merge(&mut pending, batch, true);
        }
        shared.wake.notify_one();
        Ok(())
    }

    /// The counters.
    pub fn counters(&self) -> Arc<CheckpointCounters> {
        self.0.0.counters.clone()
    }
}

/// The running checkpointer task.
#[derive(Debug)]
pub struct Checkpointer {
    task: JoinHandle<()>,
    counters: Arc<CheckpointCounters>,
}

impl Checkpointer {
    /// Starts the task on the current tokio runtime.
    pub fn spawn(store: Store) -> (Self, CheckpointQueue) {
        let shared = Arc::new(Shared::default());
        let counters = shared.counters.clone();
        let task = tokio::spawn(run(store, shared.clone()));
        let queue = CheckpointQueue(Arc::new(QueueHandle(shared)));
        (Self { task, counters }, queue)
    }

    /// The counters.
    pub fn counters(&self) -> Arc<CheckpointCounters> {
        self.counters.clone()
    }

    /// Waits until every queue handle is dropped and everything queued is
    /// written (or given up after [`FINAL_ATTEMPTS`] failures in a row).
    pub async fn finish(self) -> Arc<CheckpointCounters> {
        let _ = self.task.await;
        self.counters
    }
}

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// Marks the task ended however it ends, so queueing reports it.
struct Ended(Arc<Shared>);

impl Drop for Ended {
    fn drop(&mut self) {
        self.0.lock().ended = true;
    }
}

async fn run(store: Store, shared: Arc<Shared>) {
    let _ended = Ended(shared.clone());
    let counters = shared.counters.clone();
    let mut failures_in_a_row = 0u32;
    loop {
        let (rows, closed) = {
            let mut pending = shared.lock();
            let rows: Vec<CharacterState> = pending.rows.drain().map(|(_, row)| row).collect();
            counters.pending_rows.store(0, Ordering::Relaxed);
            (rows, pending.closed)
        };
        if rows.is_empty() {
            if closed {
                return;
            }
            shared.wake.notified().await;
            continue;
        }
        match store.checkpoint_characters(&rows, now_seconds()).await {
            Ok(()) => {
                failures_in_a_row = 0;
                counters.writes.fetch_add(1, Ordering::Relaxed);
                counters
                    .rows
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
            }
            Err(_) => {
                counters.failed_writes.fetch_add(1, Ordering::Relaxed);
                failures_in_a_row += 1;
                if closed && failures_in_a_row >= FINAL_ATTEMPTS {
                    counters
                        .lost_rows
                        .fetch_add(rows.len() as u64, Ordering::Relaxed);
                    return;
                }
                {
                    let mut pending = shared.lock();
                    shared.merge(&mut pending, rows, false);
                }
                let pause = Duration::from_millis(100 * u64::from(failures_in_a_row));
                tokio::time::sleep(pause.min(MAX_BACKOFF)).await;
            }
        }
    }
}
