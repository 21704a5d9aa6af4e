// "Content library" (staff): find lessons across the school's courses by words (the server's
// full-text search, stemmed) and by subject, grade, difficulty and tag, in a chosen order, a page
// at a time; open one to see its descriptive fields and its earlier versions, and put one back.
// REST: GET lessons?q&subject&grade&difficulty&tag&sort&limit&cursor, GET courses (titles),
// GET lessons/{id}/revisions, POST lessons/{id}/revisions/{n}/restore.

import { all, api } from './api.js';
import { announce, h, notice, replace } from './dom.js';

const PAGE = 20;
const GRADES = ['K', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'];

export function showLibrary(main, ctx) {
  let stopped = false;
  let cursor = null;
  let courses = new Map();
  const status = h('p', { class: 'form-status', role: 'status', 'data-testid': 'library-status' });
  const field = (id, label, control) => h('div', { class: 'field' }, h('label', { for: id }, label), control);
  const q = h('input', { id: 'library-q', type: 'search', name: 'q', maxlength: 200, placeholder: 'fractions pizza' });
  const subject = h('input', { id: 'library-subject', name: 'subject', maxlength: 64 });
  const grade = h('select', { id: 'library-grade', name: 'grade' },
    h('option', { value: '' }, 'Any grade'),
    GRADES.map((label, index) => h('option', { value: String(index) }, label)));
  const difficulty = h('select', { id: 'library-difficulty', name: 'difficulty' },
    h('option', { value: '' }, 'Any difficulty'),
    ['introductory', 'intermediate', 'advanced'].map((level) => h('option', { value: level }, level)));
  const tag = h('input', { id: 'library-tag', name: 'tag', maxlength: 32 });
  const sort = h('select', { id: 'library-sort', name: 'sort' },
    h('option', { value: '' }, 'Best match (with words) or course order'),
    h('option', { value: 'title' }, 'Title A–Z'),
    h('option', { value: 'updated' }, 'Recently changed'),
    h('option', { value: 'duration' }, 'Shortest first'));
  const form = h('form', { class: 'panel library-search', role: 'search', 'aria-label': 'Find lessons' },
    field('library-q', 'Words', q),
    field('library-subject', 'Subject', subject),
    field('library-grade', 'Grade', grade),
    field('library-difficulty', 'Difficulty', difficulty),
    field('library-tag', 'Tag', tag),
    field('library-sort', 'Order', sort),
    h('button', { type: 'submit', class: 'button primary' }, 'Search'));
  const results = h('ul', { class: 'library-results', 'data-testid': 'library-results' });
  const more = h('button', { type: 'button', class: 'button', hidden: true, onclick: () => load(false) }, 'More lessons');
  const detail = h('section', { class: 'panel', 'data-testid': 'lesson-detail', hidden: true });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    load(true);
  });
  replace(main,
    h('h1', { text: 'Content library' }),
    h('p', { class: 'muted' }, 'Every lesson of your school: search the titles and the lesson text, filter, and open one to see its earlier versions.'),
    form, status,
    h('div', { class: 'library' }, h('section', { class: 'panel', 'aria-label': 'Lessons found' }, results, more), detail));
  start();

  async function start() {
    try {
      const list = await all('/api/v1/courses', 2000);
      courses = new Map(list.map((course) => [course.id, course]));
    } catch (error) {
      if (error.status === 403) {
        replace(main, notice('error', 'For staff only', error.message));
        stopped = true;
        return;
      }
      ctx.onError(error, () => showLibrary(main, ctx));
      stopped = true;
      return;
    }
    load(true);
  }

  function query() {
    const params = new URLSearchParams();
    for (const [name, control] of [['q', q], ['subject', subject], ['grade', grade], ['difficulty', difficulty], ['tag', tag], ['sort', sort]]) {
      const value = control.value.trim();
      if (value) params.set(name, value);
    }
    params.set('limit', String(PAGE));
    return params;
  }

  async function load(fresh) {
    if (stopped) return;
    const params = query();
    if (!fresh && cursor) params.set('cursor', cursor);
    let page;
    try {
      page = await api(`/api/v1/lessons?${params}`);
    } catch (error) {
      say(error.message, true);
      return;
    }
    if (fresh) results.replaceChildren();
    for (const lesson of page.items) results.append(row(lesson));
    cursor = page.next_cursor;
    more.hidden = !cursor;
    const shown = results.children.length;
    say(shown === 0 ? 'No lessons match.' : `${shown}${cursor ? '+' : ''} lesson${shown === 1 ? '' : 's'} found.`);
  }

  function row(lesson) {
    const course = courses.get(lesson.course_id);
    return h('li', { class: 'library-item', 'data-lesson': lesson.id },
      h('button', { type: 'button', class: 'linklike', onclick: () => open(lesson.id) }, lesson.title),
      h('span', { class: 'muted' }, ` · ${course ? course.title : lesson.course_id}`),
      h('div', { class: 'chips' }, describe(lesson).map((text) => h('span', { class: 'chip' }, text))));
  }

  async function open(id) {
    detail.hidden = false;
    replace(detail, h('p', { class: 'muted' }, 'Loading…'));
    let lesson;
    let revisions;
    try {
      [lesson, revisions] = await Promise.all([
        api(`/api/v1/lessons/${encodeURIComponent(id)}`),
        api(`/api/v1/lessons/${encodeURIComponent(id)}/revisions?limit=50`),
      ]);
    } catch (error) {
      replace(detail, notice('error', 'Cannot open this lesson', error.message));
      return;
    }
    replace(detail,
      h('h2', { text: lesson.title }),
      h('div', { class: 'chips' }, describe(lesson).map((text) => h('span', { class: 'chip' }, text))),
      lesson.objectives.length ? h('ul', { 'aria-label': 'Objectives' }, lesson.objectives.map((text) => h('li', {}, text))) : null,
      h('h3', { text: 'Earlier versions' }),
      revisions.items.length === 0
        ? h('p', { class: 'muted' }, 'Not changed since it was written.')
        : h('table', { 'data-testid': 'revisions' },
          h('thead', {}, h('tr', {}, ['#', 'Title', 'Replaced', 'By', ''].map((text) => h('th', { scope: 'col' }, text)))),
          h('tbody', {}, revisions.items.map((revision) => h('tr', { 'data-revision': revision.revision },
            h('td', {}, String(revision.revision)),
            h('td', {}, revision.title),
            h('td', {}, new Date(revision.replaced_at).toLocaleString()),
            h('td', {}, revision.replaced_by || '–'),
            h('td', {}, h('button', {
              type: 'button',
              class: 'button small',
              'aria-label': `Restore version ${revision.revision} (${revision.title})`,
              onclick: () => restore(lesson.id, revision.revision),
            }, 'Restore')))))));
  }

  async function restore(id, revision) {
    try {
      const lesson = await api(`/api/v1/lessons/${encodeURIComponent(id)}/revisions/${revision}/restore`, { method: 'POST' });
      say(`Restored version ${revision}: the lesson is "${lesson.title}" again (the version it replaced is kept).`);
      await Promise.all([open(id), load(true)]);
    } catch (error) {
      say(`Restoring failed: ${error.message}`, true);
    }
  }

  function say(message, failed = false) {
    status.textContent = message;
    status.classList.toggle('error', failed);
    announce(message);
  }

  return () => { stopped = true; };
}

/** The descriptive fields as short labels. */
function describe(item) {
  const labels = [];
  if (item.subject) labels.push(item.subject);
  if (item.grade_min !== null && item.grade_min !== undefined) {
    const low = GRADES[item.grade_min];
    const high = GRADES[item.grade_max ?? item.grade_min];
    labels.push(low === high ? `grade ${low}` : `grades ${low}–${high}`);
  }
  if (item.difficulty) labels.push(item.difficulty);
  if (item.duration_minutes) labels.push(`${item.duration_minutes} min`);
  for (const tag of item.tags || []) labels.push(`#${tag}`);
  if (!item.published) labels.push('draft');
  return labels;
}
