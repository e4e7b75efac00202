//! Inputs the zones rejected, by reason, and the clients that keep sending
//! them: each rejection is a strike, one strike is forgiven per tick, and a
//! client past [`REJECTION_STRIKES`] is an offender to disconnect.

use std::collections::HashMap;

use meridian_sim::{ClientId, RejectReason, Rejection};

/// Rejected inputs a client may accumulate (one forgiven per tick) before it is
/// disconnected as a repeat offender.
const REJECTION_STRIKES: f32 = 40.0;

/// Rejections counted, and each client's strikes.
#[derive(Debug, Default)]
pub(crate) struct Strikes {
    by_client: HashMap<ClientId, f32>,
    by_reason: HashMap<RejectReason, u64>,
}

impl Strikes {
    /// Counts `rejection`; its client and reason if the client is past its
    /// strikes (it is named again for every rejection until it is gone).
    pub(crate) fn count(&mut self, rejection: &Rejection) -> Option<(ClientId, RejectReason)> {
        *self.by_reason.entry(rejection.reason).or_default() += 1;
        let strikes = self.by_client.entry(rejection.client).or_default();
        *strikes += 1.0;
        (*strikes > REJECTION_STRIKES).then_some((rejection.client, rejection.reason))
    }

    /// The end of a tick: one strike of every client is forgiven.
    pub(crate) fn forgive_one(&mut self) {
        self.by_client.retain(|_, strikes| {
            *strikes -= 1.0;
            *strikes > 0.0
        });
    }

    /// `client` is gone from the zones: its strikes go with it.
    pub(crate) fn forget(&mut self, client: ClientId) {
        self.by_client.remove(&client);
    }

    /// Rejections by reason since the start.
    pub(crate) fn by_reason(&self) -> &HashMap<RejectReason, u64> {
        &self.by_reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejection(client: u64) -> Rejection {
        Rejection {
            client: ClientId(client),
            sequence: 1,
            reason: RejectReason::RateLimited,
        }
    }

    #[test]
    fn a_client_past_its_strikes_is_named_and_forgiveness_holds_it_back() {
        let mut strikes = Strikes::default();
        for _ in 0..40 {
            assert_eq!(strikes.count(&rejection(1)), None);
        }
        assert_eq!(
            strikes.count(&rejection(1)),
            Some((ClientId(1), RejectReason::RateLimited))
        );
        // One rejection a tick is forgiven as fast as it comes.
        let mut calm = Strikes::default();
        for _ in 0..1000 {
            assert_eq!(calm.count(&rejection(2)), None);
            calm.forgive_one();
        }
        assert_eq!(calm.by_reason()[&RejectReason::RateLimited], 1000);
    }

    #[test]
    fn a_forgotten_client_starts_again() {
        let mut strikes = Strikes::default();
        for _ in 0..40 {
            strikes.count(&rejection(3));
        }
        strikes.forget(ClientId(3));
        assert_eq!(strikes.count(&rejection(3)), None);
    }
}
