// "AI tasks" (staff): every call the AI tutor made for the school (admins) or for you and the
// students you teach (educators), newest first, filtered by status and kind: who asked, the
// model, tokens and how long it took; open one to read what was asked and answered.
// REST: GET ai/tasks?status&kind&limit&cursor, GET ai/tasks/{id}.

import { api } from './api.js';
import { announce, h, notice, replace } from './dom.js';

const PAGE = 25;
const KINDS = ['ask', 'explain', 'generate_content', 'create_assessment'];
const STATUSES = ['pending', 'running', 'completed', 'failed'];

export function showAiTasks(main, ctx) {
  let stopped = false;
  let cursor = null;
  const status = h('p', { class: 'form-status', role: 'status', 'data-testid': 'ai-tasks-status' });
  const statusFilter = h('select', { id: 'ai-status', name: 'status' },
    h('option', { value: '' }, 'Any status'), STATUSES.map((value) => h('option', { value }, value)));
  const kindFilter = h('select', { id: 'ai-kind', name: 'kind' },
    h('option', { value: '' }, 'Any kind'), KINDS.map((value) => h('option', { value }, value.replace('_', ' '))));
  const form = h('form', { class: 'panel library-search', 'aria-label': 'Filter AI tasks' },
    h('div', { class: 'field' }, h('label', { for: 'ai-status' }, 'Status'), statusFilter),
    h('div', { class: 'field' }, h('label', { for: 'ai-kind' }, 'Kind'), kindFilter),
    h('button', { type: 'submit', class: 'button primary' }, 'Show'));
  const body = h('tbody', {});
  const table = h('table', { 'data-testid': 'ai-tasks' },
    h('thead', {}, h('tr', {}, ['When', 'Kind', 'Asked by', 'Status', 'Model', 'Tokens', 'Took', ''].map((text) => h('th', { scope: 'col' }, text)))),
    body);
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => load(false) }, 'Older tasks');
  const detail = h('section', { class: 'panel', 'data-testid': 'ai-task-detail', hidden: true });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load(true);
  });
  replace(main,
    h('h1', { text: 'AI tasks' }),
    h('p', { class: 'muted' }, 'Each question to the tutor and each draft the AI wrote: who asked, the model, the tokens it used and how long it took.'),
    form, status,
    h('section', { class: 'panel table-wrap' }, table, more),
    detail);
  load(true);

  async function load(fresh) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (statusFilter.value) params.set('status', statusFilter.value);
    if (kindFilter.value) params.set('kind', kindFilter.value);
    if (!fresh && cursor) params.set('cursor', cursor);
    let page;
    try {
      page = await api(`/api/v1/ai/tasks?${params}`);
    } catch (error) {
      if (error.status === 403) {
        replace(main, notice('error', 'For staff only', error.message));
        stopped = true;
        return;
      }
      if (fresh) {
        ctx.onError(error, () => showAiTasks(main, ctx));
        stopped = true;
      } else {
        say(error.message, true);
      }
      return;
    }
    if (stopped) return;
    if (fresh) body.replaceChildren();
    for (const task of page.items) body.append(row(task));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    const shown = body.children.length;
    say(shown === 0 ? 'No AI tasks match.' : `${shown}${cursor ? '+' : ''} task${shown === 1 ? '' : 's'}.`);
  }

  function row(task) {
    return h('tr', { 'data-task': task.id, 'data-status': task.status },
      h('td', {}, new Date(task.created_at).toLocaleString()),
      h('td', {}, task.kind.replace('_', ' ')),
      h('td', {}, task.user_id),
      h('td', {}, h('span', { class: `chip chip-task-${task.status}` }, task.status)),
      h('td', {}, task.model || '–'),
      h('td', {}, String(task.tokens_used)),
      h('td', {}, task.duration_ms === null || task.duration_ms === undefined ? '–' : `${(task.duration_ms / 1000).toFixed(1)} s`),
      h('td', {}, h('button', { type: 'button', class: 'button small', 'aria-label': `Open task ${task.id}`, onclick: () => open(task.id) }, 'Open')));
  }

  async function open(id) {
    detail.hidden = false;
    let task;
    try {
      task = await api(`/api/v1/ai/tasks/${encodeURIComponent(id)}`);
    } catch (error) {
      replace(detail, notice('error', 'Cannot open this task', error.message));
      return;
    }
    replace(detail,
      h('h2', { text: `${task.kind.replace('_', ' ')} · ${task.status}` }),
      h('p', { class: 'muted' }, `${task.id} · asked by ${task.user_id} · ${task.tokens_used} tokens${task.model ? ` · ${task.model}` : ''}`),
      task.error ? h('p', { class: 'notice-inline', role: 'note' }, `Why it failed: ${task.error}`) : null,
      h('h3', { text: 'Asked' }),
      h('pre', { class: 'payload', 'data-testid': 'ai-task-input' }, JSON.stringify(task.input, null, 2)),
      h('h3', { text: 'Answered' }),
      h('pre', { class: 'payload', 'data-testid': 'ai-task-output' }, task.output ? JSON.stringify(task.output, null, 2) : '–'));
    detail.focus?.();
  }

  function say(message, failed = false) {
    status.textContent = message;
    status.classList.toggle('error', failed);
    announce(message);
  }

  return () => { stopped = true; };
}
