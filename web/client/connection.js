// Meridian web client: the state of one connection, from its transport's opening
// to its end: the views decoded, the inputs sent and which of them the server has
// applied (for the round-trip time).

import { SnapshotRing } from '../protocol.js';

/** Inputs remembered for the round-trip time, at most. */
const MAX_PENDING_RTT = 256;

/**
 * A fresh connection over `transport`, not yet welcomed.
 * @param {any} transport @param {() => number} now the client's clock
 */
export function newConnection(transport, now) {
  return {
    transport,
    kind: transport.kind,
    open: false,
    welcome: null,
    ring: new SnapshotRing(),
    clock: null,
    newestTick: null,
    nextSequence: 1,
    inputTimes: new Map(),
    rttSequence: 0,
    lastHeard: now(),
    lastDatagramSent: now(),
    openedAt: null,
    handshakeTimer: null,
    tickTimer: null,
  };
}

/** The sequence number of the next Input. */
export function takeSequence(conn) {
  const sequence = conn.nextSequence;
  conn.nextSequence = sequence >= 0xffffffff ? 1 : sequence + 1;
  return sequence;
}

/** Remembers when Input `sequence` was sent. */
export function rememberInput(conn, sequence, now) {
  conn.inputTimes.set(sequence, now);
  if (conn.inputTimes.size > MAX_PENDING_RTT) {
    conn.inputTimes.delete(conn.inputTimes.keys().next().value);
  }
}

/**
 * A snapshot says the server has applied inputs up to `seq`: the first snapshot
 * that includes input n answers it. Returns the round trip in ms it measures,
 * or null; forgets the inputs it answers.
 * @param {any} conn @param {number} seq @param {number} now
 * @returns {number|null}
 */
export function inputRoundTrip(conn, seq, now) {
  if (seq <= conn.rttSequence) return null;
  const sentAt = conn.inputTimes.get(seq);
  conn.rttSequence = seq;
  for (const s of conn.inputTimes.keys()) {
    if (s > seq) break;
    conn.inputTimes.delete(s);
  }
  return sentAt !== undefined ? now - sentAt : null;
}
