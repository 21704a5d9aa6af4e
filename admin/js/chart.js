// The class completion chart: one horizontal stacked bar per lesson (completed, in progress,
// not started), as inline SVG with a text summary for screen readers.

import { h } from './dom.js';

const ROW = 34;
const LABEL = 120;
const WIDTH = 520;
const BAR = WIDTH - LABEL - 70;

/**
 * rows: [{ lesson, done, started, total }], newest lesson last. Returns an <svg>.
 */
export function completionChart(rows) {
  const height = Math.max(1, rows.length) * ROW + 8;
  const summary = rows.length === 0
    ? 'No progress yet'
    : rows.map((row) => `${row.lesson}: ${row.done} of ${row.total} completed, ${row.started} in progress`).join('; ');
  const svg = h('svg:svg', {
    viewBox: `0 0 ${WIDTH} ${height}`,
    role: 'img',
    'aria-label': `Completion by lesson. ${summary}.`,
    class: 'chart',
    'data-testid': 'completion-chart',
  });
  rows.forEach((row, index) => {
    const y = 4 + index * ROW;
    const total = Math.max(1, row.total);
    const doneWidth = (row.done / total) * BAR;
    const startedWidth = (row.started / total) * BAR;
    svg.append(
      h('svg:text', { x: 0, y: y + 19, class: 'chart-label' }, row.lesson),
      h('svg:rect', { x: LABEL, y: y + 4, width: BAR, height: 20, rx: 3, class: 'chart-track' }),
      h('svg:rect', { x: LABEL, y: y + 4, width: doneWidth, height: 20, rx: 3, class: 'chart-done' },
        h('svg:title', {}, `${row.done} completed`)),
      h('svg:rect', { x: LABEL + doneWidth, y: y + 4, width: startedWidth, height: 20, class: 'chart-started' },
        h('svg:title', {}, `${row.started} in progress`)),
      h('svg:text', { x: LABEL + BAR + 8, y: y + 19, class: 'chart-value' }, `${row.done}/${row.total}`),
    );
  });
  return svg;
}
