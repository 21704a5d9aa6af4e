// "Content library" (staff): find lessons across the school's courses by words (the server's
// full-text search, stemmed) and by subject, grade, difficulty and tag, in a chosen order, a page
// at a time; open one to see its descriptive fields and its earlier versions, and put one back.
// The lesson's pictures and files are listed with thumbnails, and staff attach new ones.
// REST: GET lessons?q&subject&grade&difficulty&tag&sort&limit&cursor, GET courses (titles),
// GET lessons/{id}/revisions, POST lessons/{id}/revisions/{n}/restore, GET media?lesson_id,
// GET media/{id}/thumbnail (fetched with the token, shown as a blob URL), POST media?lesson_id.

import { all, api, token } from './api.js';
import { announce, h, notice, replace } from './dom.js';

const PAGE = 20;
const GRADES = ['K', '1', '2', '3', '4', '5', '6', '7', '8', '9', '10', '11', '12'];

export function showLibrary(main, ctx) {
  let stopped = false;
  let cursor = null;
  let courses = new Map();
  let blobs = [];
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
    let media;
    try {
      [lesson, revisions, media] = await Promise.all([
        api(`/api/v1/lessons/${encodeURIComponent(id)}`),
        api(`/api/v1/lessons/${encodeURIComponent(id)}/revisions?limit=50`),
        api(`/api/v1/media?lesson_id=${encodeURIComponent(id)}&limit=50`),
      ]);
    } catch (error) {
      replace(detail, notice('error', 'Cannot open this lesson', error.message));
      return;
    }
    replace(detail,
      h('h2', { text: lesson.title }),
      h('div', { class: 'chips' }, describe(lesson).map((text) => h('span', { class: 'chip' }, text))),
      lesson.objectives.length ? h('ul', { 'aria-label': 'Objectives' }, lesson.objectives.map((text) => h('li', {}, text))) : null,
      h('h3', { text: 'Pictures and files' }),
      mediaList(media.items),
      attachForm(lesson.id),
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

  function mediaList(items) {
    for (const url of blobs) URL.revokeObjectURL(url);
    blobs = [];
    if (items.length === 0) return h('p', { class: 'muted' }, 'None attached yet.');
    return h('ul', { class: 'media-list', 'data-testid': 'lesson-media' }, items.map((item) => {
      const picture = h('img', { alt: item.file_name, width: 96, height: 96, hidden: true });
      if (item.thumbnail_url) showThumbnail(item.thumbnail_url, picture);
      return h('li', { 'data-media': item.id }, picture,
        h('span', {}, `${item.file_name} · ${item.content_type} · ${Math.ceil(item.size_bytes / 1024)} KiB`));
    }));
  }

  async function showThumbnail(url, picture) {
    try {
      const response = await api(url, { raw: true });
      const blob = URL.createObjectURL(await response.blob());
      blobs.push(blob);
      picture.src = blob;
      picture.hidden = false;
    } catch {
      // No picture: the file's name still says what it is.
    }
  }

  function attachForm(lessonId) {
    const input = h('input', { id: 'attach-file', type: 'file', name: 'file', required: true });
    const form = h('form', { class: 'field-row', 'aria-label': 'Upload to this lesson' },
      h('div', { class: 'field' }, h('label', { for: 'attach-file' }, 'Attach a picture or file'), input),
      h('button', { type: 'submit', class: 'button small' }, 'Upload'));
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const file = input.files?.[0];
      if (!file) {
        say('Choose a file first.', true);
        return;
      }
      const body = new FormData();
      body.append('file', file);
      let response;
      try {
        response = await fetch(`/api/v1/media?lesson_id=${encodeURIComponent(lessonId)}`, {
          method: 'POST', headers: { Authorization: `Bearer ${token()}` }, body,
        });
      } catch {
        say('Cannot reach the classhub server to upload.', true);
        return;
      }
      if (!response.ok) {
        const answer = await response.json().catch(() => null);
        say(`Uploading ${file.name} failed: ${answer?.error?.message || response.status}`, true);
        return;
      }
      say(`Attached ${file.name}.`);
      await open(lessonId);
    });
    return form;
  }

  async function restore(id, revision) {
    try {
      const lesson = await api(`/api/v1/lessons/${encodeURIComponent(id)}/revisions/${revision}/restore`, { method: 'POST' });
      // Reload first: the list's reload writes its own status, which would hide this one.
      await Promise.all([open(id), load(true)]);
      say(`Restored version ${revision}: the lesson is "${lesson.title}" again (the version it replaced is kept).`);
    } catch (error) {
      say(`Restoring failed: ${error.message}`, true);
    }
  }

  function say(message, failed = false) {
    status.textContent = message;
    status.classList.toggle('error', failed);
    announce(message);
  }

  return () => {
    stopped = true;
    for (const url of blobs) URL.revokeObjectURL(url);
  };
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
