//! A fixed, seeded snapshot-encoding workload for instruction counts
//! (`valgrind --tool=callgrind`), with a wall-clock figure per (client, changed
//! entity) pair as well. Two scenes, chosen by `MERIDIAN_SCENE` (default both):
//!
//! - `spread`: the criterion bench's scene, 10,000 wandering avatars at about 30
//!   neighbours each, 1,000 of them clients;
//! - `dense`: the dense crowd of issue 14, 1,000 avatars in a 160 m square with a
//!   100 m interest radius, every one a client, views at the 256 cap;
//! - `world`: ids as one process serves a fresh world: 40 starter elements at
//!   the bottom of the zone's range and 1,000 players from 2^20 + 1 up (where
//!   avatar ids by account begin), every one a client, 30 m interest.
//!
//! Each scene warms up for 100 ticks, then encodes `MERIDIAN_TICKS` ticks (default
//! 10) for every client, each client acknowledging every snapshot. Only
//! `measured_tick` does the measured work (the warm-up calls `encode_tick`
//! directly), so `--toggle-collect='*measured_tick*'` counts the encoder alone,
//! over the measured ticks only.

use std::time::{Duration, Instant};

use meridian_benches::crowd_config;
use meridian_netcode::snapshot::{ClientReplication, MAX_BODY_BYTES, SharedEncodings};
use meridian_protocol::NetworkId;
use meridian_sim::agents::Wanderers;
use meridian_sim::{Aabb, ClientId, ElementPlacement, SimConfig, Vec2, Zone};

struct Scene {
    zone: Zone,
    agents: Wanderers,
    inputs: Vec<meridian_sim::ClientInput>,
    clients: Vec<(ClientId, ClientReplication)>,
    shared: SharedEncodings,
    visible: Vec<NetworkId>,
    out: Vec<u8>,
}

impl Scene {
    fn new(config: SimConfig, avatars: usize, clients: usize) -> Self {
        Self::with_elements(config, 0, avatars, clients)
    }

    /// A scene whose first `elements` ids (from 1) are elements laid in a row
    /// along the zone's bottom edge; avatars take ids from the config's
    /// `first_network_id`.
    fn with_elements(config: SimConfig, elements: u32, avatars: usize, clients: usize) -> Self {
        let mut zone = Zone::new(config).expect("valid config");
        for element in 0..elements {
            let x = 2.0 + element as f32 * 3.0;
            let placement = ElementPlacement {
                bounds: Aabb::from_corners(Vec2::new(x, 2.0), Vec2::new(x + 1.0, 3.0)),
                appearance: 0,
                blocking: false,
            };
            zone.place_element_as(placement, NetworkId(1 + element))
                .expect("room for the row");
        }
        let agents = Wanderers::spawn(&mut zone, avatars, 0, 5).expect("room");
        let stride = (avatars / clients) as u64;
        let clients = (0..clients as u64)
            .map(|c| (ClientId(c * stride), ClientReplication::default()))
            .collect();
        let mut scene = Self {
            zone,
            agents,
            inputs: Vec::new(),
            clients,
            shared: SharedEncodings::default(),
            visible: Vec::new(),
            out: Vec::new(),
        };
        // Several turns of the ring's 32 ticks, so every buffer that circulates
        // through it has grown to its working size.
        for _ in 0..100 {
            scene.step();
            scene.encode_tick();
        }
        scene
    }

    fn step(&mut self) {
        self.agents.plan(&self.zone, &mut self.inputs);
        self.zone.step(&self.inputs);
    }

    /// [`Self::encode_tick`] for a measured tick, under its own name for callgrind.
    #[inline(never)]
    fn measured_tick(&mut self) -> u64 {
        self.encode_tick()
    }

    /// Encodes every client's snapshot for the current tick and acknowledges it;
    /// returns the changes sent.
    fn encode_tick(&mut self) -> u64 {
        let tick = self.zone.tick() as u32;
        let states = self.zone.replicated_states();
        self.shared.begin_tick(tick, states.len());
        let mut pairs = 0;
        for (client, replication) in &mut self.clients {
            let Some(me) = self.zone.avatar(*client) else {
                continue;
            };
            self.visible.clear();
            self.visible
                .extend_from_slice(self.zone.visible(*client).unwrap_or_default());
            let report = replication
                .encode(
                    tick,
                    &self.visible,
                    states,
                    &mut self.shared,
                    Some([me.position.x, me.position.y]),
                    MAX_BODY_BYTES,
                    0,
                    &mut self.out,
                )
                .expect("encodes");
            replication.acknowledge(tick);
            pairs += report.sent as u64;
        }
        pairs
    }
}

fn run(name: &str, mut scene: Scene, ticks: usize) {
    let mut pairs = 0u64;
    let mut elapsed = Duration::ZERO;
    let mut view_total = 0usize;
    for _ in 0..ticks {
        scene.step();
        let begun = Instant::now();
        pairs += scene.measured_tick();
        elapsed += begun.elapsed();
        view_total += scene
            .clients
            .iter()
            .map(|(client, _)| scene.zone.visible(*client).map_or(0, <[_]>::len))
            .sum::<usize>();
    }
    let clients = scene.clients.len();
    println!(
        "snapshot_encoder_fixed {name}: {ticks} ticks x {clients} clients, {:.1} entities \
         per view, {pairs} pairs, {:.3} ms per tick, {:.1} ns per (client, changed entity) pair",
        view_total as f64 / (ticks * clients).max(1) as f64,
        elapsed.as_secs_f64() * 1e3 / ticks.max(1) as f64,
        elapsed.as_secs_f64() * 1e9 / pairs.max(1) as f64,
    );
}

fn main() {
    let scene = std::env::var("MERIDIAN_SCENE").unwrap_or_default();
    let ticks = std::env::var("MERIDIAN_TICKS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10);
    if scene.is_empty() || scene == "spread" {
        run(
            "spread",
            Scene::new(crowd_config(10_000), 10_000, 1_000),
            ticks,
        );
    }
    if scene.is_empty() || scene == "dense" {
        let config = SimConfig {
            world_width: 160.0,
            world_height: 160.0,
            interest_radius: 100.0,
            ..SimConfig::default()
        };
        run("dense", Scene::new(config, 1_000, 1_000), ticks);
    }
    if scene.is_empty() || scene == "world" {
        let config = SimConfig {
            first_network_id: (1 << 20) + 1,
            ..crowd_config(1_000)
        };
        run(
            "world",
            Scene::with_elements(config, 40, 1_000, 1_000),
            ticks,
        );
    }
}
