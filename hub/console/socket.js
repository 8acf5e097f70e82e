// The session socket and its reconnect/resume state machine.
//
//   disconnected ──start()──► reconnecting ──open──► (resuming, if we have a last_seq)
//        ▲                        ▲    │                    │ session_ready
//        │ stop()                 │    └────────────────────┴──► connected
//        └────────────────────────┴── close (not asked for): backoff, then a fresh ticket
//
// Each attempt gets a new single-use ticket. After the first session_ready we remember the
// stream's epoch and the last seq we processed, and reconnect with ?last_seq=N&epoch=E so the
// hub replays what we missed (session_ready.resumed) or sends a resync.

import { ApiError, socketUrl } from './api.js';

export const STATES = ['connected', 'reconnecting', 'resuming', 'disconnected'];

const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 15000;
const OPEN_TIMEOUT_MS = 10000;

export class HubSocket {
  /**
   * @param {object} options
   * @param {string} options.sessionId
   * @param {() => Promise<{ticket: string}>} options.getTicket
   * @param {(frame: object) => void} options.onFrame     every hub frame, parsed
   * @param {(state: string, detail: string) => void} options.onState
   * @param {(frame: object) => void} [options.onSent]    every frame we sent
   * @param {(error: Error) => void} [options.onFatal]    the key was refused: stop for good
   */
  constructor(options) {
    this.options = options;
    this.state = 'disconnected';
    this.ws = null;
    this.epoch = null;
    this.lastSeq = null;
    this.attempt = 0;
    this.stopped = true;
    this.connecting = false; // waiting for a ticket
    this.retryTimer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  /** The user navigated away (or signed out): close and do not come back. */
  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.closeSocket(1000, 'console closed the session');
    this.setState('disconnected');
  }

  /** For tests and debugging: drop the connection as a network failure would. */
  drop() {
    this.closeSocket(4000, 'dropped by the console');
  }

  /** Send a client frame; false if the socket is not open (nothing is queued). */
  send(frame) {
    if (!this.isOpen()) return false;
    this.ws.send(JSON.stringify(frame));
    this.options.onSent?.(frame);
    return true;
  }

  isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN && this.state === 'connected';
  }

  /** Reconnect now instead of waiting out the backoff (e.g. the browser came back online). */
  retryNow() {
    if (this.stopped || this.ws !== null || this.connecting) return;
    clearTimeout(this.retryTimer);
    this.connect();
  }

  async connect() {
    this.setState('reconnecting', this.attempt ? `attempt ${this.attempt + 1}` : 'connecting');
    let ticket;
    this.connecting = true;
    try {
      ticket = (await this.options.getTicket()).ticket;
    } catch (error) {
      this.ticketFailed(error);
      return;
    } finally {
      this.connecting = false;
    }
    if (this.stopped) return;
    this.open(ticket);
  }

  ticketFailed(error) {
    if (this.stopped) return;
    if (error instanceof ApiError && error.status === 401) {
      this.stopped = true;
      this.setState('disconnected', 'the key was refused');
      this.options.onFatal?.(error);
      return;
    }
    this.scheduleRetry(`no ticket: ${error.message}`);
  }

  open(ticket) {
    const resume = this.lastSeq !== null && this.epoch !== null;
    const params = { ticket, client: 'console' };
    if (resume) Object.assign(params, { last_seq: this.lastSeq, epoch: this.epoch });
    const ws = new WebSocket(socketUrl(this.options.sessionId, params));
    this.ws = ws;
    // A handshake that hangs (proxy, dead hub) must not leave us waiting forever.
    const openTimer = setTimeout(() => ws.readyState === WebSocket.CONNECTING && ws.close(), OPEN_TIMEOUT_MS);
    ws.onopen = () => {
      clearTimeout(openTimer);
      if (resume) this.setState('resuming', `from seq ${this.lastSeq}`);
    };
    ws.onmessage = (event) => this.receive(ws, event.data);
    ws.onclose = (event) => {
      clearTimeout(openTimer);
      this.closed(ws, event);
    };
  }

  receive(ws, text) {
    if (ws !== this.ws) return; // a late frame from a socket we already gave up on
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      frame = { type: 'unparseable', raw: String(text) };
    }
    this.track(frame);
    this.options.onFrame(frame);
  }

  // Remember where we are in the stream. A fresh (not resumed) session_ready sets a new
  // baseline; replayed and live broadcast frames move it forward.
  track(frame) {
    if (frame.type === 'session_ready') {
      this.epoch = frame.epoch ?? this.epoch;
      if (!frame.resumed || this.lastSeq === null) this.lastSeq = frame.seq ?? this.lastSeq;
      this.attempt = 0;
      this.setState('connected', frame.resumed ? 'resumed' : '');
    } else if (Number.isInteger(frame.seq) && frame.type !== 'resync') {
      this.lastSeq = Math.max(this.lastSeq ?? 0, frame.seq);
    }
  }

  closed(ws, event) {
    if (ws !== this.ws) return;
    this.ws = null;
    if (this.stopped) {
      this.setState('disconnected');
      return;
    }
    this.scheduleRetry(`closed (${event.code}${event.reason ? `: ${event.reason}` : ''})`);
  }

  scheduleRetry(why) {
    const base = Math.min(BACKOFF_FIRST_MS * 2 ** this.attempt, BACKOFF_MAX_MS);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4)); // jitter: no thundering herd
    this.attempt += 1;
    this.setState('reconnecting', `${why}; retrying in ${(delay / 1000).toFixed(1)}s`);
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  closeSocket(code, reason) {
    const ws = this.ws;
    if (!ws) return;
    if (this.stopped) this.ws = null; // stop(): ignore its close event
    if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(code, reason);
  }

  setState(state, detail = '') {
    this.state = state;
    this.options.onState(state, detail);
  }
}
