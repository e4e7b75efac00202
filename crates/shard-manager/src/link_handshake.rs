//! How two shards prove to each other, on each new link connection, that both
//! hold the cluster's link key: a challenge–response over a nonce from each
//! side, bound to the TLS session of that connection. Sans IO: the driver
//! reads and writes the messages, supplies the nonces (fresh random bytes)
//! and the connection's TLS exporter value, and calls these functions.
//!
//! On the dialer's bidirectional stream:
//!
//! 1. dialer → acceptor, [`Hello`] (40 bytes): `b"mlk1"`, the dialer's shard
//!    id (u32 LE), the dialer's nonce (32 bytes);
//! 2. acceptor → dialer, [`Challenge`] (68 bytes): the acceptor's shard id
//!    (u32 LE), the acceptor's nonce (32 bytes), the acceptor's proof
//!    (32 bytes);
//! 3. dialer → acceptor, the dialer's proof (32 bytes);
//!
//! then the dialer's link messages. A proof is
//! `HMAC-SHA256(link key, "meridian shard link proof v1" ‖ role ‖ dialer id ‖
//! acceptor id ‖ dialer nonce ‖ acceptor nonce ‖ exporter)` (the [`Transcript`]),
//! where `role` says which side proves (`"dialer\0\0"` or `"acceptor"`) and
//! `exporter` is 32 bytes of the TLS keying-material exporter of this
//! connection (label [`EXPORTER_LABEL`], no context). A proof recorded on one
//! connection is worthless on another: the other side's nonce and the exporter
//! differ. The role keeps one side's proof from being reflected as the other's.

use ring::hmac;

use crate::ids::ShardId;

/// Bytes of each side's nonce.
pub const NONCE_BYTES: usize = 32;

/// Bytes of a proof (HMAC-SHA256).
pub const PROOF_BYTES: usize = 32;

/// Bytes of the TLS exporter value a proof covers.
pub const EXPORTER_BYTES: usize = 32;

/// The TLS exporter label (RFC 5705 / RFC 8446 §7.5) both sides use.
pub const EXPORTER_LABEL: &[u8] = b"EXPORTER-meridian-shard-link-v1";

/// What a [`Hello`] starts with: the protocol and its version.
const HELLO_MAGIC: [u8; 4] = *b"mlk1";

/// What every proof's HMAC input starts with.
const PROOF_CONTEXT: &[u8] = b"meridian shard link proof v1";

/// The cluster's link key (derived from the cluster secret by the binary).
#[derive(Clone)]
pub struct LinkKey(hmac::Key);

impl LinkKey {
    /// A key of `bytes` (use at least 32 random bytes).
    pub fn new(bytes: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The HMAC-SHA256 of `parts`, one after the other.
    pub(crate) fn sign(&self, parts: &[&[u8]]) -> hmac::Tag {
        hmac::sign(&self.0, &parts.concat())
    }

    /// Whether `tag` is the HMAC-SHA256 of `parts` (compared in constant time).
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        hmac::verify(&self.0, &parts.concat(), tag).is_ok()
    }
}

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(<secret>)")
    }
}

/// Why a handshake fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The hello does not start with the protocol's magic bytes.
    #[error("not a shard link hello")]
    NotAHello,
    /// The peer says it is a shard this cluster does not have, or not the
    /// one we dialled.
    #[error("unexpected shard id {0}")]
    UnexpectedShard(u32),
    /// The peer's proof is not made with the link key over this connection.
    #[error("the peer's proof is wrong")]
    WrongProof,
}

/// Which side of the handshake proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The shard that opened the connection.
    Dialer,
    /// The shard that accepted it.
    Acceptor,
}

impl Role {
    fn label(self) -> &'static [u8; 8] {
        match self {
            Role::Dialer => b"dialer\0\0",
            Role::Acceptor => b"acceptor",
        }
    }
}

/// The dialer's first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    /// Who dials.
    pub dialer: ShardId,
    /// The dialer's fresh nonce.
    pub nonce: [u8; NONCE_BYTES],
}

impl Hello {
    /// Bytes on the wire.
    pub const BYTES: usize = 4 + 4 + NONCE_BYTES;

    /// The hello's bytes.
    pub fn encode(&self) -> [u8; Self::BYTES] {
        let mut bytes = [0; Self::BYTES];
        bytes[..4].copy_from_slice(&HELLO_MAGIC);
        bytes[4..8].copy_from_slice(&self.dialer.0.to_le_bytes());
        bytes[8..].copy_from_slice(&self.nonce);
        bytes
    }

    /// Reads a hello.
    pub fn decode(bytes: &[u8; Self::BYTES]) -> Result<Self, HandshakeError> {
        if bytes[..4] != HELLO_MAGIC {
            return Err(HandshakeError::NotAHello);
        }
        let mut nonce = [0; NONCE_BYTES];
        nonce.copy_from_slice(&bytes[8..]);
        Ok(Self {
            dialer: ShardId(read_u32(&bytes[4..8])),
            nonce,
        })
    }
}

/// The acceptor's answer: its nonce, and its proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Challenge {
    /// Who accepted.
    pub acceptor: ShardId,
    /// The acceptor's fresh nonce.
    pub nonce: [u8; NONCE_BYTES],
    /// The acceptor's proof over the [`Transcript`].
    pub proof: [u8; PROOF_BYTES],
}

impl Challenge {
    /// Bytes on the wire.
    pub const BYTES: usize = 4 + NONCE_BYTES + PROOF_BYTES;

    /// The challenge's bytes.
    pub fn encode(&self) -> [u8; Self::BYTES] {
        let mut bytes = [0; Self::BYTES];
        bytes[..4].copy_from_slice(&self.acceptor.0.to_le_bytes());
        bytes[4..4 + NONCE_BYTES].copy_from_slice(&self.nonce);
        bytes[4 + NONCE_BYTES..].copy_from_slice(&self.proof);
        bytes
    }

    /// Reads a challenge.
    pub fn decode(bytes: &[u8; Self::BYTES]) -> Self {
        let mut nonce = [0; NONCE_BYTES];
        nonce.copy_from_slice(&bytes[4..4 + NONCE_BYTES]);
        let mut proof = [0; PROOF_BYTES];
        proof.copy_from_slice(&bytes[4 + NONCE_BYTES..]);
        Self {
            acceptor: ShardId(read_u32(&bytes[..4])),
            nonce,
            proof,
        }
    }
}

/// Everything a proof covers: who talks to whom, both nonces, and the TLS
/// session of this connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transcript {
    /// The shard that opened the connection.
    pub dialer: ShardId,
    /// The shard that accepted it.
    pub acceptor: ShardId,
    /// The dialer's nonce.
    pub dialer_nonce: [u8; NONCE_BYTES],
    /// The acceptor's nonce.
    pub acceptor_nonce: [u8; NONCE_BYTES],
    /// The connection's TLS exporter value ([`EXPORTER_LABEL`]).
    pub exporter: [u8; EXPORTER_BYTES],
}

impl Transcript {
    /// What `role`'s proof covers: every field, in the documented order.
    fn covered(&self, role: Role) -> Vec<u8> {
        [
            PROOF_CONTEXT,
            role.label(),
            &self.dialer.0.to_le_bytes(),
            &self.acceptor.0.to_le_bytes(),
            &self.dialer_nonce,
            &self.acceptor_nonce,
            &self.exporter,
        ]
        .concat()
    }

    /// `role`'s proof of holding `key`, for this connection.
    pub fn proof(&self, key: &LinkKey, role: Role) -> [u8; PROOF_BYTES] {
        let mut proof = [0; PROOF_BYTES];
        proof.copy_from_slice(key.sign(&[&self.covered(role)]).as_ref());
        proof
    }

    /// Checks `role`'s `proof` (in constant time).
    pub fn check(&self, key: &LinkKey, role: Role, proof: &[u8]) -> Result<(), HandshakeError> {
        if key.verify(&[&self.covered(role)], proof) {
            Ok(())
        } else {
            Err(HandshakeError::WrongProof)
        }
    }
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[..4]);
    u32::from_le_bytes(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transcript(seed: u8) -> Transcript {
        Transcript {
            dialer: ShardId(1),
            acceptor: ShardId(2),
            dialer_nonce: [seed; NONCE_BYTES],
            acceptor_nonce: [seed.wrapping_add(1); NONCE_BYTES],
            exporter: [seed.wrapping_add(2); EXPORTER_BYTES],
        }
    }

    #[test]
    fn a_proof_checks_only_for_its_role_key_and_connection() {
        let key = LinkKey::new(b"the cluster's link key, 32 bytes");
        let here = transcript(7);
        let proof = here.proof(&key, Role::Dialer);
        assert_eq!(here.check(&key, Role::Dialer, &proof), Ok(()));
        // Reflected as the other side's proof.
        assert_eq!(
            here.check(&key, Role::Acceptor, &proof),
            Err(HandshakeError::WrongProof)
        );
        // Under another key.
        let other_key = LinkKey::new(b"another cluster's link key here.");
        assert_eq!(
            here.check(&other_key, Role::Dialer, &proof),
            Err(HandshakeError::WrongProof)
        );
        // Replayed on another connection: other nonces, another exporter.
        let mut replayed = here;
        replayed.acceptor_nonce = [0xAA; NONCE_BYTES];
        assert_eq!(
            replayed.check(&key, Role::Dialer, &proof),
            Err(HandshakeError::WrongProof)
        );
        let mut relayed = here;
        relayed.exporter = [0xBB; EXPORTER_BYTES];
        assert_eq!(
            relayed.check(&key, Role::Dialer, &proof),
            Err(HandshakeError::WrongProof)
        );
        // Claiming another shard id.
        let mut impostor = here;
        impostor.dialer = ShardId(3);
        assert_eq!(
            impostor.check(&key, Role::Dialer, &proof),
            Err(HandshakeError::WrongProof)
        );
        // Truncated.
        assert_eq!(
            here.check(&key, Role::Dialer, &proof[..16]),
            Err(HandshakeError::WrongProof)
        );
    }

    #[test]
    fn messages_round_trip() {
        let hello = Hello {
            dialer: ShardId(3),
            nonce: [9; NONCE_BYTES],
        };
        assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
        let mut garbage = hello.encode();
        garbage[0] = b'x';
        assert_eq!(Hello::decode(&garbage), Err(HandshakeError::NotAHello));
        let challenge = Challenge {
            acceptor: ShardId(2),
            nonce: [4; NONCE_BYTES],
            proof: [5; PROOF_BYTES],
        };
        assert_eq!(Challenge::decode(&challenge.encode()), challenge);
    }
}
