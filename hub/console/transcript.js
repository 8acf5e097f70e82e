// The conversation of one session: stored history, then live frames on top of it.
// Tool calls, approvals and follow-up questions are keyed by call_id, because the hub re-sends
// them to clients that reconnect and they may already be on screen from the history.

import { el, append, clear, shortTime, stickToBottom } from './dom.js';
import { renderMarkdown } from './markdown.js';
import { ToolCallView } from './toolcall.js';
import { ApprovalCard } from './approvals.js';

const SWITCH_TEXT = /^Switched from (\S+) to (\S+): ([\s\S]*)$/;
const DECISION_ERROR = /call '([^']+)'/;
const ALREADY = /was already (\w+) by (.+)$/;
const DECISION_OF_STATE = { approved: 'approve', edited: 'edit', rejected: 'reject' };

export class Transcript {
  /**
   * @param {HTMLElement} root      the list the entries go in
   * @param {HTMLElement} scroller  its scrolling container
   * @param {{onDecide: Function, onAnswer: Function}} handlers
   */
  constructor(root, scroller, handlers) {
    this.root = root;
    this.scroller = scroller;
    this.handlers = handlers;
    this.reset();
  }

  reset() {
    clear(this.root);
    this.calls = new Map(); // call_id -> ToolCallView
    this.cards = new Map(); // call_id -> ApprovalCard
    this.followups = new Map(); // call_id -> {element, options}
    this.streaming = null; // {element, body, text}
    this.agent = null; // who is speaking in the current run
    this.runId = null;
  }

  add(node) {
    stickToBottom(this.scroller, () => this.root.append(node));
    return node;
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  // --- history ---------------------------------------------------------------------------

  /** Render stored messages (GET /history or a resync frame), oldest first. */
  renderHistory(messages) {
    for (const message of messages) this.historyMessage(message);
    this.scrollToEnd();
  }

  historyMessage(message) {
    const { role, content, agent, status, created_at: at } = message;
    if (role === 'user') this.add(bubble('user', content, { at, status }));
    else if (role === 'assistant') this.historyAssistant(message);
    else if (role === 'tool') this.toolResult(message.tool_call_id, null, null, content);
    else this.add(systemEntry(content, { agent, status, at }));
  }

  historyAssistant({ content, agent, status, created_at: at, tool_calls: toolCalls }) {
    if (content || !toolCalls?.length) this.add(bubble('assistant', content, { agent, at, status }));
    for (const call of toolCalls ?? []) {
      const fn = call.function ?? {};
      this.ensureCall({ call_id: call.id, tool_name: fn.name, arguments: fn.arguments, agent });
    }
  }

  // --- live frames -------------------------------------------------------------------------

  /** Apply one hub frame; frames that change nothing here are ignored. */
  onFrame(frame) {
    const handler = FRAME_HANDLERS[frame.type];
    if (handler) handler.call(this, frame);
  }

  /** A message this console sent: the hub does not echo user messages back. */
  addUserMessage(content) {
    this.closeStream();
    this.add(bubble('user', content, { at: new Date().toISOString() }));
    this.scrollToEnd();
  }

  token({ token, is_final: isFinal }) {
    if (token) this.appendToken(token);
    if (isFinal) this.closeStream();
  }

  appendToken(token) {
    if (!this.streaming) {
      const element = bubble('assistant', '', { agent: this.agent, at: new Date().toISOString(), streaming: true });
      if (this.runId) element.dataset.runId = this.runId;
      this.streaming = { element, body: element.querySelector('.message-body'), text: '' };
      this.add(element);
    }
    this.streaming.text += token;
    // Plain text while streaming: cheap, and half a Markdown construct would render oddly.
    stickToBottom(this.scroller, () => this.streaming.body.append(token));
  }

  closeStream() {
    if (!this.streaming) return;
    const { element, body, text } = this.streaming;
    stickToBottom(this.scroller, () => clear(body, renderMarkdown(text)));
    element.dataset.state = 'final';
    this.streaming = null;
  }

  runStarted({ run_id: runId, agent }) {
    this.runId = runId;
    this.agent = agent || this.agent;
  }

  runFinished({ run_id: runId, reason }) {
    this.closeStream();
    // The partial answer of a cancelled or failed run is stored with a status; show it now.
    const status = { cancelled: 'cancelled', error: 'interrupted' }[reason];
    const last = [...this.root.querySelectorAll('[data-testid="assistant-message"]')].pop();
    if (status && last && last.dataset.runId === runId) addStatusBadge(last, status);
  }

  toolCall(frame) {
    const view = this.ensureCall(frame);
    if (frame.requires_approval) this.ensureCard(view, frame);
  }

  /** The call's view, created (or updated, when the hub re-sends it) by call_id. */
  ensureCall({ call_id: callId, tool_name: toolName, arguments: args, agent }) {
    let view = this.calls.get(callId);
    if (view) {
      if (args !== undefined && args !== null) view.setArguments(args);
      view.setToolName(toolName);
      return view;
    }
    view = new ToolCallView({ callId, toolName, args, agent });
    if (callId) this.calls.set(callId, view);
    this.add(view.element);
    return view;
  }

  ensureCard(view, { agent, expires_at: expiresAt, diff }) {
    const existing = this.cards.get(view.callId);
    if (existing) {
      existing.setDetails({ expiresAt, diff });
      return existing;
    }
    const placeholder = el('div');
    view.element.replaceWith(placeholder); // keep its place in the conversation
    const card = new ApprovalCard(view, { agent, expiresAt, diff }, this.handlers.onDecide);
    placeholder.replaceWith(card.element);
    this.cards.set(view.callId, card);
    this.scrollToEnd();
    return card;
  }

  /** session_ready.pending_approvals entries: same as an approval tool_call. */
  addPendingApprovals(pending) {
    for (const approval of pending ?? []) this.toolCall({ ...approval, requires_approval: true });
  }

  approvalResolved(frame) {
    this.cards.get(frame.call_id)?.resolve(frame);
  }

  approvalExpiring({ call_id: callId, expires_at: expiresAt }) {
    this.cards.get(callId)?.setExpiry(expiresAt, true);
  }

  /** An answer to one of our decisions failed; find its card from the message or the last one. */
  decisionRefused({ code, content }, lastCallId) {
    const callId = DECISION_ERROR.exec(content ?? '')?.[1] ?? lastCallId;
    const card = this.cards.get(callId);
    if (!card) return;
    if (code !== 'already_decided') {
      card.failed(`${code}: ${content}`);
      return;
    }
    // "call 'x' was already approved by ide:…": show it as that decision.
    const [, word, decidedBy] = ALREADY.exec(content ?? '') ?? [];
    card.resolve({ decision: DECISION_OF_STATE[word] ?? word ?? 'decided', decided_by: decidedBy }, content);
  }

  toolFinished({ call_id: callId, tool_name: toolName, status, content }) {
    if (this.followups.has(callId)) this.answerFollowup(callId, content);
    else this.toolResult(callId, toolName, status, content);
  }

  toolResult(callId, toolName, status, content) {
    const view = this.calls.get(callId) ?? this.ensureCall({ call_id: callId, tool_name: toolName, arguments: null });
    view.setToolName(toolName);
    stickToBottom(this.scroller, () => view.setResult(status, content));
  }

  agentSwitched(frame) {
    this.closeStream();
    this.agent = frame.to_agent || this.agent; // the rest of the run speaks as the new agent
    this.add(switchMarker(frame));
  }

  error({ code, content }) {
    this.closeStream();
    this.add(el('div', { className: 'entry error-entry', testid: 'error', data: { code: code ?? '' }, attrs: { role: 'alert' } },
      el('span', { className: 'badge error-code', testid: 'error-code', text: code ?? 'error' }),
      el('span', { className: 'error-content', text: content ?? '' })));
  }

  messageQueued({ position, content }) {
    this.add(el('div', { className: 'entry note', testid: 'message-queued' },
      `Queued (position ${position}): `, el('span', { className: 'quote', text: content ?? '' })));
  }

  followupQuestion({ call_id: callId, question, options }) {
    if (this.followups.has(callId)) return; // re-sent on reconnect
    this.closeStream();
    const followup = followupCard(callId, question, options, this.agent, this.handlers.onAnswer);
    this.add(followup.element);
    this.followups.set(callId, followup);
  }

  answerFollowup(callId, content) {
    const followup = this.followups.get(callId);
    followup.element.dataset.state = 'answered';
    for (const button of followup.buttons) button.disabled = true;
    followup.answer.textContent = `Answered: ${content}`;
    followup.answer.hidden = false;
  }

  resync({ messages }, pendingApprovals) {
    this.reset();
    this.add(el('div', { className: 'entry timeline resync-marker', testid: 'resync-marker', text: 'Reloaded after reconnecting (missed frames were no longer kept)' }));
    this.renderHistory(messages ?? []);
    this.addPendingApprovals(pendingApprovals);
  }
}

const FRAME_HANDLERS = {
  assistant_message: Transcript.prototype.token,
  run_started: Transcript.prototype.runStarted,
  run_finished: Transcript.prototype.runFinished,
  tool_call: Transcript.prototype.toolCall,
  tool_finished: Transcript.prototype.toolFinished,
  approval_resolved: Transcript.prototype.approvalResolved,
  approval_expiring: Transcript.prototype.approvalExpiring,
  agent_switched: Transcript.prototype.agentSwitched,
  error: Transcript.prototype.error,
  message_queued: Transcript.prototype.messageQueued,
  followup_question: Transcript.prototype.followupQuestion,
};

// --- entry builders ---------------------------------------------------------------------------

function bubble(role, content, { agent, at, status, streaming = false }) {
  const body = el('div', { className: 'message-body', testid: 'message-body' });
  if (!streaming) body.append(renderMarkdown(content ?? ''));
  const element = el('article', { className: `entry message ${role}`, testid: `${role}-message`,
    data: { role, state: streaming ? 'streaming' : 'final' } },
    el('header', { className: 'message-meta' },
      el('span', { className: 'message-role', text: role === 'user' ? 'you' : agent || 'assistant' }),
      at ? el('time', { className: 'muted', attrs: { datetime: at }, text: shortTime(at) }) : null),
    body);
  if (status && status !== 'complete') addStatusBadge(element, status);
  return element;
}

// The agent's question with its options as buttons; any typed message answers it too.
function followupCard(callId, question, options, agent, onAnswer) {
  const buttons = (options ?? []).map((option) => el('button', {
    type: 'button', className: 'btn followup-option', testid: 'followup-option', text: option,
    on: { click: () => onAnswer(option) },
  }));
  const answer = el('div', { className: 'followup-answer', testid: 'followup-answer', hidden: true });
  const element = el('section', { className: 'entry followup', testid: 'followup', data: { callId, state: 'open' } },
    el('div', { className: 'followup-head' },
      el('strong', { text: 'Question' }), agent ? el('span', { className: 'muted', text: ` from ${agent}` }) : null),
    el('div', { className: 'followup-question', testid: 'followup-question' }, renderMarkdown(question ?? '')),
    buttons.length ? el('div', { className: 'followup-options' }, ...buttons) : null,
    el('div', { className: 'muted small', text: 'Answer with an option, or type your answer in the message box.' }),
    answer);
  return { element, buttons, answer };
}

function addStatusBadge(element, status) {
  if (element.querySelector('[data-testid="status-badge"]')) return;
  element.dataset.status = status;
  element.querySelector('.message-meta')
    .append(el('span', { className: `badge status-${status}`, testid: 'status-badge', text: status }));
}

function systemEntry(content, { agent, status, at }) {
  const match = SWITCH_TEXT.exec(content ?? '');
  if (match) return switchMarker({ from_agent: match[1], to_agent: match[2], reason: match[3], at });
  const element = el('div', { className: 'entry timeline system-note', testid: 'system-note' },
    el('span', { className: 'timeline-text', text: content ?? '' }),
    agent ? el('span', { className: 'muted', text: ` · ${agent}` }) : null);
  if (status && status !== 'complete') {
    element.append(el('span', { className: `badge status-${status}`, testid: 'status-badge', text: status }));
  }
  return element;
}

function switchMarker({ from_agent: from, to_agent: to, reason, method, confidence, at }) {
  const element = el('div', { className: 'entry timeline agent-switch', testid: 'agent-switch',
    data: { from: from ?? '', to: to ?? '', method: method ?? '' } },
    el('span', { className: 'timeline-icon', attrs: { 'aria-hidden': 'true' }, text: '⇄' }),
    el('span', { className: 'switch-agents' }, el('strong', { text: from ?? '?' }), ' → ', el('strong', { text: to ?? '?' })),
    reason ? el('span', { className: 'switch-reason', text: reason }) : null);
  const extras = [];
  if (method) extras.push(el('span', { className: 'badge', testid: 'switch-method', text: `by ${method}` }));
  if (confidence) extras.push(el('span', { className: 'muted', text: `confidence ${confidence}` }));
  if (at) extras.push(el('time', { className: 'muted', attrs: { datetime: at }, text: shortTime(at) }));
  return append(element, ...extras);
}
