// The live dashboard in a real browser: Debian's Chromium, driven by playwright-core.
//
// It makes an admin (`meridian create-admin`) in a fresh SQLite file, starts
// `meridian serve` on loopback with a world of 2 x 2 zones, and checks that
// the numbers are for admins only (401 without a token; a user's sign-in is
// refused by the page). The admin signs in at /dashboard while `loadbot`
// walks bots over the zone borders; then:
//   1. it renders: every chart and the world map have drawn something, the
//      zones are labelled, the table of numbers is filled;
//   2. its numbers match /metrics: the page polls while /metrics is read,
//      until both are of the same tick, and every number the page shows
//      equals the sample of that name on /metrics;
//   3. a knob change takes effect: a refused interest radius shows the
//      server's message beside the field; a smaller one is applied from the
//      panel, the settings API then answers it, and the mean view size on the
//      chart falls.
// A screenshot goes to $E2E_SCREENSHOTS/dashboard.png (default
// /tmp/meridian-e2e). The whole run stops itself after 240 s.
//
//   node web/e2e/dashboard_follows_the_world.mjs [path/to/meridian] [path/to/loadbot]

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const TARGET = process.env.CARGO_TARGET_DIR ?? 'target';
const BINARY = process.argv[2] ?? join(TARGET, 'debug', 'meridian');
const LOADBOT = process.argv[3] ?? join(TARGET, 'debug', 'loadbot');
const SHOTS = process.env.E2E_SCREENSHOTS ?? '/tmp/meridian-e2e';
const ADMIN = { username: 'boss', password: 'boss password 1' };
const BOTS = 16;
/** The interest radius the panel sets (the server starts at 30 m). */
const SMALL_RADIUS = 8;

const watchdog = setTimeout(() => fail('the run took longer than 240 s'), 240_000);
let server;
let bots;
let browser;
const dataDir = mkdtempSync(join(tmpdir(), 'meridian-dashboard-'));
const database = `sqlite://${join(dataDir, 'world.db')}`;

function fail(why) {
  console.error(`FAIL: ${why}`);
  cleanup().finally(() => process.exit(1));
}

async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
}

async function cleanup() {
  clearTimeout(watchdog);
  try { await browser?.close(); } catch { /* already gone */ }
  await stopChild(bots);
  await stopChild(server);
  rmSync(dataDir, { recursive: true, force: true });
}

function createAdmin() {
  const made = spawnSync(BINARY, ['create-admin', '--username', ADMIN.username, '--database-url', database], {
    env: { ...process.env, MERIDIAN_ADMIN_PASSWORD: ADMIN.password },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (made.status !== 0) throw new Error(`create-admin failed: ${made.stderr}${made.stdout}`);
}

/** Starts the server and resolves with its HTTP address once it is ready. */
function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(BINARY, [
      'serve',
      '--game-address', '127.0.0.1:0',
      '--http-address', '127.0.0.1:0',
      '--world-size', '200',
      '--zones', '2x2',
      '--database-url', database,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.on('error', reject);
    server.once('exit', (code) => reject(new Error(`meridian serve exited with ${code}`)));
    let http;
    const watch = (line) => {
      process.stderr.write(`${line}\n`);
      const found = line.trim().match(/(?:^http on |\bhttp=)http:\/\/(\S+)/);
      if (found) http = found[1];
      if (line.includes('stop with') && http) resolve(http);
    };
    createInterface({ input: server.stdout }).on('line', watch);
    createInterface({ input: server.stderr }).on('line', watch);
  });
}

/** Bots walking around and over the zone borders (100 m zones). */
function startBots(http) {
  bots = spawn(LOADBOT, [
    '--server', `http://${http}`,
    '--bots', String(BOTS),
    '--behaviours', 'random-walk,cross',
    '--zone-size', '100',
    '--ramp-up', '2s',
    '--duration', '200s',
    '--quiet',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  bots.on('error', (error) => fail(`loadbot: ${error.message}`));
  createInterface({ input: bots.stderr }).on('line', (line) => process.stderr.write(`[loadbot] ${line}\n`));
}

async function api(http, method, path, body, token) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`http://${http}${path}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  return { status: response.status, data };
}

/** `/metrics` as sample name (labels included) → number. */
function parseMetrics(text) {
  const samples = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    samples.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return samples;
}

const by = (id) => `[data-testid="${id}"]`;

/** How many pixels of a canvas are drawn (not transparent). */
function drawnPixels(page, id) {
  return page.evaluate((id) => {
    const canvas = document.querySelector(`[data-testid="${id}"]`);
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let drawn = 0;
    for (let index = 3; index < data.length; index += 4) if (data[index] > 0) drawn += 1;
    return drawn;
  }, id);
}

/** The mean view size over every zone of the page's last numbers. */
function meanView(page) {
  return page.evaluate(() => {
    const zones = window.dashboard.last?.world?.zones ?? [];
    const avatars = zones.reduce((sum, zone) => sum + zone.avatars, 0);
    const seen = zones.reduce((sum, zone) => sum + zone.viewEntities, 0);
    return { avatars, mean: avatars > 0 ? seen / avatars : null, tick: window.dashboard.last?.world?.tick };
  });
}

async function numbersMatchMetrics(page, http) {
  for (let attempt = 1; attempt <= 100; attempt += 1) {
    const [shown, metricsText] = await Promise.all([
      page.evaluate(async () => {
        await window.dashboard.poll();
        return [...document.querySelectorAll('[data-testid="numbers"] tr')]
          .map((row) => [row.dataset.metric, row.cells[1].textContent]);
      }),
      fetch(`http://${http}/metrics`).then((response) => response.text()),
    ]);
    const metrics = parseMetrics(metricsText);
    const tick = shown.find(([name]) => name === 'meridian_ticks_total');
    if (!tick || metrics.get('meridian_ticks_total') !== Number(tick[1])) continue;
    for (const [name, value] of shown) {
      if (!metrics.has(name)) throw new Error(`the page shows ${name}, which /metrics does not have`);
      if (metrics.get(name) !== Number(value)) {
        throw new Error(`at tick ${tick[1]} the page shows ${name} = ${value}, /metrics ${metrics.get(name)}`);
      }
    }
    console.log(`numbers: all ${shown.length} shown equal /metrics at tick ${tick[1]} (attempt ${attempt})`);
    return shown;
  }
  throw new Error('the page and /metrics never read the same tick in 100 attempts');
}

async function knobChangeTakesEffect(page, http, token, spaceId) {
  const path = `/api/v1/admin/spaces/${spaceId}/settings`;
  const before = await api(http, 'GET', path, undefined, token);
  if (before.status !== 200) throw new Error(`GET ${path}: ${before.status} ${JSON.stringify(before.data)}`);
  await page.waitForSelector(by('knob-interestRadius'), { timeout: 10_000 });

  // A refused value: the server's message next to the field, nothing changed.
  await page.fill(by('knob-interestRadius'), '-5');
  await page.click(by('knobs-apply'));
  await page.waitForFunction((selector) => document.querySelector(selector)?.textContent.trim().length > 0,
    by('knob-error-interestRadius'), { timeout: 10_000 });
  const refusal = await page.textContent(by('knob-error-interestRadius'));
  console.log(`knobs: interest radius -5 refused: "${refusal}"`);
  const unchanged = await api(http, 'GET', path, undefined, token);
  if (unchanged.data.interestRadius !== before.data.interestRadius) throw new Error('a refused value changed the settings');

  // A smaller radius from the panel.
  const viewBefore = await meanView(page);
  await page.fill(by('knob-interestRadius'), String(SMALL_RADIUS));
  await page.click(by('knobs-apply'));
  await page.waitForFunction((selector) => /^Applied/.test(document.querySelector(selector)?.textContent ?? ''),
    by('knobs-status'), { timeout: 10_000 });
  const after = await api(http, 'GET', path, undefined, token);
  if (after.data.interestRadius !== SMALL_RADIUS) {
    throw new Error(`the settings API answers interestRadius ${after.data.interestRadius}, not ${SMALL_RADIUS}`);
  }
  console.log(`knobs: interest radius ${before.data.interestRadius} → ${after.data.interestRadius} m from the panel`);

  // The views follow at their next refresh: the chart's mean view size falls.
  const changedAt = Date.now();
  await page.waitForFunction((limit) => {
    const zones = window.dashboard.last?.world?.zones ?? [];
    const avatars = zones.reduce((sum, zone) => sum + zone.avatars, 0);
    const seen = zones.reduce((sum, zone) => sum + zone.viewEntities, 0);
    return avatars > 0 && seen / avatars < limit;
  }, viewBefore.mean / 2, { timeout: 20_000 });
  const viewAfter = await meanView(page);
  console.log(`knobs: mean view size ${viewBefore.mean.toFixed(2)} → ${viewAfter.mean.toFixed(2)} entities, shown ${Date.now() - changedAt} ms after the change`);
  const charted = await page.evaluate(() => window.dashboard.series.views.list()
    .map((line) => line.values[line.values.length - 1]).filter((value) => value != null));
  if (charted.length === 0 || Math.max(...charted) >= viewBefore.mean) {
    throw new Error(`the view-size chart did not fall: last points ${charted}, before ${viewBefore.mean}`);
  }
}

try {
  mkdirSync(SHOTS, { recursive: true });
  createAdmin();
  const http = await startServer();
  console.log(`meridian serve is up: http://${http}`);

  // Admins only.
  const anonymous = await api(http, 'GET', '/api/v1/admin/dashboard');
  if (anonymous.status !== 401) throw new Error(`without a token: ${anonymous.status}`);
  const user = { username: 'carol', password: 'carol password 1' };
  const signedUp = await api(http, 'POST', '/api/v1/signup', { ...user, type: 'user' });
  if (signedUp.status !== 200) throw new Error(`signup: ${signedUp.status} ${JSON.stringify(signedUp.data)}`);
  const login = await api(http, 'POST', '/api/v1/login', ADMIN);
  if (login.status !== 200) throw new Error(`admin login: ${login.status}`);
  const adminToken = login.data.token;

  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  page.on('pageerror', (error) => fail(`page error: ${error.message}`));
  await page.goto(`http://${http}/dashboard`);

  await page.fill(by('dash-username'), user.username);
  await page.fill(by('dash-password'), user.password);
  await page.click(by('dash-signin'));
  await page.waitForFunction((selector) => /admin/.test(document.querySelector(selector)?.textContent ?? ''),
    by('dash-signin-error'), { timeout: 10_000 });
  if (!(await page.isHidden(by('dash-view')))) throw new Error('a user sees the dashboard');
  console.log(`admins only: 401 without a token; a user is told "${await page.textContent(by('dash-signin-error'))}"`);

  await page.fill(by('dash-username'), ADMIN.username);
  await page.fill(by('dash-password'), ADMIN.password);
  await page.click(by('dash-signin'));
  await page.waitForSelector(`${by('dash-status')}[data-state="live"]`, { timeout: 10_000 });

  startBots(http);
  // Most bots in, in more than one zone, and a few seconds of charts.
  await page.waitForFunction((bots) => {
    const last = window.dashboard.last;
    const zones = last?.world?.zones ?? [];
    return last && last.totals.connectedClients >= bots
      && zones.filter((zone) => zone.avatars > 0).length >= 2
      && window.dashboard.series.tick.length >= 5;
  }, BOTS - 2, { timeout: 90_000, polling: 500 });

  // 1. It renders.
  for (const chart of ['chart-tick', 'chart-players', 'chart-bytes', 'chart-views', 'chart-budget',
    'chart-handoffs', 'chart-rejected', 'world-map']) {
    const drawn = await drawnPixels(page, chart);
    if (drawn < 2_000) throw new Error(`${chart} drew only ${drawn} pixels`);
  }
  const lastPoints = await page.evaluate(() => ({
    bytes: window.dashboard.series.bytes.list()[0].values.at(-1),
    tickP99: window.dashboard.series.tick.list()[1].values.at(-1),
    zones: window.dashboard.series.players.list().length - 1,
  }));
  if (!(lastPoints.bytes > 0)) throw new Error(`bytes per client not charted: ${lastPoints.bytes}`);
  if (!(lastPoints.tickP99 > 0)) throw new Error(`tick p99 not charted: ${lastPoints.tickP99}`);
  if (lastPoints.zones !== 4) throw new Error(`players charted for ${lastPoints.zones} zones, not 4`);
  console.log(`renders: 7 charts and the map drawn; ${lastPoints.bytes.toFixed(0)} B/s per client, tick p99 ${lastPoints.tickP99.toFixed(2)} ms`);

  // 2. Its numbers match /metrics.
  const shown = await numbersMatchMetrics(page, http);
  const zoneRows = shown.filter(([name]) => name.startsWith('meridian_zone_avatars')).length;
  if (zoneRows !== 4) throw new Error(`${zoneRows} zones in the table, not 4`);

  // 3. A knob change takes effect.
  const spaceId = await page.evaluate(() => window.dashboard.last.spaceId);
  await knobChangeTakesEffect(page, http, adminToken, spaceId);

  await page.waitForTimeout(3_000);
  await page.screenshot({ path: join(SHOTS, 'dashboard.png'), fullPage: true });
  console.log(`PASS: the dashboard renders, matches /metrics and steers the world; screenshot ${join(SHOTS, 'dashboard.png')}`);
  await cleanup();
  process.exit(0);
} catch (error) {
  fail(error.stack ?? String(error));
}
