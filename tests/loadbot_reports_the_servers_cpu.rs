//! loadbot reports what the server cost over its measurement window: the
//! process CPU from the server's `/metrics` at the window's start and end, as
//! `server_cpu_pct` (100 = one core) in the report and its JSON.

mod common;

use std::time::Duration;

use common::{remove_database, start_server_with, temporary_database};
use loadbot::{BehaviourKind, SwarmConfig};

#[cfg(target_os = "linux")]
#[test]
fn loadbot_reports_the_servers_cpu_over_its_window() {
    let database = temporary_database();
    let (server, http_address) = start_server_with(&database, &[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = SwarmConfig {
        servers: vec![http_address],
        metrics: vec![http_address],
        zone_size: None,
        reconnect: false,
        accounts: "cputest".into(),
        bots: 2,
        duration: Duration::from_secs(2),
        ramp_up: Duration::from_secs(1),
        behaviours: vec![BehaviourKind::parse("random-walk").expect("a behaviour")],
        endpoints: 1,
        tick_rate_hz: 20,
        seed: 3,
        progress: false,
        voice: loadbot::VoiceLoad::default(),
    };
    let report = runtime
        .block_on(loadbot::run(config))
        .unwrap_or_else(|error| panic!("the swarm starts: {error}"));
    assert_eq!(
        (report.connected, report.failed),
        (2, 0),
        "{:?}",
        report.errors
    );
    let percent = report
        .server_cpu_pct
        .expect("the server's metrics carry its process CPU");
    // The server ticks at 20 Hz throughout: some CPU, and no more than every
    // core of this machine.
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    assert!(
        percent > 0.0 && percent <= 100.0 * cores as f64 + 1.0,
        "{percent}"
    );
    let json = serde_json::to_value(&report).expect("serializes");
    assert!(json["server_cpu_pct"].is_number(), "{json}");
    assert!(report.to_text().contains("server CPU (window)"));
    drop(server);
    remove_database(&database);
}
