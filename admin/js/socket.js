// The live socket: the native protocol v1 over /ws (subprotocol classhub.v1.json). It signs in
// with an `auth` frame, joins the rooms asked for, and after any drop reconnects with back-off
// and re-joins each room with `since` = the last (epoch, seq) it saw, so the server replays what
// was missed (`recovered: true`) or sends a fresh snapshot.
//
// Callbacks: onMessage(frame) for every server frame after `welcome`; onStatus(state, detail)
// with state 'connecting' | 'live' | 'reconnecting' | 'signed-out'; onAuthFailed(message) when
// the server refuses the token (close 4001, error 2002/2003), after which it stops.

const SUBPROTOCOL = 'classhub.v1.json';
const AUTH_ERRORS = new Set([2002, 2003]);

export class LiveSocket {
  constructor({ token, onMessage, onStatus, onAuthFailed }) {
    this.token = token;
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    this.onAuthFailed = onAuthFailed || (() => {});
    this.rooms = new Map(); // room -> { presence, since: {epoch, seq} | null }
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this.attempt = 0;
    this.nextRef = 1;
    this.timers = new Set();
    this.lastHeard = 0;
    this.heartbeatMs = 25000;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  /** Closes for good (leaving the view, signing out). */
  stop() {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    clearInterval(this.pinger);
    if (this.ws) this.ws.close(1000, 'leaving');
    this.ws = null;
  }

  /** A new token for the next sign-in (the current socket stays signed in). */
  setToken(token) {
    this.token = token;
  }

  join(room, presence) {
    if (!this.rooms.has(room)) this.rooms.set(room, { presence, since: null });
    if (this.ready) this.sendJoin(room);
  }

  /** Remembers the position of a room's latest event (for recovery after a reconnect). */
  saw(room, epoch, seq) {
    const entry = this.rooms.get(room);
    if (entry && typeof seq === 'number') entry.since = { epoch: epoch ?? entry.since?.epoch ?? 0, seq };
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify({ ref: this.nextRef++, ...frame }));
    return true;
  }

  connect() {
    if (this.stopped) return;
    this.onStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const ws = new WebSocket(`${scheme}//${location.host}/ws`, SUBPROTOCOL);
    this.ws = ws;
    this.ready = false;
    ws.addEventListener('open', () => {
      this.lastHeard = Date.now();
      this.send({ type: 'auth', token: this.token });
    });
    ws.addEventListener('message', (event) => {
      if (ws !== this.ws) return;
      this.lastHeard = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      this.handle(frame);
    });
    ws.addEventListener('close', (event) => {
      if (ws !== this.ws) return;
      this.ready = false;
      clearInterval(this.pinger);
      if (this.stopped) return;
      if (event.code === 4001) {
        this.fail('The server refused your token on the live connection.');
        return;
      }
      this.scheduleReconnect(event.code);
    });
    // 'error' is always followed by 'close', which decides what to do.
    ws.addEventListener('error', () => {});
  }

  handle(frame) {
    if (frame.type === 'welcome') {
      this.ready = true;
      this.attempt = 0;
      this.heartbeatMs = frame.heartbeat_ms || this.heartbeatMs;
      this.welcome = frame;
      this.onStatus('live');
      for (const room of this.rooms.keys()) this.sendJoin(room);
      clearInterval(this.pinger);
      this.pinger = setInterval(() => this.keepAlive(), this.heartbeatMs);
      this.onMessage(frame);
      return;
    }
    if (frame.type === 'error' && AUTH_ERRORS.has(frame.code)) {
      this.fail(frame.message);
      return;
    }
    if (frame.type === 'joined') {
      const entry = this.rooms.get(frame.room);
      if (entry) entry.since = { epoch: frame.epoch, seq: frame.seq };
    }
    if ((frame.type === 'event' || frame.type === 'command') && this.rooms.has(frame.room)) {
      const entry = this.rooms.get(frame.room);
      if (entry.since) entry.since.seq = Math.max(entry.since.seq, frame.seq);
    }
    this.onMessage(frame);
  }

  sendJoin(room) {
    const entry = this.rooms.get(room);
    const frame = { type: 'join', room };
    if (entry.presence) frame.presence = entry.presence;
    if (entry.since) frame.since = entry.since;
    this.send(frame);
  }

  keepAlive() {
    // Nothing heard for well over two heartbeats: the connection is dead, start again.
    if (Date.now() - this.lastHeard > this.heartbeatMs * 2.5) {
      this.ws?.close(4000, 'silent');
      return;
    }
    this.send({ type: 'ping' });
  }

  scheduleReconnect(code) {
    this.attempt += 1;
    const base = Math.min(10000, 500 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = code >= 4200 && code < 4300 && this.attempt === 1 ? 100 : base / 2 + Math.random() * (base / 2);
    this.onStatus('reconnecting', Math.round(delay / 1000));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.connect();
    }, delay);
    this.timers.add(timer);
  }

  fail(message) {
    this.stop();
    this.onStatus('signed-out');
    this.onAuthFailed(message);
  }
}
