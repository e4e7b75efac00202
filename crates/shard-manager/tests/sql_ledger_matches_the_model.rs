//! The SQL ledger (`SqlLedger` over `meridian-persistence`) and the model the
//! simulation gate runs against must be the same ledger: random sequences of lease, claim, move
//! and read operations get the same answers from both, on SQLite and on the
//! real PostgreSQL (skipped with a message when unreachable, a failure under
//! `CI=true`).

use std::io::Write;

use meridian_persistence::{DatabaseConfig, Store};
use meridian_shard_manager::adapters::sql::SqlLedger;
use meridian_shard_manager::{
    EntityId, Epoch, LedgerOp, LedgerReply, MemoryLedger, Owner, ShardId, ZoneId,
};
use meridian_sim::agents::SplitMix64;

const TTL: u64 = 5_000;
const ZONES: u32 = 3;
const HOLDERS: u32 = 3;
const ENTITIES: u64 = 4;
const STEPS: usize = 400;

/// One random operation, mostly sensible (current rows and epochs), sometimes
/// stale.
fn operation(random: &mut SplitMix64, model: &MemoryLedger) -> LedgerOp {
    let zone = ZoneId(random.range_u32(0, ZONES));
    let holder = ShardId(random.range_u32(1, HOLDERS + 1));
    let entity = EntityId(u64::from(random.range_u32(1, ENTITIES as u32 + 1)));
    let epoch_of = |zone: ZoneId, random: &mut SplitMix64| {
        let current = model.lease(zone).map_or(1, |lease| lease.epoch.0);
        if random.range_u32(0, 4) == 0 {
            Epoch(current.saturating_sub(1).max(1))
        } else {
            Epoch(current)
        }
    };
    match random.range_u32(0, 8) {
        0 | 1 => LedgerOp::AcquireLease {
            zone,
            holder,
            ttl: TTL,
        },
        2 => LedgerOp::RenewLease {
            zone,
            holder: model.lease(zone).map_or(holder, |lease| lease.holder),
            epoch: epoch_of(zone, random),
            ttl: TTL,
        },
        3 | 7 if model.owner(entity).is_none() || random.range_u32(0, 2) == 0 => LedgerOp::Claim {
            entity,
            zone,
            epoch: epoch_of(zone, random),
        },
        4..=6 => {
            let mut from = model.owner(entity).unwrap_or(Owner {
                zone,
                epoch: Epoch(1),
                version: 0,
            });
            if random.range_u32(0, 4) == 0 {
                from.version = from.version.saturating_sub(1);
            }
            let to_zone = ZoneId(random.range_u32(0, ZONES));
            LedgerOp::Move {
                entity,
                from,
                to_zone,
                to_epoch: epoch_of(to_zone, random),
            }
        }
        _ => LedgerOp::Read { entity },
    }
}

/// Runs one sequence; returns how many moves applied (so a run that never
/// reaches the interesting cases is noticed).
async fn agree(store: &Store, seed: u64, name: &str) -> usize {
    let ledger = SqlLedger::new(store.clone());
    let mut random = SplitMix64::new(seed);
    let mut model = MemoryLedger::new();
    let mut now = 1_000;
    let mut moves = 0;
    for step in 0..STEPS {
        // Mostly well inside a lease's 5 s, sometimes past it.
        now += if random.range_u32(0, 10) == 0 {
            u64::from(random.range_u32(0, 8_000))
        } else {
            u64::from(random.range_u32(0, 300))
        };
        let op = operation(&mut random, &model);
        let expected = model.apply(now, &op);
        if matches!(expected, LedgerReply::Moved { moved: true, .. }) {
            moves += 1;
        }
        let got = ledger.apply(now, &op).await.expect("the database answers");
        assert_eq!(
            got, expected,
            "{name}, seed {seed}, step {step}: {op:?} at {now}"
        );
    }
    moves
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn on_sqlite() {
    runtime().block_on(async {
        let mut moves = 0;
        for seed in 0..10 {
            let folder =
                std::env::temp_dir().join(format!("meridian-ledger-{}-{seed}", std::process::id()));
            std::fs::create_dir_all(&folder).expect("folder");
            let url = format!("sqlite://{}", folder.join("ledger.db").display());
            let store = Store::open(&DatabaseConfig::new(&url))
                .await
                .expect("opens");
            moves += agree(&store, seed, "sqlite").await;
            store.close().await;
            std::fs::remove_dir_all(&folder).expect("cleaned up");
        }
        println!("sqlite: {moves} moves applied");
        assert!(
            moves >= 40,
            "only {moves} moves applied: the sequences miss the point"
        );
    });
}

#[test]
fn on_postgres() {
    let url = std::env::var("MERIDIAN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    runtime().block_on(async {
        let mut moves = 0;
        for seed in 0..5 {
            let schema = format!("ledger_model_{}_{seed}", std::process::id());
            let config = DatabaseConfig {
                schema: Some(schema.clone()),
                ..DatabaseConfig::new(&url)
            };
            let store = match Store::open(&config).await {
                Ok(store) => store,
                Err(error) if std::env::var("CI").is_err() => {
                    // Written past the test harness's capture, so it shows in any run.
                    let _ = writeln!(
                        std::io::stderr(),
                        "SKIPPED on_postgres: cannot reach {url}: {error}"
                    );
                    return;
                }
                Err(error) => panic!("CI needs PostgreSQL at {url}: {error}"),
            };
            moves += agree(&store, seed, "postgres").await;
            store.drop_schema_for_tests(&schema).await;
            store.close().await;
        }
        println!("postgres: {moves} moves applied");
        assert!(
            moves >= 20,
            "only {moves} moves applied: the sequences miss the point"
        );
    });
}
