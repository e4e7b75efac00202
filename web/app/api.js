// Meridian demo page: the HTTP API (same origin, under /api/v1, see
// docs/openapi.json) and the login kept in session storage.

import { state } from './state.js';
import { sessionExpired } from './account.js';

const API = '/api/v1';
export const TOKEN_KEY = 'meridian.accessToken';
/** The refresh token of the login: exchanged (once) for a new pair before the access token expires. */
export const REFRESH_KEY = 'meridian.refreshToken';
export const NAME_KEY = 'meridian.username';
export const AVATAR_KEY = 'meridian.avatarId';

export class ApiError extends Error {
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
export async function api(method, path, body, { auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  // An access token about to expire is refreshed first (short-lived by design).
  if (auth && expiresWithin(accessToken(), REFRESH_MARGIN_MS) && refreshToken()) await refreshAccess().catch(() => null);
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

/**
 * An API call that, if the access token is refused, refreshes it once and
 * tries again; then sends the user back to the login form.
 */
export async function authed(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) throw error;
    if (refreshToken() && (await refreshAccess().then(() => true, () => false))) {
      try {
        return await api(method, path, body);
      } catch (again) {
        if (again instanceof ApiError && again.status === 401) sessionExpired();
        throw again;
      }
    }
    sessionExpired();
    throw error;
  }
}

/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;
let refreshTimer = null;
let refreshing = null;

function refreshToken() {
  return sessionStorage.getItem(REFRESH_KEY);
}

function expiresWithin(token, ms) {
  const claims = token ? tokenClaims(token) : null;
  return !!claims && typeof claims.exp === 'number' && claims.exp * 1000 < Date.now() + ms;
}

/**
 * Keeps a login's tokens (`{token, refresh_token}` from POST /login or
 * /token/refresh) and schedules the next refresh before the access token
 * expires.
 */
export function storeSession({ token, refresh_token: refresh }) {
  if (typeof token !== 'string' || !token) throw new ApiError(500, 'The server sent no token.');
  sessionStorage.setItem(TOKEN_KEY, token);
  if (typeof refresh === 'string' && refresh) sessionStorage.setItem(REFRESH_KEY, refresh);
  scheduleRefresh();
}

/** Plans the next refresh of the stored access token (called at start-up too). */
export function scheduleRefresh() {
  if (refreshTimer !== null) clearTimeout(refreshTimer);
  refreshTimer = null;
  const claims = tokenClaims(accessToken() ?? '');
  if (!refreshToken() || !claims || typeof claims.exp !== 'number') return;
  const wait = Math.max(1_000, claims.exp * 1000 - Date.now() - REFRESH_MARGIN_MS);
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshAccess().catch(() => null);
  }, wait);
}

/**
 * Exchanges the refresh token for a new access token and refresh token (the
 * old refresh token is revoked by the server; one exchange at a time). A
 * refused refresh token ends the login.
 */
export function refreshAccess() {
  if (refreshing) return refreshing;
  const refresh = refreshToken();
  if (!refresh) return Promise.reject(new ApiError(401, 'Not logged in.'));
  refreshing = api('POST', '/token/refresh', { refresh_token: refresh }, { auth: false })
    .then((pair) => storeSession(pair))
    .catch((error) => {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) sessionExpired();
      throw error;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** Logs out at the server (revokes the refresh token and its login); never throws. */
export async function revokeSession() {
  const refresh = refreshToken();
  if (!refresh) return;
  await api('POST', '/logout', { refresh_token: refresh }, { auth: false }).catch(() => null);
}

/**
 * Every item of a paged list (`?limit=N&after=ID`, answered with `nextAfter`,
 * see docs/openapi.json): follows the pages, at most `maxPages` of them, and
 * answers the first page's body with `key` holding every item.
 */
export async function allPages(call, path, key, { limit = 500, maxPages = 40 } = {}) {
  const joiner = path.includes('?') ? '&' : '?';
  const items = [];
  let first = null;
  let after = null;
  for (let page = 0; page < maxPages; page += 1) {
    const cursor = after === null ? '' : `&after=${encodeURIComponent(after)}`;
    const body = await call('GET', `${path}${joiner}limit=${limit}${cursor}`);
    if (first === null) first = body;
    if (Array.isArray(body[key])) items.push(...body[key]);
    if (typeof body.nextAfter !== 'number') break;
    after = body.nextAfter;
  }
  return { ...(first ?? {}), [key]: items };
}

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

export function loadUser() {
  const token = accessToken();
  if (!token) return null;
  const claims = tokenClaims(token);
  // An expired access token is fine while a refresh token can renew it.
  if (!refreshToken() && claims && typeof claims.exp === 'number' && claims.exp * 1000 < Date.now() + 10_000) return null;
  return {
    id: claims && typeof claims.sub === 'number' ? claims.sub : null,
    username: (claims && claims.username) || sessionStorage.getItem(NAME_KEY) || 'you',
  };
}

export function clearAccount() {
  if (refreshTimer !== null) clearTimeout(refreshTimer);
  refreshTimer = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(REFRESH_KEY);
  sessionStorage.removeItem(NAME_KEY);
  sessionStorage.removeItem(AVATAR_KEY);
  state.user = null;
}

function capitalize(text) {
  const s = String(text ?? '');
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}
