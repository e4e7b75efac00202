// Meridian demo page: the network panel and the list of people nearby.

import { TRANSPORT_LABELS, state } from './state.js';
import { el } from './dom.js';
import { colourOf, displayName } from './appearance.js';
import { session, showRetryCountdown } from './session.js';

export const PANEL_INTERVAL_MS = 250;

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

export function updatePanel(current) {
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
