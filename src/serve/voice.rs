//! Proximity voice in `meridian serve`: the `[voice]` settings, and the
//! relay between the world's zone host and the voice port (the thread
//! `meridian-voice` that owns the voice UDP socket and the forwarding unit).
//!
//! Once per tick of the zone thread, [`VoiceRelay::exchange`] hands the
//! host the port's outcomes (answers, line changes, ended sessions), then
//! hands the port, in one batch, the host's orders (offers, closes) and who
//! hears whom now. See docs/VOICE.md.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use meridian_netcode::voice::{
    InstanceKey, OfferError, SelectionConfig, VoiceCommand, VoiceConfig, VoiceEvent, VoiceOutcome,
    VoicePort, VoicePortStats,
};
use std::fmt::Write as _;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::auth::{Body, Caller, Id, error};
use super::http::HttpState;
use super::moderation::ModerationOrder;

use meridian_netcode::{Borders, VoiceOrder, VoiceRefusals, ZoneHost};
use meridian_protocol::limits::MAX_VOICE_LINES;
use meridian_protocol::messages::VoiceRefusalReason;
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

/// The voice port and what the zone thread needs to talk to it.
#[derive(Debug)]
pub(crate) struct VoiceRelay {
    port: VoicePort,
    selection: SelectionConfig,
    outcomes: Vec<VoiceOutcome>,
    /// Speakers heard in the last 500 ms (with an audio level), last tick.
    speakers: usize,
}

/// The world's voice never crosses into another space's instance: one key.
const WORLD: InstanceKey = InstanceKey(0);

impl VoiceRelay {
    /// Starts the voice port, if voice is on.
    pub(crate) fn start(table: &VoiceTable) -> anyhow::Result<Option<Self>> {
        if !table.enabled {
            return Ok(None);
        }
        let port = VoicePort::start(table.voice_config(), table.address)
            .with_context(|| format!("cannot start the voice port on {}", table.address))?;
        tracing::info!(address = %port.local_addr(), "voice port listening (WebRTC, ICE-lite)");
        Ok(Some(Self {
            port,
            selection: table.selection(),
            outcomes: Vec::new(),
            speakers: 0,
        }))
    }

    /// The figures `/metrics` shows.
    pub(crate) fn figures<B: Borders>(&self, host: &ZoneHost<B>) -> VoiceFigures {
        VoiceFigures {
            port: self.port.stats(),
            speakers: self.speakers,
            host_sessions: host.voice_sessions(),
            refusals: host.voice_refusals(),
        }
    }

    /// One tick's exchange between `host` and the port (see the module docs).
    pub(crate) fn exchange<B: Borders>(&mut self, host: &mut ZoneHost<B>) {
        self.port.take_outcomes(&mut self.outcomes);
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
                // Connected, and what later versions add: nothing to tell.
                _ => {}
            }
        }
        host.send_voice_lines();
        let mut commands: Vec<VoiceCommand> = host
            .take_voice_orders()
            .into_iter()
            .map(|order| match order {
                VoiceOrder::Offer { participant, sdp } => VoiceCommand::Offer { participant, sdp },
                VoiceOrder::Close { participant } => VoiceCommand::Close { participant },
            })
            .collect();
        let levels = self.port.audio_levels();
        self.speakers = levels.len();
        commands.push(VoiceCommand::Route(host.voice_routing(
            &self.selection,
            WORLD,
            &levels,
        )));
        self.port.submit(commands);
    }

    /// Stops the port's thread.
    pub(crate) fn stop(self) {
        if let Err(error) = self.port.stop() {
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
/// them, however far. An empty list clears the stage. Only the world (the
/// space this server hosts) has voice: another space is a 409.
async fn set_stage(
    State(state): State<HttpState>,
    Caller(claims): Caller,
    Id(id): Id,
    Body(stage): Body<Stage>,
) -> Response {
    if let Err(response) = super::api::may_change(&state, &claims, id).await {
        return response;
    }
    if id != state.space_id {
        return error(
            StatusCode::CONFLICT,
            "voice runs in the world (the space this server hosts) only",
        );
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
    super::moderation::ordered(&state, ModerationOrder::Stage { accounts }, answer)
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
}

/// Writes the `meridian_voice_*` metrics. The world is the one instance with
/// voice, so they carry no room label (docs/OPERATIONS.md).
pub(crate) fn render_metrics(out: &mut String, figures: &VoiceFigures) {
    let counters = &figures.port.counters;
    let lines: [(&str, &str, &str, u64); 12] = [
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
}
