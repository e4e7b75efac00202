// A game client in TypeScript on @meridian/client: join a space with a player's
// access token, walk with the arrow keys, chat, and draw what the snapshots
// bring. `npm run check` in web/ type-checks it against the package's
// declarations, imported by the package's name as an application would (here
// the name resolves to web/ itself, through package.json's `exports`). It needs
// a browser and a server to run, so CI only checks it.

import { MeridianClient, MeridianError } from '@meridian/client';
import type { ClientStats, EntityView, InventoryResult, JoinResponse } from '@meridian/client';
import { decodeServerMessage } from '@meridian/client/protocol';
import type { Animation, ServerMessage } from '@meridian/client/protocol';

/** A join failure that says whether trying again can help (the client reads `retry`). */
class JoinError extends Error {
  constructor(
    message: string,
    readonly retry: boolean,
  ) {
    super(message);
  }
}

/** `POST /api/v1/space/{id}/join`: a fresh realtime token for every attempt. */
async function joinSpace(accessToken: string, spaceId: number): Promise<JoinResponse> {
  const response = await fetch(`/api/v1/space/${spaceId}/join`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${accessToken}` },
  });
  if (!response.ok) {
    // 401, 403 and 404 will not change by trying again; 429 and 5xx may.
    throw new JoinError(`join failed: ${response.status}`, response.status === 429 || response.status >= 500);
  }
  return (await response.json()) as JoinResponse;
}

/** The arrow keys held down, as a direction and an animation. */
function keyboardIntent(keys: ReadonlySet<string>): { moveX: number; moveY: number; animation: Animation } {
  const moveX = Number(keys.has('ArrowRight')) - Number(keys.has('ArrowLeft'));
  const moveY = Number(keys.has('ArrowDown')) - Number(keys.has('ArrowUp'));
  return { moveX, moveY, animation: moveX !== 0 || moveY !== 0 ? 'Walk' : 'Idle' };
}

/**
 * Placed elements as rectangles (their position is the footprint's centre,
 * protocol version 4), then one dot per other entity, the own avatar in
 * another colour; positions are metres.
 */
function draw(context: CanvasRenderingContext2D, entities: EntityView[], pixelsPerMetre: number): void {
  context.clearRect(0, 0, context.canvas.width, context.canvas.height);
  for (const entity of entities) {
    if (entity.kind !== 'Element' || entity.footprint === undefined) continue;
    const { width, height, blocking } = entity.footprint;
    context.fillStyle = blocking ? '#556' : '#bdb';
    context.fillRect(
      (entity.x - width / 2) * pixelsPerMetre,
      (entity.y - height / 2) * pixelsPerMetre,
      width * pixelsPerMetre,
      height * pixelsPerMetre,
    );
  }
  for (const entity of entities) {
    if (entity.kind === 'Element') continue;
    context.fillStyle = entity.self ? '#d33' : entity.kind === 'Avatar' ? '#36c' : '#999';
    context.beginPath();
    context.arc(entity.x * pixelsPerMetre, entity.y * pixelsPerMetre, 6, 0, 2 * Math.PI);
    context.fill();
    if (entity.name !== null) context.fillText(entity.name, entity.x * pixelsPerMetre + 8, entity.y * pixelsPerMetre);
  }
}

/** A line for the status bar. */
function describeStats(stats: ClientStats): string {
  const rtt = stats.rttMs === null ? '-' : `${Math.round(stats.rttMs)} ms`;
  return `${stats.state} over ${stats.transport ?? 'nothing'}, tick ${stats.tick ?? '-'}, rtt ${rtt}`;
}

/** Gives back one apple and says what the server answered. */
async function dropApple(client: MeridianClient): Promise<string> {
  try {
    const result: InventoryResult = await client.changeInventory('apple', -1);
    return result.status === 'Applied' ? `${result.quantity} apples left` : `not dropped: ${result.status}`;
  } catch (error) {
    // 'Disconnected': the answer was lost with the connection, so whether the
    // apple went is unknown; read the inventory again rather than repeating.
    if (error instanceof MeridianError) return `no answer (${error.code})`;
    throw error;
  }
}

/** Joins `spaceId` and plays on `canvas` until the client closes. */
export async function play(accessToken: string, spaceId: number, canvas: HTMLCanvasElement): Promise<MeridianClient> {
  const client = new MeridianClient({
    join: () => joinSpace(accessToken, spaceId),
    transport: 'auto',
    reconnect: { initialDelayMs: 500, maxDelayMs: 8000, maxAttempts: 20 },
  });
  const status = document.createElement('p');
  const chatLog = document.createElement('ul');
  document.body.append(status, chatLog);

  client.addEventListener('connected', (event) => {
    const { zoneId, transport, tickRateHz } = event.detail;
    status.textContent = `in zone ${zoneId} over ${transport} at ${tickRateHz} Hz`;
  });
  client.addEventListener('settings', (event) => {
    // An operator changed the tick rate or the limits while we play.
    const { tickRateHz, limits } = event.detail;
    status.textContent = `now at ${tickRateHz} Hz, seeing ${limits.interestRadius} m (tick ${client.tickRateHz})`;
  });
  client.addEventListener('entered', (event) => {
    if (event.detail.self) status.textContent += ` as #${event.detail.id}`;
    // An element placed while we play (or come into view) arrives like anyone.
    const footprint = event.detail.footprint;
    if (footprint?.blocking) status.title = `element ${event.detail.appearance} in the way`;
  });
  client.addEventListener('chat', (event) => {
    const { from, name, channel, text } = event.detail;
    const line = document.createElement('li');
    line.textContent = `[${channel}] ${name ?? `#${from}`}: ${text}`;
    chatLog.append(line);
  });
  client.addEventListener('disconnected', (event) => {
    const { reason, willReconnect, retryInMs } = event.detail;
    status.textContent = willReconnect ? `reconnecting in ${retryInMs} ms (${reason})` : `disconnected (${reason})`;
  });

  try {
    await client.connect();
  } catch (error) {
    // Refused for good (a bad or reused token, a ban, another protocol
    // version), or every attempt failed.
    if (error instanceof MeridianError && error.code === 'Refused') {
      status.textContent = `refused: ${error.reason ?? ''} ${error.detail ?? ''}`;
    }
    throw error;
  }

  const keys = new Set<string>();
  window.addEventListener('keydown', (event) => keys.add(event.key));
  window.addEventListener('keyup', (event) => keys.delete(event.key));
  const context = canvas.getContext('2d');
  if (context === null) throw new Error('no 2D canvas');
  const frame = (now: number): void => {
    // Sent as an Input every tick; setting it every frame costs nothing more.
    // The server's limits come with each Welcome (null before the first).
    client.setIntent({ ...keyboardIntent(keys), speed: client.limits?.walkSpeed ?? 0 });
    draw(context, client.sample(now), 16);
    if (client.state !== 'closed') requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
  setInterval(() => (status.title = describeStats(client.stats())), 1000);

  client.say('hello', 'Zone');
  status.title = await dropApple(client);
  return client;
}

/** The codec on its own: what a server message on the stream says. */
export function describeMessage(bytes: Uint8Array): string {
  const message: ServerMessage = decodeServerMessage(bytes, 'stream');
  switch (message.type) {
    case 'Welcome':
      return `welcome to zone ${message.zoneId} (${message.zoneWidth} x ${message.zoneHeight} m)`;
    case 'Refusal':
      return `refused: ${message.reason}`;
    case 'Snapshot':
      return `snapshot of tick ${message.tick} against ${message.baselineTick ?? 'nothing'}`;
    case 'Chat':
      return `#${message.from} says ${message.text}`;
    case 'Disconnect':
      return `disconnected: ${message.reason}`;
    case 'Inventory':
      return `${message.item}: ${message.quantity} (${message.status})`;
    case 'Presence':
      return `#${message.avatar} is ${message.name}`;
    case 'SettingsChanged':
      return `from tick ${message.tick}: ${message.tickRateHz} Hz, ${message.limits.interestRadius} m view`;
    case 'VoiceAnswer':
      return `voice answer (${message.sdp.length} bytes of SDP)`;
    case 'VoiceLines':
      return `voice lines: ${message.lines.map((line) => `${line.slot}: ${line.speaker ?? 'nobody'}`).join(', ')}`;
    case 'VoiceRefused':
      return `voice refused: ${message.reason}`;
    default: {
      const unknown: never = message;
      return unknown;
    }
  }
}
