//! A world of one zone, run as a cluster of one (as `meridian serve` runs its
//! default world), keeps its zone's lease: the borders renew it every tick's
//! advance, whatever the zone count, so the ledger never sees it lapse and
//! the process never fences itself.

mod common;

use std::time::Duration;

use meridian_shard_manager::{LeaseTiming, ZoneId};

#[test]
fn a_one_zone_world_renews_its_lease_past_its_lifetime() {
    let timing = LeaseTiming {
        ttl: 5_000,
        renew_every: 1_000,
        safety: 500,
        ..LeaseTiming::default()
    };
    let common::Hosted {
        mut host,
        mut ledger,
        mut now,
        ..
    } = common::hosted_world_with(1, 1, 7, timing);
    let first = ledger.lease(ZoneId(0)).expect("held");
    // Four lease lifetimes of 50 ms ticks, the ledger answering at once.
    for tick in 1..=400u64 {
        let ms = tick * 50;
        now += Duration::from_millis(50);
        host.borders_mut().set_clock(ms);
        host.tick(now);
        for (request, op) in host.borders_mut().take_ledger_requests() {
            let reply = ledger.apply(ms, &op);
            host.borders_mut().on_ledger(request, &reply);
        }
    }
    let lease = ledger.lease(ZoneId(0)).expect("held");
    assert_eq!(lease.epoch, first.epoch, "the same tenure, never lapsed");
    assert!(
        lease.expires_at > 20_000,
        "renewed: it lapses at {} ms, the clock is at 20,000",
        lease.expires_at
    );
    assert_eq!(host.borders().zone_count(), 1, "still simulated here");
}
