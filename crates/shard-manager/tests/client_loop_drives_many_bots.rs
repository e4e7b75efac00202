//! One client loop thread drives 50 bots over two sockets against a zone
//! served by the event loop on loopback: every bot is welcomed, sends an input
//! every tick, decodes snapshots (and sees its inputs acknowledged in them),
//! and says goodbye at the end of its run; the zone counts 50 opened and 50
//! `client_quit`, and both loops drain every connection. The server's sends
//! leave in batches (far fewer `sendmmsg` calls than datagrams).

mod stepper;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use meridian_netcode::driver::client::{Behaviour, Ending};
use meridian_netcode::driver::socket::bind_udp;
use meridian_netcode::driver::tls::pinned_client_config;
use meridian_netcode::metrics::DISCONNECT_REASONS;
use meridian_netcode::transport::client_loop::{ClientLoopThread, ConnectRequest, Ended};
use meridian_netcode::{Client, ClientEvent, NetcodeConfig};
use meridian_protocol::messages::{DisconnectReason, MovementIntent};
use stepper::event_loop::{LOOPBACK, LoopZone, live_token, wait_until};

const BOTS: u64 = 50;

/// Walks in a circle and records what it heard.
#[derive(Debug, Default)]
struct Walker {
    welcomed: bool,
    refused: bool,
    inputs_sent: u32,
    snapshots: u64,
    newest_acknowledged_input: u32,
}

impl Behaviour for Walker {
    fn on_tick(&mut self, client: &mut Client, now: Instant) {
        let angle = self.inputs_sent as f32 * 0.1;
        let intent = MovementIntent {
            move_x: angle.cos(),
            move_y: angle.sin(),
            ..MovementIntent::idle(0.0)
        };
        if client.send_input(now, intent).is_some() {
            self.inputs_sent += 1;
        }
    }

    fn on_event(&mut self, _client: &mut Client, event: ClientEvent, _now: Instant) {
        match event {
            ClientEvent::Welcomed(_) => self.welcomed = true,
            ClientEvent::Refused(_) => self.refused = true,
            ClientEvent::Snapshot {
                last_input_sequence,
                ..
            } => {
                self.snapshots += 1;
                self.newest_acknowledged_input =
                    self.newest_acknowledged_input.max(last_input_sequence);
            }
            _ => {}
        }
    }
}

#[test]
fn one_thread_drives_fifty_bots_that_all_decode_snapshots() {
    let zone = LoopZone::start(NetcodeConfig::default());
    let idle_timeout = Duration::from_millis(zone.config.idle_timeout_ms);
    let config = pinned_client_config(zone.certificate_sha256, idle_timeout).expect("client TLS");
    let sockets = (0..2)
        .map(|_| bind_udp(LOOPBACK).expect("bind a client socket"))
        .collect();
    let (ended_sender, ended) = mpsc::channel::<Ended<Walker>>();
    let bots = ClientLoopThread::spawn("client-loop", sockets, move |run| {
        let _ = ended_sender.send(run);
    })
    .expect("the client loop starts");
    let deadline = Instant::now() + Duration::from_secs(3);
    for account in 1..=BOTS {
        bots.inbox().submit(ConnectRequest {
            tag: account,
            socket: (account % 2) as usize,
            server: zone.address,
            config: config.clone(),
            client: zone.client(live_token(&zone.authority, account)),
            behaviour: Walker::default(),
            tick: Duration::from_millis(50),
            deadline,
            input_phase: None,
            connect_timeout: Duration::from_secs(10),
        });
    }
    let mut runs = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(60);
    while runs.len() < BOTS as usize {
        let left = give_up.saturating_duration_since(Instant::now());
        runs.push(
            ended
                .recv_timeout(left)
                .expect("every bot's run ends within a minute"),
        );
    }
    let stats = bots
        .shutdown()
        .expect("the client loop ends without an error");
    runs.sort_by_key(|run| run.tag);
    for run in &runs {
        let bot = &run.behaviour;
        assert!(
            matches!(run.outcome, Ok(Ending::Deadline)),
            "bot {}: {:?}",
            run.tag,
            run.outcome
        );
        assert!(bot.welcomed && !bot.refused, "bot {}: {bot:?}", run.tag);
        assert!(bot.snapshots > 0, "bot {} decoded no snapshot", run.tag);
        assert_eq!(run.client.stats().snapshots, bot.snapshots);
        assert_eq!(run.client.stats().decode_errors, 0, "bot {}", run.tag);
        assert!(
            bot.newest_acknowledged_input > 0,
            "bot {}: no input acknowledged: {bot:?}",
            run.tag
        );
    }
    assert_eq!(stats.connections, BOTS);
    assert!(
        stats.udp.receive_calls <= stats.udp.datagrams_received,
        "{stats:?}"
    );
    // A tick's snapshots to 50 bots leave the server in a few sendmmsg
    // calls, not one call per datagram.
    let server_udp = zone.stats().udp;
    assert!(
        server_udp.send_calls * 4 < server_udp.datagrams_sent,
        "the server's sends are not batched: {server_udp:?}"
    );
    assert_eq!(server_udp.send_failures, 0, "{server_udp:?}");
    // Every goodbye reaches the zone and every connection drains.
    wait_until("every connection drains", Duration::from_secs(10), || {
        zone.stats().connections == 0
    });
    let report = zone.stop();
    assert_eq!(report.metrics.connections_opened, BOTS);
    let quit = DISCONNECT_REASONS
        .iter()
        .position(|reason| *reason == DisconnectReason::ClientQuit)
        .expect("a reason");
    assert_eq!(report.metrics.disconnects[quit], BOTS);
    assert_eq!(report.metrics.transport_losses, 0);
}
