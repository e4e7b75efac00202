//! Shared helpers for the Meridian criterion benches: seeded crowds whose density
//! gives about 30 neighbours within the default interest radius.

use meridian_sim::agents::SplitMix64;
use meridian_sim::{SimConfig, Vec2};

/// Entities per square metre that put about 30 neighbours within 30 m
/// (π · 30² · 0.0106 ≈ 30).
pub const DENSITY: f32 = 0.0106;

/// A square world holding `entities` at [`DENSITY`], with default interest settings.
pub fn crowd_config(entities: usize) -> SimConfig {
    let side = (entities as f32 / DENSITY).sqrt().ceil();
    SimConfig {
        world_width: side,
        world_height: side,
        ..SimConfig::default()
    }
}

/// A crowd moving in straight lines, bouncing off the world's edges.
#[derive(Debug, Clone)]
pub struct Crowd {
    /// Current positions.
    pub positions: Vec<Vec2>,
    velocities: Vec<Vec2>,
    side: f32,
}

impl Crowd {
    /// `count` entities at random spots in a `side`-metre square, walking at 1–5 m/s.
    pub fn new(count: usize, side: f32, seed: u64) -> Self {
        let mut rng = SplitMix64::new(seed);
        let positions = (0..count)
            .map(|_| Vec2::new(rng.next_f32() * side, rng.next_f32() * side))
            .collect();
        let velocities = (0..count)
            .map(|_| {
                let angle = rng.next_f32() * std::f32::consts::TAU;
                let speed = 1.0 + 4.0 * rng.next_f32();
                Vec2::new(angle.cos() * speed, angle.sin() * speed)
            })
            .collect();
        Self {
            positions,
            velocities,
            side,
        }
    }

    /// Advances everyone by `dt` seconds.
    pub fn step(&mut self, dt: f32) {
        for (position, velocity) in self.positions.iter_mut().zip(&mut self.velocities) {
            let mut next = *position + *velocity * dt;
            if next.x < 0.0 || next.x > self.side {
                velocity.x = -velocity.x;
                next.x = position.x;
            }
            if next.y < 0.0 || next.y > self.side {
                velocity.y = -velocity.y;
                next.y = position.y;
            }
            *position = next;
        }
    }
}
