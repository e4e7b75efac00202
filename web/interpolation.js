// Meridian web client: entity interpolation.
//
// Snapshots arrive a few times per tick interval, with jitter. To draw smooth
// motion, each entity keeps a short buffer of timestamped samples and the
// renderer asks for its state at `now - delay`, a moment that (normally) lies
// between two samples that have already arrived.
//
// Two pieces:
// - TickClock maps a server tick to a local time (milliseconds, same clock as
//   performance.now()), so samples are spaced by the server's tick interval, not
//   by the jittery arrival times.
// - InterpolationBuffer holds one entity's samples and answers sample(time).

const TAU = Math.PI * 2;

/**
 * Wraps an angle in radians into [0, 2π).
 * @param {number} angle
 * @returns {number}
 */
export function wrapAngle(angle) {
  const a = angle % TAU;
  return a < 0 ? a + TAU : a;
}

/**
 * The signed difference `to - from` along the shorter arc, in [-π, π).
 * @param {number} from radians
 * @param {number} to radians
 * @returns {number}
 */
export function angleDelta(from, to) {
  return wrapAngle(to - from + Math.PI) - Math.PI;
}

/**
 * Linear interpolation.
 * @param {number} a
 * @param {number} b
 * @param {number} t 0 gives a, 1 gives b
 */
export function lerp(a, b, t) {
  return a + (b - a) * t;
}

/**
 * Interpolates headings along the shorter arc; the result is in [0, 2π).
 * @param {number} a radians
 * @param {number} b radians
 * @param {number} t 0 gives a, 1 gives b
 */
export function lerpAngle(a, b, t) {
  return wrapAngle(a + angleDelta(a, b) * t);
}

/**
 * Maps server ticks to local times.
 *
 * The local time of tick T is `T * intervalMs + offset`. The offset tracks the
 * earliest arrival seen (the least delayed packet): an arrival earlier than
 * predicted moves the offset down at once, a later one pulls it up only slowly,
 * so jitter does not shake the timeline but a lasting change in latency or
 * clock drift is followed. A jump larger than `resetAfterMs` (a stall, a
 * suspended tab) resets the mapping.
 */
export class TickClock {
  /**
   * @param {number} tickRateHz server ticks per second
   * @param {{driftRate?: number, resetAfterMs?: number}} [options]
   */
  constructor(tickRateHz, options = {}) {
    if (!(tickRateHz > 0)) throw new RangeError('tickRateHz must be positive');
    this.intervalMs = 1000 / tickRateHz;
    this.driftRate = options.driftRate ?? 0.01;
    this.resetAfterMs = options.resetAfterMs ?? 1000;
    /** @type {number|null} */
    this.offset = null;
  }

  /**
   * Records that `tick` arrived at local time `arrivalMs`; returns the local time
   * the tick is mapped to (never later than its arrival).
   * @param {number} tick
   * @param {number} arrivalMs
   */
  observe(tick, arrivalMs) {
    const measured = arrivalMs - tick * this.intervalMs;
    if (this.offset === null || measured < this.offset || measured - this.offset > this.resetAfterMs) {
      this.offset = measured;
    } else {
      this.offset += (measured - this.offset) * this.driftRate;
    }
    return this.timeOf(tick);
  }

  /**
   * The local time of `tick` under the current mapping (NaN before any observation).
   * @param {number} tick
   */
  timeOf(tick) {
    return this.offset === null ? NaN : tick * this.intervalMs + this.offset;
  }

  /** Forgets the mapping (for a new connection). */
  reset() {
    this.offset = null;
  }
}

/**
 * @typedef {object} PoseSample
 * @property {number} time local time in ms
 * @property {number} x metres
 * @property {number} y metres
 * @property {number} heading radians
 * @property {string} animation
 */

/**
 * One entity's samples, oldest first, bounded in number.
 */
export class InterpolationBuffer {
  /**
   * @param {object} [options]
   * @param {number} [options.maxSamples=32] samples kept at most (the oldest go first)
   * @param {number} [options.maxExtrapolationMs=100] how far past the newest sample
   *   motion is continued; after that the entity stands at the extrapolated point
   * @param {number} [options.snapDistance=Infinity] a move longer than this between
   *   two samples is drawn as a jump (a teleport), not a glide
   */
  constructor(options = {}) {
    this.maxSamples = Math.max(2, options.maxSamples ?? 32);
    this.maxExtrapolationMs = Math.max(0, options.maxExtrapolationMs ?? 100);
    this.snapDistance = options.snapDistance ?? Infinity;
    /** @type {PoseSample[]} */
    this.samples = [];
  }

  /** Number of samples held. */
  get size() {
    return this.samples.length;
  }

  /** The newest sample, or null. */
  get newest() {
    return this.samples.length ? this.samples[this.samples.length - 1] : null;
  }

  /**
   * Adds a sample. Samples normally come in time order; one with the same time
   * as a held sample replaces it, an older one is slotted into place.
   * @param {number} time local time in ms
   * @param {{x: number, y: number, heading: number, animation: string}} state
   */
  push(time, state) {
    const sample = { time, x: state.x, y: state.y, heading: state.heading, animation: state.animation };
    const s = this.samples;
    let i = s.length;
    while (i > 0 && s[i - 1].time > time) i--;
    if (i > 0 && s[i - 1].time === time) {
      s[i - 1] = sample;
    } else {
      s.splice(i, 0, sample);
    }
    if (s.length > this.maxSamples) s.splice(0, s.length - this.maxSamples);
  }

  /**
   * Drops samples that can no longer be needed for times at or after `time`:
   * everything older than the newest sample at or before `time`, but always
   * keeping the last two (the segment extrapolation continues).
   * @param {number} time
   */
  prune(time) {
    const s = this.samples;
    let keepFrom = 0;
    for (let i = 0; i < s.length && s[i].time <= time; i++) keepFrom = i;
    keepFrom = Math.min(keepFrom, s.length - 2);
    if (keepFrom > 0) s.splice(0, keepFrom);
  }

  /** Removes every sample. */
  clear() {
    this.samples.length = 0;
  }

  /**
   * The state at local time `time`: interpolated between the samples around it;
   * before the first sample, the first; after the newest, continued along the last
   * segment for at most maxExtrapolationMs and then held. Null if empty.
   * Also prunes samples older than needed for `time`.
   * @param {number} time
   * @returns {{x: number, y: number, heading: number, animation: string} | null}
   */
  sample(time) {
    this.prune(time);
    const s = this.samples;
    if (s.length === 0) return null;
    const first = s[0];
    if (time <= first.time || s.length === 1) return pose(time <= first.time ? first : s[s.length - 1]);

    const last = s[s.length - 1];
    if (time >= last.time) {
      const prev = s[s.length - 2];
      const ahead = Math.min(time - last.time, this.maxExtrapolationMs);
      const span = last.time - prev.time;
      if (ahead <= 0 || !(span > 0) || this._jumps(prev, last)) return pose(last);
      const t = 1 + ahead / span;
      return {
        x: lerp(prev.x, last.x, t),
        y: lerp(prev.y, last.y, t),
        heading: lerpAngle(prev.heading, last.heading, t),
        animation: last.animation,
      };
    }

    // After prune(), s[0].time <= time < last.time, so the segment is s[0]..s[1].
    const a = s[0];
    const b = s[1];
    const t = (time - a.time) / (b.time - a.time);
    if (this._jumps(a, b)) return pose(t < 1 ? a : b);
    return {
      x: lerp(a.x, b.x, t),
      y: lerp(a.y, b.y, t),
      heading: lerpAngle(a.heading, b.heading, t),
      animation: t < 0.5 ? a.animation : b.animation,
    };
  }

  /** @param {PoseSample} a @param {PoseSample} b */
  _jumps(a, b) {
    return this.snapDistance !== Infinity && Math.hypot(b.x - a.x, b.y - a.y) > this.snapDistance;
  }
}

/** @param {PoseSample} s */
function pose(s) {
  return { x: s.x, y: s.y, heading: s.heading, animation: s.animation };
}
