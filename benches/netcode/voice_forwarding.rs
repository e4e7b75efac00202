//! The voice forwarding unit's hot path, at a person's rate: 20 peers, each
//! speaking (one Opus packet every 20 ms) and hearing the next 10 on lines
//! of its own, 200 listener streams. One timed round is what the voice port
//! does with 20 ms of traffic: every peer's datagrams in (its SRTP packet,
//! and whatever STUN consent checks and RTCP its client sent), the timers
//! that came due run (str0m sends a written packet when its session's timer
//! is handled), every datagram out. The clock is virtual and advances 20 ms
//! a round, so str0m's timers (RTCP, ICE consent, its send queue) run as
//! they do in the server; the peers' own work (making packets, answering
//! consent) is done between timed rounds.
//!
//! Issue #17 asks for 2,000 listener streams per core at 50 packets/s, that
//! is 100,000 forwarded packets per second: one round (200 copies) must then
//! take at most 2 ms. The setup asserts that each round forwards exactly
//! 200 copies, so the figure measures forwarding.
//!
//! The criterion figure reads one datagram a turn, as a lightly loaded port
//! does (the costliest case per copy: a busy port reads many a turn).
//!
//! `MERIDIAN_VOICE_ROUNDS=N` runs N rounds without criterion (after 50 to
//! warm up), `MERIDIAN_VOICE_BATCH` datagrams a turn (default 1), and prints
//! the counters: a fixed load for callgrind, whose instruction count holds on
//! a busy machine. Instructions per copy: the difference between two round
//! counts, over the copies in between (warm-up and set-up cancel out):
//!
//! ```text
//! MERIDIAN_VOICE_ROUNDS=500 valgrind --tool=callgrind \
//!   --toggle-collect='*forward_round*' target/release/deps/voice_forwarding-*
//! ```

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use meridian_netcode::voice::{Heard, ParticipantId, Routing, Sfu, VoiceConfig};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// Peers, each a speaker.
const PEERS: usize = 20;
/// Lines each peer listens on (and speakers it hears).
const LINES: usize = 10;
/// Copies one round forwards.
const COPIES_PER_ROUND: u64 = (PEERS * LINES) as u64;
/// One Opus frame.
const FRAME: Duration = Duration::from_millis(20);

struct Peer {
    rtc: Rtc,
    address: SocketAddr,
    microphone: Mid,
    connected: bool,
    sequence: u64,
}

/// The SFU, its peers, and the virtual clock.
struct Scene {
    sfu: Sfu,
    sfu_address: SocketAddr,
    peers: Vec<Peer>,
    now: Instant,
    /// The datagrams of the next round, by sender.
    incoming: Vec<(SocketAddr, Vec<u8>)>,
    /// The SFU's datagrams of the last round.
    outgoing: Vec<(SocketAddr, Vec<u8>)>,
}

/// Whether a datagram is RTP (not RTCP, RFC 5761).
fn is_rtp(datagram: &[u8]) -> bool {
    matches!(datagram, [128..=191, second, ..] if !(64..=95).contains(&(second & 0x7F)))
}

impl Scene {
    fn new() -> Self {
        let mut now = Instant::now();
        let sfu_address: SocketAddr = "10.0.0.1:3478".parse().expect("address");
        let config = VoiceConfig {
            max_slots: LINES,
            ..VoiceConfig::default()
        };
        let mut sfu = Sfu::new(config, sfu_address).expect("valid config");
        let mut peers = Vec::new();
        for id in 0..PEERS {
            let address = SocketAddr::from(([10, 0, 1, id as u8 + 1], 5000));
            let mut rtc = Rtc::builder()
                .clear_codecs()
                .enable_opus(true, false)
                .build(now);
            rtc.add_local_candidate(Candidate::host(address, "udp").expect("candidate"));
            let mut api = rtc.sdp_api();
            let microphone = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            for _ in 0..LINES {
                api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            }
            let (offer, pending) = api.apply().expect("offer");
            let answer = sfu
                .handle_offer(now, ParticipantId(id as u64), &offer.to_sdp_string())
                .expect("answer");
            rtc.sdp_api()
                .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).expect("sdp"))
                .expect("accepted");
            peers.push(Peer {
                rtc,
                address,
                microphone,
                connected: false,
                sequence: 0,
            });
        }
        // Peer i hears the next LINES peers.
        let routing: Routing = (0..PEERS)
            .map(|listener| {
                let heard = (1..=LINES)
                    .map(|step| Heard {
                        speaker: ParticipantId(((listener + step) % PEERS) as u64),
                        distance: step as f32,
                    })
                    .collect();
                (ParticipantId(listener as u64), heard)
            })
            .collect();
        sfu.set_routing(&routing);
        while sfu.poll_event().is_some() {}
        let mut scene = Self {
            sfu,
            sfu_address,
            peers,
            now,
            incoming: Vec::new(),
            outgoing: Vec::new(),
        };
        for _ in 0..10_000 {
            if scene.peers.iter().all(|peer| peer.connected) {
                break;
            }
            now += Duration::from_millis(1);
            scene.now = now;
            scene.collect_peer_datagrams(false);
            let incoming = std::mem::take(&mut scene.incoming);
            for (from, datagram) in &incoming {
                scene.sfu.handle_datagram(now, *from, datagram);
            }
            scene.sfu.handle_timeout(now);
            while let Some(transmit) = scene.sfu.poll_transmit() {
                scene
                    .outgoing
                    .push((transmit.destination, transmit.contents));
            }
            scene.deliver(true);
        }
        assert!(
            scene.peers.iter().all(|peer| peer.connected),
            "peers did not connect"
        );
        scene
    }

    /// Each peer's datagrams at the scene's time, with a fresh Opus packet
    /// from each when `speak`.
    fn collect_peer_datagrams(&mut self, speak: bool) {
        let now = self.now;
        for peer in &mut self.peers {
            if speak {
                let writer = peer.rtc.writer(peer.microphone).expect("line");
                let pt = writer
                    .payload_params()
                    .find(|params| params.spec().codec == Codec::Opus)
                    .expect("opus")
                    .pt();
                let mut payload = vec![0xF8];
                payload.extend_from_slice(&peer.sequence.to_be_bytes());
                payload.resize(80, 0xA5);
                writer
                    .audio_level(-20, true)
                    .write(
                        pt,
                        now,
                        MediaTime::new(peer.sequence * 960, Frequency::FORTY_EIGHT_KHZ),
                        payload,
                    )
                    .expect("write");
                peer.sequence += 1;
            }
            // A written packet leaves on the timers' next turns.
            for _ in 0..4 {
                peer.rtc.handle_input(Input::Timeout(now)).expect("timeout");
                let next = loop {
                    match peer.rtc.poll_output().expect("output") {
                        Output::Timeout(at) => break at,
                        Output::Transmit(transmit) => {
                            self.incoming
                                .push((peer.address, transmit.contents.to_vec()));
                        }
                        Output::Event(Event::Connected) => peer.connected = true,
                        Output::Event(_) => {}
                    }
                };
                if next > now {
                    break;
                }
            }
        }
    }

    /// Hands the SFU's datagrams of the last round to their peers: all of
    /// them, or (`media` false) all but the forwarded RTP, which no peer
    /// needs to read for the bench.
    fn deliver(&mut self, media: bool) {
        let now = self.now;
        for (destination, datagram) in self.outgoing.drain(..) {
            if !media && is_rtp(&datagram) {
                continue;
            }
            let Some(peer) = self
                .peers
                .iter_mut()
                .find(|peer| peer.address == destination)
            else {
                continue;
            };
            let receive = Receive::new(Protocol::Udp, self.sfu_address, destination, &datagram)
                .expect("datagram");
            peer.rtc
                .handle_input(Input::Receive(now, receive))
                .expect("input");
        }
    }

    /// The next round's input, untimed: the clock moves on a frame and
    /// every peer speaks.
    fn prepare_round(&mut self) {
        self.now += FRAME;
        self.collect_peer_datagrams(true);
    }

    /// After a timed round, untimed: the peers get their STUN answers and
    /// RTCP; returns the forwarded RTP copies of the round.
    fn finish_round(&mut self) -> u64 {
        let copies = self
            .outgoing
            .iter()
            .filter(|(_, datagram)| is_rtp(datagram))
            .count() as u64;
        self.deliver(false);
        copies
    }
}

/// One timed round: what the voice port does with a round's datagrams,
/// `batch` of them per turn (a turn reads a batch, runs the timers that came
/// due, until none is, and sends what is queued). A lightly loaded port
/// reads one datagram a turn; a busy one reads many.
#[inline(never)]
fn forward_round(
    sfu: &mut Sfu,
    now: Instant,
    batch: usize,
    incoming: &mut Vec<(SocketAddr, Vec<u8>)>,
    outgoing: &mut Vec<(SocketAddr, Vec<u8>)>,
) {
    for turn in incoming.chunks(batch.max(1)) {
        for (from, datagram) in turn {
            sfu.handle_datagram(now, *from, black_box(datagram));
        }
        for _ in 0..8 {
            while let Some(transmit) = sfu.poll_transmit() {
                outgoing.push((transmit.destination, transmit.contents));
            }
            if sfu.poll_timeout().is_none_or(|at| at > now) {
                break;
            }
            sfu.handle_timeout(now);
        }
    }
    incoming.clear();
}

/// Runs `rounds` rounds; returns the forwarded copies.
fn run_rounds(scene: &mut Scene, rounds: u64, batch: usize) -> u64 {
    let mut copies = 0;
    for _ in 0..rounds {
        scene.prepare_round();
        forward_round(
            &mut scene.sfu,
            scene.now,
            batch,
            &mut scene.incoming,
            &mut scene.outgoing,
        );
        copies += scene.finish_round();
    }
    copies
}

/// A scene after 50 warm rounds, each of which forwarded every copy.
fn warm_scene() -> Scene {
    let mut scene = Scene::new();
    let forwarded_before = scene.sfu.counters().packets_forwarded;
    // The first rounds may hold a copy back for a timer; then each round
    // must forward exactly one copy per stream.
    run_rounds(&mut scene, 10, 1);
    for round in 0..40 {
        let copies = run_rounds(&mut scene, 1, 1 + round % PEERS);
        assert_eq!(
            copies, COPIES_PER_ROUND,
            "round {round}: forwarded RTP copies out"
        );
    }
    let counters = scene.sfu.counters();
    assert_eq!(
        counters.packets_forwarded - forwarded_before,
        50 * COPIES_PER_ROUND,
        "{counters:?}"
    );
    assert_eq!(counters.forward_failed, 0, "{counters:?}");
    scene
}

fn forwarding(criterion: &mut Criterion) {
    let mut scene = warm_scene();
    let forwarded_before = scene.sfu.counters().packets_forwarded;
    let mut rounds_run = 0;
    let mut group = criterion.benchmark_group("voice");
    group.throughput(Throughput::Elements(COPIES_PER_ROUND));
    group.bench_function(
        "forward_20_speakers_to_200_streams_one_datagram_a_turn",
        |bencher| {
            bencher.iter_custom(|rounds| {
                let mut timed = Duration::ZERO;
                for _ in 0..rounds {
                    scene.prepare_round();
                    let start = Instant::now();
                    forward_round(
                        &mut scene.sfu,
                        scene.now,
                        1,
                        &mut scene.incoming,
                        &mut scene.outgoing,
                    );
                    timed += start.elapsed();
                    scene.finish_round();
                }
                rounds_run += rounds;
                timed
            });
        },
    );
    group.finish();
    let counters = scene.sfu.counters();
    let forwarded = counters.packets_forwarded - forwarded_before;
    println!(
        "voice: {rounds_run} rounds, {forwarded} copies forwarded ({} per round), {} refused",
        forwarded / rounds_run.max(1),
        counters.refused.total()
    );
    assert_eq!(forwarded, rounds_run * COPIES_PER_ROUND, "{counters:?}");
}

fn main() {
    if let Some(rounds) = std::env::var("MERIDIAN_VOICE_ROUNDS")
        .ok()
        .and_then(|rounds| rounds.parse::<u64>().ok())
    {
        let batch = std::env::var("MERIDIAN_VOICE_BATCH")
            .ok()
            .and_then(|batch| batch.parse::<usize>().ok())
            .unwrap_or(1);
        let mut scene = warm_scene();
        let before = scene.sfu.counters();
        let copies = run_rounds(&mut scene, rounds, batch);
        let after = scene.sfu.counters();
        println!(
            "voice fixed load: {rounds} rounds, {batch} datagrams a turn, {} packets in, {} copies forwarded, {copies} RTP copies out, {} datagrams in, {} out",
            after.packets_in - before.packets_in,
            after.packets_forwarded - before.packets_forwarded,
            after.datagrams_in - before.datagrams_in,
            after.datagrams_out - before.datagrams_out,
        );
        assert_eq!(copies, rounds * COPIES_PER_ROUND);
        return;
    }
    let mut criterion = Criterion::default().configure_from_args();
    forwarding(&mut criterion);
    criterion.final_summary();
}
