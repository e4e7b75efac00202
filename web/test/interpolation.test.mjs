// Tests for web/interpolation.js: the maths, heading wrap-around, the tick
// clock and the buffer's bounds.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  InterpolationBuffer,
  TickClock,
  angleDelta,
  lerp,
  lerpAngle,
  wrapAngle,
} from '../interpolation.js';

const TAU = Math.PI * 2;
const close = (actual, expected, eps = 1e-9, what = '') =>
  assert.ok(Math.abs(actual - expected) <= eps, `${what} expected ${expected}, got ${actual}`);

const pose = (x, y, heading = 0, animation = 'Idle') => ({ x, y, heading, animation });

test('wrapAngle keeps angles in [0, 2π)', () => {
  close(wrapAngle(0), 0);
  close(wrapAngle(TAU), 0);
  close(wrapAngle(-0.5), TAU - 0.5);
  close(wrapAngle(3 * TAU + 1), 1, 1e-9);
  assert.ok(wrapAngle(-1e-12) < TAU);
});

test('angleDelta takes the shorter way round', () => {
  close(angleDelta(0.1, 0.3), 0.2);
  close(angleDelta(0.3, 0.1), -0.2);
  // Across zero, both ways.
  close(angleDelta(TAU - 0.1, 0.1), 0.2, 1e-12);
  close(angleDelta(0.1, TAU - 0.1), -0.2, 1e-12);
  // Exactly opposite: a half turn, one way or the other.
  close(Math.abs(angleDelta(0, Math.PI)), Math.PI, 1e-12);
});

test('lerp and lerpAngle', () => {
  close(lerp(2, 4, 0), 2);
  close(lerp(2, 4, 0.25), 2.5);
  close(lerp(2, 4, 1), 4);
  // From 350° to 10° passes through 0°, not 180°.
  const a = (350 / 360) * TAU;
  const b = (10 / 360) * TAU;
  close(lerpAngle(a, b, 0.5), 0, 1e-12);
  close(lerpAngle(a, b, 0.25), (355 / 360) * TAU, 1e-12);
  close(lerpAngle(a, b, 0.75), (5 / 360) * TAU, 1e-12);
  close(lerpAngle(b, a, 0.5), 0, 1e-12);
  // Results stay in [0, 2π).
  for (let t = 0; t <= 1; t += 0.125) {
    const h = lerpAngle(a, b, t);
    assert.ok(h >= 0 && h < TAU);
  }
});

test('samples between two points are interpolated linearly', () => {
  const buf = new InterpolationBuffer();
  buf.push(1000, pose(0, 0, 0, 'Walk'));
  buf.push(1100, pose(10, -4, 1, 'Run'));
  const mid = buf.sample(1050);
  close(mid.x, 5);
  close(mid.y, -2);
  close(mid.heading, 0.5);
  const q = buf.sample(1075);
  close(q.x, 7.5);
  close(q.y, -3);
});

test('animation comes from the nearer sample', () => {
  const buf = new InterpolationBuffer();
  buf.push(0, pose(0, 0, 0, 'Walk'));
  buf.push(100, pose(1, 0, 0, 'Sit'));
  assert.equal(buf.sample(10).animation, 'Walk');
  assert.equal(buf.sample(49).animation, 'Walk');
  assert.equal(buf.sample(50).animation, 'Sit');
  assert.equal(buf.sample(90).animation, 'Sit');
});

test('heading interpolates across the wrap', () => {
  const buf = new InterpolationBuffer();
  const a = TAU - 0.2;
  buf.push(0, pose(0, 0, a));
  buf.push(100, pose(0, 0, 0.2));
  close(buf.sample(50).heading, 0, 1e-12);
  close(buf.sample(25).heading, TAU - 0.1, 1e-12);
  close(buf.sample(75).heading, 0.1, 1e-12);
});

test('before the first sample, the first sample is held', () => {
  const buf = new InterpolationBuffer();
  assert.equal(buf.sample(0), null);
  buf.push(1000, pose(3, 4));
  assert.deepEqual(buf.sample(0), pose(3, 4));
  buf.push(1100, pose(5, 4));
  assert.deepEqual(buf.sample(500), pose(3, 4));
});

test('past the newest sample: limited extrapolation, then a clamp', () => {
  const buf = new InterpolationBuffer({ maxExtrapolationMs: 50 });
  buf.push(0, pose(0, 0));
  buf.push(100, pose(10, 0));
  close(buf.sample(100).x, 10);
  close(buf.sample(120).x, 12);
  close(buf.sample(150).x, 15);
  // Never further than 50 ms ahead, however late the render time is.
  close(buf.sample(400).x, 15);
  close(buf.sample(100000).x, 15);

  const still = new InterpolationBuffer({ maxExtrapolationMs: 0 });
  still.push(0, pose(0, 0));
  still.push(100, pose(10, 0));
  close(still.sample(1000).x, 10);
});

test('a single sample is held, not extrapolated', () => {
  const buf = new InterpolationBuffer();
  buf.push(100, pose(1, 2, 3, 'Wave'));
  assert.deepEqual(buf.sample(5000), pose(1, 2, 3, 'Wave'));
});

test('snapDistance turns long moves into jumps', () => {
  const buf = new InterpolationBuffer({ snapDistance: 5 });
  buf.push(0, pose(0, 0));
  buf.push(100, pose(100, 0));
  close(buf.sample(50).x, 0);
  close(buf.sample(99).x, 0);
  close(buf.sample(100).x, 100);
  // The jump is not extrapolated either.
  close(buf.sample(130).x, 100);
});

test('old samples are dropped as render time passes them', () => {
  const buf = new InterpolationBuffer();
  for (let i = 0; i < 10; i++) buf.push(i * 100, pose(i, 0));
  assert.equal(buf.size, 10);
  close(buf.sample(450).x, 4.5);
  // Kept: the sample at 400 (start of the segment) and everything newer.
  assert.equal(buf.samples[0].time, 400);
  assert.equal(buf.size, 6);
  // Far past the end: the last two stay, for extrapolation.
  buf.sample(5000);
  assert.equal(buf.size, 2);
  // Sampling an earlier time after pruning holds the oldest remaining sample.
  close(buf.sample(0).x, 8);
});

test('the buffer never holds more than maxSamples', () => {
  const buf = new InterpolationBuffer({ maxSamples: 8 });
  for (let i = 0; i < 1000; i++) buf.push(i, pose(i, 0));
  assert.equal(buf.size, 8);
  assert.equal(buf.samples[0].time, 992);
  assert.equal(buf.newest.time, 999);
  buf.clear();
  assert.equal(buf.size, 0);
  assert.equal(buf.newest, null);
});

test('samples out of order are slotted in; equal times replace', () => {
  const buf = new InterpolationBuffer();
  buf.push(0, pose(0, 0));
  buf.push(200, pose(20, 0));
  buf.push(100, pose(5, 0));
  assert.deepEqual(buf.samples.map((s) => s.time), [0, 100, 200]);
  close(buf.sample(50).x, 2.5);
  buf.push(200, pose(30, 0));
  assert.deepEqual(buf.samples.map((s) => s.time), [0, 100, 200]);
  close(buf.sample(150).x, 17.5);
});

test('TickClock spaces ticks by the tick interval despite jitter', () => {
  const clock = new TickClock(20); // 50 ms per tick
  assert.ok(Number.isNaN(clock.timeOf(1)));
  // Arrivals with up to 30 ms of jitter on top of a 40 ms transit.
  const jitter = [0, 30, 5, 25, 10, 0, 20, 15];
  const times = [];
  for (let i = 0; i < jitter.length; i++) {
    const tick = 1000 + i;
    times.push(clock.observe(tick, 5000 + i * 50 + 40 + jitter[i]));
  }
  // Mapped times never decrease, never lie after arrival, and are close to
  // evenly spaced (the offset only creeps up slowly between early arrivals).
  for (let i = 1; i < times.length; i++) {
    const gap = times[i] - times[i - 1];
    assert.ok(gap > 45 && gap < 55, `gap ${gap}`);
  }
  close(clock.timeOf(1000), 5040, 2);
});

test('TickClock follows an earlier arrival at once and a later one slowly', () => {
  const clock = new TickClock(10); // 100 ms per tick
  clock.observe(0, 500);
  close(clock.offset, 500);
  clock.observe(1, 590); // 10 ms earlier than predicted
  close(clock.offset, 490);
  clock.observe(2, 790); // 100 ms later than predicted
  assert.ok(clock.offset > 490 && clock.offset < 500);
  // A stall of more than a second resets the mapping.
  clock.observe(3, 5000);
  close(clock.offset, 4700);
  clock.reset();
  assert.equal(clock.offset, null);
  assert.throws(() => new TickClock(0), RangeError);
});
