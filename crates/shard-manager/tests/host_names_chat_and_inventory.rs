//! What the zone host adds around the simulation: each client learns every
//! avatar's name once; with chat stored before relay, nobody hears a line until
//! the caller hands it back; inventory changes wait for the caller's answer, and
//! past the in-flight limit are answered `Busy` at once.

mod stepper;

use std::collections::HashMap;

use meridian_netcode::emulator::LinkConditions;
use meridian_netcode::{ClientEvent, MAX_INVENTORY_IN_FLIGHT, NetcodeConfig};
use meridian_protocol::messages::{
    ChatChannel, ChatSend, InventoryChange, InventoryResult, InventoryStatus,
};
use meridian_sim::SimConfig;
use stepper::{Stepper, token};

fn small_world() -> Stepper {
    let sim = SimConfig {
        world_width: 30.0,
        world_height: 30.0,
        interest_radius: 40.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    for account in 0..3 {
        let token = token(&stepper.authority, account);
        stepper.connect(token, LinkConditions::PERFECT, account);
    }
    stepper.run_ticks(5, |_, _, _| {});
    stepper
}

#[test]
fn every_client_learns_every_name_once() {
    let mut stepper = small_world();
    stepper.run_ticks(20, |_, _, _| {});
    for peer in &stepper.peers {
        let mut names: HashMap<u32, Vec<String>> = HashMap::new();
        for event in &peer.events {
            if let ClientEvent::Presence(presence) = event {
                names
                    .entry(presence.avatar.0)
                    .or_default()
                    .push(presence.name.clone());
            }
        }
        assert_eq!(names.len(), 3, "{names:?}");
        let mut shown: Vec<String> = names
            .values()
            .map(|sent| {
                assert_eq!(sent.len(), 1, "a name is sent once: {sent:?}");
                sent[0].clone()
            })
            .collect();
        shown.sort();
        assert_eq!(shown, ["bot0", "bot1", "bot2"]);
    }
}

fn heard(stepper: &Stepper, text: &str) -> usize {
    stepper
        .peers
        .iter()
        .filter(|peer| {
            peer.events
                .iter()
                .any(|event| matches!(event, ClientEvent::Chat(relay) if relay.text == text))
        })
        .count()
}

#[test]
fn a_stored_line_is_heard_only_once_handed_back() {
    let mut stepper = small_world();
    stepper.host.store_chat_before_relay(true);
    stepper.peers[0].client.send_chat(ChatSend {
        channel: ChatChannel::Zone,
        text: "kept first".into(),
    });
    stepper.run_ticks(5, |_, _, _| {});
    assert_eq!(
        heard(&stepper, "kept first"),
        0,
        "not relayed before stored"
    );
    let said = stepper.host.take_said();
    assert_eq!(said.len(), 1);
    for line in said {
        stepper.host.relay_said(line);
    }
    stepper.run_ticks(3, |_, _, _| {});
    assert_eq!(
        heard(&stepper, "kept first"),
        3,
        "everyone, speaker included"
    );
}

#[test]
fn inventory_changes_wait_for_their_answer_and_the_excess_is_busy() {
    let mut stepper = small_world();
    let sent = u32::from(MAX_INVENTORY_IN_FLIGHT) + 2;
    for request in 1..=sent {
        stepper.peers[0].client.send_inventory(InventoryChange {
            request,
            item: "7".into(),
            delta: -1,
        });
    }
    // Spread over a few ticks: chat and inventory share a rate limit.
    stepper.run_ticks(10, |_, _, _| {});
    let waiting = stepper.host.take_inventory_requests();
    assert_eq!(waiting.len(), usize::from(MAX_INVENTORY_IN_FLIGHT));
    let answers = |stepper: &Stepper| -> Vec<InventoryResult> {
        stepper.peers[0]
            .events
            .iter()
            .filter_map(|event| match event {
                ClientEvent::Inventory(result) => Some(result.clone()),
                _ => None,
            })
            .collect()
    };
    let busy = answers(&stepper);
    assert_eq!(busy.len(), 2, "{busy:?}");
    assert!(busy.iter().all(|r| r.status == InventoryStatus::Busy));
    assert_eq!(stepper.host.inventory_busy(), 2);

    // The caller commits one and answers it; only then does the client hear.
    let first = &waiting[0];
    stepper.host.finish_inventory(
        first.connection,
        InventoryResult {
            request: first.change.request,
            item: first.change.item.clone(),
            quantity: 1,
            status: InventoryStatus::Applied,
        },
    );
    stepper.run_ticks(2, |_, _, _| {});
    let applied: Vec<_> = answers(&stepper)
        .into_iter()
        .filter(|r| r.status == InventoryStatus::Applied)
        .collect();
    assert_eq!(applied.len(), 1);
    assert_eq!(applied[0].request, first.change.request);
    assert!(
        stepper.peers[1..].iter().all(|peer| !peer
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Inventory(_)))),
        "only the asker hears"
    );
}

#[test]
fn inventory_changes_past_the_rate_limit_are_answered_busy_not_dropped() {
    let mut stepper = small_world();
    let burst = NetcodeConfig::default().chat_lines_per_10s;
    let sent = burst + 5;
    for request in 1..=sent {
        stepper.peers[0].client.send_inventory(InventoryChange {
            request,
            item: "7".into(),
            delta: -1,
        });
    }
    // All in one stream write: the bucket holds `burst`, the rest are over it.
    stepper.run_ticks(3, |_, _, _| {});
    let mut answered: Vec<u32> = stepper
        .host
        .take_inventory_requests()
        .iter()
        .map(|waiting| waiting.change.request)
        .collect();
    let results: Vec<InventoryResult> = stepper.peers[0]
        .events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Inventory(result) => Some(result.clone()),
            _ => None,
        })
        .collect();
    assert!(
        results.iter().all(|r| r.status == InventoryStatus::Busy),
        "{results:?}"
    );
    answered.extend(results.iter().map(|result| result.request));
    answered.sort_unstable();
    assert_eq!(
        answered,
        (1..=sent).collect::<Vec<_>>(),
        "every change is waiting or answered, exactly once"
    );
    assert_eq!(
        stepper.host.server_ref().metrics().chat_rate_limited,
        u64::from(sent - burst)
    );
}

#[test]
fn a_client_asking_for_items_is_refused_before_the_database() {
    let mut stepper = small_world();
    stepper.peers[0].client.send_inventory(InventoryChange {
        request: 1,
        item: "7".into(),
        delta: 1_000,
    });
    stepper.run_ticks(5, |_, _, _| {});
    assert!(
        stepper.host.take_inventory_requests().is_empty(),
        "nothing reaches the database"
    );
    let answers: Vec<_> = stepper.peers[0]
        .events
        .iter()
        .filter_map(|event| match event {
            ClientEvent::Inventory(result) => Some((result.request, result.status)),
            _ => None,
        })
        .collect();
    assert_eq!(answers, [(1, InventoryStatus::NotAllowed)]);
    assert_eq!(stepper.host.inventory_not_allowed(), 1);
}

#[test]
fn newcomers_spawn_near_the_centre_and_a_crowd_spreads_out() {
    let sim = SimConfig {
        world_width: 400.0,
        world_height: 400.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, NetcodeConfig::default());
    let centre = meridian_sim::Vec2::new(200.0, 200.0);
    stepper.host.set_spawn_area(centre, 8.0);
    for account in 0..80 {
        let token = token(&stepper.authority, account);
        stepper.connect(token, LinkConditions::PERFECT, account);
        stepper.run_ticks(1, |_, _, _| {});
    }
    stepper.run_ticks(3, |_, _, _| {});
    let distances: Vec<f32> = {
        let mut states = stepper.host.member_states();
        states.sort_by_key(|state| state.account);
        states
            .iter()
            .map(|state| (state.position - centre).length())
            .collect()
    };
    assert_eq!(distances.len(), 80);
    // The first two land within the 8 m area (a square around the centre),
    // before the crowd rule needs more room.
    assert!(
        distances[..2].iter().all(|d| *d <= 8.0 * 1.5),
        "{distances:?}"
    );
    // The area grows to hold one avatar per 200 m²: 80 need a radius of ~71 m.
    let bound =
        (80.0 / (std::f32::consts::PI * meridian_shard_manager::host::SPAWN_DENSITY)).sqrt();
    assert!(distances.iter().all(|d| *d <= bound * 1.5), "{distances:?}");
    assert!(
        distances.iter().any(|d| *d > 16.0),
        "the crowd spread out: {distances:?}"
    );
}
