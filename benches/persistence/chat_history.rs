//! The last 100 messages of a room, and a page deep in its history, with
//! 1,000,000 messages stored on the real PostgreSQL (spread over 100 rooms of
//! one space). The messages are seeded with one `generate_series` statement;
//! the timed part is the repository's own query.

use criterion::{Criterion, criterion_group, criterion_main};
use meridian_persistence::{DatabaseConfig, Store};

const MESSAGES: i64 = 1_000_000;

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let url = std::env::var("MERIDIAN_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("meridian_bench_chat_{}", std::process::id());
    let config = DatabaseConfig {
        schema: Some(schema.clone()),
        ..DatabaseConfig::new(url)
    };
    let store = runtime
        .block_on(Store::open(&config))
        .expect("PostgreSQL is reachable");
    runtime.block_on(async {
        sqlx::query(
            "INSERT INTO chat_messages (id, space_id, room, sender_id, channel, body, sent_at) \
             SELECT g, 1, 'room-' || (g % 100), g % 5000, 'zone', 'message number ' || g, g \
             FROM generate_series(1, $1) AS g",
        )
        .bind(MESSAGES)
        .execute(store.pool_for_tests())
        .await
        .expect("seeded");
        sqlx::query("ANALYZE chat_messages")
            .execute(store.pool_for_tests())
            .await
            .expect("analyzed");
    });
    let mut group = c.benchmark_group("chat_history");
    group.bench_function("last_100_of_a_room_at_1m", |b| {
        b.iter(|| {
            let page = runtime
                .block_on(store.chat_history(1, "room-7", None, 100))
                .expect("page");
            assert_eq!(page.len(), 100);
            page
        })
    });
    group.bench_function("100_before_the_middle_at_1m", |b| {
        b.iter(|| {
            let page = runtime
                .block_on(store.chat_history(1, "room-7", Some(MESSAGES / 2), 100))
                .expect("page");
            assert_eq!(page.len(), 100);
            page
        })
    });
    group.finish();
    runtime.block_on(async {
        store.drop_schema_for_tests(&schema).await;
        store.close().await;
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
