// Meridian demo page: the page's state, which the automated test may read
// (window.meridian.state), and the transports one may ask for.

export const TRANSPORTS = ['auto', 'webtransport', 'websocket'];
export const TRANSPORT_LABELS = { webtransport: 'WebTransport', websocket: 'WebSocket', auto: 'automatic' };

// ---------------------------------------------------------------------------
// State the automated test may read (window.meridian.state).

/** @type {{
 *   phase: string, status: {kind: string, text: string},
 *   user: {id: number|null, username: string}|null,
 *   requestedTransport: string,
 *   space: {id: number, name: string, width: number, height: number, catalogue: Map<number, any>}|null,
 *   connection: any, intent: any, lastDisconnect: any, lastRefusal: any,
 *   chat: {name: string, channel: string, text: string, from: number|null, mine: boolean, history: boolean}[],
 * }} */
export const state = {
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

const params = new URLSearchParams(location.search);
state.requestedTransport = TRANSPORTS.includes(params.get('transport')) ? params.get('transport') : 'auto';

/** Standing still, facing `heading`. */
export function idleIntent(heading) {
  return { moveX: 0, moveY: 0, speed: 0, heading, animation: 'Idle' };
}
