// The raw frame inspector: every frame received and sent, newest last.
// While paused, rows are buffered off-screen so the log holds still for reading; both the log
// and the buffer are capped so a long stream of tokens cannot grow the page without bound.

import { el, clear, prettyJson, shortTime, stickToBottom } from './dom.js';

export const MAX_ROWS = 2000;

export class FrameLog {
  /**
   * @param {{list: HTMLElement, filter: HTMLInputElement, pause: HTMLButtonElement,
   *          buffered: HTMLElement, clear: HTMLButtonElement, count: HTMLElement}} parts
   */
  constructor(parts) {
    Object.assign(this, parts);
    this.paused = false;
    this.pending = [];
    this.terms = [];
    this.filter.addEventListener('input', () => this.applyFilter());
    this.pause.addEventListener('click', () => this.setPaused(!this.paused));
    this.clear.addEventListener('click', () => this.reset());
    this.setPaused(false);
  }

  /** Log a frame; direction is 'in' (from the hub) or 'out' (sent by this console). */
  log(frame, direction) {
    const entry = { frame, direction, at: Date.now() };
    if (this.paused) {
      this.pending.push(entry);
      if (this.pending.length > MAX_ROWS) this.pending.shift();
      this.showBuffered();
      return;
    }
    stickToBottom(this.list, () => this.appendRows([entry]));
  }

  appendRows(entries) {
    const fragment = document.createDocumentFragment();
    for (const entry of entries.slice(-MAX_ROWS)) fragment.append(this.row(entry));
    this.list.append(fragment);
    while (this.list.childElementCount > MAX_ROWS) this.list.firstElementChild.remove();
    this.count.textContent = `${this.list.childElementCount} frames`;
  }

  row({ frame, direction, at }) {
    const type = typeof frame?.type === 'string' ? frame.type : 'unknown';
    const seq = direction === 'out' ? 'sent' : Number.isInteger(frame?.seq) ? `#${frame.seq}` : '—';
    const details = el('details', { className: `frame-row dir-${direction}`, testid: 'frame-row',
      data: { type, direction, seq: direction === 'out' ? '' : String(frame?.seq ?? '') } },
      el('summary', {},
        el('span', { className: 'frame-seq', testid: 'frame-seq', text: seq }),
        el('span', { className: 'frame-dir', attrs: { 'aria-label': direction === 'out' ? 'sent' : 'received' }, text: direction === 'out' ? '→' : '←' }),
        el('span', { className: 'frame-type', testid: 'frame-type', text: type }),
        el('span', { className: 'frame-preview', text: preview(frame) }),
        el('time', { className: 'frame-time', text: shortTime(frame?.ts ?? at) })),
      el('pre', { className: 'frame-json', testid: 'frame-json', text: prettyJson(frame) }));
    details.hidden = !this.matches(type);
    return details;
  }

  setPaused(paused) {
    this.paused = paused;
    this.pause.textContent = paused ? 'Resume' : 'Pause';
    this.pause.setAttribute('aria-pressed', String(paused));
    this.pause.dataset.paused = String(paused);
    if (!paused && this.pending.length) {
      const entries = this.pending;
      this.pending = [];
      stickToBottom(this.list, () => this.appendRows(entries));
    }
    this.showBuffered();
  }

  showBuffered() {
    this.buffered.textContent = this.pending.length ? `${this.pending.length} buffered` : '';
    this.buffered.hidden = !this.pending.length;
  }

  // The filter is a list of words (comma or space separated); a row shows if its type
  // contains any of them. Empty shows everything.
  applyFilter() {
    this.terms = this.filter.value.toLowerCase().split(/[\s,]+/).filter(Boolean);
    for (const row of this.list.children) row.hidden = !this.matches(row.dataset.type);
  }

  matches(type) {
    return !this.terms.length || this.terms.some((term) => type.toLowerCase().includes(term));
  }

  reset() {
    clear(this.list);
    this.pending = [];
    this.count.textContent = '0 frames';
    this.showBuffered();
  }
}

// One short line per frame so the log can be scanned without expanding rows.
function preview(frame) {
  if (!frame || typeof frame !== 'object') return '';
  if (frame.type === 'assistant_message' && frame.is_final && !frame.token) return '(final)';
  const text = frame.token ?? frame.content ?? frame.tool_name ?? frame.reason ?? frame.to_agent
    ?? frame.decision ?? frame.run_state ?? frame.question ?? frame.raw ?? '';
  const line = typeof text === 'string' ? text : JSON.stringify(text);
  if (!line) return '';
  return JSON.stringify(line.length > 80 ? `${line.slice(0, 80)}…` : line);
}
