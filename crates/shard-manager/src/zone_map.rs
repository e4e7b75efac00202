//! The zone map: a world cut into a grid of square zones.

use meridian_sim::{SimConfig, Vec2};
use thiserror::Error;

use crate::ids::ZoneId;

/// Network ids each zone may hand out.
pub const IDS_PER_ZONE: u32 = 1 << 20;

/// The settings of zone `zone` of `map`: the map's whole world (zones share
/// world coordinates) and the zone's own range of network ids.
pub fn zone_config(map: &ZoneMap, zone: ZoneId, sim: &SimConfig) -> SimConfig {
    let world = map.world_size();
    SimConfig {
        world_width: world.x,
        world_height: world.y,
        first_network_id: 1 + zone.0 * IDS_PER_ZONE,
        ..sim.clone()
    }
}

/// How a world is cut.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoneMapConfig {
    /// Zones along x.
    pub columns: u32,
    /// Zones along y.
    pub rows: u32,
    /// Side of one zone, metres.
    pub zone_size: f32,
    /// How far past a border an avatar walks before it is handed off, metres:
    /// walking along a border does not bounce it between zones.
    pub handoff_margin: f32,
}

impl Default for ZoneMapConfig {
    fn default() -> Self {
        Self {
            columns: 3,
            rows: 3,
            zone_size: 100.0,
            handoff_margin: 2.0,
        }
    }
}

/// A zone map that cannot work.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
#[non_exhaustive]
pub enum ZoneMapError {
    /// No zones, or more than 65,536.
    #[error("the map needs 1 to 65,536 zones, not {columns} x {rows}")]
    Size {
        /// Columns asked for.
        columns: u32,
        /// Rows asked for.
        rows: u32,
    },
    /// A zone side that is not a positive finite number.
    #[error("zone_size must be a positive number of metres")]
    ZoneSize,
    /// A margin that is negative or as wide as half a zone.
    #[error("handoff_margin must be 0 or more and under half a zone")]
    Margin,
}

impl ZoneMapConfig {
    /// Checks every field.
    pub fn validate(&self) -> Result<(), ZoneMapError> {
        let zones = u64::from(self.columns) * u64::from(self.rows);
        if zones == 0 || zones > 65_536 {
            return Err(ZoneMapError::Size {
                columns: self.columns,
                rows: self.rows,
            });
        }
        if !(self.zone_size.is_finite() && self.zone_size > 0.0) {
            return Err(ZoneMapError::ZoneSize);
        }
        if !(self.handoff_margin >= 0.0 && self.handoff_margin < self.zone_size / 2.0) {
            return Err(ZoneMapError::Margin);
        }
        Ok(())
    }
}

/// A validated zone map.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoneMap {
    config: ZoneMapConfig,
}

impl ZoneMap {
    /// A map from a valid config.
    pub fn new(config: ZoneMapConfig) -> Result<Self, ZoneMapError> {
        config.validate()?;
        Ok(Self { config })
    }

    /// The config.
    pub fn config(&self) -> &ZoneMapConfig {
        &self.config
    }

    /// How many zones.
    pub fn zone_count(&self) -> u32 {
        self.config.columns * self.config.rows
    }

    /// Every zone.
    pub fn zones(&self) -> impl Iterator<Item = ZoneId> {
        (0..self.zone_count()).map(ZoneId)
    }

    /// The world's extent, metres.
    pub fn world_size(&self) -> Vec2 {
        Vec2::new(
            self.config.columns as f32 * self.config.zone_size,
            self.config.rows as f32 * self.config.zone_size,
        )
    }

    /// The zone a point of the world is in, or none outside the world.
    pub fn zone_at(&self, point: Vec2) -> Option<ZoneId> {
        let size = self.config.zone_size;
        if !(point.x >= 0.0 && point.y >= 0.0) {
            return None;
        }
        // Non-negative and finite-checked above; floor of a small quotient.
        let column = (point.x / size) as u32;
        let row = (point.y / size) as u32;
        (column < self.config.columns && row < self.config.rows)
            .then(|| ZoneId(row * self.config.columns + column))
    }

    /// The index of the zone that owns `point` (zone 0 outside the world), as
    /// a host of zones counts them.
    pub fn index_at(&self, point: Vec2) -> usize {
        self.zone_at(point).map_or(0, |zone| zone.0 as usize)
    }

    /// [`Self::ghost_zones`] by index, appended to `out`.
    pub fn ghost_indices(&self, zone: usize, point: Vec2, radius: f32, out: &mut Vec<usize>) {
        let zone = ZoneId(u32::try_from(zone).unwrap_or(u32::MAX));
        out.extend(
            self.ghost_zones_iter(zone, point, radius)
                .map(|target| target.0 as usize),
        );
    }

    /// A zone's south-west and north-east corners.
    pub fn bounds(&self, zone: ZoneId) -> (Vec2, Vec2) {
        let size = self.config.zone_size;
        let column = zone.0 % self.config.columns;
        let row = zone.0 / self.config.columns;
        let low = Vec2::new(column as f32 * size, row as f32 * size);
        (low, Vec2::new(low.x + size, low.y + size))
    }

    /// How far `point` is outside `zone` (0 inside), metres, the larger axis.
    pub fn distance_outside(&self, zone: ZoneId, point: Vec2) -> f32 {
        let (low, high) = self.bounds(zone);
        let dx = (low.x - point.x).max(point.x - high.x).max(0.0);
        let dy = (low.y - point.y).max(point.y - high.y).max(0.0);
        dx.max(dy)
    }

    /// Where an avatar of `zone` standing at `point` should be handed to: the
    /// zone it is in, once it is past the border by more than the margin.
    pub fn handoff_target(&self, zone: ZoneId, point: Vec2) -> Option<ZoneId> {
        if self.distance_outside(zone, point) <= self.config.handoff_margin {
            return None;
        }
        self.zone_at(point).filter(|target| *target != zone)
    }

    /// The zones other than `zone` whose area lies within `radius` of `point`:
    /// where an entity there must be mirrored as a read-only ghost.
    pub fn ghost_zones(&self, zone: ZoneId, point: Vec2, radius: f32) -> Vec<ZoneId> {
        self.ghost_zones_iter(zone, point, radius).collect()
    }

    fn ghost_zones_iter(
        &self,
        zone: ZoneId,
        point: Vec2,
        radius: f32,
    ) -> impl Iterator<Item = ZoneId> + '_ {
        self.zones()
            .filter(move |other| *other != zone && self.distance_outside(*other, point) <= radius)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> ZoneMap {
        ZoneMap::new(ZoneMapConfig::default()).expect("valid")
    }

    #[test]
    fn points_fall_in_the_zone_of_their_cell() {
        let map = map();
        assert_eq!(map.zone_at(Vec2::new(0.0, 0.0)), Some(ZoneId(0)));
        assert_eq!(map.zone_at(Vec2::new(150.0, 10.0)), Some(ZoneId(1)));
        assert_eq!(map.zone_at(Vec2::new(250.0, 250.0)), Some(ZoneId(8)));
        assert_eq!(map.zone_at(Vec2::new(300.0, 10.0)), None);
        assert_eq!(map.zone_at(Vec2::new(f32::NAN, 10.0)), None);
    }

    #[test]
    fn a_handoff_waits_for_the_margin() {
        let map = map();
        assert_eq!(map.handoff_target(ZoneId(0), Vec2::new(101.5, 50.0)), None);
        assert_eq!(
            map.handoff_target(ZoneId(0), Vec2::new(102.5, 50.0)),
            Some(ZoneId(1))
        );
        // Back inside the source: nothing to do.
        assert_eq!(map.handoff_target(ZoneId(0), Vec2::new(99.0, 50.0)), None);
    }

    #[test]
    fn ghosts_go_to_the_zones_within_reach() {
        let map = map();
        // Near the corner of zones 0, 1, 3 and 4.
        let mut near = map.ghost_zones(ZoneId(0), Vec2::new(95.0, 95.0), 10.0);
        near.sort();
        assert_eq!(near, [ZoneId(1), ZoneId(3), ZoneId(4)]);
        assert!(
            map.ghost_zones(ZoneId(0), Vec2::new(50.0, 50.0), 10.0)
                .is_empty()
        );
    }

    #[test]
    fn bad_maps_are_refused() {
        let mut config = ZoneMapConfig {
            columns: 0,
            ..ZoneMapConfig::default()
        };
        assert!(matches!(config.validate(), Err(ZoneMapError::Size { .. })));
        config.columns = 3;
        config.handoff_margin = 60.0;
        assert_eq!(config.validate(), Err(ZoneMapError::Margin));
    }
}
