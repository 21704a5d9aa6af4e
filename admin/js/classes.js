// "My classes": the classes the signed-in teacher teaches (an admin: every class of the
// tenant), each linking to its live view.

import { all } from './api.js';
import { h, notice, replace } from './dom.js';

export async function showClasses(main, { onError }) {
  replace(main, h('h1', { text: 'My classes' }), h('p', { class: 'muted', role: 'status' }, 'Loading your classes…'));
  let classes;
  try {
    classes = await all('/api/v1/classes');
  } catch (error) {
    onError(error, () => showClasses(main, { onError }));
    return;
  }
  if (classes.length === 0) {
    replace(main, h('h1', { text: 'My classes' }), notice('empty', 'No classes yet',
      [
        'Classes are created by your platform (or with POST /api/v1/classes). To see a live classroom right now, run ',
        h('code', { text: 'classhub serve --demo' }),
        ' and open the link it prints.',
      ]));
    return;
  }
  classes.sort((a, b) => a.name.localeCompare(b.name));
  replace(main,
    h('h1', { text: 'My classes' }),
    h('ul', { class: 'class-list', 'aria-label': 'Classes' },
      classes.map((klass) => h('li', { class: 'class-card' },
        h('h2', {}, h('a', { href: `#/classes/${encodeURIComponent(klass.id)}`, 'data-testid': 'class-link' }, klass.name)),
        h('p', { class: 'muted' }, 'Class code ', h('strong', { class: 'code', text: klass.class_code })),
        h('a', { class: 'button', href: `#/classes/${encodeURIComponent(klass.id)}`, 'aria-label': `Open the live view of ${klass.name}` }, 'Open live view')))));
}
