//! Each bot's way through a run: a join over HTTP for a fresh realtime token
//! (a short tokio task), a connection on the client loop's thread, and, with
//! `--reconnect`, joins again through the next server when the connection is
//! lost; then the outcome it brings home.
//!
//! The roster lives on the async side. Between joins a bot is on the loop's
//! thread (its [`Bot`] is the connection's behaviour); it comes back when its
//! connection ends, through the one channel the loop reports ends on.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use meridian_netcode::driver::client::Ending;
use meridian_netcode::driver::tls::{parse_sha256_hex, pinned_client_config};
use meridian_netcode::transport::client_loop::{
    ClientConfig, ClientLoopInbox, ConnectRequest, Ended,
};
use meridian_netcode::{Client, ClientPhase, ClientStats};
use tokio::task::{Id, JoinError, JoinSet};

use crate::account::{AccountError, Credentials, Join, Session};
use crate::bot::{BehaviourKind, Bot};
use crate::rooms::FirstJoin;
use crate::samples::Recorder;

/// How long a bot's handshake may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Waited before joining again after a failed join or connection.
const RETRY_AFTER: Duration = Duration::from_millis(200);

/// How long a bot that lost its connection (or was moved) may take to get
/// back in before its session counts as dropped.
pub(crate) const REJOIN_WITHIN: Duration = Duration::from_secs(30);

/// The protocol client's heartbeat and idle timeout.
const HEARTBEAT: Duration = Duration::from_secs(1);
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Live counts for the progress line.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) connected: Arc<AtomicUsize>,
    pub(crate) failed: AtomicUsize,
    pub(crate) dropped: AtomicUsize,
    pub(crate) snapshots: Arc<AtomicU64>,
}

/// What one bot brings home.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) bot: Option<Bot>,
    pub(crate) client_stats: Option<ClientStats>,
    pub(crate) seconds_connected: f64,
    pub(crate) error: Option<String>,
    pub(crate) dropped: bool,
    /// The bot's first join that was answered: when it was sent, which room.
    pub(crate) first_join: Option<FirstJoin>,
}

/// Where bots join: the servers, the space each hosts, the client
/// configuration pinning each one's certificate, and the loop's sockets.
#[derive(Debug)]
pub(crate) struct Routes {
    pub(crate) servers: Vec<SocketAddr>,
    pub(crate) spaces: Vec<i64>,
    pub(crate) configs: Vec<ClientConfig>,
    /// The first socket of each address family's group (IPv4, IPv6).
    pub(crate) socket_groups: [usize; 2],
    /// Sockets per group.
    pub(crate) endpoints: usize,
    /// The accounts' prefix.
    pub(crate) accounts: String,
    pub(crate) reconnect: bool,
}

/// One bot between joins and connections.
#[derive(Debug)]
struct Slot {
    /// Away while a join task holds it.
    session: Option<Session>,
    /// Away while the loop drives it.
    bot: Option<Bot>,
    attempt: usize,
    totals: ClientStats,
    outcome: Option<Outcome>,
    first_join: Option<FirstJoin>,
}

/// A join that finished: the bot, its session back, the answer, and when
/// the join request was sent (after logging in).
type Joined = (usize, Session, Result<Join, AccountError>, Instant);

/// Something the roster has to act on.
enum Step {
    Joined(Result<(Id, Joined), JoinError>),
    Ended(Box<Ended<Bot>>),
}

/// Every bot of the run.
pub(crate) struct Roster {
    routes: Routes,
    slots: Vec<Slot>,
    joins: JoinSet<Joined>,
    /// Which bot each join task is for (to fail the right one on a panic).
    join_tasks: HashMap<Id, usize>,
    inbox: Arc<ClientLoopInbox<Bot>>,
    progress: Arc<Progress>,
    tick: Duration,
    deadline: Instant,
    remaining: usize,
    /// Client configurations pinned to the certificates joins named: a join
    /// sent on to another shard (a 421), or made after a shard restarted,
    /// connects to a certificate the run did not see at its start.
    pinned: HashMap<[u8; 32], ClientConfig>,
}

impl Roster {
    /// These bots (bot `i` logs in as account `i`) for a run ending at
    /// `deadline`, connecting through `inbox`.
    pub(crate) fn new(
        routes: Routes,
        bots: Vec<Bot>,
        inbox: Arc<ClientLoopInbox<Bot>>,
        progress: Arc<Progress>,
        tick: Duration,
        deadline: Instant,
    ) -> Self {
        let slots: Vec<Slot> = bots
            .into_iter()
            .enumerate()
            .map(|(index, bot)| Slot {
                session: Some(Session::new(Credentials::for_bot(&routes.accounts, index))),
                bot: Some(bot),
                attempt: 0,
                totals: ClientStats::default(),
                outcome: None,
                first_join: None,
            })
            .collect();
        Self {
            remaining: slots.len(),
            routes,
            slots,
            joins: JoinSet::new(),
            join_tasks: HashMap::new(),
            inbox,
            progress,
            tick,
            deadline,
            pinned: HashMap::new(),
        }
    }

    /// The client configuration for a join's game server: pinned to the
    /// certificate the join answer names, else the one `server` had at the
    /// start of the run.
    fn config_for(&mut self, certificate_sha256: &str, server: usize) -> ClientConfig {
        let Some(hash) = parse_sha256_hex(certificate_sha256) else {
            return self.routes.configs[server].clone();
        };
        if let Some(config) = self.pinned.get(&hash) {
            return config.clone();
        }
        match pinned_client_config(hash, IDLE_TIMEOUT) {
            Ok(config) => {
                self.pinned.insert(hash, config.clone());
                config
            }
            Err(_) => self.routes.configs[server].clone(),
        }
    }

    /// A bot of this kind, counted in `progress`, recording into `recorder`.
    pub(crate) fn bot(
        kind: BehaviourKind,
        seed: u64,
        hot_spots: u64,
        zone_size: Option<f32>,
        progress: &Progress,
        recorder: Recorder,
    ) -> Bot {
        let mut bot = Bot::with_recorder(kind, seed, hot_spots, recorder);
        bot.zone_size = zone_size;
        bot.welcomed_counter = Some(progress.connected.clone());
        bot.snapshot_counter = Some(progress.snapshots.clone());
        bot
    }

    /// Bot `index` joins at `at` (the ramp-up spreads the starts).
    pub(crate) fn start(&mut self, index: usize, at: Instant) {
        self.spawn_join(index, at);
    }

    /// Runs until every bot has its outcome; `ended` carries the loop's ends.
    pub(crate) async fn run(
        mut self,
        ended: &mut tokio::sync::mpsc::UnboundedReceiver<Ended<Bot>>,
    ) -> Vec<Outcome> {
        while self.remaining > 0 {
            let step = tokio::select! {
                Some(joined) = self.joins.join_next_with_id() => Step::Joined(joined),
                Some(run) = ended.recv() => Step::Ended(Box::new(run)),
                else => break,
            };
            match step {
                Step::Joined(Ok((task, (index, session, answer, sent)))) => {
                    self.join_tasks.remove(&task);
                    self.slots[index].session = Some(session);
                    if let (Ok(join), None) = (&answer, self.slots[index].first_join) {
                        self.slots[index].first_join = Some(FirstJoin {
                            sent,
                            room: join.room,
                        });
                    }
                    self.joined(index, answer);
                }
                Step::Joined(Err(error)) => {
                    if let Some(index) = self.join_tasks.remove(&error.id()) {
                        self.fail(index, format!("join task failed: {error}"));
                    }
                }
                Step::Ended(run) => self.ended(*run),
            }
        }
        self.slots
            .into_iter()
            .map(|slot| {
                slot.outcome.unwrap_or(Outcome {
                    bot: None,
                    client_stats: None,
                    seconds_connected: 0.0,
                    error: Some("the bot never finished".into()),
                    dropped: false,
                    first_join: slot.first_join,
                })
            })
            .collect()
    }

    fn server_index(&self, index: usize) -> usize {
        (index + self.slots[index].attempt) % self.routes.servers.len()
    }

    /// Asks for a fresh realtime token at `at`: a server admits each once.
    fn spawn_join(&mut self, index: usize, at: Instant) {
        let Some(mut session) = self.slots[index].session.take() else {
            return;
        };
        let server = self.server_index(index);
        let (address, space) = (self.routes.servers[server], self.routes.spaces[server]);
        let deadline = self.deadline;
        let task = self.joins.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            // Logged in first, so that the join's time is the join's alone.
            let answer = match session.access_token(address, deadline).await {
                Ok(_) => {
                    let sent = Instant::now();
                    (session.join(address, space, deadline).await, sent)
                }
                Err(error) => (Err(error), Instant::now()),
            };
            (index, session, answer.0, answer.1)
        });
        self.join_tasks.insert(task.id(), index);
    }

    fn joined(&mut self, index: usize, answer: Result<Join, AccountError>) {
        let join = match answer {
            Ok(join) => join,
            Err(error) if self.slots[index].attempt == 0 => {
                return self.fail(index, error.to_string());
            }
            Err(_) => return self.retry(index, RETRY_AFTER),
        };
        let Some(bot) = self.slots[index].bot.take() else {
            return;
        };
        let server = self.server_index(index);
        let config = self.config_for(&join.certificate_sha256, server);
        let group = self.routes.socket_groups[usize::from(join.game_address.is_ipv6())];
        let now = Instant::now();
        self.inbox.submit(ConnectRequest {
            tag: index as u64,
            socket: group + index % self.routes.endpoints.max(1),
            server: join.game_address,
            config,
            client: Client::new(now, join.token, HEARTBEAT, IDLE_TIMEOUT),
            behaviour: bot,
            tick: self.tick,
            input_phase: input_phase(self.tick),
            deadline: self.deadline,
            connect_timeout: CONNECT_TIMEOUT,
        });
    }

    fn ended(&mut self, run: Ended<Bot>) {
        let index = usize::try_from(run.tag).unwrap_or(usize::MAX);
        if index >= self.slots.len() {
            return;
        }
        let now = Instant::now();
        let slot = &mut self.slots[index];
        let mut bot = run.behaviour;
        let ending = match run.outcome {
            Ok(ending) => ending,
            Err(error) => {
                slot.bot = Some(bot);
                if slot.attempt == 0 {
                    return self.fail(index, error.to_string());
                }
                return self.retry(index, RETRY_AFTER);
            }
        };
        let stats = run.client.stats();
        slot.totals.snapshots += stats.snapshots;
        slot.totals.decode_errors += stats.decode_errors;
        slot.totals.bytes_in += stats.bytes_in;
        let phase = run.client.phase();
        let finished = ending == Ending::Deadline && phase == ClientPhase::Closed;
        // A room that moved (its shard drains) is joined again at once, the
        // session going on, with or without --reconnect.
        let moved = bot.was_moved();
        if finished
            || !(self.routes.reconnect || moved)
            || now >= self.deadline
            || bot.record.welcomed_at.is_none()
        {
            slot.bot = Some(bot);
            return self.finish(index, ending, phase);
        }
        bot.connection_lost(now);
        slot.bot = Some(bot);
        self.retry(index, Duration::ZERO);
    }

    /// Joins again (through the next server) after `delay`, unless the run
    /// is over or the bot has been out longer than [`REJOIN_WITHIN`]: then
    /// its session is dropped.
    fn retry(&mut self, index: usize, delay: Duration) {
        self.slots[index].attempt += 1;
        let now = Instant::now();
        let out_too_long = self.slots[index]
            .bot
            .as_ref()
            .and_then(Bot::lost_since)
            .is_some_and(|since| now.saturating_duration_since(since) > REJOIN_WITHIN);
        if now >= self.deadline || out_too_long {
            return self.finish(index, Ending::TransportLost, ClientPhase::Closed);
        }
        self.spawn_join(index, now + delay);
    }

    fn fail(&mut self, index: usize, error: String) {
        self.progress.failed.fetch_add(1, Ordering::Relaxed);
        self.settle(
            index,
            Outcome {
                bot: None,
                client_stats: None,
                seconds_connected: 0.0,
                error: Some(error),
                dropped: false,
                first_join: None,
            },
        );
    }

    fn finish(&mut self, index: usize, ending: Ending, phase: ClientPhase) {
        let slot = &mut self.slots[index];
        let Some(bot) = slot.bot.take() else {
            return self.fail(index, "the bot was lost".into());
        };
        let Some(welcomed) = bot.record.welcomed_at else {
            let reason = if bot.record.refused {
                "refused at hello"
            } else {
                "never welcomed"
            };
            return self.fail(index, format!("{reason} ({ending:?})"));
        };
        let dropped = ending != Ending::Deadline || phase != ClientPhase::Closed;
        if dropped {
            self.progress.dropped.fetch_add(1, Ordering::Relaxed);
        }
        let error = dropped.then(|| {
            format!(
                "dropped: {ending:?}, server said {:?}",
                bot.record.disconnect
            )
        });
        let totals = slot.totals;
        self.settle(
            index,
            Outcome {
                seconds_connected: welcomed.elapsed().as_secs_f64(),
                bot: Some(bot),
                client_stats: Some(totals),
                error,
                dropped,
                first_join: None,
            },
        );
    }

    fn settle(&mut self, index: usize, mut outcome: Outcome) {
        if self.slots[index].outcome.is_none() {
            self.remaining -= 1;
        }
        outcome.first_join = self.slots[index].first_join;
        self.slots[index].outcome = Some(outcome);
    }
}

/// Inputs follow the server's snapshots (PROTOCOL.md, "Pacing inputs"): a
/// bot sends its input this long after each snapshot arrives, and the
/// snapshot's `Ack` rides with it, so one packet a tick leaves each bot instead
/// of two. 45% of a tick, at most 22 ms: under QUIC's acknowledgement delay
/// (25 ms), so the bot's transport never sends an ACK-only packet first.
fn input_phase(tick: Duration) -> Option<Duration> {
    Some((tick * 9 / 20).min(Duration::from_millis(22)))
}
