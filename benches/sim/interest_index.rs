//! Which spatial index for the moving set: an R-tree (`rstar`) bulk-loaded every
//! tick, an R-tree updated by remove / insert of every moved entity, or the uniform
//! grid rebuilt every tick. Each iteration moves every entity one 20 Hz tick, updates
//! the index, and runs one interest query (radius 35 m = 30 + 5 hysteresis) per
//! entity, counting the neighbours found.

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use meridian_benches::{Crowd, crowd_config};
use meridian_protocol::NetworkId;
use meridian_sim::Vec2;
use meridian_sim::interest::{UniformGrid, grid_cell_size};
use rstar::RTree;
use rstar::primitives::GeomWithData;
use std::hint::black_box;

type Point = GeomWithData<[f32; 2], u32>;

const QUERY_RADIUS: f32 = 35.0;
const DT: f32 = 0.05;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("interest_index");
    group.sample_size(10);
    for entities in [10_000usize, 100_000] {
        let config = crowd_config(entities);
        let side = config.world_width;

        let mut crowd = Crowd::new(entities, side, 7);
        let cell = grid_cell_size(config.interest_radius, config.interest_hysteresis);
        let mut grid = UniformGrid::new(side, side, cell);
        group.bench_function(BenchmarkId::new("grid_rebuild", entities), |b| {
            b.iter(|| {
                crowd.step(DT);
                grid.rebuild(
                    crowd
                        .positions
                        .iter()
                        .enumerate()
                        .map(|(i, &p)| (NetworkId(i as u32), p)),
                );
                let mut found = 0usize;
                for &p in &crowd.positions {
                    grid.for_each_within(p, QUERY_RADIUS, |_, _| found += 1);
                }
                black_box(found)
            })
        });

        let mut crowd = Crowd::new(entities, side, 7);
        group.bench_function(BenchmarkId::new("rtree_bulk_load", entities), |b| {
            b.iter(|| {
                crowd.step(DT);
                let tree = RTree::bulk_load(points(&crowd.positions));
                black_box(query_all(&tree, &crowd.positions))
            })
        });

        let mut crowd = Crowd::new(entities, side, 7);
        let mut tree = RTree::bulk_load(points(&crowd.positions));
        group.bench_function(BenchmarkId::new("rtree_remove_insert", entities), |b| {
            b.iter(|| {
                let before = crowd.positions.clone();
                crowd.step(DT);
                for (i, (old, new)) in before.iter().zip(&crowd.positions).enumerate() {
                    tree.remove(&GeomWithData::new([old.x, old.y], i as u32));
                    tree.insert(GeomWithData::new([new.x, new.y], i as u32));
                }
                black_box(query_all(&tree, &crowd.positions))
            })
        });
    }
    group.finish();
}

/// The crowd as R-tree points, tagged with their index.
fn points(positions: &[Vec2]) -> Vec<Point> {
    positions
        .iter()
        .enumerate()
        .map(|(i, p)| GeomWithData::new([p.x, p.y], i as u32))
        .collect()
}

/// One interest query per entity; the neighbours found, summed.
fn query_all(tree: &RTree<Point>, positions: &[Vec2]) -> usize {
    positions
        .iter()
        .map(|p| {
            tree.locate_within_distance([p.x, p.y], QUERY_RADIUS * QUERY_RADIUS)
                .count()
        })
        .sum()
}

criterion_group!(benches, bench);
criterion_main!(benches);
