// Meridian demo page: signing up, logging in and out.

import { state } from './state.js';
import { el, setStatus, showError, showView } from './dom.js';
import { AVATAR_KEY, NAME_KEY, api, clearAccount, revokeSession, storeSession } from './api.js';
import { enterLobby } from './lobby.js';
import { endSession } from './session.js';

export function showAuth(message) {
  state.phase = 'auth';
  el.account.hidden = true;
  showView('auth');
  showError(el.authError, message);
  el.authPassword.value = '';
  (el.authUsername.value ? el.authPassword : el.authUsername).focus();
}

export function sessionExpired() {
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

export async function onAuthSubmit(event) {
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
    storeSession(await api('POST', '/login', { username, password }, { auth: false }));
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

export function logout() {
  endSession();
  // The server revokes the login's refresh token; the page forgets both tokens now.
  revokeSession();
  clearAccount();
  setStatus('idle', 'Logged out');
  showAuth();
}
