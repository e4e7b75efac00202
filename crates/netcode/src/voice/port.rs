//! The voice port: one thread that owns the voice UDP socket and the
//! [`Sfu`], exchanging work with the rest of the server in batches.
//!
//! The thread waits in `mio` for the socket, the next timer of the forwarding
//! unit, or a wake-up from [`VoicePort::submit`]; each turn it takes the
//! submitted commands under one lock, reads the datagrams that arrived a
//! batch at a time (`recvmmsg` through `quinn-udp`) and sends each batch's
//! copies at once (`sendmmsg`, [`SendBatch`]), runs due timers, and
//! publishes outcomes (answers, events), counters and audio levels under one
//! lock each. No task or channel per session; the simulation never waits on
//! it.

use std::collections::HashMap;
use std::io::{self, ErrorKind, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::config::VoiceConfig;
use super::counters::RoomTraffic;
use super::counters::VoiceCounters;
use super::delay::ForwardDelays;
use super::error::OfferError;
use super::routing::{ParticipantId, Routing};
use super::selection::InstanceKey;
use super::sfu::{RelayedPacket, Sfu, VoiceEvent};
use crate::transport::send_batch::{MAX_MESSAGES, SendBatch};

const SOCKET: mio::Token = mio::Token(0);
const WAKER: mio::Token = mio::Token(1);

/// Outcomes held for the taker before further events are dropped (counted
/// in [`VoicePortStats::outcomes_dropped`]); answers are always kept.
pub const MAX_PENDING_OUTCOMES: usize = 1 << 16;

/// The longest the thread sleeps with nothing to do, so that a stop is
/// noticed even if a wake-up were lost.
const IDLE_WAIT: Duration = Duration::from_millis(250);

/// How often the speakers' audio levels and the rooms' traffic are published
/// (levels are read once per tick; collecting them is a pass over every
/// session).
const LEVELS_EVERY: Duration = Duration::from_millis(50);

/// The most receive batches (`recvmmsg` calls) one turn reads before it runs
/// the forwarding unit's timers, takes commands and publishes its figures:
/// up to 8 × 32 datagrams, a few milliseconds of work at most.
const RECEIVE_BATCHES_PER_TURN: usize = 8;

/// Work for the voice thread.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum VoiceCommand {
    /// Open `participant`'s session from its SDP offer; answered by a
    /// [`VoiceOutcome::Answer`].
    Offer {
        /// Whose.
        participant: ParticipantId,
        /// The SDP offer.
        sdp: String,
        /// The room (instance) its traffic is counted under.
        room: InstanceKey,
    },
    /// End `participant`'s session.
    Close {
        /// Whose.
        participant: ParticipantId,
    },
    /// Who hears whom from now on (only the last of a batch counts).
    Route(Routing),
    /// Which speakers cross between this port and other shards' (see
    /// [`Sfu::set_relay`]); before the batch's `Route`.
    Relay {
        /// Speakers with sessions at other ports whom listeners here hear.
        remote: Vec<ParticipantId>,
        /// Speakers here whom listeners at other ports hear.
        exported: Vec<ParticipantId>,
    },
    /// Packets of remote speakers, relayed from their ports; written after
    /// the batch's `Route`.
    Relayed(Vec<RelayedPacket>),
    /// The room (instance) stopped: its traffic figures go (see
    /// [`Sfu::forget_room`]).
    ForgetRoom(InstanceKey),
}

/// What the voice thread reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum VoiceOutcome {
    /// The answer to an offer, or why it was refused.
    Answer {
        /// Whose offer.
        participant: ParticipantId,
        /// The SDP answer.
        answer: Result<String, OfferError>,
    },
    /// An event of the forwarding unit.
    Event(VoiceEvent),
}

/// The voice thread's figures, published every turn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VoicePortStats {
    /// The forwarding unit's counters.
    pub counters: VoiceCounters,
    /// Datagrams the socket would not take (its buffer full).
    pub send_would_block: u64,
    /// Datagrams the socket refused for another reason.
    pub send_failures: u64,
    /// Events dropped because nobody took outcomes.
    pub outcomes_dropped: u64,
    /// Per forwarded copy, from its speaker's datagram read off the socket
    /// to the copy handed to the kernel.
    pub forward_delay: ForwardDelays,
}

#[derive(Debug)]
struct Shared {
    commands: Mutex<Vec<VoiceCommand>>,
    outcomes: Mutex<Vec<VoiceOutcome>>,
    stats: Mutex<VoicePortStats>,
    levels: Mutex<Vec<(ParticipantId, i8)>>,
    rooms: Mutex<HashMap<InstanceKey, RoomTraffic>>,
    outcomes_dropped: AtomicU64,
    stopping: AtomicBool,
    waker: mio::Waker,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind;
    // the next turn overwrites or drains it.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The voice port's thread and the handle to exchange work with it.
#[derive(Debug)]
pub struct VoicePort {
    shared: Arc<Shared>,
    local: SocketAddr,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl VoicePort {
    /// Binds `address` (a specific IP: it is announced to clients as the ICE
    /// host candidate) and starts the thread `meridian-voice`.
    pub fn start(config: VoiceConfig, address: SocketAddr) -> io::Result<Self> {
        let socket = UdpSocket::bind(address)?;
        let local = socket.local_addr()?;
        let mut turn = Turn::new(config, socket)?;
        let shared = Arc::clone(&turn.shared);
        let thread = std::thread::Builder::new()
            .name("meridian-voice".into())
            .spawn(move || turn.run())?;
        Ok(Self {
            shared,
            local,
            thread: Some(thread),
        })
    }

    /// The address of the voice port.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Hands `commands` to the thread under one lock and wakes it once.
    pub fn submit(&self, commands: impl IntoIterator<Item = VoiceCommand>) {
        lock(&self.shared.commands).extend(commands);
        // A failed wake-up is covered by the thread's idle wait.
        let _ = self.shared.waker.wake();
    }

    /// Moves every outcome so far into `into`.
    pub fn take_outcomes(&self, into: &mut Vec<VoiceOutcome>) {
        into.append(&mut lock(&self.shared.outcomes));
    }

    /// The figures of the last turn.
    pub fn stats(&self) -> VoicePortStats {
        let mut stats = *lock(&self.shared.stats);
        stats.outcomes_dropped = self.shared.outcomes_dropped.load(Ordering::Relaxed);
        stats
    }

    /// The speakers' current audio levels (see [`Sfu::audio_level`]), as
    /// published at most every 50 ms.
    pub fn audio_levels(&self) -> Vec<(ParticipantId, i8)> {
        lock(&self.shared.levels).clone()
    }

    /// The traffic of `room`'s sessions (see [`Sfu::room_traffic`]), as
    /// published at most every 50 ms; zero for a room that never had one.
    pub fn room_traffic(&self, room: InstanceKey) -> RoomTraffic {
        lock(&self.shared.rooms)
            .get(&room)
            .copied()
            .unwrap_or_default()
    }

    /// Stops the thread and waits for it; returns its error, if it failed.
    pub fn stop(mut self) -> io::Result<()> {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> io::Result<()> {
        self.shared.stopping.store(true, Ordering::Release);
        let _ = self.shared.waker.wake();
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("the voice thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for VoicePort {
    fn drop(&mut self) {
        let _ = self.stop_thread();
    }
}

/// The thread's own state.
struct Turn {
    sfu: Sfu,
    socket: UdpSocket,
    state: quinn_udp::UdpSocketState,
    /// One receive batch's buffers and what each holds.
    buffers: Vec<Vec<u8>>,
    metas: Vec<quinn_udp::RecvMeta>,
    /// Datagrams for the next `sendmmsg` calls, and for each, when the
    /// speaker's datagram it forwards was read (`None` for the rest).
    outgoing: SendBatch,
    outgoing_received: Vec<Option<Instant>>,
    /// How many of those datagrams each queued transmit carries (several
    /// when consecutive copies to one peer went as GSO segments).
    outgoing_copies: Vec<usize>,
    /// The most GSO segments the socket sends in one transmit (1: no GSO).
    gso_segments: usize,
    poll: mio::Poll,
    shared: Arc<Shared>,
    commands: Vec<VoiceCommand>,
    stats: VoicePortStats,
    levels_published: Option<Instant>,
}

impl Turn {
    /// The thread's state around `socket` (bound, made non-blocking here).
    fn new(config: VoiceConfig, socket: UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let sfu = Sfu::new(config, local)
            .map_err(|error| io::Error::new(ErrorKind::InvalidInput, error))?;
        let (poll, waker) = crate::transport::udp::readable_poll(&socket, SOCKET, WAKER)?;
        let shared = Arc::new(Shared {
            commands: Mutex::new(Vec::new()),
            outcomes: Mutex::new(Vec::new()),
            stats: Mutex::new(VoicePortStats::default()),
            levels: Mutex::new(Vec::new()),
            rooms: Mutex::new(HashMap::new()),
            outcomes_dropped: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            waker,
        });
        let state = quinn_udp::UdpSocketState::new((&socket).into())?;
        // Speakers' packets must not be lost while a batch is forwarded.
        crate::transport::udp::grow_socket_buffers(&state, &socket);
        // With GRO the kernel may hand several datagrams of one size from
        // one peer in one buffer; a buffer also fits the largest datagram
        // the forwarding unit takes, and one more byte to see it refused.
        let buffer = (1500 * state.gro_segments().max(1)).max(super::demux::MAX_DATAGRAM + 1);
        let gso_segments = state.max_gso_segments().max(1);
        Ok(Self {
            sfu,
            socket,
            state,
            buffers: vec![vec![0; buffer]; quinn_udp::BATCH_SIZE],
            metas: vec![quinn_udp::RecvMeta::default(); quinn_udp::BATCH_SIZE],
            outgoing: SendBatch::default(),
            outgoing_received: Vec::new(),
            outgoing_copies: Vec::new(),
            gso_segments,
            poll,
            shared,
            commands: Vec::new(),
            stats: VoicePortStats::default(),
            levels_published: None,
        })
    }

    fn run(&mut self) -> io::Result<()> {
        let mut events = mio::Events::with_capacity(8);
        let mut outcomes = Vec::new();
        let mut more_waiting = false;
        while !self.shared.stopping.load(Ordering::Acquire) {
            let wait = if more_waiting {
                Duration::ZERO
            } else {
                self.sfu.poll_timeout().map_or(IDLE_WAIT, |at| {
                    at.saturating_duration_since(Instant::now()).min(IDLE_WAIT)
                })
            };
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
            let now = Instant::now();
            self.take_commands(now, &mut outcomes);
            self.send();
            more_waiting = self.receive()?;
            let now = Instant::now();
            if self.sfu.poll_timeout().is_some_and(|at| at <= now) {
                self.sfu.handle_timeout(now);
            }
            self.send();
            while let Some(event) = self.sfu.poll_event() {
                outcomes.push(VoiceOutcome::Event(event));
            }
            self.publish(now, &mut outcomes);
        }
        Ok(())
    }

    fn take_commands(&mut self, now: Instant, outcomes: &mut Vec<VoiceOutcome>) {
        std::mem::swap(&mut self.commands, &mut lock(&self.shared.commands));
        let mut routing = None;
        let mut relayed = Vec::new();
        for command in self.commands.drain(..) {
            match command {
                VoiceCommand::Offer {
                    participant,
                    sdp,
                    room,
                } => {
                    let answer = self.sfu.handle_offer(now, participant, &sdp);
                    if answer.is_ok() {
                        self.sfu.place_in_room(participant, room);
                    }
                    outcomes.push(VoiceOutcome::Answer {
                        participant,
                        answer,
                    });
                }
                VoiceCommand::Close { participant } => self.sfu.close_session(participant),
                VoiceCommand::Route(next) => routing = Some(next),
                VoiceCommand::Relay { remote, exported } => self.sfu.set_relay(remote, exported),
                VoiceCommand::Relayed(packets) => relayed.extend(packets),
                VoiceCommand::ForgetRoom(room) => self.sfu.forget_room(room),
            }
        }
        if let Some(routing) = routing {
            self.sfu.set_routing(&routing);
        }
        for packet in relayed.drain(..) {
            self.sfu.handle_relayed(now, &packet);
        }
    }

    /// Reads what arrived, a batch (one system call) at a time, and sends
    /// each batch's copies before reading the next, so that a busy socket
    /// does not hold back what is already forwarded. Stops after
    /// [`RECEIVE_BATCHES_PER_TURN`] batches, so that a socket that never
    /// empties cannot starve the turn's timers, commands and published
    /// figures; `true` when it stopped with datagrams possibly waiting.
    fn receive(&mut self) -> io::Result<bool> {
        for _ in 0..RECEIVE_BATCHES_PER_TURN {
            let mut slices: Vec<IoSliceMut<'_>> = self
                .buffers
                .iter_mut()
                .map(|buffer| IoSliceMut::new(buffer))
                .collect();
            let filled = match self
                .state
                .recv((&self.socket).into(), &mut slices, &mut self.metas)
            {
                Ok(filled) => filled,
                Err(error) if error.kind() == ErrorKind::WouldBlock => return Ok(false),
                // An ICMP error from an earlier send, reported on Linux as
                // a refused connection: not this socket's fault.
                Err(error)
                    if matches!(
                        error.kind(),
                        ErrorKind::ConnectionRefused
                            | ErrorKind::ConnectionReset
                            | ErrorKind::Interrupted
                    ) =>
                {
                    continue;
                }
                Err(error) => return Err(error),
            };
            drop(slices);
            // Read off the socket now: the start of their forwarding delay.
            let read_at = Instant::now();
            for (meta, buffer) in self.metas.iter().zip(&self.buffers).take(filled) {
                let stride = if meta.stride == 0 {
                    meta.len
                } else {
                    meta.stride
                };
                for datagram in buffer[..meta.len].chunks(stride.max(1)) {
                    self.sfu.handle_datagram(read_at, meta.addr, datagram);
                }
            }
            self.send();
        }
        Ok(true)
    }

    /// Hands the kernel everything the forwarding unit has to send, up to
    /// [`MAX_MESSAGES`] datagrams per `sendmmsg`.
    fn send(&mut self) {
        // A listener's copies come out of its session back to back: those
        // of one size go as the GSO segments of one transmit.
        while let Some(transmit) = self.sfu.poll_transmit() {
            let joined = self.outgoing.push_coalescing(
                transmit.destination,
                &transmit.contents,
                self.gso_segments,
            );
            self.outgoing_received.push(transmit.received);
            match self.outgoing_copies.last_mut() {
                Some(copies) if joined => *copies += 1,
                _ => self.outgoing_copies.push(1),
            }
            if self.outgoing.len() >= MAX_MESSAGES {
                self.flush();
            }
        }
        self.flush();
    }

    fn flush(&mut self) {
        if self.outgoing.is_empty() {
            return;
        }
        let flushed = self.outgoing.flush(&self.socket);
        let sent_at = Instant::now();
        self.stats.send_would_block += flushed.would_block;
        self.stats.send_failures += flushed.failed;
        // A full send buffer drops the rest of a batch: the copies before
        // it were handed to the kernel (a message refused for another
        // reason is rare and still timed).
        let transmits_handed = self
            .outgoing_copies
            .len()
            .saturating_sub(flushed.would_block as usize);
        let handed: usize = self.outgoing_copies[..transmits_handed].iter().sum();
        for received in self.outgoing_received[..handed].iter().flatten() {
            self.stats
                .forward_delay
                .observe(sent_at.saturating_duration_since(*received));
        }
        self.outgoing_received.clear();
        self.outgoing_copies.clear();
    }

    fn publish(&mut self, now: Instant, outcomes: &mut Vec<VoiceOutcome>) {
        if !outcomes.is_empty() {
            let mut shared = lock(&self.shared.outcomes);
            for outcome in outcomes.drain(..) {
                let is_answer = matches!(outcome, VoiceOutcome::Answer { .. });
                if is_answer || shared.len() < MAX_PENDING_OUTCOMES {
                    shared.push(outcome);
                } else {
                    self.shared.outcomes_dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        self.stats.counters = self.sfu.counters();
        *lock(&self.shared.stats) = self.stats;
        if self
            .levels_published
            .is_some_and(|at| now.saturating_duration_since(at) < LEVELS_EVERY)
        {
            return;
        }
        self.levels_published = Some(now);
        let mut levels = lock(&self.shared.levels);
        levels.clear();
        levels.extend(self.sfu.audio_levels(now));
        drop(levels);
        let mut rooms = lock(&self.shared.rooms);
        rooms.clear();
        rooms.extend(self.sfu.room_traffic());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A flood that keeps the socket full must not keep the turn reading:
    /// one turn reads a bounded number of batches and says more is waiting.
    #[test]
    fn a_turn_reads_a_bounded_number_of_batches() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        let mut turn = Turn::new(VoiceConfig::default(), socket).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let per_turn = RECEIVE_BATCHES_PER_TURN * quinn_udp::BATCH_SIZE;
        let flood = per_turn * 3;
        for n in 0..flood {
            // Sizes vary so that GRO cannot merge them; none is valid.
            sender.send_to(&vec![0xEE; 20 + n % 7], address).unwrap();
        }
        std::thread::sleep(Duration::from_millis(50));
        assert!(turn.receive().unwrap(), "stopped with more waiting");
        let first = turn.sfu.counters().datagrams_in;
        assert!(
            first > 0 && first <= per_turn as u64,
            "one turn read {first} of {flood} (at most {per_turn})"
        );
        let mut turns = 1;
        while turn.receive().unwrap() {
            turns += 1;
            assert!(turns < 100, "the flood ends");
        }
        assert_eq!(turn.sfu.counters().datagrams_in, flood as u64);
        assert!(turns >= 3, "{turns} turns for {flood} datagrams");
    }
}
