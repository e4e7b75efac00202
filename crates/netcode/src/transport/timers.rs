//! One timer queue for every connection of the event loop.
//!
//! Each connection has at most one live deadline (the earliest of quinn's
//! `poll_timeout` and the loop's own: stream-open limit, goodbye grace). A
//! connection that moves its deadline pushes a new entry with a fresh
//! generation; the old entry stays in the heap and is skipped when it comes
//! out. Deadlines move on almost every packet (loss detection, idle timeout),
//! so the stale entries are swept whenever they outnumber the live ones by
//! [`COMPACT_FACTOR`]: the heap never holds more than a few entries per
//! connection, and each push or pop stays O(log n) amortised.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::small_keys::SmallKeyMap;

/// The heap is rebuilt from the live deadlines when it holds more than this
/// many entries per live one (plus [`COMPACT_SLACK`]).
pub const COMPACT_FACTOR: usize = 4;

/// Entries tolerated above `COMPACT_FACTOR × live` before a sweep.
const COMPACT_SLACK: usize = 64;

/// One queued deadline of one timer key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry<K: Ord> {
    deadline: Instant,
    key: K,
    generation: u64,
}

/// Deadlines by key (a connection), earliest first.
#[derive(Debug)]
pub struct Timers<K: Ord + Copy + std::hash::Hash> {
    heap: BinaryHeap<Reverse<Entry<K>>>,
    /// Each key's live deadline and the generation of its entry.
    live: SmallKeyMap<K, (Instant, u64)>,
    next_generation: u64,
}

impl<K: Ord + Copy + std::hash::Hash> Default for Timers<K> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            live: SmallKeyMap::default(),
            next_generation: 0,
        }
    }
}

impl<K: Ord + Copy + std::hash::Hash> Timers<K> {
    /// Sets `key`'s deadline (`None` cancels it). Setting the deadline it
    /// already has costs nothing.
    pub fn set(&mut self, key: K, deadline: Option<Instant>) {
        let Some(deadline) = deadline else {
            self.live.remove(&key);
            return;
        };
        if self
            .live
            .get(&key)
            .is_some_and(|(current, _)| *current == deadline)
        {
            return;
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        self.live.insert(key, (deadline, generation));
        self.heap.push(Reverse(Entry {
            deadline,
            key,
            generation,
        }));
        if self.heap.len() > self.live.len() * COMPACT_FACTOR + COMPACT_SLACK {
            self.compact();
        }
    }

    /// The earliest live deadline.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.skip_stale();
        self.heap.peek().map(|Reverse(entry)| entry.deadline)
    }

    /// Takes the key of one deadline at or before `now` (its deadline is then
    /// gone: the caller sets the next one).
    pub fn pop_expired(&mut self, now: Instant) -> Option<K> {
        self.skip_stale();
        let Reverse(entry) = self.heap.peek()?;
        if entry.deadline > now {
            return None;
        }
        let key = entry.key;
        self.heap.pop();
        self.live.remove(&key);
        Some(key)
    }

    /// Live deadlines.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether no deadline is set.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }

    /// Entries in the heap, stale ones included (for tests and metrics).
    pub fn queued(&self) -> usize {
        self.heap.len()
    }

    fn is_live(&self, entry: &Entry<K>) -> bool {
        self.live
            .get(&entry.key)
            .is_some_and(|(_, generation)| *generation == entry.generation)
    }

    fn skip_stale(&mut self) {
        while let Some(Reverse(entry)) = self.heap.peek() {
            if self.is_live(entry) {
                return;
            }
            self.heap.pop();
        }
    }

    fn compact(&mut self) {
        self.heap = self
            .live
            .iter()
            .map(|(key, (deadline, generation))| {
                Reverse(Entry {
                    deadline: *deadline,
                    key: *key,
                    generation: *generation,
                })
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn deadlines_come_out_earliest_first_and_only_once_due() {
        let start = Instant::now();
        let mut timers = Timers::default();
        timers.set(1_u32, Some(start + Duration::from_millis(30)));
        timers.set(2, Some(start + Duration::from_millis(10)));
        timers.set(3, Some(start + Duration::from_millis(20)));
        assert_eq!(
            timers.next_deadline(),
            Some(start + Duration::from_millis(10))
        );
        assert_eq!(timers.pop_expired(start), None);
        let now = start + Duration::from_millis(25);
        assert_eq!(timers.pop_expired(now), Some(2));
        assert_eq!(timers.pop_expired(now), Some(3));
        assert_eq!(timers.pop_expired(now), None);
        assert_eq!(timers.len(), 1);
    }

    #[test]
    fn a_moved_or_cancelled_deadline_never_fires_at_its_old_time() {
        let start = Instant::now();
        let mut timers = Timers::default();
        timers.set(1_u32, Some(start + Duration::from_millis(10)));
        timers.set(1, Some(start + Duration::from_millis(50)));
        timers.set(2, Some(start + Duration::from_millis(5)));
        timers.set(2, None);
        assert_eq!(timers.pop_expired(start + Duration::from_millis(20)), None);
        assert_eq!(
            timers.next_deadline(),
            Some(start + Duration::from_millis(50))
        );
        assert_eq!(
            timers.pop_expired(start + Duration::from_millis(50)),
            Some(1)
        );
        assert!(timers.is_empty());
    }

    #[test]
    fn deadlines_that_move_on_every_packet_leave_a_bounded_heap() {
        let start = Instant::now();
        let mut timers = Timers::default();
        for step in 0..100_000_u64 {
            let key = (step % 100) as u32;
            timers.set(key, Some(start + Duration::from_micros(step)));
        }
        assert_eq!(timers.len(), 100);
        assert!(timers.queued() <= 100 * COMPACT_FACTOR + COMPACT_SLACK);
    }
}
