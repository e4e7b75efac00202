//! Per-client delta snapshots from a real zone: 10,000 wandering avatars (about 30
//! neighbours each), 1,000 of them clients that acknowledged the previous tick.
//! Times one tick's encoding for all 1,000 (shared per-tick records included) and
//! prints, for the same ticks, the bytes against a naive encoder (postcard of each
//! client's full visible state every tick) and the bits per moving avatar.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use meridian_benches::crowd_config;
use meridian_netcode::snapshot::{ClientReplication, MAX_BODY_BYTES, SharedEncodings};
use meridian_protocol::NetworkId;
use meridian_protocol::snapshot::{EntityState, pack_update};
use meridian_sim::agents::Wanderers;
use meridian_sim::{ClientId, Zone};

const AVATARS: usize = 10_000;
const CLIENTS: usize = 1_000;

struct Scene {
    zone: Zone,
    agents: Wanderers,
    inputs: Vec<meridian_sim::ClientInput>,
    clients: Vec<(ClientId, ClientReplication)>,
    shared: SharedEncodings,
    visible: Vec<NetworkId>,
    out: Vec<u8>,
}

/// Totals over encoded ticks.
#[derive(Default)]
struct Totals {
    pairs: u64,
    snapshot_bytes: u64,
    body_bytes: u64,
    naive_bytes: u64,
    update_bits: u64,
    moving_updates: u64,
    unchanged: u64,
}

impl Scene {
    fn new() -> Self {
        let mut zone = Zone::new(crowd_config(AVATARS)).expect("valid config");
        let agents = Wanderers::spawn(&mut zone, AVATARS, 0, 5).expect("room");
        let clients = (0..CLIENTS as u64)
            .map(|c| {
                (
                    ClientId(c * (AVATARS / CLIENTS) as u64),
                    ClientReplication::default(),
                )
            })
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
        for _ in 0..20 {
            scene.step();
            scene.encode(None);
        }
        scene
    }

    fn step(&mut self) {
        self.agents.plan(&self.zone, &mut self.inputs);
        self.zone.step(&self.inputs);
    }

    /// Encodes every client's snapshot for the current tick and acknowledges it.
    fn encode(&mut self, mut totals: Option<&mut Totals>) {
        let tick = self.zone.tick() as u32;
        let states = self.zone.replicated_states();
        self.shared.begin_tick(tick, states.len());
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
            if let Some(totals) = totals.as_deref_mut() {
                totals.pairs += report.sent as u64;
                totals.snapshot_bytes += report.bytes as u64;
                totals.body_bytes += report.body_bytes as u64;
            }
        }
    }

    /// Byte and bit counts for the current tick, measured apart from the timing.
    fn count(&self, previous: &[EntityState], totals: &mut Totals) {
        let states = self.zone.replicated_states();
        let find = |list: &[EntityState], id: NetworkId| {
            list.binary_search_by_key(&id, |state| state.id)
                .ok()
                .map(|at| list[at])
        };
        for (client, _) in &self.clients {
            let visible = self.zone.visible(*client).unwrap_or_default();
            let full: Vec<EntityState> =
                visible.iter().filter_map(|id| find(states, *id)).collect();
            totals.naive_bytes +=
                postcard::to_allocvec(&full).map_or(0, |bytes| bytes.len()) as u64;
            for new in &full {
                match find(previous, new.id) {
                    Some(old) if old != *new && (old.x, old.y) != (new.x, new.y) => {
                        totals.update_bits += pack_update(&old, new).len() as u64;
                        totals.moving_updates += 1;
                    }
                    Some(old) if old == *new => totals.unchanged += 1,
                    _ => {}
                }
            }
        }
    }
}

fn bench(c: &mut Criterion) {
    let mut scene = Scene::new();
    let mut group = c.benchmark_group("snapshot_encoder");
    group.sample_size(20);
    let mut totals = Totals::default();
    let mut encode_time = Duration::ZERO;
    group.bench_function("tick_1000_clients_10000_avatars", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let previous = scene.zone.replicated_states().to_vec();
                scene.step();
                let begun = Instant::now();
                scene.encode(Some(&mut totals));
                let elapsed = begun.elapsed();
                total += elapsed;
                encode_time += elapsed;
                scene.count(&previous, &mut totals);
            }
            total
        })
    });
    group.finish();
    let pairs = totals.pairs.max(1);
    println!(
        "snapshot_encoder: {:.3} µs per (client, changed entity) pair over {} pairs",
        encode_time.as_secs_f64() * 1e6 / pairs as f64,
        pairs
    );
    println!(
        "snapshot_encoder: {:.1} bits per moving avatar update ({} updates); \
         unchanged visible entity 1 bit ({} seen)",
        totals.update_bits as f64 / totals.moving_updates.max(1) as f64,
        totals.moving_updates,
        totals.unchanged
    );
    println!(
        "snapshot_encoder: naive postcard of full views {} bytes; delta snapshot messages {} bytes \
         ({:.2}x smaller); their bodies alone {} bytes ({:.2}x smaller)",
        totals.naive_bytes,
        totals.snapshot_bytes,
        totals.naive_bytes as f64 / totals.snapshot_bytes.max(1) as f64,
        totals.body_bytes,
        totals.naive_bytes as f64 / totals.body_bytes.max(1) as f64
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
