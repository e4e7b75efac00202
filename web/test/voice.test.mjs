// VoiceChannel (client/voice.js) against a stand-in for the browser's WebRTC:
// the offer's shape, the answer applied, typed refusals, lines and gains,
// mute and hang-up. The real thing runs in web/e2e/voice_near_far_and_blocked.mjs.

import { test, mock } from 'node:test';
import assert from 'node:assert/strict';

import { VoiceChannel, voiceGain, levelBetween, DEFAULT_VOICE_SLOTS, LEVEL_POLL_MS, SPEAKING_HOLD_MS }
  from '../client/voice.js';
import { MeridianError } from '../client/errors.js';

class FakeSender {
  constructor(track) { this.track = track; }
  async replaceTrack(track) { this.track = track; }
}

class FakePeer {
  constructor(config) {
    this.config = config;
    this.transceivers = [];
    this.iceGatheringState = 'complete';
    this.remote = null;
    this.closed = false;
    /** inbound-rtp totals by mid, as getStats reports them */
    this.inbound = new Map();
    FakePeer.last = this;
  }
  addTransceiver(trackOrKind, init) {
    const t = { mid: null, direction: init.direction, sender: new FakeSender(typeof trackOrKind === 'string' ? null : trackOrKind),
      receiver: { getSynchronizationSources: () => [] }, codecs: null,
      setCodecPreferences(codecs) { this.codecs = codecs; } };
    this.transceivers.push(t);
    return t;
  }
  async createOffer() { return { type: 'offer', sdp: `v=0 with ${this.transceivers.length} audio lines` }; }
  async setLocalDescription(d) { this.localDescription = d; }
  async setRemoteDescription(d) {
    this.remote = d;
    this.transceivers.forEach((t, i) => { t.mid = String(i); });
  }
  async getStats() {
    const report = new Map();
    for (const [mid, [energy, seconds]] of this.inbound) {
      report.set(`in-${mid}`, { type: 'inbound-rtp', kind: 'audio', mid, totalAudioEnergy: energy, totalSamplesDuration: seconds });
    }
    return report;
  }
  addEventListener() {}
  removeEventListener() {}
  close() { this.closed = true; }
}

function browser(now = () => 0) {
  const track = { kind: 'audio', stopped: false, stop() { this.stopped = true; } };
  const microphone = { getAudioTracks: () => [track], getTracks: () => [track] };
  globalThis.RTCPeerConnection = FakePeer;
  globalThis.RTCRtpReceiver = { getCapabilities: () => ({ codecs: [
    { mimeType: 'audio/opus', clockRate: 48000 }, { mimeType: 'audio/PCMU', clockRate: 8000 }] }) };
  const sent = [];
  const voice = new VoiceChannel({ send: (msg) => sent.push(msg), now });
  return { voice, sent, microphone, track };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

test('voiceGain: full up to 2 m, then 2 / d', () => {
  assert.equal(voiceGain(0), 1);
  assert.equal(voiceGain(2), 1);
  assert.equal(voiceGain(4), 0.5);
  assert.equal(voiceGain(10), 0.2);
  assert.ok(Math.abs(voiceGain(15) - 2 / 15) < 1e-12);
  assert.equal(voiceGain(Number.NaN), 1);
});

test('levelBetween: the RMS of what was played between two readings', () => {
  assert.equal(levelBetween({ energy: 1, seconds: 10 }, { energy: 1, seconds: 10.1 }), 0);
  // 20 ms at level 0.5 in a 100 ms reading: sqrt(0.25 × 0.02 / 0.1).
  assert.ok(Math.abs(levelBetween({ energy: 1, seconds: 10 }, { energy: 1.005, seconds: 10.1 }) - Math.sqrt(0.05)) < 1e-9);
  assert.equal(levelBetween({ energy: 1, seconds: 10 }, { energy: 2, seconds: 10 }), 0, 'no time played');
  assert.equal(levelBetween({ energy: 2, seconds: 10 }, { energy: 1, seconds: 11 }), 0, 'totals restarted');
});

test('onSpeaking: a beep shorter than a reading is heard; silence ends it after the hold', async () => {
  mock.timers.enable({ apis: ['setInterval'] });
  try {
    let clock = 0;
    const { voice, microphone } = browser(() => clock);
    const enabled = voice.enable({ microphone });
    await tick();
    voice.handle({ type: 'VoiceAnswer', sdp: 'v=0 answer' });
    await enabled;
    const peer = FakePeer.last;
    const said = [];
    voice.onSpeaking((d) => said.push([d.speaker, d.speaking, d.slot]));
    voice.handle({ type: 'VoiceLines', lines: [{ slot: '1', speaker: 42, distance: 3 }] });
    const reading = async (energy, seconds) => {
      peer.inbound.set('1', [energy, seconds]);
      clock += LEVEL_POLL_MS;
      mock.timers.tick(LEVEL_POLL_MS);
      await tick();
    };
    await reading(0, 0);
    await reading(0, 0.1);
    assert.deepEqual(said, [], 'silence is not speaking');
    // One 20 ms beep at 0.4 within the next 100 ms, then silence.
    await reading(0.16 * 0.02, 0.2);
    assert.deepEqual(said, [[42, true, '1']]);
    const quietReadings = Math.ceil(SPEAKING_HOLD_MS / LEVEL_POLL_MS);
    for (let i = 1; i <= quietReadings; i++) await reading(0.16 * 0.02, 0.2 + i * 0.1);
    assert.deepEqual(said, [[42, true, '1'], [42, false, '1']]);
    // The server puts another speaker on the line: the one before stops, the
    // new one speaks once the line plays loud again.
    await reading(0.16 * 0.02 + 0.01, 0.8);
    voice.handle({ type: 'VoiceLines', lines: [{ slot: '1', speaker: 43, distance: 3 }] });
    await reading(0.16 * 0.02 + 0.01, 0.9);
    assert.deepEqual(said.slice(2), [[42, true, '1'], [42, false, '1']]);
    await reading(0.16 * 0.02 + 0.02, 1.0);
    assert.deepEqual(said.slice(4), [[43, true, '1']]);
    voice.disable();
  } finally {
    mock.timers.reset();
  }
});

test('without WebRTC, enable() rejects Unsupported and voice stays off', async () => {
  delete globalThis.RTCPeerConnection;
  const voice = new VoiceChannel({ send: () => assert.fail('nothing is sent'), now: () => 0 });
  await assert.rejects(voice.enable(), (e) => e instanceof MeridianError && e.code === 'Unsupported');
  assert.equal(voice.state, 'off');
});

test('the offer: one sending line, then the slots receiving, Opus only; the answer is applied', async () => {
  const { voice, sent, microphone } = browser();
  const enabled = voice.enable({ microphone });
  await tick();
  assert.deepEqual(sent.map((m) => m.type), ['VoiceOffer']);
  const peer = FakePeer.last;
  assert.equal(peer.config.bundlePolicy, 'max-bundle');
  assert.deepEqual(peer.transceivers.map((t) => t.direction),
    ['sendonly', ...Array(DEFAULT_VOICE_SLOTS).fill('recvonly')]);
  assert.ok(peer.transceivers.every((t) => t.codecs.length === 1 && t.codecs[0].mimeType === 'audio/opus'));
  assert.equal(sent[0].sdp, `v=0 with ${DEFAULT_VOICE_SLOTS + 1} audio lines`);
  voice.handle({ type: 'VoiceAnswer', sdp: 'v=0 answer' });
  await enabled;
  assert.equal(voice.state, 'on');
  assert.deepEqual(peer.remote, { type: 'answer', sdp: 'v=0 answer' });
  assert.equal(voice.lines().length, DEFAULT_VOICE_SLOTS);

  voice.handle({ type: 'VoiceLines', lines: [{ slot: '1', speaker: 42, distance: 10 }, { slot: '2', speaker: 43, distance: 1 }] });
  const lines = voice.lines().filter((l) => l.speaker != null);
  assert.deepEqual(lines.map((l) => [l.slot, l.speaker, l.gain]), [['1', 42, 0.2], ['2', 43, 1]]);
  voice.handle({ type: 'VoiceLines', lines: [{ slot: '1', speaker: null, distance: 0 }] });
  assert.deepEqual(voice.lines().filter((l) => l.speaker != null).map((l) => l.speaker), [43]);

  await voice.mute(true);
  assert.deepEqual(sent.at(-1), { type: 'VoiceMute', muted: true });
  assert.equal(peer.transceivers[0].sender.track, null);
  await voice.mute(false);
  assert.deepEqual(sent.at(-1), { type: 'VoiceMute', muted: false });
  assert.notEqual(peer.transceivers[0].sender.track, null);

  voice.disable();
  assert.deepEqual(sent.at(-1), { type: 'VoiceOff' });
  assert.equal(voice.state, 'off');
  assert.ok(peer.closed);
});

test('VoiceRefused rejects enable() with its reason, and everything is closed', async () => {
  const { voice, microphone, track } = browser();
  const enabled = voice.enable({ microphone });
  await tick();
  voice.handle({ type: 'VoiceRefused', reason: 'NotInInstance', detail: '' });
  await assert.rejects(enabled, (e) => e instanceof MeridianError && e.code === 'VoiceRefused' && e.reason === 'NotInInstance');
  assert.equal(voice.state, 'off');
  assert.ok(FakePeer.last.closed);
  assert.ok(track.stopped);
});

test('a lost connection before the answer rejects Disconnected', async () => {
  const { voice, microphone } = browser();
  const enabled = voice.enable({ microphone });
  await tick();
  voice.connectionLost();
  await assert.rejects(enabled, (e) => e.code === 'Disconnected');
  assert.equal(voice.state, 'off');
});
