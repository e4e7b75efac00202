// Meridian demo page: the lobby, where one picks an avatar and a space.

import { state } from './state.js';
import { el, showError, showView } from './dom.js';
import { AVATAR_KEY, ApiError, allPages, api, authed, clearAccount, loadUser } from './api.js';
import { showAuth } from './account.js';
import { colourOf, localUrl, rememberAvatarImages } from './appearance.js';
import { joinSpace } from './session.js';

export function enterLobby(message) {
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

export function parseDimensions(text) {
  const match = /^(\d+)x(\d+)$/.exec(String(text ?? ''));
  return match ? { width: Number(match[1]), height: Number(match[2]) } : { width: 0, height: 0 };
}

export async function loadSpaces() {
  el.refreshSpaces.disabled = true;
  try {
    const { spaces = [] } = await allPages(authed, '/space/all', 'spaces');
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
      meta.dataset.testid = 'space-meta';
      // Who is in it now: the world's players, or the seats held in its rooms.
      const players = Number.isInteger(space.players) ? space.players : 0;
      item.dataset.players = String(players);
      const here = `${players} ${players === 1 ? 'player' : 'players'}`;
      meta.textContent = width && height ? `${width} × ${height} m · #${space.id} · ${here}` : `#${space.id} · ${here}`;
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

/** Joins the space whose id was typed (one made by someone else is not listed). */
export function onJoinById(event) {
  event.preventDefault();
  const text = String(el.joinSpaceId.value ?? '').trim().replace(/^#/, '');
  if (!/^[0-9]{1,15}$/.test(text)) {
    showError(el.lobbyError, 'A space id is a number, like the #12 of a listed space.');
    return;
  }
  const id = Number(text);
  joinSpace({ id, name: `space #${id}`, width: 0, height: 0 });
}

export function setJoinButtonsDisabled(disabled) {
  for (const button of el.spaceList.querySelectorAll('[data-testid="join-space"]')) button.disabled = disabled;
  for (const button of el.joinById.querySelectorAll('button')) button.disabled = disabled;
}
