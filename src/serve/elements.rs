//! The space's placed elements in the zones: every placement, blocking or
//! decorative, is put into every zone at start under one network id, and
//! placements made or removed through the HTTP API while the server runs reach
//! the zones between two ticks. The zones replicate them like avatars, so the
//! clients that see one get it in their next snapshot (docs/PROTOCOL.md 11.10).

use std::collections::HashMap;

use meridian_persistence::PlacedElement;
use meridian_protocol::NetworkId;
use meridian_sim::{Aabb, ElementPlacement, Vec2, Zone};

/// A change to the hosted space's placements, from the HTTP API.
#[derive(Debug, Clone)]
pub(crate) enum ElementChange {
    /// Placed.
    Placed(PlacedElement),
    /// Removed: the placement's id.
    Removed(i64),
}

/// Which zone entities stand for which placement.
#[derive(Debug, Default)]
pub(crate) struct Elements {
    /// Placement id → its network id, the same in every zone.
    ids: HashMap<i64, NetworkId>,
}

impl Elements {
    /// Puts a placement into every zone (each tile is a metre) under one
    /// network id, which the first zone hands out (so a client crossing into
    /// another zone sees the same element under the same id). `true` if it was
    /// placed and blocks movement (what the count of blocking elements counts);
    /// `false` for a decoration, or if a zone refused it (outside the world, or
    /// a blocking one on top of something), in which case no zone holds it.
    pub(crate) fn place(&mut self, zones: &mut [Zone], placed: &PlacedElement) -> bool {
        if self.ids.contains_key(&placed.id) {
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
            blocking: placed.element.is_static,
        };
        let Some((first, others)) = zones.split_first_mut() else {
            return false;
        };
        let Ok(id) = first.place_element(element) else {
            return false;
        };
        let mut taken = 0;
        while taken < others.len() && others[taken].place_element_as(element, id).is_ok() {
            taken += 1;
        }
        if taken < others.len() {
            // All or nothing: take it out of the zones that took it.
            let _ = first.remove_element(id);
            for zone in &mut others[..taken] {
                let _ = zone.remove_element(id);
            }
            return false;
        }
        self.ids.insert(placed.id, id);
        element.blocking
    }

    /// Takes a placement out of every zone (nothing if no zone holds it).
    pub(crate) fn remove(&mut self, zones: &mut [Zone], placement: i64) {
        if let Some(id) = self.ids.remove(&placement) {
            for zone in zones.iter_mut() {
                // It was placed by this type; a zone that lost it has nothing to do.
                let _ = zone.remove_element(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use meridian_persistence::CatalogueElement;
    use meridian_sim::SimConfig;

    use super::*;

    fn zones() -> Vec<Zone> {
        (0..3)
            .map(|zone| {
                Zone::new(SimConfig {
                    first_network_id: 1 + zone * (1 << 20),
                    ..SimConfig::default()
                })
                .expect("valid")
            })
            .collect()
    }

    fn placed(id: i64, x: i32, is_static: bool) -> PlacedElement {
        PlacedElement {
            id,
            element: CatalogueElement {
                id: 30 + id,
                image_url: "table.png".into(),
                width: 2,
                height: 1,
                is_static,
            },
            x,
            y: 10,
        }
    }

    /// Each zone's replicated element ids and appearances after a step.
    fn held(zones: &mut [Zone]) -> Vec<Vec<(NetworkId, u32)>> {
        zones
            .iter_mut()
            .map(|zone| {
                zone.step(&[]);
                zone.replicated_states()
                    .iter()
                    .map(|state| (state.id, state.appearance))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn every_placement_is_in_every_zone_under_one_id_until_removed() {
        let mut zones = zones();
        let mut elements = Elements::default();
        assert!(elements.place(&mut zones, &placed(1, 10, true)));
        // A decoration is placed too, though it blocks nothing.
        assert!(!elements.place(&mut zones, &placed(2, 10, false)));
        // The same placement twice, and a blocking one on the first: refused.
        assert!(!elements.place(&mut zones, &placed(1, 40, true)));
        assert!(!elements.place(&mut zones, &placed(3, 11, true)));
        let ids = held(&mut zones);
        assert_eq!(ids[0].len(), 2, "{ids:?}");
        assert!(ids.iter().all(|zone| *zone == ids[0]), "{ids:?}");
        assert_eq!(
            ids[0].iter().map(|(_, look)| *look).collect::<Vec<_>>(),
            [31, 32]
        );
        for zone in &zones {
            assert_eq!(zone.element_count(), 1);
        }

        elements.remove(&mut zones, 1);
        elements.remove(&mut zones, 99);
        let ids = held(&mut zones);
        assert!(
            ids.iter().all(|zone| zone.len() == 1 && zone[0].1 == 32),
            "{ids:?}"
        );
        assert!(zones.iter().all(|zone| zone.element_count() == 0));
    }

    #[test]
    fn a_placement_a_later_zone_refuses_is_taken_out_of_the_earlier_ones() {
        let mut zones = zones();
        let mut elements = Elements::default();
        // Only the last zone holds something there already.
        let blocking = ElementPlacement {
            bounds: Aabb::from_corners(Vec2::new(10.0, 10.0), Vec2::new(11.0, 11.0)),
            appearance: 5,
            blocking: true,
        };
        zones[2].place_element(blocking).expect("free ground");
        assert!(!elements.place(&mut zones, &placed(1, 10, true)));
        assert_eq!(
            zones.iter().map(Zone::element_count).collect::<Vec<_>>(),
            [0, 0, 1]
        );
    }
}
