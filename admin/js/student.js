// "My learning" (students): the lessons their classes were given (due date, where to play it,
// their completion) and their rewards (points, days in a row, badges, the newest rewards).
// REST: GET me/lessons, GET users/{me}/rewards.

import { api } from './api.js';
import { h, notice, pct, replace } from './dom.js';

export function showStudent(main, me, ctx) {
  let stopped = false;
  replace(main, h('h1', { text: 'My learning' }), h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  Promise.all([
    api('/api/v1/me/lessons'),
    api(`/api/v1/users/${encodeURIComponent(me.user.id)}/rewards`),
  ]).then(([mine, rewards]) => {
    if (stopped) return;
    replace(main,
      h('h1', { text: 'My learning' }),
      h('section', { class: 'panel', 'aria-labelledby': 'my-lessons-title' },
        h('h2', { id: 'my-lessons-title', text: 'My lessons' }),
        mine.lessons.length === 0
          ? notice('empty', 'Nothing assigned yet', 'Your teacher has not given your classes a lesson yet.')
          : h('ul', { class: 'assignments', 'data-testid': 'my-lessons' },
            mine.lessons.map((lesson) => h('li', { class: 'assignment', 'data-testid': 'my-lesson' },
              h('strong', {}, lesson.title),
              h('span', { class: 'muted' }, ` · ${lesson.course_title} · ${lesson.class_name}`),
              lesson.due_at ? h('span', { class: 'muted' }, ` · due ${lesson.due_at.slice(0, 10)}`) : null,
              lesson.roblox_place_id ? h('span', { class: 'muted' }, ` · play it in Roblox place ${lesson.roblox_place_id}`) : null,
              h('span', { class: 'assignment-done' }, ` · ${pct(lesson.completion_percent)} done`))))),
      h('section', { class: 'panel', 'aria-labelledby': 'my-rewards-title' },
        h('h2', { id: 'my-rewards-title', text: 'My rewards' }),
        h('p', { 'data-testid': 'my-points' },
          h('strong', {}, `${rewards.points} points`),
          ` · ${rewards.streak_days} ${rewards.streak_days === 1 ? 'day' : 'days'} in a row`,
          rewards.badges.length ? ` · ${rewards.badges.length} ${rewards.badges.length === 1 ? 'badge' : 'badges'}` : ''),
        h('ol', { class: 'feed', 'aria-label': 'Newest rewards' },
          rewards.recent.map((reward) => h('li', {},
            `${reward.points ? `${reward.points} points` : 'a badge'}`,
            reward.reason ? ` for “${reward.reason}”` : '',
            h('span', { class: 'muted' }, ` · ${reward.source === 'game' ? 'in the game' : 'from your teacher'} · ${reward.created_at.slice(0, 10)}`))))));
  }).catch((error) => {
    if (!stopped) ctx.onError(error, () => showStudent(main, me, ctx));
  });
  return () => { stopped = true; };
}
