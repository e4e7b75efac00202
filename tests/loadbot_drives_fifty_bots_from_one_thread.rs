//! loadbot drives all its bots from one client loop thread: 50 bots join
//! through the account path, connect over two client sockets, decode
//! snapshots with no decode error and see their inputs acknowledged; the
//! report carries loadbot's own CPU and its loop thread's.

mod common;

use std::time::Duration;

use common::{remove_database, start_server_with, temporary_database};
use loadbot::{BehaviourKind, SwarmConfig};

const BOTS: usize = 50;

#[test]
fn fifty_bots_on_one_loop_thread_all_connect_and_decode_snapshots() {
    // Fifty sign-ups from one address in eight seconds: the login limits are
    // raised as for a load test (scripts/one-core-bench.sh does the same).
    let config = std::env::temp_dir().join(format!(
        "meridian_loadbot_fifty_bots_{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &config,
        "[serve]\nlogin_attempts_per_account_per_minute = 1000\n\
         login_attempts_per_address_per_minute = 1000\n",
    )
    .expect("writes the config");
    let config_path = config.display().to_string();
    let database = temporary_database();
    let (server, http_address) = start_server_with(&database, &["--config", &config_path]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let swarm = SwarmConfig {
        servers: vec![http_address],
        metrics: Vec::new(),
        zone_size: None,
        reconnect: false,
        accounts: "loopswarm".into(),
        bots: BOTS,
        duration: Duration::from_secs(3),
        ramp_up: Duration::from_secs(8),
        behaviours: BehaviourKind::ALL.to_vec(),
        endpoints: 2,
        tick_rate_hz: 20,
        seed: 11,
        progress: false,
        voice: loadbot::VoiceLoad::default(),
    };
    let report = runtime
        .block_on(loadbot::run(swarm))
        .unwrap_or_else(|error| panic!("the swarm starts: {error}"));
    assert_eq!(
        (report.connected, report.failed, report.dropped),
        (BOTS, 0, 0),
        "{:?}",
        report.errors
    );
    assert_eq!(report.decode_errors, 0);
    // Every bot decoded snapshots: at least one each, and inputs came back
    // acknowledged in them.
    assert!(report.snapshots >= BOTS as u64, "{}", report.snapshots);
    assert!(report.rtt_ms.count > 0);
    if cfg!(target_os = "linux") {
        assert!(report.loadbot_cpu_pct.is_some());
        assert!(report.loadbot_loop_cpu_pct.is_some());
    }
    drop(server);
    remove_database(&database);
    let _ = std::fs::remove_file(&config);
}
