// Meridian demo page: joining a space and the realtime session in it, through
// MeridianClient from ../meridian.js, loaded when a space is first joined.

import { TRANSPORT_LABELS, idleIntent, state } from './state.js';
import { el, setStatus, showError, showView } from './dom.js';
import { ApiError, allPages, api, authed } from './api.js';
import { enterLobby, parseDimensions, setJoinButtonsDisabled } from './lobby.js';
import { keys, releaseKeys, safeSetIntent } from './input.js';
import { CHAT_HISTORY_LINES, addSystemLine, onChat, renderHistory } from './chat.js';
import { PANEL_INTERVAL_MS, updatePanel } from './panel.js';
import { frame } from './render.js';
import { attachVoice } from './voice.js';

const REASONS = {
  // DisconnectReason
  ClientQuit: 'you left',
  ServerShutdown: 'the server is shutting down',
  IdleTimeout: 'nothing was heard for too long',
  Kicked: 'a moderator removed you',
  ProtocolViolation: 'a protocol error',
  RateLimited: 'sending too fast',
  SessionReplaced: 'you joined this space again from another tab or device',
  Moved: 'the room moved to another server',
  // RefusalReason
  VersionMismatch: 'this page speaks another protocol version',
  BadToken: 'the join token was not accepted',
  TokenExpired: 'the join token expired',
  WrongSpace: 'the join token is for another space',
  Banned: 'this account is banned',
  ServerFull: 'the server is full',
  TooManyConnections: 'too many connections from this address',
  Draining: 'the server is not taking new players',
  // The client library's own
  JoinFailed: 'joining failed',
  ConnectFailed: 'the game server cannot be reached',
  TransportClosed: 'the connection closed',
  HandshakeTimeout: 'the game server did not answer',
  Timeout: 'the game server went silent',
  ProtocolError: 'the server sent something unreadable',
  ClientError: 'an error in this page',
};

/** The joined space, while the play view is up. */
export let session = null;
/** Bumped by every join and every end of a session, so a stale join stops. */
let joinSeq = 0;

/** Asks for a fresh realtime token and address for a space. */
function requestJoin(spaceId) {
  return authed('POST', `/space/${encodeURIComponent(spaceId)}/join`);
}

export async function joinSpace(space) {
  endSession();
  const attempt = ++joinSeq;
  if (!el.views.play.hidden) showOverlay(`Joining ${space.name}…`, false);
  showError(el.lobbyError, null);
  setJoinButtonsDisabled(true);
  setStatus('connecting', `Joining ${space.name}…`);
  let first;
  let library;
  try {
    [first, library] = await Promise.all([requestJoin(space.id), import('../meridian.js')]);
  } catch (error) {
    setJoinButtonsDisabled(false);
    if (attempt !== joinSeq || (error instanceof ApiError && error.status === 401)) return;
    setStatus('idle', 'Not connected');
    const message = error instanceof ApiError ? error.message : `The client library did not load: ${error.message}`;
    showError(el.lobbyError, `Cannot join ${space.name}: ${message}`);
    if (state.phase !== 'lobby') enterLobby(`Cannot join ${space.name}: ${message}`);
    return;
  }
  const [detail, catalogue, history] = await Promise.all([
    allPages(api, `/space/${encodeURIComponent(space.id)}`, 'elements').catch(() => null),
    // What each element looks like: snapshots name it by its catalogue id.
    allPages(api, '/elements', 'elements').catch(() => null),
    api('GET', `/space/${encodeURIComponent(space.id)}/chat?limit=${CHAT_HISTORY_LINES}`).catch(() => null),
  ]);
  setJoinButtonsDisabled(false);
  if (attempt !== joinSeq) return; // left or logged out meanwhile
  startSession(library.MeridianClient, space, detail, catalogueById(detail, catalogue), history, first);
}

/** Catalogue element id -> {imageUrl, width, height, static}, from the catalogue and the space's placements. */
function catalogueById(detail, catalogue) {
  const byId = new Map();
  for (const placed of Array.isArray(detail?.elements) ? detail.elements : []) {
    if (placed.element && typeof placed.element.id === 'number') byId.set(placed.element.id, placed.element);
  }
  for (const element of Array.isArray(catalogue?.elements) ? catalogue.elements : []) {
    if (typeof element.id === 'number') byId.set(element.id, element);
  }
  return byId;
}

function startSession(MeridianClient, space, detail, catalogue, history, firstJoin) {
  const size = detail ? parseDimensions(detail.dimensions) : { width: space.width, height: space.height };
  const current = {
    space: {
      id: space.id,
      name: detail?.name ?? space.name,
      width: size.width || space.width,
      height: size.height || space.height,
      // Placed elements come in snapshots (kind 'Element', with footprints);
      // this says what each catalogue element looks like.
      catalogue,
    },
    client: /** @type {any} */ (null),
    closed: false,
    prefetched: firstJoin,
    everConnected: false,
    willReconnect: false,
    camera: { x: 0, y: 0, ready: false, zoom: 36 },
    entities: [],
    frame: 0,
    panelTimer: 0,
    retryAt: 0,
    retry: null,
    lastFrameAt: 0,
    headingSeeded: false,
  };
  session = current;
  state.space = current.space;
  state.connection = null;
  state.lastDisconnect = null;
  state.lastRefusal = null;
  state.chat = [];
  state.intent = idleIntent(0);
  keys.clear();

  const client = new MeridianClient({
    transport: state.requestedTransport,
    join: () => nextJoin(current),
  });
  current.client = client;

  client.addEventListener('connected', (event) => onConnected(current, event.detail ?? {}));
  client.addEventListener('disconnected', (event) => onDisconnected(current, event.detail ?? {}));
  client.addEventListener('refused', (event) => onRefused(current, event.detail ?? {}));
  client.addEventListener('chat', (event) => onChat(current, event.detail ?? {}));
  attachVoice(client);

  state.phase = 'play';
  showView('play');
  showRoom(current, firstJoin);
  el.ownPosition.textContent = '';
  el.chatLog.replaceChildren();
  el.chatHint.textContent = '';
  el.chatInput.value = '';
  showOverlay(`Connecting to ${current.space.name}…`, false);
  setStatus('connecting', `Connecting to ${current.space.name}${transportSuffix()}…`);
  renderHistory(history);
  updatePanel(current);
  current.panelTimer = setInterval(() => updatePanel(current), PANEL_INTERVAL_MS);
  current.frame = requestAnimationFrame((now) => frame(current, now));
  el.canvas.focus({ preventScroll: true });

  Promise.resolve()
    .then(() => client.connect())
    .catch((error) => {
      // Only if no event has told the story already.
      if (session !== current || current.closed || state.status.kind !== 'connecting') return;
      showDisconnected(current, `Cannot connect: ${error?.message ?? error}`);
    });
}

function transportSuffix() {
  return state.requestedTransport === 'auto' ? '' : ` over ${TRANSPORT_LABELS[state.requestedTransport]}`;
}

/** The space's name over the stage, and the room a join answer seated us in (a space with a capacity runs as rooms). */
function showRoom(current, answer) {
  if (session !== current) return;
  const room = Number.isInteger(answer?.room) ? answer.room : null;
  el.spaceTitle.textContent = room ? `${current.space.name} · room ${room}` : current.space.name;
  if (room) el.spaceTitle.dataset.room = String(room);
  else delete el.spaceTitle.dataset.room;
}

/** The join answer for the next (re)connect: fetched fresh each time. */
async function nextJoin(current) {
  if (current.closed) throw Object.assign(new Error('left the space'), { retry: false });
  const prefetched = current.prefetched;
  current.prefetched = null;
  if (prefetched && (!prefetched.expires_at || prefetched.expires_at * 1000 > Date.now() + 15_000)) return prefetched;
  current.retryAt = 0;
  setStatus('reconnecting', `${current.everConnected ? 'Reconnecting' : 'Connecting again'} to ${current.space.name}…`);
  try {
    const answer = await requestJoin(current.space.id);
    showRoom(current, answer);
    return answer;
  } catch (error) {
    // These will not get better by retrying: the library stops on retry === false.
    if (error instanceof ApiError && [400, 401, 403, 404].includes(error.status)) error.retry = false;
    throw error;
  }
}

function onConnected(current, detail) {
  if (session !== current || current.closed) return;
  const again = current.everConnected;
  current.everConnected = true;
  current.willReconnect = false;
  current.retryAt = 0;
  state.connection = { ...detail };
  state.lastRefusal = null;
  setStatus('connected', `Connected to ${current.space.name} · ${TRANSPORT_LABELS[detail.transport] ?? detail.transport ?? ''}`);
  hideOverlay();
  window.meridian = { client: current.client, state };
  if (again) addSystemLine('Reconnected.');
  else addSystemLine(`You joined ${current.space.name}.`);
  // The library keeps its intent across reconnects; say it again in case.
  if (state.intent.animation !== 'Idle') safeSetIntent(current, state.intent);
  updatePanel(current);
}

function describe(reason, detail) {
  const text = REASONS[reason] ?? (reason ? String(reason) : 'the connection closed');
  if (!detail || detail === reason) return text;
  const short = String(detail).split('\n')[0];
  return `${text} (${short.length > 160 ? `${short.slice(0, 157)}…` : short})`;
}

function onRefused(current, detail) {
  if (session !== current) return;
  state.lastRefusal = { ...detail };
  addSystemLine(`The server refused the connection: ${describe(detail.reason, detail.detail)}.`);
}

function onDisconnected(current, detail) {
  if (session !== current || current.closed) return;
  state.lastDisconnect = { ...detail };
  state.connection = state.connection ? { ...state.connection, connected: false } : null;
  const refusal = state.lastRefusal;
  const why = detail.reason ? describe(detail.reason, detail.detail) : refusal ? describe(refusal.reason, refusal.detail) : describe(null, detail.detail);
  if (detail.willReconnect) {
    current.willReconnect = true;
    const lost = current.everConnected ? 'Connection lost' : 'Cannot connect';
    current.retry = { at: performance.now() + (detail.retryInMs ?? 0), text: `${lost}: ${why}` };
    current.retryAt = current.retry.at;
    showRetryCountdown(current);
    showOverlay(`${lost}: ${why}.\nTrying again…`, false);
    if (current.everConnected) addSystemLine(`Connection lost: ${why}.`);
  } else {
    current.willReconnect = false;
    current.retryAt = 0;
    showDisconnected(current, `Disconnected: ${why}`);
  }
}

/** "… Trying again in 2.5 s", counted down by the panel timer. */
export function showRetryCountdown(current) {
  if (!current.retryAt || !current.retry) return;
  const seconds = Math.max(0, (current.retryAt - performance.now()) / 1000);
  setStatus('reconnecting', `${current.retry.text}. Trying again in ${seconds.toFixed(1)} s…`);
}

function showDisconnected(current, text) {
  if (session !== current) return;
  setStatus('disconnected', text);
  showOverlay(`${text}.`.replace(/\.\.$/, '.'), true);
  addSystemLine(text);
  releaseKeys();
}

/** Closes the current session, if any (no reconnect). */
export function endSession() {
  joinSeq++;
  const current = session;
  if (!current) return;
  session = null;
  current.closed = true;
  cancelAnimationFrame(current.frame);
  clearInterval(current.panelTimer);
  try {
    current.client?.close();
  } catch {
    // already closed
  }
  keys.clear();
  state.intent = idleIntent(0);
  state.connection = null;
}

export function leave() {
  const name = session?.space.name;
  endSession();
  state.phase = 'left';
  setStatus('idle', name ? `You left ${name}` : 'Not connected');
  enterLobby();
}

export function rejoin() {
  const space = session?.space ?? state.space;
  if (!space) return;
  joinSpace({ id: space.id, name: space.name, width: space.width, height: space.height });
}

function showOverlay(text, withActions) {
  el.overlayText.textContent = text;
  el.overlayText.style.whiteSpace = 'pre-line';
  el.overlayActions.hidden = !withActions;
  el.overlay.hidden = false;
}

function hideOverlay() {
  el.overlay.hidden = true;
}
