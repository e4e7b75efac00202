// Meridian demo page: the page's elements, the views and the status line.

import { state } from './state.js';
import { session } from './session.js';

const $ = (id) => /** @type {any} */ (document.getElementById(id));
export const el = {
  status: document.querySelector('[data-testid="status"]'),
  statusText: $('status-text'),
  account: $('account'),
  currentUser: $('current-user'),
  logout: $('logout'),
  views: { auth: $('view-auth'), lobby: $('view-lobby'), play: $('view-play') },
  authForm: $('auth-form'),
  authUsername: $('auth-username'),
  authPassword: $('auth-password'),
  authError: $('auth-error'),
  loginButton: $('login-button'),
  signupButton: $('signup-button'),
  lobbyError: $('lobby-error'),
  spaceList: $('space-list'),
  spaceEmpty: $('space-empty'),
  refreshSpaces: $('refresh-spaces'),
  joinById: $('join-by-id'),
  joinSpaceId: $('join-space-id'),
  transportSelect: $('transport-select'),
  avatarList: $('avatar-list'),
  avatarEmpty: $('avatar-empty'),
  avatarNote: $('avatar-note'),
  canvas: $('world'),
  spaceTitle: $('space-title'),
  ownPosition: $('own-position'),
  overlay: $('stage-overlay'),
  overlayText: $('overlay-text'),
  overlayActions: $('overlay-actions'),
  rejoin: $('rejoin'),
  back: $('back-to-lobby'),
  zoomIn: $('zoom-in'),
  zoomOut: $('zoom-out'),
  leave: $('leave'),
  net: {
    transport: $('net-transport'),
    rtt: $('net-rtt'),
    snapshots: $('net-snapshots'),
    bytesIn: $('net-bytes-in'),
    bytesOut: $('net-bytes-out'),
    entities: $('net-entities'),
  },
  peopleList: $('people-list'),
  peopleCount: $('people-count'),
  chatLog: $('chat-log'),
  chatForm: $('chat-form'),
  chatChannel: $('chat-channel'),
  chatInput: $('chat-input'),
  chatSend: $('chat-send'),
  chatHint: $('chat-hint'),
};

export function showView(name) {
  for (const [key, view] of Object.entries(el.views)) view.hidden = key !== name;
}

export function setStatus(kind, text) {
  state.status = { kind, text };
  el.status.dataset.state = kind;
  el.statusText.textContent = text;
  document.title = kind === 'connected' && session ? `${session.space.name} · Meridian` : 'Meridian';
}

export function showError(node, message) {
  node.textContent = message ?? '';
  node.hidden = !message;
}
