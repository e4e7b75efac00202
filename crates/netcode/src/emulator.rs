//! A seeded network emulator for tests: loss, delay, jitter, reordering and
//! duplication for datagrams; delay (and retransmission delay instead of loss)
//! for the reliable stream, which QUIC never loses or reorders.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use meridian_sim::agents::SplitMix64;

/// How a link misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkConditions {
    /// Chance a datagram is lost (0..1). On the stream, the chance a packet
    /// needs a retransmission, which adds one round trip.
    pub loss: f64,
    /// One-way delay.
    pub delay: Duration,
    /// Extra delay, uniform in `0..jitter`.
    pub jitter: Duration,
    /// Chance a datagram is held back by another `delay` (reordering it).
    pub reorder: f64,
    /// Chance a datagram arrives twice.
    pub duplicate: f64,
}

impl LinkConditions {
    /// A perfect link with no delay.
    pub const PERFECT: Self = Self {
        loss: 0.0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        reorder: 0.0,
        duplicate: 0.0,
    };
}

/// Whether bytes travel as a datagram or on the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lane {
    /// Unreliable.
    Datagram,
    /// Reliable and ordered.
    Stream,
}

/// A packet in flight: (deliver at, send order, lane, bytes); the send order
/// keeps equal delivery times in order.
type InFlight = Reverse<(Instant, u64, Lane, Vec<u8>)>;

/// One direction of a connection.
#[derive(Debug)]
pub struct Link {
    conditions: LinkConditions,
    random: SplitMix64,
    /// (deliver at, sequence) → bytes; the sequence keeps equal times in order.
    in_flight: BinaryHeap<InFlight>,
    sequence: u64,
    /// The stream must stay ordered: nothing on it is delivered before this.
    stream_not_before: Option<Instant>,
    /// Datagrams lost so far.
    pub lost: u64,
}

impl Link {
    /// A link with these conditions and seed.
    pub fn new(conditions: LinkConditions, seed: u64) -> Self {
        Self {
            conditions,
            random: SplitMix64::new(seed),
            in_flight: BinaryHeap::new(),
            sequence: 0,
            stream_not_before: None,
            lost: 0,
        }
    }

    fn chance(&mut self, probability: f64) -> bool {
        f64::from(self.random.next_f32()) < probability
    }

    fn jitter(&mut self) -> Duration {
        self.conditions.jitter.mul_f32(self.random.next_f32())
    }

    fn push(&mut self, at: Instant, lane: Lane, bytes: Vec<u8>) {
        self.sequence += 1;
        self.in_flight
            .push(Reverse((at, self.sequence, lane, bytes)));
    }

    /// Sends bytes at `now`.
    pub fn send(&mut self, now: Instant, lane: Lane, bytes: Vec<u8>) {
        let conditions = self.conditions;
        match lane {
            Lane::Datagram => {
                if self.chance(conditions.loss) {
                    self.lost += 1;
                    return;
                }
                let mut at = now + conditions.delay + self.jitter();
                if self.chance(conditions.reorder) {
                    at += conditions.delay.max(Duration::from_millis(10));
                }
                if self.chance(conditions.duplicate) {
                    let again = at + self.jitter();
                    self.push(again, lane, bytes.clone());
                }
                self.push(at, lane, bytes);
            }
            Lane::Stream => {
                let mut at = now + conditions.delay + self.jitter();
                if self.chance(conditions.loss) {
                    at += 2 * conditions.delay + Duration::from_millis(20);
                }
                let at = self.stream_not_before.map_or(at, |floor| at.max(floor));
                self.stream_not_before = Some(at);
                self.push(at, lane, bytes);
            }
        }
    }

    /// Takes the next delivery due at or before `now`.
    pub fn receive(&mut self, now: Instant) -> Option<(Lane, Vec<u8>)> {
        let Reverse((at, _, _, _)) = self.in_flight.peek()?;
        if *at > now {
            return None;
        }
        self.in_flight
            .pop()
            .map(|Reverse((_, _, lane, bytes))| (lane, bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_stays_ordered_and_datagrams_are_lost_at_about_the_rate() {
        let start = Instant::now();
        let conditions = LinkConditions {
            loss: 0.1,
            delay: Duration::from_millis(50),
            jitter: Duration::from_millis(30),
            reorder: 0.1,
            duplicate: 0.0,
        };
        let mut link = Link::new(conditions, 9);
        for index in 0..1_000u32 {
            let now = start + Duration::from_millis(u64::from(index));
            link.send(now, Lane::Stream, index.to_le_bytes().to_vec());
            link.send(now, Lane::Datagram, index.to_le_bytes().to_vec());
        }
        let end = start + Duration::from_secs(10);
        let (mut stream, mut datagrams) = (Vec::new(), 0);
        while let Some((lane, bytes)) = link.receive(end) {
            match lane {
                Lane::Stream => stream.push(u32::from_le_bytes(bytes.try_into().unwrap())),
                Lane::Datagram => datagrams += 1,
            }
        }
        assert_eq!(stream, (0..1_000).collect::<Vec<_>>());
        assert!(
            (850..=950).contains(&datagrams),
            "{datagrams} datagrams arrived"
        );
    }
}
