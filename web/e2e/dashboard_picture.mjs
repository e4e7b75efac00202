// The picture of docs/DESIGNERS.md: a designer watches a world of BOTS loadbot
// bots on /dashboard and lowers the interest radius from 30 to 10 m in the knob
// panel. It prints the mean view size, bytes per client per second and tick
// p99 (the last five points of the charts) before and 15 s after the change,
// how soon the chart showed the view halved, and writes the screenshot to
// $PICTURE (default /tmp/dashboard.png). Not a test: nothing is asserted.
//
//   node web/e2e/dashboard_picture.mjs [meridian] [loadbot] [bots]

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';
const MERIDIAN = process.argv[2] ?? 'target/release/meridian';
const LOADBOT = process.argv[3] ?? 'target/release/loadbot';
const BOTS = Number(process.argv[4] ?? 1000);
const PICTURE = process.env.PICTURE ?? '/tmp/dashboard.png';
const dir = mkdtempSync(join(tmpdir(), 'meridian-picture-'));
const db = `sqlite://${dir}/w.db`;
writeFileSync(`${dir}/serve.toml`, '[serve]\nlogin_attempts_per_address_per_minute = 1000000\nlogin_attempts_per_account_per_minute = 1000\n[netcode]\nmax_pending_connections = 100000\nmax_pending_per_address = 100000\nretry_at_pending = 100000\n');
spawnSync(MERIDIAN, ['create-admin', '--username', 'boss', '--database-url', db], { env: { ...process.env, MERIDIAN_ADMIN_PASSWORD: 'boss password 1' } });
const server = spawn(MERIDIAN, ['serve', '--config', `${dir}/serve.toml`, '--game-address', '127.0.0.1:0', '--http-address', '127.0.0.1:0', '--world-size', '400', '--zones', '2x2', '--database-url', db], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RUST_LOG: 'warn,meridian=info' } });
const http = await new Promise((resolve) => { let h; const w = (l) => { const f = l.match(/\bhttp=http:\/\/(\S+)/); if (f) h = f[1]; if (l.includes('stop with') && h) resolve(h); }; createInterface({ input: server.stdout }).on('line', w); createInterface({ input: server.stderr }).on('line', w); });
console.log('server', http);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox', '--disable-gpu'] });
const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
await page.goto(`http://${http}/dashboard`);
await page.fill('[data-testid="dash-username"]', 'boss');
await page.fill('[data-testid="dash-password"]', 'boss password 1');
await page.click('[data-testid="dash-signin"]');
await page.waitForSelector('[data-testid="dash-status"][data-state="live"]');
const bots = spawn(LOADBOT, ['--server', `http://${http}`, '--bots', String(BOTS), '--behaviours', 'random-walk,cross,flock', '--zone-size', '200', '--ramp-up', '120s', '--duration', '3600s', '--quiet'], { stdio: 'ignore' });
const figures = () => page.evaluate(() => {
  const last = window.dashboard.last; const zones = last.world.zones;
  const avatars = zones.reduce((s, z) => s + z.avatars, 0); const seen = zones.reduce((s, z) => s + z.viewEntities, 0);
  const out = window.dashboard.series.bytes.list()[0].values.slice(-5).filter((v) => v != null);
  const p99 = window.dashboard.series.tick.list()[1].values.slice(-5).filter((v) => v != null);
  return { clients: last.totals.connectedClients, avatars, meanView: seen / Math.max(1, avatars), bytesOutPerClient5s: out.reduce((a, b) => a + b, 0) / out.length, tickP99ms5s: p99.reduce((a, b) => a + b, 0) / p99.length };
});
await page.waitForFunction((n) => (window.dashboard.last?.totals.connectedClients ?? 0) >= n, BOTS * 0.98, { timeout: 400_000, polling: 1000 });
await page.waitForTimeout(20_000);
const before = await figures();
console.log('before', new Date().toISOString(), JSON.stringify(before));
await page.fill('[data-testid="knob-interestRadius"]', '10');
await page.click('[data-testid="knobs-apply"]');
const changed = Date.now();
await page.waitForFunction((limit) => { const z = window.dashboard.last.world.zones; const a = z.reduce((s, x) => s + x.avatars, 0); return z.reduce((s, x) => s + x.viewEntities, 0) / a < limit; }, before.meanView / 2, { timeout: 30_000 });
console.log('view halved on the chart after', Date.now() - changed, 'ms');
await page.waitForTimeout(15_000);
const after = await figures();
console.log('after', new Date().toISOString(), JSON.stringify(after));
await page.screenshot({ path: PICTURE, fullPage: true });
console.log('screenshot', PICTURE);
await browser.close(); bots.kill('SIGTERM'); server.kill('SIGTERM');
await new Promise((r) => setTimeout(r, 3000)); rmSync(dir, { recursive: true, force: true });
