// The operator view (admins): GET /api/v1/admin/overview every two seconds while the page is
// visible — nodes, connections, rooms, live game sessions, the durable-event sink's queue depth
// and commit latency, and recent warnings and errors.

import { api } from './api.js';
import { ago, clock, h, notice, replace } from './dom.js';

const PERIOD_MS = 2000;

export function showOperator(main, ctx) {
  let timer = null;
  let stopped = false;
  let failures = 0;
  const tiles = h('div', { class: 'tiles' });
  const body = h('div', { class: 'stack' });
  const updated = h('p', { class: 'muted', role: 'status', 'aria-live': 'off' });
  replace(main,
    h('div', { class: 'live-head' },
      h('div', {}, h('h1', { text: 'Operator view' }), updated)),
    tiles, body);
  replace(body, h('p', { class: 'muted', role: 'status' }, 'Loading…'));

  const tick = async () => {
    timer = null;
    if (stopped) return;
    try {
      const overview = await api('/api/v1/admin/overview');
      if (stopped) return;
      failures = 0;
      render(overview);
      ctx.clearBanner();
    } catch (error) {
      if (stopped) return;
      failures += 1;
      if (error.status === 403) {
        replace(tiles);
        replace(body, notice('error', 'For admins only', `The operator view needs the admin role. ${error.message}`));
        return;
      }
      if (error.unauthorized) return; // the shell asks for a new token
      if (failures === 1 && !tiles.hasChildNodes()) {
        replace(body, notice('error', 'Cannot load the overview', error.message));
      }
      ctx.showBanner(error.unreachable ? `${error.message} Retrying…` : `The overview failed: ${error.message}`);
    }
    schedule();
  };
  const schedule = () => {
    if (stopped || timer) return;
    timer = setTimeout(tick, document.hidden ? PERIOD_MS * 5 : PERIOD_MS);
  };
  const render = (overview) => {
    const node = overview.nodes[0] || {};
    const sink = overview.sink;
    updated.textContent = `Tenant ${overview.tenant} · updated ${clock(overview.now_ms)}`;
    replace(tiles,
      tile('Connections', node.connections, 'open WebSockets on this node', 'connections'),
      tile('Rooms', node.rooms, 'live rooms, all tenants', 'rooms'),
      tile('Game servers', node.game_sessions, 'live Roblox sessions', 'game-sessions'),
      tile('Sink queue', `${sink.queue_depth}`, `of ${sink.queue_capacity} events waiting to be written`, 'sink-queue'),
      tile('Commit latency', sink.commit_p50_ms === null ? '–' : `${sink.commit_p50_ms} ms`,
        sink.commit_p99_ms === null ? 'no commits yet' : `median; p99 ${sink.commit_p99_ms} ms over ${sink.commits} commits`, 'commit-latency'),
      tile('Rows written', sink.rows_written, `${sink.retries} retries, ${sink.refused} refused`, 'rows-written'));
    replace(body,
      section('Nodes', overview.nodes.length === 0 ? null : table(
        ['Node', 'Address', 'Version', 'Status', 'Up', 'Connections', 'Rooms', 'Database'],
        overview.nodes.map((entry) => [entry.id, entry.bind, entry.version, entry.status, ago(entry.uptime_secs).replace(' ago', ''), entry.connections, entry.rooms, entry.database]),
        'nodes'), 'One node: clustering over Redis is not enabled.'),
      section(`Rooms of ${overview.tenant}`, overview.rooms.length === 0 ? null : table(
        ['Room', 'Kind', 'Members', 'Connections'],
        overview.rooms.map((room) => [room.id, room.kind, room.members, room.connections]),
        'rooms'), 'No live rooms in this tenant.'),
      section('Game sessions', overview.game_sessions.length === 0 ? null : table(
        ['Session', 'JobId', 'Class', 'Players', 'Commands waiting', 'Last heard'],
        overview.game_sessions.map((session) => [session.id, session.job_id, session.class_id || '–', session.players, session.pending_commands, ago(session.last_seen_secs)]),
        'game-sessions'), 'No Roblox game server is connected.'),
      section('Recent warnings and errors', overview.errors.length === 0 ? null : h('ol', { class: 'errors', 'data-testid': 'errors' },
        overview.errors.map((entry) => h('li', { class: `level-${entry.level}` },
          h('time', {}, clock(entry.ts)), ' ',
          h('strong', {}, entry.level.toUpperCase()), ' ',
          entry.message, ' ',
          h('span', { class: 'muted' }, `${entry.target}${entry.fields ? ` · ${entry.fields}` : ''}`)))),
      'Nothing logged at warning level or above.'));
  };

  document.addEventListener('visibilitychange', onVisible);
  function onVisible() {
    if (!document.hidden && timer) {
      clearTimeout(timer);
      timer = null;
      tick();
    }
  }
  tick();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    document.removeEventListener('visibilitychange', onVisible);
  };
}

function tile(title, value, caption, testid) {
  return h('div', { class: 'tile', 'data-testid': `tile-${testid}` },
    h('h2', { text: title }),
    h('p', { class: 'tile-value', 'data-testid': `value-${testid}` }, String(value ?? '–')),
    h('p', { class: 'muted' }, caption));
}

function section(title, content, empty) {
  return h('section', { class: 'panel' }, h('h2', { text: title }), content || h('p', { class: 'muted' }, empty));
}

function table(headers, rows, testid) {
  return h('div', { class: 'table-wrap' }, h('table', { 'data-testid': `table-${testid}` },
    h('thead', {}, h('tr', {}, headers.map((text) => h('th', { scope: 'col' }, text)))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((cell) => h('td', {}, String(cell))))))));
}
