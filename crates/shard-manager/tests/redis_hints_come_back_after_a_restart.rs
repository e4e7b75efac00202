//! The Redis hints reconnect by themselves: with a redis-server of the test's
//! own (never the machine's shared one), hints work, then fail at once while
//! it is killed (each failure counted), and work again once it is started on
//! the same port, empty, without anything being done to the hints: the
//! reconnection is counted once.
//!
//! Without redis-server the test says it was skipped; under `CI=true` it
//! fails instead.

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use meridian_shard_manager::ShardId;
use meridian_shard_manager::adapters::redis::{HintError, RedisHints};

/// A redis-server on `port`, killed when dropped.
struct PrivateRedis(Child);

impl PrivateRedis {
    fn start(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let redis = Self(child);
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        redis
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn redis_server_installed() -> bool {
    let found = Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI runs every test, but there is no redis-server"
        );
        // Written past the test harness's capture, so it shows in any run.
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED redis_hints_come_back_after_a_restart: no redis-server"
        );
    }
    found
}

#[test]
fn hints_fail_while_redis_is_down_and_work_again_after_it_restarts() {
    if !redis_server_installed() {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let mut redis = Some(PrivateRedis::start(port));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let url = format!("redis://127.0.0.1:{port}/");
        let hints = RedisHints::connect(&url, "restart")
            .await
            .expect("connects");
        hints
            .announce_shard(ShardId(1), "before", 60_000)
            .await
            .expect("writes");
        assert_eq!(hints.totals().errors, 0);

        drop(redis.take());
        assert!(hints.ping().await.is_err(), "Redis is gone");
        // A dial is refused; within its backoff the next attempt fails
        // without dialling.
        for _ in 0..2 {
            let failed = hints.shard_hint(ShardId(1)).await;
            assert!(
                matches!(
                    failed,
                    Err(HintError::Reconnecting { .. } | HintError::Redis(_))
                ),
                "{failed:?}"
            );
        }
        assert!(hints.totals().errors >= 3, "{:?}", hints.totals());
        assert_eq!(hints.totals().reconnects, 0);

        redis = Some(PrivateRedis::start(port));
        let deadline = Instant::now() + Duration::from_secs(20);
        while hints.ping().await.is_err() {
            assert!(Instant::now() < deadline, "the hints reconnect");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(hints.totals().reconnects, 1);
        // The restarted Redis kept nothing; hints are written again.
        assert_eq!(hints.shard_hint(ShardId(1)).await.expect("reads"), None);
        hints
            .announce_shard(ShardId(1), "after", 60_000)
            .await
            .expect("writes");
        assert_eq!(
            hints
                .shard_hint(ShardId(1))
                .await
                .expect("reads")
                .as_deref(),
            Some("after")
        );
    });
    drop(redis);
}
