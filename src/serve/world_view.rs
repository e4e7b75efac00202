//! The world as the dashboard draws it: each zone's bounds, who simulates it,
//! its avatars and their mean view size, and a coarse grid of where the
//! avatars stand. The zone thread samples it at most once a second from what
//! its zones already hold (one lookup per avatar, no allocation once the grid
//! exists); `/metrics` and `GET /api/v1/admin/dashboard` read the same sample.

use std::time::{Duration, Instant};

use meridian_shard_manager::ZoneMap;
use meridian_shard_manager::{Borders, ZoneHost, ZoneOwner};
use meridian_sim::Vec2;

/// How often the zone thread takes a new sample.
pub(crate) const SAMPLE_EVERY: Duration = Duration::from_secs(1);

/// Cells along the world's longer side in the density grid.
pub(crate) const DENSITY_CELLS: u32 = 32;

/// One zone as last sampled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ZoneFigures {
    /// The zone's id in the ledger (its index in the map).
    pub(crate) id: u32,
    /// Its lower corner, metres (world coordinates).
    pub(crate) low: Vec2,
    /// Its upper corner, metres.
    pub(crate) high: Vec2,
    /// Who simulates it.
    pub(crate) owner: ZoneOwner,
    /// Avatars it simulates here.
    pub(crate) avatars: usize,
    /// The sum of those avatars' view sizes (entities each sees).
    pub(crate) view_entities: u64,
}

/// Avatars per cell of a grid laid over the world, row by row from the
/// lower corner (y = 0) up.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DensityGrid {
    pub(crate) columns: u32,
    pub(crate) rows: u32,
    /// A cell's side, metres (cells are square; the last row and column may
    /// reach past the world's edge).
    pub(crate) cell_size: f32,
    pub(crate) counts: Vec<u32>,
}

impl DensityGrid {
    /// An empty grid of at most `cells` along the longer side of `world`.
    fn new(world: Vec2, cells: u32) -> Self {
        let cells = cells.max(1);
        let cell_size = (world.x.max(world.y) / cells as f32).max(f32::MIN_POSITIVE);
        let columns = ((world.x / cell_size).ceil() as u32).clamp(1, cells);
        let rows = ((world.y / cell_size).ceil() as u32).clamp(1, cells);
        Self {
            columns,
            rows,
            cell_size,
            counts: vec![0; (columns * rows) as usize],
        }
    }

    fn clear(&mut self) {
        self.counts.fill(0);
    }

    /// Counts an avatar at `position`; one outside the world counts in the
    /// nearest cell on the edge.
    fn count(&mut self, position: Vec2) {
        let cell = |value: f32, cells: u32| {
            let index = (value / self.cell_size).floor();
            if index.is_nan() || index < 0.0 {
                0
            } else {
                (index as u32).min(cells - 1)
            }
        };
        let index = cell(position.y, self.rows) * self.columns + cell(position.x, self.columns);
        if let Some(slot) = self.counts.get_mut(index as usize) {
            *slot += 1;
        }
    }
}

/// The last sample of the world.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WorldView {
    /// The world's size, metres.
    pub(crate) world: Vec2,
    /// This process's shard id (none for a server of one).
    pub(crate) shard: Option<u32>,
    /// Per zone, in map order (a host's zone index is its place here).
    pub(crate) zones: Vec<ZoneFigures>,
    pub(crate) density: DensityGrid,
    /// The zone tick the sample was taken after (0 before the first).
    pub(crate) tick: u64,
    sampled_at: Option<Instant>,
}

impl WorldView {
    /// The zones of `map`, nothing sampled yet; `shard` is this process's
    /// shard id in a cluster.
    pub(crate) fn new(map: &ZoneMap, shard: Option<u32>) -> Self {
        let world = map.world_size();
        let zones = map
            .zones()
            .map(|zone| {
                let (low, high) = map.bounds(zone);
                ZoneFigures {
                    id: zone.0,
                    low,
                    high,
                    owner: ZoneOwner::Nobody,
                    avatars: 0,
                    view_entities: 0,
                }
            })
            .collect();
        Self {
            world,
            shard,
            zones,
            density: DensityGrid::new(world, DENSITY_CELLS),
            tick: 0,
            sampled_at: None,
        }
    }

    /// Whether a sample is due at `now` (none yet, or the last one is
    /// [`SAMPLE_EVERY`] old).
    pub(crate) fn due(&self, now: Instant) -> bool {
        self.sampled_at
            .is_none_or(|at| now.saturating_duration_since(at) >= SAMPLE_EVERY)
    }

    /// Samples the host's zones after tick `tick`.
    pub(crate) fn sample<B: Borders>(&mut self, host: &ZoneHost<B>, tick: u64, now: Instant) {
        self.density.clear();
        for (index, zone) in host.zones().iter().enumerate() {
            let owner = host.borders().owner(index);
            let Some(figures) = self.zones.get_mut(index) else {
                continue;
            };
            figures.owner = owner;
            figures.avatars = 0;
            figures.view_entities = 0;
            let density = &mut self.density;
            zone.for_each_avatar_view(|position, seen| {
                figures.avatars += 1;
                figures.view_entities += seen as u64;
                density.count(position);
            });
        }
        self.tick = tick;
        self.sampled_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::{DensityGrid, Vec2};

    #[test]
    fn density_cells_are_square_and_cover_the_world() {
        let grid = DensityGrid::new(Vec2::new(200.0, 100.0), 32);
        assert_eq!((grid.columns, grid.rows), (32, 16));
        assert!((grid.cell_size - 6.25).abs() < 1e-6);
    }

    #[test]
    fn avatars_count_in_their_cell_and_strays_on_the_edge() {
        let mut grid = DensityGrid::new(Vec2::new(100.0, 100.0), 10);
        grid.count(Vec2::new(5.0, 5.0));
        grid.count(Vec2::new(15.0, 5.0));
        grid.count(Vec2::new(15.0, 25.0));
        grid.count(Vec2::new(-3.0, 250.0));
        grid.count(Vec2::new(f32::NAN, 100.0));
        assert_eq!(grid.counts[0], 1);
        assert_eq!(grid.counts[1], 1);
        assert_eq!(grid.counts[2 * 10 + 1], 1);
        // Outside the world: the nearest edge cell (top-left here).
        assert_eq!(grid.counts[9 * 10], 2);
        assert_eq!(grid.counts.iter().sum::<u32>(), 5);
    }
}
