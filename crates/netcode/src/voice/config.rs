//! The forwarding unit's knobs, with their defaults and `validate()`.

use std::time::Duration;

/// Settings of one [`Sfu`](super::Sfu).
#[derive(Debug, Clone, PartialEq)]
pub struct VoiceConfig {
    /// Most voice sessions at once; an offer beyond is refused.
    pub max_sessions: usize,
    /// Most audio lines a participant may offer to receive on (its slots: the
    /// loudest N it can hear at once). An offer with more is refused.
    pub max_slots: usize,
    /// Datagrams per second one session may send on average; the rest is
    /// refused (counted as rate limited) before it reaches its `Rtc`.
    pub session_datagrams_per_second: u32,
    /// How many datagrams one session may send in a burst above that rate.
    pub session_datagram_burst: u32,
    /// STUN per second for one session from addresses it has not answered
    /// yet (its peer's first checks, or someone who learned its ufrag). A
    /// bucket of its own, so that a forged STUN flood naming a session cannot
    /// spend the rate of its real traffic.
    pub session_unverified_stun_per_second: u32,
    /// The burst of that rate.
    pub session_unverified_stun_burst: u32,
    /// Most datagrams waiting in the outbound queue; beyond, new ones are
    /// dropped and counted. Bounds the memory a flood can take.
    pub max_queued_transmits: usize,
    /// Most remote addresses remembered per session (ICE can try several).
    pub max_addresses_per_session: usize,
    /// A session not connected (ICE and DTLS) this long after its offer is
    /// closed.
    pub connect_timeout: Duration,
    /// A change of a routed speaker's distance smaller than this (metres) is
    /// not announced again in a [`VoiceEvent::Heard`](super::VoiceEvent::Heard).
    pub distance_step: f32,
}

impl Default for VoiceConfig {
    fn default() -> Self {
        Self {
            max_sessions: 4_096,
            max_slots: 8,
            // Opus at 50 packets/s, RTCP, STUN keep-alives and the DTLS
            // handshake fit with room to spare.
            session_datagrams_per_second: 200,
            session_datagram_burst: 100,
            session_unverified_stun_per_second: 20,
            session_unverified_stun_burst: 40,
            max_queued_transmits: 16_384,
            max_addresses_per_session: 4,
            connect_timeout: Duration::from_secs(30),
            distance_step: 0.5,
        }
    }
}

/// Why a [`VoiceConfig`] is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum VoiceConfigError {
    /// A limit that must be at least one is zero.
    #[error("voice setting {0} must be at least 1")]
    Zero(&'static str),
    /// `distance_step` is negative or not a number.
    #[error("voice distance_step must be a finite number >= 0, not {0}")]
    DistanceStep(f32),
    /// The voice port's address cannot be an ICE host candidate (say, it is
    /// unspecified: 0.0.0.0).
    #[error("voice address {0} cannot be announced as an ICE candidate")]
    Candidate(std::net::SocketAddr),
}

impl VoiceConfig {
    /// Checks every setting.
    pub fn validate(&self) -> Result<(), VoiceConfigError> {
        let limits = [
            ("max_sessions", self.max_sessions),
            ("max_slots", self.max_slots),
            (
                "session_datagrams_per_second",
                self.session_datagrams_per_second as usize,
            ),
            (
                "session_datagram_burst",
                self.session_datagram_burst as usize,
            ),
            ("max_queued_transmits", self.max_queued_transmits),
            ("max_addresses_per_session", self.max_addresses_per_session),
        ];
        for (name, value) in limits {
            if value == 0 {
                return Err(VoiceConfigError::Zero(name));
            }
        }
        if !self.distance_step.is_finite() || self.distance_step < 0.0 {
            return Err(VoiceConfigError::DistanceStep(self.distance_step));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_zero_limits_are_not() {
        assert_eq!(VoiceConfig::default().validate(), Ok(()));
        let config = VoiceConfig {
            max_slots: 0,
            ..VoiceConfig::default()
        };
        assert_eq!(config.validate(), Err(VoiceConfigError::Zero("max_slots")));
        let config = VoiceConfig {
            distance_step: f32::NAN,
            ..VoiceConfig::default()
        };
        assert!(matches!(
            config.validate(),
            Err(VoiceConfigError::DistanceStep(_))
        ));
    }
}
