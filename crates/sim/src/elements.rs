//! Placed elements: blocking or decorative things put into a zone while it runs,
//! replicated like any entity.
//!
//! An element is an entity with a [`Replicated`] id (kind `Element`, appearance =
//! the catalogue element), a [`Position`] at its footprint's centre and a
//! [`PlacedElement`] footprint. It is indexed for interest with everything else,
//! so it enters and leaves clients' views through the same sets as avatars;
//! a blocking one is also in the static R-tree ([`StaticIndex`]) for collision.
//! A placement or a move is announced to the interest update ([`Arrived`]) so
//! that views not due for a refresh take it at the next step; a removal is
//! [`Departed`], as a despawned avatar is.

use bevy_ecs::prelude::*;
use meridian_protocol::NetworkId;
use meridian_protocol::snapshot::EntityKind;

use crate::Settings;
use crate::components::{Avatar, Heading, PlacedElement, Position, Replicated};
use crate::interest::{Arrived, Departed};
use crate::math::{Aabb, Vec2};
use crate::statics::StaticIndex;
use crate::zone::{SpawnError, Zone};

/// An element to place.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ElementPlacement {
    /// Its footprint.
    pub bounds: Aabb,
    /// Catalogue element (what clients draw).
    pub appearance: u32,
    /// Whether it keeps avatars out (false for decorations walked over).
    pub blocking: bool,
}

fn centre(bounds: Aabb) -> Vec2 {
    Vec2::new(
        (bounds.min.x + bounds.max.x) / 2.0,
        (bounds.min.y + bounds.max.y) / 2.0,
    )
}

impl Zone {
    /// How many blocking elements are placed.
    pub fn element_count(&self) -> usize {
        self.world.resource::<StaticIndex>().len()
    }

    /// Places an element under a new network id. Refused outside the world; a
    /// blocking one also on top of an avatar or another blocking element.
    pub fn place_element(&mut self, placement: ElementPlacement) -> Result<NetworkId, SpawnError> {
        self.check_spot(placement, None)?;
        let id = self.allocate_id()?;
        self.spawn_element(placement, id);
        Ok(id)
    }

    /// [`Self::place_element`] under an id the caller chose, so that one
    /// placement has the same id in every zone of a process (another zone
    /// allocated it). Refused if an entity here already has the id.
    pub fn place_element_as(
        &mut self,
        placement: ElementPlacement,
        id: NetworkId,
    ) -> Result<NetworkId, SpawnError> {
        self.check_spot(placement, None)?;
        let mut replicated = self.world.query::<&Replicated>();
        if replicated.iter(&self.world).any(|entity| entity.id == id) {
            return Err(SpawnError::Occupied);
        }
        self.spawn_element(placement, id);
        Ok(id)
    }

    /// Moves (or resizes) an element to `bounds`, with the checks of a
    /// placement. Clients that see it get its new position at the next step.
    pub fn move_element(&mut self, id: NetworkId, bounds: Aabb) -> Result<(), SpawnError> {
        let (entity, element) = self.find_element(id)?;
        let placement = ElementPlacement {
            bounds,
            appearance: 0,
            blocking: element.blocking,
        };
        self.check_spot(placement, Some((id, element.bounds)))?;
        if element.blocking {
            let mut index = self.world.resource_mut::<StaticIndex>();
            index.remove(id, element.bounds);
            index.insert(id, bounds);
        }
        self.world.entity_mut(entity).insert((
            Position(centre(bounds)),
            PlacedElement {
                bounds,
                blocking: element.blocking,
            },
        ));
        self.world
            .resource_mut::<Arrived>()
            .0
            .push((id, centre(bounds)));
        Ok(())
    }

    /// Removes an element. Every view loses it at the next step.
    pub fn remove_element(&mut self, id: NetworkId) -> Result<(), SpawnError> {
        let (entity, element) = self.find_element(id)?;
        if element.blocking {
            self.world
                .resource_mut::<StaticIndex>()
                .remove(id, element.bounds);
        }
        self.world.despawn(entity);
        self.world.resource_mut::<Departed>().0.push(id);
        // Placed (or moved) and removed between two steps: nobody takes it.
        self.world
            .resource_mut::<Arrived>()
            .0
            .retain(|(arrived, _)| *arrived != id);
        Ok(())
    }

    /// Appends the ids of blocking elements overlapping `region`.
    pub fn elements_in(&self, region: Aabb, out: &mut Vec<NetworkId>) {
        self.world
            .resource::<StaticIndex>()
            .elements_in(region, out);
    }

    fn find_element(&mut self, id: NetworkId) -> Result<(Entity, PlacedElement), SpawnError> {
        let mut elements = self.world.query::<(Entity, &Replicated, &PlacedElement)>();
        elements
            .iter(&self.world)
            .find(|(_, replicated, _)| replicated.id == id)
            .map(|(entity, _, element)| (entity, *element))
            .ok_or(SpawnError::UnknownElement(id))
    }

    /// Whether `placement` may go where it asks; `moving` is the element being
    /// moved (its own footprint does not count).
    fn check_spot(
        &mut self,
        placement: ElementPlacement,
        moving: Option<(NetworkId, Aabb)>,
    ) -> Result<(), SpawnError> {
        let config = &self.world.resource::<Settings>().0;
        let bounds = placement.bounds;
        if !bounds.within(config.world_width, config.world_height) {
            return Err(SpawnError::OutOfBounds);
        }
        if !placement.blocking {
            return Ok(());
        }
        let radius = config.avatar_radius;
        let statics = self.world.resource::<StaticIndex>();
        let mut overlapping = Vec::new();
        statics.elements_in(bounds, &mut overlapping);
        if overlapping
            .iter()
            .any(|other| moving.is_none_or(|(id, _)| *other != id))
        {
            return Err(SpawnError::Occupied);
        }
        let mut avatars = self.world.query_filtered::<&Position, With<Avatar>>();
        if avatars
            .iter(&self.world)
            .any(|position| bounds.intersects_circle(position.0, radius))
        {
            return Err(SpawnError::Occupied);
        }
        Ok(())
    }

    fn spawn_element(&mut self, placement: ElementPlacement, id: NetworkId) {
        let bounds = placement.bounds;
        self.world.spawn((
            Replicated {
                id,
                kind: EntityKind::Element,
                appearance: placement.appearance,
            },
            Position(centre(bounds)),
            Heading(0.0),
            PlacedElement {
                bounds,
                blocking: placement.blocking,
            },
        ));
        if placement.blocking {
            self.world.resource_mut::<StaticIndex>().insert(id, bounds);
        }
        self.world
            .resource_mut::<Arrived>()
            .0
            .push((id, centre(bounds)));
    }
}

#[cfg(test)]
mod tests {
    use meridian_protocol::snapshot::{EntityState, Footprint};

    use super::*;
    use crate::{AvatarSpawn, ClientId, SimConfig};

    fn zone() -> Zone {
        Zone::new(SimConfig {
            // Views refresh every fourth tick: placements must not wait for it.
            interest_refresh_ticks: 4,
            ..SimConfig::default()
        })
        .unwrap()
    }

    fn stand(zone: &mut Zone, client: u64, x: f32) -> NetworkId {
        let spawn = AvatarSpawn {
            position: Vec2::new(x, 100.0),
            heading: 0.0,
            appearance: 1,
        };
        zone.spawn_avatar(ClientId(client), spawn).unwrap()
    }

    fn table(x: f32, blocking: bool) -> ElementPlacement {
        ElementPlacement {
            bounds: Aabb::from_corners(Vec2::new(x, 110.0), Vec2::new(x + 2.0, 111.0)),
            appearance: 42,
            blocking,
        }
    }

    fn seen(zone: &Zone, client: u64, id: NetworkId) -> Option<EntityState> {
        let mut view = Vec::new();
        zone.view_of(ClientId(client), &mut view);
        view.into_iter().find(|state| state.id == id)
    }

    #[test]
    fn a_placement_reaches_every_view_near_it_at_the_next_step_and_no_view_far_away() {
        let mut zone = zone();
        stand(&mut zone, 1, 100.0);
        stand(&mut zone, 2, 105.0);
        stand(&mut zone, 3, 400.0);
        for _ in 0..5 {
            zone.step(&[]);
        }
        let id = zone.place_element(table(100.0, true)).unwrap();
        zone.step(&[]);
        for client in [1, 2] {
            let state = seen(&zone, client, id).expect("seen at the next step");
            assert_eq!(state.position(), [101.0, 110.5]);
            assert_eq!(state.appearance, 42);
            assert_eq!(
                state.footprint,
                Some(Footprint {
                    width: 128,
                    height: 64,
                    blocking: true
                })
            );
        }
        assert_eq!(seen(&zone, 3, id), None);
        assert_eq!(zone.element_count(), 1);

        zone.move_element(id, table(104.0, true).bounds).unwrap();
        zone.step(&[]);
        assert_eq!(seen(&zone, 1, id).unwrap().position(), [105.0, 110.5]);

        zone.remove_element(id).unwrap();
        zone.step(&[]);
        assert_eq!(seen(&zone, 1, id), None);
        assert_eq!(seen(&zone, 2, id), None);
        assert_eq!(zone.element_count(), 0);
    }

    #[test]
    fn decorations_are_replicated_and_walked_over_blocking_ones_are_not_stacked() {
        let mut zone = zone();
        stand(&mut zone, 1, 100.0);
        zone.step(&[]);
        let rug = zone.place_element(table(100.0, false)).unwrap();
        // A decoration may lie under a blocking element, not a blocking one on another.
        let desk = zone.place_element(table(100.0, true)).unwrap();
        assert_eq!(
            zone.place_element(table(101.0, true)),
            Err(SpawnError::Occupied)
        );
        // Nor on an avatar.
        let on_avatar = ElementPlacement {
            bounds: Aabb::from_corners(Vec2::new(99.0, 99.0), Vec2::new(101.0, 101.0)),
            ..table(0.0, true)
        };
        assert_eq!(zone.place_element(on_avatar), Err(SpawnError::Occupied));
        zone.step(&[]);
        assert!(!seen(&zone, 1, rug).unwrap().footprint.unwrap().blocking);
        assert!(seen(&zone, 1, desk).unwrap().footprint.unwrap().blocking);
        assert_eq!(zone.element_count(), 1);
        // A move onto another blocking element is refused; onto free ground it is not.
        let other = zone.place_element(table(110.0, true)).unwrap();
        assert_eq!(
            zone.move_element(other, table(101.0, true).bounds),
            Err(SpawnError::Occupied)
        );
        zone.move_element(other, table(120.0, true).bounds).unwrap();
        assert_eq!(
            zone.move_element(NetworkId(9_999), table(130.0, true).bounds),
            Err(SpawnError::UnknownElement(NetworkId(9_999)))
        );
    }

    #[test]
    fn an_element_placed_under_a_chosen_id_keeps_it_and_a_taken_id_is_refused() {
        let mut zone = zone();
        let avatar = stand(&mut zone, 1, 100.0);
        let id = NetworkId(5_000);
        assert_eq!(zone.place_element_as(table(100.0, true), id), Ok(id));
        assert_eq!(
            zone.place_element_as(table(200.0, true), avatar),
            Err(SpawnError::Occupied)
        );
        zone.step(&[]);
        assert!(seen(&zone, 1, id).is_some());
    }
}
