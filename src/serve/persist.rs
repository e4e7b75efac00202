//! `meridian serve`'s durable side: the store, the checkpointer the zone thread
//! feeds, the task that stores chat lines before they are relayed, and the task
//! that commits inventory changes before they are acknowledged.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use meridian_netcode::ConnectionId;
use meridian_persistence::{
    CharacterState, CheckpointQueue, Checkpointer, DatabaseConfig, InventoryOutcome, Store,
};
use meridian_protocol::messages::{ChatChannel, InventoryResult, InventoryStatus};
use meridian_shard_manager::{InventoryRequest, MemberState, SaidLine};
use tokio::sync::mpsc;

/// Chat lines the zone may queue for storage before they are dropped (counted).
const CHAT_QUEUE: usize = 4_096;

/// How long shutdown waits for queued writes.
const FINISH_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Inventory changes the zone may queue for the database before it answers
/// `Busy`.
const INVENTORY_QUEUE: usize = 1_024;

/// How a chat channel is named in the stored history.
pub(crate) fn channel_name(channel: ChatChannel) -> &'static str {
    match channel {
        ChatChannel::Proximity => "proximity",
        ChatChannel::Zone => "zone",
    }
}

/// A stored channel name as the wire and the API spell it (the variant name
/// of `ChatChannel`: `Zone`, `Proximity`); an unknown name as it is.
pub(crate) fn wire_channel_name(stored: &str) -> &str {
    match stored {
        "proximity" => "Proximity",
        "zone" => "Zone",
        other => other,
    }
}

/// The room chat is stored under: the zone.
pub(crate) fn room_of(zone_id: u32) -> String {
    format!("zone-{zone_id}")
}

pub(crate) fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

/// Opens the database named by `url`, creating a SQLite file's folder.
pub(crate) async fn open(url: &str) -> anyhow::Result<Store> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let file = path.split('?').next().unwrap_or(path);
        if let Some(folder) = Path::new(file)
            .parent()
            .filter(|f| !f.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder)
                .with_context(|| format!("cannot create {}", folder.display()))?;
        }
    }
    Store::open(&DatabaseConfig::new(url))
        .await
        .with_context(|| format!("cannot open the database {url}"))
}

/// What the zone thread holds to persist without waiting.
pub(crate) struct ZoneStorage {
    pub(crate) space_id: i64,
    pub(crate) zone_id: u32,
    pub(crate) checkpoints: CheckpointQueue,
    pub(crate) chat: mpsc::Sender<SaidLine>,
    /// Lines stored, back for relaying.
    pub(crate) chat_stored: crossbeam_channel::Receiver<SaidLine>,
    pub(crate) chat_dropped: Arc<AtomicU64>,
    pub(crate) inventory: mpsc::Sender<InventoryRequest>,
    /// Committed or refused changes, back for answering.
    pub(crate) inventory_done: crossbeam_channel::Receiver<(ConnectionId, InventoryResult)>,
}

impl ZoneStorage {
    pub(crate) fn character(&self, state: &MemberState) -> CharacterState {
        Self::row(self.space_id, self.zone_id)(state)
    }

    /// The character row of a member state in this space and zone (a new row's
    /// inventory is empty).
    fn row(space_id: i64, zone_id: u32) -> impl Fn(&MemberState) -> CharacterState {
        move |state| CharacterState {
            account_id: state.account as i64,
            space_id,
            zone_id: i64::from(zone_id),
            x: f64::from(state.position.x),
            y: f64::from(state.position.y),
            heading: f64::from(state.heading),
            appearance: i64::from(state.appearance),
            inventory: "{}".to_owned(),
            inventory_version: 0,
        }
    }

    /// Queues these states without waiting: they replace the older rows of
    /// the same characters still waiting for the database, so a stalled
    /// database holds at most one row per character.
    pub(crate) fn checkpoint(&self, states: &[MemberState]) {
        if states.is_empty() {
            return;
        }
        let batch = states.iter().map(|state| self.character(state)).collect();
        // The checkpointer ends only after the zone thread drops this queue.
        let _ = self.checkpoints.try_queue(batch);
    }

    /// Queues lines for storage; a line that does not fit is dropped (and
    /// counted) unheard, because only stored lines are relayed.
    pub(crate) fn store_chat(&self, lines: Vec<SaidLine>) {
        for line in lines {
            if self.chat.try_send(line).is_err() {
                self.chat_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Queues inventory changes; the ones that do not fit come back to be
    /// answered `Busy`.
    pub(crate) fn change_inventory(
        &self,
        requests: Vec<InventoryRequest>,
    ) -> Vec<(ConnectionId, InventoryResult)> {
        let mut busy = Vec::new();
        for request in requests {
            if let Err(refused) = self.inventory.try_send(request) {
                let request = refused.into_inner();
                busy.push((
                    request.connection,
                    result_of(&request, 0, InventoryStatus::Busy),
                ));
            }
        }
        busy
    }
}

fn result_of(
    request: &InventoryRequest,
    quantity: u32,
    status: InventoryStatus,
) -> InventoryResult {
    InventoryResult {
        request: request.change.request,
        item: request.change.item.clone(),
        quantity,
        status,
    }
}

/// Commits one change and says what became of it.
async fn commit_inventory(
    store: &Store,
    character: &CharacterState,
    request: &InventoryRequest,
) -> InventoryResult {
    let outcome = store
        .change_inventory(
            character,
            &request.change.item,
            request.change.delta,
            now_seconds(),
        )
        .await;
    match outcome {
        Ok(InventoryOutcome::Applied { quantity, .. }) => {
            result_of(request, quantity, InventoryStatus::Applied)
        }
        Ok(InventoryOutcome::UnknownItem) => result_of(request, 0, InventoryStatus::UnknownItem),
        Ok(InventoryOutcome::NotEnough { held }) => {
            result_of(request, held, InventoryStatus::NotEnough)
        }
        Ok(InventoryOutcome::StackFull { held }) => {
            result_of(request, held, InventoryStatus::StackFull)
        }
        Err(error) => {
            tracing::error!(%error, "an inventory change was not written");
            result_of(request, 0, InventoryStatus::Unavailable)
        }
    }
}

/// The tasks behind a [`ZoneStorage`]; each ends once the zone thread drops
/// its queue, after writing everything queued.
pub(crate) struct StorageTasks {
    pub(crate) checkpointer: Checkpointer,
    pub(crate) chat: tokio::task::JoinHandle<()>,
    pub(crate) inventory: tokio::task::JoinHandle<()>,
}

impl StorageTasks {
    /// Waits for every task to write what was queued, for at most
    /// [`FINISH_DEADLINE`] (a database that is down must not hold the process
    /// forever); `None` if the deadline passed and the rest was abandoned.
    pub(crate) async fn finish(self) -> Option<Arc<meridian_persistence::CheckpointCounters>> {
        let chat_abort = self.chat.abort_handle();
        let inventory_abort = self.inventory.abort_handle();
        let all = async {
            let counters = self.checkpointer.finish().await;
            let _ = self.chat.await;
            let _ = self.inventory.await;
            counters
        };
        match tokio::time::timeout(FINISH_DEADLINE, all).await {
            Ok(counters) => Some(counters),
            Err(_) => {
                chat_abort.abort();
                inventory_abort.abort();
                None
            }
        }
    }
}

/// How often [`watch_checkpoints`] looks at the checkpointer's counters.
const CHECKPOINT_WATCH_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// How often, at most, failing checkpoints are said again.
const CHECKPOINT_FAILURES_LOGGED_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Says when checkpoints start failing (the database is away: the rows wait,
/// one per character, and are retried), again at most every
/// [`CHECKPOINT_FAILURES_LOGGED_EVERY`] while they fail, and when they are
/// written again. Ends once the checkpointer is gone.
async fn watch_checkpoints(
    counters: std::sync::Weak<meridian_persistence::CheckpointCounters>,
    zone_id: u32,
) {
    let mut failing_since: Option<(u64, std::time::Instant)> = None;
    let mut last_said = std::time::Instant::now();
    let (mut seen_failures, mut seen_writes) = (0, 0);
    loop {
        tokio::time::sleep(CHECKPOINT_WATCH_EVERY).await;
        let Some(counters) = counters.upgrade() else {
            return;
        };
        let failed = counters.failed_writes.load(Ordering::Relaxed);
        let pending = counters.pending_rows.load(Ordering::Relaxed);
        let writes = counters.writes.load(Ordering::Relaxed);
        let new_failures = failed > seen_failures;
        let new_writes = writes > seen_writes;
        let failed_before = seen_failures;
        (seen_failures, seen_writes) = (failed, writes);
        match failing_since {
            None if new_failures => {
                tracing::warn!(
                    zone = zone_id,
                    pending_rows = pending,
                    "checkpoints are not being written (is the database down?); they wait and are retried"
                );
                failing_since = Some((failed_before, std::time::Instant::now()));
                last_said = std::time::Instant::now();
            }
            Some((_, since))
                if new_failures && last_said.elapsed() >= CHECKPOINT_FAILURES_LOGGED_EVERY =>
            {
                tracing::warn!(
                    zone = zone_id,
                    pending_rows = pending,
                    failing_s = since.elapsed().as_secs(),
                    "checkpoints are still not being written"
                );
                last_said = std::time::Instant::now();
            }
            Some((first, since)) if new_writes => {
                tracing::info!(
                    zone = zone_id,
                    failed_attempts = failed.saturating_sub(first),
                    after_s = since.elapsed().as_secs(),
                    "checkpoints are written again"
                );
                failing_since = None;
            }
            _ => {}
        }
    }
}

/// Starts the checkpointer, the chat writer and the inventory writer for
/// `space_id`.
pub(crate) fn start(store: &Store, space_id: i64, zone_id: u32) -> (ZoneStorage, StorageTasks) {
    let (checkpointer, checkpoints) = Checkpointer::spawn(store.clone());
    tokio::spawn(watch_checkpoints(
        Arc::downgrade(&checkpointer.counters()),
        zone_id,
    ));
    let (chat, mut lines) = mpsc::channel::<SaidLine>(CHAT_QUEUE);
    let (stored_sender, chat_stored) = crossbeam_channel::unbounded();
    let chat_dropped = Arc::new(AtomicU64::new(0));
    let writer_store = store.clone();
    let room = room_of(zone_id);
    let unstored = chat_dropped.clone();
    let chat_task = tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            let channel = channel_name(line.channel);
            let stored = writer_store
                .append_chat(
                    space_id,
                    &room,
                    line.account as i64,
                    channel,
                    &line.text,
                    now_seconds(),
                )
                .await;
            match stored {
                // The zone thread may have stopped; the line is stored anyway.
                Ok(_) => drop(stored_sender.send(line)),
                Err(error) => {
                    unstored.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(%error, "a chat line was not stored");
                }
            }
        }
    });
    let (inventory, mut requests) = mpsc::channel::<InventoryRequest>(INVENTORY_QUEUE);
    let (done_sender, inventory_done) = crossbeam_channel::unbounded();
    let inventory_store = store.clone();
    let zone = ZoneStorage::row(space_id, zone_id);
    let inventory_task = tokio::spawn(async move {
        // One change at a time, so each client's changes apply in order.
        while let Some(request) = requests.recv().await {
            let character = zone(&request.state);
            let result = commit_inventory(&inventory_store, &character, &request).await;
            drop(done_sender.send((request.connection, result)));
        }
    });
    let storage = ZoneStorage {
        space_id,
        zone_id,
        checkpoints,
        chat,
        chat_stored,
        chat_dropped,
        inventory,
        inventory_done,
    };
    let tasks = StorageTasks {
        checkpointer,
        chat: chat_task,
        inventory: inventory_task,
    };
    (storage, tasks)
}
