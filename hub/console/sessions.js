// The sessions sidebar: newest first, searchable, paged with the hub's `next_before` cursor.

import { api } from './api.js';
import { el, clear, shortDateTime } from './dom.js';

const PAGE = 20;
const SEARCH_DELAY_MS = 250;

export class SessionList {
  /**
   * @param {{list: HTMLElement, search: HTMLInputElement, more: HTMLButtonElement,
   *          status: HTMLElement}} parts
   * @param {(session: object) => void} onOpen
   */
  constructor(parts, onOpen) {
    Object.assign(this, parts);
    this.onOpen = onOpen;
    this.activeId = null;
    this.nextBefore = null;
    this.generation = 0; // answers to an older search or refresh are dropped
    let timer;
    this.search.addEventListener('input', () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.refresh(), SEARCH_DELAY_MS);
    });
    this.more.addEventListener('click', () => this.loadPage(false));
  }

  /** Reload from the first page (after a search change, a new session, a sign-in). */
  refresh() {
    return this.loadPage(true);
  }

  async loadPage(first) {
    const generation = first ? ++this.generation : this.generation;
    const before = first ? undefined : this.nextBefore;
    this.setStatus('Loading…');
    this.more.disabled = true;
    try {
      const page = await api.sessions({ limit: PAGE, before, q: this.search.value.trim() });
      if (generation !== this.generation) return;
      this.show(page, first);
    } catch (error) {
      if (generation === this.generation) this.setStatus(`Could not load sessions: ${error.message}`);
    } finally {
      this.more.disabled = false;
    }
  }

  show({ sessions, next_before: nextBefore }, first) {
    if (first) clear(this.list);
    for (const session of sessions) this.list.append(this.item(session));
    this.nextBefore = nextBefore ?? null;
    this.more.hidden = !this.nextBefore;
    const count = this.list.childElementCount;
    this.setStatus(count ? '' : this.search.value.trim() ? 'No session matches.' : 'No sessions yet.');
    this.markActive(this.activeId);
  }

  item(session) {
    const id = session.session_id;
    // The button's text is exactly the id; the details sit beside it.
    const open = el('button', { type: 'button', className: 'session-open', testid: 'session-item',
      data: { sessionId: id }, text: id, title: id, on: { click: () => this.onOpen(session) } });
    return el('li', { className: 'session-row', data: { sessionId: id } },
      open,
      el('div', { className: 'session-meta muted' },
        el('span', { testid: 'session-agent', text: session.current_agent ?? '' }),
        el('time', { attrs: { datetime: session.updated_at }, text: shortDateTime(session.updated_at) })));
  }

  markActive(sessionId) {
    this.activeId = sessionId;
    for (const row of this.list.children) {
      const active = row.dataset.sessionId === sessionId;
      row.classList.toggle('active', active);
      row.querySelector('button')?.setAttribute('aria-current', active ? 'true' : 'false');
    }
  }

  /** Keep the row's agent in step with agent_switched on the open session. */
  setAgent(sessionId, agent) {
    const row = [...this.list.children].find((item) => item.dataset.sessionId === sessionId);
    const label = row?.querySelector('[data-testid="session-agent"]');
    if (label) label.textContent = agent;
  }

  setStatus(text) {
    this.status.textContent = text;
    this.status.hidden = !text;
  }
}
