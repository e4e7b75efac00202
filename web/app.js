// Meridian demo page: accounts, avatar and space choice, then a top-down view of
// the space with movement, chat and a network panel. Plain ES module, no build.
//
// HTTP API: same origin, under /api/v1 (docs/openapi.json). Realtime: MeridianClient
// from ./meridian.js, loaded when a space is joined.

const API = '/api/v1';
const TOKEN_KEY = 'meridian.accessToken';
const NAME_KEY = 'meridian.username';
const AVATAR_KEY = 'meridian.avatarId';

const WALK_SPEED = 1.4; // m/s
const RUN_SPEED = 4.0; // m/s
const AVATAR_RADIUS = 0.3; // m, the server's default avatar_radius
const MAX_CHAT_BYTES = 512;
const CHAT_HISTORY_LINES = 50;
const CHAT_LOG_LIMIT = 300;
const PANEL_INTERVAL_MS = 250;
const MIN_ZOOM = 6; // pixels per metre
const MAX_ZOOM = 120;

const TRANSPORTS = ['auto', 'webtransport', 'websocket'];
const TRANSPORT_LABELS = { webtransport: 'WebTransport', websocket: 'WebSocket', auto: 'automatic' };

const REASONS = {
  // DisconnectReason
  ClientQuit: 'you left',
  ServerShutdown: 'the server is shutting down',
  IdleTimeout: 'nothing was heard for too long',
  Kicked: 'a moderator removed you',
  ProtocolViolation: 'a protocol error',
  RateLimited: 'sending too fast',
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

// Movement keys, by KeyboardEvent.code (layout independent).
const MOVE_KEYS = {
  KeyW: 'up', ArrowUp: 'up',
  KeyS: 'down', ArrowDown: 'down',
  KeyA: 'left', ArrowLeft: 'left',
  KeyD: 'right', ArrowRight: 'right',
};
const RUN_KEYS = new Set(['ShiftLeft', 'ShiftRight']);

const PALETTE = ['#4fa3ff', '#ff8a5b', '#3ecf8e', '#f0b429', '#c084fc', '#ff6b9a', '#2dd4bf', '#a3e635'];

// ---------------------------------------------------------------------------
// State the automated test may read (window.meridian.state).

/** @type {{
 *   phase: string, status: {kind: string, text: string},
 *   user: {id: number|null, username: string}|null,
 *   requestedTransport: string,
 *   space: {id: number, name: string, width: number, height: number, elements: any[]}|null,
 *   connection: any, intent: any, lastDisconnect: any, lastRefusal: any,
 *   chat: {name: string, channel: string, text: string, from: number|null, mine: boolean, history: boolean}[],
 * }} */
const state = {
  phase: 'auth',
  status: { kind: 'idle', text: 'Not connected' },
  user: null,
  requestedTransport: 'auto',
  space: null,
  connection: null,
  intent: idleIntent(0),
  lastDisconnect: null,
  lastRefusal: null,
  chat: [],
};

/** The joined space, while the play view is up. */
let session = null;
/** Bumped by every join and every end of a session, so a stale join stops. */
let joinSeq = 0;

const params = new URLSearchParams(location.search);
state.requestedTransport = TRANSPORTS.includes(params.get('transport')) ? params.get('transport') : 'auto';

// ---------------------------------------------------------------------------
// DOM

const $ = (id) => /** @type {any} */ (document.getElementById(id));
const el = {
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

function showView(name) {
  for (const [key, view] of Object.entries(el.views)) view.hidden = key !== name;
}

function setStatus(kind, text) {
  state.status = { kind, text };
  el.status.dataset.state = kind;
  el.statusText.textContent = text;
  document.title = kind === 'connected' && session ? `${session.space.name} · Meridian` : 'Meridian';
}

function showError(node, message) {
  node.textContent = message ?? '';
  node.hidden = !message;
}

// ---------------------------------------------------------------------------
// HTTP

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/**
 * One API call. Sends the access token when there is one; answers the parsed
 * JSON body, or throws an ApiError with the server's `{error}` text.
 */
async function api(method, path, body, { auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  const token = auth ? accessToken() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(API + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'The server cannot be reached.');
  }
  let data = null;
  const text = await response.text().catch(() => '');
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const message = data && typeof data.error === 'string' ? data.error : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, capitalize(message));
  }
  return data ?? {};
}

/** An API call that sends the user back to the login form if the token is refused. */
async function authed(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) sessionExpired();
    throw error;
  }
}

// ---------------------------------------------------------------------------
// Account

function accessToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

/** The claims of a JWT-style token (not checked: the server does that). */
function tokenClaims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const binary = atob(part + '==='.slice((part.length + 3) % 4));
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(binary, (c) => c.charCodeAt(0))));
  } catch {
    return null;
  }
}

function loadUser() {
  const token = accessToken();
  if (!token) return null;
  const claims = tokenClaims(token);
  if (claims && typeof claims.exp === 'number' && claims.exp * 1000 < Date.now() + 10_000) return null;
  return {
    id: claims && typeof claims.sub === 'number' ? claims.sub : null,
    username: (claims && claims.username) || sessionStorage.getItem(NAME_KEY) || 'you',
  };
}

function clearAccount() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(NAME_KEY);
  sessionStorage.removeItem(AVATAR_KEY);
  state.user = null;
}

function showAuth(message) {
  state.phase = 'auth';
  el.account.hidden = true;
  showView('auth');
  showError(el.authError, message);
  el.authPassword.value = '';
  (el.authUsername.value ? el.authPassword : el.authUsername).focus();
}

function sessionExpired() {
  endSession();
  clearAccount();
  setStatus('idle', 'Not connected');
  showAuth('Your login has expired. Please log in again.');
}

function validateCredentials(action, username, password) {
  if (!username || !password) return 'Enter a username and a password.';
  if (action === 'signup') {
    if (!/^[A-Za-z0-9_-]{3,32}$/.test(username)) return 'A username is 3 to 32 letters, digits, _ or -.';
    const bytes = new TextEncoder().encode(password).length;
    if (bytes < 8 || bytes > 128) return 'A password is 8 to 128 characters long.';
  }
  return null;
}

async function onAuthSubmit(event) {
  event.preventDefault();
  const action = event.submitter?.dataset.action === 'signup' ? 'signup' : 'login';
  const username = el.authUsername.value.trim();
  const password = el.authPassword.value;
  const invalid = validateCredentials(action, username, password);
  if (invalid) {
    showError(el.authError, invalid);
    return;
  }
  showError(el.authError, null);
  el.loginButton.disabled = el.signupButton.disabled = true;
  const wasText = event.submitter?.textContent;
  if (event.submitter) event.submitter.textContent = action === 'signup' ? 'Signing up…' : 'Logging in…';
  try {
    if (action === 'signup') await api('POST', '/signup', { username, password }, { auth: false });
    const { token } = await api('POST', '/login', { username, password }, { auth: false });
    if (typeof token !== 'string' || !token) throw new ApiError(500, 'The server sent no token.');
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(NAME_KEY, username);
    sessionStorage.removeItem(AVATAR_KEY);
    el.authPassword.value = '';
    enterLobby();
  } catch (error) {
    showError(el.authError, error.message);
  } finally {
    el.loginButton.disabled = el.signupButton.disabled = false;
    if (event.submitter && wasText) event.submitter.textContent = wasText;
  }
}

function logout() {
  endSession();
  clearAccount();
  setStatus('idle', 'Logged out');
  showAuth();
}

// ---------------------------------------------------------------------------
// Lobby: avatars and spaces

function enterLobby(message) {
  state.user = loadUser();
  if (!state.user) {
    clearAccount();
    showAuth();
    return;
  }
  state.phase = 'lobby';
  el.currentUser.textContent = state.user.username;
  el.account.hidden = false;
  showView('lobby');
  showError(el.lobbyError, message);
  loadSpaces();
  loadAvatars();
}

function parseDimensions(text) {
  const match = /^(\d+)x(\d+)$/.exec(String(text ?? ''));
  return match ? { width: Number(match[1]), height: Number(match[2]) } : { width: 0, height: 0 };
}

async function loadSpaces() {
  el.refreshSpaces.disabled = true;
  try {
    const { spaces = [] } = await authed('GET', '/space/all');
    renderSpaces(spaces);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) showError(el.lobbyError, `Cannot list spaces: ${error.message}`);
  } finally {
    el.refreshSpaces.disabled = false;
  }
}

function renderSpaces(spaces) {
  // The space this server hosts (if the server says so) first, then own spaces, then templates.
  const rank = (space) => (space.hosted ? 0 : space.template ? 2 : 1);
  const sorted = [...spaces].sort((a, b) => rank(a) - rank(b) || a.id - b.id);
  el.spaceList.replaceChildren(
    ...sorted.map((space) => {
      const { width, height } = parseDimensions(space.dimensions);
      const item = document.createElement('li');
      item.className = 'space-item';
      item.dataset.testid = 'space-item';
      item.dataset.spaceId = String(space.id);
      item.dataset.spaceName = space.name;

      const info = document.createElement('div');
      info.className = 'space-info';
      const name = document.createElement('div');
      name.className = 'space-name';
      name.dataset.testid = 'space-name';
      name.textContent = space.name;
      for (const [flag, text] of [['hosted', 'live'], ['template', 'template']]) {
        if (!space[flag]) continue;
        const badge = document.createElement('span');
        badge.className = `badge ${flag}`;
        badge.textContent = text;
        name.append(badge);
      }
      const meta = document.createElement('div');
      meta.className = 'space-meta';
      meta.textContent = width && height ? `${width} × ${height} m · #${space.id}` : `#${space.id}`;
      info.append(name, meta);

      const join = document.createElement('button');
      join.type = 'button';
      join.className = 'button primary';
      join.dataset.testid = 'join-space';
      join.dataset.spaceId = String(space.id);
      join.textContent = 'Join';
      join.addEventListener('click', () => joinSpace({ id: space.id, name: space.name, width, height }));

      item.append(info, join);
      return item;
    }),
  );
  el.spaceEmpty.hidden = sorted.length > 0;
}

/** True for URLs the page may load without reaching another site. */
function localUrl(url) {
  if (typeof url !== 'string' || !url) return false;
  try {
    const parsed = new URL(url, location.href);
    return parsed.origin === location.origin || parsed.protocol === 'data:' || parsed.protocol === 'blob:';
  } catch {
    return false;
  }
}

async function loadAvatars() {
  try {
    const { avatars = [] } = await api('GET', '/avatars', undefined, { auth: false });
    rememberAvatarImages(avatars);
    renderAvatars(avatars);
  } catch (error) {
    el.avatarNote.textContent = `Cannot load avatars: ${error.message}`;
  }
}

function renderAvatars(avatars) {
  const chosen = sessionStorage.getItem(AVATAR_KEY);
  el.avatarList.replaceChildren(
    ...avatars.map((avatar) => {
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'avatar-option';
      button.dataset.testid = 'avatar-option';
      button.dataset.avatarId = String(avatar.id);
      button.setAttribute('aria-pressed', String(chosen === String(avatar.id)));
      button.title = avatar.name;

      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = colourOf(avatar.id);
      if (localUrl(avatar.imageUrl)) {
        const image = document.createElement('img');
        image.alt = '';
        image.src = avatar.imageUrl;
        image.addEventListener('error', () => image.remove());
        swatch.append(image);
      } else {
        swatch.textContent = (avatar.name || '?').slice(0, 1).toUpperCase();
      }
      const name = document.createElement('span');
      name.className = 'avatar-name';
      name.textContent = avatar.name;
      button.append(swatch, name);
      button.addEventListener('click', () => chooseAvatar(avatar, button));
      return button;
    }),
  );
  el.avatarEmpty.hidden = avatars.length > 0;
  el.avatarNote.textContent = chosen ? '' : avatars.length ? 'Pick one' : '';
}

async function chooseAvatar(avatar, button) {
  el.avatarNote.textContent = 'Saving…';
  try {
    await authed('POST', '/user/metadata', { avatarId: avatar.id });
    sessionStorage.setItem(AVATAR_KEY, String(avatar.id));
    for (const other of el.avatarList.children) other.setAttribute('aria-pressed', String(other === button));
    el.avatarNote.textContent = `${avatar.name} saved`;
  } catch (error) {
    el.avatarNote.textContent = error.message;
  }
}

// ---------------------------------------------------------------------------
// Joining and the realtime session

function setJoinButtonsDisabled(disabled) {
  for (const button of el.spaceList.querySelectorAll('[data-testid="join-space"]')) button.disabled = disabled;
}

/** Asks for a fresh realtime token and address for a space. */
function requestJoin(spaceId) {
  return authed('POST', `/space/${encodeURIComponent(spaceId)}/join`);
}

async function joinSpace(space) {
  endSession();
  const attempt = ++joinSeq;
  if (!el.views.play.hidden) showOverlay(`Joining ${space.name}…`, false);
  showError(el.lobbyError, null);
  setJoinButtonsDisabled(true);
  setStatus('connecting', `Joining ${space.name}…`);
  let first;
  let library;
  try {
    [first, library] = await Promise.all([requestJoin(space.id), import('./meridian.js')]);
  } catch (error) {
    setJoinButtonsDisabled(false);
    if (attempt !== joinSeq || (error instanceof ApiError && error.status === 401)) return;
    setStatus('idle', 'Not connected');
    const message = error instanceof ApiError ? error.message : `The client library did not load: ${error.message}`;
    showError(el.lobbyError, `Cannot join ${space.name}: ${message}`);
    if (state.phase !== 'lobby') enterLobby(`Cannot join ${space.name}: ${message}`);
    return;
  }
  const [detail, history] = await Promise.all([
    api('GET', `/space/${encodeURIComponent(space.id)}`).catch(() => null),
    api('GET', `/space/${encodeURIComponent(space.id)}/chat?limit=${CHAT_HISTORY_LINES}`).catch(() => null),
  ]);
  setJoinButtonsDisabled(false);
  if (attempt !== joinSeq) return; // left or logged out meanwhile
  startSession(library.MeridianClient, space, detail, history, first);
}

function startSession(MeridianClient, space, detail, history, firstJoin) {
  const size = detail ? parseDimensions(detail.dimensions) : { width: space.width, height: space.height };
  const current = {
    space: {
      id: space.id,
      name: detail?.name ?? space.name,
      width: size.width || space.width,
      height: size.height || space.height,
      elements: Array.isArray(detail?.elements) ? detail.elements : [],
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

  state.phase = 'play';
  showView('play');
  el.spaceTitle.textContent = current.space.name;
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

/** The join answer for the next (re)connect: fetched fresh each time. */
async function nextJoin(current) {
  if (current.closed) throw Object.assign(new Error('left the space'), { retry: false });
  const prefetched = current.prefetched;
  current.prefetched = null;
  if (prefetched && (!prefetched.expires_at || prefetched.expires_at * 1000 > Date.now() + 15_000)) return prefetched;
  current.retryAt = 0;
  setStatus('reconnecting', `${current.everConnected ? 'Reconnecting' : 'Connecting again'} to ${current.space.name}…`);
  try {
    return await requestJoin(current.space.id);
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
function showRetryCountdown(current) {
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
function endSession() {
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

function leave() {
  const name = session?.space.name;
  endSession();
  state.phase = 'left';
  setStatus('idle', name ? `You left ${name}` : 'Not connected');
  enterLobby();
}

function rejoin() {
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

// ---------------------------------------------------------------------------
// Movement

const keys = new Set();

function idleIntent(heading) {
  return { moveX: 0, moveY: 0, speed: 0, heading, animation: 'Idle' };
}

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

function safeSetIntent(current, intent) {
  try {
    current.client?.setIntent({ ...intent });
  } catch {
    // not connected yet: the intent is sent again on connect
  }
}

function releaseKeys() {
  if (keys.size === 0) return;
  keys.clear();
  updateIntent();
}

function isTextField(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.tagName === 'SELECT')
  );
}

function onKeyDown(event) {
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

function onKeyUp(event) {
  // Always honoured, wherever focus is, so no key stays stuck.
  if (keys.delete(event.code)) updateIntent();
}

// ---------------------------------------------------------------------------
// Chat

function formatTime(date) {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function addChatLine({ name, channel, text, from = null, mine = false, history = false, at = new Date(), system = false }) {
  const log = el.chatLog;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const line = document.createElement('li');
  line.className = 'chat-line';
  line.dataset.testid = system ? 'chat-system' : 'chat-line';
  if (system) line.classList.add('system');
  if (mine) line.classList.add('mine');
  if (history) line.classList.add('history');
  if (channel) line.dataset.channel = channel;
  if (from !== null && from !== undefined) line.dataset.from = String(from);

  const time = document.createElement('time');
  time.dateTime = at.toISOString();
  time.textContent = formatTime(at);
  line.append(time);
  if (!system) {
    const badge = document.createElement('span');
    badge.className = 'channel';
    badge.textContent = channel === 'Proximity' ? 'near' : 'zone';
    badge.title = channel;
    const who = document.createElement('span');
    who.className = 'who';
    who.dataset.testid = 'chat-name';
    who.textContent = name;
    line.append(badge, who);
  }
  const body = document.createElement('span');
  body.className = 'text';
  body.dataset.testid = 'chat-text';
  body.textContent = text;
  line.append(body);

  log.append(line);
  while (log.children.length > CHAT_LOG_LIMIT) log.firstElementChild.remove();
  if (atBottom || mine) log.scrollTop = log.scrollHeight;
  if (!system) {
    state.chat.push({ name, channel, text, from, mine, history });
    if (state.chat.length > CHAT_LOG_LIMIT) state.chat.splice(0, state.chat.length - CHAT_LOG_LIMIT);
  }
}

function addSystemLine(text) {
  addChatLine({ text, system: true });
}

function historyName(message) {
  if (typeof message.sender_name === 'string' && message.sender_name) return message.sender_name;
  if (typeof message.name === 'string' && message.name) return message.name;
  if (state.user && state.user.id !== null && message.sender === state.user.id) return state.user.username;
  return `user ${message.sender}`;
}

function renderHistory(history) {
  const messages = Array.isArray(history?.messages) ? [...history.messages].reverse() : [];
  if (messages.length) addSystemLine('Earlier messages');
  for (const message of messages) {
    addChatLine({
      name: historyName(message),
      channel: message.channel,
      text: message.text,
      mine: Boolean(state.user && message.sender === state.user.id),
      history: true,
      at: new Date((message.sent_at ?? 0) * 1000),
    });
  }
}

function onChat(current, detail) {
  if (session !== current) return;
  const own = state.connection?.avatarId;
  const name = detail.name || current.client.names?.get?.(detail.from) || `avatar ${detail.from}`;
  addChatLine({
    name,
    channel: detail.channel,
    text: detail.text,
    from: detail.from,
    mine: own !== undefined && detail.from === own,
  });
}

/** The text to send, or why it cannot be sent. */
function cleanChat(raw) {
  // No control characters other than line feed; not only whitespace; 1 to 512 bytes.
  // eslint-disable-next-line no-control-regex
  const text = raw.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, '').trim();
  if (!text) return { error: 'Type a message first.' };
  if (new TextEncoder().encode(text).length > MAX_CHAT_BYTES) return { error: `A message is at most ${MAX_CHAT_BYTES} bytes.` };
  return { text };
}

function onChatSubmit(event) {
  event.preventDefault();
  if (!session) return;
  const { text, error } = cleanChat(el.chatInput.value);
  if (error) {
    el.chatHint.textContent = error;
    return;
  }
  if (state.status.kind !== 'connected') {
    el.chatHint.textContent = 'Not connected: the message was not sent.';
    return;
  }
  try {
    session.client.say(text, el.chatChannel.value === 'Proximity' ? 'Proximity' : 'Zone');
    el.chatInput.value = '';
    el.chatHint.textContent = '';
  } catch (failure) {
    el.chatHint.textContent = `Not sent: ${failure?.message ?? failure}`;
  }
}

// ---------------------------------------------------------------------------
// Network panel and the people list

function formatRate(bytesPerSecond) {
  if (typeof bytesPerSecond !== 'number' || !Number.isFinite(bytesPerSecond)) return '–';
  if (bytesPerSecond < 1024) return `${Math.round(bytesPerSecond)} B/s`;
  if (bytesPerSecond < 1024 * 1024) return `${(bytesPerSecond / 1024).toFixed(1)} KiB/s`;
  return `${(bytesPerSecond / 1024 / 1024).toFixed(2)} MiB/s`;
}

function setStat(node, text, value) {
  if (node.textContent !== text) node.textContent = text;
  node.dataset.value = value === null || value === undefined ? '' : String(value);
}

function updatePanel(current) {
  if (session !== current) return;
  if (state.status.kind === 'reconnecting' && current.retryAt) showRetryCountdown(current);
  let stats = {};
  try {
    stats = current.client.stats() ?? {};
  } catch {
    stats = {};
  }
  const connected = state.status.kind === 'connected';
  const finite = (n) => typeof n === 'number' && Number.isFinite(n);
  setStat(el.net.transport, stats.transport ? TRANSPORT_LABELS[stats.transport] ?? String(stats.transport) : '–', stats.transport ?? null);
  setStat(el.net.rtt, finite(stats.rttMs) ? `${Math.round(stats.rttMs)} ms` : '–', finite(stats.rttMs) ? stats.rttMs : null);
  setStat(el.net.snapshots, finite(stats.snapshotsPerSecond) ? stats.snapshotsPerSecond.toFixed(1) : '–', stats.snapshotsPerSecond ?? null);
  setStat(el.net.bytesIn, formatRate(stats.bytesInPerSecond), stats.bytesInPerSecond ?? null);
  setStat(el.net.bytesOut, formatRate(stats.bytesOutPerSecond), stats.bytesOutPerSecond ?? null);
  const avatars = current.entities.filter((e) => e.kind === 'Avatar' || e.kind === undefined);
  setStat(el.net.entities, connected ? String(current.entities.length) : '–', current.entities.length);
  el.net.transport.closest('[data-testid="net-panel"]').dataset.connected = String(Boolean(stats.connected));

  const self = current.entities.find((e) => e.self);
  el.ownPosition.textContent = self ? `x ${self.x.toFixed(1)}  y ${self.y.toFixed(1)}` : '';
  renderPeople(avatars, self);
}

function renderPeople(avatars, self) {
  const rows = avatars
    .map((e) => ({ e, distance: self ? Math.hypot(e.x - self.x, e.y - self.y) : 0 }))
    .sort((a, b) => Number(b.e.self) - Number(a.e.self) || a.distance - b.distance)
    .slice(0, 60);
  el.peopleCount.textContent = avatars.length ? `(${avatars.length})` : '';
  el.peopleList.replaceChildren(
    ...rows.map(({ e, distance }) => {
      const item = document.createElement('li');
      item.dataset.testid = 'person';
      item.dataset.id = String(e.id);
      const dot = document.createElement('span');
      dot.className = 'dot';
      dot.style.background = colourOf(e.appearance);
      const name = document.createElement('span');
      name.textContent = e.self ? `${displayName(e)} (you)` : displayName(e);
      if (e.self) name.className = 'me';
      item.append(dot, name);
      if (!e.self && self) {
        const far = document.createElement('span');
        far.className = 'distance';
        far.textContent = `${distance.toFixed(0)} m`;
        item.append(far);
      }
      return item;
    }),
  );
}

// ---------------------------------------------------------------------------
// Drawing

function colourOf(n) {
  const i = Math.abs(Math.trunc(Number(n) || 0));
  return i < PALETTE.length ? PALETTE[i] : `hsl(${(i * 47) % 360} 65% 62%)`;
}

function displayName(entity) {
  return entity.name || (entity.self && state.user ? state.user.username : `#${entity.id}`);
}

const images = new Map();

function imageFor(url) {
  if (images.has(url)) return images.get(url);
  let image = null;
  if (localUrl(url)) {
    image = new Image();
    image.decoding = 'async';
    image.src = url;
  }
  images.set(url, image);
  return image;
}

/** Catalogue image URLs by avatar id: an avatar's `appearance` is the id its player chose. */
const avatarImages = new Map();

/** Keeps the picker's catalogue for drawing, and starts loading its images. */
function rememberAvatarImages(avatars) {
  avatarImages.clear();
  for (const avatar of avatars) {
    if (!localUrl(avatar.imageUrl)) continue;
    avatarImages.set(Number(avatar.id), avatar.imageUrl);
    imageFor(avatar.imageUrl);
  }
}

/** The loaded catalogue image for an appearance, or null (then the palette circle). */
function avatarImage(appearance) {
  const url = avatarImages.get(appearance);
  const image = url ? imageFor(url) : null;
  return image && image.complete && image.naturalWidth > 0 ? image : null;
}

function frame(current, now) {
  if (session !== current) return;
  current.frame = requestAnimationFrame((t) => frame(current, t));
  try {
    current.entities = current.client.sample(now) ?? [];
  } catch {
    current.entities = [];
  }
  const dt = current.lastFrameAt ? Math.min(0.1, (now - current.lastFrameAt) / 1000) : 0;
  current.lastFrameAt = now;
  draw(current, dt);
}

function draw(current, dt) {
  const canvas = el.canvas;
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (!width || !height) return;
  if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
  }
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);

  const zoneW = state.connection?.zoneWidth || current.space.width || 0;
  const zoneH = state.connection?.zoneHeight || current.space.height || 0;
  const entities = current.entities;
  const self = entities.find((e) => e.self);

  // Seed the idle heading from the avatar's own, so standing still keeps it.
  if (self && !current.headingSeeded && keys.size === 0) {
    current.headingSeeded = true;
    state.intent = idleIntent(self.heading);
  }

  // Camera: follow the own avatar, else look at the middle of the zone.
  const camera = current.camera;
  const targetX = self ? self.x : zoneW / 2;
  const targetY = self ? self.y : zoneH / 2;
  if (!camera.ready || !self) {
    camera.x = targetX;
    camera.y = targetY;
    camera.ready = Boolean(self);
  } else {
    const follow = 1 - Math.exp(-dt * 8);
    camera.x += (targetX - camera.x) * follow;
    camera.y += (targetY - camera.y) * follow;
  }
  const scale = camera.zoom;
  const sx = (x) => (x - camera.x) * scale + width / 2;
  const sy = (y) => (y - camera.y) * scale + height / 2;

  // Background and floor.
  ctx.fillStyle = '#0a0d10';
  ctx.fillRect(0, 0, width, height);
  if (zoneW > 0 && zoneH > 0) {
    ctx.fillStyle = '#131a21';
    ctx.fillRect(sx(0), sy(0), zoneW * scale, zoneH * scale);
  }

  drawGrid(ctx, { width, height, scale, camera, zoneW, zoneH, sx, sy });

  if (zoneW > 0 && zoneH > 0) {
    ctx.strokeStyle = '#4a5a70';
    ctx.lineWidth = 2;
    ctx.strokeRect(sx(0), sy(0), zoneW * scale, zoneH * scale);
  }

  // Placed elements (x, y is the top-left tile; 1 tile = 1 m).
  for (const placed of current.space.elements) {
    const element = placed.element ?? {};
    const x = sx(placed.x);
    const y = sy(placed.y);
    const w = Math.max(1, (element.width || 1) * scale);
    const h = Math.max(1, (element.height || 1) * scale);
    if (x > width || y > height || x + w < 0 || y + h < 0) continue;
    const image = element.imageUrl ? imageFor(element.imageUrl) : null;
    if (image && image.complete && image.naturalWidth > 0) {
      ctx.drawImage(image, x, y, w, h);
    } else {
      ctx.fillStyle = element.static ? '#2a3442' : 'rgba(192, 132, 252, 0.16)';
      ctx.fillRect(x, y, w, h);
      ctx.strokeStyle = element.static ? '#56667d' : '#a778d8';
      ctx.lineWidth = 1;
      ctx.setLineDash(element.static ? [] : [4, 3]);
      ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1);
      ctx.setLineDash([]);
    }
  }

  // Entities: others first, own avatar on top.
  const ordered = [...entities].sort((a, b) => Number(Boolean(a.self)) - Number(Boolean(b.self)));
  const radius = Math.max(6, AVATAR_RADIUS * scale);
  for (const e of ordered) {
    const x = sx(e.x);
    const y = sy(e.y);
    if (x < -60 || y < -60 || x > width + 60 || y > height + 60) continue;
    if (e.kind && e.kind !== 'Avatar') {
      drawThing(ctx, e, x, y, radius);
      continue;
    }
    drawAvatar(ctx, e, x, y, radius);
  }
  // Labels last, so no circle hides a name.
  ctx.font = '600 12px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif';
  ctx.textAlign = 'center';
  ctx.textBaseline = 'bottom';
  ctx.lineJoin = 'round';
  for (const e of ordered) {
    if (e.kind && e.kind !== 'Avatar') continue;
    const x = sx(e.x);
    const y = sy(e.y);
    if (x < -100 || y < -40 || x > width + 100 || y > height + 40) continue;
    const label = e.self ? `${displayName(e)} (you)` : displayName(e);
    ctx.lineWidth = 3;
    ctx.strokeStyle = 'rgba(10, 13, 16, 0.9)';
    ctx.strokeText(label, x, y - radius - 6);
    ctx.fillStyle = e.self ? '#ffffff' : '#d6dce4';
    ctx.fillText(label, x, y - radius - 6);
  }

  if (!self && state.status.kind === 'connected') {
    ctx.fillStyle = '#8f99a8';
    ctx.font = '14px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText('Waiting for the first snapshot…', width / 2, height / 2);
  }
}

function drawGrid(ctx, { width, height, scale, camera, zoneW, zoneH, sx, sy }) {
  const step = scale >= 14 ? 1 : 5;
  const major = step === 1 ? 5 : 25;
  const left = camera.x - width / 2 / scale;
  const right = camera.x + width / 2 / scale;
  const top = camera.y - height / 2 / scale;
  const bottom = camera.y + height / 2 / scale;
  const bounded = zoneW > 0 && zoneH > 0;
  const x0 = Math.max(bounded ? 0 : -Infinity, Math.floor(left / step) * step);
  const x1 = Math.min(bounded ? zoneW : Infinity, right);
  const y0 = Math.max(bounded ? 0 : -Infinity, Math.floor(top / step) * step);
  const y1 = Math.min(bounded ? zoneH : Infinity, bottom);
  const lineTop = sy(Math.max(bounded ? 0 : top, top));
  const lineBottom = sy(Math.min(bounded ? zoneH : bottom, bottom));
  const lineLeft = sx(Math.max(bounded ? 0 : left, left));
  const lineRight = sx(Math.min(bounded ? zoneW : right, right));
  for (const isMajor of [false, true]) {
    ctx.beginPath();
    for (let x = Math.ceil(x0 / step) * step; x <= x1; x += step) {
      if ((Math.round(x) % major === 0) !== isMajor) continue;
      const px = Math.round(sx(x)) + 0.5;
      ctx.moveTo(px, lineTop);
      ctx.lineTo(px, lineBottom);
    }
    for (let y = Math.ceil(y0 / step) * step; y <= y1; y += step) {
      if ((Math.round(y) % major === 0) !== isMajor) continue;
      const py = Math.round(sy(y)) + 0.5;
      ctx.moveTo(lineLeft, py);
      ctx.lineTo(lineRight, py);
    }
    ctx.strokeStyle = isMajor ? 'rgba(120, 140, 165, 0.28)' : 'rgba(120, 140, 165, 0.1)';
    ctx.lineWidth = 1;
    ctx.stroke();
  }
}

function drawAvatar(ctx, e, x, y, radius) {
  const colour = colourOf(e.appearance);
  if (e.self) {
    ctx.beginPath();
    ctx.arc(x, y, radius + 7, 0, Math.PI * 2);
    ctx.fillStyle = 'rgba(79, 163, 255, 0.18)';
    ctx.fill();
  }
  // Heading marker: a small wedge in front of the circle.
  const heading = Number.isFinite(e.heading) ? e.heading : 0;
  const cos = Math.cos(heading);
  const sin = Math.sin(heading);
  const tip = radius + Math.max(5, radius * 0.7);
  const side = radius * 0.55;
  ctx.beginPath();
  ctx.moveTo(x + cos * tip, y + sin * tip);
  ctx.lineTo(x + cos * radius * 0.6 - sin * side, y + sin * radius * 0.6 + cos * side);
  ctx.lineTo(x + cos * radius * 0.6 + sin * side, y + sin * radius * 0.6 - cos * side);
  ctx.closePath();
  ctx.fillStyle = e.self ? '#ffffff' : '#c9d2dd';
  ctx.fill();

  ctx.beginPath();
  ctx.arc(x, y, radius, 0, Math.PI * 2);
  ctx.fillStyle = colour;
  ctx.fill();
  const image = avatarImage(e.appearance);
  if (image) {
    ctx.save();
    ctx.clip();
    ctx.drawImage(image, x - radius, y - radius, radius * 2, radius * 2);
    ctx.restore(); // the circle path stays, for the outline below
  }
  ctx.lineWidth = e.self ? 3 : 1.5;
  ctx.strokeStyle = e.self ? '#ffffff' : 'rgba(10, 13, 16, 0.8)';
  ctx.stroke();

  if (e.animation === 'Run') {
    ctx.beginPath();
    ctx.arc(x, y, radius * 0.35, 0, Math.PI * 2);
    ctx.fillStyle = 'rgba(255, 255, 255, 0.7)';
    ctx.fill();
  }
}

function drawThing(ctx, e, x, y, radius) {
  const size = radius * 1.6;
  ctx.fillStyle = e.kind === 'Npc' ? '#8f99a8' : '#a778d8';
  ctx.strokeStyle = 'rgba(10, 13, 16, 0.8)';
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  if (e.kind === 'Npc') {
    ctx.moveTo(x, y - size / 1.2);
    ctx.lineTo(x + size / 1.2, y);
    ctx.lineTo(x, y + size / 1.2);
    ctx.lineTo(x - size / 1.2, y);
    ctx.closePath();
  } else {
    ctx.rect(x - size / 2, y - size / 2, size, size);
  }
  ctx.fill();
  ctx.stroke();
}

function zoomBy(factor) {
  if (!session) return;
  session.camera.zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, session.camera.zoom * factor));
}

// ---------------------------------------------------------------------------
// Start

function capitalize(text) {
  const s = String(text ?? '');
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}

function start() {
  el.transportSelect.value = state.requestedTransport;
  el.transportSelect.addEventListener('change', () => {
    const value = el.transportSelect.value;
    state.requestedTransport = TRANSPORTS.includes(value) ? value : 'auto';
    const url = new URL(location.href);
    if (state.requestedTransport === 'auto') url.searchParams.delete('transport');
    else url.searchParams.set('transport', state.requestedTransport);
    history.replaceState(null, '', url);
  });

  el.authForm.addEventListener('submit', onAuthSubmit);
  el.logout.addEventListener('click', logout);
  el.refreshSpaces.addEventListener('click', loadSpaces);
  el.leave.addEventListener('click', leave);
  el.back.addEventListener('click', leave);
  el.rejoin.addEventListener('click', rejoin);
  el.chatForm.addEventListener('submit', onChatSubmit);
  el.chatInput.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      el.chatInput.blur();
      el.canvas.focus({ preventScroll: true });
    }
  });
  el.zoomIn.addEventListener('click', () => zoomBy(1.25));
  el.zoomOut.addEventListener('click', () => zoomBy(0.8));
  el.canvas.addEventListener(
    'wheel',
    (event) => {
      event.preventDefault();
      zoomBy(Math.exp(-event.deltaY * 0.0015));
    },
    { passive: false },
  );
  el.canvas.addEventListener('pointerdown', () => el.canvas.focus({ preventScroll: true }));

  window.addEventListener('keydown', onKeyDown);
  window.addEventListener('keyup', onKeyUp);
  // Typing in a field, or leaving the window, lets go of every movement key.
  document.addEventListener('focusin', (event) => {
    if (isTextField(event.target)) releaseKeys();
  });
  window.addEventListener('blur', releaseKeys);
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) releaseKeys();
  });
  window.addEventListener('pagehide', () => endSession());

  if (loadUser()) enterLobby();
  else {
    clearAccount();
    showAuth();
  }
}

start();
