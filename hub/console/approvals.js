// An approval card: wraps the tool call it is about and offers approve / edit / reject.
// The card only *asks* for a decision (through `onDecide`); it turns resolved when the hub
// says so (approval_resolved, from any client), because the first decision wins.

import { el, clear, prettyJson, shortTime } from './dom.js';

const OUTCOME_WORDS = {
  approve: 'approved',
  edit: 'edited and approved',
  reject: 'rejected',
  expired: 'expired',
  cancelled: 'cancelled',
};

let uid = 0; // unique ids for label/for pairs

export class ApprovalCard {
  /**
   * @param {import('./toolcall.js').ToolCallView} view  the call, moved inside the card
   * @param {{agent?: string, expiresAt?: string, diff?: string}} details
   * @param {(callId: string, decision: object) => void} onDecide
   */
  constructor(view, details, onDecide) {
    this.view = view;
    this.callId = view.callId;
    this.onDecide = onDecide;
    this.resolved = false;
    this.build(details);
    this.setDetails(details);
  }

  build(details) {
    this.expiryNode = el('span', { className: 'approval-expiry', testid: 'approval-expiry', hidden: true });
    this.diffNode = el('div', { className: 'approval-diff', hidden: true });
    this.outcomeNode = el('div', { className: 'approval-outcome', testid: 'approval-outcome', hidden: true });
    this.messageNode = el('div', { className: 'inline-error', testid: 'approval-message', attrs: { role: 'alert' }, hidden: true });
    this.element = el(
      'section',
      { className: 'approval-card', testid: 'approval-card', data: { callId: this.callId, state: 'pending' },
        attrs: { 'aria-label': `Approval for ${this.view.nameNode.textContent}` } },
      el('header', { className: 'approval-head' },
        el('strong', { text: 'Approval needed' }),
        details.agent ? el('span', { className: 'muted', text: `${details.agent} wants to run this` }) : null,
        this.expiryNode),
      this.view.element,
      this.diffNode,
      this.buildControls(),
      this.buildEditor(),
      this.messageNode,
      this.outcomeNode,
    );
  }

  buildControls() {
    const id = `approval-${++uid}`;
    this.feedback = el('input', { type: 'text', className: 'feedback', testid: 'feedback', id: `${id}-feedback`,
      placeholder: 'Feedback for the agent (sent with Reject)' });
    this.alwaysAllow = el('input', { type: 'checkbox', testid: 'always-allow', id: `${id}-always` });
    this.pattern = el('input', { type: 'text', className: 'allow-pattern', testid: 'allow-pattern', id: `${id}-pattern`,
      placeholder: 'pattern (default: this exact command or path)', hidden: true,
      attrs: { 'aria-label': 'Always-allow pattern' } });
    this.alwaysAllow.addEventListener('change', () => { this.pattern.hidden = !this.alwaysAllow.checked; });
    this.approveButton = button('Approve', 'approve', 'primary', () => this.decide('approve'));
    this.editButton = button('Edit…', 'edit', '', () => this.openEditor());
    this.rejectButton = button('Reject', 'reject', 'danger', () => this.decide('reject'));
    return el('div', { className: 'approval-controls' },
      el('div', { className: 'approval-buttons' }, this.approveButton, this.editButton, this.rejectButton),
      el('label', { className: 'visually-hidden', attrs: { for: this.feedback.id }, text: 'Feedback for the agent' }),
      this.feedback,
      el('div', { className: 'always-allow' },
        this.alwaysAllow,
        el('label', { attrs: { for: this.alwaysAllow.id }, text: 'Always allow matching calls in this session' }),
        this.pattern));
  }

  buildEditor() {
    const id = `approval-${++uid}-args`;
    this.editArgs = el('textarea', { className: 'edit-arguments', testid: 'edit-arguments', id, rows: 8, spellcheck: false });
    this.editError = el('div', { className: 'inline-error', testid: 'edit-error', attrs: { role: 'alert' }, hidden: true });
    this.confirmEdit = button('Approve with these arguments', 'confirm-edit', 'primary', () => this.submitEdit());
    this.cancelEdit = button('Cancel edit', 'cancel-edit', '', () => this.closeEditor());
    this.editor = el('div', { className: 'approval-editor', hidden: true },
      el('label', { attrs: { for: id }, text: 'Arguments (JSON object, merged over the model’s)' }),
      this.editArgs, this.editError,
      el('div', { className: 'approval-buttons' }, this.confirmEdit, this.cancelEdit));
    return this.editor;
  }

  /** Expiry and diff may arrive later (a re-sent tool_call carries what the first lacked). */
  setDetails({ expiresAt, diff }) {
    if (expiresAt) this.setExpiry(expiresAt, false);
    if (diff && this.diffNode.hidden) {
      clear(this.diffNode, el('div', { className: 'muted', text: 'Diff' }), renderDiff(diff));
      this.diffNode.hidden = false;
    }
  }

  setExpiry(expiresAt, soon) {
    const when = shortTime(expiresAt) || expiresAt;
    this.expiryNode.textContent = soon ? `expires soon (${when})` : `expires ${when}`;
    this.expiryNode.title = expiresAt;
    this.expiryNode.hidden = false;
    this.element.classList.toggle('expiring', soon);
  }

  openEditor() {
    this.editArgs.value = prettyJson(this.view.args);
    this.editError.hidden = true;
    this.editor.hidden = false;
    this.editArgs.focus();
  }

  closeEditor() {
    this.editor.hidden = true;
  }

  submitEdit() {
    let parsed;
    try {
      parsed = JSON.parse(this.editArgs.value);
    } catch (error) {
      this.showEditError(`Not valid JSON: ${error.message}`);
      return;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      this.showEditError('The arguments must be a JSON object, e.g. {"path": "a.txt"}.');
      return;
    }
    this.decide('edit', parsed);
  }

  showEditError(text) {
    this.editError.textContent = text;
    this.editError.hidden = false;
  }

  decide(decision, modifiedArguments) {
    if (this.resolved) return;
    const body = { call_id: this.callId, decision };
    if (decision === 'edit') body.modified_arguments = modifiedArguments;
    const feedback = this.feedback.value.trim();
    if (feedback) body.feedback = feedback;
    if (decision !== 'reject' && this.alwaysAllow.checked) {
      body.always_allow = true;
      // Not trimmed: "rm " and "rm" are different command prefixes.
      if (this.pattern.value.trim()) body.allow_pattern = this.pattern.value;
    }
    this.setBusy(true);
    this.element.dataset.state = 'sending';
    this.messageNode.hidden = true;
    this.onDecide(this.callId, body);
  }

  /** The decision could not be sent or was refused (invalid edit, ...): let the user retry. */
  failed(text) {
    if (this.resolved) return;
    this.element.dataset.state = 'pending';
    this.setBusy(false);
    this.messageNode.textContent = text;
    this.messageNode.hidden = false;
  }

  /** approval_resolved from anyone, or an already_decided refusal (`note` is its text). */
  resolve({ decision, decided_by: decidedBy, arguments: args, feedback }, note) {
    this.resolved = true;
    this.element.dataset.state = 'resolved';
    if (decision) this.element.dataset.decision = decision;
    if (args && decision === 'edit') this.view.setArguments(args);
    this.setBusy(true);
    this.editor.hidden = true;
    this.messageNode.hidden = true;
    this.element.classList.remove('expiring');
    const words = note || `${OUTCOME_WORDS[decision] ?? decision} by ${decidedBy ?? 'someone'}`;
    clear(this.outcomeNode, el('strong', { text: words }), feedback ? el('span', { text: ` — ${feedback}` }) : null);
    this.outcomeNode.hidden = false;
  }

  setBusy(busy) {
    for (const control of [this.approveButton, this.editButton, this.rejectButton, this.confirmEdit,
      this.cancelEdit, this.feedback, this.alwaysAllow, this.pattern, this.editArgs]) {
      control.disabled = busy;
    }
  }
}

function button(text, testid, kind, onClick) {
  return el('button', { type: 'button', className: `btn ${kind}`.trim(), testid, text, on: { click: onClick } });
}

/** A unified diff as preformatted text, one span per line so +/- lines can be coloured. */
function renderDiff(diff) {
  const pre = el('pre', { className: 'diff', testid: 'approval-diff' });
  for (const line of String(diff).replace(/\n$/, '').split('\n')) {
    const kind = line.startsWith('+') && !line.startsWith('+++') ? 'add'
      : line.startsWith('-') && !line.startsWith('---') ? 'del'
        : line.startsWith('@@') ? 'hunk' : 'ctx';
    pre.append(el('span', { className: `diff-${kind}`, text: `${line}\n` }));
  }
  return pre;
}
