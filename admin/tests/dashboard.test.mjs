// The dashboard in a real browser: Debian's Chromium, driven by playwright-core, against the
// real classhub binary (CLASSHUB_BIN), with a Roblox game server played by this test over HTTP
// (its key made with `classhub gamekey create`). Screenshots of each step go to screenshots/.
// Run by .ci/run after `cargo build --bin classhub`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { deflateSync } from 'node:zlib';
import WebSocket from 'ws';
import { chromium } from 'playwright-core';

const BIN = process.env.CLASSHUB_BIN;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SECRET = 'dashboard-suite-secret-0123456789';
const TENANT = 'school';
const UNIVERSE = 42;
const PATIENCE_MS = 15_000;
const HERE = path.dirname(fileURLToPath(import.meta.url));
const SHOTS = path.join(HERE, 'screenshots');

const servers = [];
let base;
let browser;
let context;
let page;
let gameKey;
let classId;
let classCode;
let sessionId;
let commandCursor = 0;
const consoleErrors = [];
const tokens = {};

/** Starts `classhub serve` on a free port; resolves with { child, base, stdout lines }. */
async function serve(dataDir, extraArgs = []) {
  const child = spawn(BIN, ['serve', '--bind', '127.0.0.1:0', '--data-dir', dataDir, ...extraArgs], {
    env: { ...process.env, CLASSHUB_JWT_SECRET: SECRET, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servers.push(child);
  const lines = [];
  const address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('classhub did not print its address')), PATIENCE_MS);
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop();
      for (const line of parts) {
        lines.push(line);
        const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      }
    });
    child.on('exit', (code) => reject(new Error(`classhub exited early with ${code}`)));
  });
  return { child, base: address, lines };
}

function mint(role, sub, name) {
  const args = ['token', '--tenant', TENANT, '--role', role, '--sub', sub, '--jwt-secret', SECRET];
  if (name) args.push('--name', name);
  return execFileSync(BIN, args, { encoding: 'utf8' }).trim();
}

/** An HS256 token signed here, expired an hour ago (the dashboard must say so, not fail). */
function expiredToken() {
  const encode = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const body = `${encode({ alg: 'HS256', typ: 'JWT' })}.${encode({ sub: 't1', tenant: TENANT, role: 'educator', iat: now - 7200, exp: now - 3600 })}`;
  return `${body}.${createHmac('sha256', SECRET).update(body).digest('base64url')}`;
}

/**
 * A stand-in for the OpenAI API (the one service this suite cannot reach), answering chat
 * completions (JSON, not streamed) and moderations in their documented shapes. Resolves with
 * its base URL.
 */
async function openAiStandIn() {
  const CATEGORIES = ['harassment', 'harassment/threatening', 'hate', 'hate/threatening', 'illicit', 'illicit/violent',
    'self-harm', 'self-harm/intent', 'self-harm/instructions', 'sexual', 'sexual/minors', 'violence', 'violence/graphic'];
  const each = (value) => Object.fromEntries(CATEGORIES.map((name) => [name, value]));
  const stand = createServer((request, response) => {
    let text = '';
    request.on('data', (chunk) => { text += chunk; });
    request.on('end', () => {
      const now = Math.floor(Date.now() / 1000);
      const reply = request.url.endsWith('/moderations')
        ? { id: 'modr-1', model: 'omni-moderation-latest', results: [{ flagged: false, categories: each(false), category_scores: each(0.001), category_applied_input_types: each(['text']) }] }
        : {
          id: 'chatcmpl-1', object: 'chat.completion', created: now, model: 'gpt-test',
          choices: [{ index: 0, message: { role: 'assistant', content: '# Fractions at the bakery\n\nA fraction is part of a whole.', refusal: null }, logprobs: null, finish_reason: 'stop' }],
          usage: { prompt_tokens: 100, completion_tokens: 50, total_tokens: 150 },
        };
      response.writeHead(200, { 'Content-Type': 'application/json' });
      response.end(JSON.stringify(reply));
    });
  });
  servers.push({ kill: () => stand.close(), exitCode: 0 });
  await new Promise((resolve) => stand.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${stand.address().port}/v1`;
}

/** A small, valid PNG (width x height, one colour), made here so the suite needs no files. */
function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const byte of bytes) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
    const sum = Buffer.alloc(4);
    sum.writeUInt32BE(crc(body));
    return Buffer.concat([length, body, sum]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.alloc(width * 3, 0x4a)]);
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', pixels), chunk('IEND', Buffer.alloc(0))]);
}

async function call(method, url, bearer, body) {
  const response = await fetch(`${base}${url}`, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, ...(body ? { 'Content-Type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  const json = text ? JSON.parse(text) : null;
  assert.ok(response.ok, `${method} ${url}: ${response.status} ${text}`);
  return json;
}

const game = (method, url, body) => call(method, url, gameKey, body);

async function shot(name, target = page) {
  await target.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
}

function watchConsole(target) {
  target.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(`${target.url()}: ${message.text()}`);
  });
  target.on('pageerror', (error) => consoleErrors.push(`${target.url()}: ${error.message}`));
}

before(async () => {
  assert.ok(BIN, 'set CLASSHUB_BIN to the classhub binary');
  mkdirSync(SHOTS, { recursive: true });
  const dataDir = mkdtempSync(path.join(tmpdir(), 'classhub-dashboard-'));
  // The game-server key, made the way an operator makes one.
  gameKey = execFileSync(BIN, ['gamekey', 'create', '--tenant', TENANT, '--universe', String(UNIVERSE), '--label', 'browser test', '--data-dir', dataDir], { encoding: 'utf8' }).trim().split('\n')[0];
  assert.match(gameKey, /^chgk_/);
  const openai = await openAiStandIn();
  const server = await serve(dataDir, ['--openai-api-key', 'sk-test-openai', '--openai-base-url', openai, '--ai-model', 'gpt-test']);
  base = server.base;
  tokens.admin = mint('admin', 'admin1', 'Ops Olu');
  tokens.teacher = mint('educator', 't1', 'Ms Rivera');
  for (const [id, role, name] of [['t1', 'educator', 'Ms Rivera'], ['s1', 'student', 'Ada'], ['s2', 'student', 'Bo'], ['s3', 'student', 'Chen']]) {
    await call('POST', '/api/v1/users', tokens.admin, { id, role, display_name: name });
  }
  const klass = await call('POST', '/api/v1/classes', tokens.admin, { name: 'Fractions 7B', teacher_id: 't1' });
  classId = klass.id;
  classCode = klass.class_code;
  await call('POST', `/api/v1/classes/${classId}/students`, tokens.admin, { user_ids: ['s1', 's2', 's3'] });
  // Each student proves who they are with the personal link code their teacher sees on the roster.
  const roster = await call('GET', `/api/v1/classes/${classId}/students`, tokens.admin);
  const linkCodes = Object.fromEntries(roster.items.map((member) => [member.id, member.link_code]));
  for (const [userId, student] of [[1001, 's1'], [1002, 's2']]) {
    await game('POST', '/api/v1/roblox/link', { class_code: classCode, student_code: linkCodes[student], user_id: userId });
  }
  const opened = await game('POST', '/api/v1/roblox/sessions', { universe_id: UNIVERSE, place_id: 1, job_id: 'job-browser-1', class_code: classCode });
  sessionId = opened.session_id;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
  watchConsole(page);
});

after(async () => {
  await browser?.close();
  for (const child of servers) child.kill('SIGTERM');
  await Promise.all(servers.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve() : child.on('exit', resolve)))));
});

test('a teacher signs in with the printed link and opens a class', async () => {
  await page.goto(`${base}/dashboard#token=${tokens.teacher}`);
  // The token leaves the address bar at once.
  await page.waitForFunction(() => !location.hash.includes('token='));
  const link = page.getByRole('link', { name: 'Fractions 7B', exact: true });
  await link.waitFor();
  await shot('01-my-classes');
  await link.click();
  await page.locator('tr[data-student="s1"]').waitFor();
  assert.equal(await page.locator('[data-testid="roster"] tbody tr').count(), 3);
  assert.equal(await page.locator('tr[data-presence="offline"]').count(), 3);
  // Each student's personal link code, which the student types in game after the class code.
  assert.match(await page.locator('tr[data-student="s1"] [data-testid="link-code"]').textContent(), /^[A-HJKMNP-Z2-9]{6}$/);
  await page.locator('#conn-status[data-state="live"]').waitFor();
  assert.match(await page.locator('[data-testid="game-servers"]').textContent(), /1 game server connected/);
  await shot('02-live-class-empty');
});

test('game server events move the roster, the progress bars and the quiz answers without a reload', async () => {
  await page.evaluate(() => { window.notReloaded = true; });
  await game('POST', `/api/v1/roblox/sessions/${sessionId}/players`, {
    joins: [{ user_id: 1001, name: 'ada_plays', display_name: 'Ada' }, { user_id: 1002, name: 'bo_plays', display_name: 'Bo' }],
  });
  await page.locator('tr[data-student="s1"][data-presence="game"]').waitFor();
  await page.locator('tr[data-student="s2"][data-presence="game"]').waitFor();
  await page.locator('[data-testid="presence-list"] li[data-user="s1"][data-source="game"]').waitFor();
  const answer = await game('POST', '/api/v1/roblox/events', {
    session_id: sessionId,
    events: [
      { id: 'evt-1', player: 1001, kind: 'progress', data: { lesson: 'fractions-1', percent: 40 } },
      { id: 'evt-2', player: 1002, kind: 'progress', data: { lesson: 'fractions-1', percent: 100 } },
      { id: 'evt-3', player: 1002, kind: 'quiz_answer', data: { question: 'q1', prompt: 'What is 1/2 + 1/4?', answer: '3/4', correct: true } },
    ],
  });
  assert.deepEqual(answer.accepted.sort(), ['evt-1', 'evt-2', 'evt-3']);
  await page.locator('tr[data-student="s1"][data-percent="40"]').waitFor();
  await page.locator('tr[data-student="s2"][data-percent="100"]').waitFor();
  const bar = page.locator('tr[data-student="s1"] [role="progressbar"]');
  assert.equal(await bar.getAttribute('aria-valuenow'), '40');
  await page.locator('[data-testid="quiz-answers"] td', { hasText: 'What is 1/2 + 1/4?' }).waitFor();
  await page.locator('[data-testid="completion-chart"]').waitFor();
  await page.locator('[data-testid="feed"] li', { hasText: 'Ada reached 40% in fractions-1' }).waitFor();
  // The feed's filters hide what is unticked.
  await page.getByLabel('Progress', { exact: true }).uncheck();
  await page.locator('[data-testid="feed"] li[data-kind="progress"]').first().waitFor({ state: 'detached' });
  await page.locator('[data-testid="feed"] li[data-kind="quiz"]').waitFor();
  await page.getByLabel('Progress', { exact: true }).check();
  await page.locator('[data-testid="feed"] li[data-kind="progress"]').nth(1).waitFor();
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  await shot('03-live-class-playing');
});

test('the teacher assigns a lesson from the live class, the game reads it, and completion follows play', async () => {
  const course = await call('POST', '/api/v1/courses', tokens.teacher, { title: 'Fractions', published: true });
  const lesson = await call('POST', `/api/v1/courses/${course.id}/lessons`, tokens.teacher, { title: 'Halves', published: true, roblox_place_id: 1 });
  // Made after the live class opened: it appears when the teacher comes back to the list.
  await page.focus('#assign-course');
  await page.locator('#assign-course option', { hasText: 'Fractions' }).waitFor({ state: 'attached' });
  await page.selectOption('#assign-course', course.id);
  await page.locator('#assign-lesson option', { hasText: 'Halves' }).waitFor({ state: 'attached' });
  await page.selectOption('#assign-lesson', lesson.id);
  await page.fill('#assign-due', '2030-01-15');
  await page.getByRole('button', { name: 'Assign', exact: true }).click();
  const row = page.locator('[data-testid="assignment"]', { hasText: 'Halves' });
  await row.waitFor();
  assert.match(await row.textContent(), /due 2030-01-15/);
  assert.match(await row.locator('[data-testid="assignment-done"]').textContent(), /0\/3 completed/);
  // The game reads the assigned lesson with its key; Ada finishes it in game.
  const read = await game('GET', `/api/v1/roblox/lessons/${lesson.id}`);
  assert.equal(read.lesson.title, 'Halves');
  const done = await game('POST', '/api/v1/roblox/events', {
    session_id: sessionId,
    events: [{ id: 'evt-assigned-1', player: 1001, kind: 'progress', data: { lesson: lesson.id, percent: 100 } }],
  });
  assert.deepEqual(done.accepted, ['evt-assigned-1']);
  await page.locator('[data-testid="assignment-done"]', { hasText: '1/3 completed' }).waitFor();
  await shot('03b-assigned-lessons');
});

test('reward (from the keyboard) reaches the game server long-poll and the UI shows delivered, then acked', async () => {
  const poll = call('GET', `/api/v1/roblox/sessions/${sessionId}/commands?after=${commandCursor}&wait=20`, gameKey);
  const reward = page.locator('tr[data-student="s1"] [data-testid="reward"]');
  await reward.focus();
  await page.keyboard.press('Enter');
  const polled = await poll;
  commandCursor = polled.cursor;
  assert.equal(polled.commands.length, 1, JSON.stringify(polled));
  const command = polled.commands[0];
  assert.equal(command.kind, 'reward');
  assert.equal(command.target, 's1');
  assert.equal(command.roblox_user_id, 1001);
  assert.equal(command.data.points, 10);
  const item = page.locator(`[data-testid="commands"] li[data-command-id="${command.id}"]`);
  await page.locator(`[data-testid="commands"] li[data-command-id="${command.id}"][data-status="delivered"]`).waitFor();
  await game('POST', `/api/v1/roblox/sessions/${sessionId}/commands/ack`, { ids: [command.id] });
  await page.locator(`[data-testid="commands"] li[data-command-id="${command.id}"][data-status="acked"]`).waitFor();
  assert.match(await item.textContent(), /Reward \(10 points\) → Ada/);
  await shot('04-reward-acked');
});

test('the rewards panel ranks the class by points and the teacher shows it to students', async () => {
  // Ada's 10 points from the reward above, by first name only.
  const leader = page.locator('[data-testid="leader"]', { hasText: '10 points' });
  await leader.waitFor();
  assert.match(await leader.textContent(), /1\.\s*Ada\s*10 points/);
  const student = await call('GET', `/api/v1/classes/${classId}/leaderboard`, mint('student', 's2', 'Bo'));
  assert.equal(student.enabled, false);
  assert.deepEqual(student.entries, []);
  await page.getByLabel('Show the leaderboard (first names and points) to students').check();
  await page.getByText('Students now see the leaderboard.').waitFor();
  const shown = await call('GET', `/api/v1/classes/${classId}/leaderboard`, mint('student', 's2', 'Bo'));
  assert.equal(shown.entries[0].first_name, 'Ada');
  await shot('04b-rewards-panel');
});

test('the class chat panel shows, holds, releases, deletes and mutes', async () => {
  const ada = mint('student', 's1', 'Ada');
  const chat = `/api/v1/classes/${classId}/chat`;
  await call('PUT', '/api/v1/chat/blocklist', tokens.admin, { words: ['darn'] });
  await call('POST', chat, ada, { text: 'hello teacher' });
  const line = page.locator('[data-testid="chat-line"]', { hasText: 'hello teacher' });
  await line.waitFor();
  assert.match(await line.textContent(), /Ada: hello teacher/);
  const sent = await call('POST', chat, ada, { text: 'oh darn it' });
  assert.equal(sent.state, 'held');
  const held = page.locator('[data-testid="chat-held-line"]', { hasText: 'oh darn it' });
  await held.waitFor();
  assert.match(await held.textContent(), /blocklist:darn/);
  await shot('04d-chat-held');
  await held.getByRole('button', { name: 'Show to class' }).click();
  await page.locator('[data-testid="chat-line"]', { hasText: 'oh darn it' }).waitFor();
  await held.waitFor({ state: 'detached' });
  await line.getByRole('button', { name: "Delete Ada's message" }).click();
  // Gone from the screen with the live tombstone; stored no more once the call answers.
  await line.waitFor({ state: 'detached' });
  await page.getByText('The message is deleted for everyone.').waitFor();
  await page.locator('[data-testid="feed"]').getByText('Ada: hello teacher').waitFor({ state: 'detached' });
  const page1 = await call('GET', chat, mint('student', 's2', 'Bo'));
  assert.deepEqual(page1.items.map((item) => item.text), ['oh darn it']);
  await page.locator('[data-testid="chat-line"]', { hasText: 'oh darn it' }).getByRole('button', { name: 'Mute Ada for 10 minutes' }).click();
  await page.locator('[data-testid="chat-muted"]', { hasText: 'Ada' }).waitFor();
  const refused = await fetch(`${base}${chat}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ada}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ text: 'still here?' }),
  });
  assert.equal(refused.status, 403);
  await page.locator('[data-testid="chat-slow"]').selectOption('30');
  await page.getByText('Slow mode: one message every 30 s.').waitFor();
  await page.locator('[data-testid="chat-muted"]').getByRole('button', { name: 'Unmute' }).click();
  await page.locator('[data-testid="chat-muted"]').waitFor({ state: 'detached' });
  await page.getByLabel('Message to the class').fill('Great work, everyone');
  await page.locator('[data-testid="chat-send"]').click();
  await page.locator('[data-testid="chat-line"]', { hasText: 'Great work, everyone' }).waitFor();
  await shot('04e-chat-panel');
});

test("a student's page lists their assigned lessons and their rewards", async () => {
  const studentPage = await context.newPage();
  watchConsole(studentPage);
  await studentPage.goto(`${base}/dashboard#token=${mint('student', 's1', 'Ada')}`);
  await studentPage.locator('[data-testid="my-points"]').waitFor();
  await shot('04c-student-page', studentPage);
  await studentPage.locator('[data-testid="my-lesson"]', { hasText: 'Halves' }).waitFor();
  assert.match(await studentPage.locator('[data-testid="my-points"]').textContent(), /10 points/);
  await shot('04c-student-page', studentPage);
  await studentPage.close();
});

test('an announcement to the whole class from the form reaches the game server', async () => {
  const poll = call('GET', `/api/v1/roblox/sessions/${sessionId}/commands?after=${commandCursor}&wait=20`, gameKey);
  await page.getByLabel('Action', { exact: true }).selectOption('announce');
  await page.getByLabel('Message', { exact: true }).fill('Five minutes left!');
  await page.getByRole('button', { name: 'Send', exact: true }).click();
  const polled = await poll;
  commandCursor = polled.cursor;
  const announced = polled.commands.find((command) => command.kind === 'announce');
  assert.ok(announced, JSON.stringify(polled));
  assert.equal(announced.data.text, 'Five minutes left!');
  await page.locator(`li[data-command-id="${announced.id}"][data-status="delivered"]`).waitFor();
});

test('a student who goes offline leaves the presence list', async () => {
  await game('POST', `/api/v1/roblox/sessions/${sessionId}/players`, { leaves: [{ user_id: 1001 }] });
  await page.locator('[data-testid="presence-list"] li[data-user="s1"]').waitFor({ state: 'detached' });
  await page.locator('tr[data-student="s1"][data-presence="offline"]').waitFor();
  assert.equal(await page.locator('[data-testid="presence-list"] li[data-user="s2"]').count(), 1);
  await page.locator('[data-testid="feed"] li', { hasText: 'Ada left' }).waitFor();
  await shot('05-student-offline');
});

test('a student on the web shows as on web, and offline once their socket closes', async () => {
  const student = mint('student', 's3', 'Chen');
  const socket = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?token=${student}`, 'classhub.v1.json');
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'welcome') ws.send(JSON.stringify({ type: 'join', ref: 1, room: `class:${TENANT}:${classId}`, presence: { status: 'on_web' } }));
      if (frame.type === 'joined') resolve(ws);
      if (frame.type === 'error') reject(new Error(frame.message));
    });
    ws.on('error', reject);
  });
  await page.locator('tr[data-student="s3"][data-presence="web"]').waitFor();
  await page.locator('[data-testid="presence-list"] li[data-user="s3"][data-source="web"]').waitFor();
  socket.close();
  await page.locator('tr[data-student="s3"][data-presence="offline"]').waitFor();
});

test('export CSV downloads the class report', async () => {
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Export CSV' }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^Fractions-7B-report\.csv$/);
  const file = path.join(SHOTS, 'report.csv');
  await download.saveAs(file);
  const csv = readFileSync(file, 'utf8');
  assert.match(csv.split('\n')[0], /student/i);
  assert.match(csv, /Bo/);
});

test('on a tablet the live class is one readable column without sideways scrolling', async () => {
  const tablet = await browser.newContext({ viewport: { width: 820, height: 1180 }, hasTouch: true });
  const tabletPage = await tablet.newPage();
  watchConsole(tabletPage);
  await tabletPage.goto(`${base}/dashboard#token=${tokens.teacher}&class=${classId}`);
  await tabletPage.locator('tr[data-student="s2"][data-presence="game"]').waitFor();
  const overflow = await tabletPage.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow}px`);
  await shot('06-tablet', tabletPage);
  await tablet.close();
});

test('the operator view shows live connection counts', async () => {
  const admin = await context.newPage();
  watchConsole(admin);
  await admin.goto(`${base}/dashboard#token=${tokens.admin}&view=operator`);
  const value = admin.locator('[data-testid="value-connections"]');
  await value.waitFor();
  const before = Number(await value.textContent());
  assert.ok(before >= 1, `the teacher's dashboard socket counts: ${before}`);
  const sockets = await Promise.all([1, 2, 3].map(() => new Promise((resolve, reject) => {
    const socket = new WebSocket(`${base.replace('http', 'ws')}/ws?token=${tokens.teacher}`, 'classhub.v1.json');
    socket.on('message', (data) => {
      if (JSON.parse(data.toString()).type === 'welcome') resolve(socket);
    });
    socket.on('error', reject);
  })));
  await admin.waitForFunction((expected) => Number(document.querySelector('[data-testid="value-connections"]').textContent) === expected, before + 3, { timeout: PATIENCE_MS });
  await admin.locator('[data-testid="table-game-sessions"] td', { hasText: 'job-browser-1' }).waitFor();
  await admin.locator('[data-testid="table-rooms"] td', { hasText: `class:${TENANT}:${classId}` }).waitFor();
  await shot('07-operator', admin);
  await Promise.all(sockets.map((socket) => new Promise((resolve) => { socket.on('close', resolve); socket.close(); })));
  await admin.waitForFunction((expected) => Number(document.querySelector('[data-testid="value-connections"]').textContent) === expected, before, { timeout: PATIENCE_MS });
  await admin.close();
});

test('the live class works from the keyboard: a skip link first, and every control labelled', async () => {
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const keys = await fresh.newPage();
  watchConsole(keys);
  await keys.goto(`${base}/dashboard#token=${tokens.teacher}&class=${classId}`);
  await keys.locator('tr[data-student="s2"]').waitFor();
  await keys.keyboard.press('Tab');
  assert.equal(await keys.evaluate(() => document.activeElement.className), 'skip-link');
  await keys.keyboard.press('Enter');
  assert.equal(await keys.evaluate(() => document.activeElement.id), 'main');
  assert.match(await keys.evaluate(() => location.hash), /^#\/classes\//, 'the skip link keeps the route');
  await keys.keyboard.press('Tab');
  assert.equal(await keys.evaluate(() => document.activeElement.textContent), 'My classes');
  const unlabelled = await keys.evaluate(() => [...document.querySelectorAll('main input, main select, main textarea, main button')]
    .filter((control) => !(control.labels?.length || control.getAttribute('aria-label') || control.textContent.trim()))
    .map((control) => control.outerHTML));
  assert.deepEqual(unlabelled, []);
  await fresh.close();
});

test('a teacher does not see the operator view', async () => {
  await page.goto(`${base}/dashboard#token=${tokens.teacher}`);
  await page.getByRole('link', { name: 'Fractions 7B', exact: true }).waitFor();
  assert.equal(await page.locator('#nav-operator').isVisible(), false);
});

test("an admin sees each student's consent, exports their data and erases one after confirming", async () => {
  await call('PUT', '/api/v1/users/s1/consent', tokens.admin, { state: 'granted' });
  const admin = await context.newPage();
  watchConsole(admin);
  await admin.goto(`${base}/dashboard#token=${tokens.admin}`);
  await admin.locator('#nav-privacy').click();
  await admin.locator('tr[data-student="s1"] [data-testid="consent"]', { hasText: 'granted by admin1 (admin)' }).waitFor();
  assert.match(await admin.locator('tr[data-student="s2"] [data-testid="consent"]').textContent(), /^pending/);

  // Export: one JSON document, and the same as CSV files in a zip.
  const [json] = await Promise.all([
    admin.waitForEvent('download'),
    admin.getByRole('button', { name: "Export s1's data as JSON" }).click(),
  ]);
  const jsonFile = path.join(SHOTS, 'export-s1.json');
  await json.saveAs(jsonFile);
  const exported = JSON.parse(readFileSync(jsonFile, 'utf8'));
  assert.equal(exported.format, 'classhub.export.v1');
  assert.equal(exported.user.id, 's1');
  assert.equal(exported.consent.state, 'granted');
  assert.equal(exported.roblox_players[0].roblox_user_id, 1001);
  const [zip] = await Promise.all([
    admin.waitForEvent('download'),
    admin.getByRole('button', { name: "Export s1's data as CSV files" }).click(),
  ]);
  assert.match(zip.suggestedFilename(), /^classhub-export-s1\.zip$/);
  const zipFile = path.join(SHOTS, 'export-s1.zip');
  await zip.saveAs(zipFile);
  assert.equal(readFileSync(zipFile).subarray(0, 2).toString(), 'PK');

  // Erase: the button works only once the id is typed.
  await admin.getByRole('button', { name: 'Erase s3' }).click();
  const dialog = admin.locator('[data-testid="erase-dialog"]');
  await dialog.waitFor();
  const confirm = dialog.getByRole('button', { name: 'Erase for good' });
  assert.equal(await confirm.isDisabled(), true);
  await dialog.getByLabel('Type s3 to confirm').fill('s2');
  assert.equal(await confirm.isDisabled(), true);
  await dialog.getByLabel('Type s3 to confirm').fill('s3');
  await shot('08-erase-confirm', admin);
  await confirm.click();
  await admin.locator('[data-testid="privacy-status"]', { hasText: 'Erased s3' }).waitFor();
  await admin.locator('tr[data-student="s3"]').waitFor({ state: 'detached' });
  await admin.locator('[data-testid="audit"] tr[data-action="user.erased"]').waitFor();
  await admin.locator('[data-testid="audit"] tr[data-action="user.exported"]').first().waitFor();
  await shot('09-students-data', admin);
  const roster = await call('GET', `/api/v1/classes/${classId}/students`, tokens.admin);
  assert.deepEqual(roster.items.map((member) => member.id).sort(), ['s1', 's2']);
  await admin.close();
});

test('the content library finds lessons by words and filters, and restores an earlier version', async () => {
  const course = await call('POST', '/api/v1/courses', tokens.teacher, { title: 'Kitchen maths', subject: 'math', grade_min: 4, grade_max: 6, published: true });
  const pizza = await call('POST', `/api/v1/courses/${course.id}/lessons`, tokens.teacher, {
    title: 'Slicing a pizza', tags: ['food'], difficulty: 'introductory', duration_minutes: 20,
    objectives: ['Name halves and quarters'], content: { steps: [{ text: 'Cut the pizza into equal fractions' }] },
  });
  await call('POST', `/api/v1/courses/${course.id}/lessons`, tokens.teacher, { title: 'Measuring flour', tags: ['food'], difficulty: 'advanced', content: { steps: [{ text: 'Weigh grams of flour' }] } });
  await call('PATCH', `/api/v1/lessons/${pizza.id}`, tokens.teacher, { title: 'Pizza fractions' });

  await page.goto(`${base}/dashboard#token=${tokens.teacher}`);
  await page.locator('#nav-library').click();
  const results = page.locator('[data-testid="library-results"]');
  await results.locator('li', { hasText: 'Measuring flour' }).waitFor();
  // Words are stemmed ("fraction" finds "fractions" in the lesson text); a filter narrows.
  await page.getByLabel('Words').fill('fraction');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator('[data-testid="library-status"]', { hasText: '1 lesson found' }).waitFor();
  assert.deepEqual(await results.locator('li > button').allTextContents(), ['Pizza fractions']);
  await page.getByLabel('Words').fill('');
  await page.getByLabel('Difficulty').selectOption('advanced');
  await page.getByRole('button', { name: 'Search' }).click();
  // The status reads "1 lesson found" before and after this search: wait for the new answer.
  await results.locator('li > button', { hasText: 'Measuring flour' }).waitFor();
  await page.locator('[data-testid="library-status"]', { hasText: '1 lesson found' }).waitFor();
  assert.deepEqual(await results.locator('li > button').allTextContents(), ['Measuring flour']);
  await page.getByLabel('Difficulty').selectOption('');
  await page.getByLabel('Grade').selectOption('5');
  await page.getByRole('button', { name: 'Search' }).click();
  await page.locator('[data-testid="library-status"]', { hasText: '2 lessons found' }).waitFor();

  // Its earlier version, put back from the keyboard-reachable button.
  await results.getByRole('button', { name: 'Pizza fractions' }).click();
  const detail = page.locator('[data-testid="lesson-detail"]');
  await detail.locator('tr[data-revision="1"]', { hasText: 'Slicing a pizza' }).waitFor();
  await shot('10-content-library');
  await detail.getByRole('button', { name: 'Restore version 1 (Slicing a pizza)' }).click();
  await page.locator('[data-testid="library-status"]', { hasText: 'Restored version 1' }).waitFor();
  await detail.locator('h2', { hasText: 'Slicing a pizza' }).waitFor();
  await detail.locator('tr[data-revision="2"]', { hasText: 'Pizza fractions' }).waitFor();
  const lesson = await call('GET', `/api/v1/lessons/${pizza.id}`, tokens.teacher);
  assert.equal(lesson.title, 'Slicing a pizza');

  // A picture attached from the page gets a thumbnail, shown beside its name.
  await detail.getByLabel('Attach a picture or file').setInputFiles({ name: 'pizza.png', mimeType: 'image/png', buffer: png(64, 32) });
  await detail.getByRole('button', { name: 'Upload' }).click();
  await page.locator('[data-testid="library-status"]', { hasText: 'Attached pizza.png' }).waitFor();
  const picture = detail.locator('[data-testid="lesson-media"] img[alt="pizza.png"]');
  await picture.waitFor();
  await page.waitForFunction(() => document.querySelector('[data-testid="lesson-media"] img')?.naturalWidth > 0);
  assert.equal(await picture.evaluate((img) => img.naturalWidth), 64);
  const media = await call('GET', `/api/v1/media?lesson_id=${pizza.id}`, tokens.teacher);
  assert.equal(media.items[0].content_type, 'image/png');
  await shot('11-lesson-media');
});

test('the AI task list shows what the tutor did, filtered, and opens a task', async () => {
  const draft = await call('POST', '/api/v1/ai/generate-content', tokens.teacher, { objectives: ['add fractions'], grade_level: '5' });
  assert.equal(draft.title, 'Fractions at the bakery');
  await page.goto(`${base}/dashboard#token=${tokens.teacher}`);
  await page.locator('#nav-ai-tasks').click();
  const rows = page.locator('[data-testid="ai-tasks"] tbody tr');
  await rows.first().waitFor();
  assert.equal(await rows.count(), 1);
  assert.match(await rows.first().textContent(), /generate content.*t1.*completed.*gpt-test.*150/);
  await page.getByLabel('Status').selectOption('failed');
  await page.getByRole('button', { name: 'Show' }).click();
  await page.locator('[data-testid="ai-tasks-status"]', { hasText: 'No AI tasks match.' }).waitFor();
  await page.getByLabel('Status').selectOption('');
  await page.getByRole('button', { name: 'Show' }).click();
  await rows.first().getByRole('button', { name: /^Open task/ }).click();
  await page.locator('[data-testid="ai-task-output"]', { hasText: 'Fractions at the bakery' }).waitFor();
  assert.match(await page.locator('[data-testid="ai-task-input"]').textContent(), /add fractions/);
  await shot('12-ai-tasks');
});

test('with QUIC on, the live class runs over WebTransport and still shows who is on the web', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'classhub-webtransport-'));
  const quic = await serve(dataDir, ['--quic-bind', '127.0.0.1:0']);
  const at = async (method, url, body) => {
    const response = await fetch(`${quic.base}${url}`, {
      method,
      headers: { Authorization: `Bearer ${tokens.admin}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.ok(response.ok, `${method} ${url}: ${response.status} ${await response.clone().text()}`);
    return response.json();
  };
  for (const [id, role, name] of [['t1', 'educator', 'Ms Rivera'], ['s1', 'student', 'Ada']]) {
    await at('POST', '/api/v1/users', { id, role, display_name: name });
  }
  const klass = await at('POST', '/api/v1/classes', { name: 'Ratios 8A', teacher_id: 't1' });
  await at('POST', `/api/v1/classes/${klass.id}/students`, { user_ids: ['s1'] });
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const wtPage = await fresh.newPage();
  watchConsole(wtPage);
  await wtPage.goto(`${quic.base}/dashboard#token=${tokens.teacher}&class=${klass.id}`);
  // The page asked /dashboard/transport.json, pinned the generated certificate by its hash and
  // opened a WebTransport session to the QUIC port.
  await wtPage.locator('#conn-status[data-state="live"][data-transport="webtransport"]').waitFor();
  assert.match(await wtPage.locator('#conn-status').textContent(), /WebTransport/);
  const student = mint('student', 's1', 'Ada');
  const socket = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`${quic.base.replace('http', 'ws')}/ws?token=${student}`, 'classhub.v1.json');
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.type === 'welcome') ws.send(JSON.stringify({ type: 'join', ref: 1, room: `class:${TENANT}:${klass.id}`, presence: { status: 'on_web' } }));
      if (frame.type === 'joined') resolve(ws);
      if (frame.type === 'error') reject(new Error(frame.message));
    });
    ws.on('error', reject);
  });
  // A presence change reaches the teacher's page over WebTransport.
  await wtPage.locator('tr[data-student="s1"][data-presence="web"]').waitFor();
  socket.close();
  await wtPage.locator('tr[data-student="s1"][data-presence="offline"]').waitFor();
  await shot('11-webtransport', wtPage);
  await fresh.close();
  quic.child.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

test('no console errors in any of the steps above', () => {
  assert.deepEqual(consoleErrors, []);
});

test('an expired token gets a clear sign-in message, not a broken page', async () => {
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const expired = await fresh.newPage();
  await expired.goto(`${base}/dashboard#token=${expiredToken()}`);
  await expired.locator('[data-testid="signin-message"]', { hasText: 'expired' }).waitFor();
  assert.equal(await expired.getByLabel('Platform token').isVisible(), true);
  await shot('08-token-expired', expired);
  // Signing in with a good token from the form works.
  await expired.getByLabel('Platform token').fill(tokens.teacher);
  await expired.getByRole('button', { name: 'Sign in' }).click();
  await expired.getByRole('link', { name: 'Fractions 7B', exact: true }).waitFor();
  await fresh.close();
});

test('a server that cannot be reached gets a clear message with a way to retry', async () => {
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const offline = await fresh.newPage();
  await offline.goto(`${base}/dashboard#token=${tokens.teacher}`);
  await offline.getByRole('link', { name: 'Fractions 7B', exact: true }).waitFor();
  await offline.route('**/api/v1/**', (route) => route.abort('connectionrefused'));
  await offline.goto(`${base}/dashboard#/classes/${classId}`);
  await offline.getByRole('heading', { name: 'Cannot reach classhub' }).waitFor();
  await shot('09-unreachable', offline);
  await offline.unroute('**/api/v1/**');
  await offline.getByRole('button', { name: 'Try again' }).click();
  await offline.locator('tr[data-student="s2"]').waitFor();
  await fresh.close();
});

test('classhub serve --demo shows a live classroom from its printed link', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'classhub-demo-'));
  const demo = await serve(dataDir, ['--demo']);
  const linkLine = await waitFor(() => demo.lines.find((line) => line.includes('demo classroom (teacher)')));
  const link = linkLine.slice(linkLine.indexOf('http'));
  const fresh = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const demoPage = await fresh.newPage();
  watchConsole(demoPage);
  await demoPage.goto(link);
  await demoPage.locator('[data-testid="roster"] tbody tr').nth(29).waitFor();
  assert.equal(await demoPage.locator('[data-testid="roster"] tbody tr').count(), 30);
  await demoPage.locator('tr[data-presence="game"]').first().waitFor();
  await demoPage.waitForFunction(() => document.querySelectorAll('tr[data-percent]:not([data-percent="0"])').length >= 5, null, { timeout: PATIENCE_MS });
  await demoPage.locator('#conn-status[data-state="live"]').waitFor();
  assert.match(await demoPage.locator('[data-testid="game-servers"]').textContent(), /2 game servers connected/);
  // Commands reach the simulated game servers, which acknowledge them.
  await demoPage.getByLabel('Action', { exact: true }).selectOption('announce');
  await demoPage.getByLabel('Message', { exact: true }).fill('Great work, everyone!');
  await demoPage.getByRole('button', { name: 'Send', exact: true }).click();
  await demoPage.locator('[data-testid="commands"] li[data-kind="announce"][data-status="acked"]').waitFor({ timeout: PATIENCE_MS });
  await shot('10-demo', demoPage);
  assert.deepEqual(consoleErrors, []);
  await fresh.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function waitFor(probe) {
  const deadline = Date.now() + PATIENCE_MS;
  for (;;) {
    const value = probe();
    if (value) return value;
    assert.ok(Date.now() < deadline, 'gave up waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
