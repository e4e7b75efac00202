// Meridian web client: the transports. Each carries whole encoded protocol
// messages over one connection: WebTransport frames stream messages with a varint
// length and sends datagrams as datagrams; WebSocket puts a channel byte in front
// of each message. Tests plug in an in-memory transport with the same interface.

import { ProtocolError, encodeFrame, FrameDecoder } from '../protocol.js';
import { MeridianError } from './errors.js';

const WS_MAX_BUFFERED = 256 * 1024;

/**
 * The interface every transport offers. Messages are whole encoded protocol
 * messages (no length prefix, no channel byte): the transport adds and strips
 * its own framing.
 *
 * @typedef {object} Transport
 * @property {string} kind 'webtransport' | 'websocket' | anything a test uses
 * @property {(bytes: Uint8Array) => void} sendStream reliable, ordered
 * @property {(bytes: Uint8Array) => void} sendDatagram unreliable; may be dropped
 * @property {((bytes: Uint8Array) => void) | null} onStream one call per message
 * @property {((bytes: Uint8Array) => void) | null} onDatagram one call per message
 * @property {((info: {reason: string, detail: string}) => void) | null} onClose
 *   called once when the connection ends without close() having been called;
 *   reason 'ProtocolError' for bad framing, otherwise 'TransportClosed'
 * @property {() => void} close ends the connection after what was already sent;
 *   no callback follows
 *
 * The server speaks only after the client's Hello, so the session can set the
 * callbacks after open resolves and before it sends anything.
 */

/**
 * Opens a transport. Resolves when it can carry messages.
 * @callback OpenTransport
 * @param {'webtransport'|'websocket'} kind
 * @param {import('./options.js').JoinResponse} join the join response
 * @param {{timeoutMs: number}} options
 * @returns {Promise<Transport>}
 */

/** @param {string} hex */
function hexToBytes(hex) {
  const clean = String(hex).replace(/[^0-9a-fA-F]/g, '');
  if (clean.length % 2) throw new MeridianError('BadJoin', 'certificate hash has an odd number of hex digits');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/**
 * Rejects if `promise` does not settle within `ms`.
 * @template T @param {Promise<T>} promise @param {number} ms @param {string} what
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms, what) {
  if (!(ms > 0 && ms < Infinity)) return promise;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new MeridianError('Timeout', `${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

class WebTransportChannel {
  /** @param {any} session a WebTransport @param {any} stream its bidirectional stream */
  constructor(session, stream) {
    this.kind = 'webtransport';
    this.onStream = null;
    this.onDatagram = null;
    this.onClose = null;
    this._session = session;
    this._ended = false;
    this._writer = stream.writable.getWriter();
    const datagrams = session.datagrams;
    // createWritable() is the newer API; `writable` the one most browsers ship.
    const out = typeof datagrams.createWritable === 'function' ? datagrams.createWritable() : datagrams.writable;
    this._datagrams = out.getWriter();
    this._readStream(stream.readable.getReader());
    this._readDatagrams(session.datagrams.readable.getReader());
    session.closed.then(
      (info) => this._fail('TransportClosed', (info && info.reason) || 'session closed'),
      (err) => this._fail('TransportClosed', String((err && err.message) || err)),
    );
  }

  sendStream(bytes) {
    if (this._ended) return;
    this._writer.write(encodeFrame(bytes)).catch((err) => this._fail('TransportClosed', String(err)));
  }

  sendDatagram(bytes) {
    if (this._ended) return;
    // Datagrams are fire and forget; a full queue drops them, as the network would.
    this._datagrams.write(bytes).catch(() => {});
  }

  close() {
    if (this._ended) return;
    this._ended = true;
    const session = this._session;
    const shut = () => {
      try {
        session.close({ closeCode: 0, reason: '' });
      } catch {
        // already closed
      }
    };
    // Let queued frames (a Disconnect) leave before the session closes.
    withTimeout(this._writer.close(), 500, 'stream close').then(shut, shut);
  }

  async _readStream(reader) {
    const frames = new FrameDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return this._fail('TransportClosed', 'the server closed the stream');
        if (this._ended) return;
        for (const message of frames.push(value)) {
          if (this._ended) return;
          this.onStream?.(message);
        }
      }
    } catch (err) {
      if (err instanceof ProtocolError) {
        // Deliver the frames completed before the bad prefix, then give up.
        for (const message of err.frames ?? []) {
          if (this._ended) return;
          this.onStream?.(message);
        }
        this._fail('ProtocolError', err.message);
      } else {
        this._fail('TransportClosed', String((err && err.message) || err));
      }
    }
  }

  async _readDatagrams(reader) {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done || this._ended) return;
        this.onDatagram?.(value);
      }
    } catch {
      // the session's closed promise reports the end
    }
  }

  _fail(reason, detail) {
    if (this._ended) return;
    this._ended = true;
    try {
      this._session.close();
    } catch {
      // already closed
    }
    this.onClose?.({ reason, detail });
  }
}

/** @type {OpenTransport} */
async function openWebTransport(kind, join, { timeoutMs }) {
  const WT = globalThis.WebTransport;
  if (typeof WT !== 'function') throw new MeridianError('Unsupported', 'this browser has no WebTransport');
  if (!join.webtransport_url) throw new MeridianError('BadJoin', 'the join response has no webtransport_url');
  const options = {};
  if (join.certificate_sha256) {
    options.serverCertificateHashes = [{ algorithm: 'sha-256', value: hexToBytes(join.certificate_sha256) }];
  }
  const session = new WT(join.webtransport_url, options);
  session.ready.catch(() => {});
  session.closed.catch(() => {});
  try {
    await withTimeout(session.ready, timeoutMs, 'WebTransport connect');
    const stream = await withTimeout(session.createBidirectionalStream(), timeoutMs, 'opening the stream');
    return new WebTransportChannel(session, stream);
  } catch (err) {
    try {
      session.close();
    } catch {
      // never opened
    }
    throw err;
  }
}

class WebSocketChannel {
  /** @param {WebSocket} socket an open WebSocket */
  constructor(socket) {
    this.kind = 'websocket';
    this.onStream = null;
    this.onDatagram = null;
    this.onClose = null;
    this._socket = socket;
    this._ended = false;
    socket.onmessage = (event) => this._receive(event.data);
    socket.onclose = (event) => this._fail('TransportClosed', `WebSocket closed (${event.code})`);
    socket.onerror = () => this._fail('TransportClosed', 'WebSocket error');
  }

  sendStream(bytes) {
    this._send(0, bytes, false);
  }

  sendDatagram(bytes) {
    this._send(1, bytes, true);
  }

  _send(channel, bytes, droppable) {
    if (this._ended) return;
    // A stalled socket would queue stale inputs; drop "datagrams" instead.
    if (droppable && this._socket.bufferedAmount > WS_MAX_BUFFERED) return;
    const out = new Uint8Array(bytes.length + 1);
    out[0] = channel;
    out.set(bytes, 1);
    try {
      this._socket.send(out);
    } catch (err) {
      this._fail('TransportClosed', String(err));
    }
  }

  _receive(data) {
    if (this._ended) return;
    if (!(data instanceof ArrayBuffer) || data.byteLength < 1) {
      return this._fail('ProtocolError', 'expected a binary WebSocket message with a channel byte');
    }
    const bytes = new Uint8Array(data);
    const body = bytes.subarray(1);
    if (bytes[0] === 0) this.onStream?.(body);
    else if (bytes[0] === 1) this.onDatagram?.(body);
    else this._fail('ProtocolError', `unknown WebSocket channel byte ${bytes[0]}`);
  }

  close() {
    if (this._ended) return;
    this._ended = true;
    // close() lets already queued messages go first.
    try {
      this._socket.close(1000);
    } catch {
      // already closed
    }
  }

  _fail(reason, detail) {
    if (this._ended) return;
    this._ended = true;
    try {
      this._socket.close();
    } catch {
      // already closed
    }
    this.onClose?.({ reason, detail });
  }
}

/** Turns a relative or http(s) URL into a ws(s) one. @param {string} url */
function webSocketUrl(url) {
  const base = globalThis.location ? globalThis.location.href : undefined;
  const u = new URL(url, base);
  if (u.protocol === 'http:') u.protocol = 'ws:';
  if (u.protocol === 'https:') u.protocol = 'wss:';
  return u.toString();
}

/** @type {OpenTransport} */
async function openWebSocket(kind, join, { timeoutMs }) {
  const WS = globalThis.WebSocket;
  if (typeof WS !== 'function') throw new MeridianError('Unsupported', 'this environment has no WebSocket');
  if (!join.websocket_url) throw new MeridianError('BadJoin', 'the join response has no websocket_url');
  const socket = new WS(webSocketUrl(join.websocket_url));
  socket.binaryType = 'arraybuffer';
  const opened = new Promise((resolve, reject) => {
    socket.onopen = () => resolve(undefined);
    socket.onerror = () => reject(new MeridianError('ConnectFailed', 'WebSocket connection failed'));
    socket.onclose = (e) => reject(new MeridianError('ConnectFailed', `WebSocket closed (${e.code})`));
  });
  try {
    await withTimeout(opened, timeoutMs, 'WebSocket connect');
  } catch (err) {
    try {
      socket.close();
    } catch {
      // never opened
    }
    throw err;
  }
  return new WebSocketChannel(socket);
}

/** The browser transports. @type {OpenTransport} */
export function openBrowserTransport(kind, join, options) {
  return kind === 'webtransport' ? openWebTransport(kind, join, options) : openWebSocket(kind, join, options);
}

/**
 * Opens the transport `opts.transport` names. In 'auto' mode that is WebTransport
 * when the browser has it, the join response offers it and `preferWebSocket` is
 * not set, falling back to WebSocket if it fails (and the attempt is still
 * wanted, else it rejects with MeridianError 'Closed'); `fellBack` is called
 * once that WebSocket is open. Otherwise WebSocket.
 * @param {{transport: string, connectTimeoutMs: number, openTransport: OpenTransport,
 *   webTransportAvailable: boolean}} opts the client's options
 * @param {import('./options.js').JoinResponse} join the join response
 * @param {{preferWebSocket: boolean, stillWanted: () => boolean, fellBack: () => void}} choice
 * @returns {Promise<Transport>}
 */
export async function openChosenTransport(opts, join, { preferWebSocket, stillWanted, fellBack }) {
  const { transport: mode, connectTimeoutMs, openTransport } = opts;
  const options = { timeoutMs: connectTimeoutMs };
  const open = async (kind) => {
    const t = await openTransport(kind, join, options);
    if (!t.kind) t.kind = kind;
    return t;
  };
  if (mode !== 'auto') return open(mode);
  const tryWebTransport = opts.webTransportAvailable && !preferWebSocket && join.webtransport_url;
  if (tryWebTransport) {
    try {
      return await open('webtransport');
    } catch {
      if (!stillWanted()) throw new MeridianError('Closed', 'closed');
      const ws = await open('websocket');
      fellBack();
      return ws;
    }
  }
  return open('websocket');
}
