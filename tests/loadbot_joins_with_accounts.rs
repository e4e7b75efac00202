//! loadbot joins through the real account path, so it works against a server
//! started without development tokens: the first run signs its bots' accounts
//! up (`--accounts PREFIX`: `PREFIX-0`, `PREFIX-1`, ...), the second logs the
//! same accounts in again, and every bot connects both times.

mod common;

use std::time::Duration;

use common::{remove_database, start_server_with, temporary_database};
use loadbot::{BehaviourKind, SwarmConfig};

#[test]
fn loadbot_signs_up_then_reuses_its_accounts_without_dev_tokens() {
    let database = temporary_database();
    let (server, http_address) = start_server_with(&database, &[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = SwarmConfig {
        servers: vec![http_address],
        metrics: Vec::new(),
        zone_size: None,
        reconnect: false,
        accounts: "swarmtest".into(),
        bots: 3,
        duration: Duration::from_secs(3),
        ramp_up: Duration::from_secs(1),
        behaviours: vec![BehaviourKind::parse("random-walk").expect("a behaviour")],
        endpoints: 1,
        tick_rate_hz: 20,
        seed: 7,
        progress: false,
        voice: loadbot::VoiceLoad::default(),
    };
    for run in ["signs up", "logs in again"] {
        let report = runtime
            .block_on(loadbot::run(config.clone()))
            .unwrap_or_else(|error| panic!("the swarm that {run} starts: {error}"));
        assert_eq!(
            (report.connected, report.failed),
            (3, 0),
            "the swarm that {run}: {:?}",
            report.errors
        );
    }
    drop(server);
    remove_database(&database);
}
