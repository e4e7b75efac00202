//! Proximity voice in `meridian serve`: the `[voice]` settings, and the
//! relays between the hosts (the world's, on the zone thread, and each
//! instance's, on the simulation threads) and the one voice port (the thread
//! `meridian-voice` that owns the voice UDP socket and the forwarding unit).
//!
//! Once per tick of each host, [`VoiceRelay::exchange`] hands the host the
//! port's outcomes for its members (answers, line changes, ended sessions),
//! then hands the port, in one batch, the host's orders (offers, closes) and
//! who hears whom: every instance's last routing, each computed over that
//! instance's members only. See docs/VOICE.md.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use meridian_netcode::voice::{
    FORWARD_DELAY_BOUNDS, ForwardDelays, InstanceKey, OfferError, ParticipantId, RoomTraffic,
    Routing, SelectionConfig, VoiceCommand, VoiceConfig, VoiceEvent, VoiceOutcome, VoicePort,
    VoicePortStats,
};
use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::moderation_orders::ModerationOrder;
use crate::http::HttpState;
use crate::http::auth::{Body, Caller, Id, error};

use meridian_protocol::limits::MAX_VOICE_LINES;
use meridian_protocol::messages::VoiceRefusalReason;
use meridian_shard_manager::{
    Borders, CrossShardVoiceCounters, VoiceOrder, VoiceRefusals, ZoneHost,
};
use serde::Deserialize;

/// The `[voice]` table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct VoiceTable {
    /// Voice on (default) or off; off, every offer is refused `VoiceDisabled`.
    pub(crate) enabled: bool,
    /// The voice UDP port: a specific IP address that clients can reach (it is
    /// announced to them as the ICE host candidate), and a port (0: any free
    /// one; the answer names it). Default 127.0.0.1:0.
    pub(crate) address: SocketAddr,
    /// How far a speaker is heard, in metres (default 15).
    pub(crate) radius: f32,
    /// The most speakers one listener hears at once, the loudest first
    /// (default 8); also the most receiving lines an offer may have.
    pub(crate) loudest: usize,
    /// The most voice sessions at once (default 4,096).
    pub(crate) max_sessions: usize,
}

impl Default for VoiceTable {
    fn default() -> Self {
        Self {
            enabled: true,
            address: SocketAddr::from(([127, 0, 0, 1], 0)),
            radius: SelectionConfig::default().radius,
            loudest: SelectionConfig::default().loudest,
            max_sessions: VoiceConfig::default().max_sessions,
        }
    }
}

impl VoiceTable {
    /// The forwarding unit's settings.
    pub(crate) fn voice_config(&self) -> VoiceConfig {
        VoiceConfig {
            max_sessions: self.max_sessions,
            max_slots: self.loudest,
            ..VoiceConfig::default()
        }
    }

    /// Who-hears-whom settings.
    pub(crate) fn selection(&self) -> SelectionConfig {
        SelectionConfig {
            radius: self.radius,
            loudest: self.loudest,
        }
    }

    /// Checks every setting.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        if !(1..=MAX_VOICE_LINES).contains(&self.loudest) {
            bail!(
                "[voice] loudest is {}, it must be 1 to {MAX_VOICE_LINES}",
                self.loudest
            );
        }
        self.selection()
            .validate()
            .context("invalid [voice] settings")?;
        self.voice_config()
            .validate()
            .context("invalid [voice] settings")?;
        if self.enabled && self.address.ip().is_unspecified() {
            bail!(
                "[voice] address {} is unspecified; give the IP address clients reach \
                 (it is their ICE candidate)",
                self.address
            );
        }
        Ok(())
    }
}

/// The voice port, shared by the world's zone thread and the simulation
/// threads that run instances: each tick, each of them hands it one batch.
#[derive(Debug)]
struct VoiceHub {
    port: VoicePort,
    selection: SelectionConfig,
    state: Mutex<HubState>,
}

impl VoiceHub {
    fn state(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clone for VoiceRelay {
    fn clone(&self) -> Self {
        Self {
            hub: self.hub.clone(),
            key: self.key,
            outcomes: Vec::new(),
        }
    }
}

/// What the hub keeps between the ticks of its instances.
#[derive(Debug, Default)]
struct HubState {
    /// The instance each participant's session was last offered from: its
    /// answers, line changes and end go there, and only its closes count.
    owner: HashMap<ParticipantId, InstanceKey>,
    /// Outcomes taken from the port, waiting for their instance's tick.
    inbox: HashMap<InstanceKey, Vec<VoiceOutcome>>,
    /// Who hears whom in each instance, as of its last tick.
    routings: HashMap<InstanceKey, Routing>,
    /// Speakers heard in the last 500 ms (with an audio level), last tick.
    speakers: usize,
}

/// At most this many outcomes wait for an instance that does not tick
/// (stopped): the oldest are dropped beyond.
const MAX_WAITING_OUTCOMES: usize = 65_536;

/// One instance's handle on the voice port: the world's (the zone thread's)
/// or a room's (a simulation thread's). Voice of one instance never reaches
/// another: each routes only its own members, under its own key.
#[derive(Debug)]
pub(crate) struct VoiceRelay {
    hub: Arc<VoiceHub>,
    key: InstanceKey,
    outcomes: Vec<VoiceOutcome>,
}

/// The world's key; an instance's is its number (never 0).
const WORLD: InstanceKey = InstanceKey(0);

impl VoiceRelay {
    /// Starts the voice port, if voice is on; the world's handle.
    pub(crate) fn start(table: &VoiceTable) -> anyhow::Result<Option<Self>> {
        if !table.enabled {
            return Ok(None);
        }
        let port = VoicePort::start(table.voice_config(), table.address)
            .with_context(|| format!("cannot start the voice port on {}", table.address))?;
        tracing::info!(address = %port.local_addr(), "voice port listening (WebRTC, ICE-lite)");
        Ok(Some(Self {
            hub: Arc::new(VoiceHub {
                port,
                selection: table.selection(),
                state: Mutex::new(HubState::default()),
            }),
            key: WORLD,
            outcomes: Vec::new(),
        }))
    }

    /// The handle of the instance numbered `number` (never 0).
    pub(crate) fn for_instance(&self, number: u32) -> Self {
        Self {
            hub: self.hub.clone(),
            key: InstanceKey(u64::from(number)),
            outcomes: Vec::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, HubState> {
        self.hub.state()
    }

    /// The figures `/metrics` shows.
    pub(crate) fn figures<B: Borders>(&self, host: &ZoneHost<B>) -> VoiceFigures {
        VoiceFigures {
            port: self.hub.port.stats(),
            speakers: self.state().speakers,
            host_sessions: host.voice_sessions(),
            refusals: host.voice_refusals(),
            relay: host.cross_shard_voice_counters(),
        }
    }

    /// One tick's exchange between `host` (this handle's instance) and the
    /// port: the outcomes for its members, then its orders and who hears
    /// whom among its members, in one batch.
    pub(crate) fn exchange<B: Borders>(&mut self, host: &mut ZoneHost<B>) {
        {
            let mut state = self.hub.state();
            let mut taken = Vec::new();
            self.hub.port.take_outcomes(&mut taken);
            for outcome in taken {
                let participant = match &outcome {
                    VoiceOutcome::Answer { participant, .. } => *participant,
                    VoiceOutcome::Event(VoiceEvent::Heard { listener, .. }) => *listener,
                    VoiceOutcome::Event(VoiceEvent::Closed { participant, .. }) => *participant,
                    VoiceOutcome::Event(VoiceEvent::Relayed(packet)) => {
                        ParticipantId(packet.speaker)
                    }
                    _ => continue,
                };
                let Some(&key) = state.owner.get(&participant) else {
                    continue;
                };
                let waiting = state.inbox.entry(key).or_default();
                if waiting.len() >= MAX_WAITING_OUTCOMES {
                    waiting.remove(0);
                }
                waiting.push(outcome);
            }
            if let Some(mine) = state.inbox.get_mut(&self.key) {
                self.outcomes.append(mine);
            }
        }
        for outcome in self.outcomes.drain(..) {
            match outcome {
                VoiceOutcome::Answer {
                    participant,
                    answer,
                } => host.voice_answered(participant, answer.map_err(refusal_of)),
                VoiceOutcome::Event(VoiceEvent::Heard {
                    listener,
                    slot,
                    heard,
                }) => host.voice_heard(listener, slot, heard),
                VoiceOutcome::Event(VoiceEvent::Closed {
                    participant,
                    reason,
                }) => host.voice_closed(participant, reason),
                // A packet for listeners at other shards (cluster mode).
                VoiceOutcome::Event(VoiceEvent::Relayed(packet)) => host.voice_relay_out(packet),
                // Connected, and what later versions add: nothing to tell.
                _ => {}
            }
        }
        host.send_voice_lines();
        let levels = self.hub.port.audio_levels();
        let routing = host.voice_routing(&self.hub.selection, self.key, &levels);
        // In a cluster: speakers and audio across shards (docs/VOICE.md).
        let relay = host.voice_across_shards(&routing, &levels);
        let mut state = self.state();
        let mut commands: Vec<VoiceCommand> = Vec::new();
        for order in host.take_voice_orders() {
            match order {
                VoiceOrder::Offer { participant, sdp } => {
                    state.owner.insert(participant, self.key);
                    commands.push(VoiceCommand::Offer {
                        participant,
                        sdp,
                        room: self.key,
                    });
                }
                VoiceOrder::Close { participant } => {
                    // The account went on to another instance, which
                    // offered since: that session is not this one's to end.
                    if state.owner.get(&participant) == Some(&self.key) {
                        state.owner.remove(&participant);
                        commands.push(VoiceCommand::Close { participant });
                    }
                }
            }
        }
        let relayed = relay.map(|plan| {
            commands.push(VoiceCommand::Relay {
                remote: plan.remote,
                exported: plan.exported,
            });
            plan.relayed
        });
        state.speakers = levels.len();
        state.routings.insert(self.key, routing);
        // The port takes one routing for all its sessions: every instance's
        // last, each listener from the instance it is in.
        let mut merged = Routing::new();
        for (key, routing) in &state.routings {
            for (listener, heard) in routing.iter() {
                if state.owner.get(&listener) == Some(key) {
                    merged.set(listener, heard.to_vec());
                }
            }
        }
        commands.push(VoiceCommand::Route(merged));
        if let Some(relayed) = relayed.filter(|relayed| !relayed.is_empty()) {
            commands.push(VoiceCommand::Relayed(relayed));
        }
        self.hub.port.submit(commands);
    }

    /// Hands the port, at once, the packets other shards relayed for the
    /// listeners here since the last call (cluster mode; between ticks, so
    /// they wait for no tick).
    pub(crate) fn pass_relayed<B: Borders>(&self, host: &mut ZoneHost<B>) {
        let relayed = host.take_voice_relayed();
        if !relayed.is_empty() {
            self.hub.port.submit(vec![VoiceCommand::Relayed(relayed)]);
        }
    }

    /// What this instance's voice sessions sent and received so far (per
    /// room on `/metrics`).
    pub(crate) fn traffic(&self) -> RoomTraffic {
        self.hub.port.room_traffic(self.key)
    }

    /// This instance stopped: its routing, waiting outcomes and traffic
    /// figures go.
    pub(crate) fn forget(&self) {
        let mut state = self.state();
        state.routings.remove(&self.key);
        state.inbox.remove(&self.key);
        drop(state);
        self.hub.port.submit([VoiceCommand::ForgetRoom(self.key)]);
    }

    /// Stops the port's thread (the world's handle, when the zone thread
    /// ends; if instances still hold handles, the port stops with the last).
    pub(crate) fn stop(self) {
        if let Ok(hub) = Arc::try_unwrap(self.hub)
            && let Err(error) = hub.port.stop()
        {
            tracing::warn!(%error, "the voice port stopped with an error");
        }
    }
}

/// The most accounts on one stage.
pub(crate) const MAX_STAGE: usize = 64;

/// The body of `PUT /api/v1/space/{id}/stage`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Stage {
    user_ids: Vec<i64>,
}

/// The voice routes of the HTTP API.
pub(crate) fn routes() -> axum::Router<HttpState> {
    axum::Router::new().route("/api/v1/space/{id}/stage", axum::routing::put(set_stage))
}

/// `PUT /api/v1/space/{id}/stage {userIds}`: the space's owner or an admin
/// makes these players the stage: everyone in the instance with voice hears
/// them, however far. An empty list clears the stage. It holds for the
/// world if `id` is the space this server hosts, else for every running
/// instance of space `id` (an instance started later has no stage).
async fn set_stage(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Id(id): Id,
    Body(stage): Body<Stage>,
) -> Response {
    if let Err(response) = crate::http::api::may_change(&state, &claims, id).await {
        return response;
    }
    if stage.user_ids.len() > MAX_STAGE {
        return error(
            StatusCode::BAD_REQUEST,
            format!("a stage holds at most {MAX_STAGE} players"),
        );
    }
    if stage.user_ids.iter().any(|id| *id <= 0) {
        return error(StatusCode::BAD_REQUEST, "user ids are positive");
    }
    let accounts: Vec<u64> = stage.user_ids.iter().map(|id| *id as u64).collect();
    let answer = Json(json!({ "userIds": stage.user_ids })).into_response();
    crate::http::moderation::ordered(
        &state,
        ModerationOrder::Stage {
            space: id,
            accounts,
        },
        answer,
    )
}

/// The protocol's reason for an offer the forwarding unit refused.
fn refusal_of(error: OfferError) -> (VoiceRefusalReason, String) {
    let reason = match &error {
        OfferError::Malformed(_) => VoiceRefusalReason::MalformedSdp,
        OfferError::Full(_) => VoiceRefusalReason::TooManySessions,
        _ => VoiceRefusalReason::UnsupportedOffer,
    };
    (reason, error.to_string())
}

/// Voice figures, copied by the zone thread each tick.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct VoiceFigures {
    port: VoicePortStats,
    speakers: usize,
    host_sessions: usize,
    refusals: VoiceRefusals,
    /// What crossed between shards (cluster mode).
    relay: CrossShardVoiceCounters,
}

/// Writes the `meridian_voice_*` metrics: the port's (every instance's
/// sessions together) and the world's members and refusals; each instance's
/// are `meridian_instance_voice_*` with its labels (docs/OPERATIONS.md).
pub(crate) fn render_metrics(out: &mut String, figures: &VoiceFigures) {
    let counters = &figures.port.counters;
    let lines: [(&str, &str, &str, u64); 14] = [
        (
            "meridian_voice_sessions",
            "gauge",
            "Voice sessions open at the voice port (WebRTC sessions, connected or connecting).",
            counters.sessions,
        ),
        (
            "meridian_voice_members",
            "gauge",
            "Players of the world with voice on (an offer sent and not ended).",
            figures.host_sessions as u64,
        ),
        (
            "meridian_voice_speakers",
            "gauge",
            "Speakers whose audio reached the port in the last 500 ms.",
            figures.speakers as u64,
        ),
        (
            "meridian_voice_packets_in_total",
            "counter",
            "Opus packets received from speakers.",
            counters.packets_in,
        ),
        (
            "meridian_voice_payload_bytes_in_total",
            "counter",
            "Opus payload bytes received from speakers.",
            counters.bytes_in,
        ),
        (
            "meridian_voice_packets_forwarded_total",
            "counter",
            "Opus packets forwarded to listeners (one per listener per packet).",
            counters.packets_forwarded,
        ),
        (
            "meridian_voice_payload_bytes_forwarded_total",
            "counter",
            "Opus payload bytes forwarded to listeners.",
            counters.bytes_forwarded,
        ),
        (
            "meridian_voice_copies_late_total",
            "counter",
            "Copies dropped as too late for their listener's line (a packet that arrived after the next speaker's first on the line).",
            counters.forward_late,
        ),
        (
            "meridian_voice_copies_failed_total",
            "counter",
            "Copies not written because the listener's line had no Opus payload type.",
            counters.forward_failed,
        ),
        (
            "meridian_voice_datagrams_in_total",
            "counter",
            "UDP datagrams received on the voice port (STUN, DTLS, SRTP, SRTCP).",
            counters.datagrams_in,
        ),
        (
            "meridian_voice_datagrams_out_total",
            "counter",
            "UDP datagrams sent from the voice port.",
            counters.datagrams_out,
        ),
        (
            "meridian_voice_bytes_out_total",
            "counter",
            "Bytes of the UDP datagrams sent from the voice port (SFU bandwidth out).",
            counters.datagram_bytes_out,
        ),
        (
            "meridian_voice_datagrams_refused_total",
            "counter",
            "Datagrams the voice port dropped before any session saw them (size, not WebRTC, unknown peer, rate limit, ...).",
            counters.refused.total(),
        ),
        (
            "meridian_voice_sessions_opened_total",
            "counter",
            "Voice sessions opened by an accepted offer.",
            counters.sessions_opened,
        ),
    ];
    for (name, kind, help, value) in lines {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP meridian_voice_refused_total Voice offers refused, by reason (PROTOCOL.md VoiceRefusalReason).\n# TYPE meridian_voice_refused_total counter"
    );
    for (reason, value) in figures.refusals.by_reason() {
        let _ = writeln!(
            out,
            "meridian_voice_refused_total{{reason=\"{reason}\"}} {value}"
        );
    }
    render_forward_delay(out, &figures.port.forward_delay);
}

/// Writes `meridian_voice_forward_delay_seconds`: per forwarded copy, from
/// its speaker's datagram read off the voice socket to the copy handed to
/// the kernel.
fn render_forward_delay(out: &mut String, delays: &ForwardDelays) {
    const NAME: &str = "meridian_voice_forward_delay_seconds";
    let _ = writeln!(
        out,
        "# HELP {NAME} Per forwarded voice packet copy, from the speaker's datagram read off the voice socket to the copy handed to the kernel.\n# TYPE {NAME} histogram"
    );
    let cumulative = delays.cumulative();
    for (bound, count) in FORWARD_DELAY_BOUNDS.iter().zip(cumulative) {
        let _ = writeln!(out, "{NAME}_bucket{{le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "{NAME}_bucket{{le=\"+Inf\"}} {}\n{NAME}_sum {}\n{NAME}_count {}",
        delays.count(),
        delays.sum_seconds(),
        delays.count()
    );
}

/// Writes the `meridian_voice_relayed_*` metrics: Opus packets between this
/// shard's voice port and other shards' (cluster mode; zero otherwise).
pub(crate) fn render_relay_metrics(out: &mut String, figures: &VoiceFigures) {
    let relay = &figures.relay;
    let counters = &figures.port.counters;
    let _ = writeln!(
        out,
        "# HELP meridian_voice_relayed_packets_total Opus packets relayed between this shard's voice port and other shards' (out: sent, one per packet per shard; in: handed to this port).\n\
         # TYPE meridian_voice_relayed_packets_total counter\n\
         meridian_voice_relayed_packets_total{{direction=\"out\"}} {}\n\
         meridian_voice_relayed_packets_total{{direction=\"in\"}} {}",
        relay.packets_out, relay.packets_in
    );
    let _ = writeln!(
        out,
        "# HELP meridian_voice_relayed_packets_dropped_total Relayed Opus packets dropped because a queue was full.\n\
         # TYPE meridian_voice_relayed_packets_dropped_total counter\n\
         meridian_voice_relayed_packets_dropped_total {}",
        relay.packets_dropped
    );
    let _ = writeln!(
        out,
        "# HELP meridian_voice_relayed_refused_total Relayed packets and speaker entries refused (not asked for, bad size, unknown speaker, beyond the bounds).\n\
         # TYPE meridian_voice_relayed_refused_total counter\n\
         meridian_voice_relayed_refused_total {}",
        relay.refused + counters.relayed_refused
    );
}
