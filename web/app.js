// Meridian demo page: accounts, avatar and space choice, then a top-down view of
// the space with movement, chat and a network panel. Plain ES module, no build.
//
// HTTP API: same origin, under /api/v1 (docs/openapi.json). Realtime: MeridianClient
// from ./meridian.js, loaded when a space is joined.
//
// This entry wires the page's parts, each in web/app/: state.js (what the
// automated test reads), dom.js (elements and status), api.js (HTTP and the
// stored login), account.js (sign up, log in and out), lobby.js (avatars and
// spaces), session.js (joining and the realtime session), input.js (keys and
// zoom), chat.js, panel.js (network panel, people nearby), render.js (the
// canvas) and appearance.js (colours, names, images).

import { TRANSPORTS, state } from './app/state.js';
import { el } from './app/dom.js';
import { clearAccount, loadUser, scheduleRefresh } from './app/api.js';
import { logout, onAuthSubmit, showAuth } from './app/account.js';
import { enterLobby, loadSpaces, onJoinById } from './app/lobby.js';
import { endSession, leave, rejoin } from './app/session.js';
import { isTextField, onKeyDown, onKeyUp, releaseKeys, zoomBy } from './app/input.js';
import { onChatSubmit } from './app/chat.js';

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
  el.joinById.addEventListener('submit', onJoinById);
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

  if (loadUser()) {
    scheduleRefresh();
    enterLobby();
  } else {
    clearAccount();
    showAuth();
  }
}

start();
