//! `meridian serve`'s durable side: the store, the checkpointer the zone thread
//! feeds, and the task that stores chat lines.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use meridian_netcode::{MemberState, SaidLine};
use meridian_persistence::{
    CharacterState, CheckpointQueue, Checkpointer, DatabaseConfig, QueueError, Store,
};
use meridian_protocol::messages::ChatChannel;
use tokio::sync::mpsc;

/// Chat lines the zone may queue for storage before they are dropped (counted).
const CHAT_QUEUE: usize = 4_096;

/// Checkpoint batches queued at once.
const CHECKPOINT_QUEUE: usize = 8;

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
    pub(crate) chat_dropped: Arc<AtomicU64>,
    pending: Vec<CharacterState>,
}

impl ZoneStorage {
    pub(crate) fn character(&self, state: &MemberState) -> CharacterState {
        CharacterState {
            account_id: state.account as i64,
            space_id: self.space_id,
            zone_id: i64::from(self.zone_id),
            x: f64::from(state.position.x),
            y: f64::from(state.position.y),
            heading: f64::from(state.heading),
            appearance: i64::from(state.appearance),
            inventory: "[]".to_owned(),
            inventory_version: 0,
        }
    }

    /// Queues these states without waiting; a full queue keeps them for the
    /// next call (newer states of the same characters win in the checkpointer).
    pub(crate) fn checkpoint(&mut self, states: &[MemberState]) {
        let mut batch = std::mem::take(&mut self.pending);
        batch.extend(states.iter().map(|state| self.character(state)));
        if batch.is_empty() {
            return;
        }
        match self.checkpoints.try_queue(batch) {
            Ok(()) => {}
            Err(QueueError::Full(batch) | QueueError::Closed(batch)) => self.pending = batch,
        }
    }

    /// The last checkpoint at shutdown: waits (briefly) for room in the queue.
    pub(crate) fn final_checkpoint(&mut self, states: &[MemberState]) {
        self.checkpoint(states);
        for _ in 0..500 {
            if self.pending.is_empty() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
            self.checkpoint(&[]);
        }
    }

    pub(crate) fn store_chat(&self, lines: Vec<SaidLine>) {
        for line in lines {
            if self.chat.try_send(line).is_err() {
                self.chat_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Starts the checkpointer and the chat writer for `space_id`.
pub(crate) fn start(
    store: &Store,
    space_id: i64,
    zone_id: u32,
) -> (ZoneStorage, Checkpointer, tokio::task::JoinHandle<()>) {
    let (checkpointer, checkpoints) = Checkpointer::spawn(store.clone(), CHECKPOINT_QUEUE);
    let (chat, mut lines) = mpsc::channel::<SaidLine>(CHAT_QUEUE);
    let writer_store = store.clone();
    let room = room_of(zone_id);
    let chat_task = tokio::spawn(async move {
        while let Some(line) = lines.recv().await {
            let channel = match line.channel {
                ChatChannel::Proximity => "proximity",
                ChatChannel::Zone => "zone",
            };
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
            if let Err(error) = stored {
                eprintln!("meridian serve: a chat line was not stored: {error}");
            }
        }
    });
    let storage = ZoneStorage {
        space_id,
        zone_id,
        checkpoints,
        chat,
        chat_dropped: Arc::new(AtomicU64::new(0)),
        pending: Vec::new(),
    };
    (storage, checkpointer, chat_task)
}
