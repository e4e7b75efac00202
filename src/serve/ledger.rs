//! The ownership ledger for `meridian serve`: one process takes every zone's
//! lease at start (`take_zones`); in either mode a thread of its own carries
//! out the handoff protocol's ledger operations on the database,
//! answering the zone thread through a channel. The zone thread never waits
//! on the database.

use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use meridian_shard_manager::adapters::sql::SqlLedger;
use meridian_shard_manager::cluster::ClusterBorders;
use meridian_shard_manager::{Borders, LeaseTiming, LedgerOp, LedgerReply, ZoneMap};
use tokio::sync::mpsc;

/// The leases of one process (a cluster of one): long, so that a zone thread
/// stalled for seconds (a debugger, a swapping machine) keeps its zones, as
/// nobody else could take them over anyway.
pub(crate) const ALONE_LEASES: LeaseTiming = LeaseTiming {
    ttl: 60_000,
    renew_every: 15_000,
    safety: 5_000,
    acquire_every: 1_000,
    // Nobody else simulates our players: a reading now and then repairs
    // what a failed database call left behind.
    reconcile_every: 30_000,
};

/// How long one process may take to take its zones at start.
const TAKE_ZONES_WITHIN: Duration = Duration::from_secs(10);

/// Ledger operations the zone thread may queue; more are treated as lost (and
/// settled by reading the ledger later).
const QUEUE: usize = 4_096;

/// One answered operation: the reply, or `None` if the database failed (the
/// outcome is unknown).
pub(crate) type Answer = (u64, Option<LedgerReply>);

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Takes every zone of `map` for one process before it serves anyone,
/// through the lease state machine in `borders` that then keeps them: fails
/// if another server holds one (it uses this database).
pub(crate) async fn take_zones(
    ledger: &SqlLedger,
    borders: &mut ClusterBorders,
    map: &ZoneMap,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + TAKE_ZONES_WITHIN;
    loop {
        let now = now_ms();
        borders.set_clock(now);
        // Asks for the leases it wants and does not hold.
        let _ = borders.advance();
        for (request, op) in borders.take_ledger_requests() {
            let reply = ledger
                .apply(now, &op)
                .await
                .with_context(|| format!("cannot carry out {op:?}"))?;
            if let (
                LedgerOp::AcquireLease { zone, .. },
                LedgerReply::Lease {
                    granted: false,
                    lease,
                },
            ) = (&op, &reply)
            {
                bail!(
                    "zone {} is held by shard {} until {} ms: another server uses this database",
                    zone.0,
                    lease.holder.0,
                    lease.expires_at
                );
            }
            borders.on_ledger(request, &reply);
        }
        if borders.zone_count() == map.zone_count() as usize {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "held {} of {} zones after {:?}",
                borders.zone_count(),
                map.zone_count(),
                TAKE_ZONES_WITHIN
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Ledger operations carried out at once, each lane in order. A lane is one
/// database connection at a time; operations on one key (a player, a zone)
/// always share a lane, so they apply in the order they were asked.
const LANES: usize = 4;

/// The zone thread's end of the ledger tasks.
pub(crate) struct LedgerQueue {
    lanes: Vec<mpsc::Sender<(u64, LedgerOp)>>,
}

impl LedgerQueue {
    /// Queues an operation without waiting; `false` if its lane is full or
    /// gone (the outcome is then unknown to the protocol).
    pub(crate) fn try_send(&self, request: u64, op: LedgerOp) -> bool {
        let mut hasher = std::hash::DefaultHasher::new();
        op.key().hash(&mut hasher);
        let lane = (hasher.finish() % self.lanes.len() as u64) as usize;
        self.lanes[lane].try_send((request, op)).is_ok()
    }
}

/// Starts the thread that carries out ledger operations, [`LANES`] at a time,
/// so one slow database call holds up only the operations behind it on its
/// lane, not every handoff. The thread has its own runtime and its own
/// connections to the database at `url`: a commit that ends a freeze never
/// queues behind the clients' traffic. Answers arrive on the returned
/// receiver; the thread ends once the queue is dropped and what is queued is
/// done, and then says so on the returned `done`.
pub(crate) async fn start(
    url: &str,
) -> anyhow::Result<(
    LedgerQueue,
    crossbeam_channel::Receiver<Answer>,
    tokio::sync::oneshot::Receiver<()>,
)> {
    let (answers, answered) = crossbeam_channel::unbounded();
    let (opened_in, opened) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    let (done_in, done) = tokio::sync::oneshot::channel();
    let mut lanes = Vec::new();
    let mut incoming = Vec::new();
    for _ in 0..LANES {
        let (requests, lane) = mpsc::channel::<(u64, LedgerOp)>(QUEUE / LANES);
        lanes.push(requests);
        incoming.push(lane);
    }
    let url = url.to_owned();
    super::own_thread::spawn("ledger", async move {
        let ledger = match super::persist::open(&url).await {
            Ok(store) => SqlLedger::new(store),
            Err(error) => {
                let _ = opened_in.send(Err(error));
                return;
            }
        };
        let _ = opened_in.send(Ok(()));
        let mut tasks = tokio::task::JoinSet::new();
        for lane in incoming {
            tasks.spawn(carry_out(ledger.clone(), lane, answers.clone()));
        }
        tasks.join_all().await;
        let _ = done_in.send(());
    })?;
    opened
        .await
        .context("the ledger thread ended at its start")??;
    Ok((LedgerQueue { lanes }, answered, done))
}

/// One lane: its operations, one after another.
async fn carry_out(
    ledger: SqlLedger,
    mut incoming: mpsc::Receiver<(u64, LedgerOp)>,
    answers: crossbeam_channel::Sender<Answer>,
) {
    while let Some((request, op)) = incoming.recv().await {
        let reply = match ledger.apply(now_ms(), &op).await {
            Ok(reply) => Some(reply),
            Err(error) => {
                tracing::warn!(%error, "a ledger operation failed");
                None
            }
        };
        if answers.send((request, reply)).is_err() {
            return;
        }
    }
}
