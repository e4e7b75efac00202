//! What a bot sees in its way: the blocking elements of its view (protocol 4
//! puts placed elements, with their footprints, into snapshots), so that a bot
//! steers around a table instead of pushing against it and having its inputs
//! rejected.

use meridian_protocol::snapshot::{EntityKind, EntityState};

/// Whether a step of `reach` metres from `from` along the unit `direction`
/// would put an avatar of `radius` metres into a blocking element of `view`.
pub(crate) fn blocked_ahead(
    view: &[EntityState],
    from: (f32, f32),
    direction: (f32, f32),
    reach: f32,
    radius: f32,
) -> bool {
    let ahead = (from.0 + direction.0 * reach, from.1 + direction.1 * reach);
    view.iter().any(|entity| {
        let Some(footprint) = entity.footprint else {
            return false;
        };
        if entity.kind != EntityKind::Element || !footprint.blocking {
            return false;
        }
        let [x, y] = entity.position();
        let [width, height] = footprint.size();
        // The nearest point of the footprint to where the step lands.
        let near_x = ahead.0.clamp(x - width / 2.0, x + width / 2.0);
        let near_y = ahead.1.clamp(y - height / 2.0, y + height / 2.0);
        let (dx, dy) = (ahead.0 - near_x, ahead.1 - near_y);
        dx * dx + dy * dy < radius * radius
    })
}

/// A direction free of blocking elements for a step of `reach`: `direction`
/// itself, else a quarter turn left, else right, else back; `None` if the bot
/// is boxed in.
pub(crate) fn way_around(
    view: &[EntityState],
    from: (f32, f32),
    direction: (f32, f32),
    reach: f32,
    radius: f32,
) -> Option<(f32, f32)> {
    let (dx, dy) = direction;
    [(dx, dy), (-dy, dx), (dy, -dx), (-dx, -dy)]
        .into_iter()
        .find(|&turned| !blocked_ahead(view, from, turned, reach, radius))
}

#[cfg(test)]
mod tests {
    use meridian_protocol::snapshot::Footprint;
    use meridian_protocol::{AnimationState, NetworkId};

    use super::*;

    /// A 2 × 1 m element centred on (x, y).
    fn element(x: f32, y: f32, blocking: bool) -> EntityState {
        EntityState::quantize(
            NetworkId(9),
            EntityKind::Element,
            3,
            [x, y],
            0.0,
            AnimationState::Idle,
        )
        .with_footprint(Footprint::quantize(2.0, 1.0, blocking))
    }

    #[test]
    fn a_blocking_element_ahead_is_seen_and_walked_around() {
        let view = [element(12.0, 10.0, true)];
        // East from (10, 10): one metre on is (11, 10), inside the footprint.
        assert!(blocked_ahead(&view, (10.0, 10.0), (1.0, 0.0), 1.0, 0.3));
        // West is free, and so is north or south (the footprint is 1 m deep).
        assert!(!blocked_ahead(&view, (10.0, 10.0), (-1.0, 0.0), 1.0, 0.3));
        assert_eq!(
            way_around(&view, (10.0, 10.0), (1.0, 0.0), 1.0, 0.3),
            Some((0.0, 1.0))
        );
        // Just past the radius of its edge (x = 11) is free.
        assert!(!blocked_ahead(&view, (9.0, 10.0), (1.0, 0.0), 1.6, 0.3));
        assert!(blocked_ahead(&view, (9.0, 10.0), (1.0, 0.0), 1.8, 0.3));
    }

    #[test]
    fn decorations_and_avatars_are_walked_over() {
        let mut avatar = element(11.0, 10.0, true);
        avatar.kind = EntityKind::Avatar;
        avatar.footprint = None;
        let view = [element(11.0, 10.0, false), avatar];
        assert!(!blocked_ahead(&view, (10.0, 10.0), (1.0, 0.0), 1.0, 0.3));
    }
}
