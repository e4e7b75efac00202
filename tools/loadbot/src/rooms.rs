//! Where the bots go and what joining rooms measured.
//!
//! A run joins the server's hosted space, a space named by id (`--space ID`),
//! or a space the first bot's account makes for the run
//! (`--create-space WxH[:capacity]`). A space with a capacity runs as rooms,
//! each its own instance started by its first join; the join answer names the
//! room. The report counts bots per room and times each bot's first join,
//! from the join request sent to the Welcome received, apart for the joins
//! that started a room's instance (the first of each room) and those that
//! found it running.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::report::Percentiles;
use crate::samples::{Distribution, SampleError};

/// The space a run's bots join.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Destination {
    /// The space each server hosts (its world).
    #[default]
    Hosted,
    /// This space, by id.
    Space(i64),
    /// A space made for the run by the first bot's account.
    Create(SpaceShape),
}

/// The size and capacity of a space to make: `WxH[:capacity]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceShape {
    /// Width in metres, 1 to 1,000.
    pub width: u32,
    /// Height in metres, 1 to 1,000.
    pub height: u32,
    /// Seats per room; none is one room with no cap.
    pub capacity: Option<u32>,
}

/// Why a `--create-space` value is not a space shape.
#[derive(Debug, Error, PartialEq, Eq)]
#[error(
    "{0:?} is not WxH[:capacity]: width and height 1 to 1000 metres, \
     capacity 1 to 100000 seats per room (like 60x40:10)"
)]
pub struct BadSpaceShape(pub String);

impl FromStr for SpaceShape {
    type Err = BadSpaceShape;

    fn from_str(text: &str) -> Result<Self, BadSpaceShape> {
        let bad = || BadSpaceShape(text.to_owned());
        let (size, capacity) = match text.split_once(':') {
            Some((size, capacity)) => (size, Some(capacity)),
            None => (text, None),
        };
        let (width, height) = size.split_once('x').ok_or_else(bad)?;
        let side = |value: &str| {
            value
                .parse::<u32>()
                .ok()
                .filter(|metres| (1..=1_000).contains(metres))
        };
        let capacity = match capacity {
            None => None,
            Some(seats) => Some(
                seats
                    .parse::<u32>()
                    .ok()
                    .filter(|seats| (1..=100_000).contains(seats))
                    .ok_or_else(bad)?,
            ),
        };
        Ok(Self {
            width: side(width).ok_or_else(bad)?,
            height: side(height).ok_or_else(bad)?,
            capacity,
        })
    }
}

/// One bot's first join: when its request left and the room it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FirstJoin {
    /// When the join request was sent (after logging in).
    pub(crate) sent: Instant,
    /// The room the answer named (none in a hosted world).
    pub(crate) room: Option<u32>,
}

/// How many bots joined one room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomCount {
    /// The room's number within the space, from 1.
    pub room: u32,
    /// Bots whose first join was seated in it.
    pub bots: usize,
}

/// The rooms a run's bots joined and how long their joins took to a Welcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomJoins {
    /// Bots per room, by room number (empty when the answers named no room).
    pub rooms: Vec<RoomCount>,
    /// Join request sent → Welcome received, milliseconds, for the first join
    /// of each room: it started the room's instance.
    pub starting_join_to_welcome_ms: Percentiles,
    /// The same for the other joins: the room's instance was running (or
    /// being started by an earlier join).
    pub running_join_to_welcome_ms: Percentiles,
    /// The distributions behind the two (for merging reports).
    pub starting_histogram: Distribution,
    /// See `starting_histogram`.
    pub running_histogram: Distribution,
}

impl Default for RoomJoins {
    fn default() -> Self {
        Self {
            rooms: Vec::new(),
            starting_join_to_welcome_ms: Percentiles::default(),
            running_join_to_welcome_ms: Percentiles::default(),
            starting_histogram: Distribution::milliseconds(),
            running_histogram: Distribution::milliseconds(),
        }
    }
}

impl RoomJoins {
    /// From each bot's first join and when it was first welcomed (none if it
    /// never was: counted in its room, not timed). In a hosted world (no
    /// room named) every join is of a running instance.
    pub(crate) fn of(joins: impl IntoIterator<Item = (FirstJoin, Option<Instant>)>) -> Self {
        let mut joins: Vec<_> = joins.into_iter().collect();
        joins.sort_by_key(|(join, _)| join.sent);
        let mut rooms: BTreeMap<u32, usize> = BTreeMap::new();
        let mut report = Self::default();
        for (join, welcomed) in joins {
            let starting = match join.room {
                Some(room) => {
                    let bots = rooms.entry(room).or_default();
                    *bots += 1;
                    *bots == 1
                }
                None => false,
            };
            let Some(welcomed) = welcomed else { continue };
            let milliseconds = welcomed.saturating_duration_since(join.sent).as_secs_f64() * 1e3;
            if starting {
                report.starting_histogram.record(milliseconds);
            } else {
                report.running_histogram.record(milliseconds);
            }
        }
        report.rooms = rooms
            .into_iter()
            .map(|(room, bots)| RoomCount { room, bots })
            .collect();
        report.settle();
        report
    }

    /// Sets the percentiles from the histograms.
    pub fn settle(&mut self) {
        self.starting_join_to_welcome_ms = self.starting_histogram.percentiles();
        self.running_join_to_welcome_ms = self.running_histogram.percentiles();
    }

    /// Adds the joins of a loadbot that ran beside this one (into the same
    /// space: bots of the same room number add up). Each loadbot took its
    /// own first join of a room as the one that started it.
    pub fn merge(&mut self, other: &Self) -> Result<(), SampleError> {
        for count in &other.rooms {
            match self.rooms.iter_mut().find(|mine| mine.room == count.room) {
                Some(mine) => mine.bots += count.bots,
                None => self.rooms.push(*count),
            }
        }
        self.rooms.sort_by_key(|count| count.room);
        self.starting_histogram.merge(&other.starting_histogram)?;
        self.running_histogram.merge(&other.running_histogram)?;
        self.settle();
        Ok(())
    }

    /// The report's lines for people: the rooms and the two latencies.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.rooms.is_empty() {
            let counts: Vec<String> = self
                .rooms
                .iter()
                .map(|count| format!("{}: {}", count.room, count.bots))
                .collect();
            out += &format!(
                "rooms joined               {} (bots per room, by number: {})\n",
                self.rooms.len(),
                counts.join(", ")
            );
        }
        for (name, percentiles) in [
            (
                "join -> welcome, starting",
                &self.starting_join_to_welcome_ms,
            ),
            ("join -> welcome, running", &self.running_join_to_welcome_ms),
        ] {
            if percentiles.count > 0 {
                out += &format!(
                    "{name:<26} p50 {:>8.2}  p99 {:>8.2} ms ({} joins)\n",
                    percentiles.p50, percentiles.p99, percentiles.count
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn shapes_parse_with_and_without_a_capacity() {
        assert_eq!(
            "60x40:10".parse(),
            Ok(SpaceShape {
                width: 60,
                height: 40,
                capacity: Some(10)
            })
        );
        assert_eq!(
            "1000x1".parse(),
            Ok(SpaceShape {
                width: 1_000,
                height: 1,
                capacity: None
            })
        );
        for bad in [
            "", "60", "60x", "0x10", "1001x10", "60x40:", "60x40:0", "60x40:x", "ax4",
        ] {
            assert!(bad.parse::<SpaceShape>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_first_join_of_each_room_is_the_starting_one() {
        let start = Instant::now();
        let at = |ms| start + Duration::from_millis(ms);
        let join = |sent, room| FirstJoin {
            sent: at(sent),
            room: Some(room),
        };
        // Given out of order: room 1's first join is sent at 0 ms, room 2's
        // at 30 ms; one bot of room 2 was never welcomed.
        let report = RoomJoins::of([
            (join(20, 1), Some(at(25))),
            (join(0, 1), Some(at(200))),
            (join(30, 2), Some(at(330))),
            (join(40, 2), None),
            (join(50, 2), Some(at(60))),
        ]);
        assert_eq!(
            report.rooms,
            [
                RoomCount { room: 1, bots: 2 },
                RoomCount { room: 2, bots: 3 }
            ]
        );
        let starting = report.starting_join_to_welcome_ms;
        let running = report.running_join_to_welcome_ms;
        assert_eq!((starting.count, running.count), (2, 2));
        assert!((starting.max - 300.0).abs() < 1.0, "{starting:?}");
        assert!((running.max - 10.0).abs() < 0.1, "{running:?}");
    }

    #[test]
    fn hosted_joins_are_all_of_a_running_instance_and_merge() {
        let start = Instant::now();
        let hosted = FirstJoin {
            sent: start,
            room: None,
        };
        let mut first = RoomJoins::of([(hosted, Some(start + Duration::from_millis(5)))]);
        assert!(first.rooms.is_empty());
        assert_eq!(first.running_join_to_welcome_ms.count, 1);
        let roomed = FirstJoin {
            sent: start,
            room: Some(3),
        };
        let other = RoomJoins::of([(roomed, Some(start))]);
        let other: RoomJoins =
            serde_json::from_str(&serde_json::to_string(&other).expect("serializes"))
                .expect("reads back");
        first.merge(&other).expect("merges");
        assert_eq!(first.rooms, [RoomCount { room: 3, bots: 1 }]);
        assert_eq!(first.starting_join_to_welcome_ms.count, 1);
        assert!(first.to_text().contains("rooms joined               1"));
    }
}
