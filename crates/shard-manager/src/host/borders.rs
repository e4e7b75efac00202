//! How a host of several zones asks the handoff protocol (which lives in
//! `meridian-shard-manager`) who owns what; [`OneZone`] is the single-zone case.

use meridian_sim::Vec2;

/// What a host of several zones asks of the handoff protocol. Zones are
/// indices into the host's zones.
pub trait Borders {
    /// The zone that owns a point of the world.
    fn zone_at(&self, position: Vec2) -> usize;
    /// The zones other than `zone` within `reach` of `position`, where a player
    /// standing there must be mirrored as a ghost.
    fn ghost_targets(&self, zone: usize, position: Vec2, reach: f32, out: &mut Vec<usize>);
    /// Who simulates `zone`: this host (always, for a host that is not one
    /// shard of a cluster), another shard, or nobody known right now.
    fn owner(&self, _zone: usize) -> ZoneOwner {
        ZoneOwner::Here
    }
    /// The corners (low, high) of `zone`, if the host's zones are cut from
    /// one world; none means the whole zone's own area.
    fn zone_bounds(&self, _zone: usize) -> Option<(Vec2, Vec2)> {
        None
    }
    /// A player's avatar appeared in `zone`.
    fn joined(&mut self, account: u64, zone: usize);
    /// A player left the world from `zone`.
    fn left(&mut self, account: u64, zone: usize);
    /// Whether a player's inputs must wait: it is frozen in a handoff.
    fn is_frozen(&self, account: u64, zone: usize) -> bool;
    /// Where a player stands after this tick's step, with its newest input.
    fn observe(&mut self, account: u64, zone: usize, position: Vec2, last_input: u32);
    /// Advances the handoffs; the ones committed now, as (account, from, to).
    fn advance(&mut self) -> Vec<(u64, usize, usize)>;
}

/// Who simulates a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneOwner {
    /// This host.
    Here,
    /// Another shard of the cluster (its id).
    Shard(u32),
    /// Nobody known: its lease lapsed and no shard has said it took it yet.
    Nobody,
}

/// One zone: nothing crosses a border.
#[derive(Debug, Clone, Copy, Default)]
pub struct OneZone;

impl Borders for OneZone {
    fn zone_at(&self, _: Vec2) -> usize {
        0
    }
    fn ghost_targets(&self, _: usize, _: Vec2, _: f32, _: &mut Vec<usize>) {}
    fn joined(&mut self, _: u64, _: usize) {}
    fn left(&mut self, _: u64, _: usize) {}
    fn is_frozen(&self, _: u64, _: usize) -> bool {
        false
    }
    fn observe(&mut self, _: u64, _: usize, _: Vec2, _: u32) {}
    fn advance(&mut self) -> Vec<(u64, usize, usize)> {
        Vec::new()
    }
}
