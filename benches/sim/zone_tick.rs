//! One full `Zone::step` (inputs, movement, interest, replication) with wandering
//! agents at 10k and 100k avatars, about 30 neighbours each; and, from the same
//! ticks, the movement and interest phases alone (from the end of the input phase
//! to the end of the interest phase). Planning the agents' inputs is not timed.
//! The movement and interest rows run twice: with views refreshed every tick, and
//! with the default staggered refresh (every second tick, half the views per tick).

use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, criterion_group, criterion_main};
use meridian_benches::crowd_config;
use meridian_sim::agents::Wanderers;
use meridian_sim::{SimConfig, TickPhase, Zone};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("zone_tick");
    group.sample_size(10);
    for entities in [10_000usize, 100_000] {
        for refresh_ticks in [1, 2] {
            let config = SimConfig {
                interest_refresh_ticks: refresh_ticks,
                ..crowd_config(entities)
            };
            bench_zone(&mut group, config, entities);
        }
    }
    group.finish();
}

fn bench_zone(group: &mut BenchmarkGroup<'_, WallTime>, config: SimConfig, entities: usize) {
    let refresh_ticks = config.interest_refresh_ticks;
    let mut zone = Zone::new(config).expect("valid config");
    let mut agents = Wanderers::spawn(&mut zone, entities, 0, 3).expect("room to spawn");
    let mut inputs = Vec::new();
    for _ in 0..20 {
        agents.plan(&zone, &mut inputs);
        zone.step(&inputs);
    }
    if refresh_ticks == SimConfig::default().interest_refresh_ticks {
        group.bench_function(BenchmarkId::new("step", entities), |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    agents.plan(&zone, &mut inputs);
                    let begun = Instant::now();
                    let output = zone.step(&inputs);
                    total += begun.elapsed();
                    std::hint::black_box(output.state_hash);
                }
                total
            })
        });
    }
    let name = format!("movement_and_interest_refresh_{refresh_ticks}");
    group.bench_function(BenchmarkId::new(name, entities), |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                agents.plan(&zone, &mut inputs);
                let mut started = None;
                let output = zone.step_observed(&inputs, |phase| match phase {
                    TickPhase::Input => started = Some(Instant::now()),
                    TickPhase::Interest => {
                        total += started.map(|s| s.elapsed()).unwrap_or_default();
                    }
                    _ => {}
                });
                std::hint::black_box(output.state_hash);
            }
            total
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
