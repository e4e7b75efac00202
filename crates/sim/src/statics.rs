//! Static geometry: the blocking placed elements in an R-tree, for collision and
//! region queries.

use bevy_ecs::resource::Resource;
use meridian_protocol::NetworkId;
use rstar::primitives::{GeomWithData, Rectangle};
use rstar::{AABB, RTree};

use crate::math::{Aabb, Vec2};

type Footprint = GeomWithData<Rectangle<[f32; 2]>, NetworkId>;

/// The zone's placed elements, indexed by footprint.
#[derive(Resource, Default)]
pub(crate) struct StaticIndex {
    tree: RTree<Footprint>,
}

fn footprint(id: NetworkId, bounds: Aabb) -> Footprint {
    GeomWithData::new(
        Rectangle::from_corners([bounds.min.x, bounds.min.y], [bounds.max.x, bounds.max.y]),
        id,
    )
}

fn envelope(bounds: Aabb) -> AABB<[f32; 2]> {
    AABB::from_corners([bounds.min.x, bounds.min.y], [bounds.max.x, bounds.max.y])
}

impl StaticIndex {
    pub(crate) fn insert(&mut self, id: NetworkId, bounds: Aabb) {
        self.tree.insert(footprint(id, bounds));
    }

    pub(crate) fn remove(&mut self, id: NetworkId, bounds: Aabb) -> bool {
        self.tree.remove(&footprint(id, bounds)).is_some()
    }

    /// Whether a circle at `center` would overlap any element.
    pub(crate) fn blocks(&self, center: Vec2, radius: f32) -> bool {
        let query = envelope(Aabb::around(center, radius));
        self.tree
            .locate_in_envelope_intersecting(query)
            .any(|element| {
                let corners = element.geom();
                let bounds = Aabb::from_corners(
                    Vec2::new(corners.lower()[0], corners.lower()[1]),
                    Vec2::new(corners.upper()[0], corners.upper()[1]),
                );
                bounds.intersects_circle(center, radius)
            })
    }

    /// Appends the ids of elements overlapping `region` to `out`.
    pub(crate) fn elements_in(&self, region: Aabb, out: &mut Vec<NetworkId>) {
        out.extend(
            self.tree
                .locate_in_envelope_intersecting(envelope(region))
                .map(|element| element.data),
        );
    }

    pub(crate) fn len(&self) -> usize {
        self.tree.size()
    }
}
