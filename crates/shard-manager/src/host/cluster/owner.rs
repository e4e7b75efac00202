//! The owner's side: avatars of clients connected to other shards simulated in
//! the zones held here, ghosts mirrored between shards, and avatars handed to
//! another shard when a handoff commits.

use super::*;

impl<B: Borders> ZoneHost<B> {
    pub(super) fn traveller(
        &self,
        member: &Member,
        position: Vec2,
        heading: f32,
        last_input: Option<u32>,
    ) -> Traveller {
        Traveller {
            account: member.account,
            name: self
                .names
                .name_of(member.avatar)
                .unwrap_or_default()
                .to_owned(),
            appearance: member.appearance,
            avatar: Some(member.avatar),
            position: wire(position),
            heading,
            last_input,
        }
    }

    /// Puts an avatar with a known network id into `zone` for `client`, the
    /// way a handoff does: as a ghost, then promoted.
    pub(super) fn place(
        &mut self,
        zone: usize,
        client: ClientId,
        traveller: &Traveller,
        animation: AnimationState,
    ) -> Option<NetworkId> {
        let Some(id) = traveller.avatar else {
            let id = self.avatar_id_for(traveller.account);
            // A newcomer: where its gateway chose, or the nearest free spot
            // around it (the gateway cannot see who stands here).
            let wanted = unwire(traveller.position);
            let bounds = self.borders.zone_bounds(zone);
            for (ring, step) in
                (0..=SPAWN_RINGS).flat_map(|ring| (0..8).map(move |step| (ring, step)))
            {
                if ring == 0 && step > 0 {
                    continue;
                }
                let angle = step as f32 * std::f32::consts::FRAC_PI_4;
                let offset = Vec2::new(angle.cos(), angle.sin()) * ring as f32;
                let position = wanted + offset;
                if bounds.is_some_and(|(low, high)| {
                    position.x < low.x
                        || position.y < low.y
                        || position.x >= high.x
                        || position.y >= high.y
                }) {
                    continue;
                }
                let spawn = AvatarSpawn {
                    position,
                    heading: traveller.heading,
                    appearance: traveller.appearance,
                };
                if let Ok(avatar) = self.zones[zone].spawn_avatar_as(client, spawn, id) {
                    return Some(avatar);
                }
            }
            return None;
        };
        let target = &mut self.zones[zone];
        target
            .upsert_ghost(GhostState {
                id,
                appearance: traveller.appearance,
                position: unwire(traveller.position),
                heading: traveller.heading,
                animation,
            })
            .ok()?;
        target
            .promote_ghost(id, client, traveller.last_input)
            .ok()?;
        for (_, ids) in self.cluster.remote_ghosts.values_mut() {
            ids.remove(&id);
        }
        Some(id)
    }

    pub(super) fn fresh_client(&mut self) -> ClientId {
        self.members.fresh_client()
    }

    /// Hosts an avatar here for the client `gateway` serves.
    pub(super) fn host_for(
        &mut self,
        gateway: u32,
        zone: usize,
        traveller: &Traveller,
        animation: AnimationState,
    ) -> Option<NetworkId> {
        let client = self.fresh_client();
        let avatar = self.place(zone, client, traveller, animation)?;
        let connection = ConnectionId(FOR_GATEWAY | traveller.account);
        self.members.insert(
            connection,
            Member {
                client,
                avatar,
                account: traveller.account,
                appearance: traveller.appearance,
                inventory_in_flight: 0,
                zone,
                at: At::ForGateway(gateway),
            },
        );
        self.names
            .join(connection, avatar, &traveller.name, traveller.account);
        Some(avatar)
    }

    pub(super) fn attach(&mut self, gateway: u32, traveller: Traveller) {
        let account = traveller.account;
        let zone = self
            .borders
            .zone_at(unwire(traveller.position))
            .min(self.zones.len() - 1);
        let refuse = HostMessage::NotAttached { account };
        if self.borders.owner(zone) != ZoneOwner::Here {
            self.cluster.out.push((LinkTo::Shard(gateway), refuse));
            return;
        }
        let known = self
            .members
            .by_account(account)
            .map(|(connection, member)| (connection, *member));
        let avatar = match known {
            // Already simulated here (an attach asked twice, or the client
            // came back through another gateway): it carries on.
            Some((connection, member)) if matches!(member.at, At::ForGateway(_)) => {
                self.members.serve_for(connection, gateway);
                Some((member.avatar, member.zone))
            }
            Some(_) => None,
            None => self
                .host_for(gateway, zone, &traveller, AnimationState::Idle)
                .map(|avatar| {
                    self.borders.joined(account, zone);
                    (avatar, zone)
                }),
        };
        let answer = match avatar {
            Some((avatar, zone)) => HostMessage::Attached {
                account,
                avatar,
                zone: zone as u32,
                tick: self.zones[zone].tick(),
            },
            None => refuse,
        };
        self.cluster.out.push((LinkTo::Shard(gateway), answer));
    }

    pub(super) fn inputs_from_gateway(&mut self, account: u64, inputs: Vec<Input>) {
        let Some(connection) = self.members.connection_of(account) else {
            if let Some(&(shard, _)) = self.cluster.moved.get(&account) {
                self.cluster.out.push((
                    LinkTo::Shard(shard),
                    HostMessage::Inputs { account, inputs },
                ));
            }
            return;
        };
        let Some(member) = self.members.get(&connection).copied() else {
            return;
        };
        if !matches!(member.at, At::ForGateway(_)) {
            return;
        }
        if self.borders.is_frozen(account, member.zone) {
            self.waiting.entry(connection).or_default().extend(inputs);
        } else {
            self.inputs[member.zone].extend(inputs.into_iter().map(|input| ClientInput {
                client: member.client,
                input,
            }));
        }
    }

    pub(super) fn ghosts_from(
        &mut self,
        sender: u32,
        source: u32,
        to: usize,
        ghosts: &[GhostWire],
    ) {
        if to >= self.zones.len() || self.borders.owner(to) != ZoneOwner::Here {
            return;
        }
        let ids: BTreeSet<NetworkId> = ghosts.iter().map(|ghost| ghost.id).collect();
        let zone = &mut self.zones[to];
        if let Some((_, before)) = self.cluster.remote_ghosts.get(&(to, source)) {
            for gone in before.difference(&ids) {
                let _ = zone.remove_ghost(*gone);
            }
        }
        for ghost in ghosts {
            // An avatar of ours under that id (a handoff just arrived) is not
            // overwritten: upsert refuses it.
            let _ = zone.upsert_ghost(GhostState {
                id: ghost.id,
                appearance: ghost.appearance,
                position: unwire(ghost.position),
                heading: ghost.heading,
                animation: ghost.animation,
            });
        }
        if ids.is_empty() {
            self.cluster.remote_ghosts.remove(&(to, source));
        } else {
            self.cluster
                .remote_ghosts
                .insert((to, source), (sender, ids));
        }
    }

    pub(super) fn hand_in(
        &mut self,
        traveller: Traveller,
        zone: usize,
        gateway: u32,
        animation: AnimationState,
        inputs: Vec<Input>,
    ) {
        if zone >= self.zones.len() || self.borders.owner(zone) != ZoneOwner::Here {
            // We lost the zone meanwhile: its gateway attaches it again.
            return;
        }
        let account = traveller.account;
        let client = if gateway == self.cluster.me {
            // Our own client comes back to a zone of ours.
            let Some(connection) = self.members.connection_of(account) else {
                return;
            };
            if !self
                .members
                .get(&connection)
                .is_some_and(|member| matches!(member.at, At::Away(_)))
            {
                // Already simulated here again (taken back when its frames
                // stopped): a second avatar would share its id.
                return;
            }
            let client = self.fresh_client();
            if self.place(zone, client, &traveller, animation).is_none() {
                return;
            }
            self.members.simulate_here(connection, client, zone);
            client
        } else {
            if self.members.connection_of(account).is_some() {
                return;
            }
            if self
                .host_for(gateway, zone, &traveller, animation)
                .is_none()
            {
                return;
            }
            self.cluster.handed_in.insert(account);
            let Some((_, member)) = self.members.by_account(account) else {
                return;
            };
            member.client
        };
        self.inputs[zone].extend(
            inputs
                .into_iter()
                .map(|input| ClientInput { client, input }),
        );
    }

    /// Members simulated here in a zone we no longer hold stop being simulated
    /// at once (another shard may hold it now): our own clients wait to be
    /// attached again, others' are dropped (their gateways attach them again).
    pub(crate) fn evict_unowned(&mut self) {
        let evicted: Vec<(ConnectionId, Member)> = self
            .members
            .iter()
            .filter(|(_, member)| !matches!(member.at, At::Away(_)))
            .filter(|(_, member)| self.borders.owner(member.zone) != ZoneOwner::Here)
            .map(|(connection, member)| (connection, *member))
            .collect();
        for (connection, member) in evicted {
            if let At::ForGateway(_) = member.at {
                self.leave(connection);
                continue;
            }
            let state = self.zones[member.zone].avatar(member.client);
            let _ = self.zones[member.zone].despawn_avatar(member.client);
            self.waiting.remove(&connection);
            let away = state.map(|state| {
                let away = Away {
                    shard: None,
                    position: state.position,
                    heading: state.heading,
                    heard: 0,
                };
                (member.zone, away)
            });
            self.members.stop_simulating(connection, away);
        }
    }

    /// A handoff committed into a zone of another shard: the avatar goes
    /// there (a ghost of it stays here until that shard stops mirroring it).
    pub(crate) fn switch_out(&mut self, account: u64, from: usize, to: usize, owner: ZoneOwner) {
        let Some(connection) = self.members.connection_of(account) else {
            return;
        };
        let Some(member) = self.members.get(&connection).copied() else {
            return;
        };
        if member.zone != from || matches!(member.at, At::Away(_)) {
            return;
        }
        let Some(state) = self.zones[from].avatar(member.client) else {
            return;
        };
        if self.zones[from].demote_to_ghost(member.client).is_ok() {
            self.cluster
                .remote_ghosts
                .entry((from, to as u32))
                .or_insert_with(|| (0, BTreeSet::new()))
                .1
                .insert(member.avatar);
        }
        let shard = match owner {
            ZoneOwner::Shard(shard) => Some(shard),
            _ => None,
        };
        if let Some(entry) = self.cluster.remote_ghosts.get_mut(&(from, to as u32)) {
            entry.0 = shard.unwrap_or_default();
        }
        let gateway = match member.at {
            At::ForGateway(gateway) => gateway,
            _ => self.cluster.me,
        };
        let traveller = self.traveller(
            &member,
            state.position,
            state.heading,
            state.last_input_sequence,
        );
        let waited = self.waiting.remove(&connection).unwrap_or_default();
        let frozen_at_ms = self.cluster.take_frozen_at(account);
        if let Some(shard) = shard {
            self.cluster.out.push((
                LinkTo::Shard(shard),
                HostMessage::HandIn {
                    traveller,
                    zone: to as u32,
                    gateway,
                    animation: state.animation,
                    inputs: waited,
                    frozen_at_ms,
                },
            ));
            self.cluster
                .moved
                .insert(account, (shard, self.cluster.ticks));
        }
        self.handoffs += 1;
        if member.at == At::Here {
            let away = Away {
                shard,
                position: state.position,
                heading: state.heading,
                heard: self.cluster.ticks,
            };
            self.members.stop_simulating(connection, Some((to, away)));
        } else {
            self.members.remove(connection);
            self.names.detach(connection);
        }
    }

    /// Sends this tick's mirrors into other shards' zones, and ends the ones
    /// that stopped.
    pub(crate) fn mirror_across_shards(&mut self) {
        let mirrors = std::mem::take(&mut self.cluster.mirrors);
        let mut sent = BTreeSet::new();
        let stopped: Vec<(usize, usize)> = self
            .cluster
            .mirrored
            .iter()
            .filter(|key| !mirrors.contains_key(key))
            .copied()
            .collect();
        let ended = stopped.into_iter().map(|key| (key, Vec::new()));
        for ((from, to), ghosts) in mirrors.into_iter().chain(ended) {
            let ZoneOwner::Shard(shard) = self.borders.owner(to) else {
                continue;
            };
            if !ghosts.is_empty() {
                sent.insert((from, to));
            }
            self.cluster.out.push((
                LinkTo::Shard(shard),
                HostMessage::Ghosts {
                    from: from as u32,
                    to: to as u32,
                    ghosts,
                },
            ));
        }
        self.cluster.mirrored = sent;
    }
}
