//! The gateway's side: clients connected here whose avatars another shard
//! simulates are attached there, their inputs forwarded, the frames that come
//! back turned into their snapshots, and they are attached again if that shard
//! goes quiet.

use super::*;

/// Who said a line, and where they stood.
#[derive(Debug, Clone, Copy)]
pub(super) struct Speaker {
    pub(super) avatar: NetworkId,
    pub(super) account: u64,
    pub(super) position: Vec2,
}

impl<B: Borders> ZoneHost<B> {
    pub(super) fn attached(
        &mut self,
        owner: u32,
        account: u64,
        avatar: NetworkId,
        zone: usize,
        tick: u64,
    ) {
        let heard = self.cluster.ticks;
        if let Some(pending) = self.cluster.pending.remove(&account) {
            let welcome = self.welcome(avatar, zone, tick as u32);
            if self.server.admit(pending.connection, welcome).is_err() {
                self.cluster.out.push((
                    LinkTo::Shard(owner),
                    HostMessage::Detach {
                        account,
                        gateway: self.cluster.me,
                    },
                ));
                return;
            }
            let client = self.fresh_client();
            self.replace_older_session(account, pending.connection);
            self.members.insert(
                pending.connection,
                Member {
                    client,
                    avatar,
                    account,
                    appearance: pending.appearance,
                    inventory_in_flight: 0,
                    zone,
                    at: At::Away(Away {
                        shard: Some(owner),
                        position: pending.position,
                        heading: pending.heading,
                        heard,
                    }),
                },
            );
            self.names
                .join(pending.connection, avatar, &pending.name, account);
            self.announce_name(avatar);
            self.announce_session(account);
        } else if let Some(connection) = self.members.connection_of(account)
            && let Some(away) = self.members.away_mut(connection)
        {
            away.shard = Some(owner);
            away.heard = heard;
            self.members.set_zone(connection, zone);
        } else {
            // Its client left, or its join was given up, while the attach
            // was on its way: the owner drops the avatar it made.
            self.cluster.out.push((
                LinkTo::Shard(owner),
                HostMessage::Detach {
                    account,
                    gateway: self.cluster.me,
                },
            ));
        }
    }

    pub(super) fn frame(
        &mut self,
        owner: u32,
        zone: usize,
        tick: u64,
        tick_rate: u32,
        states: &[meridian_protocol::snapshot::EntityState],
        views: Vec<View>,
    ) {
        let heard = self.cluster.ticks;
        // Ticks fit u32 for over six years at 20 Hz.
        self.server.begin_snapshots(tick as u32, states);
        let gateway = self.cluster.me;
        for view in views {
            let connection = self.members.connection_of(view.account);
            let routed = connection
                .and_then(|connection| self.members.get(&connection))
                .is_some_and(|member| {
                    matches!(member.at, At::Away(away) if away.shard == Some(owner) || view.handed_in)
                });
            let (Some(connection), true) = (connection, routed) else {
                // A stray: the player left, is simulated here now, or is
                // routed to another shard (this one was thought gone, or its
                // attach came after the player had left). It drops its
                // avatar, so the player is simulated once or not at all.
                self.cluster.out.push((
                    LinkTo::Shard(owner),
                    HostMessage::Detach {
                        account: view.account,
                        gateway,
                    },
                ));
                continue;
            };
            let Some(away) = self.members.away_mut(connection) else {
                continue;
            };
            away.shard = Some(owner);
            away.position = unwire(view.position);
            away.heading = view.heading;
            away.heard = heard;
            self.members.set_zone(connection, zone);
            self.names
                .after_view(&mut self.server, connection, &view.visible);
            let sent = self.server.send_snapshot(
                connection,
                tick as u32,
                tick_rate,
                &view.visible,
                states,
                Some(view.position),
                view.last_input,
            );
            if let (Ok(_), Some(at)) = (sent, view.frozen_at_ms) {
                self.cluster.crossing_done(at);
            }
        }
    }

    /// Our clients whose avatar nobody is known to simulate (or whose frames
    /// stopped) are attached again to whoever serves the zone they stand in.
    pub(crate) fn reattach_strays(&mut self) {
        let now = self.cluster.ticks;
        self.cluster
            .moved
            .retain(|_, (_, when)| now.saturating_sub(*when) < FORWARD_TICKS);
        let late: Vec<u64> = self
            .cluster
            .pending
            .iter()
            .filter(|(_, pending)| now.saturating_sub(pending.since) > ATTACH_PATIENCE)
            .map(|(account, _)| *account)
            .collect();
        for account in late {
            if let Some(pending) = self.cluster.pending.remove(&account) {
                let _ = self.server.refuse(
                    pending.connection,
                    RefusalReason::ServerFull,
                    "nobody could take you into that zone; try again",
                );
            }
        }
        let again: Vec<u64> = self
            .cluster
            .pending
            .iter()
            .filter(|(_, pending)| {
                pending
                    .asked
                    .is_none_or(|asked| now.saturating_sub(asked) >= ATTACH_EVERY)
            })
            .map(|(account, _)| *account)
            .collect();
        for account in again {
            self.ask_to_attach(account);
        }
        let strays: Vec<(ConnectionId, Member, Away)> = self
            .members
            .iter()
            .filter_map(|(connection, member)| match member.at {
                At::Away(away)
                    if away.shard.is_none() || now.saturating_sub(away.heard) > STALE_TICKS =>
                {
                    Some((connection, *member, away))
                }
                _ => None,
            })
            .collect();
        for (connection, member, away) in strays {
            let zone = self
                .borders
                .zone_at(away.position)
                .min(self.zones.len() - 1);
            let traveller = self.traveller(&member, away.position, away.heading, None);
            match self.borders.owner(zone) {
                ZoneOwner::Here => {
                    let client = self.fresh_client();
                    if self
                        .place(zone, client, &traveller, AnimationState::Idle)
                        .is_none()
                    {
                        continue;
                    }
                    self.members.simulate_here(connection, client, zone);
                    self.borders.joined(member.account, zone);
                }
                ZoneOwner::Shard(shard) => {
                    self.cluster
                        .out
                        .push((LinkTo::Shard(shard), HostMessage::Attach(traveller)));
                    if let Some(away) = self.members.away_mut(connection) {
                        away.shard = Some(shard);
                        away.heard = now;
                    }
                }
                ZoneOwner::Nobody => {}
            }
        }
    }

    pub(crate) fn forward_input(&mut self, account: u64, shard: Option<u32>, input: Input) {
        // With nobody known to simulate it, the input is lost like a dropped
        // datagram; the client's next ones carry on.
        let Some(shard) = shard else {
            return;
        };
        let (to, inputs) = self
            .cluster
            .away_inputs
            .entry(account)
            .or_insert_with(|| (shard, Vec::new()));
        *to = shard;
        if inputs.len() < MAX_FORWARDED {
            inputs.push(input);
        }
    }

    pub(crate) fn flush_away_inputs(&mut self) {
        for (account, (shard, inputs)) in self.cluster.away_inputs.drain() {
            self.cluster.out.push((
                LinkTo::Shard(shard),
                HostMessage::Inputs { account, inputs },
            ));
        }
    }

    /// Spawns a newcomer in `zone` if this host simulates it (`Some` with the
    /// outcome); else hands the join to the shard that does (`None`: it is
    /// welcomed once attached there).
    pub(crate) fn spawn_or_attach(
        &mut self,
        connection: ConnectionId,
        account: u64,
        name: &str,
        zone: usize,
        client: ClientId,
        spawn: AvatarSpawn,
    ) -> Option<Result<NetworkId, meridian_sim::SpawnError>> {
        if self.borders.owner(zone) == ZoneOwner::Here {
            return Some(self.spawn_newcomer(zone, client, account, spawn));
        }
        self.join_elsewhere(connection, account, name, spawn.appearance, spawn);
        None
    }

    /// A join whose spawn point is in a zone this shard does not simulate:
    /// attach it to the shard that does, and welcome it once attached.
    fn join_elsewhere(
        &mut self,
        connection: ConnectionId,
        account: u64,
        name: &str,
        appearance: u32,
        spawn: AvatarSpawn,
    ) {
        let name = meridian_netcode::names::display_name(name, account);
        self.cluster.pending.insert(
            account,
            Pending {
                connection,
                name,
                appearance,
                position: spawn.position,
                heading: spawn.heading,
                since: self.cluster.ticks,
                asked: None,
            },
        );
        self.ask_to_attach(account);
    }

    /// Asks whoever serves a waiting join's zone to attach it, if anyone is
    /// known to.
    pub(super) fn ask_to_attach(&mut self, account: u64) {
        let Some(pending) = self.cluster.pending.get(&account) else {
            return;
        };
        let zone = self
            .borders
            .zone_at(pending.position)
            .min(self.zones.len() - 1);
        let ZoneOwner::Shard(shard) = self.borders.owner(zone) else {
            return;
        };
        let traveller = Traveller {
            account,
            name: pending.name.clone(),
            appearance: pending.appearance,
            avatar: None,
            position: wire(pending.position),
            heading: pending.heading,
            last_input: None,
        };
        if let Some(pending) = self.cluster.pending.get_mut(&account) {
            pending.asked = Some(self.cluster.ticks);
        }
        self.cluster
            .out
            .push((LinkTo::Shard(shard), HostMessage::Attach(traveller)));
    }

    pub(crate) fn announce_name(&mut self, avatar: NetworkId) {
        if !self.cluster.linked {
            return;
        }
        if let Some(name) = self.names.name_of(avatar) {
            let names = vec![(avatar, name.to_owned())];
            self.cluster
                .out
                .push((LinkTo::Everyone, HostMessage::Names(names)));
        }
    }

    /// Our client left: its owner drops its avatar, everyone its name.
    pub(crate) fn said_goodbye(&mut self, member: Member) {
        if let At::Away(Away {
            shard: Some(shard), ..
        }) = member.at
        {
            self.cluster.out.push((
                LinkTo::Shard(shard),
                HostMessage::Detach {
                    account: member.account,
                    gateway: self.cluster.me,
                },
            ));
        }
        self.cluster
            .out
            .push((LinkTo::Everyone, HostMessage::Unnamed(member.avatar)));
    }

    /// A stored line: our clients who hear it are told, and every other shard
    /// does the same for its own.
    pub(crate) fn relay_across_shards(&mut self, member: Member, line: crate::host::SaidLine) {
        let Some(state) = self.state_of(&member) else {
            return;
        };
        self.cluster.out.push((
            LinkTo::Everyone,
            HostMessage::Said {
                from: member.avatar,
                account: member.account,
                position: wire(state.position),
                channel: line.channel,
                text: line.text.clone(),
            },
        ));
        let speaker = Speaker {
            avatar: member.avatar,
            account: member.account,
            position: state.position,
        };
        self.relay_near(speaker, line.channel, line.text);
    }

    /// Relays a line to our clients who hear it: everyone for the zone channel,
    /// those within hearing of the speaker for the nearby one; never to one
    /// who blocked the speaker or whom the speaker blocked.
    pub(super) fn relay_near(&mut self, speaker: Speaker, channel: ChatChannel, text: String) {
        let Speaker {
            avatar: from,
            account,
            position,
        } = speaker;
        let radius = self.server.config().chat_hearing_radius;
        let listeners: Vec<(ConnectionId, u64)> = self
            .members
            .iter()
            .filter(|(_, member)| !matches!(member.at, At::ForGateway(_)))
            .filter(|(_, member)| {
                channel == ChatChannel::Zone
                    || self.state_of(member).is_some_and(|state| {
                        state.position.distance_squared(position) <= radius * radius
                    })
            })
            .map(|(connection, member)| (connection, member.account))
            .collect();
        let listeners: Vec<ConnectionId> = listeners
            .into_iter()
            .filter(|(_, listener)| self.moderation.hears(*listener, account))
            .map(|(connection, _)| connection)
            .collect();
        let relay = ServerMessage::Chat(ChatRelay {
            from,
            channel,
            text,
        });
        for listener in listeners {
            self.names.tell(&mut self.server, listener, from);
            let _ = self.server.send_admitted(listener, &relay);
        }
    }
}
