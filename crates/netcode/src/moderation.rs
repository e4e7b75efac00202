//! What moderators and players decided about chat and presence, as the host
//! enforces it: blocks hide two players' lines from each other (both ways,
//! whoever blocked whom), a muted player's lines go nowhere, and a banned
//! account is refused at the door.
//!
//! The driver loads an account's blocks when it is about to join
//! ([`Moderation::load_blocks`]) and passes later changes on; entries for
//! accounts that never arrive are forgotten after [`PENDING_LIFETIME`].
//! Like the rest of the host this takes the time as an argument.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long blocks loaded for an account that has not joined are kept (longer
/// than a realtime token lives); also how long a ban is remembered here
/// after it was ordered, so a token minted before it cannot be used.
pub const PENDING_LIFETIME: Duration = Duration::from_secs(600);

/// How often expired mutes, bans and unused loads are swept out (every
/// check compares with the time, so an entry past its end holds nothing
/// while it waits for the sweep; sweeping every tick walked every entry
/// 20 times a second).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// The blocks that touch one account.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Relations {
    /// Whom it blocked.
    blocks: HashSet<u64>,
    /// Who blocked it.
    blocked_by: HashSet<u64>,
    /// Loaded for a join that has not happened yet (and when).
    pending_since: Option<Instant>,
}

/// Blocks, mutes and bans of the accounts a host serves.
#[derive(Debug, Default)]
pub struct Moderation {
    relations: HashMap<u64, Relations>,
    /// Account → end of its mute.
    muted_until: HashMap<u64, Instant>,
    /// Account → until when a join is refused here.
    banned_until: HashMap<u64, Instant>,
    now: Option<Instant>,
    /// When expired entries are next swept out.
    next_sweep: Option<Instant>,
    /// Lines dropped because their speaker was muted.
    muted_lines: u64,
    /// Deliveries skipped because of a block.
    hidden_lines: u64,
}

impl Moderation {
    /// The same blocks, mutes and bans, without the counts of lines: for a
    /// host that starts beside this one and must enforce at once what was
    /// already decided (a muted player must not speak freely in a room that
    /// opened after the mute).
    pub fn standing(&self) -> Self {
        Self {
            relations: self.relations.clone(),
            muted_until: self.muted_until.clone(),
            banned_until: self.banned_until.clone(),
            now: self.now,
            next_sweep: self.next_sweep,
            muted_lines: 0,
            hidden_lines: 0,
        }
    }

    /// The time now (taken at each host step); expired mutes, bans and
    /// unused loads are forgotten (at most once every [`SWEEP_EVERY`]).
    pub fn advance(&mut self, now: Instant) {
        self.now = Some(now);
        if self.next_sweep.is_some_and(|next| now < next) {
            return;
        }
        self.next_sweep = Some(now + SWEEP_EVERY);
        self.muted_until.retain(|_, until| *until > now);
        self.banned_until.retain(|_, until| *until > now);
        self.relations.retain(|_, relations| {
            relations
                .pending_since
                .is_none_or(|since| now.saturating_duration_since(since) < PENDING_LIFETIME)
        });
    }

    /// `account` is about to join: these are the accounts it blocked and the
    /// ones that blocked it (replacing what was known). An account already
    /// here stays a member: a load for a join it never makes does not start
    /// the clock that forgets its blocks.
    pub fn load_blocks(
        &mut self,
        now: Instant,
        account: u64,
        blocks: impl IntoIterator<Item = u64>,
        blocked_by: impl IntoIterator<Item = u64>,
    ) {
        let pending_since = match self.relations.get(&account) {
            Some(known) if known.pending_since.is_none() => None,
            _ => Some(now),
        };
        let relations = Relations {
            blocks: blocks.into_iter().collect(),
            blocked_by: blocked_by.into_iter().collect(),
            pending_since,
        };
        self.relations.insert(account, relations);
    }

    /// `account` joined: what was loaded for it stays while it is here.
    pub fn joined(&mut self, account: u64) {
        if let Some(relations) = self.relations.get_mut(&account) {
            relations.pending_since = None;
        }
    }

    /// `account` left: its blocks are kept for [`PENDING_LIFETIME`] (a
    /// session that replaces this one keeps them), then forgotten.
    pub fn left(&mut self, account: u64) {
        match (self.relations.get_mut(&account), self.now) {
            (Some(relations), Some(now)) => {
                relations.pending_since.get_or_insert(now);
            }
            (Some(_), None) => {
                self.relations.remove(&account);
            }
            (None, _) => {}
        }
    }

    /// `blocker` blocked `blocked` (only accounts known here are updated; the
    /// others load it when they join).
    pub fn block(&mut self, blocker: u64, blocked: u64) {
        if let Some(relations) = self.relations.get_mut(&blocker) {
            relations.blocks.insert(blocked);
        }
        if let Some(relations) = self.relations.get_mut(&blocked) {
            relations.blocked_by.insert(blocker);
        }
    }

    /// `blocker` lifted its block of `blocked` (one the other made stays).
    pub fn unblock(&mut self, blocker: u64, blocked: u64) {
        if let Some(relations) = self.relations.get_mut(&blocker) {
            relations.blocks.remove(&blocked);
        }
        if let Some(relations) = self.relations.get_mut(&blocked) {
            relations.blocked_by.remove(&blocker);
        }
    }

    /// May `listener` hear `speaker`? Not if either blocked the other, as
    /// either one's relations say (one side's may be missing here).
    pub fn hears(&mut self, listener: u64, speaker: u64) -> bool {
        let apart = |one: u64, other: u64| {
            self.relations.get(&one).is_some_and(|relations| {
                relations.blocks.contains(&other) || relations.blocked_by.contains(&other)
            })
        };
        let hidden = apart(listener, speaker) || apart(speaker, listener);
        if hidden {
            self.hidden_lines += 1;
        }
        !hidden
    }

    /// `account`'s lines are dropped until `until`.
    pub fn mute(&mut self, account: u64, until: Instant) {
        self.muted_until.insert(account, until);
    }

    /// `account` may speak again.
    pub fn unmute(&mut self, account: u64) {
        self.muted_until.remove(&account);
    }

    /// May `account` speak now? A muted speaker's line is counted and dropped.
    pub fn may_speak(&mut self, account: u64) -> bool {
        let muted = match (self.muted_until.get(&account), self.now) {
            (Some(until), Some(now)) => *until > now,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if muted {
            self.muted_lines += 1;
        }
        !muted
    }

    /// `account` was banned: joins are refused here for [`PENDING_LIFETIME`]
    /// (the realtime tokens it may hold expire sooner; new ones are refused
    /// by whoever mints them).
    pub fn ban(&mut self, now: Instant, account: u64) {
        self.banned_until.insert(account, now + PENDING_LIFETIME);
    }

    /// `account`'s ban was lifted.
    pub fn unban(&mut self, account: u64) {
        self.banned_until.remove(&account);
    }

    /// Is a join of `account` refused?
    pub fn is_banned(&self, account: u64) -> bool {
        match (self.banned_until.get(&account), self.now) {
            (Some(until), Some(now)) => *until > now,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Is `account` muted by a moderator now? (Counts nothing, unlike
    /// `may_speak`.)
    pub fn is_muted(&self, account: u64) -> bool {
        match (self.muted_until.get(&account), self.now) {
            (Some(until), Some(now)) => *until > now,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Whom `account` blocked.
    pub fn blocks_of(&self, account: u64) -> impl Iterator<Item = u64> + '_ {
        self.relations
            .get(&account)
            .into_iter()
            .flat_map(|relations| relations.blocks.iter().copied())
    }

    /// Who blocked `account` (as loaded when it joined, and since).
    pub fn blocked_by_of(&self, account: u64) -> impl Iterator<Item = u64> + '_ {
        self.relations
            .get(&account)
            .into_iter()
            .flat_map(|relations| relations.blocked_by.iter().copied())
    }

    /// Lines dropped because their speaker was muted, since the start.
    pub fn muted_lines(&self) -> u64 {
        self.muted_lines
    }

    /// Deliveries skipped because listener and speaker blocked each other.
    pub fn hidden_lines(&self) -> u64 {
        self.hidden_lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_started_later_stands_by_what_was_decided() {
        let mut world = Moderation::default();
        let start = Instant::now();
        world.advance(start);
        world.load_blocks(start, 1, [2], []);
        world.mute(3, start + Duration::from_secs(60));
        world.ban(start, 4);
        assert!(!world.may_speak(3));
        assert!(!world.hears(2, 1));
        let mut room = world.standing();
        assert!(!room.may_speak(3), "still muted");
        assert!(!room.hears(2, 1), "still apart");
        assert!(room.is_banned(4), "still banned");
        assert!(room.may_speak(5));
        // Its own counts start at zero.
        assert_eq!((room.muted_lines(), room.hidden_lines()), (1, 1));
        assert_eq!((world.muted_lines(), world.hidden_lines()), (1, 1));
        room.advance(start + Duration::from_secs(61));
        assert!(room.may_speak(3), "the mute ends there too");
    }

    #[test]
    fn a_block_hides_both_ways_until_both_are_lifted() {
        let mut moderation = Moderation::default();
        let start = Instant::now();
        moderation.advance(start);
        moderation.load_blocks(start, 1, [2], []);
        moderation.load_blocks(start, 2, [], [1]);
        moderation.joined(1);
        moderation.joined(2);
        assert!(!moderation.hears(1, 2));
        assert!(!moderation.hears(2, 1));
        assert!(moderation.hears(3, 1));
        // Each blocks the other; one lifts its block: still hidden.
        moderation.block(2, 1);
        moderation.unblock(1, 2);
        assert!(!moderation.hears(1, 2));
        assert!(!moderation.hears(2, 1));
        moderation.unblock(2, 1);
        assert!(moderation.hears(1, 2));
        assert!(moderation.hears(2, 1));
        assert_eq!(moderation.hidden_lines(), 4);
    }

    #[test]
    fn loads_for_joins_that_never_happen_are_forgotten() {
        let mut moderation = Moderation::default();
        let start = Instant::now();
        moderation.advance(start);
        moderation.load_blocks(start, 1, [2], []);
        moderation.load_blocks(start, 3, [2], []);
        moderation.joined(3);
        moderation.advance(start + PENDING_LIFETIME);
        assert!(moderation.hears(1, 2), "the unused load is gone");
        assert!(!moderation.hears(3, 2), "a member's blocks stay");
        moderation.left(3);
        assert!(
            !moderation.hears(3, 2),
            "kept for a session that replaces it"
        );
        moderation.advance(start + PENDING_LIFETIME * 2);
        assert!(moderation.hears(3, 2));
    }

    #[test]
    fn a_member_asking_for_joins_it_never_uses_keeps_its_blocks() {
        let mut moderation = Moderation::default();
        let start = Instant::now();
        moderation.advance(start);
        moderation.load_blocks(start, 2, [], [1]);
        moderation.joined(2);
        // The blocked member asks for another join and never uses it.
        moderation.load_blocks(start, 2, [], [1]);
        moderation.advance(start + PENDING_LIFETIME * 2);
        assert!(!moderation.hears(2, 1));
    }

    #[test]
    fn the_speakers_blocks_count_when_the_listeners_are_unknown() {
        let mut moderation = Moderation::default();
        let start = Instant::now();
        moderation.advance(start);
        moderation.load_blocks(start, 1, [2], []);
        moderation.joined(1);
        assert!(
            !moderation.hears(2, 1),
            "the blocked does not hear the blocker"
        );
        assert!(!moderation.hears(1, 2));
        moderation.load_blocks(start, 3, [], [4]);
        assert!(!moderation.hears(4, 3), "nor one who blocked the listener");
    }

    #[test]
    fn a_newer_load_outlives_the_session_it_replaces() {
        let mut moderation = Moderation::default();
        let start = Instant::now();
        moderation.advance(start);
        moderation.load_blocks(start, 1, [2], []);
        moderation.joined(1);
        moderation.load_blocks(start, 1, [2, 4], []);
        moderation.left(1);
        assert!(!moderation.hears(1, 4));
    }

    #[test]
    fn mutes_and_bans_end() {
        let mut moderation = Moderation::default();
        let start = Instant::now();
        moderation.advance(start);
        moderation.mute(1, start + Duration::from_secs(60));
        moderation.ban(start, 2);
        assert!(!moderation.may_speak(1));
        assert!(moderation.may_speak(2));
        assert!(moderation.is_banned(2));
        moderation.advance(start + PENDING_LIFETIME);
        assert!(moderation.may_speak(1));
        assert!(!moderation.is_banned(2));
        assert_eq!(moderation.muted_lines(), 1);
    }

    #[test]
    fn an_ended_mute_or_ban_holds_nothing_before_it_is_swept_out() {
        let mut moderation = Moderation::default();
        let start = Instant::now();
        moderation.advance(start);
        moderation.ban(start, 2);
        moderation.advance(start + PENDING_LIFETIME - Duration::from_millis(500));
        moderation.mute(1, start + PENDING_LIFETIME);
        assert!(moderation.is_banned(2) && moderation.is_muted(1));
        // Past both ends, before the next sweep (a second after the last).
        moderation.advance(start + PENDING_LIFETIME + Duration::from_millis(200));
        assert_eq!(
            (moderation.banned_until.len(), moderation.muted_until.len()),
            (1, 1),
            "not swept yet"
        );
        assert!(!moderation.is_banned(2));
        assert!(!moderation.is_muted(1));
        assert!(moderation.may_speak(1));
        moderation.advance(start + PENDING_LIFETIME + Duration::from_millis(600));
        assert!(moderation.banned_until.is_empty() && moderation.muted_until.is_empty());
    }
}
