// What the charts plot, derived from the polls of GET /api/v1/admin/dashboard:
// counters become rates between two polls (as Prometheus' rate() does),
// histograms become the quantiles of what was observed between them (as
// histogram_quantile over those buckets does), gauges are taken as they are.

/** Points kept per line: two minutes at one poll a second. */
export const KEEP = 120;

/**
 * The `q` quantile (0..1) of a histogram's observations between two polls,
 * each `{bounds, counts}` with cumulative counts (the last being +Inf):
 * linear inside the bucket it falls in, the highest finite bound when it falls
 * in +Inf; null when nothing was observed.
 */
export function quantileBetween(before, after, q) {
  if (!before || !after) return null;
  const counts = after.counts.map((count, index) => count - (before.counts[index] ?? 0));
  const total = counts[counts.length - 1];
  if (!(total > 0)) return null;
  const rank = q * total;
  for (let index = 0; index < after.bounds.length; index += 1) {
    if (counts[index] >= rank) {
      const lower = index === 0 ? 0 : after.bounds[index - 1];
      const below = index === 0 ? 0 : counts[index - 1];
      const inBucket = counts[index] - below;
      const share = inBucket > 0 ? (rank - below) / inBucket : 1;
      return lower + (after.bounds[index] - lower) * share;
    }
  }
  return after.bounds[after.bounds.length - 1];
}

/** A counter's increase per second between two polls (never negative: a restart starts again from 0). */
export function ratePerSecond(before, after, seconds) {
  if (before == null || after == null || !(seconds > 0)) return null;
  return Math.max(0, after - before) / seconds;
}

/** A chart line: a label and its last `KEEP` values (null where unknown). */
class Line {
  constructor(label) {
    this.label = label;
    this.values = [];
  }

  push(value) {
    this.values.push(value);
    if (this.values.length > KEEP) this.values.shift();
  }
}

/** Lines by key, made the first time a key is seen (a new zone or reason just appears). */
class LineSet {
  constructor() {
    this.lines = new Map();
    this.length = 0;
  }

  /** Appends one point to every line: `values` maps key → [label, value]; lines not in it get null. */
  push(values) {
    for (const [key, [label]] of values) {
      if (!this.lines.has(key)) {
        const line = new Line(label);
        line.values = new Array(this.length).fill(null).slice(-KEEP);
        this.lines.set(key, line);
      }
    }
    for (const [key, line] of this.lines) line.push(values.has(key) ? values.get(key)[1] : null);
    this.length = Math.min(KEEP, this.length + 1);
  }

  list() {
    return [...this.lines.values()];
  }
}

/** Every chart's lines, fed one poll at a time. */
export class Series {
  constructor() {
    this.previous = null;
    this.previousAt = 0;
    this.tick = new LineSet();
    this.players = new LineSet();
    this.bytes = new LineSet();
    this.views = new LineSet();
    this.budget = new LineSet();
    this.handoffs = new LineSet();
    this.rejected = new LineSet();
  }

  /** Adds the poll `now` taken at `at` (ms, performance.now()). */
  add(now, at) {
    const before = this.previous;
    const seconds = before ? (at - this.previousAt) / 1000 : 0;
    const rate = (pick) => (before ? ratePerSecond(pick(before), pick(now), seconds) : null);
    const ms = (value) => (value == null ? null : value * 1000);

    this.tick.push(new Map([
      ['p50', ['tick p50 (ms)', ms(quantileBetween(before?.tickSeconds, now.tickSeconds, 0.5))]],
      ['p99', ['tick p99 (ms)', ms(quantileBetween(before?.tickSeconds, now.tickSeconds, 0.99))]],
    ]));

    const players = new Map([['space', [`space ${now.spaceId} (this server's room)`, now.totals.avatars]]]);
    for (const zone of now.world?.zones ?? []) players.set(`zone-${zone.id}`, [`zone ${zone.id}`, zone.avatars]);
    this.players.push(players);

    const clients = now.totals.connectedClients;
    const perClient = (value) => (value == null ? null : value / Math.max(1, clients));
    this.bytes.push(new Map([
      ['out', ['out, bytes/s per client', perClient(rate((poll) => poll.totals.bytesOut))]],
      ['in', ['in, bytes/s per client', perClient(rate((poll) => poll.totals.bytesIn))]],
    ]));

    const views = new Map();
    for (const zone of now.world?.zones ?? []) {
      views.set(`zone-${zone.id}`, [`zone ${zone.id}`, zone.avatars > 0 ? zone.viewEntities / zone.avatars : null]);
    }
    this.views.push(views);

    this.budget.push(new Map([
      ['sent', ['snapshots sent/s', rate((poll) => poll.totals.snapshotsSent)]],
      ['deferred', ['held back by budget/s', rate((poll) => poll.totals.changesDeferredByBudget)]],
      ['stale', ['stale snapshots skipped/s', rate((poll) => poll.totals.snapshotsSkippedStale)]],
    ]));

    this.handoffs.push(new Map([
      ['handoffs', ['handoffs/s', rate((poll) => poll.totals.handoffs)]],
      ['frozen-p99', ['freeze p99 (ms)', ms(quantileBetween(before?.handoffFrozenSeconds, now.handoffFrozenSeconds, 0.99))]],
    ]));

    const rejected = new Map();
    for (const { reason, value } of now.totals.rejectedInputs) {
      const old = before?.totals.rejectedInputs.find((entry) => entry.reason === reason)?.value;
      rejected.set(reason, [reason, before ? ratePerSecond(old, value, seconds) : null]);
    }
    this.rejected.push(rejected);

    this.previous = now;
    this.previousAt = at;
  }
}
