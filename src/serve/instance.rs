//! One running instance (a copy of a space, one of its rooms) on its
//! simulation thread: its host, its storage, its voice handle and its
//! figures. The set of them, and every decision about which run, is
//! `instances`.

use std::time::Instant;

use meridian_netcode::ConnectionId;
use meridian_protocol::messages::DisconnectReason;
use meridian_shard_manager::{OneZone, ZoneHost};

use super::elements::{ElementChange, Elements};
use super::instances::Room;
use super::persist::{StorageTasks, ZoneStorage};
use super::seats::SeatKeeper;

/// A running copy of a space (one of its rooms), with everything it needs on
/// its simulation thread.
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
    /// Its handle on the voice port, when voice is on.
    voice: Option<super::voice::VoiceRelay>,
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
        voice: Option<super::voice::VoiceRelay>,
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
            voice,
        }
    }

    /// Nobody in it, nobody expected, no connection open.
    fn is_empty(&self) -> bool {
        self.host.member_count() == 0
            && self.host.spawn_hints_waiting() == 0
            && self.host.server_ref().connection_count() == 0
    }

    /// Ticks it, stores what it produced, and takes and releases seats;
    /// since when it has been empty, if it is.
    pub(crate) fn tick(&mut self, now: Instant, step: u64, draining: bool) -> Option<Instant> {
        self.host.tick(now);
        if let Some(voice) = &mut self.voice {
            voice.exchange(&mut self.host);
        }
        let (_, said) = super::zone_loop::exchange_with_storage(&mut self.host, &mut self.storage);
        self.messages += said as u64;
        let mut states = self.host.take_departed();
        self.seats.update(&self.host, &states);
        if !draining && step.is_multiple_of(self.checkpoint_every.max(1)) {
            states.extend(self.host.member_states());
        }
        self.storage.checkpoint(&states);
        if self.is_empty() {
            Some(*self.empty_since.get_or_insert(now))
        } else {
            self.empty_since = None;
            None
        }
    }

    /// Its figures now.
    pub(crate) fn figures(&self) -> InstanceFigures {
        InstanceFigures {
            space_id: self.space_id,
            room_number: self.room_number,
            number: self.number,
            players: self.host.member_count(),
            messages: self.messages,
            muted_lines: self.host.moderation().muted_lines(),
            hidden_lines: self.host.moderation().hidden_lines(),
            voice_members: self.host.voice_sessions(),
            voice_refusals: self.host.voice_refusals(),
            voice_traffic: self
                .voice
                .as_ref()
                .map(|voice| voice.traffic())
                .unwrap_or_default(),
        }
    }

    /// A placement changed in its space.
    pub(crate) fn apply_element(&mut self, change: &ElementChange) {
        match change {
            ElementChange::Placed(placed) => {
                self.elements.place(self.host.zones_mut(), placed);
            }
            ElementChange::Removed(placement) => {
                self.elements.remove(self.host.zones_mut(), *placement);
            }
        }
    }

    /// Everyone's place is checkpointed and every client told the server is
    /// going away (at shutdown).
    pub(crate) fn shut_down(&mut self) {
        let states = self.host.member_states();
        self.storage.checkpoint(&states);
        let connections: Vec<ConnectionId> = self.host.server_ref().connection_ids().collect();
        for connection in connections {
            self.host
                .server()
                .disconnect(connection, DisconnectReason::ServerShutdown);
        }
    }

    /// Its lease was lost: every client is told to join again (the reason
    /// clients take as "join again": the server went away), and nothing more
    /// is checkpointed, since another shard may run the room from now on.
    pub(crate) fn fence(&mut self) {
        let connections: Vec<ConnectionId> = self.host.server_ref().connection_ids().collect();
        for connection in connections {
            self.host
                .server()
                .disconnect(connection, DisconnectReason::ServerShutdown);
        }
    }

    /// Handed on (its shard drains): everyone's place, the departed's too,
    /// is queued for the last checkpoint and its storage's queues closed.
    /// The host stays, frozen, so its players can be told to go once the
    /// tasks returned here have written everything; the accounts seated in
    /// its room come back too, for their seats to be released before that.
    pub(crate) fn hand_on(self) -> (ZoneHost<OneZone>, StorageTasks, Vec<i64>) {
        let Self {
            mut host,
            storage,
            tasks,
            mut seats,
            voice,
            ..
        } = self;
        let mut states = host.take_departed();
        states.extend(host.member_states());
        storage.checkpoint(&states);
        if let Some(voice) = &voice {
            voice.forget();
        }
        let seated = seats.take_seated();
        drop(storage);
        (host, tasks, seated)
    }

    /// Its seats released and its storage's queues closed: the tasks that
    /// write what is queued, for the process to wait on.
    pub(crate) fn into_storage_tasks(self) -> StorageTasks {
        let Self {
            storage,
            tasks,
            mut seats,
            ..
        } = self;
        seats.release_all();
        // Its queues close here; the tasks write what is queued and end.
        drop(storage);
        tasks
    }

    /// Dropped (stopped, or not needed): its storage finishes writing on
    /// `runtime`.
    pub(crate) fn discard(self, runtime: &tokio::runtime::Handle) {
        let number = self.number;
        if let Some(voice) = &self.voice {
            voice.forget();
        }
        let tasks = self.into_storage_tasks();
        runtime.spawn(async move {
            if tasks.finish().await.is_none() {
                tracing::error!(
                    instance = number,
                    "a stopped instance's last writes did not reach the database in time"
                );
            }
        });
    }
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
    /// Lines dropped because their speaker was muted.
    pub(crate) muted_lines: u64,
    /// Deliveries skipped because of a block.
    pub(crate) hidden_lines: u64,
    /// Members with voice on (an offer sent and not ended).
    pub(crate) voice_members: usize,
    /// Voice offers its host refused, by reason.
    pub(crate) voice_refusals: meridian_shard_manager::VoiceRefusals,
    /// What its voice sessions sent and received through the voice port.
    pub(crate) voice_traffic: meridian_netcode::voice::RoomTraffic,
}
