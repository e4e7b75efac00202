//! [`LiveSettings`]: the designer knobs a running zone takes between two ticks.

use serde::{Deserialize, Serialize};

use crate::{ConfigError, SimConfig};

/// The part of a [`SimConfig`] that may change while a zone runs
/// ([`crate::Zone::apply_live_settings`]): how often it ticks, how far its
/// subscribers see, and how fast avatars may move. Everything else (the
/// zone's extent, its network ids, collision, input credits) is fixed at
/// start.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LiveSettings {
    /// [`SimConfig::tick_rate_hz`].
    pub tick_rate_hz: u32,
    /// [`SimConfig::interest_radius`], metres.
    pub interest_radius: f32,
    /// [`SimConfig::interest_hysteresis`], metres.
    pub interest_hysteresis: f32,
    /// [`SimConfig::interest_refresh_ticks`].
    pub interest_refresh_ticks: u32,
    /// [`SimConfig::max_visible_entities`].
    pub max_visible_entities: usize,
    /// [`SimConfig::max_speed`], metres per second.
    pub max_speed: f32,
    /// [`SimConfig::walk_speed`], metres per second.
    pub walk_speed: f32,
}

impl SimConfig {
    /// The knobs of this configuration that may change while a zone runs.
    pub fn live_settings(&self) -> LiveSettings {
        LiveSettings {
            tick_rate_hz: self.tick_rate_hz,
            interest_radius: self.interest_radius,
            interest_hysteresis: self.interest_hysteresis,
            interest_refresh_ticks: self.interest_refresh_ticks,
            max_visible_entities: self.max_visible_entities,
            max_speed: self.max_speed,
            walk_speed: self.walk_speed,
        }
    }

    /// This configuration with `live` in place of its live knobs, checked as
    /// a whole by [`SimConfig::validate`] (so a tick rate too low for the
    /// maximum speed is refused, naming `max_speed`, as in a settings file).
    pub fn with_live_settings(&self, live: &LiveSettings) -> Result<Self, ConfigError> {
        let changed = Self {
            tick_rate_hz: live.tick_rate_hz,
            interest_radius: live.interest_radius,
            interest_hysteresis: live.interest_hysteresis,
            interest_refresh_ticks: live.interest_refresh_ticks,
            max_visible_entities: live.max_visible_entities,
            max_speed: live.max_speed,
            walk_speed: live.walk_speed,
            ..self.clone()
        };
        changed.validate()?;
        Ok(changed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_settings_replace_only_their_fields_and_are_validated_as_a_whole() {
        let base = SimConfig {
            world_width: 64.0,
            first_network_id: 100,
            ..SimConfig::default()
        };
        let mut live = base.live_settings();
        live.tick_rate_hz = 10;
        live.interest_radius = 12.5;
        let changed = base.with_live_settings(&live).expect("valid");
        assert_eq!(changed.tick_rate_hz, 10);
        assert_eq!(changed.interest_radius, 12.5);
        assert_eq!(changed.world_width, 64.0);
        assert_eq!(changed.first_network_id, 100);
        assert_eq!(changed.live_settings(), live);

        // 6 m/s at 2 Hz is 3 m a tick: refused, naming the speed.
        live.tick_rate_hz = 2;
        assert!(matches!(
            base.with_live_settings(&live),
            Err(ConfigError::OutOfRange {
                field: "max_speed",
                ..
            })
        ));
        live.tick_rate_hz = 0;
        assert!(matches!(
            base.with_live_settings(&live),
            Err(ConfigError::OutOfRange {
                field: "tick_rate_hz",
                ..
            })
        ));
    }
}
