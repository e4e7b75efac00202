//! Checkpoint batches of 1,000 moving characters written to a file-backed
//! SQLite in a temporary folder: the database thread's cost per batch (the
//! statements, their binding and the commit), time per batch.
//!
//! Two cases: every batch exactly 1,000 rows, and batches of 985 to 1,000
//! rows (1,000 minus the batch number modulo 16), as in a server, where the
//! number of characters that moved since the last write changes every time.
//!
//! With `MERIDIAN_CHECKPOINT_BATCHES=N` set it writes N batches after one
//! warm-up batch and exits, without criterion: for instruction counts under
//! `valgrind --tool=callgrind`, where the difference between N batches and 0
//! batches, divided by N, is the cost of one batch (see docs/BENCHMARKS.md).
//! `MERIDIAN_CHECKPOINT_VARYING=1` makes those batches the varying ones.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::Criterion;
use meridian_persistence::{CharacterState, DatabaseConfig, Role, Store};
use tokio::runtime::Runtime;

/// Characters per batch.
const CHARACTERS: usize = 1_000;

/// The environment variable that asks for a fixed number of batches.
const FIXED_BATCHES: &str = "MERIDIAN_CHECKPOINT_BATCHES";

/// The environment variable that makes those batches vary in length.
const VARYING: &str = "MERIDIAN_CHECKPOINT_VARYING";

/// Batches of varying length are 1,000 minus the batch number modulo this.
const LENGTHS: i64 = 16;

/// A store in a folder of its own, with every character written once.
struct Fixture {
    runtime: Runtime,
    store: Store,
    folder: PathBuf,
    batch: Vec<CharacterState>,
    step: i64,
}

impl Fixture {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let folder = std::env::temp_dir().join(format!(
            "meridian_checkpoint_batches_{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&folder).expect("temporary folder");
        let url = format!("sqlite://{}", folder.join("checkpoints.db").display());
        let store = runtime
            .block_on(Store::open(&DatabaseConfig::new(url)))
            .expect("SQLite opens");
        let batch = runtime.block_on(async {
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
            batch
        });
        let mut fixture = Self {
            runtime,
            store,
            folder,
            batch,
            step: 0,
        };
        // The first write inserts; every later one updates, as in play.
        fixture.write_batch(false);
        fixture
    }

    /// Moves every character and writes the batch: all 1,000, or (`varying`)
    /// the first 1,000 minus the batch number modulo [`LENGTHS`].
    fn write_batch(&mut self, varying: bool) {
        self.step += 1;
        for character in &mut self.batch {
            character.x += 0.5;
            character.heading = self.step as f64 * 0.01;
        }
        let length = if varying {
            CHARACTERS - (self.step % LENGTHS) as usize
        } else {
            CHARACTERS
        };
        self.runtime
            .block_on(
                self.store
                    .checkpoint_characters(&self.batch[..length], self.step),
            )
            .expect("checkpoint");
    }

    fn remove(self) {
        self.runtime.block_on(self.store.close());
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

fn bench(criterion: &mut Criterion, fixture: &mut Fixture) {
    let mut group = criterion.benchmark_group("checkpoint_batches");
    group.sample_size(20);
    for (name, varying) in [
        ("sqlite_file_1000", false),
        ("sqlite_file_985_to_1000", true),
    ] {
        let mut times = Vec::new();
        group.bench_function(name, |bencher| {
            bencher.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let begun = Instant::now();
                    fixture.write_batch(varying);
                    let elapsed = begun.elapsed();
                    times.push(elapsed);
                    total += elapsed;
                }
                total
            })
        });
        times.sort();
        if let Some(median) = times.get(times.len() / 2) {
            println!(
                "{name}: median {:.2} ms per batch over {} batches",
                median.as_secs_f64() * 1e3,
                times.len()
            );
        }
    }
    group.finish();
}

fn main() {
    let mut fixture = Fixture::new();
    if let Some(batches) = std::env::var(FIXED_BATCHES)
        .ok()
        .and_then(|value| value.parse::<u32>().ok())
    {
        let varying = std::env::var_os(VARYING).is_some();
        for _ in 0..batches {
            fixture.write_batch(varying);
        }
        println!("wrote {batches} batches (varying: {varying}) after one warm-up batch");
    } else {
        let mut criterion = Criterion::default().configure_from_args();
        bench(&mut criterion, &mut fixture);
        criterion.final_summary();
    }
    fixture.remove();
}
