//! Spawn hints waiting for their player to connect: each expires after a
//! lifetime (the realtime token's, after which the player cannot connect with
//! the token that came with it), and the store holds at most a fixed number
//! (the oldest goes first), so joins whose player never connects cannot grow
//! it without bound.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::host::members::SpawnHint;

/// How long a hint waits by default: a realtime token's lifetime.
pub const DEFAULT_SPAWN_HINT_LIFETIME: Duration = Duration::from_secs(300);

/// How many hints wait at most by default.
pub const DEFAULT_SPAWN_HINT_CAPACITY: usize = 65_536;

/// Hints by account, each with the time it was set.
#[derive(Debug)]
pub(crate) struct SpawnHints {
    by_account: HashMap<u64, (Instant, SpawnHint)>,
    /// (set at, account), oldest first: one entry per waiting hint.
    by_age: BTreeSet<(Instant, u64)>,
    lifetime: Duration,
    capacity: usize,
    dropped: u64,
}

impl Default for SpawnHints {
    fn default() -> Self {
        Self {
            by_account: HashMap::new(),
            by_age: BTreeSet::new(),
            lifetime: DEFAULT_SPAWN_HINT_LIFETIME,
            capacity: DEFAULT_SPAWN_HINT_CAPACITY,
            dropped: 0,
        }
    }
}

impl SpawnHints {
    /// Hints expire `lifetime` after they are set; at most `capacity` wait
    /// (at least one).
    pub(crate) fn set_limits(&mut self, lifetime: Duration, capacity: usize) {
        self.lifetime = lifetime;
        self.capacity = capacity.max(1);
    }

    /// Sets (or replaces) the hint of `hint.account`, set at `now`.
    pub(crate) fn insert(&mut self, now: Instant, hint: SpawnHint) {
        if let Some((set_at, _)) = self.by_account.remove(&hint.account) {
            self.by_age.remove(&(set_at, hint.account));
        }
        while self.by_account.len() >= self.capacity {
            let Some((_, oldest)) = self.by_age.pop_first() else {
                break;
            };
            self.by_account.remove(&oldest);
            self.dropped += 1;
        }
        self.by_account.insert(hint.account, (now, hint));
        self.by_age.insert((now, hint.account));
    }

    /// Takes the hint of `account`, if one waits.
    pub(crate) fn take(&mut self, account: u64) -> Option<SpawnHint> {
        let (set_at, hint) = self.by_account.remove(&account)?;
        self.by_age.remove(&(set_at, account));
        Some(hint)
    }

    /// Drops every hint set `lifetime` or longer before `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        while let Some(&(set_at, account)) = self.by_age.first() {
            if now.saturating_duration_since(set_at) < self.lifetime {
                break;
            }
            self.by_age.pop_first();
            self.by_account.remove(&account);
            self.dropped += 1;
        }
    }

    /// Hints waiting.
    pub(crate) fn len(&self) -> usize {
        self.by_account.len()
    }

    /// Hints dropped unused (expired, or pushed out when full).
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hint(account: u64) -> SpawnHint {
        SpawnHint {
            account,
            place: None,
            appearance: Some(2),
        }
    }

    #[test]
    fn a_hint_never_taken_expires_after_its_lifetime() {
        let start = Instant::now();
        let mut hints = SpawnHints::default();
        hints.set_limits(Duration::from_secs(300), 10);
        hints.insert(start, hint(1));
        hints.insert(start + Duration::from_secs(100), hint(2));
        hints.expire(start + Duration::from_secs(299));
        assert_eq!(hints.len(), 2);
        hints.expire(start + Duration::from_secs(300));
        assert_eq!(hints.len(), 1);
        assert_eq!(hints.take(1), None);
        assert_eq!(hints.take(2), Some(hint(2)));
        assert_eq!(hints.len(), 0);
        assert_eq!(hints.dropped(), 1);
    }

    #[test]
    fn a_full_store_drops_the_oldest_and_a_renewed_hint_is_young() {
        let start = Instant::now();
        let mut hints = SpawnHints::default();
        hints.set_limits(Duration::from_secs(300), 3);
        for account in 0..1_000u64 {
            hints.insert(start + Duration::from_millis(account), hint(account));
            assert!(hints.len() <= 3);
        }
        assert_eq!(hints.dropped(), 997);
        // Set again later: it no longer expires with its first time.
        hints.insert(start + Duration::from_secs(200), hint(998));
        hints.expire(start + Duration::from_secs(301));
        assert_eq!(hints.take(998), Some(hint(998)));
        assert_eq!(hints.len(), 0);
    }
}
