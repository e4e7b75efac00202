//! A host of several zones at its borders: where everyone stands goes to the
//! handoff protocol, players near a border are mirrored into the neighbouring
//! zones as ghosts, and a committed handoff turns the avatar into a ghost at
//! the source and the ghost into the avatar at the destination, under the
//! same network id.

use std::collections::BTreeSet;

use meridian_protocol::NetworkId;
use meridian_sim::{ClientInput, GhostState};

use crate::host::borders::{Borders, ZoneOwner};
use crate::host::{At, ZoneHost};

impl<B: Borders> ZoneHost<B> {
    /// Tells the borders where everyone stands, and mirrors players within
    /// interest reach of another zone into it as ghosts.
    pub(crate) fn observe_and_mirror(&mut self) {
        let mut mirrors: Vec<Vec<GhostState>> = vec![Vec::new(); self.zones.len()];
        for member in self.members.values() {
            if matches!(member.at, At::Away(_)) {
                continue;
            }
            let zone = &self.zones[member.zone];
            let Some(state) = zone.avatar(member.client) else {
                continue;
            };
            self.borders.observe(
                member.account,
                member.zone,
                state.position,
                state.last_input_sequence.unwrap_or(0),
            );
            let frozen = self.borders.is_frozen(member.account, member.zone);
            self.cluster.frozen(member.account, frozen);
            let config = zone.config();
            let reach = config.interest_radius + config.interest_hysteresis;
            self.targets.clear();
            self.borders
                .ghost_targets(member.zone, state.position, reach, &mut self.targets);
            for &target in &self.targets {
                let ghost = GhostState {
                    id: state.id,
                    appearance: member.appearance,
                    position: state.position,
                    heading: state.heading,
                    animation: state.animation,
                };
                if self.borders.owner(target) != ZoneOwner::Here {
                    // Another shard's zone: mirrored over the link.
                    self.cluster.mirror(member.zone, target, ghost);
                } else if let Some(mirror) = mirrors.get_mut(target) {
                    mirror.push(ghost);
                }
            }
        }
        if self.cluster.linked {
            self.mirror_across_shards();
        }
        for ((zone, ghosts), wanted) in self.zones.iter_mut().zip(&mut self.ghosts).zip(mirrors) {
            let ids: BTreeSet<NetworkId> = wanted.iter().map(|ghost| ghost.id).collect();
            for gone in ghosts.difference(&ids) {
                // A ghost promoted to an avatar here is not a ghost any more.
                let _ = zone.remove_ghost(*gone);
            }
            for ghost in wanted {
                // A refusal (outside the world) only skips one mirror.
                let _ = zone.upsert_ghost(ghost);
            }
            *ghosts = ids;
        }
    }

    /// A handoff committed: the avatar becomes a ghost in `from` and the ghost
    /// the avatar in `to`, under the same network id; inputs that waited while
    /// it was frozen are applied there.
    pub(crate) fn switch(&mut self, account: u64, from: usize, to: usize) {
        let Some(connection) = self.members.connection_of(account) else {
            return;
        };
        let Some(member) = self.members.get(&connection).copied() else {
            return;
        };
        if member.zone != from || from == to || to >= self.zones.len() {
            return;
        }
        let Some(state) = self.zones[from].avatar(member.client) else {
            return;
        };
        if self.zones[from].demote_to_ghost(member.client).is_ok() {
            self.ghosts[from].insert(member.avatar);
        }
        let destination = &mut self.zones[to];
        let _ = destination.upsert_ghost(GhostState {
            id: member.avatar,
            appearance: member.appearance,
            position: state.position,
            heading: state.heading,
            animation: state.animation,
        });
        self.ghosts[to].remove(&member.avatar);
        if destination
            .promote_ghost(member.avatar, member.client, state.last_input_sequence)
            .is_err()
        {
            return;
        }
        self.members.set_zone(connection, to);
        self.handoffs += 1;
        if let Some(at) = self.cluster.take_frozen_at(account) {
            match member.at {
                // Its snapshot from the new zone goes out at the end of this tick.
                At::Here => self.cluster.crossing_done(at),
                _ => {
                    self.cluster.crossed.insert(account, at);
                }
            }
        }
        for input in self.waiting.remove(&connection).unwrap_or_default() {
            self.inputs[to].push(ClientInput {
                client: member.client,
                input,
            });
        }
    }
}
