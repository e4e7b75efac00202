//! The voice forwarding unit's hot path: one speaker's SRTP Opus packet in,
//! decrypted, and written (SRTP again) to each of its listeners, the
//! datagrams taken out. Sessions are connected in memory (datagrams handed
//! across, no sockets) before timing; each timed iteration takes one fresh
//! packet from the speaker's own str0m client (made outside the timing, in
//! order, so SRTP replay protection accepts each once).
//!
//! Issue #17 asks for 2,000 listener streams per core at 50 packets/s, that
//! is 100,000 forwarded packets per second: one packet to 10 listeners must
//! then take at most 100 µs.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use meridian_netcode::voice::{Heard, ParticipantId, Routing, Sfu, VoiceConfig};
use str0m::change::SdpAnswer;
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

const LISTENERS: u64 = 10;

struct Peer {
    rtc: Rtc,
    address: SocketAddr,
    microphone: Mid,
    connected: bool,
}

struct Scene {
    sfu: Sfu,
    sfu_address: SocketAddr,
    peers: Vec<Peer>,
}

impl Scene {
    fn new() -> Self {
        let now = Instant::now();
        let sfu_address: SocketAddr = "10.0.0.1:3478".parse().expect("address");
        let config = VoiceConfig {
            // The bench sends far above a person's rate.
            session_datagrams_per_second: u32::MAX,
            session_datagram_burst: u32::MAX,
            ..VoiceConfig::default()
        };
        let mut sfu = Sfu::new(config, sfu_address).expect("valid config");
        let mut peers = Vec::new();
        for id in 0..=LISTENERS {
            let address = SocketAddr::from(([10, 0, 1, id as u8 + 1], 5000));
            let mut rtc = Rtc::builder()
                .clear_codecs()
                .enable_opus(true, false)
                .build(now);
            rtc.add_local_candidate(Candidate::host(address, "udp").expect("candidate"));
            let mut api = rtc.sdp_api();
            let microphone = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
            let (offer, pending) = api.apply().expect("offer");
            let answer = sfu
                .handle_offer(now, ParticipantId(id), &offer.to_sdp_string())
                .expect("answer");
            rtc.sdp_api()
                .accept_answer(pending, SdpAnswer::from_sdp_string(&answer).expect("sdp"))
                .expect("accepted");
            peers.push(Peer {
                rtc,
                address,
                microphone,
                connected: false,
            });
        }
        let routing: Routing = (1..=LISTENERS)
            .map(|listener| {
                (
                    ParticipantId(listener),
                    vec![Heard {
                        speaker: ParticipantId(0),
                        distance: 3.0,
                    }],
                )
            })
            .collect();
        sfu.set_routing(&routing);
        let mut scene = Self {
            sfu,
            sfu_address,
            peers,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !scene.peers.iter().all(|peer| peer.connected) {
            assert!(Instant::now() < deadline, "peers did not connect");
            scene.exchange(Instant::now());
        }
        scene
    }

    /// Moves every datagram between peers and the SFU once.
    fn exchange(&mut self, now: Instant) {
        for peer in &mut self.peers {
            peer.rtc.handle_input(Input::Timeout(now)).expect("timeout");
            loop {
                match peer.rtc.poll_output().expect("output") {
                    Output::Timeout(_) => break,
                    Output::Transmit(transmit) => {
                        self.sfu
                            .handle_datagram(now, peer.address, &transmit.contents);
                    }
                    Output::Event(Event::Connected) => peer.connected = true,
                    Output::Event(_) => {}
                }
            }
        }
        self.sfu.handle_timeout(now);
        while let Some(transmit) = self.sfu.poll_transmit() {
            if let Some(peer) = self
                .peers
                .iter_mut()
                .find(|peer| peer.address == transmit.destination)
            {
                let receive = Receive::new(
                    Protocol::Udp,
                    self.sfu_address,
                    peer.address,
                    &transmit.contents,
                )
                .expect("datagram");
                peer.rtc
                    .handle_input(Input::Receive(now, receive))
                    .expect("input");
            }
        }
    }
}

/// The speaker's next SRTP packet, as its client would send it.
fn next_packet(speaker: &mut Peer, sequence: &mut u32) -> Vec<u8> {
    let now = Instant::now();
    let mut payload = vec![0xF8];
    payload.extend_from_slice(&sequence.to_be_bytes());
    payload.resize(60, 0xA5);
    let writer = speaker.rtc.writer(speaker.microphone).expect("line");
    let pt = writer
        .payload_params()
        .find(|params| params.spec().codec == Codec::Opus)
        .expect("opus")
        .pt();
    writer
        .audio_level(-20, true)
        .write(
            pt,
            now,
            MediaTime::new(u64::from(*sequence) * 960, Frequency::FORTY_EIGHT_KHZ),
            payload,
        )
        .expect("write");
    *sequence += 1;
    speaker
        .rtc
        .handle_input(Input::Timeout(now))
        .expect("timeout");
    loop {
        match speaker.rtc.poll_output().expect("output") {
            Output::Transmit(transmit) if transmit.contents[0] >= 128 => {
                return transmit.contents.into();
            }
            Output::Timeout(_) => panic!("the speaker sent no RTP"),
            _ => {}
        }
    }
}

fn forwarding(criterion: &mut Criterion) {
    let mut scene = Scene::new();
    // The speaker's client, apart from the SFU, so that making a packet and
    // forwarding it borrow different things.
    let mut speaker = scene.peers.remove(0);
    let speaker_address = speaker.address;
    let mut sequence = 0;
    let mut sfu = scene.sfu;
    // The SFU's clock is held still: the listeners exchange no STUN consent
    // checks here, and ICE-lite would drop them 15 s after their last.
    let now = Instant::now();
    let mut group = criterion.benchmark_group("voice");
    group.bench_function("forward_one_packet_to_10_listeners", |bencher| {
        bencher.iter_batched(
            || next_packet(&mut speaker, &mut sequence),
            |packet| {
                sfu.handle_datagram(now, speaker_address, black_box(&packet));
                while let Some(transmit) = sfu.poll_transmit() {
                    black_box(transmit);
                }
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
    let counters = sfu.counters();
    println!(
        "voice: {} packets in, {} forwarded ({} per packet), {} refused",
        counters.packets_in,
        counters.packets_forwarded,
        counters.packets_forwarded / counters.packets_in.max(1),
        counters.refused.total()
    );
}

criterion_group!(benches, forwarding);
criterion_main!(benches);
