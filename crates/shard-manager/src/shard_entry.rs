//! A shard's entry in Redis (`meridian:{cluster}:shard:N`): where its link
//! listens and the SHA-256 of its link certificate, signed with the cluster's
//! link key and dated, so that whoever can write to Redis cannot point a shard
//! at someone else. Sans IO: time comes in as milliseconds since the Unix
//! epoch.
//!
//! The entry is text: `v1 {address} {certificate sha256, hex} {unix ms}
//! {mac, hex}`, where the MAC is `HMAC-SHA256(link key, "meridian shard entry
//! v1" ‖ shard id (u32 LE) ‖ "{address} {sha256} {unix ms}")`. An entry is
//! taken only if its MAC is right for the shard whose key it is under and it
//! was made less than [`MAX_ENTRY_AGE_MS`] ago (or less than that in the
//! future, for clocks a little apart).

use std::net::SocketAddr;

use crate::ids::ShardId;
use crate::link_handshake::LinkKey;

/// An entry older (or newer) than this is stale and ignored. Shards renew
/// theirs twice a second; the margin covers clocks of different machines a
/// few seconds apart.
pub const MAX_ENTRY_AGE_MS: u64 = 10_000;

/// What a signed entry starts with.
const VERSION: &str = "v1";

/// What every entry's MAC input starts with.
const ENTRY_CONTEXT: &[u8] = b"meridian shard entry v1";

/// Why an entry is ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EntryError {
    /// It is not a signed entry of this version (an old or forged one).
    #[error("the entry is not signed")]
    Unsigned,
    /// Its fields or its MAC do not read, or its MAC is wrong for this
    /// shard under the cluster's key.
    #[error("the entry's signature is wrong")]
    BadSignature,
    /// It was made more than [`MAX_ENTRY_AGE_MS`] from now.
    #[error("the entry is stale")]
    Stale,
}

/// Where a shard's link listens and how to recognise it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardEntry {
    /// The link's address.
    pub address: SocketAddr,
    /// The SHA-256 of the link's certificate (pinned by whoever dials it).
    pub certificate_sha256: [u8; 32],
}

impl ShardEntry {
    /// The entry's text for `shard`, made at `now_ms`, signed with `key`.
    pub fn sign(&self, key: &LinkKey, shard: ShardId, now_ms: u64) -> String {
        let body = format!(
            "{} {} {now_ms}",
            self.address,
            hex(&self.certificate_sha256)
        );
        let mac = key.sign(&[ENTRY_CONTEXT, &shard.0.to_le_bytes(), body.as_bytes()]);
        format!("{VERSION} {body} {}", hex(mac.as_ref()))
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
        let mac = unhex::<32>(mac).ok_or(EntryError::BadSignature)?;
        if !key.verify(
            &[ENTRY_CONTEXT, &shard.0.to_le_bytes(), body.as_bytes()],
            &mac,
        ) {
            return Err(EntryError::BadSignature);
        }
        // Signed by a shard of this cluster, so the fields are its own.
        let mut fields = body.split(' ');
        let (Some(address), Some(hash), Some(at_ms), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Err(EntryError::BadSignature);
        };
        let (Ok(address), Some(certificate_sha256), Ok(at_ms)) =
            (address.parse(), unhex::<32>(hash), at_ms.parse::<u64>())
        else {
            return Err(EntryError::BadSignature);
        };
        if now_ms.abs_diff(at_ms) > MAX_ENTRY_AGE_MS {
            return Err(EntryError::Stale);
        }
        Ok(Self {
            address,
            certificate_sha256,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    let mut bytes = [0; N];
    for (index, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * index..2 * index + 2], 16).ok()?;
    }
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn entry() -> ShardEntry {
        ShardEntry {
            address: "127.0.0.1:7100".parse().expect("an address"),
            certificate_sha256: [0xAB; 32],
        }
    }

    #[test]
    fn a_signed_entry_reads_back_only_under_its_key_shard_and_time() {
        let key = LinkKey::new(b"the cluster's link key, 32 bytes");
        let text = entry().sign(&key, ShardId(2), NOW);
        assert_eq!(
            ShardEntry::verify(&text, &key, ShardId(2), NOW + 500),
            Ok(entry())
        );
        // Copied under another shard's key.
        assert_eq!(
            ShardEntry::verify(&text, &key, ShardId(3), NOW),
            Err(EntryError::BadSignature)
        );
        // Signed with another key.
        let forged = entry().sign(&LinkKey::new(b"not this cluster"), ShardId(2), NOW);
        assert_eq!(
            ShardEntry::verify(&forged, &key, ShardId(2), NOW),
            Err(EntryError::BadSignature)
        );
        // Too old, and too far ahead.
        assert_eq!(
            ShardEntry::verify(&text, &key, ShardId(2), NOW + MAX_ENTRY_AGE_MS + 1),
            Err(EntryError::Stale)
        );
        assert_eq!(
            ShardEntry::verify(&text, &key, ShardId(2), NOW - MAX_ENTRY_AGE_MS - 1),
            Err(EntryError::Stale)
        );
        // An address swapped in.
        let swapped = text.replace("127.0.0.1:7100", "127.0.0.1:7101");
        assert_eq!(
            ShardEntry::verify(&swapped, &key, ShardId(2), NOW),
            Err(EntryError::BadSignature)
        );
        // Today's unsigned form, and garbage.
        let unsigned = format!("127.0.0.1:7100 {}", hex(&[0xAB; 32]));
        assert_eq!(
            ShardEntry::verify(&unsigned, &key, ShardId(2), NOW),
            Err(EntryError::Unsigned)
        );
        assert_eq!(
            ShardEntry::verify("v1 é", &key, ShardId(2), NOW),
            Err(EntryError::BadSignature)
        );
    }
}
