//! Quantizers, and the declaration of every quantized snapshot field.
//!
//! Both ends quantize the same way, so a client that reconstructs a view from
//! snapshots holds exactly the integers the server encoded: deltas are exact and
//! errors never accumulate.

use std::f32::consts::TAU;

/// Maps a real interval onto `bits`-bit unsigned integers in fixed steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearQuantizer {
    /// The value that quantizes to 0.
    pub min: f32,
    /// The size of one step.
    pub resolution: f32,
    /// Bits per quantized value.
    pub bits: u32,
}

impl LinearQuantizer {
    /// The largest quantized value.
    pub const fn max_step(&self) -> u32 {
        if self.bits >= 32 {
            u32::MAX
        } else {
            (1u32 << self.bits) - 1
        }
    }

    /// The largest real value that quantizes without clamping.
    pub fn max_value(&self) -> f32 {
        self.min + self.max_step() as f32 * self.resolution
    }

    /// Quantizes `value`, rounding to the nearest step and clamping to the range.
    /// NaN quantizes to 0.
    pub fn quantize(&self, value: f32) -> u32 {
        let steps = ((value - self.min) / self.resolution).round();
        if steps.is_nan() || steps <= 0.0 {
            0
        } else if steps >= self.max_step() as f32 {
            self.max_step()
        } else {
            // In range by the checks above.
            steps as u32
        }
    }

    /// The real value of a quantized step.
    pub fn dequantize(&self, steps: u32) -> f32 {
        self.min + steps.min(self.max_step()) as f32 * self.resolution
    }
}

/// Maps an angle in radians onto `bits`-bit unsigned integers over one full turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AngleQuantizer {
    /// Bits per quantized angle; a turn has `2^bits` steps.
    pub bits: u32,
}

impl AngleQuantizer {
    /// Quantizes an angle (any real; wrapped into one turn). NaN quantizes to 0.
    pub fn quantize(&self, radians: f32) -> u32 {
        let steps = 1u32 << self.bits;
        let turn = radians.rem_euclid(TAU) / TAU;
        let step = (turn * steps as f32).round();
        if step.is_nan() {
            0
        } else {
            // rem_euclid keeps `turn` in [0, 1], so `step` is in [0, steps].
            (step as u32) % steps
        }
    }

    /// The angle of a quantized step, in radians within `[0, 2π)`.
    pub fn dequantize(&self, step: u32) -> f32 {
        let steps = 1u32 << self.bits;
        (step % steps) as f32 / steps as f32 * TAU
    }
}

/// The declared encoding of every snapshot field. `docs/PROTOCOL.md` lists the same.
pub mod fields {
    use super::{AngleQuantizer, LinearQuantizer};

    /// Position x and y, zone-local metres: 1/64 m steps over `[0, 16384)` m.
    pub const POSITION: LinearQuantizer = LinearQuantizer {
        min: 0.0,
        resolution: 1.0 / 64.0,
        bits: 20,
    };
    /// Bits of each axis of a tiny position delta, offset binary: the value written
    /// is `delta + 16`, so deltas of −16..=15 steps (±0.25 m, a walking tick) fit.
    pub const POSITION_TINY_DELTA_BITS: u32 = 5;
    /// The offset added to a tiny position delta before it is written.
    pub const POSITION_TINY_DELTA_OFFSET: i64 = 16;
    /// Bits of each axis of a small position delta, offset binary: the value written
    /// is `delta + 128`, so deltas of −128..=127 steps (±2 m) fit.
    pub const POSITION_DELTA_BITS: u32 = 8;
    /// The offset added to a small position delta before it is written.
    pub const POSITION_DELTA_OFFSET: i64 = 128;
    /// Heading, radians around the vertical axis: 1,024 steps per turn.
    pub const HEADING: AngleQuantizer = AngleQuantizer { bits: 10 };
    /// Bits of the animation state.
    pub const ANIMATION_BITS: u32 = 3;
    /// Bits of the entity kind.
    pub const KIND_BITS: u32 = 2;
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn position_range_is_sixteen_kilometres() {
        assert_eq!(fields::POSITION.max_step(), (1 << 20) - 1);
        assert!((fields::POSITION.max_value() - 16_383.984).abs() < 0.001);
        assert_eq!(fields::POSITION.quantize(-5.0), 0);
        assert_eq!(fields::POSITION.quantize(f32::NAN), 0);
        assert_eq!(fields::POSITION.quantize(1e9), (1 << 20) - 1);
        assert_eq!(fields::POSITION.quantize(1.5), 96);
    }

    #[test]
    fn heading_wraps_around_a_turn() {
        let heading = fields::HEADING;
        assert_eq!(heading.quantize(0.0), 0);
        assert_eq!(heading.quantize(TAU), 0);
        assert_eq!(heading.quantize(-TAU / 4.0), 768);
        assert_eq!(heading.quantize(TAU - 0.0001), 0);
        assert_eq!(heading.quantize(f32::INFINITY), 0);
    }

    proptest! {
        #[test]
        fn position_error_is_at_most_half_a_step(value in 0.0f32..16_383.0) {
            let q = fields::POSITION;
            let back = q.dequantize(q.quantize(value));
            prop_assert!((back - value).abs() <= q.resolution / 2.0 + 1e-3);
        }

        #[test]
        fn heading_error_is_at_most_half_a_step(value in -100.0f32..100.0) {
            let q = fields::HEADING;
            let back = q.dequantize(q.quantize(value));
            let diff = (back - value.rem_euclid(TAU)).abs();
            let diff = diff.min(TAU - diff);
            prop_assert!(diff <= TAU / 1024.0 / 2.0 + 1e-4);
        }
    }
}
