// "Students' data" (admins): each student's consent state, export (JSON or a zip of CSV files)
// and erasure (after typing the student's id in a confirmation dialog); the school's consent
// policy and retention; and the audit trail, filtered by student, with its CSV.
// REST: GET users?role=student, GET/PUT users/{id}/consent, GET users/{id}/export[.zip],
// DELETE users/{id}, GET/PUT consent/policy, GET/PUT privacy/retention, GET audit[.csv].

import { all, api } from './api.js';
import { announce, h, notice, replace } from './dom.js';

const MAX_STUDENTS = 500;

export function showPrivacy(main, ctx) {
  let stopped = false;
  const status = h('p', { class: 'form-status', role: 'status', 'data-testid': 'privacy-status' });
  const students = h('div', { class: 'table-wrap' }, h('p', { class: 'muted' }, 'Loading students…'));
  const policy = h('div', {});
  const retention = h('div', {});
  const audit = h('div', {});
  const dialog = eraseDialog(async (id) => {
    try {
      const erased = await api(`/api/v1/users/${encodeURIComponent(id)}`, { method: 'DELETE' });
      const rows = Object.values(erased.removed).reduce((sum, count) => sum + count, 0);
      say(`Erased ${id}: ${rows} rows removed; the audit trail now calls them ${erased.pseudonym}.`);
      await Promise.all([loadStudents(), loadAudit()]);
    } catch (error) {
      say(`Erasing ${id} failed: ${error.message}`, true);
    }
  });
  replace(main,
    h('h1', { text: "Students' data" }),
    h('p', { class: 'muted' }, 'Export or erase a student\'s records, see their consent, and who did what in the audit trail. What is stored and why: docs/DATA.md.'),
    status,
    h('div', { class: 'stack' },
      panel('Students', students),
      panel('Consent policy', policy),
      panel('Retention', retention),
      panel('Audit trail', audit)),
    dialog.element);

  function say(message, failed = false) {
    status.textContent = message;
    status.classList.toggle('error', failed);
    announce(message);
  }

  async function loadStudents() {
    let list;
    try {
      list = await all('/api/v1/users?role=student', MAX_STUDENTS);
    } catch (error) {
      if (error.status === 403) {
        replace(main, notice('error', 'For admins only', `Students' data needs the admin role. ${error.message}`));
        stopped = true;
        return;
      }
      ctx.onError(error, () => showPrivacy(main, ctx));
      stopped = true;
      return;
    }
    const consents = await Promise.all(list.map((user) => api(`/api/v1/users/${encodeURIComponent(user.id)}/consent`).catch(() => null)));
    if (stopped) return;
    if (list.length === 0) {
      replace(students, h('p', { class: 'muted' }, 'No students yet.'));
      return;
    }
    replace(students, h('table', { 'data-testid': 'students' },
      h('thead', {}, h('tr', {}, ['Student', 'Name', 'Consent', 'Actions'].map((text) => h('th', { scope: 'col' }, text)))),
      h('tbody', {}, list.map((user, index) => h('tr', { 'data-student': user.id },
        h('td', {}, h('code', { text: user.id })),
        h('td', {}, user.display_name || '–'),
        h('td', { 'data-testid': 'consent' }, consentText(consents[index])),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'button small', 'aria-label': `Export ${user.id}'s data as JSON`, onclick: () => download(user.id, 'json') }, 'Export JSON'), ' ',
          h('button', { type: 'button', class: 'button small', 'aria-label': `Export ${user.id}'s data as CSV files`, onclick: () => download(user.id, 'zip') }, 'Export CSV'), ' ',
          h('button', { type: 'button', class: 'button small ghost', 'aria-label': `Erase ${user.id}`, onclick: () => dialog.open(user.id) }, 'Erase…')))))));
  }

  async function download(id, kind) {
    const path = `/api/v1/users/${encodeURIComponent(id)}/export${kind === 'zip' ? '.zip' : ''}`;
    try {
      const response = await api(path, { raw: true });
      const url = URL.createObjectURL(await response.blob());
      const link = h('a', { href: url, download: `classhub-export-${id.replace(/[^\w-]+/g, '_')}.${kind}`, hidden: true });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      say(`Exported ${id}'s data.`);
    } catch (error) {
      say(`Export failed: ${error.message}`, true);
    }
  }

  async function loadPolicy() {
    try {
      const current = await api('/api/v1/consent/policy');
      const box = h('input', { type: 'checkbox', id: 'consent-required', checked: current.required });
      box.addEventListener('change', async () => {
        try {
          await api('/api/v1/consent/policy', { method: 'PUT', body: { required: box.checked } });
          say(box.checked ? 'Consent is now required.' : 'Consent is no longer required.');
          await loadStudents();
        } catch (error) {
          box.checked = !box.checked;
          say(`Could not change the policy: ${error.message}`, true);
        }
      });
      replace(policy,
        h('p', {}, box, ' ', h('label', { for: 'consent-required' }, 'Require a parent\'s consent before a student uses the AI tutor or links a Roblox account')));
    } catch (error) {
      replace(policy, h('p', { class: 'muted' }, error.message));
    }
  }

  async function loadRetention() {
    try {
      const current = await api('/api/v1/privacy/retention');
      const fields = [
        ['events_days', 'Raw game events (days)'],
        ['ai_days', 'AI questions and answers (days)'],
        ['chat_days', 'Chat (days)'],
      ];
      const inputs = Object.fromEntries(fields.map(([key]) => [key, h('input', { type: 'number', min: 0, max: 36500, id: `retention-${key}`, value: current.effective[key] })]));
      const form = h('form', { class: 'retention-form' },
        fields.map(([key, label]) => h('p', {}, h('label', { for: `retention-${key}` }, label), ' ', inputs[key],
          h('span', { class: 'muted' }, ` (server default ${current.defaults[key]})`))),
        h('p', { class: 'muted' }, '0 keeps records until the student is erased. Progress, results, consent and the audit trail are kept until erasure.'),
        h('button', { type: 'submit', class: 'button' }, 'Save retention'));
      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        const body = Object.fromEntries(fields.map(([key]) => [key, Number(inputs[key].value)]));
        try {
          await api('/api/v1/privacy/retention', { method: 'PUT', body });
          say('Retention saved; the next purge applies it.');
          await loadAudit();
        } catch (error) {
          say(`Could not save retention: ${error.message}`, true);
        }
      });
      replace(retention, form);
    } catch (error) {
      replace(retention, h('p', { class: 'muted' }, error.message));
    }
  }

  const filter = h('input', { type: 'search', id: 'audit-student', placeholder: 'student id', autocomplete: 'off' });
  async function loadAudit() {
    const student = filter.value.trim();
    const query = student ? `?student_id=${encodeURIComponent(student)}&limit=50` : '?limit=50';
    let page;
    try {
      page = await api(`/api/v1/audit${query}`);
    } catch (error) {
      replace(audit, h('p', { class: 'muted' }, error.message));
      return;
    }
    if (stopped) return;
    const form = h('form', { class: 'audit-filter' },
      h('label', { for: 'audit-student' }, 'Student'), ' ', filter, ' ',
      h('button', { type: 'submit', class: 'button small' }, 'Show'), ' ',
      h('button', { type: 'button', class: 'button small ghost', onclick: () => downloadAudit(query) }, 'Download CSV'));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      loadAudit();
    });
    replace(audit, form, page.items.length === 0
      ? h('p', { class: 'muted' }, 'No entries.')
      : h('div', { class: 'table-wrap' }, h('table', { 'data-testid': 'audit' },
        h('thead', {}, h('tr', {}, ['When', 'Who', 'Action', 'Target', 'Student', 'From'].map((text) => h('th', { scope: 'col' }, text)))),
        h('tbody', {}, page.items.map((entry) => h('tr', { 'data-action': entry.action },
          h('td', {}, new Date(entry.created_at).toLocaleString()),
          h('td', {}, `${entry.actor_id} (${entry.actor_role})`),
          h('td', {}, h('code', { text: entry.action })),
          h('td', {}, `${entry.target_type} ${entry.target_id}`),
          h('td', {}, entry.student_id || '–'),
          h('td', {}, entry.source_ip || '–')))))));
  }

  async function downloadAudit(query) {
    try {
      const response = await api(`/api/v1/audit.csv${query}`, { raw: true });
      const url = URL.createObjectURL(await response.blob());
      const link = h('a', { href: url, download: 'audit.csv', hidden: true });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      say(`Download failed: ${error.message}`, true);
    }
  }

  loadStudents().then(() => {
    if (stopped) return;
    loadPolicy();
    loadRetention();
    loadAudit();
  });
  return () => {
    stopped = true;
    dialog.element.close?.();
  };
}

function panel(title, content) {
  return h('section', { class: 'panel' }, h('h2', { text: title }), content);
}

function consentText(consent) {
  if (!consent) return '–';
  const by = consent.decided_by ? ` by ${consent.decided_by} (${consent.decided_role})` : '';
  return `${consent.state}${by}${consent.required ? '' : ' · not required'}`;
}

/** The erase confirmation: the admin types the student's id before the button works. */
function eraseDialog(onConfirm) {
  const title = h('h2', { id: 'erase-title' });
  const input = h('input', { type: 'text', id: 'erase-confirm', autocomplete: 'off', spellcheck: 'false' });
  const label = h('label', { for: 'erase-confirm' });
  const confirm = h('button', { type: 'submit', class: 'button primary', disabled: true }, 'Erase for good');
  const cancel = h('button', { type: 'button', class: 'button ghost' }, 'Cancel');
  const form = h('form', { method: 'dialog' },
    title,
    h('p', {}, 'Every record of this student is deleted from every table: progress, results, events, chat, AI questions, Roblox links, consent. Their sessions end and their account cannot sign in again. Audit entries stay, under a pseudonym. This cannot be undone.'),
    h('p', {}, label, ' ', input),
    h('p', {}, confirm, ' ', cancel));
  const element = h('dialog', { 'aria-labelledby': 'erase-title', 'data-testid': 'erase-dialog' }, form);
  let target = null;
  input.addEventListener('input', () => { confirm.disabled = input.value.trim() !== target; });
  cancel.addEventListener('click', () => element.close());
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (input.value.trim() !== target) return;
    element.close();
    onConfirm(target);
  });
  return {
    element,
    open(id) {
      target = id;
      title.textContent = `Erase ${id}?`;
      label.textContent = `Type ${id} to confirm`;
      input.value = '';
      confirm.disabled = true;
      element.showModal();
      input.focus();
    },
  };
}
