//! Voice bots: each is a str0m WebRTC peer with its own UDP socket. The bot's
//! behaviour (on the client loop thread) makes the offer and sends it on the
//! game stream, reads the server's answer and hands the connected-to-be peer
//! to the voice thread, `loadbot-voice`, which drives every peer: ICE, DTLS,
//! SRTP, a speaker's Opus packets every 20 ms, and counting what arrives.
//!
//! A thread of its own because the client loop wakes at the tick rate and
//! its figures (snapshot jitter, loop CPU) would carry the SRTP work of
//! thousands of streams. The thread waits on its peers' sockets (one `epoll`
//! through mio) and their deadlines: a peer is read only when its socket has
//! datagrams and given the time only when str0m asked for it or a packet of
//! its is due, so a swarm of listeners costs what they receive, not a poll of
//! every peer every millisecond.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use meridian_netcode::client::Client;
use meridian_protocol::{ClientMessage, ServerMessage, VoiceOffer};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use serde::{Deserialize, Serialize};
use str0m::change::{SdpAnswer, SdpPendingOffer};
use str0m::format::Codec;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The voice thread's name.
pub const VOICE_THREAD: &str = "loadbot-voice";

/// Opus TOC byte (RFC 6716 §3.1): configuration 31 (CELT fullband 20 ms),
/// mono, one frame; any bytes after it make a valid code-0 packet.
const OPUS_TOC: u8 = 0xF8;
/// A speaker's packets: one per 20 ms, 50 per second.
const PACKET_INTERVAL: Duration = Duration::from_millis(20);
/// Payload bytes of each packet (TOC, a counter, filler): the size of a
/// 32 kbit/s Opus frame of 20 ms.
const PAYLOAD_BYTES: usize = 80;
/// The audio level a speaker marks its packets with (dBov; loud).
const SPEAKER_LEVEL: i8 = -20;
/// At most this many packets are sent at once to catch up a late turn.
const MAX_CATCH_UP: u32 = 5;
/// The longest the voice thread waits for a socket or a deadline (it looks
/// for new peers and for the stop between waits).
const LONGEST_WAIT: Duration = Duration::from_millis(5);

/// Which bots take part in voice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoiceLoad {
    /// Bots `0..speakers` speak (and listen).
    pub speakers: usize,
    /// Bots `0..listeners` turn voice on (at least `speakers`); `None`: every
    /// bot when `speakers` > 0.
    pub listeners: Option<usize>,
    /// Listening lines each bot offers.
    pub slots: usize,
}

impl VoiceLoad {
    /// Whether any bot takes part.
    pub fn enabled(&self) -> bool {
        self.speakers > 0 || self.listeners.is_some_and(|listeners| listeners > 0)
    }

    /// Bot `index`'s part: `None` (no voice), `Some(true)` speaker,
    /// `Some(false)` listener only.
    pub fn role(&self, index: usize, bots: usize) -> Option<bool> {
        let in_voice = self.listeners.unwrap_or(bots).max(self.speakers);
        (self.enabled() && index < in_voice).then_some(index < self.speakers)
    }
}

/// Voice figures of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VoiceFigures {
    /// Bots that turned voice on (sent an offer).
    pub offers: u64,
    /// Offers answered.
    pub answers: u64,
    /// Offers refused (`VoiceRefused`).
    pub refused: u64,
    /// Peers whose WebRTC session came up (ICE and DTLS done).
    pub sessions_up: u64,
    /// Speakers among them.
    pub speakers: u64,
    /// Opus packets the speakers sent.
    pub packets_sent: u64,
    /// Their payload bytes.
    pub bytes_sent: u64,
    /// Opus packets the bots received from the server.
    pub packets_received: u64,
    /// Their payload bytes.
    pub bytes_received: u64,
    /// Packets received per second per connected bot (from its session's
    /// start to the end): smallest, median, largest.
    pub receive_rate_min: f64,
    /// Median of the same.
    pub receive_rate_p50: f64,
    /// Largest of the same.
    pub receive_rate_max: f64,
    /// Bots that received at least one packet.
    pub listeners_hearing: u64,
    /// Speaker's write to listener's read of each packet (the speaker's
    /// send time is in the payload), milliseconds: the server's added
    /// latency plus loopback twice plus the voice thread's own turn (up to
    /// 1 ms pacing, more when it is saturated): an upper bound of the
    /// server's part.
    #[serde(default)]
    pub one_way_ms_p50: f64,
    /// The 99th percentile of the same.
    #[serde(default)]
    pub one_way_ms_p99: f64,
    /// The server's own figure over the measurement window: from a
    /// speaker's datagram read off the voice socket to each forwarded copy
    /// handed to the kernel (its `meridian_voice_forward_delay_seconds`),
    /// median in milliseconds, as the buckets allow; none when it could not
    /// be read.
    #[serde(default)]
    pub server_forward_ms_p50: Option<f64>,
    /// The 99th percentile of the same.
    #[serde(default)]
    pub server_forward_ms_p99: Option<f64>,
}

impl VoiceFigures {
    /// Adds a report of a loadbot that ran beside this one; the rates keep
    /// the smaller minimum, the larger maximum and the larger median.
    pub fn merge(&mut self, other: &Self) {
        self.offers += other.offers;
        self.answers += other.answers;
        self.refused += other.refused;
        self.sessions_up += other.sessions_up;
        self.speakers += other.speakers;
        self.packets_sent += other.packets_sent;
        self.bytes_sent += other.bytes_sent;
        self.packets_received += other.packets_received;
        self.bytes_received += other.bytes_received;
        self.listeners_hearing += other.listeners_hearing;
        self.receive_rate_min = self.receive_rate_min.min(other.receive_rate_min);
        self.receive_rate_p50 = self.receive_rate_p50.max(other.receive_rate_p50);
        self.receive_rate_max = self.receive_rate_max.max(other.receive_rate_max);
        self.one_way_ms_p50 = self.one_way_ms_p50.max(other.one_way_ms_p50);
        self.one_way_ms_p99 = self.one_way_ms_p99.max(other.one_way_ms_p99);
        self.server_forward_ms_p50 = self.server_forward_ms_p50.or(other.server_forward_ms_p50);
        self.server_forward_ms_p99 = self.server_forward_ms_p99.or(other.server_forward_ms_p99);
    }

    /// The report's voice lines.
    pub fn to_text(&self) -> String {
        format!(
            "voice: {} offers, {} answered, {} refused, {} sessions up ({} speakers)\n\
             voice: {} packets sent ({} bytes), {} received ({} bytes), {} bots hearing\n\
             voice: packets/s received per bot min {:.1} p50 {:.1} max {:.1}\n\
             voice: speaker to listener p50 {:.2} p99 {:.2} ms\n\
             voice: inside the server (its forward-delay histogram) p50 {} p99 {} ms\n",
            self.offers,
            self.answers,
            self.refused,
            self.sessions_up,
            self.speakers,
            self.packets_sent,
            self.bytes_sent,
            self.packets_received,
            self.bytes_received,
            self.listeners_hearing,
            self.receive_rate_min,
            self.receive_rate_p50,
            self.receive_rate_max,
            self.one_way_ms_p50,
            self.one_way_ms_p99,
            milliseconds(self.server_forward_ms_p50),
            milliseconds(self.server_forward_ms_p99),
        )
    }
}

/// A figure in milliseconds, or `-` when there is none.
fn milliseconds(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |ms| format!("{ms:.2}"))
}

/// What the bots and the voice thread share.
#[derive(Debug)]
pub struct VoiceHub {
    /// Send times in payloads are nanoseconds since this instant.
    epoch: Instant,
    incoming: Mutex<Vec<VoicePeer>>,
    stop: AtomicBool,
    offers: AtomicU64,
    answers: AtomicU64,
    refused: AtomicU64,
}

impl VoiceHub {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            incoming: Mutex::default(),
            stop: AtomicBool::new(false),
            offers: AtomicU64::new(0),
            answers: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }
}

/// One WebRTC peer of a bot.
#[derive(Debug)]
pub struct VoicePeer {
    rtc: Rtc,
    socket: UdpSocket,
    local: SocketAddr,
    pending: Option<SdpPendingOffer>,
    microphone: Mid,
    speaker: bool,
    connected_at: Option<Instant>,
    next_send: Option<Instant>,
    /// When str0m next wants the time (its last `Output::Timeout`).
    deadline: Instant,
    index: u32,
    failed: bool,
    packets_sent: u64,
    bytes_sent: u64,
    packets_received: u64,
    bytes_received: u64,
}

impl VoicePeer {
    /// A peer with one microphone line and `slots` listening lines, and its
    /// offer.
    fn new(now: Instant, slots: usize, speaker: bool) -> std::io::Result<(Self, String)> {
        let socket = UdpSocket::bind("127.0.0.1:0".parse().map_err(std::io::Error::other)?)?;
        let local = socket.local_addr()?;
        // Packets are counted and timed as they arrive, not held behind a
        // lost one (str0m's default holds up to 15 audio packets).
        let mut rtc = Rtc::builder()
            .clear_codecs()
            .enable_opus(true, false)
            .set_reordering_size_audio(0)
            .build(now);
        let candidate = Candidate::host(local, "udp").map_err(std::io::Error::other)?;
        rtc.add_local_candidate(candidate);
        let mut api = rtc.sdp_api();
        let microphone = api.add_media(MediaKind::Audio, Direction::SendOnly, None, None, None);
        for _ in 0..slots {
            api.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
        }
        let (offer, pending) = api
            .apply()
            .ok_or_else(|| std::io::Error::other("no offer"))?;
        let peer = Self {
            rtc,
            socket,
            local,
            pending: Some(pending),
            microphone,
            speaker,
            connected_at: None,
            next_send: None,
            deadline: now,
            index: 0,
            failed: false,
            packets_sent: 0,
            bytes_sent: 0,
            packets_received: 0,
            bytes_received: 0,
        };
        Ok((peer, offer.to_sdp_string()))
    }

    fn accept_answer(&mut self, answer: &str) -> bool {
        let Ok(answer) = SdpAnswer::from_sdp_string(answer) else {
            return false;
        };
        let Some(pending) = self.pending.take() else {
            return false;
        };
        self.rtc.sdp_api().accept_answer(pending, answer).is_ok()
    }

    /// Writes the due Opus packets of a connected speaker; whether it wrote.
    fn speak(&mut self, now: Instant, epoch: Instant) -> bool {
        let (Some(_), true) = (self.connected_at, self.speaker) else {
            return false;
        };
        let next = self.next_send.get_or_insert(now);
        let mut sent = 0;
        while *next <= now && sent < MAX_CATCH_UP {
            sent += 1;
            *next += PACKET_INTERVAL;
            let mut payload = vec![0xA5; PAYLOAD_BYTES];
            payload[0] = OPUS_TOC;
            payload[1..5].copy_from_slice(&self.index.to_be_bytes());
            let stamp =
                u64::try_from(Instant::now().duration_since(epoch).as_nanos()).unwrap_or(u64::MAX);
            payload[5..13].copy_from_slice(&stamp.to_be_bytes());
            let Some(writer) = self.rtc.writer(self.microphone) else {
                return sent > 1;
            };
            let Some(pt) = writer
                .payload_params()
                .find(|params| params.spec().codec == Codec::Opus)
                .map(|params| params.pt())
            else {
                return sent > 1;
            };
            let rtp_time = MediaTime::new(u64::from(self.index) * 960, Frequency::FORTY_EIGHT_KHZ);
            if writer
                .audio_level(SPEAKER_LEVEL, true)
                .write(pt, now, rtp_time, payload)
                .is_ok()
            {
                self.packets_sent += 1;
                self.bytes_sent += PAYLOAD_BYTES as u64;
            }
            self.index = self.index.wrapping_add(1);
        }
        if *next <= now {
            // Too far behind: skip rather than burst.
            *next = now + PACKET_INTERVAL;
        }
        sent > 0
    }

    /// When the peer next needs a turn: str0m's deadline or a speaker's
    /// next packet, whichever is first.
    fn wake_at(&self) -> Instant {
        match (self.connected_at, self.speaker, self.next_send) {
            (Some(_), true, Some(next)) => next.min(self.deadline),
            (Some(_), true, None) => Instant::now(),
            _ => self.deadline,
        }
    }

    /// Takes what arrived (when the socket said so), writes the due packets
    /// and gives str0m the time when it asked for it or a packet was
    /// written; sends what is queued.
    fn turn(
        &mut self,
        now: Instant,
        readable: bool,
        buffer: &mut [u8],
        epoch: Instant,
        delays: &mut Histogram<u64>,
    ) {
        if self.failed {
            return;
        }
        if readable {
            loop {
                match self.socket.recv_from(buffer) {
                    Ok((length, from)) => {
                        let Ok(receive) =
                            Receive::new(Protocol::Udp, from, self.local, &buffer[..length])
                        else {
                            continue;
                        };
                        if self.rtc.handle_input(Input::Receive(now, receive)).is_err() {
                            self.failed = true;
                            return;
                        }
                        self.drain(epoch, delays);
                    }
                    Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => break,
                }
            }
        }
        let wrote = self.speak(now, epoch);
        if wrote || self.deadline <= now {
            // str0m sends a written packet when it is next given the time.
            if self.rtc.handle_input(Input::Timeout(now)).is_err() {
                self.failed = true;
                return;
            }
            self.drain(epoch, delays);
        }
    }

    fn drain(&mut self, epoch: Instant, delays: &mut Histogram<u64>) {
        loop {
            match self.rtc.poll_output() {
                Err(_) => {
                    self.failed = true;
                    return;
                }
                Ok(Output::Timeout(at)) => {
                    self.deadline = at;
                    return;
                }
                Ok(Output::Transmit(transmit)) => {
                    // A full buffer drops the datagram, as a network would.
                    let _ = self
                        .socket
                        .send_to(&transmit.contents, transmit.destination);
                }
                Ok(Output::Event(Event::Connected)) => {
                    self.connected_at.get_or_insert_with(Instant::now);
                }
                Ok(Output::Event(Event::MediaData(data))) => {
                    self.packets_received += 1;
                    self.bytes_received += data.data.len() as u64;
                    if let Some(stamp) = data.data.get(5..13) {
                        let mut bytes = [0u8; 8];
                        bytes.copy_from_slice(stamp);
                        let sent = epoch + Duration::from_nanos(u64::from_be_bytes(bytes));
                        let micros = Instant::now().saturating_duration_since(sent).as_micros();
                        delays.saturating_record(u64::try_from(micros).unwrap_or(u64::MAX));
                    }
                }
                Ok(Output::Event(_)) => {}
            }
        }
    }
}

/// A bot's side of voice, driven from its behaviour on the client loop.
#[derive(Debug)]
pub struct BotVoice {
    hub: Arc<VoiceHub>,
    speaker: bool,
    slots: usize,
    state: BotVoiceState,
}

#[derive(Debug)]
enum BotVoiceState {
    Off,
    Offered(Box<VoicePeer>),
    Done,
}

impl BotVoice {
    /// A bot's voice side; `speaker` sends, every one listens.
    pub fn new(hub: Arc<VoiceHub>, speaker: bool, slots: usize) -> Self {
        Self {
            hub,
            speaker,
            slots,
            state: BotVoiceState::Off,
        }
    }

    /// Each tick: offers once welcomed, then takes the server's answer.
    pub fn on_tick(&mut self, client: &mut Client, now: Instant) {
        if client.welcome().is_none() {
            return;
        }
        if matches!(self.state, BotVoiceState::Off) {
            match VoicePeer::new(now, self.slots, self.speaker) {
                Ok((peer, sdp)) => {
                    client.send_voice(ClientMessage::VoiceOffer(VoiceOffer { sdp }));
                    self.hub.offers.fetch_add(1, Ordering::Relaxed);
                    self.state = BotVoiceState::Offered(Box::new(peer));
                }
                Err(_) => self.state = BotVoiceState::Done,
            }
        }
        while let Some(message) = client.poll_voice() {
            match message {
                ServerMessage::VoiceAnswer(answer) => {
                    let state = std::mem::replace(&mut self.state, BotVoiceState::Done);
                    if let BotVoiceState::Offered(mut peer) = state {
                        self.hub.answers.fetch_add(1, Ordering::Relaxed);
                        if peer.accept_answer(&answer.sdp) {
                            self.hub
                                .incoming
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .push(*peer);
                        }
                    }
                }
                ServerMessage::VoiceRefused(_) => {
                    self.hub.refused.fetch_add(1, Ordering::Relaxed);
                    self.state = BotVoiceState::Done;
                }
                _ => {}
            }
        }
    }
}

/// The voice thread: drives every handed-over peer until stopped.
#[derive(Debug)]
pub struct VoiceThread {
    hub: Arc<VoiceHub>,
    handle: JoinHandle<(Vec<VoicePeer>, Histogram<u64>)>,
}

impl VoiceThread {
    /// Starts the thread.
    pub fn spawn() -> std::io::Result<Self> {
        let hub = Arc::new(VoiceHub::new());
        let shared = hub.clone();
        let handle = std::thread::Builder::new()
            .name(VOICE_THREAD.into())
            .spawn(move || drive(&shared))?;
        Ok(Self { hub, handle })
    }

    /// What the bots share with the thread.
    pub fn hub(&self) -> &Arc<VoiceHub> {
        &self.hub
    }

    /// Stops the thread and sums up.
    pub fn finish(self) -> VoiceFigures {
        self.hub.stop.store(true, Ordering::Relaxed);
        let (peers, delays) = self
            .handle
            .join()
            .unwrap_or_else(|_| (Vec::new(), delay_histogram()));
        let end = Instant::now();
        let mut figures = VoiceFigures {
            offers: self.hub.offers.load(Ordering::Relaxed),
            answers: self.hub.answers.load(Ordering::Relaxed),
            refused: self.hub.refused.load(Ordering::Relaxed),
            one_way_ms_p50: delays.value_at_quantile(0.5) as f64 / 1e3,
            one_way_ms_p99: delays.value_at_quantile(0.99) as f64 / 1e3,
            ..VoiceFigures::default()
        };
        let mut rates = Vec::new();
        for peer in &peers {
            figures.packets_sent += peer.packets_sent;
            figures.bytes_sent += peer.bytes_sent;
            figures.packets_received += peer.packets_received;
            figures.bytes_received += peer.bytes_received;
            figures.listeners_hearing += u64::from(peer.packets_received > 0);
            if let Some(at) = peer.connected_at {
                figures.sessions_up += 1;
                figures.speakers += u64::from(peer.speaker);
                let seconds = end.duration_since(at).as_secs_f64();
                if seconds > 0.0 {
                    rates.push(peer.packets_received as f64 / seconds);
                }
            }
        }
        rates.sort_by(f64::total_cmp);
        if let (Some(first), Some(last)) = (rates.first(), rates.last()) {
            figures.receive_rate_min = *first;
            figures.receive_rate_max = *last;
            figures.receive_rate_p50 = rates[rates.len() / 2];
        }
        figures
    }
}

/// The voice thread's body: waits for a socket or the first deadline,
/// then turns the peers that are readable or due.
fn drive(hub: &VoiceHub) -> (Vec<VoicePeer>, Histogram<u64>) {
    let mut peers: Vec<VoicePeer> = Vec::new();
    let mut readable: Vec<bool> = Vec::new();
    let mut buffer = vec![0u8; 2_000];
    // Microseconds, up to 60 s, 3 significant digits.
    let mut delays = delay_histogram();
    let Ok(mut poll) = Poll::new() else {
        return (peers, delays);
    };
    let mut events = Events::with_capacity(1_024);
    while !hub.stop.load(Ordering::Relaxed) {
        let arrived =
            std::mem::take(&mut *hub.incoming.lock().unwrap_or_else(PoisonError::into_inner));
        for mut peer in arrived {
            let token = Token(peers.len());
            if poll
                .registry()
                .register(&mut peer.socket, token, Interest::READABLE)
                .is_err()
            {
                peer.failed = true;
            }
            peers.push(peer);
            // A new socket may hold datagrams from before it was watched.
            readable.push(true);
        }
        let now = Instant::now();
        let first = peers
            .iter()
            .filter(|peer| !peer.failed)
            .map(VoicePeer::wake_at)
            .min()
            .unwrap_or(now + LONGEST_WAIT);
        let wait = first.saturating_duration_since(now).min(LONGEST_WAIT);
        if poll.poll(&mut events, Some(wait)).is_err() {
            std::thread::sleep(Duration::from_millis(1));
        }
        for event in &events {
            if let Some(flag) = readable.get_mut(event.token().0) {
                *flag = true;
            }
        }
        let now = Instant::now();
        for (peer, flag) in peers.iter_mut().zip(readable.iter_mut()) {
            if *flag || peer.wake_at() <= now {
                peer.turn(
                    now,
                    std::mem::take(flag),
                    &mut buffer,
                    hub.epoch,
                    &mut delays,
                );
            }
        }
    }
    (peers, delays)
}

/// Microseconds from 1 µs to 60 s, three significant figures.
fn delay_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}
