//! loadbot fills the rooms of a space it creates (`--create-space 60x40:10`):
//! the first bot's account makes a space of 10 seats a room through the API,
//! 40 bots join it, the join answers seat them 10 to a room in rooms 1 to 4,
//! every bot is welcomed in its room's instance, and the report times join →
//! Welcome apart for the 4 joins that started a room and the 36 that found it
//! running.

mod common;

use std::time::Duration;

use common::{remove_database, start_server_with, temporary_database};
use loadbot::rooms::RoomCount;
use loadbot::{BehaviourKind, Destination, SpaceShape, SwarmConfig};

const BOTS: usize = 40;
const CAPACITY: u32 = 10;

#[test]
fn forty_bots_fill_four_rooms_of_ten_and_every_join_is_timed() {
    // Forty sign-ups from one address: the login limits are raised as for a
    // load test.
    let settings = std::env::temp_dir().join(format!(
        "meridian_loadbot_rooms_{}.toml",
        std::process::id()
    ));
    std::fs::write(
        &settings,
        "[serve]\nlogin_attempts_per_account_per_minute = 1000\n\
         login_attempts_per_address_per_minute = 1000\n",
    )
    .expect("writes the config");
    let settings_path = settings.display().to_string();
    let database = temporary_database();
    let (server, http_address) = start_server_with(&database, &["--config", &settings_path]);
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
        accounts: "roomswarm".into(),
        bots: BOTS,
        // Room to spare on a busy machine: forty sign-ups and logins queue
        // for the password hashers, and a bot still logging in at the end of
        // the run fails.
        duration: Duration::from_secs(8),
        ramp_up: Duration::from_secs(8),
        behaviours: vec![
            BehaviourKind::parse("random-walk").expect("a behaviour"),
            BehaviourKind::parse("idle").expect("a behaviour"),
        ],
        endpoints: 2,
        tick_rate_hz: 20,
        seed: 5,
        progress: false,
        voice: loadbot::VoiceLoad::default(),
    };
    let shape: SpaceShape = format!("60x40:{CAPACITY}").parse().expect("a shape");
    let report = runtime
        .block_on(loadbot::run_into(swarm, Destination::Create(shape)))
        .unwrap_or_else(|error| panic!("the swarm starts: {error}"));
    assert_eq!(
        (report.connected, report.failed, report.dropped),
        (BOTS, 0, 0),
        "{:?}",
        report.errors
    );
    assert_eq!(report.decode_errors, 0);
    assert!(report.snapshots >= BOTS as u64, "{}", report.snapshots);
    let rooms: Vec<RoomCount> = (1..=4)
        .map(|room| RoomCount {
            room,
            bots: CAPACITY as usize,
        })
        .collect();
    assert_eq!(report.joins.rooms, rooms, "four full rooms, by number");
    let (starting, running) = (
        report.joins.starting_join_to_welcome_ms,
        report.joins.running_join_to_welcome_ms,
    );
    assert_eq!(
        (starting.count, running.count),
        (4, BOTS - 4),
        "one starting join per room, every bot timed"
    );
    for latency in [starting, running] {
        assert!(
            latency.p50 > 0.0 && latency.p99 >= latency.p50,
            "{latency:?}"
        );
    }
    let text = report.to_text();
    eprintln!("{text}");
    assert!(
        text.contains(
            "rooms joined               4 (bots per room, by number: 1: 10, 2: 10, 3: 10, 4: 10)"
        ),
        "{text}"
    );
    assert!(text.contains("join -> welcome, starting"), "{text}");
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["joins"]["rooms"].as_array().map(Vec::len), Some(4));
    assert_eq!(json["joins"]["starting_join_to_welcome_ms"]["count"], 4);
    drop(server);
    remove_database(&database);
    let _ = std::fs::remove_file(&settings);
}
