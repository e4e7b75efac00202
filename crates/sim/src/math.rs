//! The little vector math a zone needs: a 2D vector and an axis-aligned box.

use serde::{Deserialize, Serialize};
use std::ops::{Add, Mul, Sub};

/// A point or direction on the zone's ground plane, in metres.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Vec2 {
    /// East.
    pub x: f32,
    /// North.
    pub y: f32,
}

impl Vec2 {
    /// The origin.
    pub const ZERO: Self = Self { x: 0.0, y: 0.0 };

    /// A vector from its components.
    pub const fn new(x: f32, y: f32) -> Self {
        Self { x, y }
    }

    /// Squared length.
    pub fn length_squared(self) -> f32 {
        self.x * self.x + self.y * self.y
    }

    /// Length.
    pub fn length(self) -> f32 {
        self.length_squared().sqrt()
    }

    /// Squared distance to `other`.
    pub fn distance_squared(self, other: Self) -> f32 {
        (self - other).length_squared()
    }

    /// Whether both components are finite.
    pub fn is_finite(self) -> bool {
        self.x.is_finite() && self.y.is_finite()
    }
}

impl Add for Vec2 {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self::new(self.x + other.x, self.y + other.y)
    }
}

impl Sub for Vec2 {
    type Output = Self;
    fn sub(self, other: Self) -> Self {
        Self::new(self.x - other.x, self.y - other.y)
    }
}

impl Mul<f32> for Vec2 {
    type Output = Self;
    fn mul(self, scale: f32) -> Self {
        Self::new(self.x * scale, self.y * scale)
    }
}

/// An axis-aligned rectangle on the ground plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Aabb {
    /// South-west corner.
    pub min: Vec2,
    /// North-east corner.
    pub max: Vec2,
}

impl Aabb {
    /// A rectangle from two corners (in any order).
    pub fn from_corners(a: Vec2, b: Vec2) -> Self {
        Self {
            min: Vec2::new(a.x.min(b.x), a.y.min(b.y)),
            max: Vec2::new(a.x.max(b.x), a.y.max(b.y)),
        }
    }

    /// The square of side `2 * radius` around `center`.
    pub fn around(center: Vec2, radius: f32) -> Self {
        Self {
            min: Vec2::new(center.x - radius, center.y - radius),
            max: Vec2::new(center.x + radius, center.y + radius),
        }
    }

    /// Whether a circle overlaps this rectangle.
    pub fn intersects_circle(&self, center: Vec2, radius: f32) -> bool {
        let nearest = Vec2::new(
            center.x.clamp(self.min.x, self.max.x),
            center.y.clamp(self.min.y, self.max.y),
        );
        nearest.distance_squared(center) < radius * radius
    }

    /// Whether the rectangle lies within `[0, width] × [0, height]`.
    pub fn within(&self, width: f32, height: f32) -> bool {
        self.is_finite()
            && self.min.x >= 0.0
            && self.min.y >= 0.0
            && self.max.x <= width
            && self.max.y <= height
    }

    fn is_finite(&self) -> bool {
        self.min.is_finite() && self.max.is_finite()
    }
}
