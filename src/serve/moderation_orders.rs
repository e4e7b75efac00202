//! What the zone thread (and each simulation worker, for its instances) is
//! told to enforce on players already connected, after the HTTP side
//! (`src/http/moderation.rs`) has stored a decision: blocks hide two players'
//! chat and voice from each other, a mute drops the speaker's lines, a kick or
//! ban disconnects at once, a stage names who everyone hears.

use std::time::{Duration, Instant};

use meridian_persistence::BlockRelations;
use meridian_protocol::messages::DisconnectReason;
use meridian_shard_manager::{Borders, ZoneHost};

/// Orders the HTTP side may queue for the zone thread before it answers 503.
pub(crate) const ORDER_QUEUE: usize = 4_096;

/// What the zone thread is told to enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ModerationOrder {
    /// The blocks of an account about to join (read when its realtime token
    /// is minted).
    Load {
        account: u64,
        relations: BlockRelations,
    },
    /// `blocker` blocked `blocked`.
    Blocked { blocker: u64, blocked: u64 },
    /// `blocker` lifted its block of `blocked`.
    Unblocked { blocker: u64, blocked: u64 },
    /// Drop the account's chat lines for this long.
    Mute { account: u64, duration: Duration },
    /// Its mute ends now.
    Unmute { account: u64 },
    /// Disconnect the account now.
    Kick { account: u64 },
    /// Disconnect the account now and refuse its joins.
    Ban { account: u64 },
    /// Its joins are taken again.
    Unban { account: u64 },
    /// These accounts are the voice stage of `space` from now on (everyone
    /// with voice in the world, if it is the world's space, or in each
    /// running instance of it hears them); replaces the stage before.
    Stage { space: i64, accounts: Vec<u64> },
}

/// Carries out one order on the zone thread's host at `now`.
pub(crate) fn apply<B: Borders>(host: &mut ZoneHost<B>, order: ModerationOrder, now: Instant) {
    let account_of = |id: i64| id as u64;
    let moderation = host.moderation_mut();
    match order {
        ModerationOrder::Load { account, relations } => moderation.load_blocks(
            now,
            account,
            relations.blocks.into_iter().map(account_of),
            relations.blocked_by.into_iter().map(account_of),
        ),
        ModerationOrder::Blocked { blocker, blocked } => moderation.block(blocker, blocked),
        ModerationOrder::Unblocked { blocker, blocked } => moderation.unblock(blocker, blocked),
        ModerationOrder::Mute { account, duration } => moderation.mute(account, now + duration),
        ModerationOrder::Unmute { account } => moderation.unmute(account),
        ModerationOrder::Kick { account } => {
            host.disconnect_account(account, DisconnectReason::Kicked);
        }
        ModerationOrder::Ban { account } => {
            moderation.ban(now, account);
            host.disconnect_account(account, DisconnectReason::Kicked);
        }
        ModerationOrder::Unban { account } => moderation.unban(account),
        ModerationOrder::Stage { accounts, .. } => host.set_voice_stage(accounts),
    }
}
