// Meridian demo page: the chat log, its history and the chat form.

import { state } from './state.js';
import { el } from './dom.js';
import { session } from './session.js';

const MAX_CHAT_BYTES = 512;
export const CHAT_HISTORY_LINES = 50;
const CHAT_LOG_LIMIT = 300;

function formatTime(date) {
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

function addChatLine({ name, channel, text, from = null, mine = false, history = false, at = new Date(), system = false }) {
  const log = el.chatLog;
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  const line = document.createElement('li');
  line.className = 'chat-line';
  line.dataset.testid = system ? 'chat-system' : 'chat-line';
  if (system) line.classList.add('system');
  if (mine) line.classList.add('mine');
  if (history) line.classList.add('history');
  if (channel) line.dataset.channel = channel;
  if (from !== null && from !== undefined) line.dataset.from = String(from);

  const time = document.createElement('time');
  time.dateTime = at.toISOString();
  time.textContent = formatTime(at);
  line.append(time);
  if (!system) {
    const badge = document.createElement('span');
    badge.className = 'channel';
    badge.textContent = channel === 'Proximity' ? 'near' : 'zone';
    badge.title = channel;
    const who = document.createElement('span');
    who.className = 'who';
    who.dataset.testid = 'chat-name';
    who.textContent = name;
    line.append(badge, who);
  }
  const body = document.createElement('span');
  body.className = 'text';
  body.dataset.testid = 'chat-text';
  body.textContent = text;
  line.append(body);

  log.append(line);
  while (log.children.length > CHAT_LOG_LIMIT) log.firstElementChild.remove();
  if (atBottom || mine) log.scrollTop = log.scrollHeight;
  if (!system) {
    state.chat.push({ name, channel, text, from, mine, history });
    if (state.chat.length > CHAT_LOG_LIMIT) state.chat.splice(0, state.chat.length - CHAT_LOG_LIMIT);
  }
}

export function addSystemLine(text) {
  addChatLine({ text, system: true });
}

function historyName(message) {
  if (typeof message.sender_name === 'string' && message.sender_name) return message.sender_name;
  if (typeof message.name === 'string' && message.name) return message.name;
  if (state.user && state.user.id !== null && message.sender === state.user.id) return state.user.username;
  return `user ${message.sender}`;
}

export function renderHistory(history) {
  const messages = Array.isArray(history?.messages) ? [...history.messages].reverse() : [];
  if (messages.length) addSystemLine('Earlier messages');
  for (const message of messages) {
    addChatLine({
      name: historyName(message),
      channel: message.channel,
      text: message.text,
      mine: Boolean(state.user && message.sender === state.user.id),
      history: true,
      at: new Date((message.sent_at ?? 0) * 1000),
    });
  }
}

export function onChat(current, detail) {
  if (session !== current) return;
  const own = state.connection?.avatarId;
  const name = detail.name || current.client.names?.get?.(detail.from) || `avatar ${detail.from}`;
  addChatLine({
    name,
    channel: detail.channel,
    text: detail.text,
    from: detail.from,
    mine: own !== undefined && detail.from === own,
  });
}

/** The text to send, or why it cannot be sent. */
function cleanChat(raw) {
  // No control characters other than line feed; not only whitespace; 1 to 512 bytes.
  // eslint-disable-next-line no-control-regex
  const text = raw.replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, '').trim();
  if (!text) return { error: 'Type a message first.' };
  if (new TextEncoder().encode(text).length > MAX_CHAT_BYTES) return { error: `A message is at most ${MAX_CHAT_BYTES} bytes.` };
  return { text };
}

export function onChatSubmit(event) {
  event.preventDefault();
  if (!session) return;
  const { text, error } = cleanChat(el.chatInput.value);
  if (error) {
    el.chatHint.textContent = error;
    return;
  }
  if (state.status.kind !== 'connected') {
    el.chatHint.textContent = 'Not connected: the message was not sent.';
    return;
  }
  try {
    session.client.say(text, el.chatChannel.value === 'Proximity' ? 'Proximity' : 'Zone');
    el.chatInput.value = '';
    el.chatHint.textContent = '';
  } catch (failure) {
    el.chatHint.textContent = `Not sent: ${failure?.message ?? failure}`;
  }
}
