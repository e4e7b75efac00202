// Meridian demo page: the voice panel. A button turns proximity voice on and
// off, another mutes the microphone, and the list shows whom you hear (from
// VoiceLines), how far, and a speaking mark driven by client.voice.onSpeaking.

const byId = (id) => /** @type {any} */ (document.getElementById(id));

/** @type {Map<number, {distance: number, speaking: boolean}>} */
const heard = new Map();

/**
 * Wires the voice panel to a new client.
 * @param {import('../meridian.js').MeridianClient} client
 */
export function attachVoice(client) {
  heard.clear();
  const toggle = byId('voice-toggle');
  const mute = byId('voice-mute');
  const note = byId('voice-note');
  const render = () => {
    const on = client.voice.state === 'on';
    toggle.textContent = on ? 'Turn voice off' : 'Turn voice on';
    toggle.dataset.state = client.voice.state;
    mute.hidden = !on;
    mute.textContent = client.voice.muted ? 'Unmute' : 'Mute';
    const list = byId('voice-list');
    list.replaceChildren();
    for (const line of client.voice.lines()) {
      if (line.speaker == null) continue;
      const item = document.createElement('li');
      item.dataset.testid = 'voice-speaker';
      item.dataset.speaker = String(line.speaker);
      item.dataset.speaking = String(line.speaking);
      const name = client.names.get(line.speaker) ?? `#${line.speaker}`;
      item.textContent = `${line.speaking ? '🔊' : '·'} ${name}, ${line.distance.toFixed(1)} m`;
      list.append(item);
    }
  };
  client.voice.onSpeaking(render);
  toggle.onclick = async () => {
    note.textContent = '';
    try {
      if (client.voice.state === 'off') await client.voice.enable();
      else client.voice.disable();
    } catch (error) {
      note.textContent = error.reason ? `Voice refused: ${error.reason}` : `Voice: ${error.message}`;
    }
    render();
  };
  mute.onclick = async () => {
    await client.voice.mute(!client.voice.muted);
    render();
  };
  client.addEventListener('disconnected', render);
  const timer = setInterval(() => {
    if (window.meridian?.client !== client && client.state === 'closed') clearInterval(timer);
    else render();
  }, 500);
  render();
}
