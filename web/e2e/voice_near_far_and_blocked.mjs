// End-to-end test of proximity voice in a real browser (issue #17).
//
// It starts `meridian serve` on loopback (voice on, its port on 127.0.0.1) with
// a fresh SQLite file, and three pages in Chromium with fake media devices
// (`--use-fake-device-for-media-stream --use-fake-ui-for-media-stream`: the
// fake microphone plays a beeping tone). The three sign up and join the hosted
// world (120 × 120 m; rooms of created spaces have voice too, tested through
// the binary in tests/voice_stays_in_its_room.rs), and walk (with movement intents) out of the plaza to their
// places on the line y = 85: Ada at x = 30, Bob 5 m from her, Carol 50 m from
// her. All three turn voice on; Bob and Carol mute themselves,
// so Ada is the only speaker. Then:
//
// - Bob receives audio (getStats inbound-rtp bytesReceived and audioLevel
//   grow); Carol, 50 m away, receives none;
// - Bob blocks Ada (POST /api/v1/user/block) and stops receiving: his bytes
//   stop growing (the time from the block's answer to his last growing bytes
//   is printed, not asserted);
// - Ada walks to 5 m from Carol, and Carol starts receiving.
//
// Mouth-to-ear: the tone's onsets (energy rising after at least 150 ms of
// quiet, read by a ScriptProcessor of 256 frames on each side) at Ada's
// microphone and in Bob's received line, on one clock (performance.timeOrigin
// + performance.now()); each of Bob's onsets is paired with Ada's newest
// onset before it; the median and range are printed.
//
// The whole run stops itself after 150 s.
//
//   node web/e2e/voice_near_far_and_blocked.mjs [path/to/meridian]

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const BINARY = process.argv[2]
  ?? join(process.env.CARGO_TARGET_DIR ?? 'target', 'debug', 'meridian');
const TRANSPORT = process.env.MERIDIAN_E2E_TRANSPORT;
const PASSWORD = 'correct horse battery';
/** The hosted world's side (m); newcomers appear within 8 m of its centre. */
const WORLD = 120;
/** How long a receiver is watched for growth (or for its absence). */
const WATCH_MS = 3_000;

const watchdog = setTimeout(() => fail('the run took longer than 150 s'), 150_000);
let server;
let browser;
const dataDir = mkdtempSync(join(tmpdir(), 'meridian-e2e-voice-'));

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

function startServer() {
  return new Promise((resolve, reject) => {
    server = spawn(BINARY, [
      'serve',
      '--game-address', '127.0.0.1:0',
      '--http-address', '127.0.0.1:0',
      '--world-size', String(WORLD),
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

function launch() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
}

const by = (id) => `[data-testid="${id}"]`;

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

/** Signs up in a page of its own and joins the hosted world (listed first). */
async function person(http, name) {
  const context = await browser.newContext({ viewport: { width: 1024, height: 700 }, permissions: ['microphone'] });
  const page = await context.newPage();
  page.on('pageerror', (error) => console.error(`[${name}] page error: ${error.message}`));
  await page.goto(`http://${http}/?transport=webtransport`);
  await page.fill(by('auth-username'), name);
  await page.fill(by('auth-password'), PASSWORD);
  const signedUp = page.waitForResponse((r) => new URL(r.url()).pathname === '/api/v1/signup', { timeout: 10_000 });
  signedUp.catch(() => {});
  await page.click(by('signup-button'));
  const { userId } = await (await signedUp).json();
  await page.waitForSelector(`${by('view-lobby')}:not([hidden])`, { timeout: 10_000 });
  await page.click(`${by('join-space')} >> nth=0`);
  await page.waitForSelector(`${by('status')}[data-state="connected"]`, { timeout: 15_000 });
  await page.waitForFunction(() => window.meridian?.client?.avatarId != null, null, { timeout: 10_000 });
  const { token } = await api(http, 'POST', '/login', { username: name, password: PASSWORD });
  return { page, name, token, userId };
}

/** The own avatar's newest position. */
function position(someone) {
  return someone.page.evaluate(() => {
    const c = window.meridian.client;
    const e = c.entity(c.avatarId);
    return e ? { x: e.x, y: e.y } : null;
  });
}

/**
 * Walks the avatar to (x, y) with movement intents, within 0.6 m; at most 40 s.
 * Stopped by something in the way (less than 0.3 m in a second), it sidesteps
 * for a second and goes on.
 */
async function walkTo(someone, x, y) {
  const until = Date.now() + 40_000;
  const intent = (moveX, moveY, speed) => someone.page.evaluate(({ moveX, moveY, speed }) => {
    const c = window.meridian.client;
    c.setIntent({ moveX, moveY, speed: Math.min(c.limits.walkSpeed, speed), heading: Math.atan2(moveY, moveX), animation: 'Walk' });
  }, { moveX, moveY, speed });
  let mark = { ...(await position(someone)), at: Date.now() };
  for (;;) {
    const at = await position(someone);
    const dx = x - at.x;
    const dy = y - at.y;
    const far = Math.hypot(dx, dy);
    if (far < 0.6) break;
    if (Date.now() > until) throw new Error(`${someone.name} is stuck at ${at.x.toFixed(1)}, ${at.y.toFixed(1)}`);
    if (Date.now() - mark.at > 1_000) {
      if (Math.hypot(at.x - mark.x, at.y - mark.y) < 0.3) {
        await intent(-dy / far, dx / far, 10);
        await someone.page.waitForTimeout(1_000);
      }
      mark = { ...(await position(someone)), at: Date.now() };
      continue;
    }
    await intent(dx / far, dy / far, far * 4);
    await someone.page.waitForTimeout(50);
  }
  await someone.page.evaluate(() => window.meridian.client.setIntent({ moveX: 0, moveY: 0, speed: 0, animation: 'Idle' }));
  const at = await position(someone);
  console.log(`${someone.name} is at ${at.x.toFixed(1)}, ${at.y.toFixed(1)}`);
  return at;
}

/**
 * Turns voice on. The page keeps the microphone's stream and, on the speaker,
 * taps it for onsets; `muted` people mute at once.
 */
async function voiceOn(someone, muted) {
  await someone.page.evaluate(async (muted) => {
    const onsetTap = (stream, into) => {
      const context = new AudioContext();
      const source = context.createMediaStreamSource(stream);
      const processor = context.createScriptProcessor(256, 1, 1);
      const silent = context.createGain();
      silent.gain.value = 0;
      let quietSince = -Infinity;
      let loud = false;
      processor.onaudioprocess = (event) => {
        const now = performance.timeOrigin + performance.now();
        const samples = event.inputBuffer.getChannelData(0);
        let energy = 0;
        for (const s of samples) energy += s * s;
        const rms = Math.sqrt(energy / samples.length);
        if (rms > 0.02) {
          if (!loud && now - quietSince >= 150) into.push(now);
          loud = true;
        } else {
          if (loud) quietSince = now;
          loud = false;
        }
      };
      source.connect(processor).connect(silent).connect(context.destination);
      return context;
    };
    window.voiceTest = { onsets: [], onsetTap, speaking: [] };
    window.meridian.client.voice.onSpeaking((detail) => window.voiceTest.speaking.push(detail));
    // Chromium's processing (noise suppression above all) would take the tone out.
    const microphone = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    if (!muted) window.voiceTest.tapContext = onsetTap(microphone, window.voiceTest.onsets);
    const voice = window.meridian.client.voice;
    if (muted) await voice.mute(true);
    await voice.enable({ microphone });
  }, muted);
}

/** Total inbound audio bytes and the largest audio level over the page's slots. */
function inbound(someone) {
  return someone.page.evaluate(async () => {
    const stats = await window.meridian.client.voice.inboundStats();
    return {
      bytes: stats.reduce((sum, s) => sum + s.bytesReceived, 0),
      level: Math.max(0, ...stats.map((s) => s.audioLevel)),
    };
  });
}

/** Watches `someone`'s inbound bytes for `ms`: how much they grew, the top level. */
async function watchInbound(someone, ms) {
  const first = await inbound(someone);
  let level = 0;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    await someone.page.waitForTimeout(200);
    level = Math.max(level, (await inbound(someone)).level);
  }
  const last = await inbound(someone);
  return { grew: last.bytes - first.bytes, level };
}

/** Waits until `someone` receives (bytes grow and a level above 0), at most 15 s. */
async function waitToReceive(someone, speaker) {
  const until = Date.now() + 15_000;
  const start = (await inbound(someone)).bytes;
  for (;;) {
    const now = await inbound(someone);
    if (now.bytes > start + 1_000 && now.level > 0.001) return now;
    if (Date.now() > until) {
      const seen = await someone.page.evaluate(async () => {
        const v = window.meridian.client.voice;
        const report = await v.peer.getStats();
        const inboundRtp = [...report.values()].filter((s) => s.type === 'inbound-rtp');
        return { inboundRtp, sources: v.peer.getReceivers().map((r) => r.getSynchronizationSources()) };
      });
      const spoke = await speaker.page.evaluate(async () => {
        const report = await window.meridian.client.voice.peer.getStats();
        return { onsets: window.voiceTest.onsets.length,
          sent: [...report.values()].filter((s) => s.type === 'media-source' || s.type === 'outbound-rtp') };
      });
      throw new Error(`speaker: ${JSON.stringify(spoke)}\n${someone.name} received nothing in 15 s (${now.bytes - start} bytes, level ${now.level}): ${JSON.stringify(seen)}`);
    }
    await someone.page.waitForTimeout(100);
  }
}

try {
  const http = await startServer();
  console.log(`meridian serve is up: http://${http}`);
  browser = await launch();
  const ada = await person(http, 'ada_voice');
  const bob = await person(http, 'bob_voice');
  const carol = await person(http, 'carol_voice');
  // Out of the plaza northwards first, then along the line.
  const y = 85;
  const places = [[ada, 30], [bob, 35], [carol, 80]];
  await Promise.all(places.map(async ([someone, x]) => {
    const at = await position(someone);
    await walkTo(someone, at.x, y);
    await walkTo(someone, x, y);
  }));

  await voiceOn(bob, true);
  await voiceOn(carol, true);
  await voiceOn(ada, false);
  console.log('voice on in all three pages; Bob and Carol muted');

  // Bob, 5 m from Ada, hears her; Carol, 50 m away, does not.
  await waitToReceive(bob, ada);
  const bobHears = await watchInbound(bob, WATCH_MS);
  if (bobHears.grew <= 0 || bobHears.level <= 0.001) throw new Error(`Bob does not hear Ada: ${JSON.stringify(bobHears)}`);
  console.log(`Bob (5 m) receives: +${bobHears.grew} bytes in ${WATCH_MS} ms, audio level up to ${bobHears.level.toFixed(3)}`);
  const carolFar = await watchInbound(carol, WATCH_MS);
  if (carolFar.grew !== 0) throw new Error(`Carol, 50 m away, received ${carolFar.grew} bytes`);
  console.log(`Carol (50 m) receives nothing: +${carolFar.grew} bytes in ${WATCH_MS} ms`);
  const lines = await bob.page.evaluate(() => window.meridian.client.voice.lines().filter((l) => l.speaker != null));
  console.log(`Bob's lines: ${JSON.stringify(lines)}`);
  const adaId = await ada.page.evaluate(() => window.meridian.client.avatarId);
  if (!lines.some((l) => l.speaker === adaId)) throw new Error(`Bob's lines do not name Ada (${adaId})`);
  // onSpeaking reads each line's received audio energy every 100 ms, so a
  // 20 ms beep of the fake microphone counts; wait for it (at most 10 s).
  await bob.page.waitForFunction((adaId) => window.voiceTest.speaking.some((d) => d.speaker === adaId && d.speaking),
    adaId, { timeout: 10_000 }).catch(() => {});
  const spoke = await bob.page.evaluate(() => window.voiceTest.speaking.slice());
  if (!spoke.some((d) => d.speaker === adaId && d.speaking)) {
    const debug = await bob.page.evaluate(() => ({ lines: window.meridian.client.voice.lines(),
      listeners: window.meridian.client.voice._speakingListeners.size, poll: window.meridian.client.voice._poll != null,
      inbound: [...window.meridian.client.voice._slots.values()].map((s) => ({ mid: s.mid, heard: s.heard, loudAt: s.loudAt })),
      now: performance.now() }));
    throw new Error(`Bob's onSpeaking never said Ada speaks: ${JSON.stringify(spoke)} ${JSON.stringify(debug)}`);
  }
  // The demo page's voice panel lists Ada (its speaking mark follows the beeps).
  await bob.page.waitForSelector(`${by('voice-speaker')}[data-speaker="${adaId}"]`, { timeout: 5_000 });
  console.log(`Bob's onSpeaking: ${spoke.filter((d) => d.speaker === adaId).length} changes for Ada; his voice panel lists her`);

  // Mouth-to-ear: Ada's microphone onsets against Bob's received onsets.
  await bob.page.evaluate(() => {
    const streams = window.meridian.client.voice.peer.getReceivers().map((r) => new MediaStream([r.track]));
    window.voiceTest.tapContexts = streams.map((s) => window.voiceTest.onsetTap(s, window.voiceTest.onsets));
  });
  await bob.page.waitForTimeout(6_000);
  const spoken = await ada.page.evaluate(() => window.voiceTest.onsets.slice());
  const heard = await bob.page.evaluate(() => window.voiceTest.onsets.slice());
  const delays = [];
  for (const at of heard) {
    const before = spoken.filter((t) => t <= at);
    if (before.length) delays.push(at - before[before.length - 1]);
  }
  delays.sort((a, b) => a - b);
  if (delays.length === 0) throw new Error(`no onset pairs (Ada ${spoken.length} onsets, Bob ${heard.length})`);
  const median = delays[Math.floor(delays.length / 2)];
  console.log(`mouth-to-ear (Ada's microphone to Bob's line, through the server): median ${median.toFixed(1)} ms over ${delays.length} onsets, `
    + `range ${delays[0].toFixed(1)}-${delays[delays.length - 1].toFixed(1)} ms (Ada ${spoken.length} onsets)`);

  // Bob blocks Ada: his bytes stop growing.
  await api(http, 'POST', '/user/block', { userId: ada.userId }, bob.token);
  const blockedAt = Date.now();
  let last = (await inbound(bob)).bytes;
  let lastGrowth = blockedAt;
  while (Date.now() - lastGrowth < 1_500 && Date.now() - blockedAt < 10_000) {
    await bob.page.waitForTimeout(25);
    const now = (await inbound(bob)).bytes;
    if (now !== last) lastGrowth = Date.now();
    last = now;
  }
  const stoppedAfter = lastGrowth - blockedAt;
  const bobBlocked = await watchInbound(bob, WATCH_MS);
  if (bobBlocked.grew !== 0) throw new Error(`Bob still receives after blocking Ada: +${bobBlocked.grew} bytes`);
  console.log(`Bob blocked Ada: his last received bytes ${stoppedAfter} ms after the block's answer; then +0 bytes in ${WATCH_MS} ms`);

  // Ada walks to Carol: Carol starts receiving.
  await walkTo(ada, 75, y);
  await waitToReceive(carol, ada);
  const carolNear = await watchInbound(carol, WATCH_MS);
  if (carolNear.grew <= 0) throw new Error(`Carol, now 5 m from Ada, receives nothing`);
  console.log(`Carol (now 5 m from Ada) receives: +${carolNear.grew} bytes in ${WATCH_MS} ms, level up to ${carolNear.level.toFixed(3)}`);

  console.log('PASS: near hears, far does not, a block silences, walking near makes heard');
  await cleanup();
  process.exit(0);
} catch (error) {
  fail(error.stack ?? String(error));
}
