// One tool call in the transcript: its name, arguments and, once it ends, its result.
// Keyed by call_id in the transcript so frames re-sent on reconnect update it in place.

import { el, clear, prettyJson } from './dom.js';

export class ToolCallView {
  constructor({ callId, toolName, args, agent }) {
    this.callId = callId;
    this.nameNode = el('span', { className: 'tool-name', testid: 'tool-name', text: toolName || 'tool' });
    this.statusNode = el('span', { className: 'badge tool-status', testid: 'tool-status', text: 'called' });
    this.argsNode = el('pre', { className: 'tool-args', testid: 'tool-arguments' });
    this.resultNode = el('div', { className: 'tool-result', testid: 'tool-result', hidden: true });
    this.element = el(
      'div',
      { className: 'tool-call', testid: 'tool-call', data: { callId: callId ?? '', status: 'called' } },
      el('div', { className: 'tool-head' },
        el('span', { className: 'tool-icon', attrs: { 'aria-hidden': 'true' }, text: '⚙' }),
        this.nameNode,
        agent ? el('span', { className: 'muted', text: `by ${agent}` }) : null,
        this.statusNode),
      this.argsNode,
      this.resultNode,
    );
    this.setArguments(args);
  }

  /** Arguments as pretty JSON; a string that is JSON (history stores them so) is parsed first. */
  setArguments(args) {
    // Unknown (a call seen only through its tool_finished): show no arguments rather than {}.
    this.argsNode.hidden = args === null || args === undefined;
    this.args = typeof args === 'string' ? parseMaybe(args) : args ?? {};
    this.argsNode.textContent = typeof this.args === 'string' ? this.args : prettyJson(this.args);
  }

  setToolName(name) {
    if (name) this.nameNode.textContent = name;
  }

  /** The outcome from tool_finished (status) or from a stored tool message (no status). */
  setResult(status, content) {
    const label = status || 'result';
    this.element.dataset.status = label;
    this.statusNode.textContent = label;
    this.statusNode.className = `badge tool-status status-${label}`;
    clear(this.resultNode, el('pre', { className: 'tool-output', text: stringify(content) }));
    this.resultNode.hidden = false;
  }
}

function parseMaybe(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function stringify(content) {
  return typeof content === 'string' ? content : prettyJson(content);
}
