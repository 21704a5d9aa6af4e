// The live socket: the native protocol v1 (JSON) over WebTransport when the server announces
// it (/dashboard/transport.json) and the browser has it, otherwise over /ws (subprotocol
// classhub.v1.json). It signs in with an `auth` frame, joins the rooms asked for, and after any
// drop reconnects with back-off and re-joins each room with `since` = the last (epoch, seq) it
// saw, so the server replays what was missed (`recovered: true`) or sends a fresh snapshot. A
// WebTransport session that cannot be opened sends this page to /ws for good.
//
// Over WebTransport the frames travel on one bidirectional stream, each behind a 4-byte
// big-endian length, and ephemeral events arrive as datagrams (one frame each).
//
// Callbacks: onMessage(frame) for every server frame after `welcome`; onStatus(state, detail)
// with state 'connecting' | 'live' (detail: 'websocket' | 'webtransport') | 'reconnecting' |
// 'signed-out'; onAuthFailed(message) when the server refuses the token (close 4001, error
// 2002/2003), after which it stops.

const SUBPROTOCOL = 'classhub.v1.json';
const AUTH_ERRORS = new Set([2002, 2003]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** /ws: calls onOpen(), onFrame(text), onClose(code). */
class WebSocketCarrier {
  constructor({ onOpen, onFrame, onClose }) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.name = 'websocket';
    this.ws = new WebSocket(`${scheme}//${location.host}/ws`, SUBPROTOCOL);
    this.ws.addEventListener('open', onOpen);
    this.ws.addEventListener('message', (event) => onFrame(event.data));
    this.ws.addEventListener('close', (event) => onClose(event.code, true));
    // 'error' is always followed by 'close', which decides what to do.
    this.ws.addEventListener('error', () => {});
  }

  send(text) {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(text);
    return true;
  }

  close(code, reason) {
    this.ws.close(code, reason);
  }
}

/** A WebTransport session to `offer` (from /dashboard/transport.json), with the same callbacks;
 * onClose's second argument says whether the session ever opened. */
class WebTransportCarrier {
  constructor(offer, { onOpen, onFrame, onClose }) {
    this.name = 'webtransport';
    this.writer = null;
    this.done = false;
    const options = {};
    if (offer.certificate_sha256) {
      const hash = new Uint8Array(offer.certificate_sha256.match(/../g).map((pair) => parseInt(pair, 16)));
      options.serverCertificateHashes = [{ algorithm: 'sha-256', value: hash }];
    }
    this.run(`https://${location.hostname}:${offer.port}${offer.path}`, options, onOpen, onFrame, onClose);
  }

  async run(url, options, onOpen, onFrame, onClose) {
    let opened = false;
    try {
      this.session = new WebTransport(url, options);
      await this.session.ready;
      const stream = await this.session.createBidirectionalStream();
      this.writer = stream.writable.getWriter();
      opened = true;
      onOpen();
      this.readDatagrams(onFrame);
      await this.readFrames(stream.readable, onFrame);
    } catch {
      // The session failed or closed: told below.
    }
    let code = 1006;
    try {
      const info = await this.session?.closed;
      if (info && typeof info.closeCode === 'number') code = info.closeCode;
    } catch {
      // Closed by an error: no close code of the server's.
    }
    if (!this.done) {
      this.done = true;
      onClose(code, opened);
    }
  }

  async readFrames(readable, onFrame) {
    const reader = readable.getReader();
    let buffer = new Uint8Array(0);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      const joined = new Uint8Array(buffer.length + value.length);
      joined.set(buffer);
      joined.set(value, buffer.length);
      buffer = joined;
      while (buffer.length >= 4) {
        const length = new DataView(buffer.buffer, buffer.byteOffset, 4).getUint32(0);
        if (buffer.length < 4 + length) break;
        onFrame(decoder.decode(buffer.subarray(4, 4 + length)));
        buffer = buffer.slice(4 + length);
      }
    }
  }

  async readDatagrams(onFrame) {
    try {
      const reader = this.session.datagrams.readable.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        onFrame(decoder.decode(value));
      }
    } catch {
      // Datagrams end with the session.
    }
  }

  send(text) {
    if (!this.writer || this.done) return false;
    const body = encoder.encode(text);
    const frame = new Uint8Array(4 + body.length);
    new DataView(frame.buffer).setUint32(0, body.length);
    frame.set(body, 4);
    this.writer.write(frame).catch(() => {});
    return true;
  }

  close(code, reason) {
    try {
      this.session?.close({ closeCode: code, reason });
    } catch {
      // Already closed.
    }
  }
}

export class LiveSocket {
  constructor({ token, onMessage, onStatus, onAuthFailed }) {
    this.token = token;
    this.onMessage = onMessage;
    this.onStatus = onStatus || (() => {});
    this.onAuthFailed = onAuthFailed || (() => {});
    this.rooms = new Map(); // room -> { presence, since: {epoch, seq} | null }
    this.carrier = null;
    this.offer = undefined; // the server's WebTransport offer, once asked (null: none)
    this.webTransportFailed = typeof WebTransport !== 'function';
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
    if (this.carrier) this.carrier.close(1000, 'leaving');
    this.carrier = null;
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
    if (!this.carrier) return false;
    return this.carrier.send(JSON.stringify({ ref: this.nextRef++, ...frame }));
  }

  /** The server's WebTransport offer (asked once; null when it makes none or cannot say). */
  async webTransportOffer() {
    if (this.offer === undefined) {
      try {
        const response = await fetch('/dashboard/transport.json', { cache: 'no-store' });
        this.offer = response.ok ? (await response.json()).webtransport || null : null;
      } catch {
        this.offer = null;
      }
    }
    return this.offer;
  }

  async connect() {
    if (this.stopped) return;
    this.onStatus(this.attempt === 0 ? 'connecting' : 'reconnecting');
    const offer = this.webTransportFailed ? null : await this.webTransportOffer();
    if (this.stopped) return;
    this.ready = false;
    const handlers = {
      onOpen: () => {
        if (carrier !== this.carrier) return;
        this.lastHeard = Date.now();
        this.send({ type: 'auth', token: this.token });
      },
      onFrame: (text) => {
        if (carrier !== this.carrier) return;
        this.lastHeard = Date.now();
        let frame;
        try {
          frame = JSON.parse(text);
        } catch {
          return;
        }
        this.handle(frame);
      },
      onClose: (code, opened) => {
        if (carrier !== this.carrier) return;
        this.ready = false;
        clearInterval(this.pinger);
        if (this.stopped) return;
        if (code === 4001) {
          this.fail('The server refused your token on the live connection.');
          return;
        }
        if (carrier.name === 'webtransport' && !opened) {
          // No WebTransport from here (a proxy, a firewall on UDP): /ws from now on, at once.
          this.webTransportFailed = true;
          this.connect();
          return;
        }
        this.scheduleReconnect(code);
      },
    };
    const carrier = offer ? new WebTransportCarrier(offer, handlers) : new WebSocketCarrier(handlers);
    this.carrier = carrier;
  }

  handle(frame) {
    if (frame.type === 'welcome') {
      this.ready = true;
      this.attempt = 0;
      this.heartbeatMs = frame.heartbeat_ms || this.heartbeatMs;
      this.welcome = frame;
      this.onStatus('live', this.carrier?.name);
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
      this.carrier?.close(4000, 'silent');
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
