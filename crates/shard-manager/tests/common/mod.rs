//! A world of zones in one process for the tests: a `ZoneHost` as a cluster
//! of one (`ClusterBorders`), every lease taken from the ledger model before
//! anyone joins.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::time::Instant;

use meridian_netcode::token::REALTIME_SCOPE;
use meridian_netcode::{NetcodeConfig, RealtimeClaims, Server, TokenAuthority};
use meridian_shard_manager::ZoneHost;
use meridian_shard_manager::cluster::ClusterBorders;
use meridian_shard_manager::peers::{first_avatar_id, shard_borders};
use meridian_shard_manager::zone_map::zone_config;
use meridian_shard_manager::{Borders, LeaseTiming, MemoryLedger, ZoneMap, ZoneMapConfig};
use meridian_sim::{SimConfig, Zone};

/// The space the tokens admit to.
pub(crate) const SPACE: u32 = 1;
/// The Unix time the server starts at.
pub(crate) const UNIX: u64 = 1_800_000_000;

/// The host, the ledger it commits to, and what mints its tokens.
pub(crate) struct Hosted {
    pub(crate) host: ZoneHost<ClusterBorders>,
    pub(crate) ledger: MemoryLedger,
    pub(crate) authority: TokenAuthority,
    pub(crate) now: Instant,
}

/// `columns` × `rows` zones of 40 m, handed off 2 m past a border.
pub(crate) fn world_map(columns: u32, rows: u32) -> ZoneMap {
    ZoneMap::new(ZoneMapConfig {
        columns,
        rows,
        zone_size: 40.0,
        handoff_margin: 2.0,
    })
    .expect("map")
}

/// Every zone of `map`, with an interest radius of 15 m.
pub(crate) fn world_zones(map: &ZoneMap) -> Vec<Zone> {
    let sim = SimConfig {
        interest_radius: 15.0,
        interest_hysteresis: 2.0,
        ..SimConfig::default()
    };
    map.zones()
        .map(|zone| Zone::new(zone_config(map, zone, &sim)).expect("zone"))
        .collect()
}

/// A server admitting `authority`'s tokens for [`SPACE`], started at `now`.
pub(crate) fn server(authority: &TokenAuthority, now: Instant) -> Server {
    Server::new(
        NetcodeConfig::default(),
        authority.clone(),
        SPACE,
        now,
        UNIX,
    )
    .expect("server")
}

/// `columns` × `rows` zones of 40 m (interest radius 15 m), every lease held
/// for an hour; `seed` picks spawn points.
pub(crate) fn hosted_world(columns: u32, rows: u32, seed: u64) -> Hosted {
    // Leases of an hour: the tests' clock (the ledger's) starts at 0.
    let timing = LeaseTiming {
        ttl: 3_600_000,
        renew_every: 600_000,
        safety: 1_000,
        ..LeaseTiming::default()
    };
    hosted_world_with(columns, rows, seed, timing)
}

/// The same, with leases kept as `timing` says.
pub(crate) fn hosted_world_with(columns: u32, rows: u32, seed: u64, timing: LeaseTiming) -> Hosted {
    let map = world_map(columns, rows);
    let mut ledger = MemoryLedger::new();
    let now = Instant::now();
    let authority = TokenAuthority::new(b"zone host test secret, not for production");
    let server = server(&authority, now);
    let zones = world_zones(&map);
    let mut host = ZoneHost::with_borders(zones, shard_borders(map, 1, 1, timing), server, 0, seed);
    host.link_as(1, first_avatar_id(&map));
    // Every zone's lease before anyone joins.
    let borders = host.borders_mut();
    borders.set_clock(0);
    let _ = borders.advance();
    for (request, op) in borders.take_ledger_requests() {
        let reply = ledger.apply(0, &op);
        borders.on_ledger(request, &reply);
    }
    assert_eq!(
        borders.zone_count(),
        map.zone_count() as usize,
        "every lease"
    );
    Hosted {
        host,
        ledger,
        authority,
        now,
    }
}

/// A realtime token for `account`.
pub(crate) fn token(authority: &TokenAuthority, account: u64, name: &str) -> String {
    authority.mint(&RealtimeClaims {
        sub: account,
        name: name.to_owned(),
        space: SPACE,
        exp: UNIX + 3_600,
        scope: REALTIME_SCOPE.into(),
        jti: meridian_netcode::token::random_token_id(),
        gateway: 0,
    })
}
