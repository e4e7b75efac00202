// Meridian demo page: the HTTP API (same origin, under /api/v1, see
// docs/openapi.json) and the login kept in session storage.

import { state } from './state.js';
import { sessionExpired } from './account.js';

const API = '/api/v1';
export const TOKEN_KEY = 'meridian.accessToken';
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
export async function authed(method, path, body) {
  try {
    return await api(method, path, body);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) sessionExpired();
    throw error;
  }
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
  if (claims && typeof claims.exp === 'number' && claims.exp * 1000 < Date.now() + 10_000) return null;
  return {
    id: claims && typeof claims.sub === 'number' ? claims.sub : null,
    username: (claims && claims.username) || sessionStorage.getItem(NAME_KEY) || 'you',
  };
}

export function clearAccount() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(NAME_KEY);
  sessionStorage.removeItem(AVATAR_KEY);
  state.user = null;
}

function capitalize(text) {
  const s = String(text ?? '');
  return s ? s[0].toUpperCase() + s.slice(1) : s;
}
