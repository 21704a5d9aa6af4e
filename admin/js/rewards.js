// The live class's "Rewards" panel: the class's leaderboard (first names and points earned in
// the class; the teacher sees it always) and the switch that shows it to the students. Read
// again shortly after a reward is sent (the live view calls `soon`).
// REST: GET/PUT classes/{id}/leaderboard.

import { api } from './api.js';
import { announce, coalesced, h, replace } from './dom.js';

/** The panel for class `classId`: `{ element, soon }`. */
export function rewardsPanel(classId) {
  const id = encodeURIComponent(classId);
  const list = h('ol', { class: 'leaderboard', 'aria-label': 'Leaderboard', 'data-testid': 'leaderboard' });
  const status = h('p', { class: 'muted', role: 'status' });
  const toggle = h('input', { id: 'leaderboard-on', type: 'checkbox', 'data-testid': 'leaderboard-on' });

  async function reload() {
    try {
      const board = await api(`/api/v1/classes/${id}/leaderboard`);
      toggle.checked = board.enabled;
      if (board.entries.length === 0) {
        replace(list, h('li', { class: 'muted' }, 'No points yet.'));
        return;
      }
      replace(list, board.entries.map((line) => h('li', { 'data-testid': 'leader' },
        h('span', { class: 'rank' }, `${line.rank}.`), ` ${line.first_name} `,
        h('strong', {}, `${line.points} points`))));
    } catch (error) {
      status.textContent = `Could not load the leaderboard: ${error.message}`;
    }
  }

  toggle.addEventListener('change', async () => {
    const enabled = toggle.checked;
    try {
      await api(`/api/v1/classes/${id}/leaderboard`, { method: 'PUT', body: { enabled } });
      const said = enabled ? 'Students now see the leaderboard.' : 'The leaderboard is hidden from students.';
      status.textContent = said;
      announce(said);
    } catch (error) {
      toggle.checked = !enabled;
      status.textContent = `Could not change it: ${error.message}`;
    }
  });

  reload();
  return {
    element: h('section', { class: 'panel', 'aria-labelledby': 'rewards-title' },
      h('h2', { id: 'rewards-title', text: 'Rewards' }),
      list,
      h('p', {}, toggle, h('label', { for: 'leaderboard-on' }, ' Show the leaderboard (first names and points) to students')),
      status),
    /** Reads the leaderboard again soon (many rewards in a second cost one call). */
    soon: coalesced(reload, 1000),
  };
}
