// Meridian wire protocol: the client's ring of decoded views (section 12 of
// docs/PROTOCOL.md), against which snapshot deltas are decoded.

import { SNAPSHOT_RING_SIZE, fail } from './errors-and-limits.js';
import { decodeSnapshotBody } from './snapshot.js';

/** @typedef {import('./snapshot.js').Entity} Entity */
/** @typedef {import('./messages.js').SnapshotMessage} SnapshotMessage */

// ---------------------------------------------------------------------------
// The client's ring of decoded views (section 12)
// ---------------------------------------------------------------------------

/**
 * The views decoded for the last ticks, one slot per `tick % 32` like the Rust
 * client, so a view is held until a tick 32k later replaces it.
 */
export class SnapshotRing {
  /** @type {({tick: number, entities: Entity[]} | null)[]} */
  #slots = new Array(SNAPSHOT_RING_SIZE).fill(null);
  /** @type {number | null} */
  #newestTick = null;

  /** The newest tick decoded, or null. */
  get newestTick() {
    return this.#newestTick;
  }

  /** The view decoded for `tick`, if still held. @param {number} tick @returns {Entity[] | null} */
  get(tick) {
    const slot = this.#slots[tick % SNAPSHOT_RING_SIZE];
    return slot && slot.tick === tick ? slot.entities : null;
  }

  /**
   * Decodes a Snapshot message against the view it names and stores the result.
   * Returns null for a snapshot not newer than the newest decoded (reordered or
   * duplicated datagrams). Throws ProtocolError('UnknownBaseline') when the
   * baseline is not held, or the body's error; either way nothing changes.
   * @param {SnapshotMessage} snapshot
   * @returns {{tick: number, entities: Entity[]} | null}
   */
  receive(snapshot) {
    const { tick, baselineTick, body } = snapshot;
    if (this.#newestTick !== null && tick <= this.#newestTick) return null;
    let baseline = null;
    if (baselineTick !== null && baselineTick !== undefined) {
      baseline = this.get(baselineTick) ?? fail('UnknownBaseline', `no view held for tick ${baselineTick}`);
    }
    const entities = decodeSnapshotBody(body, baseline);
    const view = { tick, entities };
    this.#slots[tick % SNAPSHOT_RING_SIZE] = view;
    this.#newestTick = tick;
    return view;
  }

  /** Forgets every view (a reconnect starts from a keyframe). */
  clear() {
    this.#slots.fill(null);
    this.#newestTick = null;
  }
}
