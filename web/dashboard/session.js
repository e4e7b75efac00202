// The dashboard's login: POST /api/v1/login, the access token kept in this
// tab's session storage and refreshed (POST /api/v1/token/refresh) before it
// expires. Every data call goes through `call`, which says who refused it.

const TOKEN_KEY = 'meridian.dashboard.accessToken';
const REFRESH_KEY = 'meridian.dashboard.refreshToken';
/** Refresh this long before the access token expires. */
const REFRESH_MARGIN_MS = 60_000;

/** A refused or failed call: `status` (0 when the server was not reached) and the server's `{error}` text. */
export class CallError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'CallError';
    this.status = status;
    this.body = body;
  }
}

/** The claims of a JWT-like access token (unverified: only to read `role` and `exp`). */
export function claimsOf(token) {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload));
  } catch {
    return null;
  }
}

export function accessToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

function keep({ token, refresh_token: refresh }) {
  if (typeof token !== 'string' || !token) throw new CallError(500, 'The server sent no token.');
  sessionStorage.setItem(TOKEN_KEY, token);
  if (typeof refresh === 'string' && refresh) sessionStorage.setItem(REFRESH_KEY, refresh);
}

export function signOut() {
  const refresh = sessionStorage.getItem(REFRESH_KEY);
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(REFRESH_KEY);
  if (refresh) {
    fetch('/api/v1/logout', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ refresh_token: refresh }),
    }).catch(() => null);
  }
}

async function send(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch {
    throw new CallError(0, 'The server cannot be reached.');
  }
  const text = await response.text().catch(() => '');
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const message = data && typeof data.error === 'string' ? data.error : `${response.status} ${response.statusText}`;
    throw new CallError(response.status, message, data);
  }
  return data ?? {};
}

/** Signs in; refuses (403) an account that is not an admin before keeping anything. */
export async function signIn(username, password) {
  const answer = await send('POST', '/api/v1/login', { username, password });
  const claims = claimsOf(answer.token ?? '');
  if (!claims || claims.role !== 'admin') {
    throw new CallError(403, 'This account is not an admin: the dashboard is for admins only.');
  }
  keep(answer);
}

let refreshing = null;

async function refresh() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  if (!token) throw new CallError(401, 'Signed out.');
  refreshing ??= send('POST', '/api/v1/token/refresh', { refresh_token: token })
    .then(keep)
    .finally(() => { refreshing = null; });
  return refreshing;
}

/** One API call with the access token, refreshed first when about to expire and once more on a 401. */
export async function call(method, path, body) {
  const claims = claimsOf(accessToken() ?? '');
  if (claims && typeof claims.exp === 'number' && claims.exp * 1000 < Date.now() + REFRESH_MARGIN_MS) {
    await refresh().catch(() => null);
  }
  try {
    return await send(method, path, body, accessToken());
  } catch (error) {
    if (!(error instanceof CallError) || error.status !== 401 || !sessionStorage.getItem(REFRESH_KEY)) throw error;
    await refresh();
    return send(method, path, body, accessToken());
  }
}
