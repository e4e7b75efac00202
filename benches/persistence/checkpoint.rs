//! Checkpointing 10,000 dirty characters on the real PostgreSQL: multi-row
//! upserts of fixed shapes in one transaction, against one upsert per row, in the
//! same run. PostgreSQL comes from `MERIDIAN_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the bench uses a fresh schema and
//! drops it at the end.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use meridian_persistence::{CharacterState, DatabaseConfig, Role, Store};

const CHARACTERS: usize = 10_000;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = std::env::var("MERIDIAN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("meridian_bench_{}", std::process::id());
    let config = DatabaseConfig {
        schema: Some(schema.clone()),
        ..DatabaseConfig::new(url.clone())
    };
    let store = runtime
        .block_on(Store::open(&config))
        .expect("PostgreSQL is reachable");
    let mut batch = runtime.block_on(async {
        let owner = store
            .create_account("owner", "h", Role::User, 0)
            .await
            .expect("owner");
        let space = store
            .create_space_for_tests(owner.id, "bench")
            .await
            .expect("space");
        let mut batch = Vec::with_capacity(CHARACTERS);
        for index in 0..CHARACTERS {
            let account = store
                .create_account(&format!("p{index}"), "h", Role::User, 0)
                .await
                .expect("account");
            batch.push(CharacterState {
                account_id: account.id,
                space_id: space,
                zone_id: 1,
                x: index as f64,
                y: 1.0,
                heading: 0.0,
                appearance: 1,
                inventory: "[]".into(),
                inventory_version: 0,
            });
        }
        store
            .checkpoint_characters(&batch, 0)
            .await
            .expect("first write");
        batch
    });
    let mut group = c.benchmark_group("checkpoint");
    group.sample_size(10);
    let mut step = 0.0;
    let mut batched = Vec::new();
    group.bench_function("batched_10000", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                step += 1.0;
                for character in &mut batch {
                    character.x += 0.5;
                }
                let begun = Instant::now();
                runtime
                    .block_on(store.checkpoint_characters(&batch, step as i64))
                    .expect("checkpoint");
                let elapsed = begun.elapsed();
                batched.push(elapsed);
                total += elapsed;
            }
            total
        })
    });
    group.finish();
    // One upsert per row, timed the same way, a few times (it is slow).
    let mut one_by_one = Vec::new();
    for _ in 0..3 {
        for character in &mut batch {
            character.x += 0.5;
        }
        let begun = Instant::now();
        runtime
            .block_on(store.checkpoint_characters_one_by_one(&batch, 1))
            .expect("checkpoint");
        one_by_one.push(begun.elapsed());
    }
    batched.sort();
    one_by_one.sort();
    let batched_median = batched[batched.len() / 2];
    let single_median = one_by_one[one_by_one.len() / 2];
    println!(
        "checkpoint of {CHARACTERS}: batched median {:.1} ms over {} runs; one upsert per row median {:.1} ms over {} runs; ratio {:.1}x",
        batched_median.as_secs_f64() * 1e3,
        batched.len(),
        single_median.as_secs_f64() * 1e3,
        one_by_one.len(),
        single_median.as_secs_f64() / batched_median.as_secs_f64()
    );
    runtime.block_on(async {
        store.drop_schema_for_tests(&schema).await;
        store.close().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
