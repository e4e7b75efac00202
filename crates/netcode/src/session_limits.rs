//! The limits a client is told at its welcome, derived once from the settings
//! the server enforces them with.

use meridian_protocol::SessionLimits;
use meridian_sim::SimConfig;

use crate::NetcodeConfig;

/// Inventory changes one client may have waiting for the database; more are
/// answered `Busy` at once.
pub const MAX_INVENTORY_IN_FLIGHT: u8 = 8;

/// What a server on these settings holds each client to: the zone's movement
/// rules and interest, the netcode's rate limits and timeouts.
pub fn session_limits(sim: &SimConfig, netcode: &NetcodeConfig) -> SessionLimits {
    SessionLimits {
        max_speed: sim.max_speed,
        walk_speed: sim.walk_speed,
        avatar_radius: sim.avatar_radius,
        interest_radius: sim.interest_radius,
        interest_hysteresis: sim.interest_hysteresis,
        chat_hearing_radius: netcode.chat_hearing_radius,
        input_burst: sim.input_burst,
        input_hold_ticks: sim.input_hold_ticks,
        datagrams_per_second: netcode.datagrams_per_second,
        chat_lines_per_10s: netcode.chat_lines_per_10s,
        inventory_in_flight: u32::from(MAX_INVENTORY_IN_FLIGHT),
        strikes_before_disconnect: netcode.strikes_before_disconnect,
        // Both are at most 600,000 by `NetcodeConfig::validate`.
        idle_timeout_ms: u32::try_from(netcode.idle_timeout_ms).unwrap_or(u32::MAX),
        heartbeat_interval_ms: u32::try_from(netcode.heartbeat_interval_ms).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_comes_from_its_setting() {
        let sim = SimConfig {
            max_speed: 7.5,
            walk_speed: 2.5,
            avatar_radius: 0.4,
            interest_radius: 40.0,
            interest_hysteresis: 6.0,
            input_burst: 3,
            input_hold_ticks: 9,
            ..SimConfig::default()
        };
        let netcode = NetcodeConfig {
            chat_hearing_radius: 12.0,
            datagrams_per_second: 90,
            chat_lines_per_10s: 7,
            strikes_before_disconnect: 33,
            idle_timeout_ms: 8_000,
            heartbeat_interval_ms: 700,
            ..NetcodeConfig::default()
        };
        assert_eq!(
            session_limits(&sim, &netcode),
            SessionLimits {
                max_speed: 7.5,
                walk_speed: 2.5,
                avatar_radius: 0.4,
                interest_radius: 40.0,
                interest_hysteresis: 6.0,
                chat_hearing_radius: 12.0,
                input_burst: 3,
                input_hold_ticks: 9,
                datagrams_per_second: 90,
                chat_lines_per_10s: 7,
                inventory_in_flight: 8,
                strikes_before_disconnect: 33,
                idle_timeout_ms: 8_000,
                heartbeat_interval_ms: 700,
            }
        );
    }
}
