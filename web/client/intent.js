// Meridian web client: the movement intent, sent as an Input every tick.

import { ANIMATIONS } from '../protocol.js';

/** @typedef {import('../protocol.js').MovementIntent} MovementIntent */

function isFiniteNumber(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * `intent` over `prev`, checked, with its direction scaled down to length 1 if
 * longer. Throws a TypeError for a value that is not finite or an unknown animation.
 * @param {Partial<MovementIntent>} intent
 * @param {MovementIntent} prev
 * @returns {MovementIntent}
 */
export function mergeIntent(intent, prev) {
  let moveX = intent.moveX ?? prev.moveX;
  let moveY = intent.moveY ?? prev.moveY;
  const speed = intent.speed ?? prev.speed;
  const heading = intent.heading ?? prev.heading;
  const animation = intent.animation ?? prev.animation;
  for (const [k, v] of [['moveX', moveX], ['moveY', moveY], ['speed', speed], ['heading', heading]]) {
    if (!isFiniteNumber(v)) throw new TypeError(`intent.${k} must be a finite number`);
  }
  if (!ANIMATIONS.includes(animation)) throw new TypeError(`unknown animation ${animation}`);
  const len = Math.hypot(moveX, moveY);
  if (len > 1) {
    moveX /= len;
    moveY /= len;
  }
  return { moveX, moveY, speed, heading, animation };
}

/**
 * Standing still, as the own avatar stands now: the intent before any was set.
 * @param {{state: {heading: number, animation: import('../protocol.js').Animation}} | null | undefined} own its record
 * @returns {MovementIntent | null}
 */
export function standingIntent(own) {
  if (!own) return null;
  const anim = own.state.animation;
  return {
    moveX: 0,
    moveY: 0,
    speed: 0,
    heading: own.state.heading,
    animation: anim === 'Walk' || anim === 'Run' ? 'Idle' : anim,
  };
}
