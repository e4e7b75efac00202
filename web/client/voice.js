// Meridian web client: proximity voice (issue #17; docs/VOICE.md, PROTOCOL.md
// sections 5.7-5.9 and 6.9-6.11).
//
// The server is a selective forwarding unit: the browser sends its microphone
// on one audio line and receives on N more (its slots). The offer is made once,
// with every candidate in it (the server takes no trickled candidates), and
// sent as VoiceOffer on the reliable stream; the VoiceAnswer names the voice
// port (ICE-lite, one host candidate). VoiceLines says which speaker (avatar
// id) is on which slot and how far away; each slot plays through an audio
// element whose volume is the gain for that distance (voiceGain below).
//
// Why an element and not a Web Audio GainNode: Chromium decodes a remote
// WebRTC track only while a media element plays it (a MediaStreamAudioSourceNode
// alone pulls nothing: the jitter buffer emitted 0 samples), and a muted element
// zeroes the decoded audio for every consumer (inbound-rtp totalAudioEnergy
// stayed 0 with the tone arriving), so the element must play it, and its volume
// is the attenuation.

import { MeridianError } from './errors.js';

/** Receiving lines asked for by default (the server's `loudest` default). */
export const DEFAULT_VOICE_SLOTS = 8;
/** Distance (m) up to which a speaker plays at full volume. */
export const VOICE_FULL_VOLUME_DISTANCE = 2;
/** A received RMS level (0..1 of full scale) above which a slot speaks. */
export const SPEAKING_LEVEL = 0.01;
/** How long a slot counts as speaking after its last loud reading (ms). */
export const SPEAKING_HOLD_MS = 400;
/** How often the slots' received audio energy is read (ms). */
export const LEVEL_POLL_MS = 100;
/** ICE gathering is waited for at most this long before the offer goes out (ms). */
const GATHER_TIMEOUT_MS = 3_000;
/** VoiceAnswer or VoiceRefused is waited for at most this long (ms). */
const ANSWER_TIMEOUT_MS = 10_000;

/**
 * The gain a speaker at `distance` metres plays with: 1 up to
 * VOICE_FULL_VOLUME_DISTANCE (2 m), then inverse distance, 2 / d (0.5 at 4 m,
 * 0.2 at 10 m, 0.13 at the default 15 m radius). Who is heard at all is the
 * server's decision (its voice radius); this only shapes the loudness.
 * @param {number} distance metres, from VoiceLines
 * @returns {number} 0..1
 */
export function voiceGain(distance) {
  if (!Number.isFinite(distance) || distance <= VOICE_FULL_VOLUME_DISTANCE) return 1;
  return VOICE_FULL_VOLUME_DISTANCE / distance;
}

/**
 * @typedef {object} SpeakingDetail
 * @property {number} speaker the speaker's avatar id
 * @property {boolean} speaking
 * @property {string} slot the line (SDP mid) it is heard on
 * @property {number} distance metres, as the server last said
 */

/**
 * One slot: a receiving line, what the server says is on it, and its playback.
 * @typedef {object} VoiceSlot
 * @property {string} mid
 * @property {RTCRtpTransceiver|null} transceiver null until the answer names it
 * @property {number|null} speaker
 * @property {number} distance
 * @property {HTMLAudioElement|null} element plays the line; its volume is the gain
 * @property {number} loudAt when its audio level was last above SPEAKING_LEVEL (ms)
 * @property {boolean} speaking
 * @property {AudioTotals|null} heard its inbound-rtp totals at the last reading
 */

/**
 * A receiving line's running totals from getStats inbound-rtp.
 * @typedef {object} AudioTotals
 * @property {number} energy totalAudioEnergy (squared level × seconds)
 * @property {number} seconds totalSamplesDuration
 */

/**
 * The RMS level (0..1) a line played between two readings of its totals, 0
 * when it played nothing in between. The totals integrate every sample, so a
 * sound shorter than the reading interval is not missed, as it is when only
 * the newest packet's level is sampled.
 * @param {AudioTotals} before
 * @param {AudioTotals} after
 * @returns {number}
 */
export function levelBetween(before, after) {
  const seconds = after.seconds - before.seconds;
  const energy = after.energy - before.energy;
  if (!(seconds > 0) || !(energy > 0)) return 0;
  return Math.sqrt(energy / seconds);
}

/**
 * The voice of one MeridianClient (`client.voice`). Made by the client; the
 * browser's WebRTC and Web Audio are looked up on `globalThis` when enable()
 * is called, so the client runs without them until then.
 */
export class VoiceChannel {
  /**
   * @param {{send: (msg: object) => void, now: () => number}} host how the
   *   voice sends its messages (on the reliable stream) and reads the clock
   */
  constructor(host) {
    /** @private */
    this._host = host;
    /** @type {'off'|'starting'|'on'} */
    this.state = 'off';
    /** @type {boolean} */
    this.muted = false;
    /** @type {RTCPeerConnection|null} */
    this.peer = null;
    /** @private @type {MediaStream|null} */
    this._microphone = null;
    /** @private @type {RTCRtpSender|null} */
    this._sender = null;
    /** @private @type {Map<string, VoiceSlot>} */
    this._slots = new Map();
    /** @private */
    this._pending = null;
    /** @private */
    this._poll = null;
    /** @private a getStats reading is under way */
    this._reading = false;
    /** @private @type {Set<(detail: SpeakingDetail) => void>} */
    this._speakingListeners = new Set();
  }

  /**
   * Calls `listener` each time a heard speaker starts or stops speaking (its
   * slot played above SPEAKING_LEVEL, RMS between two readings LEVEL_POLL_MS
   * apart, within the last SPEAKING_HOLD_MS), and
   * with speaking false when the server takes it off its slot.
   * @param {(detail: SpeakingDetail) => void} listener
   * @returns {() => void} removes the listener
   */
  onSpeaking(listener) {
    this._speakingListeners.add(listener);
    return () => this._speakingListeners.delete(listener);
  }

  /**
   * Who is on which slot now.
   * @returns {{slot: string, speaker: number|null, distance: number, speaking: boolean, gain: number}[]}
   */
  lines() {
    return [...this._slots.values()].map((s) => ({
      slot: s.mid,
      speaker: s.speaker,
      distance: s.distance,
      speaking: s.speaking,
      gain: s.element ? s.element.volume : (s.speaker == null ? 0 : voiceGain(s.distance)),
    }));
  }

  /**
   * Turns voice on: asks for the microphone, offers one sending line and
   * `slots` receiving lines, and resolves once the server's answer is applied.
   * Rejects with MeridianError 'VoiceRefused' (`reason`: NotInInstance,
   * MutedByModerator, Banned, MalformedSdp, VoiceDisabled, TooManySessions,
   * UnsupportedOffer; `detail`), 'Unsupported' (no WebRTC or microphone),
   * 'NotConnected', or 'Timeout'.
   * @param {{slots?: number, microphone?: MediaStream}} [options] `microphone`
   *   instead of asking getUserMedia for one (the page's own, e.g. with its
   *   processing constraints)
   * @returns {Promise<void>}
   */
  async enable(options = {}) {
    if (this.state !== 'off') throw new MeridianError('Unsupported', `voice is already ${this.state}`);
    const g = /** @type {any} */ (globalThis);
    if (!g.RTCPeerConnection || !(options.microphone || g.navigator?.mediaDevices?.getUserMedia)) {
      throw new MeridianError('Unsupported', 'this browser has no WebRTC or microphone access');
    }
    const slots = Math.max(1, Math.min(16, options.slots ?? DEFAULT_VOICE_SLOTS));
    this.state = 'starting';
    try {
      /** @type {MediaStream} */
      const stream = options.microphone
        ?? await g.navigator.mediaDevices.getUserMedia({ audio: true, video: false });
      this._microphone = stream;
      const peer = new g.RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
      this.peer = peer;
      const track = stream.getAudioTracks()[0];
      if (!track) throw new MeridianError('Unsupported', 'the microphone gave no audio track');
      const microphone = peer.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      this._sender = microphone.sender;
      if (this.muted) await microphone.sender.replaceTrack(null);
      const receiving = [];
      for (let i = 0; i < slots; i++) receiving.push(peer.addTransceiver('audio', { direction: 'recvonly' }));
      onlyOpus(g, [microphone, ...receiving]);
      peer.addEventListener('track', (event) => this._onTrack(event));
      await peer.setLocalDescription(await peer.createOffer());
      await gathered(peer);
      const sdp = peer.localDescription.sdp;
      const answer = this._awaitAnswer();
      this._host.send({ type: 'VoiceOffer', sdp });
      const answerSdp = await answer;
      await peer.setRemoteDescription({ type: 'answer', sdp: answerSdp });
      for (const t of receiving) {
        if (t.mid == null) continue;
        const slot = this._slots.get(t.mid);
        if (slot) slot.transceiver = t;
        else this._slots.set(t.mid, newSlot(t));
      }
      this.state = 'on';
      this._poll = setInterval(() => this._pollLevels(), LEVEL_POLL_MS);
    } catch (error) {
      this._teardown();
      throw error;
    }
  }

  /**
   * Mutes or unmutes the own microphone: tells the server (VoiceMute) and
   * stops (or resumes) sending on the microphone line.
   * @param {boolean} muted
   */
  async mute(muted) {
    this.muted = Boolean(muted);
    if (this.state === 'off') return;
    this._host.send({ type: 'VoiceMute', muted: this.muted });
    if (this._sender) {
      const track = this._microphone?.getAudioTracks()[0] ?? null;
      await this._sender.replaceTrack(this.muted ? null : track);
    }
  }

  /** Turns voice off: VoiceOff to the server, the connection and playback closed. */
  disable() {
    if (this.state === 'off') return;
    try {
      this._host.send({ type: 'VoiceOff' });
    } catch {
      // not connected: the server ended the session with the connection
    }
    this._teardown();
  }

  /**
   * Inbound statistics of every slot (getStats inbound-rtp): bytes, packets
   * and audio level, by slot.
   * @returns {Promise<{slot: string, bytesReceived: number, packetsReceived: number, audioLevel: number}[]>}
   */
  async inboundStats() {
    if (!this.peer) return [];
    const report = await this.peer.getStats();
    const out = [];
    for (const s of report.values()) {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio') continue;
      out.push({
        slot: s.mid ?? '',
        bytesReceived: s.bytesReceived ?? 0,
        packetsReceived: s.packetsReceived ?? 0,
        audioLevel: s.audioLevel ?? 0,
      });
    }
    return out;
  }

  // ---- from the client --------------------------------------------------------

  /** A VoiceAnswer, VoiceLines or VoiceRefused from the server. @param {any} msg */
  handle(msg) {
    if (msg.type === 'VoiceAnswer') {
      this._pending?.resolve(msg.sdp);
    } else if (msg.type === 'VoiceRefused') {
      const error = new MeridianError('VoiceRefused', `voice refused: ${msg.reason}${msg.detail ? ` (${msg.detail})` : ''}`,
        { reason: msg.reason, detail: msg.detail });
      if (this._pending) this._pending.reject(error);
      else if (this.state !== 'off') this._teardown();
    } else if (msg.type === 'VoiceLines') {
      for (const line of msg.lines) this._onLine(line);
    }
  }

  /** The connection ended: the server's session ended with it. */
  connectionLost() {
    this._pending?.reject(new MeridianError('Disconnected', 'the connection ended before the voice answer'));
    this._teardown();
  }

  // ---- inside ---------------------------------------------------------------

  /** @private */
  _awaitAnswer() {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending = null;
        reject(new MeridianError('Timeout', 'no voice answer from the server'));
      }, ANSWER_TIMEOUT_MS);
      const settle = (f) => (value) => { clearTimeout(timer); this._pending = null; f(value); };
      this._pending = { resolve: settle(resolve), reject: settle(reject) };
    });
  }

  /** @private @param {RTCTrackEvent} event */
  _onTrack(event) {
    const t = event.transceiver;
    if (!t || t.mid == null) return;
    const slot = this._slots.get(t.mid) ?? newSlot(t);
    this._slots.set(t.mid, slot);
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    const element = new Audio();
    element.autoplay = true;
    element.srcObject = stream;
    element.volume = slot.speaker == null ? 0 : voiceGain(slot.distance);
    element.play?.().catch(() => { /* autoplay refused: plays after the next user gesture */ });
    slot.element = element;
  }

  /** @private */
  _onLine(line) {
    /** @type {VoiceSlot} */
    const slot = this._slots.get(line.slot) ?? { mid: line.slot, transceiver: null, speaker: null, distance: 0,
      element: null, loudAt: -Infinity, speaking: false, heard: null };
    this._slots.set(line.slot, slot);
    if (slot.speaker !== line.speaker) {
      if (slot.speaking) {
        slot.speaking = false;
        this._emitSpeaking(slot, /** @type {number} */ (slot.speaker));
      }
      // What the line played before the change was the previous speaker's.
      slot.loudAt = -Infinity;
      slot.heard = null;
    }
    slot.speaker = line.speaker;
    slot.distance = line.distance;
    if (slot.element) slot.element.volume = slot.speaker == null ? 0 : voiceGain(slot.distance);
  }

  /**
   * Reads every slot's received audio energy (one getStats) and says who
   * started or stopped speaking. A reading still under way skips the next.
   * @private
   */
  async _pollLevels() {
    const peer = this.peer;
    if (this._reading || !peer) return;
    this._reading = true;
    let report;
    try {
      report = await peer.getStats();
    } catch {
      return; // closed meanwhile: the next reading (if any) tries again
    } finally {
      this._reading = false;
    }
    if (peer !== this.peer) return;
    /** @type {Map<string, AudioTotals>} */
    const totals = new Map();
    for (const s of report.values()) {
      if (s.type !== 'inbound-rtp' || s.kind !== 'audio' || s.mid == null) continue;
      totals.set(s.mid, { energy: s.totalAudioEnergy ?? 0, seconds: s.totalSamplesDuration ?? 0 });
    }
    const now = this._host.now();
    for (const slot of this._slots.values()) {
      const total = totals.get(slot.mid);
      if (total) {
        if (slot.heard && levelBetween(slot.heard, total) > SPEAKING_LEVEL) slot.loudAt = now;
        slot.heard = total;
      }
      const speaking = slot.speaker != null && now - slot.loudAt < SPEAKING_HOLD_MS;
      if (speaking !== slot.speaking) {
        slot.speaking = speaking;
        this._emitSpeaking(slot, /** @type {number} */ (slot.speaker));
      }
    }
  }

  /** @private */
  _emitSpeaking(slot, speaker) {
    if (speaker == null) return;
    const detail = { speaker, speaking: slot.speaking, slot: slot.mid, distance: slot.distance };
    for (const listener of this._speakingListeners) {
      try {
        listener(detail);
      } catch (error) {
        setTimeout(() => { throw error; });
      }
    }
  }

  /** @private */
  _teardown() {
    if (this._poll !== null) clearInterval(this._poll);
    this._poll = null;
    for (const slot of this._slots.values()) {
      if (slot.speaking && slot.speaker != null) {
        slot.speaking = false;
        this._emitSpeaking(slot, slot.speaker);
      }
    }
    for (const slot of this._slots.values()) {
      if (slot.element) {
        slot.element.pause();
        slot.element.srcObject = null;
      }
    }
    this._slots.clear();
    try { this.peer?.close(); } catch { /* already closed */ }
    this.peer = null;
    this._sender = null;
    for (const track of this._microphone?.getTracks() ?? []) track.stop();
    this._microphone = null;
    this.state = 'off';
  }
}

/** @param {RTCRtpTransceiver} t @returns {VoiceSlot} */
function newSlot(t) {
  return { mid: /** @type {string} */ (t.mid), transceiver: t, speaker: null, distance: 0, element: null,
    loudAt: -Infinity, speaking: false, heard: null };
}

/** Offers Opus alone (the server negotiates nothing else), which also keeps the SDP small. */
function onlyOpus(g, transceivers) {
  const capabilities = g.RTCRtpReceiver?.getCapabilities?.('audio');
  if (!capabilities) return;
  const opus = capabilities.codecs.filter((c) => c.mimeType.toLowerCase() === 'audio/opus');
  if (opus.length === 0) return;
  for (const t of transceivers) {
    try {
      t.setCodecPreferences(opus);
    } catch {
      // left to the browser's default list
    }
  }
}

/** Resolves when ICE gathering is complete (host candidates on loopback: at once), or after a bound. */
function gathered(peer) {
  if (peer.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise(/** @param {(value?: void) => void} resolve */ (resolve) => {
    const done = () => {
      if (peer.iceGatheringState !== 'complete') return;
      peer.removeEventListener('icegatheringstatechange', done);
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(resolve, GATHER_TIMEOUT_MS);
    peer.addEventListener('icegatheringstatechange', done);
  });
}
