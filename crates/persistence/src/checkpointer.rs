//! The write-behind checkpointer: zones hand batches of dirty character state to
//! a bounded channel without waiting; one task writes them, newest state per
//! character, one batched statement per write. On shutdown every queued batch is
//! written before the task ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::JoinHandle;

use crate::characters::CharacterState;
use crate::store::Store;

/// How often a failed write is tried before its rows are counted as lost.
const ATTEMPTS: u32 = 3;

/// Counters of the checkpointer, shared with metrics.
#[derive(Debug, Default)]
pub struct CheckpointCounters {
    /// Writes done (each one statement per 3,000 rows, in one transaction).
    pub writes: AtomicU64,
    /// Character rows written.
    pub rows: AtomicU64,
    /// Writes that failed every attempt.
    pub failed_writes: AtomicU64,
    /// Rows of those writes.
    pub lost_rows: AtomicU64,
}

/// Why a batch was not queued.
#[derive(Debug, PartialEq)]
pub enum QueueError {
    /// The queue is full: keep the batch (merged with newer state) for the next
    /// checkpoint interval.
    Full(Vec<CharacterState>),
    /// The checkpointer has shut down.
    Closed(Vec<CharacterState>),
}

/// The zones' end: queue batches without ever waiting.
#[derive(Debug, Clone)]
pub struct CheckpointQueue(mpsc::Sender<Vec<CharacterState>>);

impl CheckpointQueue {
    /// Queues a batch, or hands it back at once.
    pub fn try_queue(&self, batch: Vec<CharacterState>) -> Result<(), QueueError> {
        self.0.try_send(batch).map_err(|error| match error {
            TrySendError::Full(batch) => QueueError::Full(batch),
            TrySendError::Closed(batch) => QueueError::Closed(batch),
        })
    }
}

/// The running checkpointer task.
#[derive(Debug)]
pub struct Checkpointer {
    task: JoinHandle<()>,
    counters: Arc<CheckpointCounters>,
}

impl Checkpointer {
    /// Starts the task on the current tokio runtime, with room for `capacity`
    /// queued batches.
    pub fn spawn(store: Store, capacity: usize) -> (Self, CheckpointQueue) {
        let (sender, receiver) = mpsc::channel(capacity.max(1));
        let counters = Arc::new(CheckpointCounters::default());
        let task = tokio::spawn(run(store, receiver, counters.clone()));
        (Self { task, counters }, CheckpointQueue(sender))
    }

    /// The counters.
    pub fn counters(&self) -> Arc<CheckpointCounters> {
        self.counters.clone()
    }

    /// Waits until every queue handle is dropped and everything queued is
    /// written.
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

async fn run(
    store: Store,
    mut receiver: mpsc::Receiver<Vec<CharacterState>>,
    counters: Arc<CheckpointCounters>,
) {
    let mut latest: HashMap<(i64, i64), CharacterState> = HashMap::new();
    while let Some(batch) = receiver.recv().await {
        // Take whatever else is already queued, newest state per character.
        for character in batch {
            latest.insert((character.account_id, character.space_id), character);
        }
        while let Ok(batch) = receiver.try_recv() {
            for character in batch {
                latest.insert((character.account_id, character.space_id), character);
            }
        }
        let rows: Vec<CharacterState> = latest.drain().map(|(_, character)| character).collect();
        write(&store, &rows, &counters).await;
    }
}

async fn write(store: &Store, rows: &[CharacterState], counters: &CheckpointCounters) {
    for attempt in 1..=ATTEMPTS {
        match store.checkpoint_characters(rows, now_seconds()).await {
            Ok(()) => {
                counters.writes.fetch_add(1, Ordering::Relaxed);
                counters
                    .rows
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
                return;
            }
            Err(_) if attempt < ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(_) => {
                counters.failed_writes.fetch_add(1, Ordering::Relaxed);
                counters
                    .lost_rows
                    .fetch_add(rows.len() as u64, Ordering::Relaxed);
            }
        }
    }
}
