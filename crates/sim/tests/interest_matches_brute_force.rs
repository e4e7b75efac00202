//! Every tick, every subscriber's view equals a brute-force model of the rule:
//! the others within the interest radius, plus those already visible that are still
//! within radius + hysteresis, capped to the nearest `max_visible_entities`; and
//! the tick's events are exactly the differences from the previous views.

use std::collections::{BTreeSet, HashMap};

use meridian_protocol::NetworkId;
use meridian_sim::agents::Wanderers;
use meridian_sim::{ClientId, InterestChange, SimConfig, Zone};

fn check(max_visible: usize, seed: u64) {
    let config = SimConfig {
        world_width: 120.0,
        world_height: 120.0,
        interest_radius: 12.0,
        interest_hysteresis: 3.0,
        max_visible_entities: max_visible,
        ..SimConfig::default()
    };
    let (radius, leave) = (
        config.interest_radius,
        config.interest_radius + config.interest_hysteresis,
    );
    let mut zone = Zone::new(config).expect("valid config");
    let count = 300u64;
    let mut agents = Wanderers::spawn(&mut zone, count as usize, 0, seed).expect("room");
    let mut inputs = Vec::new();
    let mut previous: HashMap<ClientId, BTreeSet<NetworkId>> = HashMap::new();
    let mut checked_entries = 0usize;
    for _ in 0..150 {
        agents.plan(&zone, &mut inputs);
        let events: Vec<_> = zone.step(&inputs).interest_events.to_vec();
        let avatars: Vec<_> = (0..count)
            .map(|c| zone.avatar(ClientId(c)).expect("spawned"))
            .collect();
        for (index, me) in avatars.iter().enumerate() {
            let client = ClientId(index as u64);
            let before = previous.get(&client).cloned().unwrap_or_default();
            let mut qualifying: Vec<(f32, NetworkId)> = avatars
                .iter()
                .filter(|other| other.id != me.id)
                .map(|other| (other.position.distance_squared(me.position), other.id))
                .filter(|&(d2, id)| {
                    d2 <= radius * radius || (d2 <= leave * leave && before.contains(&id))
                })
                .collect();
            qualifying.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            qualifying.truncate(max_visible);
            let expected: BTreeSet<_> = qualifying.into_iter().map(|(_, id)| id).collect();
            let actual: BTreeSet<_> = zone
                .visible(client)
                .expect("subscriber")
                .iter()
                .copied()
                .collect();
            assert_eq!(actual, expected, "view of {client:?}");
            let entered: BTreeSet<_> = events
                .iter()
                .filter(|e| e.subscriber == client && e.change == InterestChange::Entered)
                .map(|e| e.entity)
                .collect();
            let left: BTreeSet<_> = events
                .iter()
                .filter(|e| e.subscriber == client && e.change == InterestChange::Left)
                .map(|e| e.entity)
                .collect();
            assert_eq!(entered, &expected - &before, "entered for {client:?}");
            assert_eq!(left, &before - &expected, "left for {client:?}");
            checked_entries += expected.len();
            previous.insert(client, expected);
        }
    }
    assert!(
        checked_entries > 150 * 300,
        "views should not be empty: {checked_entries}"
    );
}

#[test]
fn views_and_events_match_the_model() {
    check(256, 11);
}

#[test]
fn capped_views_keep_the_nearest() {
    check(4, 12);
}
