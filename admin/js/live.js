// The live class view. Loads the class, its live snapshot (roster, who is online, progress
// summary) and per-lesson progress over REST, then joins the class room on the socket and
// keeps everything current from its frames:
//   joined / presence_diff  -> who is in game, on the web, offline; game servers connected
//   event progress          -> the student's progress bar and the completion chart
//   event quiz_answer       -> the quiz answers table
//   event command_status    -> the delivered / acked state of a sent command
//   command                 -> a command sent (by this teacher or another) appears in the list
//   event chat*             -> the class chat panel (`chat.js`): shown, held, deleted, released
// Every event also goes to the event feed, which can be filtered by kind and student.

import { api, all } from './api.js';
import { assignmentsPanel } from './assignments.js';
import { chatPanel } from './chat.js';
import { rewardsPanel } from './rewards.js';
import { completionChart } from './chart.js';
import { announce, clock, h, notice, pct, replace } from './dom.js';
import { LiveSocket } from './socket.js';

const FEED_MAX = 200;
const QUIZ_MAX = 60;
const FEED_KINDS = [
  ['progress', 'Progress'],
  ['quiz', 'Quiz answers'],
  ['checkpoint', 'Checkpoints'],
  ['command', 'Commands'],
  ['chat', 'Chat'],
  ['presence', 'Joins and leaves'],
  ['other', 'Other'],
];
const ACTIONS = [
  ['announce', 'Announce'],
  ['quiz', 'Push a quiz'],
  ['reward', 'Reward'],
  ['freeze', 'Freeze'],
  ['unfreeze', 'Unfreeze'],
];
const STATUS_TEXT = {
  sent: 'Sent, waiting for a game server',
  none: 'Sent; no game server is connected',
  delivered: 'Delivered',
  acked: 'Acknowledged',
  expired: 'Expired before delivery',
};

export function showLive(main, classId, ctx) {
  const view = new LiveView(main, classId, ctx);
  view.load();
  return () => view.close();
}

class LiveView {
  constructor(main, classId, ctx) {
    this.main = main;
    this.classId = classId;
    this.ctx = ctx;
    this.students = new Map(); // id -> { id, name, lessons: Map lesson -> percent, current, at }
    this.members = new Map(); // user -> { user, name, role, state }
    this.feed = [];
    this.quiz = [];
    this.commands = new Map(); // command id -> { id, kind, data, target, ts, sessions, statuses }
    this.rows = new Map(); // student id -> row elements
    this.lessonChoice = '';
    this.lessonTitles = new Map(); // lesson id -> title, for the assigned lessons
    this.feedKinds = new Set(FEED_KINDS.map(([kind]) => kind));
    this.feedStudent = '';
    this.pending = new Set();
    this.closed = false;
  }

  close() {
    this.closed = true;
    this.socket?.stop();
  }

  async load() {
    replace(this.main, h('h1', { text: 'Live class' }), h('p', { class: 'muted', role: 'status' }, 'Loading the class…'));
    const id = encodeURIComponent(this.classId);
    let klass;
    let live;
    let progress;
    try {
      [klass, live, progress] = await Promise.all([
        api(`/api/v1/classes/${id}`),
        api(`/api/v1/classes/${id}/live`),
        all(`/api/v1/progress/classes/${id}`, 10000),
      ]);
    } catch (error) {
      if (!this.closed) this.ctx.onError(error, () => this.load());
      return;
    }
    if (this.closed) return;
    this.klass = klass;
    this.room = live.room;
    for (const student of live.students) {
      this.students.set(student.user_id, {
        id: student.user_id,
        name: student.display_name || student.user_id,
        linkCode: student.link_code,
        lessons: new Map(),
        current: null,
        at: '',
      });
    }
    for (const row of progress) {
      const student = this.student(row.user_id);
      student.lessons.set(row.lesson_id, row.completion_percent);
      if (row.updated_at >= student.at) {
        student.at = row.updated_at;
        student.current = row.lesson_id;
      }
    }
    for (const member of live.online) {
      if (member.room === live.room) this.members.set(member.user, member);
    }
    this.render();
    this.socket = new LiveSocket({
      token: this.ctx.token(),
      onMessage: (frame) => this.onFrame(frame),
      onStatus: (state, detail) => this.ctx.setConnStatus(state, detail),
      onAuthFailed: (message) => this.ctx.onAuthFailed(message),
    });
    this.socket.join(this.room, { status: 'on_web', view: 'dashboard' });
    this.socket.start();
  }

  student(id) {
    if (!this.students.has(id)) {
      this.students.set(id, { id, name: id, lessons: new Map(), current: null, at: '', offRoster: true });
    }
    return this.students.get(id);
  }

  nameOf(user) {
    return this.students.get(user)?.name || this.members.get(user)?.name || user;
  }

  // ---- frames -------------------------------------------------------------------------------

  onFrame(frame) {
    if (this.closed) return;
    switch (frame.type) {
      case 'joined':
        if (frame.room !== this.room) return;
        if (!frame.recovered) this.members.clear();
        for (const member of frame.members) this.members.set(member.user, member);
        for (const missed of frame.missed || []) this.onFrame(missed);
        this.refresh('roster', 'presence');
        break;
      case 'presence_diff':
        if (frame.room !== this.room) return;
        for (const member of frame.joins || []) {
          this.members.set(member.user, member);
          if (!isGameServer(member)) this.addFeed({ kind: 'presence', ts: Date.now(), user: member.user, text: `${member.name || this.nameOf(member.user)} joined ${sourceOf(member) === 'game' ? 'the game' : 'on the web'}` });
        }
        for (const member of frame.updates || []) this.members.set(member.user, member);
        for (const left of frame.leaves || []) {
          const member = this.members.get(left.user);
          this.members.delete(left.user);
          if (!member || !isGameServer(member)) this.addFeed({ kind: 'presence', ts: Date.now(), user: left.user, text: `${this.nameOf(left.user)} left (${left.reason.replace(/_/g, ' ')})` });
        }
        this.refresh('roster', 'presence');
        break;
      case 'event':
        if (frame.room !== this.room) return;
        this.onEvent(frame);
        break;
      case 'command':
        if (frame.room !== this.room) return;
        this.onCommand(frame);
        break;
      default:
        break;
    }
  }

  onEvent(frame) {
    const data = frame.data || {};
    if (frame.kind === 'award') this.rewards?.soon();
    if (frame.kind.startsWith('chat')) {
      this.chat?.onEvent(frame);
      if (frame.kind === 'chat') this.addFeed({ kind: 'chat', id: frame.id, ts: frame.ts, user: frame.from, text: `${this.nameOf(frame.from)}: ${data.text ?? ''}` });
      if (frame.kind === 'chat_deleted') {
        // A deleted message leaves every screen, the event feed included.
        this.feed = this.feed.filter((item) => item.kind !== 'chat' || item.id !== data.id);
        this.refresh('feed');
      }
      if (frame.kind === 'chat_held') this.addFeed({ kind: 'chat', ts: frame.ts, user: frame.from, text: `${this.nameOf(frame.from)}'s message is held for you` });
      return;
    }
    switch (frame.kind) {
      case 'progress': {
        const who = typeof data.student === 'string' ? data.student : frame.from;
        const student = this.student(who);
        const percent = Math.max(student.lessons.get(String(data.lesson)) || 0, Number(data.percent) || 0);
        student.lessons.set(String(data.lesson), percent);
        student.current = String(data.lesson);
        this.addFeed({ kind: 'progress', ts: frame.ts, user: who, text: `${this.nameOf(who)} reached ${pct(data.percent)} in ${this.titleOf(data.lesson)}` });
        this.refresh('roster', 'chart');
        if (Number(data.percent) >= 100) this.assignments?.soon();
        break;
      }
      case 'quiz_answer': {
        const answer = {
          ts: frame.ts,
          user: frame.from,
          question: String(data.prompt || data.question || '?'),
          answer: data.answer === undefined ? '' : String(data.answer),
          correct: data.correct,
        };
        this.quiz.unshift(answer);
        this.quiz.length = Math.min(this.quiz.length, QUIZ_MAX);
        const result = answer.correct === true ? 'correct' : answer.correct === false ? 'wrong' : 'answered';
        this.addFeed({ kind: 'quiz', ts: frame.ts, user: frame.from, text: `${this.nameOf(frame.from)} answered “${answer.question}”: ${answer.answer} (${result})` });
        this.refresh('quiz');
        break;
      }
      case 'command_status': {
        const command = this.command(data.command_id, { kind: data.kind, target: data.target, ts: frame.ts });
        if (data.session_id) {
          const previous = command.statuses.get(data.session_id);
          // acked is final: a late 'delivered' (a redelivery) must not demote it.
          if (previous?.status !== 'acked') command.statuses.set(data.session_id, { status: data.status, job: data.job_id });
        }
        const status = overall(command);
        this.addFeed({ kind: 'command', ts: frame.ts, user: data.target || '', text: `${label(command.kind)} ${data.status} by game server ${data.job_id || data.session_id}` });
        if (status === 'acked') announce(`${label(command.kind)} acknowledged by the game`);
        this.refresh('commands');
        break;
      }
      case 'checkpoint':
        this.addFeed({ kind: 'checkpoint', ts: frame.ts, user: frame.from, text: `${this.nameOf(frame.from)} reached checkpoint ${data.name || ''}`.trim() });
        break;
      default:
        this.addFeed({ kind: 'other', ts: frame.ts, user: frame.from, text: `${this.nameOf(frame.from)}: ${frame.kind} ${compact(data)}` });
    }
  }

  onCommand(frame) {
    const data = frame.data || {};
    const command = this.command(frame.id || `${frame.room}#${frame.seq}`, { kind: frame.kind, target: data.target, ts: frame.ts, data });
    const to = command.target ? this.nameOf(command.target) : 'the class';
    this.addFeed({ kind: 'command', ts: frame.ts, user: command.target || '', text: `${label(frame.kind)} sent to ${to}${frame.from ? ` by ${this.nameOf(frame.from)}` : ''}` });
    this.refresh('commands');
    if (frame.kind === 'reward') this.rewards?.soon();
  }

  command(id, { kind, target, ts, data } = {}) {
    if (!this.commands.has(id)) {
      this.commands.set(id, { id, kind, target, ts: ts || Date.now(), data: data || {}, sessions: null, statuses: new Map() });
    }
    const command = this.commands.get(id);
    command.kind = command.kind || kind;
    command.target = command.target || target;
    if (data && Object.keys(command.data).length === 0) command.data = data;
    return command;
  }

  addFeed(item) {
    this.feed.unshift(item);
    this.feed.length = Math.min(this.feed.length, FEED_MAX);
    this.refresh('feed');
  }

  /** Re-renders the named sections once, at the next frame. */
  refresh(...sections) {
    for (const section of sections) this.pending.add(section);
    if (this.scheduled) return;
    this.scheduled = requestAnimationFrame(() => {
      this.scheduled = null;
      const sections = [...this.pending];
      this.pending.clear();
      for (const section of sections) this[`render_${section}`]?.();
    });
  }

  // ---- rendering ----------------------------------------------------------------------------

  render() {
    const klass = this.klass;
    this.els = {
      servers: h('span', { class: 'servers', 'data-testid': 'game-servers' }),
      online: h('span', { 'data-testid': 'online-count' }),
      roster: h('tbody'),
      presence: h('ul', { class: 'presence-list', 'aria-label': 'Online now', 'data-testid': 'presence-list' }),
      chart: h('div', { class: 'chart-box' }),
      quiz: h('div', { class: 'quiz' }),
      feed: h('ol', { class: 'feed', 'aria-label': 'Events, newest first', 'data-testid': 'feed' }),
      commands: h('ol', { class: 'commands', 'aria-label': 'Commands sent', 'data-testid': 'commands' }),
      lesson: h('select', { id: 'lesson-choice', onchange: (event) => { this.lessonChoice = event.target.value; this.refresh('roster'); } }),
      target: h('select', { id: 'command-target', name: 'target' }),
      exportStatus: h('span', { class: 'muted', role: 'status' }),
    };
    const form = this.commandForm();
    this.rewards = rewardsPanel(this.classId);
    this.chat = chatPanel(this.classId, {
      nameOf: (user) => this.nameOf(user),
      isStudent: (user) => this.students.has(user) && !this.students.get(user).offRoster,
    });
    this.assignments = assignmentsPanel(this.classId, {
      onTitles: (titles) => { this.lessonTitles = titles; this.refresh('roster', 'chart'); },
    });
    replace(this.main,
      h('div', { class: 'live-head' },
        h('div', {},
          h('p', { class: 'crumbs' }, h('a', { href: '#/classes' }, 'My classes'), ' / live'),
          h('h1', { text: klass.name }),
          h('p', { class: 'muted' }, 'Class code ', h('strong', { class: 'code', text: klass.class_code }), ' · ', this.els.online, ' · ', this.els.servers)),
        h('div', { class: 'head-actions' },
          h('button', { type: 'button', class: 'button', onclick: () => this.exportCsv(), 'data-testid': 'export-csv' }, 'Export CSV'),
          this.els.exportStatus)),
      h('div', { class: 'live-grid' },
        h('section', { class: 'panel roster-panel', 'aria-labelledby': 'roster-title' },
          h('div', { class: 'panel-head' },
            h('h2', { id: 'roster-title', text: 'Roster' }),
            h('label', { for: 'lesson-choice', class: 'inline-label' }, 'Progress in ', this.els.lesson)),
          h('table', { class: 'roster', 'data-testid': 'roster' },
            h('caption', { class: 'visually-hidden' }, 'Students, their presence and progress'),
            h('thead', {}, h('tr', {},
              h('th', { scope: 'col' }, 'Student'),
              h('th', { scope: 'col' }, 'Presence'),
              h('th', { scope: 'col' }, 'Progress'),
              h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, 'Actions')))),
            this.els.roster)),
        h('div', { class: 'side' },
          h('section', { class: 'panel', 'aria-labelledby': 'actions-title' },
            h('h2', { id: 'actions-title', text: 'Send to the game' }),
            form,
            h('h3', { text: 'Sent commands' }),
            this.els.commands),
          h('section', { class: 'panel', 'aria-labelledby': 'presence-title' },
            h('h2', { id: 'presence-title', text: 'Online now' }),
            this.els.presence),
          this.chat.element,
          this.assignments.element,
          this.rewards.element,
          h('section', { class: 'panel', 'aria-labelledby': 'chart-title' },
            h('h2', { id: 'chart-title', text: 'Completion' }),
            this.els.chart),
          h('section', { class: 'panel', 'aria-labelledby': 'quiz-title' },
            h('h2', { id: 'quiz-title', text: 'Quiz answers' }),
            this.els.quiz)),
        h('section', { class: 'panel feed-panel', 'aria-labelledby': 'feed-title' },
          h('h2', { id: 'feed-title', text: 'Live events' }),
          this.feedFilters(),
          this.els.feed)));
    this.render_roster();
    this.render_presence();
    this.render_chart();
    this.render_quiz();
    this.render_feed();
    this.render_commands();
  }

  commandForm() {
    const kind = h('select', { id: 'command-kind', name: 'kind' },
      ACTIONS.map(([value, text]) => h('option', { value }, text)));
    const fields = {
      announce: h('div', { class: 'field', 'data-for': 'announce' },
        h('label', { for: 'announce-text' }, 'Message'),
        h('input', { id: 'announce-text', name: 'text', type: 'text', maxlength: 280, placeholder: 'e.g. Five minutes left!' })),
      quiz: h('div', { class: 'field', 'data-for': 'quiz' },
        h('label', { for: 'quiz-question' }, 'Question'),
        h('input', { id: 'quiz-question', name: 'question', type: 'text', maxlength: 280 }),
        h('label', { for: 'quiz-choices' }, 'Choices (comma-separated, optional)'),
        h('input', { id: 'quiz-choices', name: 'choices', type: 'text', placeholder: '1/2, 2/3, 3/4' })),
      reward: h('div', { class: 'field', 'data-for': 'reward' },
        h('label', { for: 'reward-points' }, 'Points'),
        h('input', { id: 'reward-points', name: 'points', type: 'number', min: 0, max: 100000, value: 10 }),
        h('label', { for: 'reward-badge' }, 'Badge id (optional)'),
        h('input', { id: 'reward-badge', name: 'badge', type: 'text', inputmode: 'numeric', placeholder: 'Roblox badge id' })),
    };
    const status = h('p', { class: 'form-status', role: 'status', 'data-testid': 'command-status' });
    const showFields = () => {
      for (const [name, element] of Object.entries(fields)) element.hidden = name !== kind.value;
    };
    kind.addEventListener('change', showFields);
    const form = h('form', { class: 'command-form', 'aria-label': 'Send a command' },
      h('div', { class: 'field-row' },
        h('div', { class: 'field' }, h('label', { for: 'command-target' }, 'To'), this.els.target),
        h('div', { class: 'field' }, h('label', { for: 'command-kind' }, 'Action'), kind)),
      Object.values(fields),
      h('button', { type: 'submit', class: 'button primary', 'data-testid': 'send-command' }, 'Send'),
      status);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const built = buildCommand(kind.value, form);
      if (built.error) {
        status.textContent = built.error;
        status.className = 'form-status error';
        return;
      }
      await this.send(kind.value, built.data, this.els.target.value || null, status);
    });
    this.els.kind = kind;
    showFields();
    return form;
  }

  async send(kind, data, studentId, status) {
    const body = { kind, data };
    if (studentId) body.student_id = studentId;
    const to = studentId ? this.nameOf(studentId) : 'the class';
    status.className = 'form-status';
    status.textContent = `Sending ${label(kind).toLowerCase()} to ${to}…`;
    try {
      const sent = await api(`/api/v1/classes/${encodeURIComponent(this.classId)}/commands`, { method: 'POST', body });
      const command = this.command(sent.command_id, { kind, target: studentId || undefined, ts: Date.now(), data });
      command.sessions = sent.game_sessions;
      status.textContent = sent.game_sessions === 0
        ? `${label(kind)} sent to ${to}, but no game server is connected to this class.`
        : `${label(kind)} sent to ${to}.`;
      this.refresh('commands');
    } catch (error) {
      status.className = 'form-status error';
      status.textContent = error.unreachable ? error.message : `Not sent: ${error.message}`;
      if (error.unauthorized) this.ctx.onAuthFailed(error.message);
    }
  }

  feedFilters() {
    const students = h('select', { id: 'feed-student', onchange: (event) => { this.feedStudent = event.target.value; this.refresh('feed'); } });
    this.els.feedStudent = students;
    return h('fieldset', { class: 'filters' },
      h('legend', {}, 'Show'),
      FEED_KINDS.map(([kind, text]) => h('label', { class: 'check' },
        h('input', {
          type: 'checkbox', checked: true, value: kind, 'data-testid': `filter-${kind}`,
          onchange: (event) => {
            if (event.target.checked) this.feedKinds.add(kind); else this.feedKinds.delete(kind);
            this.refresh('feed');
          },
        }), ` ${text}`)),
      h('label', { for: 'feed-student', class: 'inline-label' }, 'Student ', students));
  }

  /** An assigned lesson's title, else its id as the game sent it. */
  titleOf(lesson) {
    return this.lessonTitles.get(String(lesson)) || String(lesson);
  }

  render_roster() {
    const lessons = this.lessons();
    if (this.lessonChoice && !lessons.includes(this.lessonChoice)) this.lessonChoice = '';
    const choices = [['', "Each student's current lesson"], ...lessons.map((lesson) => [lesson, this.titleOf(lesson)])];
    syncOptions(this.els.lesson, choices, this.lessonChoice);
    const students = this.sortedStudents();
    // The pickers list students by name, so their options do not move as presence changes.
    const byName = [...students].sort((a, b) => a.name.localeCompare(b.name)).map((student) => [student.id, student.name]);
    syncOptions(this.els.target, [['', 'Whole class'], ...byName], this.els.target.value);
    if (this.els.feedStudent) syncOptions(this.els.feedStudent, [['', 'All students'], ...byName], this.feedStudent);
    if (students.length === 0) {
      replace(this.els.roster, h('tr', {}, h('td', { colspan: 4 }, notice('empty', 'No students on this roster yet', 'Add students to the class, and they appear here with their presence and progress.'))));
      return;
    }
    const body = this.els.roster;
    if (body.querySelector('td[colspan]')) body.replaceChildren();
    const focused = document.activeElement;
    students.forEach((student, index) => {
      let row = this.rows.get(student.id);
      if (!row) {
        row = this.makeRow(student);
        this.rows.set(student.id, row);
      }
      this.fillRow(row, student);
      // Move only rows out of place: a moved row loses keyboard focus, so most never move.
      if (body.children[index] !== row.tr) body.insertBefore(row.tr, body.children[index] || null);
    });
    while (body.children.length > students.length) body.lastElementChild.remove();
    if (focused && focused !== document.activeElement && body.contains(focused)) focused.focus({ preventScroll: true });
    let online = 0;
    for (const student of students) if (this.presenceOf(student.id) !== 'offline') online += 1;
    this.els.online.textContent = `${online} of ${students.length} online`;
  }

  makeRow(student) {
    const status = h('span', { class: 'chip' });
    const bar = h('div', { class: 'bar-fill' });
    const barText = h('span', { class: 'bar-text' });
    const meter = h('div', { class: 'bar', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100 }, bar);
    const reward = h('button', {
      type: 'button', class: 'button small', 'data-testid': 'reward',
      onclick: () => this.send('reward', { points: rewardPoints(this.main) }, student.id, this.main.querySelector('[data-testid="command-status"]')),
    }, 'Reward');
    reward.setAttribute('aria-label', `Reward ${student.name} with points`);
    const tr = h('tr', { 'data-student': student.id },
      h('th', { scope: 'row' }, student.name,
        student.linkCode ? h('span', { class: 'link-code code', title: 'Personal link code: the student types it in game after the class code', 'data-testid': 'link-code' }, student.linkCode) : null),
      h('td', {}, status),
      h('td', { class: 'progress-cell' }, meter, barText),
      h('td', { class: 'row-actions' }, reward));
    return { tr, status, bar, barText, meter };
  }

  fillRow(row, student) {
    const presence = this.presenceOf(student.id);
    row.tr.dataset.presence = presence;
    row.status.className = `chip chip-${presence}`;
    row.status.textContent = { game: 'In game', web: 'On web', offline: 'Offline' }[presence];
    const lesson = this.lessonChoice || student.current;
    const percent = lesson ? student.lessons.get(lesson) || 0 : 0;
    row.bar.style.width = `${percent}%`;
    row.bar.classList.toggle('done', percent >= 100);
    row.meter.setAttribute('aria-valuenow', String(Math.round(percent)));
    const title = lesson ? this.titleOf(lesson) : '';
    row.meter.setAttribute('aria-label', `${student.name}: ${lesson ? `${title} ${pct(percent)}` : 'no progress yet'}`);
    row.tr.dataset.percent = String(Math.round(percent));
    row.barText.textContent = lesson ? `${pct(percent)} · ${title}` : 'not started';
  }

  presenceOf(user) {
    const member = this.members.get(user);
    if (!member) return 'offline';
    return sourceOf(member) === 'game' ? 'game' : 'web';
  }

  sortedStudents() {
    const rank = { game: 0, web: 1, offline: 2 };
    return [...this.students.values()]
      .filter((student) => !student.offRoster || this.members.has(student.id))
      .sort((a, b) => rank[this.presenceOf(a.id)] - rank[this.presenceOf(b.id)] || a.name.localeCompare(b.name));
  }

  lessons() {
    const seen = new Set();
    for (const student of this.students.values()) for (const lesson of student.lessons.keys()) seen.add(lesson);
    return [...seen].sort();
  }

  render_presence() {
    const people = [...this.members.values()].filter((member) => !isGameServer(member));
    const servers = [...this.members.values()].filter(isGameServer);
    this.els.servers.textContent = servers.length === 1 ? '1 game server connected' : `${servers.length} game servers connected`;
    if (people.length === 0) {
      replace(this.els.presence, h('li', { class: 'muted' }, 'Nobody is online in this class right now.'));
    } else {
      people.sort((a, b) => this.nameOf(a.user).localeCompare(this.nameOf(b.user)));
      replace(this.els.presence, people.map((member) => {
        const source = sourceOf(member);
        return h('li', { 'data-user': member.user, 'data-source': source },
          h('span', { class: `dot dot-${source}`, 'aria-hidden': 'true' }),
          `${this.nameOf(member.user)} `,
          h('span', { class: 'muted' }, member.role === 'student' ? (source === 'game' ? 'in game' : 'on web') : member.role));
      }));
    }
    this.render_roster();
  }

  render_chart() {
    const total = [...this.students.values()].filter((student) => !student.offRoster).length;
    const rows = this.lessons().map((lesson) => {
      let done = 0;
      let started = 0;
      for (const student of this.students.values()) {
        const percent = student.lessons.get(lesson);
        if (percent === undefined) continue;
        if (percent >= 100) done += 1; else started += 1;
      }
      return { lesson: this.titleOf(lesson), done, started, total: Math.max(total, done + started) };
    });
    if (rows.length === 0) {
      replace(this.els.chart, h('p', { class: 'muted' }, 'No progress yet. Bars appear as students play.'));
      return;
    }
    replace(this.els.chart, completionChart(rows),
      h('p', { class: 'legend', 'aria-hidden': 'true' },
        h('span', { class: 'swatch swatch-done' }), ' completed ',
        h('span', { class: 'swatch swatch-started' }), ' in progress'));
  }

  render_quiz() {
    if (this.quiz.length === 0) {
      replace(this.els.quiz, h('p', { class: 'muted' }, 'No answers yet. Push a quiz, or wait for the game’s questions.'));
      return;
    }
    const tally = new Map();
    for (const answer of this.quiz) {
      const entry = tally.get(answer.question) || { right: 0, total: 0 };
      entry.total += 1;
      if (answer.correct === true) entry.right += 1;
      tally.set(answer.question, entry);
    }
    replace(this.els.quiz,
      h('ul', { class: 'tally', 'aria-label': 'Correct answers per question' },
        [...tally.entries()].map(([question, entry]) => h('li', {}, h('strong', {}, `${entry.right}/${entry.total}`), ` correct · ${question}`))),
      h('table', { class: 'quiz-table', 'data-testid': 'quiz-answers' },
        h('caption', { class: 'visually-hidden' }, 'Quiz answers, newest first'),
        h('thead', {}, h('tr', {}, ['Time', 'Student', 'Question', 'Answer'].map((text) => h('th', { scope: 'col' }, text)))),
        h('tbody', {}, this.quiz.slice(0, 15).map((answer) => h('tr', {},
          h('td', {}, clock(answer.ts)),
          h('td', {}, this.nameOf(answer.user)),
          h('td', {}, answer.question),
          h('td', { class: answer.correct === true ? 'right' : answer.correct === false ? 'wrong' : '' },
            answer.answer, ' ', answer.correct === true ? '✓' : answer.correct === false ? '✗' : '',
            answer.correct === true || answer.correct === false ? h('span', { class: 'visually-hidden' }, answer.correct ? ' correct' : ' wrong') : null))))));
  }

  render_feed() {
    const shown = this.feed.filter((item) => this.feedKinds.has(item.kind) && (!this.feedStudent || item.user === this.feedStudent));
    if (shown.length === 0) {
      replace(this.els.feed, h('li', { class: 'muted' }, this.feed.length === 0 ? 'Waiting for events from the game…' : 'No events match these filters.'));
      return;
    }
    replace(this.els.feed, shown.slice(0, 80).map((item) => h('li', { class: `feed-${item.kind}`, 'data-kind': item.kind },
      h('time', {}, clock(item.ts)), ' ', item.text)));
  }

  render_commands() {
    const commands = [...this.commands.values()].sort((a, b) => b.ts - a.ts).slice(0, 20);
    if (commands.length === 0) {
      replace(this.els.commands, h('li', { class: 'muted' }, 'Nothing sent yet.'));
      return;
    }
    replace(this.els.commands, commands.map((command) => {
      const status = overall(command);
      const counts = countStatuses(command);
      const detail = status === 'acked' || status === 'delivered'
        ? ` (${counts.acked ? `${counts.acked} acked` : ''}${counts.acked && counts.delivered ? ', ' : ''}${counts.delivered ? `${counts.delivered} delivered` : ''})`
        : '';
      return h('li', { 'data-command-id': command.id, 'data-status': status, 'data-kind': command.kind, 'data-target': command.target || '' },
        h('span', { class: 'command-what' }, `${label(command.kind)}${describe(command)} → ${command.target ? this.nameOf(command.target) : 'whole class'}`),
        h('span', { class: `chip chip-status-${status}` }, STATUS_TEXT[status] + detail),
        h('time', { class: 'muted' }, clock(command.ts)));
    }));
  }

  async exportCsv() {
    const status = this.els.exportStatus;
    status.textContent = 'Preparing the report…';
    try {
      const response = await api(`/api/v1/analytics/classes/${encodeURIComponent(this.classId)}/report.csv`, { raw: true });
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: `${this.klass.name.replace(/[^\w-]+/g, '-')}-report.csv`, hidden: true });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      status.textContent = 'Report downloaded.';
    } catch (error) {
      status.textContent = `Export failed: ${error.message}`;
    }
  }
}

// ---- helpers ------------------------------------------------------------------------------

function isGameServer(member) {
  return member?.state?.kind === 'game_server';
}

function sourceOf(member) {
  return member?.state?.in_game || member?.state?.source === 'roblox' ? 'game' : 'web';
}

function label(kind) {
  return (ACTIONS.find(([value]) => value === kind) || [kind, kind ? kind[0].toUpperCase() + kind.slice(1) : 'Command'])[1];
}

function describe(command) {
  const data = command.data || {};
  if (command.kind === 'reward') {
    const parts = [];
    if (data.points) parts.push(`${data.points} points`);
    if (data.badge_id) parts.push(`badge ${data.badge_id}`);
    return parts.length ? ` (${parts.join(', ')})` : '';
  }
  if (command.kind === 'announce' && data.text) return ` “${data.text}”`;
  if (command.kind === 'quiz' && data.question) return ` “${data.question}”`;
  return '';
}

function countStatuses(command) {
  const counts = { acked: 0, delivered: 0, expired: 0 };
  for (const { status } of command.statuses.values()) counts[status] = (counts[status] || 0) + 1;
  return counts;
}

function overall(command) {
  const counts = countStatuses(command);
  if (counts.acked) return 'acked';
  if (counts.delivered) return 'delivered';
  if (counts.expired) return 'expired';
  return command.sessions === 0 ? 'none' : 'sent';
}

function compact(data) {
  const text = JSON.stringify(data);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

function rewardPoints(main) {
  const value = Number(main.querySelector('#reward-points')?.value);
  return Number.isFinite(value) && value > 0 ? Math.round(value) : 10;
}

/** Validates the command form's fields for `kind`: { data } or { error }. */
function buildCommand(kind, form) {
  const value = (name) => form.elements[name]?.value.trim() || '';
  switch (kind) {
    case 'announce':
      return value('text') ? { data: { text: value('text') } } : { error: 'Write the message to announce.' };
    case 'quiz': {
      if (!value('question')) return { error: 'Write the quiz question.' };
      const choices = value('choices').split(',').map((choice) => choice.trim()).filter(Boolean);
      return { data: choices.length ? { question: value('question'), choices } : { question: value('question') } };
    }
    case 'reward': {
      const data = {};
      const points = Number(value('points'));
      if (value('points') && (!Number.isInteger(points) || points < 0)) return { error: 'Points must be a whole number.' };
      if (points > 0) data.points = points;
      if (value('badge')) {
        if (!/^\d+$/.test(value('badge'))) return { error: 'A badge id is a number (from the Creator Hub).' };
        data.badge_id = Number(value('badge'));
      }
      return Object.keys(data).length ? { data } : { error: 'Give points, a badge id, or both.' };
    }
    default:
      return { data: {} };
  }
}

/** Sets a select's options (value, text) without losing the selection or focus. */
function syncOptions(select, options, selected) {
  const same = select.options.length === options.length
    && options.every(([value, text], index) => select.options[index].value === value && select.options[index].text === text);
  if (!same) {
    replace(select, options.map(([value, text]) => h('option', { value }, text)));
  }
  select.value = options.some(([value]) => value === selected) ? selected : '';
}
