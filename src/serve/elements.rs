//! The space's placed elements in the zones: the ones that block movement are
//! put into every zone at start, and placements made or removed through the
//! HTTP API while the server runs reach the zones within a tick.

use std::collections::HashMap;

use meridian_persistence::PlacedElement;
use meridian_protocol::NetworkId;
use meridian_sim::{Aabb, ElementPlacement, Vec2, Zone};

/// A change to the hosted space's placements, from the HTTP API.
#[derive(Debug, Clone)]
pub(crate) enum ElementChange {
    /// Placed (the zones only take it if it blocks movement).
    Placed(PlacedElement),
    /// Removed: the placement's id.
    Removed(i64),
}

/// Which zone entities stand for which placement.
#[derive(Debug, Default)]
pub(crate) struct Elements {
    /// Placement id → its id in each zone (in zone order).
    ids: HashMap<i64, Vec<NetworkId>>,
}

impl Elements {
    /// Puts a blocking placement into every zone (each tile is a metre);
    /// `false` if it does not block or a zone refused it (outside the world, or
    /// on top of something).
    pub(crate) fn place(&mut self, zones: &mut [Zone], placed: &PlacedElement) -> bool {
        if !placed.element.is_static || self.ids.contains_key(&placed.id) {
            return false;
        }
        let corner = Vec2::new(placed.x as f32, placed.y as f32);
        let far = Vec2::new(
            corner.x + placed.element.width as f32,
            corner.y + placed.element.height as f32,
        );
        let element = ElementPlacement {
            bounds: Aabb::from_corners(corner, far),
            appearance: u32::try_from(placed.element.id).unwrap_or(0),
        };
        let mut ids = Vec::with_capacity(zones.len());
        for zone in zones.iter_mut() {
            match zone.place_element(element) {
                Ok(id) => ids.push(id),
                Err(_) => {
                    // All or nothing: take it out of the zones that took it.
                    for (zone, id) in zones.iter_mut().zip(&ids) {
                        let _ = zone.remove_element(*id);
                    }
                    return false;
                }
            }
        }
        self.ids.insert(placed.id, ids);
        true
    }

    /// Takes a placement out of every zone (nothing if it never blocked).
    pub(crate) fn remove(&mut self, zones: &mut [Zone], placement: i64) {
        if let Some(ids) = self.ids.remove(&placement) {
            for (zone, id) in zones.iter_mut().zip(ids) {
                // It was placed by this type; a zone that lost it has nothing to do.
                let _ = zone.remove_element(id);
            }
        }
    }
}
