//! The QUIC link between shards (ALPN `meridian-shard/1`).
//!
//! Each shard listens on its link address with a fresh self-signed
//! certificate and says in Redis where it listens and the certificate's hash,
//! in an entry signed with the cluster's link key and dated
//! (`meridian_shard_manager::shard_entry`; unsigned, badly signed or stale
//! entries are ignored and counted). Every shard opens one connection to every
//! other shard it finds there, with the hash pinned, and on one bidirectional
//! stream both ends prove that they hold the link key, over nonces from both
//! and the connection's TLS exporter ([`handshake`](super::handshake)); a peer
//! that fails or takes longer than [`HANDSHAKE_DEADLINE`] is refused and
//! counted. Then the dialer sends length-prefixed postcard messages on that
//! stream. A shard thus hears each peer on the connection that peer opened,
//! and speaks on its own. A link that fails is dropped and found again at the
//! next discovery round; whatever it carried is settled by the protocols above
//! it.
//!
//! Both directions are bounded: a peer's outbound queue holds at most
//! [`PEER_QUEUE`] messages and [`PEER_QUEUE_BYTES`] bytes (more are dropped
//! and counted), and the events for the zone thread at most [`EVENT_QUEUE`]
//! (a full queue stops reading from the peers, whose own queues then drop).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use bytes::Bytes;
use meridian_netcode::driver::tls::{self, DevCertificate};
use meridian_shard_manager::adapters::redis::{RedisHints, ShardEntryError};
use meridian_shard_manager::link_handshake::LinkKey;
use meridian_shard_manager::shard_entry::{EntryError, ShardEntry};
use meridian_shard_manager::{LinkMessage, ShardId};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

use super::handshake::{self, Refusal};

/// The link's ALPN.
pub(crate) const ALPN_SHARD: &[u8] = b"meridian-shard/1";

/// A peer that says nothing for this long is gone (its zones lapse anyway).
const IDLE: Duration = Duration::from_secs(3);

/// How often a shard says where it listens, and looks for the others.
const DISCOVERY_EVERY: Duration = Duration::from_millis(500);

/// How long a shard's announcement lasts without renewal.
const ANNOUNCE_TTL_MS: u64 = 3_000;

/// Largest message accepted.
const MAX_MESSAGE: usize = 4 << 20;

/// Messages queued for one peer before more are dropped (and counted).
const PEER_QUEUE: usize = 16_384;

/// Bytes queued for one peer before more are dropped (and counted).
const PEER_QUEUE_BYTES: usize = 64 << 20;

/// Events queued for the zone thread before the link stops reading.
const EVENT_QUEUE: usize = 65_536;

/// How long a peer has to complete the handshake before it is refused.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);

/// Connections in their handshake at once; more are refused at once.
const PENDING_HANDSHAKES: usize = 64;

/// The encoding buffer's first size (it grows to fit a larger message).
const SCRATCH: usize = 64 * 1024;

/// Bytes of queued messages written to the stream at once.
const BATCH: usize = 256 * 1024;

/// The queues of the peers linked now.
type Peers = Arc<Mutex<HashMap<u32, PeerQueue>>>;

/// What is queued for one peer's link, bounded in messages and in bytes.
struct PeerQueue {
    /// Which link to the peer this is (only the newest reports it down).
    generation: u64,
    sender: mpsc::Sender<Bytes>,
    /// Bytes queued and not yet taken by the link.
    queued_bytes: Arc<AtomicUsize>,
    /// The most bytes it may hold.
    limit: usize,
}

impl PeerQueue {
    /// A queue of at most `messages` messages and `bytes` bytes, and its
    /// receiving end.
    fn new(generation: u64, messages: usize, bytes: usize) -> (Self, PeerReceiver) {
        let (sender, receiver) = mpsc::channel(messages);
        let queued_bytes = Arc::new(AtomicUsize::new(0));
        let queue = Self {
            generation,
            sender,
            queued_bytes: queued_bytes.clone(),
            limit: bytes,
        };
        let receiver = PeerReceiver {
            receiver,
            queued_bytes,
        };
        (queue, receiver)
    }

    /// Queues `bytes`; `false` (and nothing queued) when the queue is full.
    fn offer(&self, bytes: &Bytes) -> bool {
        let size = bytes.len();
        if self.queued_bytes.fetch_add(size, Ordering::Relaxed) + size > self.limit
            || self.sender.try_send(bytes.clone()).is_err()
        {
            self.queued_bytes.fetch_sub(size, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// The link's end of a [`PeerQueue`].
struct PeerReceiver {
    receiver: mpsc::Receiver<Bytes>,
    queued_bytes: Arc<AtomicUsize>,
}

impl PeerReceiver {
    async fn recv(&mut self) -> Option<Bytes> {
        let bytes = self.receiver.recv().await?;
        self.queued_bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
        Some(bytes)
    }

    fn try_recv(&mut self) -> Option<Bytes> {
        let bytes = self.receiver.try_recv().ok()?;
        self.queued_bytes.fetch_sub(bytes.len(), Ordering::Relaxed);
        Some(bytes)
    }
}

/// What the link tells the zone thread.
#[derive(Debug)]
pub(crate) enum LinkEvent {
    /// We can speak to this shard now.
    Up(u32),
    /// A message from a shard.
    Message(u32, LinkMessage),
    /// A shard went silent.
    Down(u32),
}

/// Where link events go: a bounded queue, and a nudge that wakes the zone
/// thread.
#[derive(Clone)]
struct Events {
    queue: mpsc::Sender<LinkEvent>,
    wake: crossbeam_channel::Sender<()>,
}

impl Events {
    /// Queues `event`, waiting while the queue is full (the zone thread
    /// drains it every tick); fails once the zone thread is gone.
    async fn send(&self, event: LinkEvent) -> Result<(), ()> {
        self.queue.send(event).await.map_err(|_| ())?;
        // A full nudge channel already wakes it.
        let _ = self.wake.try_send(());
        Ok(())
    }
}

/// Counters the metrics page shows.
#[derive(Debug, Default)]
pub(crate) struct LinkCounters {
    sent: AtomicU64,
    received: AtomicU64,
    dropped: AtomicU64,
    refused: AtomicU64,
    handshakes_refused: AtomicU64,
    entries_unsigned: AtomicU64,
    entries_badly_signed: AtomicU64,
    entries_stale: AtomicU64,
}

impl LinkCounters {
    /// What they count now.
    pub(crate) fn totals(&self) -> LinkTotals {
        let load = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        LinkTotals {
            sent: load(&self.sent),
            received: load(&self.received),
            dropped: load(&self.dropped),
            refused: load(&self.refused),
            handshakes_refused: load(&self.handshakes_refused),
            entries_unsigned: load(&self.entries_unsigned),
            entries_badly_signed: load(&self.entries_badly_signed),
            entries_stale: load(&self.entries_stale),
            redis_errors: 0,
            redis_reconnects: 0,
        }
    }

    fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn entry_ignored(&self, why: EntryError) {
        Self::count(match why {
            EntryError::Unsigned => &self.entries_unsigned,
            EntryError::Stale => &self.entries_stale,
            _ => &self.entries_badly_signed,
        });
    }
}

/// The link's counts, for the metrics page.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LinkTotals {
    /// Messages queued for a peer.
    pub(crate) sent: u64,
    /// Messages read from peers.
    pub(crate) received: u64,
    /// Messages dropped: a full queue, or no link to the shard.
    pub(crate) dropped: u64,
    /// Messages refused: too large or unreadable.
    pub(crate) refused: u64,
    /// Connections refused in the handshake: a wrong proof, a broken or
    /// late handshake, or too many at once.
    pub(crate) handshakes_refused: u64,
    /// Shard entries in Redis ignored as unsigned.
    pub(crate) entries_unsigned: u64,
    /// Shard entries in Redis ignored as badly signed (or unreadable).
    pub(crate) entries_badly_signed: u64,
    /// Shard entries in Redis ignored as stale.
    pub(crate) entries_stale: u64,
    /// Redis operations that failed (Redis down, unreachable or erring).
    pub(crate) redis_errors: u64,
    /// Times the connection to Redis was lost and made again.
    pub(crate) redis_reconnects: u64,
}

/// The zone thread's handle for sending.
pub(crate) struct LinkSender {
    peers: Peers,
    counters: Arc<LinkCounters>,
    /// Where messages are encoded: the length, then the message.
    scratch: Vec<u8>,
}

impl LinkSender {
    /// Queues `wire` for `to` (or everyone linked, for `None`) without waiting.
    pub(crate) fn send(&mut self, to: Option<u32>, wire: &LinkMessage) {
        let length = match postcard::to_slice(wire, &mut self.scratch[4..]) {
            Ok(body) => body.len(),
            Err(postcard::Error::SerializeBufferFull) => {
                let Ok(body) = postcard::to_allocvec(wire) else {
                    return;
                };
                self.scratch.resize(4 + body.len().next_power_of_two(), 0);
                self.scratch[4..4 + body.len()].copy_from_slice(&body);
                body.len()
            }
            Err(_) => return,
        };
        if length > MAX_MESSAGE {
            // The peer would refuse it and drop the link.
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.scratch[..4].copy_from_slice(&(length as u32).to_le_bytes());
        let bytes = Bytes::copy_from_slice(&self.scratch[..4 + length]);
        let Ok(peers) = self.peers.lock() else {
            return;
        };
        let queued = |peer: &PeerQueue| {
            let counter = if peer.offer(&bytes) {
                &self.counters.sent
            } else {
                &self.counters.dropped
            };
            counter.fetch_add(1, Ordering::Relaxed);
        };
        match to {
            Some(shard) => match peers.get(&shard) {
                Some(peer) => queued(peer),
                // No link to it (yet, or any more): lost, and counted.
                None => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            },
            None => peers.values().for_each(queued),
        }
    }
}

/// A running link.
pub(crate) struct Link {
    pub(crate) sender: LinkSender,
    pub(crate) events: mpsc::Receiver<LinkEvent>,
    /// Nudged whenever an event is queued.
    pub(crate) wake: crossbeam_channel::Receiver<()>,
    pub(crate) address: SocketAddr,
    pub(crate) counters: Arc<LinkCounters>,
    /// Where the shard's entry is kept, for its connection's counts.
    pub(crate) hints: RedisHints,
}

impl Link {
    /// The link's counts and the Redis connection's, for the metrics page.
    pub(crate) fn totals(&self) -> LinkTotals {
        let redis = self.hints.totals();
        LinkTotals {
            redis_errors: redis.errors,
            redis_reconnects: redis.reconnects,
            ..self.counters.totals()
        }
    }
}

/// Starts shard `me` of `shards`: listens on `address`, announces itself in
/// Redis and links to every other shard found there, all authenticated with
/// the cluster's link key `key` (32 bytes derived from the secret). The link
/// runs on a
/// thread and runtime of its own, so that handoff messages are not queued
/// behind the clients' connections.
pub(crate) fn start(
    me: u32,
    shards: u32,
    address: SocketAddr,
    key: &[u8],
    hints: RedisHints,
) -> anyhow::Result<Link> {
    let certificate = DevCertificate::generate(SystemTime::now(), Duration::from_secs(13 * 86_400))
        .context("cannot make the link's certificate")?;
    let config = certificate
        .server_config(&[ALPN_SHARD], IDLE)
        .context("cannot configure the link")?;
    let key = LinkKey::new(key);
    let certificate_sha256 = tls::parse_sha256_hex(&certificate.sha256_hex())
        .context("the link's certificate hash does not read")?;
    let (queue, events) = mpsc::channel(EVENT_QUEUE);
    let (wake_in, wake) = crossbeam_channel::bounded(1);
    let events_in = Events {
        queue,
        wake: wake_in,
    };
    let counters = Arc::new(LinkCounters::default());
    let peers: Peers = Arc::default();
    let (bound_in, bound) = std::sync::mpsc::channel();
    let (link_counters, link_peers) = (counters.clone(), peers.clone());
    let link_hints = hints.clone();
    super::super::own_thread::spawn("shard-link", async move {
        let endpoint = match meridian_netcode::driver::socket::endpoint(address, Some(config)) {
            Ok(endpoint) => endpoint,
            Err(error) => {
                let _ = bound_in.send(Err(anyhow::Error::from(error)
                    .context(format!("cannot serve the shard link on {address}"))));
                return;
            }
        };
        let Ok(address) = endpoint.local_addr() else {
            return;
        };
        let _ = bound_in.send(Ok(address));
        tokio::spawn(accept(
            Acceptor {
                me,
                shards,
                key: key.clone(),
                events: events_in.clone(),
                counters: link_counters.clone(),
            },
            endpoint.clone(),
        ));
        discover(Discovery {
            me,
            shards,
            endpoint,
            key,
            hints: link_hints,
            announced: ShardEntry {
                address,
                certificate_sha256,
            },
            peers: link_peers,
            events: events_in,
            counters: link_counters,
        })
        .await;
    })?;
    let address = bound
        .recv()
        .context("the link's thread ended before it listened")??;
    Ok(Link {
        sender: LinkSender {
            peers,
            counters: counters.clone(),
            scratch: vec![0; SCRATCH],
        },
        events,
        wake,
        address,
        counters,
        hints,
    })
}

/// What the accepting side of the link needs.
#[derive(Clone)]
struct Acceptor {
    me: u32,
    shards: u32,
    key: LinkKey,
    events: Events,
    counters: Arc<LinkCounters>,
}

async fn accept(acceptor: Acceptor, endpoint: quinn::Endpoint) {
    let pending = Arc::new(AtomicUsize::new(0));
    while let Some(incoming) = endpoint.accept().await {
        if pending.load(Ordering::Relaxed) >= PENDING_HANDSHAKES {
            LinkCounters::count(&acceptor.counters.handshakes_refused);
            incoming.refuse();
            continue;
        }
        pending.fetch_add(1, Ordering::Relaxed);
        let (acceptor, pending) = (acceptor.clone(), pending.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + HANDSHAKE_DEADLINE;
            let handshake = async {
                let connection = tokio::time::timeout_at(deadline, incoming)
                    .await
                    .map_err(|_| Refusal::Timeout)??;
                let handshake = tokio::time::timeout_at(
                    deadline,
                    handshake::accept(&connection, &acceptor.key, acceptor.me, acceptor.shards),
                )
                .await
                .unwrap_or(Err(Refusal::Timeout));
                if handshake.is_err() {
                    connection.close(1u32.into(), b"link handshake refused");
                }
                handshake.map(|(shard, stream)| (connection, shard, stream))
            }
            .await;
            pending.fetch_sub(1, Ordering::Relaxed);
            match handshake {
                Ok((connection, shard, stream)) => {
                    receive(&acceptor, shard, stream).await;
                    // Not a `Down`: a shard is lost when our own link to it
                    // fails (it carries `Serving` every second), not when a
                    // connection it opened ends, which may be an old one
                    // after it restarted.
                    connection.close(0u32.into(), b"bye");
                }
                Err(refusal) => {
                    LinkCounters::count(&acceptor.counters.handshakes_refused);
                    tracing::warn!(%refusal, "a shard link connection is refused");
                }
            }
        });
    }
}

/// Reads shard `shard`'s messages until its stream ends or breaks the rules.
async fn receive(acceptor: &Acceptor, shard: u32, stream: quinn::RecvStream) {
    let counters = &acceptor.counters;
    let mut stream = tokio::io::BufReader::with_capacity(SCRATCH, stream);
    let mut buffer = Vec::new();
    while let Ok(length) = stream.read_u32_le().await {
        let length = length as usize;
        if length > MAX_MESSAGE {
            LinkCounters::count(&counters.refused);
            tracing::warn!(
                shard,
                length,
                "a link message is too large; closing the link"
            );
            return;
        }
        buffer.resize(length, 0);
        if stream.read_exact(&mut buffer).await.is_err() {
            return;
        }
        match postcard::from_bytes::<LinkMessage>(&buffer) {
            Ok(wire) => {
                LinkCounters::count(&counters.received);
                if acceptor
                    .events
                    .send(LinkEvent::Message(shard, wire))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Err(error) => {
                // A message we cannot read: the peer runs another version,
                // or is broken. Say so by closing.
                LinkCounters::count(&counters.refused);
                tracing::warn!(shard, length, %error, "a link message does not read; closing the link");
                return;
            }
        }
    }
}

struct Discovery {
    me: u32,
    shards: u32,
    endpoint: quinn::Endpoint,
    key: LinkKey,
    hints: RedisHints,
    announced: ShardEntry,
    peers: Peers,
    events: Events,
    counters: Arc<LinkCounters>,
}

async fn discover(discovery: Discovery) {
    let mut linked: HashMap<u32, ShardEntry> = HashMap::new();
    let mut generation = 0u64;
    loop {
        // Renewed every round, so after Redis comes back (empty, say) the
        // entry is there again within a round. A failure is counted and
        // logged (at most once per interval) by the Redis connection.
        let _ = discovery
            .hints
            .announce_shard_entry(
                ShardId(discovery.me),
                &discovery.announced,
                &discovery.key,
                super::super::ledger::now_ms(),
                ANNOUNCE_TTL_MS,
            )
            .await;
        // Links that ended are found again.
        if let Ok(peers) = discovery.peers.lock() {
            linked.retain(|shard, _| peers.contains_key(shard));
        }
        for shard in (1..=discovery.shards).filter(|shard| *shard != discovery.me) {
            let now_ms = super::super::ledger::now_ms();
            let entry = match discovery
                .hints
                .shard_entry(ShardId(shard), &discovery.key, now_ms)
                .await
            {
                Ok(Some(entry)) => entry,
                Ok(None) | Err(ShardEntryError::Hint(_)) => continue,
                Err(ShardEntryError::Ignored(why)) => {
                    discovery.counters.entry_ignored(why);
                    continue;
                }
                // A variant added later: ignore the entry as badly signed.
                Err(_) => {
                    discovery.counters.entry_ignored(EntryError::BadSignature);
                    continue;
                }
            };
            if linked.get(&shard) == Some(&entry) {
                continue;
            }
            linked.insert(shard, entry);
            generation += 1;
            let (queue, receiver) = PeerQueue::new(generation, PEER_QUEUE, PEER_QUEUE_BYTES);
            if let Ok(mut peers) = discovery.peers.lock() {
                peers.insert(shard, queue);
            }
            tokio::spawn(speak(
                Speaker {
                    me: discovery.me,
                    shard,
                    generation,
                    endpoint: discovery.endpoint.clone(),
                    entry,
                    key: discovery.key.clone(),
                    peers: discovery.peers.clone(),
                    events: discovery.events.clone(),
                    counters: discovery.counters.clone(),
                },
                receiver,
            ));
        }
        tokio::time::sleep(DISCOVERY_EVERY).await;
    }
}

struct Speaker {
    me: u32,
    shard: u32,
    generation: u64,
    endpoint: quinn::Endpoint,
    /// Where the peer listens and its certificate's hash, from its verified
    /// entry.
    entry: ShardEntry,
    key: LinkKey,
    peers: Peers,
    events: Events,
    counters: Arc<LinkCounters>,
}

async fn speak(speaker: Speaker, mut queue: PeerReceiver) {
    let result = async {
        let config =
            tls::pinned_client_config_for(speaker.entry.certificate_sha256, IDLE, ALPN_SHARD)?;
        let connection = speaker
            .endpoint
            .connect_with(config, speaker.entry.address, "localhost")?
            .await?;
        let mut stream = tokio::time::timeout(
            HANDSHAKE_DEADLINE,
            handshake::dial(&connection, &speaker.key, speaker.me, speaker.shard),
        )
        .await
        .unwrap_or(Err(Refusal::Timeout))?;
        let _ = speaker.events.send(LinkEvent::Up(speaker.shard)).await;
        // Each queued message is its length and itself; what is queued
        // goes out in one write.
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(bytes) = queue.recv().await {
            batch.clear();
            batch.extend_from_slice(&bytes);
            while batch.len() < BATCH {
                let Some(more) = queue.try_recv() else {
                    break;
                };
                batch.extend_from_slice(&more);
            }
            stream.write_all(&batch).await?;
        }
        anyhow::Ok(())
    }
    .await;
    if let Err(error) = result {
        if error.downcast_ref::<Refusal>().is_some() {
            LinkCounters::count(&speaker.counters.handshakes_refused);
        }
        tracing::warn!(shard = speaker.shard, %error, "the link to the shard ended");
    }
    // Only the newest link to a shard says it is down: an older one that
    // ends after the shard restarted (and was linked again) must not make a
    // live shard look lost.
    let newest = speaker.peers.lock().is_ok_and(|mut peers| {
        let newest = peers
            .get(&speaker.shard)
            .is_some_and(|queue| queue.generation == speaker.generation);
        if newest {
            peers.remove(&speaker.shard);
        }
        newest
    });
    if newest {
        let _ = speaker.events.send(LinkEvent::Down(speaker.shard)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_with_avatars_and_elements_read_back_as_sent() {
        use meridian_protocol::NetworkId;
        use meridian_protocol::messages::AnimationState;
        use meridian_protocol::snapshot::{EntityKind, EntityState, Footprint};
        use meridian_shard_manager::HostMessage;
        use meridian_shard_manager::link::View;
        let avatar = EntityState::quantize(
            NetworkId(7),
            EntityKind::Avatar,
            6,
            [31.0, 33.0],
            1.5,
            AnimationState::Walk,
        );
        let element = EntityState {
            footprint: Some(Footprint::quantize(2.0, 1.0, true)),
            ..EntityState::quantize(
                NetworkId(8),
                EntityKind::Element,
                3,
                [10.0, 10.0],
                0.0,
                AnimationState::Idle,
            )
        };
        let wire = LinkMessage::Host(HostMessage::Frame {
            zone: 3,
            tick: 1_234_567,
            tick_rate: 20,
            states: vec![avatar, element],
            views: vec![View {
                account: 1,
                visible: vec![NetworkId(7), NetworkId(8)],
                position: [31.0, 33.0],
                heading: 1.5,
                last_input: 9,
                frozen_at_ms: None,
                handed_in: false,
            }],
        });
        let bytes = postcard::to_allocvec(&wire).expect("encodes");
        assert_eq!(postcard::from_bytes::<LinkMessage>(&bytes), Ok(wire));
    }

    #[test]
    fn a_peer_queue_holds_at_most_its_messages_and_bytes() {
        let (queue, mut receiver) = PeerQueue::new(1, 3, 100);
        let forty = Bytes::from(vec![0u8; 40]);
        assert!(queue.offer(&forty));
        assert!(queue.offer(&forty));
        // A third would pass 100 bytes: dropped, and nothing counted as queued.
        assert!(!queue.offer(&forty));
        let ten = Bytes::from(vec![0u8; 10]);
        assert!(queue.offer(&ten));
        // Three messages: full, however small the next.
        assert!(!queue.offer(&Bytes::from_static(b"x")));
        // What the link takes frees room.
        assert_eq!(receiver.try_recv().map(|bytes| bytes.len()), Some(40));
        assert!(queue.offer(&ten));
        assert_eq!(queue.queued_bytes.load(Ordering::Relaxed), 60);
    }
}
