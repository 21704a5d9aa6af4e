// The live class's "Assigned lessons" panel: what the class was given (a course or one
// lesson, with its due date) and how many students on the roster completed it, a form to
// assign a course or one of its lessons, and a button to remove an assignment. Completion is
// read again when a student finishes a lesson (the live view calls `reload`).

import { api, all } from './api.js';
import { announce, coalesced, h, replace } from './dom.js';

/**
 * The panel for class `classId`: `{ element, reload, soon }`. `onTitles(map)` receives the
 * titles of the assigned lessons by id (a course's lessons too), for the live view to show
 * names rather than ids.
 */
export function assignmentsPanel(classId, { onTitles = () => {} } = {}) {
  const id = encodeURIComponent(classId);
  const list = h('ul', { class: 'assignments', 'aria-label': 'Assigned lessons', 'data-testid': 'assignments' });
  const status = h('p', { class: 'muted', role: 'status', 'data-testid': 'assign-status' });
  const course = h('select', { id: 'assign-course', name: 'course', required: true },
    h('option', { value: '' }, 'Choose a course…'));
  const lesson = h('select', { id: 'assign-lesson', name: 'lesson' }, h('option', { value: '' }, 'The whole course'));
  const due = h('input', { id: 'assign-due', name: 'due', type: 'date' });

  async function reload() {
    try {
      const answer = await api(`/api/v1/classes/${id}/assignments`);
      render(answer.assignments);
      const titles = new Map();
      for (const assignment of answer.assignments) {
        if (assignment.lesson_id) {
          titles.set(assignment.lesson_id, assignment.title);
        } else {
          const lessons = await all(`/api/v1/courses/${encodeURIComponent(assignment.course_id)}/lessons`);
          for (const lesson of lessons) titles.set(lesson.id, lesson.title);
        }
      }
      onTitles(titles);
    } catch (error) {
      status.textContent = `Could not load the assignments: ${error.message}`;
    }
  }

  function render(assignments) {
    if (assignments.length === 0) {
      replace(list, h('li', { class: 'muted' }, 'Nothing assigned yet.'));
      return;
    }
    replace(list, assignments.map((assignment) => h('li', { class: 'assignment', 'data-testid': 'assignment' },
      h('span', { class: 'assignment-title' }, assignment.title, assignment.lesson_id ? '' : ' (course)'),
      h('span', { class: 'muted' }, assignment.due_at ? ` · due ${assignment.due_at.slice(0, 10)}` : ''),
      h('span', { class: 'assignment-done', 'data-testid': 'assignment-done' },
        ` · ${assignment.completed}/${assignment.students} completed`),
      h('button', {
        type: 'button',
        class: 'button small',
        'aria-label': `Remove the assignment ${assignment.title}`,
        onclick: () => remove(assignment),
      }, 'Remove'))));
  }

  async function remove(assignment) {
    try {
      await api(`/api/v1/classes/${id}/assignments/${encodeURIComponent(assignment.id)}`, { method: 'DELETE' });
      announce(`Removed ${assignment.title}`);
      status.textContent = `Removed ${assignment.title}.`;
      await reload();
    } catch (error) {
      status.textContent = `Could not remove it: ${error.message}`;
    }
  }

  async function loadLessons() {
    replace(lesson, h('option', { value: '' }, 'The whole course'));
    if (!course.value) return;
    try {
      const lessons = await all(`/api/v1/courses/${encodeURIComponent(course.value)}/lessons`);
      for (const item of lessons) lesson.append(h('option', { value: item.id }, item.title));
    } catch (error) {
      status.textContent = `Could not load the lessons: ${error.message}`;
    }
  }
  course.addEventListener('change', loadLessons);

  async function assign(event) {
    event.preventDefault();
    if (!course.value) {
      status.textContent = 'Choose a course (and, if you like, one of its lessons) first.';
      return;
    }
    const body = lesson.value ? { lesson_id: lesson.value } : { course_id: course.value };
    if (due.value) body.due_at = `${due.value}T23:59:59Z`;
    try {
      const made = await api(`/api/v1/classes/${id}/assignments`, { method: 'POST', body });
      status.textContent = `Assigned ${made.title}.`;
      announce(`Assigned ${made.title}`);
      await reload();
    } catch (error) {
      status.textContent = `Could not assign it: ${error.message}`;
    }
  }

  // The course list is read when the panel opens and again whenever the teacher comes back to
  // it, so a course made since appears without a reload.
  async function loadCourses() {
    try {
      const courses = await all('/api/v1/courses');
      const chosen = course.value;
      replace(course, h('option', { value: '' }, 'Choose a course…'),
        courses.map((item) => h('option', { value: item.id, selected: item.id === chosen }, item.title)));
    } catch (error) {
      status.textContent = `Could not load the courses: ${error.message}`;
    }
  }
  course.addEventListener('focus', loadCourses);
  loadCourses();

  const element = h('section', { class: 'panel', 'aria-labelledby': 'assigned-title' },
    h('h2', { id: 'assigned-title', text: 'Assigned lessons' }),
    list,
    h('form', { class: 'assign-form', onsubmit: assign, 'aria-label': 'Assign a lesson' },
      h('label', { for: 'assign-course' }, 'Course'), course,
      h('label', { for: 'assign-lesson' }, 'Lesson'), lesson,
      h('label', { for: 'assign-due' }, 'Due (optional)'), due,
      h('button', { type: 'submit', class: 'button', 'data-testid': 'assign' }, 'Assign')),
    status);
  reload();
  return {
    element,
    reload,
    /** Reads completion again soon (coalesced: many finishes in a second cost one call). */
    soon: coalesced(reload, 1000),
  };
}
