// End-to-end test in a real browser (issue #15: "A space created through the
// API can be entered by two browsers and they see each other").
//
// It starts `meridian serve` on loopback with a fresh SQLite file. Ada signs up
// in her page; then, through the HTTP API alone (not the page), her account
// creates a space of its own (30 × 20 m, 10 seats a room). Bob, in his own
// browser, types the space's id into the lobby and joins it over the WebSocket
// fallback; Ada refreshes her lobby, finds the space listed with Bob's seat
// counted (1 player) and joins it from the list over WebTransport. Both join
// answers name room 1 (Ada's page shows it over the stage), and each page
// draws the other's avatar. Carol, in a third browser, joins the hosted world:
// she sees neither of them and they do not see her. The space's rooms (GET /space/{id}/rooms) show one room with two
// players. Screenshots go to $E2E_SCREENSHOTS (default /tmp/meridian-e2e). The
// whole run stops itself after 120 s. MERIDIAN_E2E_TRANSPORT (`tasks` or
// `event-loop`) is passed to the server as `--transport`; unset, the server's
// default serves.
//
//   node web/e2e/two_people_in_a_created_space.mjs [path/to/meridian]
//   MERIDIAN_E2E_TRANSPORT=tasks node web/e2e/two_people_in_a_created_space.mjs

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const BINARY = process.argv[2]
  ?? join(process.env.CARGO_TARGET_DIR ?? 'target', 'debug', 'meridian');
const SHOTS = process.env.E2E_SCREENSHOTS ?? '/tmp/meridian-e2e';
/** Which game transport the server uses (`--transport`), if set. */
const TRANSPORT = process.env.MERIDIAN_E2E_TRANSPORT;
const PASSWORD = 'correct horse battery';
const SPACE = { name: 'Reading room', dimensions: '30x20', capacity: 10 };
/** How long Carol keeps looking for the others before saying she saw nobody. */
const CAROL_LOOKS_MS = 2_000;

const watchdog = setTimeout(() => fail('the run took longer than 120 s'), 120_000);
let server;
let browser;
const dataDir = mkdtempSync(join(tmpdir(), 'meridian-e2e-rooms-'));

function fail(why) {
  console.error(`FAIL: ${why}`);
  cleanup().finally(() => process.exit(1));
}

async function cleanup() {
  clearTimeout(watchdog);
  try { await browser?.close(); } catch { /* already gone */ }
  if (server && server.exitCode === null) {
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
      ...(TRANSPORT ? ['--transport', TRANSPORT] : []),
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

/** One call to the HTTP API from Node (not from any page); the parsed answer. */
async function api(http, method, path, body, token) {
  const response = await fetch(`http://${http}/api/v1${path}`, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** A fresh person in their own browser context, signed up, in the lobby. */
async function person(http, name, transport) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error: ${error.message}`));
  await page.goto(`http://${http}/?transport=${transport}`);
  await page.fill(by('auth-username'), name);
  await page.fill(by('auth-password'), PASSWORD);
  await page.click(by('signup-button'));
  await page.waitForSelector(`${by('view-lobby')}:not([hidden])`, { timeout: 10_000 });
  return { context, page, name, transport };
}

/**
 * Does `act` in the lobby (a click that joins), then waits for the join
 * answer and the connection; returns the join answer and the own avatar's id.
 */
async function joinBy(someone, act) {
  const answered = someone.page.waitForResponse(
    (response) => /\/api\/v1\/space\/\d+\/join$/.test(new URL(response.url()).pathname),
    { timeout: 15_000 },
  );
  // Awaited below; a failing `act` must not leave its timeout unhandled.
  answered.catch(() => {});
  await act();
  const response = await answered;
  if (!response.ok()) throw new Error(`${someone.name}'s join: HTTP ${response.status()} ${await response.text()}`);
  const answer = await response.json();
  await someone.page.waitForSelector(`${by('status')}[data-state="connected"]`, { timeout: 15_000 });
  await someone.page.waitForFunction(() => window.meridian?.client?.avatarId != null, null, { timeout: 10_000 });
  const used = await someone.page.evaluate(() => window.meridian.client.stats().transport);
  if (used !== someone.transport) throw new Error(`${someone.name} asked for ${someone.transport} and got ${used}`);
  const avatarId = await someone.page.evaluate(() => window.meridian.client.avatarId);
  return { answer, avatarId };
}

/** The avatars other than its own that `viewer` draws now (ids). */
function othersSeenBy(viewer) {
  return viewer.page.evaluate(() => {
    const own = window.meridian.client.avatarId;
    return window.meridian.client.sample()
      .filter((entity) => entity.kind === 'Avatar' && entity.id !== own)
      .map((entity) => entity.id);
  });
}

/** Waits until `viewer` draws avatar `id`. */
async function waitToSee(viewer, id, whom) {
  try {
    await viewer.page.waitForFunction((id) => window.meridian.client.sample()
      .some((entity) => entity.kind === 'Avatar' && entity.id === id), id, { timeout: 10_000 });
  } catch (error) {
    throw new Error(`${viewer.name} never saw ${whom}'s avatar ${id}: ${error.message}`);
  }
}

try {
  mkdirSync(SHOTS, { recursive: true });
  const http = await startServer();
  console.log(`meridian serve is up: http://${http}`);
  browser = await launch();

  // Ada signs up in her page; her account creates the space through the API.
  const ada = await person(http, 'ada_rooms', 'webtransport');
  const { token } = await api(http, 'POST', '/login', { username: ada.name, password: PASSWORD });
  const { spaceId } = await api(http, 'POST', '/space', SPACE, token);
  const all = await api(http, 'GET', '/space/all', undefined, token);
  const hosted = all.spaces.find((space) => space.hosted);
  if (!hosted || hosted.id === spaceId) throw new Error(`the created space ${spaceId} is not apart from the hosted world`);
  console.log(`Ada's account created space #${spaceId} (${SPACE.dimensions}, ${SPACE.capacity} a room) through the API`);

  // Bob is not its owner, so it is not in his list: he joins it by its id.
  const bob = await person(http, 'bob_rooms', 'websocket');
  const bobIn = await joinBy(bob, async () => {
    await bob.page.fill(by('join-space-id'), String(spaceId));
    await bob.page.click(by('join-by-id-button'));
  });
  if (bobIn.answer.space_id !== spaceId || bobIn.answer.room !== 1) {
    throw new Error(`Bob's join answered space ${bobIn.answer.space_id} room ${bobIn.answer.room}`);
  }
  console.log(`Bob joined #${spaceId} by its id: room ${bobIn.answer.room}, over ${bob.transport}`);

  // Ada's list has her space, with Bob's seat counted; she joins it from there.
  await ada.page.click(by('refresh-spaces'));
  const listed = `${by('space-item')}[data-space-id="${spaceId}"]`;
  await ada.page.waitForSelector(`${listed}[data-players="1"]`, { timeout: 10_000 });
  const meta = await ada.page.textContent(`${listed} ${by('space-meta')}`);
  console.log(`Ada's lobby lists it: "${meta}"`);
  const adaIn = await joinBy(ada, () => ada.page.click(`${listed} ${by('join-space')}`));
  if (adaIn.answer.space_id !== spaceId || adaIn.answer.room !== 1) {
    throw new Error(`Ada's join answered space ${adaIn.answer.space_id} room ${adaIn.answer.room}`);
  }
  console.log(`Ada joined #${spaceId} from her list: room ${adaIn.answer.room}, over ${ada.transport}`);
  const title = await ada.page.textContent(by('space-title'));
  if (!title.endsWith('· room 1')) throw new Error(`Ada's page is titled "${title}", without her room`);

  // Carol joins the hosted world (listed first).
  const carol = await person(http, 'carol_rooms', 'webtransport');
  const carolIn = await joinBy(carol, () => carol.page.click(`${by('join-space')} >> nth=0`));
  if (carolIn.answer.space_id !== hosted.id || carolIn.answer.room != null) {
    throw new Error(`Carol's join answered space ${carolIn.answer.space_id} room ${carolIn.answer.room}`);
  }

  // Ada and Bob see each other.
  await waitToSee(ada, bobIn.avatarId, 'Bob');
  await waitToSee(bob, adaIn.avatarId, 'Ada');
  console.log('Ada and Bob see each other in the created space');

  // Carol, in the world, sees neither; they see only each other.
  await carol.page.waitForTimeout(CAROL_LOOKS_MS);
  const carolSees = await othersSeenBy(carol);
  if (carolSees.length > 0) throw new Error(`Carol, in the hosted world, sees avatars ${carolSees}`);
  for (const [viewer, other] of [[ada, bobIn.avatarId], [bob, adaIn.avatarId]]) {
    const seen = await othersSeenBy(viewer);
    if (seen.length !== 1 || seen[0] !== other) throw new Error(`${viewer.name} sees avatars ${seen}, not only ${other}`);
  }
  console.log('Carol, in the hosted world, sees nobody; Ada and Bob see only each other');

  // The space's rooms: one, with both of them in it.
  const { rooms } = await api(http, 'GET', `/space/${spaceId}/rooms`, undefined, token);
  const one = rooms.length === 1 && rooms[0].room === 1 && rooms[0].seated === 2 && rooms[0].players === 2;
  if (!one) throw new Error(`the space's rooms are ${JSON.stringify(rooms)}`);
  console.log(`rooms of #${spaceId}: ${JSON.stringify(rooms)}`);

  for (const someone of [ada, bob, carol]) {
    await someone.page.screenshot({ path: join(SHOTS, `created-space-${someone.name}.png`) });
  }
  console.log(`PASS: two browsers in a space created through the API, a third apart; screenshots in ${SHOTS}`);
  await cleanup();
  process.exit(0);
} catch (error) {
  fail(error.stack ?? String(error));
}
