//! A ring of the last [`RING_SIZE`] views by tick, reusing its allocations.
//!
//! The server keeps one per client: what the client will hold if it receives
//! each snapshot sent. The client keeps one of the views it decoded. A delta is
//! always relative to a tick both sides hold.

use meridian_protocol::snapshot::EntityState;

/// Snapshots remembered per client.
pub const RING_SIZE: usize = 32;

/// The last [`RING_SIZE`] views, indexed by tick.
#[derive(Debug)]
pub struct ViewRing {
    slots: Vec<(Option<u32>, Vec<EntityState>)>,
}

impl Default for ViewRing {
    fn default() -> Self {
        Self {
            slots: (0..RING_SIZE).map(|_| (None, Vec::new())).collect(),
        }
    }
}

impl ViewRing {
    /// The view stored for `tick`, if it is still held.
    pub fn get(&self, tick: u32) -> Option<&[EntityState]> {
        let (stored, view) = &self.slots[tick as usize % RING_SIZE];
        (*stored == Some(tick)).then_some(view.as_slice())
    }

    /// Takes the slot for `tick` (evicting `tick - RING_SIZE`) and returns its
    /// buffer, cleared, for the caller to fill.
    pub fn slot(&mut self, tick: u32) -> &mut Vec<EntityState> {
        let (stored, view) = &mut self.slots[tick as usize % RING_SIZE];
        *stored = Some(tick);
        view.clear();
        view
    }

    /// Forgets everything (a reconnect).
    pub fn clear(&mut self) {
        for (stored, _) in &mut self.slots {
            *stored = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_ticks_are_evicted() {
        let mut ring = ViewRing::default();
        ring.slot(5);
        assert!(ring.get(5).is_some());
        ring.slot(5 + RING_SIZE as u32);
        assert!(ring.get(5).is_none());
        assert!(ring.get(5 + RING_SIZE as u32).is_some());
        assert!(ring.get(6).is_none());
    }
}
