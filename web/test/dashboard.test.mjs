// Tests for web/dashboard/series.js: what the dashboard's charts plot from two
// polls of GET /api/v1/admin/dashboard.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { KEEP, quantileBetween, ratePerSecond, Series } from '../dashboard/series.js';

const BOUNDS = [0.001, 0.002, 0.005];

test('a quantile comes from the observations between two polls only', () => {
  // Before: 100 ticks under 1 ms. Between: 10 more, 5 under 2 ms and 5 under 5 ms.
  const before = { bounds: BOUNDS, counts: [100, 100, 100, 100] };
  const after = { bounds: BOUNDS, counts: [100, 105, 110, 110] };
  // The median of the 10 new ones is the top of the 1-2 ms bucket.
  assert.equal(quantileBetween(before, after, 0.5), 0.002);
  // p90: 9th of 10, inside the 2-5 ms bucket (4 of its 5): 2 + 3 * 4/5 ms.
  assert.ok(Math.abs(quantileBetween(before, after, 0.9) - 0.0044) < 1e-12);
});

test('a quantile past every bound is the highest bound; none observed is null', () => {
  const before = { bounds: BOUNDS, counts: [0, 0, 0, 0] };
  const above = { bounds: BOUNDS, counts: [0, 0, 0, 3] };
  assert.equal(quantileBetween(before, above, 0.99), 0.005);
  assert.equal(quantileBetween(before, before, 0.5), null);
  assert.equal(quantileBetween(null, above, 0.5), null);
});

test('a counter becomes a rate, never negative', () => {
  assert.equal(ratePerSecond(100, 300, 2), 100);
  assert.equal(ratePerSecond(300, 100, 2), 0);
  assert.equal(ratePerSecond(null, 100, 1), null);
  assert.equal(ratePerSecond(1, 2, 0), null);
});

function poll({ tick, bytesOut, clients, zones }) {
  return {
    tick,
    spaceId: 1,
    totals: {
      connectedClients: clients,
      avatars: zones.reduce((sum, zone) => sum + zone.avatars, 0),
      bytesOut,
      bytesIn: 0,
      snapshotsSent: 0,
      snapshotsSkippedStale: 0,
      changesDeferredByBudget: 0,
      changesSent: 0,
      handoffs: 0,
      tickOverruns: 0,
      rejectedInputs: [{ reason: 'collision', value: tick }],
      refusals: [],
    },
    tickSeconds: { bounds: BOUNDS, counts: [tick, tick, tick, tick], sum: 0 },
    handoffFrozenSeconds: { bounds: BOUNDS, counts: [0, 0, 0, 0], sum: 0 },
    world: { tick, width: 100, height: 100, shard: null, zones, density: { columns: 1, rows: 1, cellSize: 100, counts: [0] } },
  };
}

test('the series chart bytes per client, view sizes, and zones as they appear', () => {
  const series = new Series();
  series.add(poll({ tick: 20, bytesOut: 0, clients: 4, zones: [{ id: 0, avatars: 4, viewEntities: 12 }] }), 0);
  series.add(poll({
    tick: 40,
    bytesOut: 8000,
    clients: 4,
    zones: [{ id: 0, avatars: 2, viewEntities: 4 }, { id: 1, avatars: 2, viewEntities: 10 }],
  }), 2000);
  const [out] = series.bytes.list();
  // 8,000 bytes over 2 s to 4 clients.
  assert.deepEqual(out.values, [null, 1000]);
  const views = series.views.list();
  assert.deepEqual(views.map((line) => line.label), ['zone 0', 'zone 1']);
  assert.deepEqual(views[0].values, [3, 2]);
  // Zone 1 appeared at the second poll: nothing charted for it before.
  assert.deepEqual(views[1].values, [null, 5]);
  const [collisions] = series.rejected.list();
  assert.deepEqual(collisions.values, [null, 10]);
});

test('a line keeps at most KEEP points', () => {
  const series = new Series();
  for (let second = 0; second < KEEP + 10; second += 1) {
    series.add(poll({ tick: second * 20, bytesOut: second, clients: 1, zones: [{ id: 0, avatars: 1, viewEntities: 1 }] }), second * 1000);
  }
  assert.equal(series.bytes.list()[0].values.length, KEEP);
  assert.equal(series.views.list()[0].values.length, KEEP);
});
