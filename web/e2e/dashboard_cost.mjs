// What open dashboards cost the server: a benchmark, not a test (no bound is
// asserted). It starts `meridian serve` (a world of 2 x 2 zones) with an admin,
// drives it with loadbot, signs 5 Chromium pages in at /dashboard, and then
// alternates windows with none of them open (each page on about:blank) and
// with all 5 polling, measuring the server process's CPU (utime + stime from
// /proc/PID/stat) over each window, and the dashboard requests' count and
// time from the server's own /metrics.
//
//   node web/e2e/dashboard_cost.mjs [meridian] [loadbot] [bots] [window seconds] [rounds]

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const TARGET = process.env.CARGO_TARGET_DIR ?? 'target';
const BINARY = process.argv[2] ?? join(TARGET, 'debug', 'meridian');
const LOADBOT = process.argv[3] ?? join(TARGET, 'debug', 'loadbot');
const BOTS = Number(process.argv[4] ?? 200);
const WINDOW_S = Number(process.argv[5] ?? 20);
const ROUNDS = Number(process.argv[6] ?? 3);
const DASHBOARDS = 5;
const ADMIN = { username: 'boss', password: 'boss password 1' };
const TICKS_PER_SECOND = 100; // sysconf(_SC_CLK_TCK) on Linux

const dataDir = mkdtempSync(join(tmpdir(), 'meridian-dashboard-cost-'));
const database = `sqlite://${join(dataDir, 'world.db')}`;
/** Login limits and pending caps raised for many bots from one address (as scripts/one-core-bench.sh does). */
const CONFIG = join(dataDir, 'serve.toml');
writeFileSync(CONFIG, [
  '[serve]',
  'login_attempts_per_address_per_minute = 1000000',
  'login_attempts_per_account_per_minute = 1000',
  '[netcode]',
  'max_pending_connections = 100000',
  'max_pending_per_address = 100000',
  'retry_at_pending = 100000',
  '',
].join('\n'));
let server;
let bots;
let browser;

function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line (11 and 12 here).
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(BINARY, ['serve', '--config', CONFIG, '--game-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0',
      '--world-size', '200', '--zones', '2x2', '--database-url', database],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn,meridian=info' } });
    server.on('error', reject);
    server.once('exit', (code) => reject(new Error(`meridian serve exited with ${code}`)));
    let http;
    const watch = (line) => {
      const found = line.trim().match(/(?:^http on |\bhttp=)http:\/\/(\S+)/);
      if (found) http = found[1];
      if (line.includes('stop with') && http) resolve(http);
    };
    createInterface({ input: server.stdout }).on('line', watch);
    createInterface({ input: server.stderr }).on('line', watch);
  });
}

/** The dashboard route's request count and summed seconds, from /metrics. */
async function dashboardRequests(http) {
  const text = await (await fetch(`http://${http}/metrics`)).text();
  const pick = (suffix) => {
    const line = text.split('\n').find((l) => l.startsWith(`meridian_http_request_duration_seconds_${suffix}{route="/api/v1/admin/dashboard"}`));
    return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
  };
  return { count: pick('count'), seconds: pick('sum') };
}

async function measure(http, label) {
  const cpuBefore = cpuSeconds(server.pid);
  const requestsBefore = await dashboardRequests(http);
  const started = process.hrtime.bigint();
  await new Promise((resolve) => setTimeout(resolve, WINDOW_S * 1000));
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = cpuSeconds(server.pid) - cpuBefore;
  const requestsAfter = await dashboardRequests(http);
  const requests = requestsAfter.count - requestsBefore.count;
  const handlerSeconds = requestsAfter.seconds - requestsBefore.seconds;
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const row = {
    label,
    cpuPercent: (100 * cpu) / wall,
    requests,
    requestMs: requests > 0 ? (1000 * handlerSeconds) / requests : 0,
    load,
  };
  console.log(`${label.padEnd(14)} server CPU ${row.cpuPercent.toFixed(1)}% of a core over ${wall.toFixed(1)} s; dashboard requests ${requests} (mean ${row.requestMs.toFixed(2)} ms); load ${load}`);
  return row;
}

try {
  const made = spawnSync(BINARY, ['create-admin', '--username', ADMIN.username, '--database-url', database],
    { env: { ...process.env, MERIDIAN_ADMIN_PASSWORD: ADMIN.password }, encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`create-admin: ${made.stderr}`);
  const http = await startServer();
  console.log(`server http://${http} (pid ${server.pid}), ${BOTS} bots, windows of ${WINDOW_S} s, ${ROUNDS} rounds`);

  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-timer-throttling',
      '--disable-renderer-backgrounding', '--disable-backgrounding-occluded-windows'] });
  const pages = [];
  for (let index = 0; index < DASHBOARDS; index += 1) {
    const page = await (await browser.newContext({ viewport: { width: 1500, height: 1100 } })).newPage();
    await page.goto(`http://${http}/dashboard`);
    await page.fill('[data-testid="dash-username"]', ADMIN.username);
    await page.fill('[data-testid="dash-password"]', ADMIN.password);
    await page.click('[data-testid="dash-signin"]');
    await page.waitForSelector('[data-testid="dash-status"][data-state="live"]', { timeout: 30_000 });
    await page.goto('about:blank');
    pages.push(page);
  }

  bots = spawn(LOADBOT, ['--server', `http://${http}`, '--bots', String(BOTS), '--behaviours', 'random-walk,cross,flock',
    '--zone-size', '100', '--ramp-up', `${Math.max(10, Math.ceil(BOTS / 8))}s`, '--duration', '3600s', '--quiet'],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  // Everyone in, then a settling window that is not counted.
  const deadline = Date.now() + 300_000;
  for (;;) {
    const text = await (await fetch(`http://${http}/metrics`)).text();
    const clients = Number(text.match(/^meridian_connected_clients (\d+)/m)?.[1] ?? 0);
    if (clients >= BOTS * 0.98) break;
    if (Date.now() > deadline) throw new Error(`only ${clients} bots in after 300 s`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  await new Promise((resolve) => setTimeout(resolve, 10_000));

  const rows = [];
  for (let round = 1; round <= ROUNDS; round += 1) {
    rows.push(await measure(http, `${round}: none open`));
    await Promise.all(pages.map((page) => page.goto(`http://${http}/dashboard`)));
    await Promise.all(pages.map((page) => page.waitForSelector('[data-testid="dash-status"][data-state="live"]', { timeout: 30_000 })));
    rows.push(await measure(http, `${round}: ${DASHBOARDS} open`));
    await Promise.all(pages.map((page) => page.goto('about:blank')));
  }
  const mean = (filter) => {
    const picked = rows.filter(filter);
    return picked.reduce((sum, row) => sum + row.cpuPercent, 0) / picked.length;
  };
  const closed = mean((row) => row.label.endsWith('none open'));
  const open = mean((row) => row.label.endsWith(`${DASHBOARDS} open`));
  console.log(`mean server CPU: ${closed.toFixed(1)}% with none open, ${open.toFixed(1)}% with ${DASHBOARDS} open (difference ${(open - closed).toFixed(1)} points)`);
} catch (error) {
  console.error(`FAIL: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  try { await browser?.close(); } catch { /* gone */ }
  bots?.kill('SIGTERM');
  server?.kill('SIGTERM');
  await new Promise((resolve) => setTimeout(resolve, 2000));
  rmSync(dataDir, { recursive: true, force: true });
}
