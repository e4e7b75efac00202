//! `Zone::for_each_avatar_view` visits every avatar once with where it stands
//! and the size of its view, as `Zone::visible` has it.

use meridian_sim::{AvatarSpawn, ClientId, SimConfig, Vec2, Zone};

fn spawn(zone: &mut Zone, client: u64, x: f32, y: f32) {
    zone.spawn_avatar(
        ClientId(client),
        AvatarSpawn {
            position: Vec2::new(x, y),
            heading: 0.0,
            appearance: 0,
        },
    )
    .unwrap();
}

#[test]
fn every_avatar_is_visited_with_its_view_size() {
    let config = SimConfig {
        world_width: 200.0,
        world_height: 200.0,
        interest_radius: 20.0,
        ..SimConfig::default()
    };
    let mut zone = Zone::new(config).unwrap();
    // Two close together, one far away.
    spawn(&mut zone, 1, 50.0, 50.0);
    spawn(&mut zone, 2, 55.0, 50.0);
    spawn(&mut zone, 3, 150.0, 150.0);
    zone.step(&[]);

    let mut visited = Vec::new();
    zone.for_each_avatar_view(|position, seen| visited.push((position.x, position.y, seen)));
    visited.sort_by(|a, b| a.partial_cmp(b).unwrap());

    let expected: Vec<(f32, f32, usize)> = [(1, 50.0, 50.0), (2, 55.0, 50.0), (3, 150.0, 150.0)]
        .into_iter()
        .map(|(client, x, y)| {
            let seen = zone.visible(ClientId(client)).unwrap().len();
            (x, y, seen)
        })
        .collect();
    assert_eq!(visited, expected);
    // The close pair see more than the one alone.
    assert!(expected[0].2 > expected[2].2, "{expected:?}");
}
