// The live class's "Class chat" panel for its teacher: the class's messages (newest last) with
// Delete and Mute on each student's, the messages held for the teacher (blocklist or
// moderation) with why, Show to class and Delete, the teacher's own message box, slow mode and
// the muted students. Live frames keep it current (the live view hands over every `chat*`
// event); a deletion made anywhere removes the message here too.
// REST: GET/POST classes/{id}/chat, GET classes/{id}/chat/held, POST …/held/{m}/release,
// DELETE classes/{id}/chat/{m}, GET/PUT classes/{id}/chat/settings, PUT/DELETE …/chat/mutes/{u}.

import { api } from './api.js';
import { announce, clock, h, replace } from './dom.js';

/** Messages the panel keeps on screen. */
const SHOWN_MAX = 100;
/** Slow-mode choices, in seconds (0: off). */
const SLOW_CHOICES = [0, 10, 30, 60, 300];
/** How long the Mute button mutes, in minutes. */
const MUTE_MINUTES = 10;

/**
 * The panel for class `classId`: `{ element, onEvent }`. `nameOf(user)` names people;
 * `isStudent(user)` says whose messages get a Mute button (students on the roster).
 */
export function chatPanel(classId, { nameOf = (user) => user, isStudent = () => true } = {}) {
  const id = encodeURIComponent(classId);
  const base = `/api/v1/classes/${id}/chat`;
  const shown = new Map();
  const held = new Map();
  let mutes = [];
  const list = h('ol', { class: 'chat-list', 'aria-label': 'Class chat, oldest first', 'data-testid': 'chat-messages' });
  const heldList = h('ul', { class: 'chat-held', 'aria-label': 'Held for you', 'data-testid': 'chat-held' });
  const muteList = h('ul', { class: 'chat-mutes', 'aria-label': 'Muted students', 'data-testid': 'chat-mutes' });
  const status = h('p', { class: 'muted', role: 'status', 'data-testid': 'chat-status' });
  const slow = h('select', { id: 'chat-slow', 'data-testid': 'chat-slow' },
    SLOW_CHOICES.map((seconds) => h('option', { value: String(seconds) }, seconds === 0 ? 'Off' : `One message every ${seconds} s`)));
  const input = h('input', { id: 'chat-text', type: 'text', maxlength: '500', autocomplete: 'off', 'data-testid': 'chat-text' });

  const say = (text) => { status.textContent = text; announce(text); };
  const failed = (what) => (error) => { status.textContent = `Could not ${what}: ${error.message}`; };

  function message(line, isHeld) {
    const actions = [];
    if (isHeld) {
      actions.push(h('button', { type: 'button', class: 'button small', onclick: () => release(line.id) }, 'Show to class'));
    }
    actions.push(h('button', { type: 'button', class: 'button small', onclick: () => remove(line.id), 'aria-label': `Delete ${nameOf(line.from)}'s message` }, 'Delete'));
    if (isStudent(line.from)) {
      actions.push(h('button', { type: 'button', class: 'button small', onclick: () => mute(line.from), 'aria-label': `Mute ${nameOf(line.from)} for ${MUTE_MINUTES} minutes` }, 'Mute'));
    }
    return h('li', { 'data-testid': isHeld ? 'chat-held-line' : 'chat-line', 'data-id': line.id },
      h('span', { class: 'muted' }, line.at ? clock(line.at) : ''), ' ',
      h('strong', {}, nameOf(line.from)), ': ', h('span', { class: 'chat-text' }, line.text),
      isHeld && line.reasons?.length ? h('span', { class: 'muted' }, ` (held: ${line.reasons.join(', ')})`) : null,
      ' ', actions);
  }

  function render() {
    const lines = [...shown.values()].sort((a, b) => a.at - b.at).slice(-SHOWN_MAX);
    replace(list, lines.length ? lines.map((line) => message(line, false)) : h('li', { class: 'muted' }, 'No messages yet.'));
    const waiting = [...held.values()].sort((a, b) => a.at - b.at);
    replace(heldList, waiting.length ? waiting.map((line) => message(line, true)) : h('li', { class: 'muted' }, 'Nothing held.'));
    replace(muteList, mutes.length
      ? mutes.map((entry) => h('li', { 'data-testid': 'chat-muted' },
        `${nameOf(entry.user_id)} until ${clock(entry.until_ms)} `,
        h('button', { type: 'button', class: 'button small', onclick: () => unmute(entry.user_id) }, 'Unmute')))
      : h('li', { class: 'muted' }, 'No one is muted.'));
  }

  const lineOf = (item) => ({ id: item.id, from: item.from, text: item.text, reasons: item.reasons, at: Date.parse(item.sent_at) || Date.now() });

  async function reload() {
    try {
      const [page, heldPage, settings] = await Promise.all([api(base), api(`${base}/held`), api(`${base}/settings`)]);
      for (const item of page.items) shown.set(item.id, lineOf(item));
      for (const item of heldPage.items) held.set(item.id, lineOf(item));
      mutes = settings.mutes;
      slow.value = String(settings.slow_mode_seconds);
      render();
    } catch (error) {
      failed('load the chat')(error);
    }
  }

  async function release(messageId) {
    try {
      await api(`${base}/held/${encodeURIComponent(messageId)}/release`, { method: 'POST' });
      held.delete(messageId);
      render();
      say('The message is shown to the class.');
    } catch (error) { failed('show it')(error); }
  }

  async function remove(messageId) {
    try {
      await api(`${base}/${encodeURIComponent(messageId)}`, { method: 'DELETE' });
      shown.delete(messageId);
      held.delete(messageId);
      render();
      say('The message is deleted for everyone.');
    } catch (error) { failed('delete it')(error); }
  }

  async function mute(user) {
    try {
      const entry = await api(`${base}/mutes/${encodeURIComponent(user)}`, { method: 'PUT', body: { minutes: MUTE_MINUTES } });
      mutes = [...mutes.filter((other) => other.user_id !== user), entry];
      render();
      say(`${nameOf(user)} is muted for ${MUTE_MINUTES} minutes.`);
    } catch (error) { failed('mute them')(error); }
  }

  async function unmute(user) {
    try {
      await api(`${base}/mutes/${encodeURIComponent(user)}`, { method: 'DELETE' });
      mutes = mutes.filter((other) => other.user_id !== user);
      render();
      say(`${nameOf(user)} may chat again.`);
    } catch (error) { failed('unmute them')(error); }
  }

  slow.addEventListener('change', async () => {
    try {
      const settings = await api(`${base}/settings`, { method: 'PUT', body: { slow_mode_seconds: Number(slow.value) } });
      say(settings.slow_mode_seconds ? `Slow mode: one message every ${settings.slow_mode_seconds} s.` : 'Slow mode is off.');
    } catch (error) { failed('change slow mode')(error); }
  });

  const form = h('form', { class: 'chat-form', 'aria-label': 'Write to the class' },
    h('label', { for: 'chat-text', class: 'visually-hidden' }, 'Message to the class'), input,
    h('button', { type: 'submit', class: 'button', 'data-testid': 'chat-send' }, 'Send to chat'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    try {
      await api(base, { method: 'POST', body: { text } });
      input.value = '';
    } catch (error) { failed('send it')(error); }
  });

  /** A live `chat`, `chat_held`, `chat_deleted`, `chat_released` or `chat_settings` event. */
  function onEvent(frame) {
    const data = frame.data || {};
    switch (frame.kind) {
      case 'chat':
        shown.set(frame.id || `${frame.room}#${frame.seq}`, { id: frame.id, from: frame.from, text: String(data.text ?? ''), at: frame.ts });
        break;
      case 'chat_held':
        held.set(String(frame.id || '').replace(/^held:/, ''), { id: String(frame.id || '').replace(/^held:/, ''), from: frame.from, text: String(data.text ?? ''), reasons: data.reasons || [], at: frame.ts });
        announce(`A message from ${nameOf(frame.from)} is held for you.`);
        break;
      case 'chat_deleted':
        shown.delete(data.id);
        held.delete(data.id);
        break;
      case 'chat_released':
        held.delete(data.id);
        break;
      case 'chat_settings':
        slow.value = String(data.slow_mode_seconds ?? 0);
        break;
      default:
        return;
    }
    render();
  }

  reload();
  return {
    element: h('section', { class: 'panel', 'aria-labelledby': 'chat-title', 'data-testid': 'chat-panel' },
      h('h2', { id: 'chat-title', text: 'Class chat' }),
      list,
      form,
      h('h3', { text: 'Held for you' }),
      heldList,
      h('p', {}, h('label', { for: 'chat-slow' }, 'Slow mode '), slow),
      h('h3', { text: 'Muted' }),
      muteList,
      status),
    onEvent,
  };
}
