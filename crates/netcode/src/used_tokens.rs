//! Realtime tokens are single use: the ids of tokens already presented are
//! remembered until the tokens expire, so a token captured in flight, or
//! reused by a client, is refused on a second connection.
//!
//! Memory is bounded: ids leave at their token's expiry, and at most
//! [`MAX_USED_TOKENS`] are held; when that many unexpired tokens have been
//! used, further hellos are refused until some expire (failing closed: a
//! forgotten id could be replayed).

use std::collections::{BTreeSet, HashSet};

/// Unexpired used token ids remembered at most.
pub(crate) const MAX_USED_TOKENS: usize = 100_000;

/// Why a token id could not be claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClaimError {
    /// The id was presented before.
    Replayed,
    /// [`MAX_USED_TOKENS`] unexpired ids are held.
    Full,
}

/// The ids of used, unexpired tokens.
#[derive(Debug)]
pub(crate) struct UsedTokens {
    capacity: usize,
    ids: HashSet<String>,
    /// The same ids ordered by expiry (Unix seconds), to forget them in order.
    by_expiry: BTreeSet<(u64, String)>,
}

impl Default for UsedTokens {
    fn default() -> Self {
        Self::with_capacity(MAX_USED_TOKENS)
    }
}

impl UsedTokens {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            ids: HashSet::new(),
            by_expiry: BTreeSet::new(),
        }
    }

    /// Records `id` (of a token expiring at `expires`) as used at `now_unix`,
    /// or says why not.
    pub(crate) fn claim(
        &mut self,
        id: &str,
        expires: u64,
        now_unix: u64,
    ) -> Result<(), ClaimError> {
        self.forget_expired(now_unix);
        if self.ids.contains(id) {
            return Err(ClaimError::Replayed);
        }
        if self.ids.len() >= self.capacity {
            return Err(ClaimError::Full);
        }
        self.ids.insert(id.to_owned());
        self.by_expiry.insert((expires, id.to_owned()));
        Ok(())
    }

    /// Forgets ids of tokens that expired by `now_unix` (they are refused as
    /// expired anyway).
    fn forget_expired(&mut self, now_unix: u64) {
        while let Some(first) = self.by_expiry.first() {
            if first.0 > now_unix {
                break;
            }
            if let Some((_, id)) = self.by_expiry.pop_first() {
                self.ids.remove(&id);
            }
        }
    }

    /// Ids held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.ids.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_accepted_once_until_it_expires() {
        let mut used = UsedTokens::default();
        assert_eq!(used.claim("a", 100, 10), Ok(()));
        assert_eq!(used.claim("a", 100, 11), Err(ClaimError::Replayed));
        assert_eq!(used.claim("b", 50, 11), Ok(()));
        assert_eq!(used.len(), 2);
        // At 50, b's token has expired: b is forgotten, a is not.
        assert_eq!(used.claim("c", 200, 50), Ok(()));
        assert_eq!(used.len(), 2);
        assert_eq!(used.claim("a", 100, 60), Err(ClaimError::Replayed));
    }

    #[test]
    fn a_full_table_refuses_until_tokens_expire() {
        let mut used = UsedTokens::with_capacity(2);
        assert_eq!(used.claim("a", 10, 0), Ok(()));
        assert_eq!(used.claim("b", 20, 0), Ok(()));
        assert_eq!(used.claim("c", 30, 0), Err(ClaimError::Full));
        assert_eq!(used.claim("c", 30, 10), Ok(()), "a expired at 10");
        assert!(used.len() <= 2);
    }
}
