//! The QUIC link between shards (ALPN `meridian-shard/1`).
//!
//! Each shard listens on its link address with a fresh self-signed
//! certificate and says in Redis where it listens and the certificate's hash.
//! Every shard opens one connection to every other shard it finds there, with
//! the hash pinned, and sends on one unidirectional stream: first a hello
//! (its shard id and an HMAC of it under the cluster's shared secret, so only
//! shards of this cluster are heard), then length-prefixed postcard messages.
//! A shard thus hears each peer on the connection that peer opened, and
//! speaks on its own. A link that fails is dropped and found again at the next
//! discovery round; whatever it carried is settled by the protocols above it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use bytes::Bytes;
use meridian_netcode::HostMessage;
use meridian_netcode::driver::tls::{self, DevCertificate};
use meridian_shard_manager::adapters::redis::RedisHints;
use meridian_shard_manager::{Epoch, PeerMessage, ShardId, ZoneId};
use ring::hmac;
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

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

/// The encoding buffer's first size (it grows to fit a larger message).
const SCRATCH: usize = 64 * 1024;

/// Bytes of queued messages written to the stream at once.
const BATCH: usize = 256 * 1024;

/// The queues of the peers linked now, each with the generation of its link.
type Peers = Arc<Mutex<HashMap<u32, (u64, mpsc::Sender<Bytes>)>>>;

/// What shards say to each other.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) enum Wire {
    /// Between the hosts: attaching, inputs, frames, ghosts, handing in.
    Host(HostMessage),
    /// The handoff protocol, for one of the receiver's zones.
    Handoff {
        /// The zone.
        zone: ZoneId,
        /// The message.
        message: PeerMessage,
    },
    /// The zones the sender simulates now, with their epochs.
    Serving(Vec<(ZoneId, Epoch)>),
}

/// What the link tells the zone thread.
#[derive(Debug)]
pub(crate) enum LinkEvent {
    /// We can speak to this shard now.
    Up(u32),
    /// A message from a shard.
    Message(u32, Wire),
    /// A shard went silent.
    Down(u32),
}

/// Where link events go: a queue, and a nudge that wakes the zone thread.
#[derive(Clone)]
struct Events {
    queue: crossbeam_channel::Sender<LinkEvent>,
    wake: crossbeam_channel::Sender<()>,
}

impl Events {
    fn send(&self, event: LinkEvent) -> Result<(), ()> {
        self.queue.send(event).map_err(|_| ())?;
        // A full nudge channel already wakes it.
        let _ = self.wake.try_send(());
        Ok(())
    }
}

/// Counters the metrics page shows.
#[derive(Debug, Default)]
pub(crate) struct LinkCounters {
    pub(crate) sent: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) refused: AtomicU64,
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
    pub(crate) fn send(&mut self, to: Option<u32>, wire: &Wire) {
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
        let queued = |peer: &mpsc::Sender<Bytes>| {
            let counter = if peer.try_send(bytes.clone()).is_ok() {
                &self.counters.sent
            } else {
                &self.counters.dropped
            };
            counter.fetch_add(1, Ordering::Relaxed);
        };
        match to {
            Some(shard) => match peers.get(&shard) {
                Some((_, peer)) => queued(peer),
                // No link to it (yet, or any more): lost, and counted.
                None => {
                    self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                }
            },
            None => peers.values().for_each(|(_, peer)| queued(peer)),
        }
    }
}

/// A running link.
pub(crate) struct Link {
    pub(crate) sender: LinkSender,
    pub(crate) events: crossbeam_channel::Receiver<LinkEvent>,
    /// Nudged whenever an event is queued.
    pub(crate) wake: crossbeam_channel::Receiver<()>,
    pub(crate) address: SocketAddr,
    pub(crate) counters: Arc<LinkCounters>,
}

fn hello_mac(key: &hmac::Key, shard: u32) -> hmac::Tag {
    let mut message = b"meridian-shard-hello".to_vec();
    message.extend_from_slice(&shard.to_le_bytes());
    hmac::sign(key, &message)
}

/// Starts shard `me` of `shards`: listens on `address`, announces itself in
/// Redis and links to every other shard found there. The link runs on a
/// thread and runtime of its own, so that handoff messages are not queued
/// behind the clients' connections.
pub(crate) fn start(
    me: u32,
    shards: u32,
    address: SocketAddr,
    secret: &[u8],
    hints: RedisHints,
) -> anyhow::Result<Link> {
    let certificate = DevCertificate::generate(SystemTime::now(), Duration::from_secs(13 * 86_400))
        .context("cannot make the link's certificate")?;
    let config = certificate
        .server_config(&[ALPN_SHARD], IDLE)
        .context("cannot configure the link")?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let (queue, events) = crossbeam_channel::unbounded();
    let (wake_in, wake) = crossbeam_channel::bounded(1);
    let events_in = Events {
        queue,
        wake: wake_in,
    };
    let counters = Arc::new(LinkCounters::default());
    let peers: Peers = Arc::default();
    let (bound_in, bound) = std::sync::mpsc::channel();
    let (link_counters, link_peers) = (counters.clone(), peers.clone());
    let sha256 = certificate.sha256_hex();
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
            endpoint.clone(),
            key.clone(),
            events_in.clone(),
            link_counters,
        ));
        discover(Discovery {
            me,
            shards,
            endpoint,
            key,
            hints,
            announced: format!("{address} {sha256}"),
            peers: link_peers,
            events: events_in,
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
    })
}

async fn accept(
    endpoint: quinn::Endpoint,
    key: hmac::Key,
    events: Events,
    counters: Arc<LinkCounters>,
) {
    while let Some(incoming) = endpoint.accept().await {
        let (key, events, counters) = (key.clone(), events.clone(), counters.clone());
        tokio::spawn(async move {
            let Ok(connection) = incoming.await else {
                return;
            };
            let Ok(mut stream) = connection.accept_uni().await else {
                return;
            };
            let mut hello = [0u8; 36];
            if stream.read_exact(&mut hello).await.is_err() {
                return;
            }
            let shard = u32::from_le_bytes([hello[0], hello[1], hello[2], hello[3]]);
            let mut message = b"meridian-shard-hello".to_vec();
            message.extend_from_slice(&shard.to_le_bytes());
            if hmac::verify(&key, &message, &hello[4..]).is_err() {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                connection.close(1u32.into(), b"not of this cluster");
                return;
            }
            let mut stream = tokio::io::BufReader::with_capacity(SCRATCH, stream);
            let mut buffer = Vec::new();
            while let Ok(length) = stream.read_u32_le().await {
                let length = length as usize;
                if length > MAX_MESSAGE {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                buffer.resize(length, 0);
                if stream.read_exact(&mut buffer).await.is_err() {
                    break;
                }
                match postcard::from_bytes::<Wire>(&buffer) {
                    Ok(wire) => {
                        counters.received.fetch_add(1, Ordering::Relaxed);
                        if events.send(LinkEvent::Message(shard, wire)).is_err() {
                            return;
                        }
                    }
                    Err(_) => {
                        // A message we cannot read: the peer runs another
                        // version, or is broken. Say so by closing.
                        counters.refused.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
            // Not a `Down`: a shard is lost when our own link to it fails
            // (it carries `Serving` every second), not when a connection it
            // opened ends, which may be an old one after it restarted.
            connection.close(0u32.into(), b"bye");
        });
    }
}

struct Discovery {
    me: u32,
    shards: u32,
    endpoint: quinn::Endpoint,
    key: hmac::Key,
    hints: RedisHints,
    announced: String,
    peers: Peers,
    events: Events,
}

async fn discover(discovery: Discovery) {
    let mut linked: HashMap<u32, String> = HashMap::new();
    let mut generation = 0u64;
    loop {
        if let Err(error) = discovery
            .hints
            .announce_shard(ShardId(discovery.me), &discovery.announced, ANNOUNCE_TTL_MS)
            .await
        {
            eprintln!("meridian serve: cannot announce the shard in Redis: {error}");
        }
        // Links that ended are found again.
        if let Ok(peers) = discovery.peers.lock() {
            linked.retain(|shard, _| peers.contains_key(shard));
        }
        for shard in (1..=discovery.shards).filter(|shard| *shard != discovery.me) {
            let Ok(Some(hint)) = discovery.hints.shard_hint(ShardId(shard)).await else {
                continue;
            };
            if linked.get(&shard) == Some(&hint) {
                continue;
            }
            let Some((address, hash)) = hint.split_once(' ') else {
                continue;
            };
            let (Ok(address), Some(hash)) = (address.parse(), tls::parse_sha256_hex(hash)) else {
                continue;
            };
            linked.insert(shard, hint.clone());
            let (sender, queue) = mpsc::channel(PEER_QUEUE);
            generation += 1;
            if let Ok(mut peers) = discovery.peers.lock() {
                peers.insert(shard, (generation, sender));
            }
            tokio::spawn(speak(
                Speaker {
                    me: discovery.me,
                    shard,
                    generation,
                    endpoint: discovery.endpoint.clone(),
                    address,
                    hash,
                    mac: hello_mac(&discovery.key, discovery.me),
                    peers: discovery.peers.clone(),
                    events: discovery.events.clone(),
                },
                queue,
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
    address: SocketAddr,
    hash: [u8; 32],
    mac: hmac::Tag,
    peers: Peers,
    events: Events,
}

async fn speak(speaker: Speaker, mut queue: mpsc::Receiver<Bytes>) {
    let result = async {
        let config = tls::pinned_client_config_for(speaker.hash, IDLE, ALPN_SHARD)?;
        let connection = speaker
            .endpoint
            .connect_with(config, speaker.address, "localhost")?
            .await?;
        let mut stream = connection.open_uni().await?;
        let mut hello = speaker.me.to_le_bytes().to_vec();
        hello.extend_from_slice(speaker.mac.as_ref());
        stream.write_all(&hello).await?;
        let _ = speaker.events.send(LinkEvent::Up(speaker.shard));
        // Each queued message is its length and itself; what is queued
        // goes out in one write.
        let mut batch = Vec::with_capacity(BATCH);
        while let Some(bytes) = queue.recv().await {
            batch.clear();
            batch.extend_from_slice(&bytes);
            while batch.len() < BATCH {
                let Ok(more) = queue.try_recv() else {
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
        eprintln!(
            "meridian serve: the link to shard {} ended: {error}",
            speaker.shard
        );
    }
    // Only the newest link to a shard says it is down: an older one that
    // ends after the shard restarted (and was linked again) must not make a
    // live shard look lost.
    let newest = speaker.peers.lock().is_ok_and(|mut peers| {
        let newest = peers
            .get(&speaker.shard)
            .is_some_and(|(generation, _)| *generation == speaker.generation);
        if newest {
            peers.remove(&speaker.shard);
        }
        newest
    });
    if newest {
        let _ = speaker.events.send(LinkEvent::Down(speaker.shard));
    }
}
