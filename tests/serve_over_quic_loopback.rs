//! The real binary on loopback: `meridian serve` on ephemeral ports, real QUIC
//! clients joined through accounts (sign up, log in, join the space). They see
//! each other move, chat reaches those who can hear it, a forged token is
//! refused with its reason, the metrics count them, and SIGTERM ends everything
//! with a goodbye to every client and exit status 0.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{account_join, start_server};
use loadbot::http;
use meridian_netcode::driver::client::{Behaviour, Ending};
use meridian_netcode::{Client, ClientEvent};
use meridian_protocol::messages::{
    AnimationState, ChatChannel, ChatSend, DisconnectReason, MovementIntent, RefusalReason,
};

#[derive(Default)]
struct Walker {
    direction: f32,
    talk_at_tick: Option<(u64, ChatChannel)>,
    ticks: u64,
    events: Vec<ClientEvent>,
    max_view: usize,
}

impl Behaviour for Walker {
    fn on_tick(&mut self, client: &mut Client, now: Instant) {
        self.ticks += 1;
        let intent = MovementIntent {
            move_x: self.direction.cos(),
            move_y: self.direction.sin(),
            speed: 1.0,
            heading: self.direction,
            animation: AnimationState::Walk,
        };
        client.send_input(now, intent);
        if let Some((tick, channel)) = self.talk_at_tick
            && tick == self.ticks
        {
            client.send_chat(ChatSend {
                channel,
                text: format!("hello over {channel:?}"),
            });
        }
    }

    fn on_event(&mut self, client: &mut Client, event: ClientEvent, _now: Instant) {
        self.max_view = self.max_view.max(client.view().len());
        self.events.push(event);
    }
}

#[test]
fn clients_play_chat_and_are_told_when_the_server_stops() {
    let (mut server, http_address) = start_server();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let results = runtime.block_on(async {
        let mut tasks = Vec::new();
        for index in 0..3u64 {
            let joined = account_join(http_address, &format!("walker{index}")).await;
            tasks.push(tokio::spawn(async move {
                let (_endpoint, connection, mut client) = joined.connect().await;
                let mut walker = Walker {
                    direction: index as f32 * 2.0,
                    talk_at_tick: match index {
                        0 => Some((40, ChatChannel::Zone)),
                        1 => Some((60, ChatChannel::Proximity)),
                        _ => None,
                    },
                    ..Walker::default()
                };
                // Far beyond the test: the server's shutdown ends it.
                let deadline = Instant::now() + Duration::from_secs(30);
                let ending = connection
                    .drive(
                        &mut client,
                        &mut walker,
                        Duration::from_millis(50),
                        deadline,
                    )
                    .await;
                (ending, walker, client.stats())
            }));
        }
        // A client with a forged token is refused with the reason, over real QUIC.
        let mut joined = account_join(http_address, "forger").await;
        joined.token = "a.forged.token".into();
        let (_endpoint, connection, mut forger) = joined.connect().await;
        let mut watcher = Walker::default();
        let ending = connection
            .drive(
                &mut forger,
                &mut watcher,
                Duration::from_millis(50),
                Instant::now() + Duration::from_secs(5),
            )
            .await;
        assert_eq!(ending, Ending::Closed);
        assert!(
            watcher.events.iter().any(|event| matches!(
                event,
                ClientEvent::Refused(refusal) if refusal.reason == RefusalReason::BadToken
            )),
            "{:?}",
            watcher.events
        );
        // Let them play for four seconds, then read the metrics.
        tokio::time::sleep(Duration::from_secs(4)).await;
        let metrics = http::get(http_address, "/metrics")
            .await
            .expect("metrics answer");
        (tasks, metrics)
    });
    let (tasks, metrics) = results;
    assert_eq!(
        http::prometheus_value(&metrics, "meridian_connected_clients"),
        Some(3.0),
        "{metrics}"
    );
    assert!(
        http::prometheus_value(&metrics, "meridian_snapshots_sent_total").unwrap_or(0.0) > 100.0
    );
    assert!(metrics.contains("meridian_tick_duration_seconds_bucket"));
    assert_eq!(
        http::prometheus_value(&metrics, "meridian_refusals_total{reason=\"bad_token\"}"),
        Some(1.0)
    );

    // SIGTERM: a graceful stop.
    let pid = server.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let begun = Instant::now();
    let status = loop {
        if let Some(status) = server.0.try_wait().expect("wait works") {
            break status;
        }
        assert!(
            begun.elapsed() < Duration::from_secs(15),
            "the server did not stop"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status:?}");

    let outcomes = runtime.block_on(async {
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.push(
                tokio::time::timeout(Duration::from_secs(15), task)
                    .await
                    .expect("bot ends")
                    .expect("bot task"),
            );
        }
        outcomes
    });
    let mut zone_chat = 0;
    for (index, (ending, walker, stats)) in outcomes.iter().enumerate() {
        assert_eq!(*ending, Ending::Closed, "client {index}");
        assert!(
            walker
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::Welcomed(_)))
        );
        assert!(
            walker
                .events
                .contains(&ClientEvent::Disconnected(DisconnectReason::ServerShutdown)),
            "client {index} was told the server stopped: {:?}",
            walker.events.last()
        );
        assert!(
            stats.snapshots > 40,
            "client {index} decoded {} snapshots",
            stats.snapshots
        );
        assert_eq!(stats.decode_errors, 0);
        // A 60 m zone: everyone is within the 30 m radius of someone, and the own
        // avatar is always in view.
        assert!(
            walker.max_view >= 2,
            "client {index} saw {} entities",
            walker.max_view
        );
        zone_chat += walker
            .events
            .iter()
            .filter(|e| matches!(e, ClientEvent::Chat(relay) if relay.channel == ChatChannel::Zone))
            .count();
    }
    assert_eq!(zone_chat, 3, "the zone-wide line reached all three");
    // The proximity line reaches at least its speaker (and whoever was within
    // 20 m), never more than the three.
    let proximity: Vec<usize> = outcomes
        .iter()
        .map(|(_, walker, _)| {
            walker
                .events
                .iter()
                .filter(|e| matches!(e, ClientEvent::Chat(relay) if relay.channel == ChatChannel::Proximity))
                .count()
        })
        .collect();
    assert_eq!(proximity[1], 1, "the speaker hears itself: {proximity:?}");
    assert!(proximity.iter().all(|&heard| heard <= 1), "{proximity:?}");
}
