//! Under 5% loss, 100 ms delay, jitter, reordering and duplication, every snapshot
//! a client decodes equals the view the server meant for it at that tick, no
//! client ever lags more than a bounded number of ticks, and once movement
//! stops every client's view equals the server's within a bounded number of
//! ticks, also when the byte budget is too small for every change. Seeds that ever fail are added to `SEEDS` for good.

mod stepper;

use std::time::Duration;

use meridian_netcode::emulator::LinkConditions;
use meridian_netcode::{ClientPhase, NetcodeConfig};
use meridian_protocol::messages::{AnimationState, MovementIntent};
use meridian_sim::SimConfig;
use meridian_sim::agents::SplitMix64;
use stepper::{Stepper, token};

const SEEDS: [u64; 4] = [1, 2, 3, 4];
/// Most ticks a client's newest view may trail the server: 100 ms each way is two
/// ticks, and a run of lost snapshots at 5% rarely exceeds a few.
const MAX_LAG_TICKS: u32 = 12;

fn lossy() -> LinkConditions {
    LinkConditions {
        loss: 0.05,
        delay: Duration::from_millis(100),
        jitter: Duration::from_millis(20),
        reorder: 0.02,
        duplicate: 0.01,
    }
}

fn run(seed: u64, netcode: NetcodeConfig) {
    let exact = netcode == NetcodeConfig::default();
    let sim = SimConfig {
        world_width: 120.0,
        world_height: 120.0,
        interest_radius: 40.0,
        ..SimConfig::default()
    };
    let mut stepper = Stepper::new(sim, netcode);
    let clients = 24;
    for account in 0..clients {
        let token = token(&stepper.authority, account);
        stepper.connect(token, lossy(), seed * 1_000 + account);
    }
    let mut random = SplitMix64::new(seed);
    let mut walking = true;
    let mut directions: Vec<(f32, f32)> = vec![(1.0, 0.0); clients as usize];
    let mut max_lag = 0;
    let mut checked = 0usize;
    for tick in 0..260u32 {
        if tick == 200 {
            walking = false;
        }
        if tick % 20 == 0 {
            for direction in &mut directions {
                let angle = random.next_f32() * std::f32::consts::TAU;
                *direction = (angle.cos(), angle.sin());
            }
        }
        stepper.run_ticks(1, |index, client, now| {
            let (x, y) = directions[index];
            let intent = if walking {
                MovementIntent {
                    move_x: x,
                    move_y: y,
                    speed: 2.0,
                    heading: y.atan2(x),
                    animation: AnimationState::Walk,
                }
            } else {
                MovementIntent::idle(0.0)
            };
            client.send_input(now, intent);
        });
        let server_tick = stepper.tick();
        for (index, peer) in stepper.peers.iter_mut().enumerate() {
            peer.events.clear();
            for (tick, view) in peer.decoded.drain(..) {
                let truth = stepper.truth.get(&(index, tick)).expect("server sent it");
                if exact {
                    assert_eq!(&view, truth, "seed {seed} peer {index} tick {tick}");
                }
                checked += 1;
            }
            if server_tick > 30 {
                assert_eq!(
                    peer.client.phase(),
                    ClientPhase::Connected,
                    "seed {seed} peer {index}"
                );
                let lag = server_tick - peer.client.view_tick().expect("has a view");
                max_lag = max_lag.max(lag);
            }
        }
    }
    assert!(
        max_lag <= MAX_LAG_TICKS,
        "seed {seed}: a client lagged {max_lag} ticks"
    );
    // Converged: standing still for 60 ticks, every view is the server's now.
    let final_tick = stepper.tick();
    for (index, peer) in stepper.peers.iter().enumerate() {
        let seen = peer.client.view_tick().expect("has a view");
        let truth = &stepper.truth[&(index, final_tick)];
        let truth_seen = &stepper.truth[&(index, seen)];
        assert_eq!(
            truth_seen, truth,
            "seed {seed} peer {index}: the world is still"
        );
        assert_eq!(
            peer.client.view(),
            truth.as_slice(),
            "seed {seed} peer {index}"
        );
        assert!(
            peer.client.stats().decode_errors == 0,
            "seed {seed} peer {index}"
        );
    }
    assert!(checked > 24 * 200, "only {checked} snapshots checked");
    let metrics = stepper.host.server_ref().metrics();
    assert_eq!(metrics.malformed_datagrams, 0);
    if !exact {
        assert!(
            metrics.changes_deferred_by_budget > 100,
            "the tight budget should defer changes: {metrics:?}"
        );
    }
    assert!(metrics.snapshots_sent > 24 * 250);
}

#[test]
fn views_converge_for_every_seed() {
    for seed in SEEDS {
        run(seed, NetcodeConfig::default());
    }
}

/// With 1,000 bytes per second (50 per tick) not every change fits: views trail
/// while everyone walks, and still equal the server's soon after they stop.
#[test]
fn views_converge_with_a_tight_budget() {
    let tight = NetcodeConfig {
        snapshot_bytes_per_second: 1_000,
        ..NetcodeConfig::default()
    };
    for seed in SEEDS {
        run(seed, tight.clone());
    }
}
