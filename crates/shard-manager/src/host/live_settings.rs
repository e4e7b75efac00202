//! Live settings: new designer knobs for every zone and a new snapshot budget,
//! taken between two ticks, and a `SettingsChanged` to every client connected
//! here so that it paces its inputs and reads its limits anew.

use meridian_protocol::messages::{ServerMessage, SettingsChanged};
use meridian_sim::{ConfigError, LiveSettings};
use thiserror::Error;

use super::{At, ZoneHost};
use crate::host::borders::Borders;
use meridian_netcode::config::{NetcodeConfig, NetcodeConfigError};

/// Why live settings were refused (nothing changed).
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum LiveSettingsError {
    /// A zone's configuration would be invalid.
    #[error("invalid [sim] setting: {0}")]
    Sim(#[from] ConfigError),
    /// The netcode configuration would be invalid.
    #[error("invalid [netcode] setting: {0}")]
    Netcode(#[from] NetcodeConfigError),
}

impl<B: Borders> ZoneHost<B> {
    /// From the next tick on, every zone runs with `live` and every client's
    /// snapshots get `snapshot_bytes_per_second`; every client connected here
    /// is sent a `SettingsChanged` with its new limits. Everything is checked
    /// first (as a settings file would be): on an error nothing changes.
    /// The caller paces its ticks at the new rate.
    pub fn apply_live_settings(
        &mut self,
        live: &LiveSettings,
        snapshot_bytes_per_second: u32,
    ) -> Result<(), LiveSettingsError> {
        for zone in &self.zones {
            zone.config().with_live_settings(live)?;
        }
        NetcodeConfig {
            snapshot_bytes_per_second,
            ..self.server.config().clone()
        }
        .validate()?;
        for zone in &mut self.zones {
            zone.apply_live_settings(live)?;
        }
        self.server
            .set_snapshot_bytes_per_second(snapshot_bytes_per_second)?;
        self.announce_settings();
        Ok(())
    }

    /// Tells every client connected here the tick rate and limits it is held
    /// to from the next tick on.
    fn announce_settings(&mut self) {
        let config = self.zones[0].config();
        // Ticks fit u32 for over six years at 20 Hz.
        let next_tick = (self.zones[0].tick() as u32).wrapping_add(1);
        let message = ServerMessage::SettingsChanged(SettingsChanged {
            tick: next_tick,
            tick_rate_hz: u16::try_from(config.tick_rate_hz).unwrap_or(u16::MAX),
            limits: meridian_netcode::session_limits(config, self.server.config()),
        });
        let here: Vec<_> = self
            .members
            .iter()
            .filter(|(_, member)| !matches!(member.at, At::ForGateway(_)))
            .map(|(connection, _)| connection)
            .collect();
        for connection in here {
            // Members are admitted; one closing meanwhile is simply skipped.
            let _ = self.server.send_admitted(connection, &message);
        }
    }
}
