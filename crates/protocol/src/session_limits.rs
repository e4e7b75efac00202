//! The limits a session is held to: what the `Welcome` and `SettingsChanged`
//! messages carry so that a client can move, chat and send without being
//! refused (docs/PROTOCOL.md, section 6.1).

use serde::{Deserialize, Serialize};

use crate::DecodeError;

/// Every limit the server holds a client to, as it is configured: what a
/// client needs to move, chat and send without being refused. The
/// [`Welcome`](crate::messages::Welcome) carries it, and [`SettingsChanged`](crate::messages::SettingsChanged) when an operator changes
/// a setting while the client is connected.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SessionLimits {
    /// The fastest `MovementIntent.speed` accepted, metres per second.
    pub max_speed: f32,
    /// Speeds up to this animate as walking, faster ones as running, metres
    /// per second.
    pub walk_speed: f32,
    /// An avatar's collision radius, metres: its centre stays this far from
    /// the zone's edges and from static elements.
    pub avatar_radius: f32,
    /// An entity enters the client's view within this distance of its
    /// avatar, metres.
    pub interest_radius: f32,
    /// An entity leaves the view only beyond `interest_radius` plus this,
    /// metres.
    pub interest_hysteresis: f32,
    /// `Proximity` chat reaches avatars within this distance of the speaker,
    /// metres.
    pub chat_hearing_radius: f32,
    /// Inputs: one credit per tick, saved up to this many; an input without a
    /// credit is dropped.
    pub input_burst: u32,
    /// An avatar goes on moving on its last accepted input for this many
    /// ticks, then stops.
    pub input_hold_ticks: u32,
    /// Datagrams (inputs and acks together) the server takes per second;
    /// more are dropped.
    pub datagrams_per_second: u32,
    /// Chat lines and inventory changes together the server takes per ten
    /// seconds; more are dropped.
    pub chat_lines_per_10s: u32,
    /// Inventory changes that may wait for their result at once; more are
    /// answered `Busy`.
    pub inventory_in_flight: u32,
    /// Dropped or invalid datagrams and refused requests a connection may
    /// gather (each forgiven after a second) before it is disconnected.
    pub strikes_before_disconnect: u32,
    /// A connection not heard from for this long is closed, milliseconds.
    pub idle_timeout_ms: u32,
    /// A client sends at least one datagram this often, milliseconds.
    pub heartbeat_interval_ms: u32,
}

impl SessionLimits {
    /// Every distance and speed finite and not negative, in field order.
    pub(crate) fn validate(&self) -> Result<(), DecodeError> {
        let metres = [
            ("limits.max_speed", self.max_speed),
            ("limits.walk_speed", self.walk_speed),
            ("limits.avatar_radius", self.avatar_radius),
            ("limits.interest_radius", self.interest_radius),
            ("limits.interest_hysteresis", self.interest_hysteresis),
            ("limits.chat_hearing_radius", self.chat_hearing_radius),
        ];
        for (field, value) in metres {
            if !value.is_finite() || value < 0.0 {
                return Err(DecodeError::OutOfRange { field });
            }
        }
        Ok(())
    }
}
