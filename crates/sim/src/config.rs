//! Zone configuration: every designer knob, with documented defaults and checks.

use meridian_protocol::limits::MAX_VISIBLE_ENTITIES;
use meridian_protocol::quantize::fields;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// How a zone simulates. Construct with `SimConfig::default()` and change fields;
/// [`crate::Zone::new`] calls [`SimConfig::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Ticks per second. Default 20.
    pub tick_rate_hz: u32,
    /// Zone extent along x, metres. Default 1,000.
    pub world_width: f32,
    /// Zone extent along y, metres. Default 1,000.
    pub world_height: f32,
    /// An entity enters a subscriber's view within this distance, metres. Default 30.
    pub interest_radius: f32,
    /// An entity leaves the view only beyond `interest_radius + interest_hysteresis`,
    /// so one that wobbles on the edge does not flicker in and out. Default 5.
    pub interest_hysteresis: f32,
    /// Each subscriber's view is recomputed every this many ticks, staggered by
    /// network id so that one in `interest_refresh_ticks` subscribers refreshes per
    /// tick. Between refreshes a view only loses entities that left the zone, and an
    /// empty view refreshes every tick. Keep `interest_hysteresis` above the distance
    /// two avatars can close in that time (`2 × max_speed × ticks / tick_rate_hz`:
    /// 1.2 m at the defaults) and views stay as if refreshed every tick, apart from
    /// newcomers arriving up to `interest_refresh_ticks - 1` ticks later. Default 2.
    pub interest_refresh_ticks: u32,
    /// The most entities one subscriber sees; beyond it the nearest are kept.
    /// Default 256, at most the protocol's limit of 1,024.
    pub max_visible_entities: usize,
    /// Fastest movement an input may ask for, metres per second. Default 6.
    pub max_speed: f32,
    /// Speeds up to this are walking, above it running. Default 2.
    pub walk_speed: f32,
    /// Collision radius of an avatar, metres. Default 0.3.
    pub avatar_radius: f32,
    /// Input rate limit: a client earns one input credit per tick and may save up to
    /// this many; an input without a credit is rejected. Default 4.
    pub input_burst: u32,
    /// An avatar keeps moving on its last input for this many ticks, then stops,
    /// so a client that falls silent does not walk on forever. Default 5.
    pub input_hold_ticks: u32,
    /// The first network id this zone hands out. Zones of one world take
    /// disjoint ranges, so an id names one entity world-wide and an avatar keeps
    /// it across a handoff. Default 1.
    pub first_network_id: u32,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            tick_rate_hz: 20,
            world_width: 1_000.0,
            world_height: 1_000.0,
            interest_radius: 30.0,
            interest_hysteresis: 5.0,
            interest_refresh_ticks: 2,
            max_visible_entities: 256,
            max_speed: 6.0,
            walk_speed: 2.0,
            avatar_radius: 0.3,
            input_burst: 4,
            input_hold_ticks: 5,
            first_network_id: 1,
        }
    }
}

/// A configuration value out of range.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The field must lie within the range given.
    #[error("`{field}` is {value}, it must be within {range}")]
    OutOfRange {
        /// The field's name.
        field: &'static str,
        /// Its value.
        value: f64,
        /// The allowed range, for humans.
        range: &'static str,
    },
}

fn check(
    field: &'static str,
    value: f64,
    ok: bool,
    range: &'static str,
) -> Result<(), ConfigError> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(ConfigError::OutOfRange {
            field,
            value,
            range,
        })
    }
}

impl SimConfig {
    /// Seconds per tick.
    pub fn tick_seconds(&self) -> f32 {
        1.0 / self.tick_rate_hz as f32
    }

    /// Checks every field; the error names the first one out of range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let max_extent = fields::POSITION.max_value();
        check(
            "tick_rate_hz",
            self.tick_rate_hz.into(),
            (1..=240).contains(&self.tick_rate_hz),
            "1..=240",
        )?;
        check(
            "world_width",
            self.world_width.into(),
            self.world_width >= 10.0 && self.world_width <= max_extent,
            "10..=16383 metres",
        )?;
        check(
            "world_height",
            self.world_height.into(),
            self.world_height >= 10.0 && self.world_height <= max_extent,
            "10..=16383 metres",
        )?;
        check(
            "first_network_id",
            self.first_network_id.into(),
            self.first_network_id >= 1,
            "1 or more (0 is no entity)",
        )?;
        check(
            "interest_radius",
            self.interest_radius.into(),
            self.interest_radius > 0.0 && self.interest_radius <= 1_000.0,
            "0 < r <= 1000 metres",
        )?;
        check(
            "interest_hysteresis",
            self.interest_hysteresis.into(),
            self.interest_hysteresis >= 0.0 && self.interest_hysteresis <= self.interest_radius,
            "0..=interest_radius",
        )?;
        check(
            "interest_refresh_ticks",
            self.interest_refresh_ticks.into(),
            (1..=16).contains(&self.interest_refresh_ticks),
            "1..=16",
        )?;
        check(
            "max_visible_entities",
            self.max_visible_entities as f64,
            (1..=MAX_VISIBLE_ENTITIES).contains(&self.max_visible_entities),
            "1..=1024",
        )?;
        check(
            "max_speed",
            self.max_speed.into(),
            self.max_speed > 0.0 && self.max_speed <= 100.0,
            "0 < v <= 100 m/s",
        )?;
        check(
            "walk_speed",
            self.walk_speed.into(),
            self.walk_speed > 0.0 && self.walk_speed <= self.max_speed,
            "0 < v <= max_speed",
        )?;
        // One tick of movement must fit a snapshot's small delta (±2 m), or every
        // update would fall back to absolute positions.
        check(
            "max_speed",
            self.max_speed.into(),
            self.max_speed * self.tick_seconds() <= 2.0,
            "at most 2 metres per tick",
        )?;
        check(
            "avatar_radius",
            self.avatar_radius.into(),
            self.avatar_radius > 0.0 && self.avatar_radius <= 5.0,
            "0 < r <= 5 metres",
        )?;
        check(
            "input_burst",
            self.input_burst.into(),
            (1..=64).contains(&self.input_burst),
            "1..=64",
        )?;
        check(
            "input_hold_ticks",
            self.input_hold_ticks.into(),
            self.input_hold_ticks <= 1_000,
            "0..=1000",
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(SimConfig::default().validate(), Ok(()));
    }

    #[test]
    fn each_bad_value_is_named() {
        let bad = SimConfig {
            interest_radius: f32::NAN,
            ..SimConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::OutOfRange {
                field: "interest_radius",
                ..
            })
        ));
        let bad = SimConfig {
            world_width: 20_000.0,
            ..SimConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::OutOfRange {
                field: "world_width",
                ..
            })
        ));
        let bad = SimConfig {
            tick_rate_hz: 2,
            max_speed: 6.0,
            ..SimConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::OutOfRange {
                field: "max_speed",
                ..
            })
        ));
        let bad = SimConfig {
            interest_hysteresis: 50.0,
            ..SimConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::OutOfRange {
                field: "interest_hysteresis",
                ..
            })
        ));
    }
}
