//! The instance of a dead cluster shard (SIGKILL: nothing given up) is
//! started on a live shard by the next join once its lease has lapsed: the
//! join through the other shard is sent to the dead one while its lease
//! runs, and within the lease time (5 s) plus 2 s of the kill it is seated
//! on the live shard, under the next epoch, where its player comes back at
//! the saved position. Two `meridian serve` shards on the real PostgreSQL (a
//! database of the test's own) and Redis; without them the test says it was
//! skipped (under `CI=true` it fails instead).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::instance_shards::{TwoShards, account, join, join_once, runtime, space, wait_for};
use common::players::Player;
use meridian_protocol::quantize::fields;

const TEST: &str = "a_dead_shards_instances_start_on_another";

/// The lease's time in the ledger, plus the 2 s the issue allows.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(7);

#[test]
fn a_dead_shards_instances_start_on_another() {
    let Some(mut cluster) = TwoShards::start(TEST) else {
        return;
    };
    let (first, second) = (cluster.http(1), cluster.http(2));
    let (access, created, saved) = runtime().block_on(async {
        let alice = account(first, "alice").await;
        let created = space(first, &alice, "arena").await;
        let (joined, gateway) = join(first, &alice, created).await;
        assert_eq!(gateway, first, "the answering shard starts it");
        let _player = Player::connect("alice", &joined).await;
        // Her place is checkpointed (every 2 s by default).
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut saved = None;
        while saved.is_none() && Instant::now() < deadline {
            saved = cluster.saved_position("alice", created).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let saved = saved.expect("alice's place in the space is checkpointed");
        (alice, created, saved)
        // (The player is dropped with this runtime; the shard dies anyway.)
    });

    // A crash: nothing is given up.
    let pid = cluster.shards[0].0.0.id().to_string();
    let killed_at = Instant::now();
    let signalled = Command::new("kill")
        .args(["-KILL", &pid])
        .status()
        .expect("kill runs");
    assert!(signalled.success());
    let _ = cluster.shards[0].0.0.wait();

    // While the lease runs, shard 2 sends the join to shard 1's gateway;
    // once it lapses, shard 2 starts the instance.
    let mut answers = Vec::new();
    let seated = wait_for(TAKEOVER_LIMIT + Duration::from_secs(10), || {
        let (status, answer) = runtime().block_on(join_once(second, &access, created));
        answers.push(status);
        status == 200 && answer["gateway"] == second.to_string()
    })
    .map(|_| killed_at.elapsed());
    let seated = seated.unwrap_or_else(|| panic!("never seated on shard 2: {answers:?}"));
    eprintln!(
        "seated on shard 2 {seated:?} after the kill ({} joins asked)",
        answers.len()
    );
    assert!(
        seated <= TAKEOVER_LIMIT,
        "seated on shard 2 {seated:?} after the kill, later than {TAKEOVER_LIMIT:?}"
    );
    assert_eq!(
        answers.first(),
        Some(&421),
        "first sent to the dead holder: {answers:?}"
    );
    let lease = runtime().block_on(cluster.lease(created)).expect("leased");
    assert_eq!((lease.holder.as_str(), lease.epoch), ("2", 2), "{lease:?}");

    // Alice comes back where she was saved.
    runtime().block_on(async {
        let (joined, gateway) = join(second, &access, created).await;
        assert_eq!(gateway, second);
        let player = Player::connect("alice", &joined).await;
        let avatar = player.avatar().expect("welcomed");
        assert!(player.sees(avatar).await, "alice sees herself");
        let me = player
            .view()
            .into_iter()
            .find(|seen| seen.id == avatar)
            .expect("in view");
        let (x, y) = (
            f64::from(fields::POSITION.dequantize(me.x)),
            f64::from(fields::POSITION.dequantize(me.y)),
        );
        assert!(
            (x - saved.0).abs() < 0.1 && (y - saved.1).abs() < 0.1,
            "alice is back at ({x}, {y}), saved at {saved:?}"
        );
        player.stop();
    });
}
