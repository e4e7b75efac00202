//! Login and sign-up rate limits: a token bucket per client address and one per
//! account name, in a table of bounded size.
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

    /// Keys tracked now.
    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

/// The limits of `[serve]` for logins and sign-ups.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoginLimitSettings {
    /// Attempts per client address a minute.
    pub(crate) per_address_per_minute: u32,
    /// Attempts per account name a minute.
    pub(crate) per_account_per_minute: u32,
    /// Addresses and names tracked at most (each).
    pub(crate) tracked_keys: usize,
}

/// Which limit refused an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limited {
    /// Too many attempts from this client address.
    Address(Duration),
    /// Too many attempts for this account name.
    Account(Duration),
}

impl Limited {
    /// Whole seconds to wait (for `Retry-After`), at least 1.
    pub(crate) fn retry_after_seconds(self) -> u64 {
        let (Self::Address(wait) | Self::Account(wait)) = self;
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
}

/// The login and sign-up limits of one server.
#[derive(Debug)]
pub(crate) struct LoginLimits {
    addresses: Mutex<RateLimiter<IpAddr>>,
    accounts: Mutex<RateLimiter<String>>,
    pub(crate) counters: LimitCounters,
}

/// The key of a client address: IPv4 as is, IPv6 by its /64 (one host usually
/// owns a whole /64, so single addresses would be free to rotate).
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
    }
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
            counters: LimitCounters::default(),
        }
    }

    /// Takes one attempt from `address` for `account` (names are compared
    /// case-insensitively); refused attempts are counted.
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
             meridian_login_rate_limited_total{{limit=\"hashing_queue\"}} {}\n",
            self.counters.by_address.load(Ordering::Relaxed),
            self.counters.by_account.load(Ordering::Relaxed),
            self.counters.hashing_queue.load(Ordering::Relaxed),
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
