// Meridian web client: inventory requests waiting for the server's answer.

import { MeridianError } from './errors.js';

const utf8 = new TextEncoder();

/**
 * Checks a change before it is sent; returns the item as a string.
 * @param {string} item @param {number} delta
 * @returns {string}
 */
export function checkInventoryChange(item, delta) {
  item = String(item);
  const itemBytes = utf8.encode(item).length;
  if (itemBytes < 1 || itemBytes > 64) throw new RangeError('item must be 1 to 64 bytes of UTF-8');
  if (!Number.isInteger(delta) || delta === 0 || delta < -1000 || delta > 1000) {
    throw new RangeError('delta must be a non-zero integer from -1000 to 1000');
  }
  return item;
}

/**
 * The server's answer to an inventory change (and the 'inventory' event).
 * @typedef {object} InventoryResult
 * @property {number} request the request's number
 * @property {string} item
 * @property {number} quantity the count held now (unchanged when refused)
 * @property {import('../protocol.js').InventoryStatus} status 'Applied' or why not
 */

/** Numbers requests and settles each when its answer, a timeout or a disconnect comes. */
export class InventoryRequests {
  /** @param {{setTimeout: Function, clearTimeout: Function}} timers */
  constructor(timers) {
    this._timers = timers;
    this._next = 1;
    /** @type {Map<number, {resolve: Function, reject: Function, timer: any}>} */
    this._pending = new Map();
  }

  /** The number the next request gets. */
  get nextRequest() {
    return this._next;
  }

  /**
   * Waits for the answer to `request` (the number nextRequest gave), which then
   * moves on. Rejects with MeridianError 'Timeout' after `timeoutMs`.
   * @param {number} request @param {number} timeoutMs
   * @returns {Promise<InventoryResult>}
   */
  track(request, timeoutMs) {
    this._next = request >= 0xffffffff ? 1 : request + 1;
    return new Promise((resolve, reject) => {
      const timer = this._timers.setTimeout(() => {
        this._pending.delete(request);
        reject(new MeridianError('Timeout', `no answer to inventory request ${request}`, { request }));
      }, timeoutMs);
      this._pending.set(request, { resolve, reject, timer });
    });
  }

  /** Resolves the request an answer is for, if it is still waiting. @param {number} request @param {InventoryResult} result */
  settle(request, result) {
    const p = this._pending.get(request);
    if (p) {
      this._pending.delete(request);
      this._timers.clearTimeout(p.timer);
      p.resolve(result);
    }
  }

  /** Rejects every waiting request. @param {Error} error */
  rejectAll(error) {
    const pending = this._pending;
    this._pending = new Map();
    for (const p of pending.values()) {
      this._timers.clearTimeout(p.timer);
      p.reject(error);
    }
  }
}
