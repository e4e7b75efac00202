//! Login, sign-up and join rate limits: a token bucket per client address,
//! one per account name for failed logins, and one per account for joins, each
//! in a table of bounded size.
//!
//! Every login and sign-up is charged to its address. A login is charged to
//! the account name too, before the password is checked (so parallel guesses
//! cannot outrun the limit), and given back when the password was right (or
//! was never checked: a busy pool, a database error): only failures count
//! against a name, and strangers' wrong guesses do not keep the
//! player out until they reach the failure limit.
//!
//! Each bucket holds up to `per_minute` attempts and refills at `per_minute`
//! a minute. A bucket that has refilled completely says nothing a fresh one
//! would not, so it is forgotten when the table is full; if the table is still
//! full, an arbitrary entry makes room (an attacker with more addresses than
//! the table holds could reset their own buckets, but never grow memory, and
//! the per-account limit and the bounded hashing pool still hold).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

// The key of a client address, shared with every per-address limit: IPv4 as
// is, IPv6 by its /64.
use meridian_netcode::driver::admission::address_key;

/// A token bucket of one key.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Attempts left (fractional while refilling).
    tokens: f64,
    /// When `tokens` was last brought up to date.
    updated: Instant,
}

/// Token buckets keyed by `K`, at most `capacity` of them.
#[derive(Debug)]
pub(crate) struct RateLimiter<K> {
    /// Attempts allowed in a burst, and refilled per minute.
    per_minute: u32,
    /// Keys tracked at most.
    capacity: usize,
    buckets: HashMap<K, Bucket>,
}

impl<K: Hash + Eq + Clone> RateLimiter<K> {
    /// A limiter allowing `per_minute` attempts per key a minute (at least 1),
    /// tracking at most `capacity` keys (at least 1).
    pub(crate) fn new(per_minute: u32, capacity: usize) -> Self {
        Self {
            per_minute: per_minute.max(1),
            capacity: capacity.max(1),
            buckets: HashMap::new(),
        }
    }

    fn refill_per_second(&self) -> f64 {
        f64::from(self.per_minute) / 60.0
    }

    /// Takes one attempt for `key` at `now`: `Ok` if allowed, else how long
    /// until the next attempt would be.
    pub(crate) fn attempt(&mut self, key: &K, now: Instant) -> Result<(), Duration> {
        let full = f64::from(self.per_minute);
        let rate = self.refill_per_second();
        if !self.buckets.contains_key(key) && self.buckets.len() >= self.capacity {
            self.make_room(now);
        }
        let bucket = self.buckets.entry(key.clone()).or_insert(Bucket {
            tokens: full,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(full);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        }
    }

    /// Forgets the buckets that have refilled completely; if none has, one
    /// arbitrary bucket.
    fn make_room(&mut self, now: Instant) {
        let full = f64::from(self.per_minute);
        let rate = self.refill_per_second();
        self.buckets.retain(|_, bucket| {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens + elapsed * rate < full
        });
        if self.buckets.len() >= self.capacity
            && let Some(victim) = self.buckets.keys().next().cloned()
        {
            self.buckets.remove(&victim);
        }
    }

    /// Gives back the attempt `key` took (a login that turned out right),
    /// never beyond a full bucket; a key no longer tracked is left alone.
    pub(crate) fn refund(&mut self, key: &K, now: Instant) {
        let full = f64::from(self.per_minute);
        let rate = self.refill_per_second();
        if let Some(bucket) = self.buckets.get_mut(key) {
            let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
            bucket.tokens = (bucket.tokens + elapsed * rate + 1.0).min(full);
            bucket.updated = now;
        }
    }

    /// Keys tracked now.
    pub(crate) fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// The limits of `[serve]` for logins and sign-ups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginLimitSettings {
    /// Attempts per client address a minute.
    pub(crate) per_address_per_minute: u32,
    /// Failed logins per account name a minute.
    pub(crate) per_account_per_minute: u32,
    /// Realtime tokens (joins) per account a minute.
    pub(crate) joins_per_account_per_minute: u32,
    /// Addresses and names tracked at most (each).
    pub(crate) tracked_keys: usize,
}

/// Which limit refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    /// Too many attempts from this client address.
    Address(Duration),
    /// Too many failed logins for this account name.
    Account(Duration),
    /// Too many joins for this account.
    Joins(Duration),
    /// Too many instances started by this account's joins.
    InstanceStarts(Duration),
}

impl Limited {
    /// Whole seconds to wait (for `Retry-After`), at least 1.
    pub(crate) fn retry_after_seconds(self) -> u64 {
        let (Self::Address(wait)
        | Self::Account(wait)
        | Self::Joins(wait)
        | Self::InstanceStarts(wait)) = self;
        wait.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// Refusals counted for `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct LimitCounters {
    /// Refused by the per-address limit.
    pub(crate) by_address: AtomicU64,
    /// Refused by the per-account limit.
    pub(crate) by_account: AtomicU64,
    /// Refused because the password hashing queue was full.
    pub(crate) hashing_queue: AtomicU64,
    /// Joins refused by the per-account join limit.
    pub(crate) joins: AtomicU64,
}

/// The login and sign-up limits of one server.
#[derive(Debug)]
pub(crate) struct LoginLimits {
    addresses: Mutex<RateLimiter<IpAddr>>,
    accounts: Mutex<RateLimiter<String>>,
    joins: Mutex<RateLimiter<u64>>,
    pub(crate) counters: LimitCounters,
}

impl LoginLimits {
    pub(crate) fn new(settings: LoginLimitSettings) -> Self {
        Self {
            addresses: Mutex::new(RateLimiter::new(
                settings.per_address_per_minute,
                settings.tracked_keys,
            )),
            accounts: Mutex::new(RateLimiter::new(
                settings.per_account_per_minute,
                settings.tracked_keys,
            )),
            joins: Mutex::new(RateLimiter::new(
                settings.joins_per_account_per_minute,
                settings.tracked_keys,
            )),
            counters: LimitCounters::default(),
        }
    }

    /// Takes one attempt from `address` for `account` (names are compared
    /// case-insensitively); refused attempts are counted. A login whose
    /// password turns out right gives the account's back with [`Self::forgive`].
    pub(crate) fn attempt(
        &self,
        address: IpAddr,
        account: &str,
        now: Instant,
    ) -> Result<(), Limited> {
        let by_address = match self.addresses.lock() {
            Ok(mut limiter) => limiter.attempt(&address_key(address), now),
            // A panic elsewhere while holding the lock: fail open, the hashing
            // pool still bounds the work.
            Err(_) => Ok(()),
        };
        if let Err(wait) = by_address {
            self.counters.by_address.fetch_add(1, Ordering::Relaxed);
            return Err(Limited::Address(wait));
        }
        let by_account = match self.accounts.lock() {
            Ok(mut limiter) => limiter.attempt(&account.to_ascii_lowercase(), now),
            Err(_) => Ok(()),
        };
        by_account.map_err(|wait| {
            self.counters.by_account.fetch_add(1, Ordering::Relaxed);
            Limited::Account(wait)
        })
    }

    /// Takes one attempt from `address` alone (a sign-up: it proves nothing
    /// about an existing account, so it must not use up that account's
    /// failures).
    pub(crate) fn attempt_from(&self, address: IpAddr, now: Instant) -> Result<(), Limited> {
        let by_address = match self.addresses.lock() {
            Ok(mut limiter) => limiter.attempt(&address_key(address), now),
            Err(_) => Ok(()),
        };
        by_address.map_err(|wait| {
            self.counters.by_address.fetch_add(1, Ordering::Relaxed);
            Limited::Address(wait)
        })
    }

    /// Gives back the attempt a login took from `account`: the password was
    /// right, so it was no failure.
    pub(crate) fn forgive(&self, account: &str, now: Instant) {
        if let Ok(mut limiter) = self.accounts.lock() {
            limiter.refund(&account.to_ascii_lowercase(), now);
        }
    }

    /// Takes one join (one realtime token) for `account`; refusals are
    /// counted. Each realtime token spends an id at the game server's hello,
    /// so one account must not mint them without bound.
    pub(crate) fn attempt_join(&self, account: u64, now: Instant) -> Result<(), Limited> {
        let allowed = match self.joins.lock() {
            Ok(mut limiter) => limiter.attempt(&account, now),
            Err(_) => Ok(()),
        };
        allowed.map_err(|wait| {
            self.counters.joins.fetch_add(1, Ordering::Relaxed);
            Limited::Joins(wait)
        })
    }

    /// Account names the failed-login limit tracks now.
    fn tracked_accounts(&self) -> usize {
        self.accounts.lock().map_or(0, |limiter| limiter.tracked())
    }

    /// Counts a login or sign-up refused because the hashing queue was full.
    pub(crate) fn count_hashing_busy(&self) {
        self.counters.hashing_queue.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus lines of the counters.
    pub(crate) fn render(&self) -> String {
        format!(
            "# HELP meridian_login_rate_limited_total Logins and sign-ups refused with 429, by the limit that refused them.\n\
             # TYPE meridian_login_rate_limited_total counter\n\
             meridian_login_rate_limited_total{{limit=\"address\"}} {}\n\
             meridian_login_rate_limited_total{{limit=\"account\"}} {}\n\
             meridian_login_rate_limited_total{{limit=\"hashing_queue\"}} {}\n\
             # HELP meridian_login_limit_tracked_accounts Account names the failed-login limit tracks now.\n\
             # TYPE meridian_login_limit_tracked_accounts gauge\n\
             meridian_login_limit_tracked_accounts {}\n\
             # HELP meridian_join_rate_limited_total Joins refused with 429 by the per-account join limit.\n\
             # TYPE meridian_join_rate_limited_total counter\n\
             meridian_join_rate_limited_total {}\n",
            self.counters.by_address.load(Ordering::Relaxed),
            self.counters.by_account.load(Ordering::Relaxed),
            self.counters.hashing_queue.load(Ordering::Relaxed),
            self.tracked_accounts(),
            self.counters.joins.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_its_burst_then_waits_for_the_refill() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(3, 10);
        for _ in 0..3 {
            assert_eq!(limiter.attempt(&"a", start), Ok(()));
        }
        let wait = limiter.attempt(&"a", start).expect_err("the fourth waits");
        assert_eq!(wait, Duration::from_secs(20), "3 a minute: one every 20 s");
        // Another key is not affected.
        assert_eq!(limiter.attempt(&"b", start), Ok(()));
        // After the wait, one more.
        let later = start + Duration::from_secs(20);
        assert_eq!(limiter.attempt(&"a", later), Ok(()));
        assert!(limiter.attempt(&"a", later).is_err());
    }

    #[test]
    fn the_table_never_grows_past_its_capacity() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(1, 4);
        for key in 0..100u32 {
            let _ = limiter.attempt(&key, start);
            assert!(limiter.tracked() <= 4);
        }
        // Refilled buckets are forgotten first: after a minute, all of them.
        let later = start + Duration::from_secs(61);
        let _ = limiter.attempt(&1_000, later);
        assert_eq!(limiter.tracked(), 1);
    }

    #[test]
    fn logins_are_limited_by_address_and_by_account_and_counted() {
        let limits = LoginLimits::new(LoginLimitSettings {
            per_address_per_minute: 3,
            per_account_per_minute: 2,
            joins_per_account_per_minute: 1,
            tracked_keys: 100,
        });
        let now = Instant::now();
        let home: IpAddr = [10, 0, 0, 1].into();
        let away: IpAddr = [10, 0, 0, 2].into();
        assert!(limits.attempt(home, "ada", now).is_ok());
        assert!(limits.attempt(away, "ADA", now).is_ok());
        let refused = limits.attempt(home, "ada", now).expect_err("ada's third");
        assert!(matches!(refused, Limited::Account(_)), "{refused:?}");
        assert_eq!(refused.retry_after_seconds(), 30);
        // The refused attempt still counts against home: bob's is its third.
        assert!(limits.attempt(home, "bob", now).is_ok());
        let refused = limits
            .attempt(home, "carol", now)
            .expect_err("home's fourth");
        assert!(matches!(refused, Limited::Address(_)), "{refused:?}");
        let text = limits.render();
        assert!(text.contains("limit=\"address\"} 1"), "{text}");
        assert!(text.contains("limit=\"account\"} 1"), "{text}");
    }

    #[test]
    fn right_passwords_from_anywhere_are_not_charged_to_the_account() {
        let limits = LoginLimits::new(LoginLimitSettings {
            per_address_per_minute: 100,
            per_account_per_minute: 3,
            joins_per_account_per_minute: 1,
            tracked_keys: 100,
        });
        let now = Instant::now();
        let stranger = |n: u8| IpAddr::from([10, 0, 1, n]);
        // Strangers guess wrong twice, from two addresses.
        for n in 0..2 {
            assert!(limits.attempt(stranger(n), "ada", now).is_ok());
        }
        // Ada, from fresh addresses, logs in rightly again and again.
        for n in 0..10 {
            let home = IpAddr::from([10, 0, 2, n]);
            assert_eq!(limits.attempt(home, "ada", now), Ok(()), "login {n}");
            limits.forgive("ada", now);
        }
        // The failure limit still holds: a third wrong guess uses the last
        // attempt, and then nobody gets in for a while, Ada included.
        assert!(limits.attempt(stranger(2), "ada", now).is_ok());
        let refused = limits
            .attempt(IpAddr::from([10, 0, 2, 99]), "ada", now)
            .expect_err("past the failure limit");
        assert!(matches!(refused, Limited::Account(_)), "{refused:?}");
        // A forgiven bucket never holds more than its burst.
        let later = now + Duration::from_secs(60);
        for _ in 0..5 {
            limits.forgive("ada", later);
        }
        for n in 0..3 {
            assert!(limits.attempt(stranger(10 + n), "ada", later).is_ok());
        }
        assert!(limits.attempt(stranger(20), "ada", later).is_err());
    }

    #[test]
    fn sign_ups_use_the_address_alone() {
        let limits = LoginLimits::new(LoginLimitSettings {
            per_address_per_minute: 2,
            per_account_per_minute: 1,
            joins_per_account_per_minute: 1,
            tracked_keys: 100,
        });
        let now = Instant::now();
        let home: IpAddr = [10, 0, 0, 1].into();
        assert!(limits.attempt_from(home, now).is_ok());
        assert!(limits.attempt_from(home, now).is_ok());
        assert!(matches!(
            limits.attempt_from(home, now),
            Err(Limited::Address(_))
        ));
        assert_eq!(limits.tracked_accounts(), 0);
    }

    #[test]
    fn joins_are_limited_per_account_and_counted() {
        let limits = LoginLimits::new(LoginLimitSettings {
            per_address_per_minute: 100,
            per_account_per_minute: 10,
            joins_per_account_per_minute: 2,
            tracked_keys: 100,
        });
        let now = Instant::now();
        assert!(limits.attempt_join(7, now).is_ok());
        assert!(limits.attempt_join(7, now).is_ok());
        let refused = limits.attempt_join(7, now).expect_err("the third join");
        assert_eq!(refused, Limited::Joins(Duration::from_secs(30)));
        assert_eq!(refused.retry_after_seconds(), 30);
        assert!(limits.attempt_join(8, now).is_ok(), "another account");
        let text = limits.render();
        assert!(
            text.contains("meridian_join_rate_limited_total 1"),
            "{text}"
        );
    }

    #[test]
    fn ipv6_addresses_share_their_slash_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse().expect("an address");
        let two: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("an address");
        let other: IpAddr = "2001:db8:1:3::1".parse().expect("an address");
        assert_eq!(address_key(one), address_key(two));
        assert_ne!(address_key(one), address_key(other));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().expect("an address");
        assert_eq!(address_key(mapped), IpAddr::from([10, 0, 0, 1]));
    }
}
