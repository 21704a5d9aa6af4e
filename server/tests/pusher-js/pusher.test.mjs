// The real pusher-js client and the real pusher server library against a running classhub.
// Run by .ci/run after `cargo build --bin classhub`: CLASSHUB_BIN names the binary.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';

const require = createRequire(import.meta.url);
const PusherClient = require('pusher-js');
const PusherServer = require('pusher');

const BIN = process.env.CLASSHUB_BIN;
const SECRET = 'pusher-js-suite-secret-0123456789';
const TENANT = 'school';
const APP = { id: '4242', key: 'suite-key', secret: 'suite-secret' };
const PATIENCE_MS = 10_000;

let server;
let port;
let dataDir;
let backend;
const clients = [];
// Webhooks received by the local receiver, after their signature was checked.
const webhookEvents = [];
const webhookWaiters = [];
let receiver;

before(async () => {
  assert.ok(BIN, 'set CLASSHUB_BIN to the classhub binary');
  receiver = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk) => (body += chunk));
    request.on('end', () => {
      const expected = createHmac('sha256', APP.secret).update(body).digest('hex');
      const signed = request.headers['x-pusher-key'] === APP.key && request.headers['x-pusher-signature'] === expected;
      response.writeHead(signed ? 200 : 401).end();
      if (signed) {
        webhookEvents.push(...JSON.parse(body).events);
        webhookWaiters.splice(0).forEach((wake) => wake());
      }
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  dataDir = mkdtempSync(path.join(tmpdir(), 'classhub-pusher-js-'));
  server = spawn(BIN, ['serve', '--bind', '127.0.0.1:0', '--data-dir', dataDir], {
    env: {
      ...process.env,
      CLASSHUB_JWT_SECRET: SECRET,
      CLASSHUB_PUSHER_TENANT: TENANT,
      CLASSHUB_PUSHER_APP_ID: APP.id,
      CLASSHUB_PUSHER_KEY: APP.key,
      CLASSHUB_PUSHER_SECRET: APP.secret,
      CLASSHUB_PUSHER_WEBHOOKS: `${TENANT}=http://127.0.0.1:${receiver.address().port}/hooks`,
      RUST_LOG: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('classhub did not print its address')), PATIENCE_MS);
    server.stdout.on('data', (chunk) => {
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(chunk.toString());
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    server.on('exit', (code) => reject(new Error(`classhub exited early with ${code}`)));
  });
  backend = new PusherServer({ appId: APP.id, key: APP.key, secret: APP.secret, host: '127.0.0.1', port: String(port), useTLS: false });
});

after(async () => {
  for (const client of clients) client.disconnect();
  server.kill('SIGTERM');
  await new Promise((resolve) => server.on('exit', resolve));
  rmSync(dataDir, { recursive: true, force: true });
  receiver.close();
});

function token(role, sub, name = `name of ${sub}`) {
  return execFileSync(BIN, ['token', '--tenant', TENANT, '--role', role, '--sub', sub, '--name', name, '--jwt-secret', SECRET])
    .toString()
    .trim();
}

function connect(role, sub) {
  const authorization = { Authorization: `Bearer ${token(role, sub)}` };
  const client = new PusherClient(APP.key, {
    cluster: 'mt1',
    wsHost: '127.0.0.1',
    wsPort: port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    channelAuthorization: { endpoint: `http://127.0.0.1:${port}/pusher/auth`, transport: 'ajax', headers: authorization },
    userAuthentication: { endpoint: `http://127.0.0.1:${port}/pusher/user-auth`, transport: 'ajax', headers: authorization },
  });
  clients.push(client);
  return client;
}

function within(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), PATIENCE_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function next(bindable, event) {
  return within(new Promise((resolve) => bindable.bind(event, (...args) => resolve(args))), event);
}

function subscribed(client, name) {
  const channel = client.subscribe(name);
  return within(
    new Promise((resolve, reject) => {
      channel.bind('pusher:subscription_succeeded', () => resolve(channel));
      channel.bind('pusher:subscription_error', (error) => reject(Object.assign(new Error(`subscription to ${name} refused`), { error })));
    }),
    `subscription to ${name}`,
  );
}

test('public, private and presence subscriptions succeed; a forbidden channel is refused', async () => {
  const client = connect('student', 's1');
  await subscribed(client, 'news');
  await subscribed(client, 'private-user-s1');
  const presence = await subscribed(client, 'presence-class-c1');
  assert.equal(presence.members.me.id, 's1');
  assert.equal(presence.members.me.info.name, 'name of s1');
  await assert.rejects(subscribed(client, 'private-user-s2'), (error) => error.error.status === 403);
});

test('members are added and removed across two clients', async () => {
  const first = connect('student', 's2');
  const channel = await subscribed(first, 'presence-class-c2');
  const added = next(channel, 'pusher:member_added');
  const second = connect('student', 's3');
  const seen = await subscribed(second, 'presence-class-c2');
  const [member] = await added;
  assert.equal(member.id, 's3');
  assert.equal(member.info.role, 'student');
  assert.equal(seen.members.count, 2);
  const removed = next(channel, 'pusher:member_removed');
  second.disconnect();
  const [gone] = await removed;
  assert.equal(gone.id, 's3');
});

test('client events reach the other client, not the sender, and the rate limit answers 4301', async () => {
  const alice = connect('student', 's4');
  const bob = connect('student', 's5');
  const aliceChannel = await subscribed(alice, 'presence-class-c3');
  const bobChannel = await subscribed(bob, 'presence-class-c3');
  let echoed = 0;
  aliceChannel.bind('client-typing', () => echoed++);
  const received = next(bobChannel, 'client-typing');
  aliceChannel.trigger('client-typing', { typing: true });
  const [data, metadata] = await received;
  assert.deepEqual(data, { typing: true });
  assert.equal(metadata.user_id, 's4');
  // A server event after it: had the sender been echoed, its copy would have come first.
  const marker = next(aliceChannel, 'marker');
  await backend.trigger('presence-class-c3', 'marker', {});
  await marker;
  assert.equal(echoed, 0);

  const limited = within(
    new Promise((resolve) => alice.connection.bind('error', (error) => error?.data?.code === 4301 && resolve(error))),
    'error 4301',
  );
  for (let n = 0; n < 15; n++) aliceChannel.trigger('client-move', { n });
  const error = await limited;
  assert.equal(error.data.code, 4301);
  assert.equal(alice.connection.state, 'connected', 'the limit does not close the connection');
});

test('trigger and batch trigger from the pusher library reach pusher-js subscribers', async () => {
  const client = connect('student', 's6');
  const channel = await subscribed(client, 'announcements');
  const headline = next(channel, 'headline');
  await backend.trigger('announcements', 'headline', { title: 'Quiz at 10' });
  assert.deepEqual((await headline)[0], { title: 'Quiz at 10' });
  const first = next(channel, 'first');
  const second = next(channel, 'second');
  await backend.triggerBatch([
    { channel: 'announcements', name: 'first', data: { n: 1 } },
    { channel: 'announcements', name: 'second', data: { n: 2 } },
  ]);
  assert.deepEqual((await first)[0], { n: 1 });
  assert.deepEqual((await second)[0], { n: 2 });
});

test('channel info and users come from the HTTP API', async () => {
  const one = connect('student', 's7');
  const two = connect('student', 's8');
  await subscribed(one, 'presence-class-c4');
  await subscribed(two, 'presence-class-c4');
  const list = await (await backend.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } })).json();
  assert.equal(list.channels['presence-class-c4'].user_count, 2);
  const info = await (await backend.get({ path: '/channels/presence-class-c4', params: { info: 'user_count,subscription_count' } })).json();
  assert.deepEqual(info, { occupied: true, user_count: 2, subscription_count: 2 });
  const users = await (await backend.get({ path: '/channels/presence-class-c4/users' })).json();
  assert.deepEqual(users.users.map((user) => user.id).sort(), ['s7', 's8']);
});

test('terminate_connections closes a signed-in user', async () => {
  const client = connect('student', 's9');
  await within(new Promise((resolve) => client.connection.bind('connected', resolve)), 'connected');
  client.signin();
  await within(client.user.signinDonePromise, 'signin');
  const closed = within(
    new Promise((resolve) => client.connection.bind('state_change', (states) => states.current !== 'connected' && resolve(states))),
    'the terminated connection',
  );
  await backend.terminateUserConnections('s9');
  const states = await closed;
  assert.notEqual(states.current, 'connected');
});

test('a native client and a pusher-js client share a class room', async () => {
  const native = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${token('educator', 't1')}`, 'classhub.v1.json');
  const frames = [];
  const waiters = [];
  native.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    frames.push(frame);
    waiters.splice(0).forEach((wake) => wake());
  });
  const frameMatching = (predicate, what) =>
    within(
      new Promise((resolve) => {
        const check = () => {
          const found = frames.find(predicate);
          if (found) resolve(found);
          else waiters.push(check);
        };
        check();
      }),
      what,
    );
  await frameMatching((frame) => frame.type === 'welcome', 'welcome');
  native.send(JSON.stringify({ type: 'join', ref: 1, room: `class:${TENANT}:c7` }));
  await frameMatching((frame) => frame.type === 'joined', 'joined');

  const student = connect('student', 's10');
  const channel = await subscribed(student, 'presence-class-c7');
  assert.equal(channel.members.get('t1').info.name, 'name of t1', 'the native teacher is a presence member');
  const join = await frameMatching((frame) => frame.type === 'presence_diff' && frame.joins.length > 0, 'presence_diff');
  assert.equal(join.joins[0].user, 's10');

  const quiz = next(channel, 'quiz');
  native.send(JSON.stringify({ type: 'publish', room: `class:${TENANT}:c7`, kind: 'quiz', data: { question: '2+2?' } }));
  assert.deepEqual((await quiz)[0], { question: '2+2?' });

  channel.trigger('client-answer', { answer: 4 });
  const answer = await frameMatching((frame) => frame.kind === 'client-answer', 'client event on the native socket');
  assert.deepEqual(answer.data, { answer: 4 });
  assert.equal(answer.from, 's10');
  native.close();
});

test('webhooks arrive signed: occupied, member added and removed, client events, vacated', async () => {
  const webhook = (predicate, what) =>
    within(
      new Promise((resolve) => {
        const check = () => {
          const found = webhookEvents.find(predicate);
          if (found) resolve(found);
          else webhookWaiters.push(check);
        };
        check();
      }),
      what,
    );
  const first = connect('student', 's11');
  const firstChannel = await subscribed(first, 'presence-class-c9');
  await webhook((event) => event.name === 'channel_occupied' && event.channel === 'presence-class-c9', 'channel_occupied');
  const added = await webhook((event) => event.name === 'member_added' && event.user_id === 's11', 'member_added');
  assert.equal(added.channel, 'presence-class-c9');
  const second = connect('student', 's12');
  await subscribed(second, 'presence-class-c9');
  firstChannel.trigger('client-hello', { hi: true });
  const clientEvent = await webhook((event) => event.name === 'client_event' && event.event === 'client-hello', 'client_event');
  assert.equal(clientEvent.user_id, 's11');
  assert.deepEqual(JSON.parse(clientEvent.data), { hi: true });
  first.disconnect();
  second.disconnect();
  await webhook((event) => event.name === 'member_removed' && event.user_id === 's12', 'member_removed');
  await webhook((event) => event.name === 'channel_vacated' && event.channel === 'presence-class-c9', 'channel_vacated');
});
