//! Rooms: the copies of a space that run side by side once one copy is full,
//! and their seats.
//!
//! A space's [`SpaceCapacity`] says how many seats a room has (none: one room
//! with no cap) and whether another room may open when every room is full. A
//! join reserves a seat ([`Store::reserve_seat`]); the player takes it when it
//! arrives ([`Store::take_seat`]); a reserved seat not taken by its
//! `expires_at` lapses, and a taken seat stays until it is released
//! ([`Store::release_seat`]).
//!
//! Every change to a space's rooms and seats runs in one transaction that
//! first locks the space's row (`SELECT ... FOR UPDATE` on PostgreSQL; on
//! SQLite the transaction holds the writer's lock from its `BEGIN IMMEDIATE`),
//! so joins at once are seated one after another, never two in one free seat.
//!
//! A room lives while it holds a seat: the release that empties it deletes it,
//! and a new room takes the lowest number the space's rooms leave free. Room
//! ids are never reused, so an id names one room's lifetime.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::time::Duration;

use thiserror::Error;

use crate::error::StoreError;
use crate::ids::next_id;
use crate::store::{Backend, Store};

/// How many players a space seats per room, and whether more rooms may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpaceCapacity {
    /// Seats per room; `None`: one room and no cap (the default).
    pub capacity: Option<NonZeroU32>,
    /// Whether another room opens when every room is full (default `true`).
    pub overflow: bool,
}

/// Whether a seat waits for its player or holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeatState {
    /// Held for a player who joined and has not arrived; lapses at its expiry.
    Reserved,
    /// The player arrived; it lasts until released.
    Taken,
}

impl SeatState {
    fn column(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Taken => "taken",
        }
    }

    fn from_column(value: &str) -> Result<Self, StoreError> {
        match value {
            "reserved" => Ok(Self::Reserved),
            "taken" => Ok(Self::Taken),
            _ => Err(StoreError::Corrupt {
                field: "seat state",
            }),
        }
    }
}

/// A player's seat in a space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seat {
    /// The room's id (unique among all rooms, never reused).
    pub room: i64,
    /// The room's number within its space, from 1.
    pub number: u32,
    /// Reserved or taken.
    pub state: SeatState,
    /// When a reserved seat lapses (Unix seconds); `None` once taken.
    pub expires_at: Option<i64>,
}

/// A room and how many of its seats are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoomOccupancy {
    /// The room's id.
    pub room: i64,
    /// Its number within the space, from 1.
    pub number: u32,
    /// Seats held: reserved (not lapsed) and taken.
    pub seated: u32,
    /// The space's seats per room; `None`: no cap.
    pub capacity: Option<NonZeroU32>,
}

/// Why a seat was not reserved or taken. Nothing is reserved when a join fails.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum SeatError {
    /// There is no such space.
    #[error("space not found")]
    UnknownSpace,
    /// Every room is full and the space opens no more.
    #[error("every room is full ({capacity} seats each) and the space opens no more")]
    Full {
        /// The space's seats per room.
        capacity: NonZeroU32,
    },
    /// The player to join holds no seat in this space.
    #[error("the player to join is not in this space")]
    WithNotPresent,
    /// The room of the player to join has no free seat.
    #[error("room {number} of the player to join is full")]
    WithRoomFull {
        /// That room's id.
        room: i64,
        /// Its number within the space.
        number: u32,
    },
    /// No seat of this account in this room to take: never reserved, lapsed,
    /// or released.
    #[error("no seat reserved in this room")]
    NotSeated,
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for SeatError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(StoreError::Database(error))
    }
}

type Transaction = sqlx::Transaction<'static, sqlx::Any>;

/// (room id, room number, state, expires_at).
type SeatRow = (i64, i32, String, Option<i64>);

impl Store {
    /// Sets `space`'s seats per room and whether more rooms may open. Rooms
    /// already fuller than a lowered capacity keep their players and get no
    /// more. An unknown space is `NotFound`.
    pub async fn set_space_capacity(
        &self,
        space: i64,
        capacity: Option<NonZeroU32>,
        overflow: bool,
    ) -> Result<(), StoreError> {
        let done = sqlx::query("UPDATE spaces SET capacity = $1, overflow = $2 WHERE id = $3")
            .bind(capacity.map(|seats| i64::from(seats.get())))
            .bind(i32::from(overflow))
            .bind(space)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound { what: "space" });
        }
        Ok(())
    }

    /// `space`'s seats per room and overflow. An unknown space is `NotFound`.
    pub async fn space_capacity(&self, space: i64) -> Result<SpaceCapacity, StoreError> {
        let row: Option<(Option<i64>, i32)> =
            sqlx::query_as("SELECT capacity, overflow FROM spaces WHERE id = $1")
                .bind(space)
                .fetch_optional(&self.pool)
                .await?;
        row.map(space_capacity)
            .ok_or(StoreError::NotFound { what: "space" })?
    }

    /// Reserves a seat in `space` for `account` until `now + lifetime` (Unix
    /// seconds), atomically, and says which room it is in. In order:
    ///
    /// 1. reservations in the space that lapsed by `now` are released;
    /// 2. an account that already holds a seat in the space gets it back (a
    ///    reserved one with its expiry moved to `now + lifetime`);
    /// 3. with `with`, the room of that account's seat, if it has a free seat
    ///    ([`SeatError::WithNotPresent`], [`SeatError::WithRoomFull`]);
    /// 4. the fullest room with a free seat, the oldest among equals (a space
    ///    with no capacity has one room);
    /// 5. a new room, if the space has none yet or overflows, else
    ///    [`SeatError::Full`].
    ///
    /// When it fails, nothing changed.
    pub async fn reserve_seat(
        &self,
        space: i64,
        account: i64,
        with: Option<i64>,
        now: i64,
        lifetime: Duration,
    ) -> Result<Seat, SeatError> {
        let expires_at = now.saturating_add(whole_seconds(lifetime));
        let mut transaction = self.begin_write().await?;
        let limits = self
            .lock_space(&mut transaction, space)
            .await?
            .ok_or(SeatError::UnknownSpace)?;
        release_lapsed_in(&mut transaction, space, now).await?;
        if let Some(mut seat) = seat_in(&mut transaction, space, account).await? {
            if seat.state == SeatState::Reserved {
                sqlx::query(
                    "UPDATE room_seats SET expires_at = $1 WHERE space_id = $2 AND account_id = $3",
                )
                .bind(expires_at)
                .bind(space)
                .bind(account)
                .execute(&mut *transaction)
                .await?;
                seat.expires_at = Some(expires_at);
            }
            transaction.commit().await?;
            return Ok(seat);
        }
        let cap = limits
            .capacity
            .map_or(i64::MAX, |seats| i64::from(seats.get()));
        let (room, number) = if let Some(friend) = with {
            let seat = seat_in(&mut transaction, space, friend)
                .await?
                .ok_or(SeatError::WithNotPresent)?;
            if seated_in(&mut transaction, seat.room).await? >= cap {
                return Err(SeatError::WithRoomFull {
                    room: seat.room,
                    number: seat.number,
                });
            }
            (seat.room, seat.number)
        } else if let Some(found) = fullest_with_free_seat(&mut transaction, space, cap).await? {
            found
        } else {
            let numbers: Vec<(i32,)> =
                sqlx::query_as("SELECT number FROM rooms WHERE space_id = $1 ORDER BY number")
                    .bind(space)
                    .fetch_all(&mut *transaction)
                    .await?;
            match limits.capacity {
                Some(capacity) if !numbers.is_empty() && !limits.overflow => {
                    return Err(SeatError::Full { capacity });
                }
                _ => {}
            }
            let taken: Vec<i32> = numbers.into_iter().map(|(number,)| number).collect();
            let number = lowest_free_number(&taken);
            let room = next_id(&mut *transaction, "rooms").await?;
            sqlx::query(
                "INSERT INTO rooms (id, space_id, number, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(room)
            .bind(space)
            .bind(number)
            .bind(now)
            .execute(&mut *transaction)
            .await?;
            (room, room_number(number)?)
        };
        sqlx::query(
            "INSERT INTO room_seats (space_id, account_id, room_id, state, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(space)
        .bind(account)
        .bind(room)
        .bind(SeatState::Reserved.column())
        .bind(expires_at)
        .execute(&mut *transaction)
        .await?;
        transaction.commit().await?;
        Ok(Seat {
            room,
            number,
            state: SeatState::Reserved,
            expires_at: Some(expires_at),
        })
    }

    /// The player arrived: `account`'s reserved seat in `room` becomes taken
    /// and no longer lapses. Taking a taken seat again is fine; a reservation
    /// that lapsed by `now` (or none) is [`SeatError::NotSeated`].
    pub async fn take_seat(&self, room: i64, account: i64, now: i64) -> Result<(), SeatError> {
        // One statement: a concurrent release of lapsed seats either deletes
        // the row first (then nothing is taken) or finds it taken.
        let done = sqlx::query(
            "UPDATE room_seats SET state = 'taken', expires_at = NULL \
             WHERE room_id = $1 AND account_id = $2 AND (state = 'taken' OR expires_at > $3)",
        )
        .bind(room)
        .bind(account)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(SeatError::NotSeated);
        }
        Ok(())
    }

    /// The player left: releases `account`'s seat in `room`, reserved or
    /// taken, and deletes the room if that was its last seat. `false` if there
    /// was no such seat.
    pub async fn release_seat(&self, room: i64, account: i64) -> Result<bool, StoreError> {
        let space: Option<(i64,)> = sqlx::query_as("SELECT space_id FROM rooms WHERE id = $1")
            .bind(room)
            .fetch_optional(&self.pool)
            .await?;
        let Some((space,)) = space else {
            return Ok(false);
        };
        let mut transaction = self.begin_write().await?;
        // Under the space's lock, so a join cannot pick this room while its
        // last seat goes and the room with it.
        if self.lock_space(&mut transaction, space).await?.is_none() {
            return Ok(false);
        }
        let done = sqlx::query("DELETE FROM room_seats WHERE room_id = $1 AND account_id = $2")
            .bind(room)
            .bind(account)
            .execute(&mut *transaction)
            .await?;
        delete_empty_rooms(&mut transaction, space).await?;
        transaction.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Releases every reservation that lapsed by `now` (and deletes the rooms
    /// left empty), one space at a time; how many seats were released.
    pub async fn release_expired(&self, now: i64) -> Result<u64, StoreError> {
        let spaces: Vec<(i64,)> = sqlx::query_as(
            "SELECT DISTINCT space_id FROM room_seats WHERE state = 'reserved' AND expires_at <= $1",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut released = 0;
        for (space,) in spaces {
            let mut transaction = self.begin_write().await?;
            if self.lock_space(&mut transaction, space).await?.is_none() {
                // Deleted meanwhile, with its rooms.
                continue;
            }
            released += release_lapsed_in(&mut transaction, space, now).await?;
            transaction.commit().await?;
        }
        Ok(released)
    }

    /// `account`'s seat in `space`, if it holds one (a lapsed reservation not
    /// yet released included: compare `expires_at` with the time).
    pub async fn seat(&self, space: i64, account: i64) -> Result<Option<Seat>, StoreError> {
        let row: Option<SeatRow> = sqlx::query_as(SEAT_SELECT)
            .bind(space)
            .bind(account)
            .fetch_optional(&self.pool)
            .await?;
        row.map(seat).transpose()
    }

    /// `space`'s rooms that hold a seat at `now`, by number, with how many
    /// seats each holds. An unknown space is `NotFound`.
    pub async fn rooms_of(&self, space: i64, now: i64) -> Result<Vec<RoomOccupancy>, StoreError> {
        let capacity = self.space_capacity(space).await?.capacity;
        let rows: Vec<(i64, i32, i64)> = sqlx::query_as(
            "SELECT r.id, r.number, COUNT(*) FROM rooms r JOIN room_seats s ON s.room_id = r.id \
             WHERE r.space_id = $1 AND (s.state = 'taken' OR s.expires_at > $2) \
             GROUP BY r.id, r.number ORDER BY r.number",
        )
        .bind(space)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(room, number, seated)| {
                Ok(RoomOccupancy {
                    room,
                    number: room_number(number)?,
                    seated: u32::try_from(seated).map_err(|_| StoreError::Corrupt {
                        field: "seat count",
                    })?,
                    capacity,
                })
            })
            .collect()
    }

    /// Releases every seat and deletes every room: the rooms of an embedded
    /// server belong to its run, and nobody holds a seat in a run that
    /// ended. Returns how many seats went.
    pub async fn clear_seats(&self) -> Result<u64, StoreError> {
        let mut transaction = self.pool.begin().await?;
        let seats = sqlx::query("DELETE FROM room_seats")
            .execute(&mut *transaction)
            .await?
            .rows_affected();
        sqlx::query("DELETE FROM rooms")
            .execute(&mut *transaction)
            .await?;
        transaction.commit().await?;
        Ok(seats)
    }

    /// Seats held at `now` in each space that has any (for the list of spaces).
    pub async fn live_counts(&self, now: i64) -> Result<HashMap<i64, u32>, StoreError> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT space_id, COUNT(*) FROM room_seats \
             WHERE state = 'taken' OR expires_at > $1 GROUP BY space_id",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(space, seated)| {
                let seated = u32::try_from(seated).map_err(|_| StoreError::Corrupt {
                    field: "seat count",
                })?;
                Ok((space, seated))
            })
            .collect()
    }

    /// Locks `space`'s row until the transaction ends and reads its capacity;
    /// `None` if there is no such space.
    async fn lock_space(
        &self,
        transaction: &mut Transaction,
        space: i64,
    ) -> Result<Option<SpaceCapacity>, StoreError> {
        let statement = match self.backend() {
            Backend::Postgres => "SELECT capacity, overflow FROM spaces WHERE id = $1 FOR UPDATE",
            // The transaction began with `BEGIN IMMEDIATE`: it is the only writer.
            Backend::Sqlite => "SELECT capacity, overflow FROM spaces WHERE id = $1",
        };
        let row: Option<(Option<i64>, i32)> = sqlx::query_as(statement)
            .bind(space)
            .fetch_optional(&mut **transaction)
            .await?;
        row.map(space_capacity).transpose()
    }
}

const SEAT_SELECT: &str = "SELECT s.room_id, r.number, s.state, s.expires_at \
     FROM room_seats s JOIN rooms r ON r.id = s.room_id \
     WHERE s.space_id = $1 AND s.account_id = $2";

async fn seat_in(
    transaction: &mut Transaction,
    space: i64,
    account: i64,
) -> Result<Option<Seat>, StoreError> {
    let row: Option<SeatRow> = sqlx::query_as(SEAT_SELECT)
        .bind(space)
        .bind(account)
        .fetch_optional(&mut **transaction)
        .await?;
    row.map(seat).transpose()
}

async fn seated_in(transaction: &mut Transaction, room: i64) -> Result<i64, StoreError> {
    let (seated,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM room_seats WHERE room_id = $1")
        .bind(room)
        .fetch_one(&mut **transaction)
        .await?;
    Ok(seated)
}

/// The room of `space` with the most seats held below `cap`, the oldest among
/// equals. Called after lapsed seats and empty rooms are gone.
async fn fullest_with_free_seat(
    transaction: &mut Transaction,
    space: i64,
    cap: i64,
) -> Result<Option<(i64, u32)>, StoreError> {
    let row: Option<(i64, i32, i64)> = sqlx::query_as(
        "SELECT r.id, r.number, COUNT(*) FROM rooms r JOIN room_seats s ON s.room_id = r.id \
         WHERE r.space_id = $1 GROUP BY r.id, r.number, r.created_at HAVING COUNT(*) < $2 \
         ORDER BY COUNT(*) DESC, r.created_at, r.id LIMIT 1",
    )
    .bind(space)
    .bind(cap)
    .fetch_optional(&mut **transaction)
    .await?;
    row.map(|(room, number, _)| Ok((room, room_number(number)?)))
        .transpose()
}

/// Releases the reservations of `space` that lapsed by `now` and deletes the
/// rooms left empty; how many seats were released.
async fn release_lapsed_in(
    transaction: &mut Transaction,
    space: i64,
    now: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM room_seats WHERE space_id = $1 AND state = 'reserved' AND expires_at <= $2",
    )
    .bind(space)
    .bind(now)
    .execute(&mut **transaction)
    .await?;
    delete_empty_rooms(transaction, space).await?;
    Ok(done.rows_affected())
}

async fn delete_empty_rooms(transaction: &mut Transaction, space: i64) -> Result<(), StoreError> {
    sqlx::query(
        "DELETE FROM rooms WHERE space_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM room_seats s WHERE s.room_id = rooms.id)",
    )
    .bind(space)
    .execute(&mut **transaction)
    .await?;
    Ok(())
}

fn space_capacity((capacity, overflow): (Option<i64>, i32)) -> Result<SpaceCapacity, StoreError> {
    let capacity = match capacity {
        None => None,
        Some(seats) => Some(
            u32::try_from(seats)
                .ok()
                .and_then(NonZeroU32::new)
                .ok_or(StoreError::Corrupt { field: "capacity" })?,
        ),
    };
    Ok(SpaceCapacity {
        capacity,
        overflow: overflow != 0,
    })
}

fn seat((room, number, state, expires_at): SeatRow) -> Result<Seat, StoreError> {
    Ok(Seat {
        room,
        number: room_number(number)?,
        state: SeatState::from_column(&state)?,
        expires_at,
    })
}

fn room_number(number: i32) -> Result<u32, StoreError> {
    u32::try_from(number).map_err(|_| StoreError::Corrupt {
        field: "room number",
    })
}

/// The smallest number from 1 not in `taken` (sorted ascending).
fn lowest_free_number(taken: &[i32]) -> i32 {
    let mut candidate = 1;
    for &number in taken {
        if number == candidate {
            candidate += 1;
        } else if number > candidate {
            break;
        }
    }
    candidate
}

/// `lifetime` in whole seconds, rounded up, saturating.
fn whole_seconds(lifetime: Duration) -> i64 {
    let seconds = lifetime
        .as_secs()
        .saturating_add(u64::from(lifetime.subsec_nanos() > 0));
    i64::try_from(seconds).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_room_takes_the_lowest_free_number() {
        assert_eq!(lowest_free_number(&[]), 1);
        assert_eq!(lowest_free_number(&[1, 2, 3]), 4);
        assert_eq!(lowest_free_number(&[2, 3]), 1);
        assert_eq!(lowest_free_number(&[1, 3, 4]), 2);
    }

    #[test]
    fn lifetimes_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_secs(300)), 300);
        assert_eq!(whole_seconds(Duration::from_millis(1_001)), 2);
        assert_eq!(whole_seconds(Duration::MAX), i64::MAX);
    }

    #[test]
    fn stored_capacities_read_back_or_are_corrupt() {
        assert_eq!(
            space_capacity((None, 1)).expect("valid"),
            SpaceCapacity {
                capacity: None,
                overflow: true
            }
        );
        assert_eq!(
            space_capacity((Some(50), 0)).expect("valid").capacity,
            NonZeroU32::new(50)
        );
        for bad in [0, -1, i64::from(u32::MAX) + 1] {
            assert!(matches!(
                space_capacity((Some(bad), 1)),
                Err(StoreError::Corrupt { field: "capacity" })
            ));
        }
    }
}
