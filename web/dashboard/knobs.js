// The knob panel: the hosted space's live settings
// (GET /api/v1/admin/spaces/{id}/settings), one field per setting the server
// answers with (a setting the server adds just appears), changed with a
// partial PUT of the fields edited. A refused value (400 invalid_settings)
// shows its message next to its field; the recent changes come from the
// settings' audit log.

import { call, CallError } from './session.js';

/** Fields of the answer that are not knobs (shown in the panel's heading). */
const NOT_KNOBS = new Set(['spaceId']);

/** `interestRadius` → `interest radius`. */
export function words(key) {
  return key.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase();
}

const settingsPath = (space) => `/api/v1/admin/spaces/${encodeURIComponent(space)}/settings`;

export class Knobs {
  /** `form`, `status` and `audit` are the panel's elements. */
  constructor({ form, status, audit, spaceLabel }) {
    this.form = form;
    this.status = status;
    this.audit = audit;
    this.spaceLabel = spaceLabel;
    this.space = null;
    this.current = null;
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.apply().catch((error) => this.say(error.message));
    });
  }

  say(text) {
    this.status.textContent = text;
  }

  /** Loads the settings of `space` (once it is known), and its audit log. */
  async load(space) {
    this.space = space;
    this.spaceLabel.textContent = `space ${space}`;
    try {
      this.current = await call('GET', settingsPath(space));
    } catch (error) {
      this.form.replaceChildren();
      this.say(error instanceof CallError && error.status === 404
        ? 'This server has no live settings API.'
        : `Settings unavailable: ${error.message}`);
      return;
    }
    this.render();
    await this.loadAudit();
  }

  render() {
    const fields = [];
    for (const [key, value] of Object.entries(this.current)) {
      if (typeof value !== 'number' || NOT_KNOBS.has(key)) continue;
      const label = document.createElement('label');
      label.htmlFor = `knob-${key}`;
      label.textContent = words(key);
      const input = document.createElement('input');
      input.id = `knob-${key}`;
      input.name = key;
      input.type = 'number';
      input.step = 'any';
      input.value = String(value);
      input.dataset.testid = `knob-${key}`;
      const problem = document.createElement('span');
      problem.className = 'field-error';
      problem.dataset.testid = `knob-error-${key}`;
      fields.push(label, input, problem);
    }
    const actions = document.createElement('div');
    actions.className = 'actions';
    const button = document.createElement('button');
    button.type = 'submit';
    button.textContent = 'Apply changes';
    button.dataset.testid = 'knobs-apply';
    actions.append(button);
    this.form.replaceChildren(...fields, actions);
  }

  /** The fields whose value differs from the server's, as numbers. */
  edited() {
    const changes = {};
    for (const input of this.form.querySelectorAll('input')) {
      const value = Number(input.value);
      if (input.value.trim() === '' || !Number.isFinite(value)) {
        changes[input.name] = input.value;
      } else if (value !== this.current[input.name]) {
        changes[input.name] = value;
      }
    }
    return changes;
  }

  clearErrors() {
    for (const input of this.form.querySelectorAll('input')) input.removeAttribute('aria-invalid');
    for (const problem of this.form.querySelectorAll('.field-error')) problem.textContent = '';
  }

  async apply() {
    this.clearErrors();
    const changes = this.edited();
    if (Object.keys(changes).length === 0) {
      this.say('Nothing changed.');
      return;
    }
    this.say('Applying…');
    try {
      this.current = await call('PUT', settingsPath(this.space), changes);
    } catch (error) {
      const body = error instanceof CallError ? error.body : null;
      if (body && body.error === 'invalid_settings' && typeof body.field === 'string') {
        const input = this.form.querySelector(`input[name="${CSS.escape(body.field)}"]`);
        const problem = this.form.querySelector(`[data-testid="knob-error-${CSS.escape(body.field)}"]`);
        if (input) input.setAttribute('aria-invalid', 'true');
        if (problem) problem.textContent = body.message ?? 'refused';
        this.say(`Refused: ${words(body.field)}: ${body.message ?? ''}`);
        return;
      }
      this.say(`Not applied: ${error.message}`);
      return;
    }
    this.render();
    this.say(`Applied: ${Object.keys(changes).map(words).join(', ')}.`);
    await this.loadAudit();
  }

  async loadAudit() {
    let answer;
    try {
      answer = await call('GET', `${settingsPath(this.space)}/audit?limit=10`);
    } catch {
      this.audit.replaceChildren();
      return;
    }
    const entries = Array.isArray(answer) ? answer : [];
    this.audit.replaceChildren(...entries.map((entry) => {
      const item = document.createElement('li');
      item.textContent = describe(entry);
      return item;
    }));
  }
}

/** One audit entry (`{at: ms, adminId, field, before, after}`) as a line. */
function describe(entry) {
  const when = typeof entry.at === 'number' ? new Date(entry.at).toLocaleTimeString() : '';
  return `${when} admin ${entry.adminId}: ${words(String(entry.field))} ${JSON.stringify(entry.before)} → ${JSON.stringify(entry.after)}`;
}
