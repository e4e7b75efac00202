// Meridian web client: the world as the client sees it. One record per entity
// in view (its newest state and an interpolation buffer), brought up to date by
// each decoded view, and the display names Presence messages told.

import { dequantizePosition, dequantizeHeading, sameSpawn } from '../protocol.js';
import { InterpolationBuffer } from '../interpolation.js';

/** Names kept at most; beyond it, names of entities not in view are forgotten. */
const MAX_NAMES = 4096;

/**
 * @typedef {object} EntityView
 * @property {number} id
 * @property {import('../protocol.js').EntityKind} kind 'Avatar' | 'Element' | 'Npc'
 * @property {number} appearance
 * @property {number} x metres
 * @property {number} y metres
 * @property {number} heading radians in [0, 2π)
 * @property {import('../protocol.js').Animation} animation
 * @property {string|null} name the avatar's display name, once known
 * @property {boolean} self true for the client's own avatar
 * @property {ElementFootprint} [footprint] only on an 'Element': its extent (x, y is its centre)
 */

/**
 * A placed element's extent in metres, and whether avatars are kept out of it.
 * @typedef {object} ElementFootprint
 * @property {number} width
 * @property {number} height
 * @property {boolean} blocking
 */

/** An element's footprint in metres, as a spread-able object (empty for other kinds). */
function footprintOf(e) {
  if (!e.footprint) return {};
  const { width, height, blocking } = e.footprint;
  return { footprint: { width: dequantizePosition(width), height: dequantizePosition(height), blocking } };
}

/**
 * The newest state of an entity whose state changed (the 'moved' event).
 * @typedef {object} EntityMove
 * @property {number} id
 * @property {number} x metres
 * @property {number} y metres
 * @property {number} heading radians in [0, 2π)
 * @property {import('../protocol.js').Animation} animation
 * @property {number} appearance
 */

/**
 * Brings the entity records up to a decoded view, and says what changed: the
 * details of the 'left', 'entered' and 'moved' events, in that order.
 * @param {Map<number, any>} entities id -> record, updated in place
 * @param {Map<number, string>} names
 * @param {{tick: number, entities: any[]}} view
 * @param {number} time the view's time on the local clock
 * @param {number} selfId the own avatar's id
 * @param {object} interpolation options for new InterpolationBuffers
 * @returns {{left: {id: number}[], entered: EntityView[], moved: EntityMove[]}}
 */
export function applyView(entities, names, view, time, selfId, interpolation) {
  const left = [];
  const entered = [];
  const moved = [];
  const seen = new Set();
  for (const e of view.entities) {
    seen.add(e.id);
    let rec = entities.get(e.id);
    if (rec && !sameSpawn(rec.q, e)) {
      // A kind or footprint change is a leave and an enter.
      entities.delete(e.id);
      left.push({ id: e.id });
      rec = undefined;
    }
    const state = {
      x: dequantizePosition(e.x),
      y: dequantizePosition(e.y),
      heading: dequantizeHeading(e.heading),
      animation: e.animation,
    };
    if (!rec) {
      const buffer = new InterpolationBuffer(interpolation);
      rec = { id: e.id, kind: e.kind, appearance: e.appearance, q: e, state, buffer, extent: footprintOf(e) };
      rec.buffer.push(time, state);
      entities.set(e.id, rec);
      entered.push({
        id: e.id,
        kind: e.kind,
        appearance: e.appearance,
        ...state,
        name: names.get(e.id) ?? null,
        self: e.id === selfId,
        ...rec.extent,
      });
      continue;
    }
    const q = rec.q;
    const changed = q.x !== e.x || q.y !== e.y || q.heading !== e.heading
      || q.animation !== e.animation || q.appearance !== e.appearance;
    rec.q = e;
    rec.state = state;
    rec.appearance = e.appearance;
    // Unchanged entities get a sample too, so a stop is held, not smeared.
    rec.buffer.push(time, state);
    if (changed) moved.push({ id: e.id, ...state, appearance: e.appearance });
  }
  for (const id of [...entities.keys()]) {
    if (!seen.has(id)) {
      entities.delete(id);
      left.push({ id });
    }
  }
  return { left, entered, moved };
}

/**
 * Every entity in view, others interpolated at `renderTime`, the own avatar at
 * its newest state.
 * @param {Map<number, any>} entities @param {Map<number, string>} names
 * @param {number|null} selfId @param {number} renderTime
 * @returns {EntityView[]}
 */
export function sampleEntities(entities, names, selfId, renderTime) {
  const out = [];
  for (const rec of entities.values()) {
    const self = rec.id === selfId;
    const pose = (!self && rec.buffer.sample(renderTime)) || rec.state;
    out.push({
      id: rec.id,
      kind: rec.kind,
      appearance: rec.appearance,
      x: pose.x,
      y: pose.y,
      heading: pose.heading,
      animation: pose.animation,
      name: names.get(rec.id) ?? null,
      self,
      ...rec.extent,
    });
  }
  return out;
}

/**
 * The newest (not interpolated) state of one entity, or null.
 * @param {Map<number, any>} entities @param {Map<number, string>} names
 * @param {number} id @param {number|null} selfId
 */
export function newestEntity(entities, names, id, selfId) {
  const rec = entities.get(id);
  if (!rec) return null;
  return {
    id,
    kind: rec.kind,
    appearance: rec.appearance,
    ...rec.state,
    name: names.get(id) ?? null,
    self: id === selfId,
    ...rec.extent,
  };
}

/**
 * Records an avatar's display name, as the newest; when too many are held,
 * forgets the oldest of those not in view.
 * @param {Map<number, string>} names @param {Map<number, any>} entities
 * @param {number} id @param {string} name
 */
export function rememberName(names, entities, id, name) {
  names.delete(id);
  names.set(id, name);
  if (names.size > MAX_NAMES) {
    for (const known of names.keys()) {
      if (names.size <= MAX_NAMES) break;
      if (!entities.has(known)) names.delete(known);
    }
  }
}
