//! Reading the configuration file. Only the binary reads files; the crates take
//! typed config structs.

use std::path::Path;

use anyhow::Context;
use meridian_netcode::NetcodeConfig;
use meridian_sim::SimConfig;
use serde::Deserialize;

/// The file's layout: one table per subsystem.
///
/// ```toml
/// [sim]
/// tick_rate_hz = 30
/// interest_radius = 40.0
/// ```
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct FileConfig {
    pub(crate) sim: SimConfig,
    pub(crate) netcode: NetcodeConfig,
    pub(crate) serve: crate::serve::settings::ServeTable,
    pub(crate) voice: crate::serve::voice::VoiceTable,
}

impl FileConfig {
    pub(crate) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused_with_their_name() {
        let error = toml::from_str::<FileConfig>("[sim]\ntick_rate = 30\n").unwrap_err();
        assert!(error.to_string().contains("tick_rate"), "{error}");
    }

    #[test]
    fn missing_keys_take_defaults() {
        let config: FileConfig = toml::from_str("[sim]\ninterest_radius = 40.0\n").unwrap();
        assert_eq!(config.sim.interest_radius, 40.0);
        assert_eq!(config.sim.tick_rate_hz, SimConfig::default().tick_rate_hz);
    }
}
