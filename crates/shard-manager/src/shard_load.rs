//! A shard's load entry in Redis (`meridian:{cluster}:load:N`): its gateway
//! (the HTTP address joins are sent to) and its load, signed with the
//! cluster's link key and dated like [`crate::shard_entry`], so that whoever
//! can write to Redis cannot send joins (and the access tokens they carry)
//! to an address of their own. A hint for placing instances; the ledger
//! still decides who runs what. Sans IO.
//!
//! The entry is text: `v1 {gateway} {players} {instances} {tick cpu,
//! per mille of a core} {unix ms} {mac, hex}`, where the MAC is
//! `HMAC-SHA256(link key, "meridian shard load v1" ‖ shard id (u32 LE) ‖
//! "{gateway} {players} {instances} {tick cpu} {unix ms}")`.

use std::net::SocketAddr;

use crate::ids::ShardId;
use crate::link_handshake::LinkKey;
use crate::shard_entry::{EntryError, MAX_ENTRY_AGE_MS};

/// What a signed entry starts with.
const VERSION: &str = "v1";

/// What every entry's MAC input starts with.
const LOAD_CONTEXT: &[u8] = b"meridian shard load v1";

/// How many players an instance counts for when loads are compared: a
/// running instance costs a tick and its storage even when nearly empty.
const PLAYERS_PER_INSTANCE: u64 = 10;

/// A shard's gateway and load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLoad {
    /// Where its join endpoint listens.
    pub gateway: SocketAddr,
    /// Players connected to it (its world's avatars and its instances').
    pub players: u32,
    /// Instances of other spaces it runs.
    pub instances: u32,
    /// CPU its simulation threads used lately, per mille of one core.
    pub tick_cpu_permille: u32,
}

impl ShardLoad {
    /// How loaded it is, to compare shards: players plus
    /// [`PLAYERS_PER_INSTANCE`] per instance (lower is less loaded). The
    /// tick CPU, which varies from one reading to the next, only breaks ties.
    pub fn weight(&self) -> u64 {
        u64::from(self.players) + u64::from(self.instances).saturating_mul(PLAYERS_PER_INSTANCE)
    }

    /// The entry's text for `shard`, made at `now_ms`, signed with `key`.
    pub fn sign(&self, key: &LinkKey, shard: ShardId, now_ms: u64) -> String {
        let body = format!(
            "{} {} {} {} {now_ms}",
            self.gateway, self.players, self.instances, self.tick_cpu_permille
        );
        let mac = key.sign(&[LOAD_CONTEXT, &shard.0.to_le_bytes(), body.as_bytes()]);
        let mac: String = mac
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("{VERSION} {body} {mac}")
    }

    /// Reads `text`, the entry found under `shard`'s key, at `now_ms`.
    pub fn verify(
        text: &str,
        key: &LinkKey,
        shard: ShardId,
        now_ms: u64,
    ) -> Result<Self, EntryError> {
        let Some(signed) = text
            .strip_prefix(VERSION)
            .and_then(|rest| rest.strip_prefix(' '))
        else {
            return Err(EntryError::Unsigned);
        };
        let (body, mac) = signed.rsplit_once(' ').ok_or(EntryError::BadSignature)?;
        let mac = unhex(mac).ok_or(EntryError::BadSignature)?;
        if !key.verify(
            &[LOAD_CONTEXT, &shard.0.to_le_bytes(), body.as_bytes()],
            &mac,
        ) {
            return Err(EntryError::BadSignature);
        }
        let fields: Vec<&str> = body.split(' ').collect();
        let [gateway, players, instances, cpu, at_ms] = fields[..] else {
            return Err(EntryError::BadSignature);
        };
        let (Ok(gateway), Ok(players), Ok(instances), Ok(tick_cpu_permille), Ok(at_ms)) = (
            gateway.parse(),
            players.parse(),
            instances.parse(),
            cpu.parse(),
            at_ms.parse::<u64>(),
        ) else {
            return Err(EntryError::BadSignature);
        };
        if now_ms.abs_diff(at_ms) > MAX_ENTRY_AGE_MS {
            return Err(EntryError::Stale);
        }
        Ok(Self {
            gateway,
            players,
            instances,
            tick_cpu_permille,
        })
    }
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut bytes = [0; 32];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * index..2 * index + 2], 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load() -> ShardLoad {
        ShardLoad {
            gateway: "127.0.0.1:8080".parse().expect("address"),
            players: 12,
            instances: 3,
            tick_cpu_permille: 250,
        }
    }

    #[test]
    fn a_signed_entry_reads_back_for_its_shard_only() {
        let key = LinkKey::new(&[7; 32]);
        let text = load().sign(&key, ShardId(2), 1_000_000);
        assert_eq!(
            ShardLoad::verify(&text, &key, ShardId(2), 1_000_500),
            Ok(load())
        );
        // Under another shard's name, with another key, changed, or old: ignored.
        assert_eq!(
            ShardLoad::verify(&text, &key, ShardId(3), 1_000_500),
            Err(EntryError::BadSignature)
        );
        let other = LinkKey::new(&[8; 32]);
        assert_eq!(
            ShardLoad::verify(&text, &other, ShardId(2), 1_000_500),
            Err(EntryError::BadSignature)
        );
        let forged = text.replace("127.0.0.1:8080", "10.0.0.9:8080");
        assert_eq!(
            ShardLoad::verify(&forged, &key, ShardId(2), 1_000_500),
            Err(EntryError::BadSignature)
        );
        assert_eq!(
            ShardLoad::verify(&text, &key, ShardId(2), 1_000_000 + MAX_ENTRY_AGE_MS + 1),
            Err(EntryError::Stale)
        );
        assert_eq!(
            ShardLoad::verify("127.0.0.1:8080 0 0 0", &key, ShardId(2), 0),
            Err(EntryError::Unsigned)
        );
    }

    #[test]
    fn instances_weigh_more_than_players() {
        let busy = ShardLoad {
            instances: 2,
            players: 0,
            ..load()
        };
        let crowded = ShardLoad {
            instances: 0,
            players: 15,
            ..load()
        };
        assert!(crowded.weight() < busy.weight());
    }
}
