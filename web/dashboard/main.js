// The live dashboard (GET /dashboard): signs an admin in, polls
// GET /api/v1/admin/dashboard once a second, and draws the charts, the world
// map, the knob panel and the current numbers under their /metrics names.
// `window.dashboard` lets a test ask for a poll and read what is shown.

import { accessToken, call, CallError, claimsOf, signIn, signOut } from './session.js';
import { Series, KEEP } from './series.js';
import { drawChart } from './chart.js';
import { drawWorld } from './world-map.js';
import { Knobs } from './knobs.js';

const POLL_MS = 1000;
const by = (id) => document.querySelector(`[data-testid="${id}"]`);

const status = by('dash-status');
const series = new Series();
const knobs = new Knobs({
  form: by('knobs'),
  status: by('knobs-status'),
  audit: by('knobs-audit'),
  spaceLabel: by('knobs-space'),
});
let timer = null;
let last = null;
let polls = 0;

function setStatus(state, text) {
  status.dataset.state = state;
  status.textContent = text;
}

function show(signedIn) {
  by('dash-signin-view').hidden = signedIn;
  by('dash-view').hidden = !signedIn;
  by('dash-signout').hidden = !signedIn;
}

/** Every number shown in the table, as `[sample name on /metrics, value]`. */
export function samples(data) {
  const t = data.totals;
  const rows = [
    ['meridian_ticks_total', data.tick],
    ['meridian_connected_clients', t.connectedClients],
    ['meridian_avatars', t.avatars],
    ['meridian_bytes_out_total', t.bytesOut],
    ['meridian_bytes_in_total', t.bytesIn],
    ['meridian_snapshots_sent_total', t.snapshotsSent],
    ['meridian_snapshots_skipped_stale_total', t.snapshotsSkippedStale],
    ['meridian_snapshot_changes_deferred_total', t.changesDeferredByBudget],
    ['meridian_snapshot_changes_sent_total', t.changesSent],
    ['meridian_handoffs_total', t.handoffs],
    ['meridian_tick_overruns_total', t.tickOverruns],
    ['meridian_tick_duration_seconds_count', data.tickSeconds.counts[data.tickSeconds.counts.length - 1]],
    ['meridian_handoff_frozen_seconds_count', data.handoffFrozenSeconds.counts[data.handoffFrozenSeconds.counts.length - 1]],
  ];
  for (const { reason, value } of t.rejectedInputs) rows.push([`meridian_rejected_inputs_total{reason="${reason}"}`, value]);
  for (const { reason, value } of t.refusals) rows.push([`meridian_refusals_total{reason="${reason}"}`, value]);
  for (const zone of data.world?.zones ?? []) {
    rows.push([`meridian_zone_avatars{zone="${zone.id}"}`, zone.avatars]);
    rows.push([`meridian_zone_view_entities{zone="${zone.id}"}`, zone.viewEntities]);
  }
  return rows;
}

function renderNumbers(data) {
  by('numbers-tick').textContent = String(data.tick);
  const body = by('numbers').tBodies[0];
  body.replaceChildren(...samples(data).map(([name, value]) => {
    const row = document.createElement('tr');
    row.dataset.metric = name;
    const label = document.createElement('td');
    label.textContent = name;
    const number = document.createElement('td');
    number.textContent = String(value);
    row.append(label, number);
    return row;
  }));
}

function renderCharts() {
  drawChart(by('chart-tick'), 'Tick time p50 / p99 (ms, per second)', series.tick.list(), KEEP);
  drawChart(by('chart-players'), 'Players per zone and room', series.players.list(), KEEP);
  drawChart(by('chart-bytes'), 'Bytes per client per second', series.bytes.list(), KEEP);
  drawChart(by('chart-views'), 'Mean view size (entities seen per avatar)', series.views.list(), KEEP);
  drawChart(by('chart-budget'), 'Snapshots, and what the byte budget held back (per second)', series.budget.list(), KEEP);
  drawChart(by('chart-handoffs'), 'Handoffs and freezes', series.handoffs.list(), KEEP);
  drawChart(by('chart-rejected'), 'Rejected inputs by reason (per second)', series.rejected.list(), KEEP);
}

/** Asks for the numbers once and draws them; resolves with them. */
async function poll() {
  const data = await call('GET', '/api/v1/admin/dashboard');
  series.add(data, performance.now());
  last = data;
  polls += 1;
  renderCharts();
  drawWorld(by('world-map'), data.world);
  renderNumbers(data);
  if (knobs.space !== data.spaceId) await knobs.load(data.spaceId);
  setStatus('live', `Live · tick ${data.tick} · ${data.totals.connectedClients} clients · updated ${new Date().toLocaleTimeString()}`);
  document.body.dataset.polls = String(polls);
  return data;
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    try {
      await poll();
    } catch (error) {
      if (error instanceof CallError && (error.status === 401 || error.status === 403)) {
        stop(error.status === 403 ? 'This account is not an admin.' : 'Signed out: sign in again.');
        return;
      }
      setStatus('error', `No data: ${error.message}`);
    }
    schedule();
  }, polls === 0 ? 0 : POLL_MS);
}

function start() {
  show(true);
  setStatus('live', 'Connecting…');
  polls = 0;
  schedule();
}

function stop(why) {
  clearTimeout(timer);
  timer = null;
  signOut();
  show(false);
  setStatus('signed-out', why);
}

by('dash-signin-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const problem = by('dash-signin-error');
  problem.textContent = '';
  try {
    await signIn(by('dash-username').value, by('dash-password').value);
    start();
  } catch (error) {
    problem.textContent = error.message;
  }
});
by('dash-signout').addEventListener('click', () => stop('Signed out'));

window.dashboard = {
  /** Polls now (outside the schedule) and resolves with what was drawn. */
  poll,
  /** The last numbers drawn. */
  get last() { return last; },
  /** The charts' lines. */
  series,
  samples,
};

const claims = claimsOf(accessToken() ?? '');
if (claims && claims.role === 'admin') start();
else show(false);
