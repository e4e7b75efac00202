//! A world of zones in one process for the tests: a `ZoneHost` with
//! `ZoneBorders`, every lease held by one shard in the ledger model.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::time::Instant;

use meridian_netcode::token::REALTIME_SCOPE;
use meridian_netcode::{NetcodeConfig, RealtimeClaims, Server, TokenAuthority};
use meridian_shard_manager::ZoneHost;
use meridian_shard_manager::borders::{ZoneBorders, zone_config};
use meridian_shard_manager::{
    LedgerOp, LedgerReply, MemoryLedger, ShardId, ZoneMap, ZoneMapConfig,
};
use meridian_sim::{SimConfig, Zone};

/// The space the tokens admit to.
pub(crate) const SPACE: u32 = 1;
/// The Unix time the server starts at.
pub(crate) const UNIX: u64 = 1_800_000_000;

/// The host, the ledger it commits to, and what mints its tokens.
pub(crate) struct Hosted {
    pub(crate) host: ZoneHost<ZoneBorders>,
    pub(crate) ledger: MemoryLedger,
    pub(crate) authority: TokenAuthority,
    pub(crate) now: Instant,
}

/// `columns` × `rows` zones of 40 m (interest radius 15 m), every lease held
/// for an hour; `seed` picks spawn points.
pub(crate) fn hosted_world(columns: u32, rows: u32, seed: u64) -> Hosted {
    let map = ZoneMap::new(ZoneMapConfig {
        columns,
        rows,
        zone_size: 40.0,
        handoff_margin: 2.0,
    })
    .expect("map");
    let mut ledger = MemoryLedger::new();
    let mut epochs = Vec::new();
    for zone in map.zones() {
        let reply = ledger.apply(
            0,
            &LedgerOp::AcquireLease {
                zone,
                holder: ShardId(1),
                ttl: 3_600_000,
            },
        );
        let LedgerReply::Lease { lease, .. } = reply else {
            panic!("{reply:?}");
        };
        epochs.push(lease.epoch);
    }
    let now = Instant::now();
    let authority = TokenAuthority::new(b"zone host test secret, not for production");
    let server = Server::new(
        NetcodeConfig::default(),
        authority.clone(),
        SPACE,
        now,
        UNIX,
    )
    .expect("server");
    let sim = SimConfig {
        interest_radius: 15.0,
        interest_hysteresis: 2.0,
        ..SimConfig::default()
    };
    let zones = map
        .zones()
        .map(|zone| Zone::new(zone_config(&map, zone, &sim)).expect("zone"))
        .collect();
    let host = ZoneHost::with_borders(zones, ZoneBorders::new(map, &epochs), server, 0, seed);
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
