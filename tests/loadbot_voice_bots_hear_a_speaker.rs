//! loadbot's voice bots (issue #17): a few bots turn voice on against a real
//! server on loopback, one speaks at 50 Opus packets/s over WebRTC (str0m)
//! through the server's voice port, and the report counts what they sent and
//! what the listeners near it received.

mod common;

use std::time::Duration;

use common::{remove_database, start_server_with, temporary_database};
use loadbot::{BehaviourKind, SwarmConfig, VoiceLoad};

#[test]
fn loadbot_voice_bots_send_and_the_near_listeners_receive() {
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
        accounts: "voicebots".into(),
        bots: 4,
        duration: Duration::from_secs(4),
        ramp_up: Duration::from_secs(1),
        behaviours: vec![BehaviourKind::Idle],
        endpoints: 1,
        tick_rate_hz: 20,
        seed: 5,
        progress: false,
        voice: VoiceLoad {
            speakers: 1,
            listeners: None,
            slots: 2,
        },
    };
    let report = runtime
        .block_on(loadbot::run(config))
        .unwrap_or_else(|error| panic!("the swarm starts: {error}"));
    assert_eq!(
        (report.connected, report.failed),
        (4, 0),
        "{:?}",
        report.errors
    );
    let voice = report.voice.clone().expect("the report has voice figures");
    eprintln!("{}", voice.to_text());
    assert_eq!(
        (voice.offers, voice.answers, voice.refused),
        (4, 4, 0),
        "{voice:?}"
    );
    assert_eq!((voice.sessions_up, voice.speakers), (4, 1), "{voice:?}");
    assert!(voice.packets_sent > 0, "{voice:?}");
    // The speaker does not hear itself: at most the three others hear it,
    // and each counts no more than was sent.
    assert!(
        voice.listeners_hearing >= 1 && voice.listeners_hearing <= 3,
        "{voice:?}"
    );
    assert!(voice.packets_received > 0, "{voice:?}");
    assert!(
        voice.packets_received <= 3 * voice.packets_sent,
        "{voice:?}"
    );
    assert!(
        voice.bytes_received > 0 && voice.receive_rate_max > 0.0,
        "{voice:?}"
    );
    let json = serde_json::to_value(&report).expect("serializes");
    assert_eq!(json["voice"]["sessions_up"], 4, "{json}");
    assert!(report.to_text().contains("voice: 4 offers"));
    drop(server);
    remove_database(&database);
}
