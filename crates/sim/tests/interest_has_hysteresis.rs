//! Views gain an entity within the interest radius and lose it only beyond the
//! radius plus the hysteresis, with one event for each change.

use meridian_protocol::{AnimationState, Input, MovementIntent, NetworkId};
use meridian_sim::{
    AvatarSpawn, ClientId, ClientInput, InterestChange, InterestEvent, SimConfig, Vec2, Zone,
};

const WATCHER: ClientId = ClientId(1);
const WALKER: ClientId = ClientId(2);

fn spawn(zone: &mut Zone, client: ClientId, x: f32) -> NetworkId {
    zone.spawn_avatar(
        client,
        AvatarSpawn {
            position: Vec2::new(x, 50.0),
            heading: 0.0,
            appearance: 0,
        },
    )
    .unwrap()
}

/// Walks WALKER along x at 5 m/s (0.25 m per tick) for `ticks`, collecting the
/// WATCHER's events.
fn walk(zone: &mut Zone, sequence: &mut u32, direction: f32, ticks: usize) -> Vec<InterestEvent> {
    let mut events = Vec::new();
    for _ in 0..ticks {
        *sequence += 1;
        let input = ClientInput {
            client: WALKER,
            input: Input {
                sequence: *sequence,
                intent: MovementIntent {
                    move_x: direction,
                    move_y: 0.0,
                    speed: 5.0,
                    heading: 0.0,
                    animation: AnimationState::Run,
                },
            },
        };
        let output = zone.step(&[input]);
        events.extend(
            output
                .interest_events
                .iter()
                .filter(|e| e.subscriber == WATCHER),
        );
    }
    events
}

#[test]
fn entering_leaving_and_the_band_between() {
    let config = SimConfig {
        world_width: 200.0,
        world_height: 100.0,
        interest_radius: 20.0,
        interest_hysteresis: 5.0,
        ..SimConfig::default()
    };
    let mut zone = Zone::new(config).unwrap();
    spawn(&mut zone, WATCHER, 50.0);
    let walker = spawn(&mut zone, WALKER, 80.0);
    let mut sequence = 0;

    // 30 m away: not visible.
    let events = walk(&mut zone, &mut sequence, -1.0, 1);
    assert!(events.is_empty());
    assert_eq!(zone.visible(WATCHER), Some(&[][..]));

    // Walk to 19.75 m away: crosses 20 m on the way in, exactly one Entered.
    let events = walk(&mut zone, &mut sequence, -1.0, 40);
    assert_eq!(
        events,
        vec![InterestEvent {
            subscriber: WATCHER,
            entity: walker,
            change: InterestChange::Entered
        }]
    );
    assert_eq!(zone.visible(WATCHER), Some(&[walker][..]));

    // Back out to 24.75 m: inside the hysteresis band, still visible, no event.
    let events = walk(&mut zone, &mut sequence, 1.0, 20);
    assert!(events.is_empty(), "{events:?}");
    assert_eq!(zone.visible(WATCHER), Some(&[walker][..]));

    // Out to 25.75 m: exactly one Left.
    let events = walk(&mut zone, &mut sequence, 1.0, 4);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].change, InterestChange::Left);
    assert_eq!(zone.visible(WATCHER), Some(&[][..]));
}

#[test]
fn a_despawned_entity_leaves_every_view_it_was_in() {
    let mut zone = Zone::new(SimConfig::default()).unwrap();
    spawn(&mut zone, WATCHER, 50.0);
    let walker = spawn(&mut zone, WALKER, 55.0);
    let output = zone.step(&[]);
    assert_eq!(output.interest_events.len(), 2, "both see each other");
    zone.despawn_avatar(WALKER).unwrap();
    let output = zone.step(&[]);
    assert_eq!(
        output.interest_events,
        &[InterestEvent {
            subscriber: WATCHER,
            entity: walker,
            change: InterestChange::Left
        }]
    );
}

#[test]
fn a_crowded_view_keeps_the_nearest() {
    let config = SimConfig {
        max_visible_entities: 3,
        ..SimConfig::default()
    };
    let mut zone = Zone::new(config).unwrap();
    spawn(&mut zone, WATCHER, 50.0);
    let ids: Vec<_> = (0..6)
        .map(|i| spawn(&mut zone, ClientId(10 + i), 51.0 + i as f32))
        .collect();
    zone.step(&[]);
    assert_eq!(zone.visible(WATCHER), Some(&ids[..3]));
    let mut view = Vec::new();
    assert!(zone.view_of(WATCHER, &mut view));
    assert_eq!(view.iter().map(|s| s.id).collect::<Vec<_>>(), &ids[..3]);
}
