//! The ownership ledger for `meridian serve`: this process holds every zone's
//! lease (renewed in the background), and a task carries out the handoff
//! protocol's ledger operations on the database, answering the zone thread
//! through a channel. The zone thread never waits on the database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use meridian_shard_manager::adapters::sql::SqlLedger;
use meridian_shard_manager::{Epoch, LedgerOp, LedgerReply, ShardId, ZoneMap};
use tokio::sync::mpsc;

/// How long a lease lasts without renewal.
const LEASE_TTL_MS: u64 = 60_000;

/// How often leases are renewed.
const RENEW_EVERY: Duration = Duration::from_secs(15);

/// Ledger operations the zone thread may queue; more are treated as lost (and
/// settled by reading the ledger later).
const QUEUE: usize = 4_096;

/// This process in the ledger.
const HOLDER: ShardId = ShardId(1);

/// One answered operation: the reply, or `None` if the database failed (the
/// outcome is unknown).
pub(crate) type Answer = (u64, Option<LedgerReply>);

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Takes every zone's lease; their epochs, in zone order.
pub(crate) async fn acquire_all(ledger: &SqlLedger, map: &ZoneMap) -> anyhow::Result<Vec<Epoch>> {
    let mut epochs = Vec::new();
    for zone in map.zones() {
        let op = LedgerOp::AcquireLease {
            zone,
            holder: HOLDER,
            ttl: LEASE_TTL_MS,
        };
        match ledger
            .apply(now_ms(), &op)
            .await
            .with_context(|| format!("cannot take zone {}'s lease", zone.0))?
        {
            LedgerReply::Lease {
                granted: true,
                lease,
            } => epochs.push(lease.epoch),
            LedgerReply::Lease { lease, .. } => bail!(
                "zone {} is held by shard {} until {} ms: another server uses this database",
                zone.0,
                lease.holder.0,
                lease.expires_at
            ),
            other => bail!("unexpected ledger answer {other:?}"),
        }
    }
    Ok(epochs)
}

/// Renews every lease until the process stops; a renewal that fails is said
/// loudly (the zones it covers can no longer hand players off).
pub(crate) async fn renew_forever(ledger: SqlLedger, map: ZoneMap, epochs: Vec<Epoch>) {
    loop {
        tokio::time::sleep(RENEW_EVERY).await;
        for (zone, epoch) in map.zones().zip(&epochs) {
            let op = LedgerOp::RenewLease {
                zone,
                holder: HOLDER,
                epoch: *epoch,
                ttl: LEASE_TTL_MS,
            };
            match ledger.apply(now_ms(), &op).await {
                Ok(LedgerReply::Renewed(true)) => {}
                Ok(_) => eprintln!("meridian serve: lost the lease of zone {}", zone.0),
                Err(error) => {
                    eprintln!(
                        "meridian serve: renewing zone {}'s lease failed: {error}",
                        zone.0
                    );
                }
            }
        }
    }
}

/// Starts the task that carries out ledger operations. Send `(request, op)`;
/// answers arrive on the returned receiver.
pub(crate) fn start(
    ledger: SqlLedger,
) -> (
    mpsc::Sender<(u64, LedgerOp)>,
    crossbeam_channel::Receiver<Answer>,
    tokio::task::JoinHandle<()>,
) {
    let (requests, mut incoming) = mpsc::channel::<(u64, LedgerOp)>(QUEUE);
    let (answers, answered) = crossbeam_channel::unbounded();
    let task = tokio::spawn(async move {
        while let Some((request, op)) = incoming.recv().await {
            let reply = match ledger.apply(now_ms(), &op).await {
                Ok(reply) => Some(reply),
                Err(error) => {
                    eprintln!("meridian serve: a ledger operation failed: {error}");
                    None
                }
            };
            if answers.send((request, reply)).is_err() {
                return;
            }
        }
    });
    (requests, answered, task)
}
