// Meridian web client: connection statistics over a sliding window of the last
// two seconds (bytes in and out, snapshots, round trips).

export const STATS_WINDOW_MS = 2000;

/** Sums values over a sliding time window. */
export class Window {
  constructor(ms) {
    this.ms = ms;
    /** @type {number[]} */ this.times = [];
    /** @type {number[]} */ this.values = [];
    this.total = 0;
  }
  add(now, value) {
    this.times.push(now);
    this.values.push(value);
    this.total += value;
    this.trim(now);
  }
  trim(now) {
    let n = 0;
    while (n < this.times.length && this.times[n] <= now - this.ms) {
      this.total -= this.values[n];
      n++;
    }
    if (n) {
      this.times.splice(0, n);
      this.values.splice(0, n);
    }
  }
  sum(now) {
    this.trim(now);
    return this.total;
  }
  count(now) {
    this.trim(now);
    return this.times.length;
  }
  clear() {
    this.times.length = 0;
    this.values.length = 0;
    this.total = 0;
  }
}

/**
 * What MeridianClient's stats() returns: rates over the last two seconds, totals
 * since the client was made.
 * @typedef {object} ClientStats
 * @property {import('../meridian.js').ClientState} state
 * @property {'webtransport'|'websocket'|null} transport while connected
 * @property {boolean} connected
 * @property {number|null} avatarId
 * @property {number|null} rttMs Input sent to the first snapshot that reflects it
 * @property {number} snapshotsPerSecond
 * @property {number} bytesInPerSecond protocol bytes, without transport overhead
 * @property {number} bytesOutPerSecond
 * @property {number|null} tick the newest decoded snapshot tick
 * @property {number} snapshots
 * @property {number} decodeErrors
 * @property {number} staleSnapshots
 * @property {number} reconnects
 */

/** What a connection carried over the last two seconds. */
export class TrafficStats {
  constructor() {
    this.bytesIn = new Window(STATS_WINDOW_MS);
    this.bytesOut = new Window(STATS_WINDOW_MS);
    this.snapshots = new Window(STATS_WINDOW_MS);
    this.rtt = new Window(STATS_WINDOW_MS);
    /** @type {number|null} the newest round trip measured, kept across clear() */
    this.lastRtt = null;
  }

  /** @param {number} now @param {number} ms */
  addRtt(now, ms) {
    this.lastRtt = ms;
    this.rtt.add(now, ms);
  }

  /** Starts the windows afresh (a new connection); the last round trip stays. */
  clear() {
    this.snapshots.clear();
    this.bytesIn.clear();
    this.bytesOut.clear();
    this.rtt.clear();
  }

  /**
   * Rates per second. Until a connection is two seconds old they are over its age.
   * @param {number} now @param {number|null} openedAt when the connection was welcomed
   */
  rates(now, openedAt) {
    const span = openedAt !== null ? Math.min(STATS_WINDOW_MS, Math.max(1, now - openedAt)) : STATS_WINDOW_MS;
    const perSecond = (v) => (v * 1000) / span;
    const rttCount = this.rtt.count(now);
    return {
      rttMs: rttCount ? this.rtt.sum(now) / rttCount : this.lastRtt,
      snapshotsPerSecond: perSecond(this.snapshots.count(now)),
      bytesInPerSecond: perSecond(this.bytesIn.sum(now)),
      bytesOutPerSecond: perSecond(this.bytesOut.sum(now)),
    };
  }
}
