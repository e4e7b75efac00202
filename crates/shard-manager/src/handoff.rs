//! One zone's side of handoffs, sans IO: which players it simulates as real,
//! which it has frozen on their way out, and which it holds prepared on their
//! way in.
//!
//! A handoff, from the source zone's point of view:
//!
//! 1. A real player walks past the border by the map's margin: **freeze** it
//!    (its inputs are buffered, not applied) and send `Prepare` to the
//!    destination.
//! 2. The destination holds it **prepared** (not real) and answers `Prepared`
//!    with its lease epoch.
//! 3. The source asks the ledger to **commit**: one compare-and-set of the
//!    player's row from (source, epoch, version) to (destination, epoch,
//!    version + 1) that also checks both leases.
//! 4. Moved: the source **switches the route** (the gateway now sends the
//!    player's inputs to the destination), releases the player, and sends
//!    `Committed` with the buffered inputs; the destination makes it real,
//!    applies each forwarded input whose sequence is newer than the last one
//!    applied (so exactly once), and sends the client a keyframe.
//!
//! An answer that never comes (a lost reply) is settled by reading the ledger,
//! never by a timeout: the row either shows the move (commit) or still shows the
//! source (ask again: the compare-and-set carries the version, so it can apply
//! at most once). Before the compare-and-set is asked, nothing is decided, so a
//! destination that does not answer lets the source unfreeze after a while.

use std::collections::BTreeMap;

use meridian_sim::Vec2;
use serde::{Deserialize, Serialize};

use crate::ids::{EntityId, Epoch, Owner, ZoneId};
use crate::ledger::{LedgerOp, LedgerReply};
use crate::zone_map::ZoneMap;

/// Ticks a source waits for `Prepared` before it unfreezes (nothing is decided
/// before the compare-and-set, so this wait is safe).
pub const PREPARE_PATIENCE: u32 = 20;

/// Ticks a prepared player waits between reads of the ledger while the source
/// has not said how its handoff ended.
pub const PREPARED_READ_EVERY: u32 = 10;

/// A player's state as a zone simulates it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Avatar {
    /// Where it stands, world metres.
    pub position: Vec2,
    /// The newest input sequence applied.
    pub last_input: u32,
}

/// One movement input, as the gateway forwards it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Input {
    /// Whose.
    pub entity: EntityId,
    /// Increases by one per input.
    pub sequence: u32,
    /// Displacement for one tick, metres.
    pub step: Vec2,
}

/// Names one handoff (unique per source zone and attempt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct HandoffId(pub u64);

/// What zones say to each other about handoffs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PeerMessage {
    /// Hold this player prepared.
    Prepare {
        /// Which attempt.
        handoff: HandoffId,
        /// Who.
        entity: EntityId,
        /// The row the source holds it under.
        from: Owner,
        /// Its state when frozen.
        avatar: Avatar,
    },
    /// Prepared, under this lease epoch.
    Prepared {
        /// Which attempt.
        handoff: HandoffId,
        /// Who.
        entity: EntityId,
        /// The destination's lease epoch.
        epoch: Epoch,
    },
    /// The ledger moved it: it is yours, with the inputs buffered meanwhile.
    Committed {
        /// Which attempt.
        handoff: HandoffId,
        /// Who.
        entity: EntityId,
        /// Inputs that arrived while frozen.
        inputs: Vec<Input>,
    },
    /// It stays (or went elsewhere): drop what you prepared.
    Aborted {
        /// Which attempt.
        handoff: HandoffId,
        /// Who.
        entity: EntityId,
    },
}

/// What a zone asks its driver to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send a message to another zone.
    Send {
        /// The zone.
        to: ZoneId,
        /// The message.
        message: PeerMessage,
    },
    /// Ask the ledger; hand its reply (or its loss) back to this zone.
    Ledger(LedgerOp),
    /// Tell the player's gateway to send its inputs to `to` from now on.
    Route {
        /// Who.
        entity: EntityId,
        /// The zone that owns it now.
        to: ZoneId,
    },
    /// Send the player a keyframe (it just arrived here).
    Keyframe {
        /// Who.
        entity: EntityId,
    },
    /// An input was applied (for checking "exactly once").
    Applied {
        /// Whose.
        entity: EntityId,
        /// Its sequence.
        sequence: u32,
    },
    /// An input came for a player this zone does not have: the gateway should
    /// look the owner up in the ledger.
    NotHere {
        /// Whose.
        entity: EntityId,
    },
    /// A handoff committed; it was frozen for this many ticks.
    HandedOff {
        /// Who.
        entity: EntityId,
        /// Ticks from freeze to commit.
        frozen_ticks: u32,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum OutPhase {
    AwaitPrepared { waited: u32 },
    Committing { op: LedgerOp },
}

/// A handoff leaving this zone. Its span (`handoff`: id, entity, both
/// zones) is the parent of each step's event and closes when it ends.
#[derive(Debug, Clone)]
struct Outgoing {
    handoff: HandoffId,
    to: ZoneId,
    from: Owner,
    avatar: Avatar,
    buffered: Vec<Input>,
    frozen_ticks: u32,
    phase: OutPhase,
    span: tracing::Span,
}

/// A handoff arriving in this zone, with its span as at the source.
#[derive(Debug, Clone)]
struct Incoming {
    handoff: HandoffId,
    from: Owner,
    avatar: Avatar,
    waited: u32,
    span: tracing::Span,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Real {
    owner: Owner,
    avatar: Avatar,
}

/// One zone's players and handoffs.
#[derive(Debug, Clone)]
pub struct ZoneAuthority {
    zone: ZoneId,
    epoch: Epoch,
    map: ZoneMap,
    real: BTreeMap<EntityId, Real>,
    outgoing: BTreeMap<EntityId, Outgoing>,
    incoming: BTreeMap<EntityId, Incoming>,
    pending: Vec<Input>,
    next_handoff: u64,
    effects: Vec<Effect>,
}

impl ZoneAuthority {
    /// Zone `zone`, simulated under lease epoch `epoch`.
    pub fn new(zone: ZoneId, epoch: Epoch, map: ZoneMap) -> Self {
        Self {
            zone,
            epoch,
            map,
            real: BTreeMap::new(),
            outgoing: BTreeMap::new(),
            incoming: BTreeMap::new(),
            pending: Vec::new(),
            next_handoff: 0,
            effects: Vec::new(),
        }
    }

    /// The zone.
    pub fn zone(&self) -> ZoneId {
        self.zone
    }

    /// The lease epoch it simulates under.
    pub fn epoch(&self) -> Epoch {
        self.epoch
    }

    /// The players simulated here as real, with their state.
    pub fn real(&self) -> impl Iterator<Item = (EntityId, Avatar)> + '_ {
        self.real
            .iter()
            .map(|(entity, real)| (*entity, real.avatar))
    }

    /// Players frozen here on their way out.
    pub fn frozen(&self) -> impl Iterator<Item = EntityId> + '_ {
        self.outgoing.keys().copied()
    }

    /// Players held prepared here on their way in.
    pub fn prepared(&self) -> impl Iterator<Item = EntityId> + '_ {
        self.incoming.keys().copied()
    }

    /// What the zone asked for since the last call.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// A player the ledger gave this zone (a join, or a reload after a
    /// takeover) becomes real here.
    pub fn adopt(&mut self, entity: EntityId, owner: Owner, avatar: Avatar) {
        if self.knows(entity) {
            // Already here (a claim answered twice): keep what is simulated.
            return;
        }
        self.incoming.remove(&entity);
        self.real.insert(entity, Real { owner, avatar });
        self.effects.push(Effect::Route {
            entity,
            to: self.zone,
        });
        self.effects.push(Effect::Keyframe { entity });
    }

    /// Whether the player is here in any form: real, frozen or prepared.
    pub fn knows(&self, entity: EntityId) -> bool {
        self.real.contains_key(&entity)
            || self.outgoing.contains_key(&entity)
            || self.incoming.contains_key(&entity)
    }

    /// Where a real player stands now, when a simulation (not this type's own
    /// input model) moves it. Frozen and prepared players are not touched.
    pub fn observe(&mut self, entity: EntityId, position: Vec2, last_input: u32) {
        if let Some(real) = self.real.get_mut(&entity) {
            real.avatar.position = position;
            real.avatar.last_input = last_input;
        }
    }

    /// The player left the world (disconnected): forget it here. Its owner row
    /// stays; it is claimed again when it returns.
    pub fn forget(&mut self, entity: EntityId) {
        self.real.remove(&entity);
        self.fenced(entity);
        self.incoming.remove(&entity);
    }

    /// Whether the player is frozen here, on its way out.
    pub fn is_frozen(&self, entity: EntityId) -> bool {
        self.outgoing.contains_key(&entity)
    }

    /// An input for one of this zone's players (applied at the next tick).
    pub fn input(&mut self, input: Input) {
        self.pending.push(input);
    }

    /// One tick: inputs, then border crossings, then patience.
    pub fn tick(&mut self) {
        for input in std::mem::take(&mut self.pending) {
            self.take_input(input);
        }
        let crossing: Vec<(EntityId, ZoneId)> = self
            .real
            .iter()
            .filter_map(|(entity, real)| {
                self.map
                    .handoff_target(self.zone, real.avatar.position)
                    .map(|to| (*entity, to))
            })
            .collect();
        for (entity, to) in crossing {
            self.freeze(entity, to);
        }
        let mut unfreeze = Vec::new();
        for (entity, out) in &mut self.outgoing {
            out.frozen_ticks += 1;
            if let OutPhase::AwaitPrepared { waited } = &mut out.phase {
                *waited += 1;
                if *waited > PREPARE_PATIENCE {
                    unfreeze.push(*entity);
                }
            }
        }
        for entity in unfreeze {
            self.abort(entity, "the destination did not answer in time");
        }
        for (entity, incoming) in &mut self.incoming {
            incoming.waited += 1;
            if incoming.waited.is_multiple_of(PREPARED_READ_EVERY) {
                self.effects
                    .push(Effect::Ledger(LedgerOp::Read { entity: *entity }));
            }
        }
    }

    fn take_input(&mut self, input: Input) {
        let entity = input.entity;
        if let Some(real) = self.real.get_mut(&entity) {
            if input.sequence > real.avatar.last_input {
                real.avatar.last_input = input.sequence;
                real.avatar.position = clamp(real.avatar.position + input.step, &self.map);
                self.effects.push(Effect::Applied {
                    entity,
                    sequence: input.sequence,
                });
            }
        } else if let Some(out) = self.outgoing.get_mut(&entity) {
            if input.sequence > out.avatar.last_input
                && out.buffered.iter().all(|b| b.sequence != input.sequence)
            {
                out.buffered.push(input);
            }
        } else if !self.incoming.contains_key(&entity) {
            self.effects.push(Effect::NotHere { entity });
        }
    }

    fn freeze(&mut self, entity: EntityId, to: ZoneId) {
        let Some(real) = self.real.remove(&entity) else {
            return;
        };
        self.next_handoff += 1;
        let handoff = HandoffId((u64::from(self.zone.0) << 40) | self.next_handoff);
        let span = handoff_span(handoff, entity, self.zone, to);
        tracing::debug!(parent: &span, "frozen; the destination is asked to prepare");
        self.outgoing.insert(
            entity,
            Outgoing {
                handoff,
                to,
                from: real.owner,
                avatar: real.avatar,
                buffered: Vec::new(),
                frozen_ticks: 0,
                phase: OutPhase::AwaitPrepared { waited: 0 },
                span,
            },
        );
        self.effects.push(Effect::Send {
            to,
            message: PeerMessage::Prepare {
                handoff,
                entity,
                from: real.owner,
                avatar: real.avatar,
            },
        });
    }

    /// Back to real here; the destination drops what it prepared.
    fn abort(&mut self, entity: EntityId, why: &'static str) {
        let Some(out) = self.outgoing.remove(&entity) else {
            return;
        };
        tracing::info!(parent: &out.span, why, "aborted; the player stays here");
        let mut avatar = out.avatar;
        for input in &out.buffered {
            if input.sequence > avatar.last_input {
                avatar.last_input = input.sequence;
                avatar.position = clamp(avatar.position + input.step, &self.map);
                self.effects.push(Effect::Applied {
                    entity,
                    sequence: input.sequence,
                });
            }
        }
        self.real.insert(
            entity,
            Real {
                owner: out.from,
                avatar,
            },
        );
        self.tell_aborted(&out, entity);
    }

    /// Someone else owns it now: forget it here.
    fn fenced(&mut self, entity: EntityId) {
        if let Some(out) = self.outgoing.remove(&entity) {
            tracing::warn!(parent: &out.span, "fenced: another zone owns the player now");
            self.tell_aborted(&out, entity);
        }
    }

    /// The destination drops what it prepared for this handoff.
    fn tell_aborted(&mut self, out: &Outgoing, entity: EntityId) {
        self.effects.push(Effect::Send {
            to: out.to,
            message: PeerMessage::Aborted {
                handoff: out.handoff,
                entity,
            },
        });
    }

    fn commit(&mut self, entity: EntityId) {
        let Some(out) = self.outgoing.remove(&entity) else {
            return;
        };
        tracing::debug!(
            parent: &out.span,
            frozen_ticks = out.frozen_ticks,
            buffered_inputs = out.buffered.len(),
            "committed; the route moves to the destination"
        );
        self.effects.push(Effect::Route { entity, to: out.to });
        self.effects.push(Effect::HandedOff {
            entity,
            frozen_ticks: out.frozen_ticks,
        });
        self.effects.push(Effect::Send {
            to: out.to,
            message: PeerMessage::Committed {
                handoff: out.handoff,
                entity,
                inputs: out.buffered,
            },
        });
    }

    /// A message from another zone.
    pub fn on_message(&mut self, message: PeerMessage) {
        match message {
            PeerMessage::Prepare {
                handoff,
                entity,
                from,
                avatar,
            } => {
                if self.real.contains_key(&entity) {
                    return;
                }
                let source = from.zone;
                let span = handoff_span(handoff, entity, source, self.zone);
                tracing::debug!(parent: &span, "prepared");
                self.incoming.insert(
                    entity,
                    Incoming {
                        handoff,
                        from,
                        avatar,
                        waited: 0,
                        span,
                    },
                );
                self.effects.push(Effect::Send {
                    to: source,
                    message: PeerMessage::Prepared {
                        handoff,
                        entity,
                        epoch: self.epoch,
                    },
                });
            }
            PeerMessage::Prepared {
                handoff,
                entity,
                epoch,
            } => {
                let Some(out) = self.outgoing.get_mut(&entity) else {
                    return;
                };
                if out.handoff != handoff || !matches!(out.phase, OutPhase::AwaitPrepared { .. }) {
                    return;
                }
                let op = LedgerOp::Move {
                    entity,
                    from: out.from,
                    to_zone: out.to,
                    to_epoch: epoch,
                };
                tracing::debug!(parent: &out.span, "the destination is prepared; the ledger is asked");
                out.phase = OutPhase::Committing { op: op.clone() };
                self.effects.push(Effect::Ledger(op));
            }
            PeerMessage::Committed {
                handoff,
                entity,
                inputs,
            } => {
                let arrived = self
                    .incoming
                    .get(&entity)
                    .filter(|incoming| incoming.handoff == handoff)
                    .map(|incoming| (incoming.from, incoming.avatar));
                if let Some((from, avatar)) = arrived {
                    self.arrive(entity, from, avatar);
                }
                // Forwarded inputs apply once, whether the ledger told us first or not.
                if self.real.contains_key(&entity) {
                    for input in inputs {
                        self.take_input(input);
                    }
                }
            }
            PeerMessage::Aborted { handoff, entity } => {
                if self
                    .incoming
                    .get(&entity)
                    .is_some_and(|incoming| incoming.handoff == handoff)
                    && let Some(incoming) = self.incoming.remove(&entity)
                {
                    tracing::debug!(parent: &incoming.span, "aborted by the source");
                }
            }
        }
    }

    fn arrive(&mut self, entity: EntityId, from: Owner, avatar: Avatar) {
        if let Some(incoming) = self.incoming.remove(&entity) {
            tracing::debug!(parent: &incoming.span, "arrived; the player is real here");
        }
        let owner = Owner {
            zone: self.zone,
            epoch: self.epoch,
            version: from.version + 1,
        };
        self.real.insert(entity, Real { owner, avatar });
        self.effects.push(Effect::Keyframe { entity });
    }

    /// The ledger's answer to an operation this zone asked for.
    pub fn on_ledger(&mut self, op: &LedgerOp, reply: &LedgerReply) {
        match (op, reply) {
            (LedgerOp::Move { entity, .. }, LedgerReply::Moved { moved: true, .. }) => {
                self.commit(*entity);
            }
            (LedgerOp::Move { entity, .. }, LedgerReply::Moved { owner, .. }) => {
                self.move_refused(*entity, *owner);
            }
            (LedgerOp::Read { entity }, LedgerReply::Owner(owner)) => {
                self.settle(*entity, *owner);
            }
            _ => {}
        }
    }

    /// The answer to an operation this zone asked for was lost: read the row.
    pub fn on_ledger_lost(&mut self, op: &LedgerOp) {
        if let LedgerOp::Move { entity, .. } | LedgerOp::Read { entity } = op {
            self.effects
                .push(Effect::Ledger(LedgerOp::Read { entity: *entity }));
        }
    }

    /// Decides a handoff from the row as the ledger shows it.
    fn settle(&mut self, entity: EntityId, row: Option<Owner>) {
        if let Some(out) = self.outgoing.get(&entity) {
            let OutPhase::Committing { op } = &out.phase else {
                return;
            };
            let moved =
                row.is_some_and(|row| row.zone == out.to && row.version == out.from.version + 1);
            if moved {
                self.commit(entity);
            } else if row == Some(out.from) {
                // Not moved. A refused move can never apply later (its leases or
                // version no longer match), but a read cannot tell a refusal from
                // a move still on its way: ask again and decide on the answer.
                let op = op.clone();
                self.effects.push(Effect::Ledger(op));
            } else {
                self.fenced(entity);
            }
            return;
        }
        if let Some(incoming) = self.incoming.get(&entity) {
            let ours = row.is_some_and(|row| {
                row.zone == self.zone
                    && row.epoch == self.epoch
                    && row.version == incoming.from.version + 1
            });
            if ours {
                let (from, avatar) = (incoming.from, incoming.avatar);
                self.arrive(entity, from, avatar);
            } else if row != Some(incoming.from) {
                self.incoming.remove(&entity);
            }
        }
    }

    /// A refusal of the move itself (as opposed to a read) is final: with the
    /// row unchanged, a lease it checked has lapsed or changed hands, and epochs
    /// never come back, so the move can never apply. Unfreeze.
    fn move_refused(&mut self, entity: EntityId, row: Option<Owner>) {
        match self.outgoing.get(&entity) {
            Some(out) if row == Some(out.from) => {
                self.abort(entity, "the ledger refused the move");
            }
            Some(_) => self.settle(entity, row),
            None => {}
        }
    }
}

/// The span of one handoff, the same at its source and its destination.
fn handoff_span(handoff: HandoffId, entity: EntityId, from: ZoneId, to: ZoneId) -> tracing::Span {
    tracing::info_span!(
        "handoff",
        id = handoff.0,
        entity = entity.0,
        from_zone = from.0,
        to_zone = to.0
    )
}

fn clamp(point: Vec2, map: &ZoneMap) -> Vec2 {
    let size = map.world_size();
    Vec2::new(
        point.x.clamp(0.0, size.x - 0.001),
        point.y.clamp(0.0, size.y - 0.001),
    )
}
