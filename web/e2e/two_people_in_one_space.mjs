// End-to-end test in a real browser: Debian's Chromium, driven by playwright-core.
//
// It starts `meridian serve` on loopback with a fresh SQLite file, then, over
// WebTransport, over the WebSocket fallback asked for by name, and in `auto`
// mode in pages where WebTransport does not exist (so the client must fall back
// by itself): two pages sign up and
// join the same space; one walks and the other must see it move within 300 ms;
// a chat line from one appears on the other; closing one page makes its avatar
// leave the other's view. Screenshots go to $E2E_SCREENSHOTS (default
// /tmp/meridian-e2e). The whole run stops itself after 180 s.
// MERIDIAN_E2E_TRANSPORT (`tasks` or `event-loop`) is passed to the server as
// `--transport`; unset, the server's default serves.
//
//   node web/e2e/two_people_in_one_space.mjs [path/to/meridian]
//   MERIDIAN_E2E_TRANSPORT=tasks node web/e2e/two_people_in_one_space.mjs

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const BINARY = process.argv[2]
  ?? join(process.env.CARGO_TARGET_DIR ?? 'target', 'debug', 'meridian');
const SHOTS = process.env.E2E_SCREENSHOTS ?? '/tmp/meridian-e2e';
/** The bound: the other page shows the move within this long. */
const SEE_MOVE_MS = 300;
const TRIES = 3;
/** Which game transport the server uses (`--transport`), if set. */
const TRANSPORT = process.env.MERIDIAN_E2E_TRANSPORT;

const watchdog = setTimeout(() => fail('the run took longer than 180 s'), 180_000);
let server;
let browser;
const dataDir = mkdtempSync(join(tmpdir(), 'meridian-e2e-'));

function fail(why) {
  console.error(`FAIL: ${why}`);
  cleanup().finally(() => process.exit(1));
}

async function cleanup() {
  clearTimeout(watchdog);
  try { await browser?.close(); } catch { /* already gone */ }
  if (server && server.exitCode === null) {
    // Wait for it to stop, so its last lines still have somewhere to go.
    const exited = new Promise((resolve) => server.once('exit', resolve));
    server.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  }
  rmSync(dataDir, { recursive: true, force: true });
}

/** Starts the server and resolves with its HTTP address once it is ready. */
function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(BINARY, [
      'serve',
      '--game-address', '127.0.0.1:0',
      '--http-address', '127.0.0.1:0',
      '--world-size', '60',
      '--database-url', `sqlite://${join(dataDir, 'world.db')}`,
      // MERIDIAN_E2E_TRANSPORT=tasks serves the game through the task
      // driver instead of the default sans-IO event loop.
      ...(TRANSPORT ? ['--transport', TRANSPORT] : []),
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    server.on('error', reject);
    server.once('exit', (code) => reject(new Error(`meridian serve exited with ${code}`)));
    let http;
    // The server's lines (plain `http on http://…` on stdout, or structured
    // logs with `http=http://…` on stderr) are passed on to stderr.
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

/** Chromium with a fresh profile (playwright makes one per launch). */
function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
}

const by = (id) => `[data-testid="${id}"]`;

/** A fresh person in their own browser context, signed up and in the plaza. */
async function person(http, name, mode) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  if (mode.withoutWebTransport) {
    // A browser without WebTransport: the page must fall back on its own.
    await context.addInitScript(() => { delete globalThis.WebTransport; });
  }
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error: ${error.message}`));
  await page.goto(`http://${http}/?transport=${mode.ask}`);
  await page.fill(by('auth-username'), name);
  await page.fill(by('auth-password'), 'correct horse battery');
  await page.click(by('signup-button'));
  await page.waitForSelector(`${by('view-lobby')}:not([hidden])`, { timeout: 10_000 });
  await page.click(`${by('join-space')} >> nth=0`);
  await page.waitForSelector(`${by('status')}[data-state="connected"]`, { timeout: 15_000 });
  await page.waitForFunction(() => window.meridian?.client?.avatarId != null, null, { timeout: 10_000 });
  const used = await page.evaluate(() => window.meridian.client.stats().transport);
  if (used !== mode.expect) throw new Error(`${name} asked for ${mode.ask} and got ${used}`);
  return { context, page, name };
}

/** Where `viewer` draws avatar `id` now (metres), or null if it is not in view. */
function seen(viewer, id) {
  return viewer.page.evaluate((id) => {
    const entity = window.meridian.client.sample().find((e) => e.id === id);
    return entity ? { x: entity.x, y: entity.y } : null;
  }, id);
}

/**
 * `walker` walks for a moment; returns how long until `watcher` drew the walker
 * somewhere else (ms, measured in the watcher's page from the key press).
 */
async function timeToSeeMove(walker, watcher, key) {
  const id = await walker.page.evaluate(() => window.meridian.client.avatarId);
  await watcher.page.waitForFunction((id) => window.meridian.client.sample().some((e) => e.id === id),
    id, { timeout: 10_000 });
  const before = await seen(watcher, id);
  // The watcher starts its clock, then the walker presses the key.
  await watcher.page.evaluate(({ id, before }) => {
    window.__moveSeen = new Promise((resolve) => {
      const started = performance.now();
      const look = () => {
        const e = window.meridian.client.sample().find((entity) => entity.id === id);
        if (e && Math.hypot(e.x - before.x, e.y - before.y) > 0.05) resolve(performance.now() - started);
        else requestAnimationFrame(look);
      };
      look();
    });
  }, { id, before });
  await walker.page.focus(by('world-canvas'));
  await walker.page.keyboard.down(key);
  const elapsed = await watcher.page.evaluate(() =>
    Promise.race([window.__moveSeen, new Promise((r) => setTimeout(() => r(Infinity), 5_000))]));
  await walker.page.waitForTimeout(400);
  await walker.page.keyboard.up(key);
  await walker.page.waitForTimeout(300);
  return elapsed;
}

async function run(http, mode) {
  const transport = mode.label;
  const ada = await person(http, `ada_${transport}`, mode);
  const bob = await person(http, `bob_${transport}`, mode);
  const adaId = await ada.page.evaluate(() => window.meridian.client.avatarId);

  // 1. Ada walks; Bob must see it.
  const times = [];
  for (let attempt = 0; attempt < TRIES; attempt += 1) {
    times.push(await timeToSeeMove(ada, bob, attempt % 2 === 0 ? 'KeyD' : 'KeyA'));
  }
  const best = Math.min(...times);
  console.log(`${transport}: Bob saw Ada move after ${times.map((t) => t.toFixed(0)).join(', ')} ms (best ${best.toFixed(0)} ms)`);
  if (!(best <= SEE_MOVE_MS)) throw new Error(`${transport}: the move showed after ${best} ms (bound ${SEE_MOVE_MS} ms)`);

  // 2. Ada says something; it shows on Bob's page.
  const line = `hello from ada over ${transport}`;
  await ada.page.fill(by('chat-input'), line);
  await ada.page.press(by('chat-input'), 'Enter');
  await bob.page.waitForSelector(`${by('chat-line')} >> text=${line}`, { timeout: 10_000 });
  console.log(`${transport}: Bob read Ada's line`);
  await ada.page.screenshot({ path: join(SHOTS, `${transport}-ada.png`) });
  await bob.page.screenshot({ path: join(SHOTS, `${transport}-bob.png`) });

  // 3. Ada closes her page; her avatar leaves Bob's view.
  const closed = Date.now();
  await ada.context.close();
  await bob.page.waitForFunction((id) => !window.meridian.client.sample().some((e) => e.id === id),
    adaId, { timeout: 20_000 });
  console.log(`${transport}: Ada's avatar left Bob's view ${Date.now() - closed} ms after her page closed`);
  await bob.page.screenshot({ path: join(SHOTS, `${transport}-bob-alone.png`) });
  await bob.context.close();
}

/**
 * Prints the game port's failure counters from /metrics and fails if the
 * event loop closed a browser for breaking HTTP/3 (`http3_errors`, only
 * exported with `--transport event-loop`) or any handshake failed.
 */
async function checkGamePortCounters(http) {
  const metrics = await (await fetch(`http://${http}/metrics`)).text();
  const wanted = /^meridian_(event_loop_http3_\w+|handshake_failures_total)\s+(\d+)/;
  const lines = metrics.split('\n').map((line) => line.match(wanted)).filter(Boolean);
  for (const [, name, value] of lines) console.log(`counter ${name} = ${value}`);
  const failing = lines.filter(([, name, value]) => !name.endsWith('datagrams_dropped_total') && value !== '0');
  if (failing.length > 0) throw new Error(`game port failures: ${failing.map(([line]) => line).join(', ')}`);
}

try {
  mkdirSync(SHOTS, { recursive: true });
  const http = await startServer();
  console.log(`meridian serve is up: http://${http}`);
  browser = await launch();
  const modes = [
    { label: 'webtransport', ask: 'webtransport', expect: 'webtransport' },
    { label: 'websocket', ask: 'websocket', expect: 'websocket' },
    { label: 'fallback', ask: 'auto', expect: 'websocket', withoutWebTransport: true },
  ];
  for (const mode of modes) {
    await run(http, mode);
  }
  await checkGamePortCounters(http);
  console.log(`PASS: both transports and the automatic fallback; screenshots in ${SHOTS}`);
  await cleanup();
  process.exit(0);
} catch (error) {
  fail(error.stack ?? String(error));
}
