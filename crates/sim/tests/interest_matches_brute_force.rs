//! Every tick, every subscriber's view equals a brute-force model of the rule:
//! the others within the interest radius, plus those already visible that are still
//! within radius + hysteresis, capped to the nearest `max_visible_entities`; and
//! the tick's events are exactly the differences from the previous views. A view is
//! recomputed only on its refresh tick (or while it is empty); on other ticks it
//! only loses avatars that left the zone. Some avatars leave during the run.

use std::collections::{BTreeSet, HashMap};

use meridian_protocol::NetworkId;
use meridian_sim::agents::Wanderers;
use meridian_sim::{ClientId, InterestChange, InterestEvent, SimConfig, Zone};

fn check(max_visible: usize, refresh_ticks: u32, seed: u64) {
    let config = SimConfig {
        world_width: 120.0,
        world_height: 120.0,
        interest_radius: 12.0,
        interest_hysteresis: 3.0,
        max_visible_entities: max_visible,
        interest_refresh_ticks: refresh_ticks,
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
    for step in 0..150u64 {
        if step % 30 == 29 {
            // Someone leaves; their id must vanish from every view this tick,
            // refreshed or not.
            zone.despawn_avatar(ClientId(step * 7 % count))
                .expect("present");
        }
        agents.plan(&zone, &mut inputs);
        let events: Vec<_> = zone.step(&inputs).interest_events.to_vec();
        let tick = zone.tick();
        let avatars: Vec<_> = (0..count)
            .filter_map(|c| Some((ClientId(c), zone.avatar(ClientId(c))?)))
            .collect();
        let alive: BTreeSet<NetworkId> = avatars.iter().map(|(_, avatar)| avatar.id).collect();
        for (client, me) in &avatars {
            let client = *client;
            let before = previous.get(&client).cloned().unwrap_or_default();
            let due = (tick + u64::from(me.id.0)).is_multiple_of(u64::from(refresh_ticks));
            if !due && !before.is_empty() {
                let expected: BTreeSet<_> = before.intersection(&alive).copied().collect();
                check_view(&zone, &events, client, &before, &expected);
                checked_entries += expected.len();
                previous.insert(client, expected);
                continue;
            }
            let mut qualifying: Vec<(f32, NetworkId)> = avatars
                .iter()
                .map(|(_, other)| other)
                .filter(|other| other.id != me.id)
                .map(|other| (other.position.distance_squared(me.position), other.id))
                .filter(|&(d2, id)| {
                    d2 <= radius * radius || (d2 <= leave * leave && before.contains(&id))
                })
                .collect();
            qualifying.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            qualifying.truncate(max_visible);
            let expected: BTreeSet<_> = qualifying.into_iter().map(|(_, id)| id).collect();
            check_view(&zone, &events, client, &before, &expected);
            checked_entries += expected.len();
            previous.insert(client, expected);
        }
    }
    assert!(
        checked_entries > 150 * 300,
        "views should not be empty: {checked_entries}"
    );
}

/// The zone's view of `client` is `expected`, and its events this tick are the
/// difference from `before`.
fn check_view(
    zone: &Zone,
    events: &[InterestEvent],
    client: ClientId,
    before: &BTreeSet<NetworkId>,
    expected: &BTreeSet<NetworkId>,
) {
    let actual: BTreeSet<_> = zone
        .visible(client)
        .expect("subscriber")
        .iter()
        .copied()
        .collect();
    assert_eq!(&actual, expected, "view of {client:?}");
    let of_kind = |change| -> BTreeSet<NetworkId> {
        events
            .iter()
            .filter(|e| e.subscriber == client && e.change == change)
            .map(|e| e.entity)
            .collect()
    };
    assert_eq!(
        of_kind(InterestChange::Entered),
        expected - before,
        "entered for {client:?}"
    );
    assert_eq!(
        of_kind(InterestChange::Left),
        before - expected,
        "left for {client:?}"
    );
}

#[test]
fn views_and_events_match_the_model() {
    check(256, 1, 11);
}

#[test]
fn capped_views_keep_the_nearest() {
    check(4, 1, 12);
}

#[test]
fn staggered_refreshes_match_the_model() {
    check(256, 2, 13);
    check(6, 3, 14);
}
