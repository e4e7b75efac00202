//! The link handshake over a QUIC connection: the thin driver of
//! `meridian_shard_manager::link_handshake` (the messages and proofs, and the
//! protocol's description). It reads and writes the messages on the dialer's
//! bidirectional stream and brings the nonces and the TLS exporter value.

use meridian_shard_manager::ShardId;
use meridian_shard_manager::link_handshake::{
    Challenge, EXPORTER_BYTES, EXPORTER_LABEL, HandshakeError, Hello, LinkKey, NONCE_BYTES,
    PROOF_BYTES, Role, Transcript,
};
use ring::rand::{SecureRandom, SystemRandom};

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refusal {
    /// The peer broke the protocol or failed its proof.
    #[error("link handshake refused: {0}")]
    Handshake(#[from] HandshakeError),
    /// The connection ended first.
    #[error("the connection ended in the handshake: {0}")]
    Connection(#[from] quinn::ConnectionError),
    /// Writing failed.
    #[error("cannot write the handshake: {0}")]
    Write(#[from] quinn::WriteError),
    /// Reading failed (or the stream ended early).
    #[error("cannot read the handshake: {0}")]
    Read(#[from] quinn::ReadExactError),
    /// The TLS session gives no exporter value.
    #[error("no TLS exporter on this connection")]
    Exporter,
    /// The system's random source failed.
    #[error("no randomness for a nonce")]
    Randomness,
    /// The peer took longer than the deadline.
    #[error("the link handshake took too long")]
    Timeout,
}

/// A fresh random nonce.
fn nonce() -> Result<[u8; NONCE_BYTES], Refusal> {
    let mut nonce = [0; NONCE_BYTES];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| Refusal::Randomness)?;
    Ok(nonce)
}

/// The connection's TLS exporter value, the same at both ends of it and
/// nowhere else.
fn exporter(connection: &quinn::Connection) -> Result<[u8; EXPORTER_BYTES], Refusal> {
    let mut value = [0; EXPORTER_BYTES];
    connection
        .export_keying_material(&mut value, EXPORTER_LABEL, b"")
        .map_err(|_| Refusal::Exporter)?;
    Ok(value)
}

/// Shard `me` proves itself to shard `shard`, which it dialled, and checks
/// `shard`'s proof; returns the stream to send link messages on.
pub(crate) async fn dial(
    connection: &quinn::Connection,
    key: &LinkKey,
    me: u32,
    shard: u32,
) -> Result<quinn::SendStream, Refusal> {
    let (mut send, mut receive) = connection.open_bi().await?;
    let hello = Hello {
        dialer: ShardId(me),
        nonce: nonce()?,
    };
    send.write_all(&hello.encode()).await?;
    let mut bytes = [0; Challenge::BYTES];
    receive.read_exact(&mut bytes).await?;
    let challenge = Challenge::decode(&bytes);
    if challenge.acceptor != ShardId(shard) {
        return Err(HandshakeError::UnexpectedShard(challenge.acceptor.0).into());
    }
    let transcript = Transcript {
        dialer: hello.dialer,
        acceptor: challenge.acceptor,
        dialer_nonce: hello.nonce,
        acceptor_nonce: challenge.nonce,
        exporter: exporter(connection)?,
    };
    transcript.check(key, Role::Acceptor, &challenge.proof)?;
    send.write_all(&transcript.proof(key, Role::Dialer)).await?;
    Ok(send)
}

/// Shard `me` of `shards` checks the proof of whoever dialled it, and proves
/// itself; returns the dialer's shard id and the stream its link messages
/// come on.
pub(crate) async fn accept(
    connection: &quinn::Connection,
    key: &LinkKey,
    me: u32,
    shards: u32,
) -> Result<(u32, quinn::RecvStream), Refusal> {
    let (mut send, mut receive) = connection.accept_bi().await?;
    let mut bytes = [0; Hello::BYTES];
    receive.read_exact(&mut bytes).await?;
    let hello = Hello::decode(&bytes)?;
    if !(1..=shards).contains(&hello.dialer.0) {
        return Err(HandshakeError::UnexpectedShard(hello.dialer.0).into());
    }
    let transcript = Transcript {
        dialer: hello.dialer,
        acceptor: ShardId(me),
        dialer_nonce: hello.nonce,
        acceptor_nonce: nonce()?,
        exporter: exporter(connection)?,
    };
    let challenge = Challenge {
        acceptor: ShardId(me),
        nonce: transcript.acceptor_nonce,
        proof: transcript.proof(key, Role::Acceptor),
    };
    send.write_all(&challenge.encode()).await?;
    let mut proof = [0; PROOF_BYTES];
    receive.read_exact(&mut proof).await?;
    transcript.check(key, Role::Dialer, &proof)?;
    Ok((hello.dialer.0, receive))
}
