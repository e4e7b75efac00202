// Meridian demo page: the keyboard (movement, run, chat focus) and zoom.

import { idleIntent, state } from './state.js';
import { el } from './dom.js';
import { session } from './session.js';

const WALK_SPEED = 1.4; // m/s
const RUN_SPEED = 4.0; // m/s

const MIN_ZOOM = 6; // pixels per metre
const MAX_ZOOM = 120;

// Movement keys, by KeyboardEvent.code (layout independent).
const MOVE_KEYS = {
  KeyW: 'up', ArrowUp: 'up',
  KeyS: 'down', ArrowDown: 'down',
  KeyA: 'left', ArrowLeft: 'left',
  KeyD: 'right', ArrowRight: 'right',
};
const RUN_KEYS = new Set(['ShiftLeft', 'ShiftRight']);

export const keys = new Set();

function computeIntent() {
  const held = (direction) => [...keys].some((code) => MOVE_KEYS[code] === direction);
  let x = Number(held('right')) - Number(held('left'));
  let y = Number(held('down')) - Number(held('up')); // screen y grows downwards, like world y
  if (x === 0 && y === 0) return idleIntent(state.intent.heading);
  const length = Math.hypot(x, y);
  x /= length;
  y /= length;
  const run = [...keys].some((code) => RUN_KEYS.has(code));
  return {
    moveX: x,
    moveY: y,
    speed: run ? RUN_SPEED : WALK_SPEED,
    heading: Math.atan2(y, x),
    animation: run ? 'Run' : 'Walk',
  };
}

function sameIntent(a, b) {
  return a.moveX === b.moveX && a.moveY === b.moveY && a.speed === b.speed && a.heading === b.heading && a.animation === b.animation;
}

function updateIntent() {
  const next = computeIntent();
  if (sameIntent(next, state.intent)) return;
  state.intent = next;
  if (session) safeSetIntent(session, next);
}

export function safeSetIntent(current, intent) {
  try {
    current.client?.setIntent({ ...intent });
  } catch {
    // not connected yet: the intent is sent again on connect
  }
}

export function releaseKeys() {
  if (keys.size === 0) return;
  keys.clear();
  updateIntent();
}

export function isTextField(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT')
  );
}

export function onKeyDown(event) {
  if (!session || el.views.play.hidden) return;
  if (isTextField(event.target) || event.ctrlKey || event.metaKey || event.altKey) return;
  const onControl = event.target instanceof HTMLElement && ['BUTTON', 'A'].includes(event.target.tagName);
  if ((event.code === 'Enter' || event.code === 'NumpadEnter') && !onControl) {
    event.preventDefault();
    el.chatInput.focus();
    return;
  }
  if (MOVE_KEYS[event.code] || RUN_KEYS.has(event.code)) {
    event.preventDefault();
    keys.add(event.code);
    updateIntent();
  }
}

export function onKeyUp(event) {
  // Always honoured, wherever focus is, so no key stays stuck.
  if (keys.delete(event.code)) updateIntent();
}

export function zoomBy(factor) {
  if (!session) return;
  session.camera.zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, session.camera.zoom * factor));
}
