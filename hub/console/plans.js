// A plan card: the steps an agent proposes, approve / reject with feedback, then each step's
// progress and result as `plan_updated` frames arrive (from any client's decision).

import { el, clear } from './dom.js';

export class PlanCard {
  /**
   * @param {object} frame  plan_approval_required
   * @param {(planId: string, decision: object) => void} onDecide
   */
  constructor(frame, onDecide) {
    this.planId = frame.plan_id;
    this.onDecide = onDecide;
    this.stepsNode = el('ol', { className: 'plan-steps', testid: 'plan-steps' });
    this.statusNode = el('span', { className: 'badge', testid: 'plan-status', text: 'proposed' });
    this.feedback = el('input', { type: 'text', className: 'feedback', testid: 'plan-feedback',
      placeholder: 'Feedback for the agent (sent with Reject)', attrs: { 'aria-label': 'Feedback on the plan' } });
    this.controls = el('div', { className: 'approval-controls' },
      el('div', { className: 'approval-buttons' },
        button('Run the plan', 'plan-approve', 'primary', () => this.decide('approve')),
        button('Reject', 'plan-reject', 'danger', () => this.decide('reject'))),
      this.feedback);
    this.element = el('section',
      { className: 'approval-card plan-card', testid: 'plan-card', data: { planId: this.planId, state: 'proposed' },
        attrs: { 'aria-label': `Plan: ${frame.plan_summary?.title ?? ''}` } },
      el('header', { className: 'approval-head' },
        el('strong', { text: `Plan: ${frame.plan_summary?.title ?? ''}` }),
        frame.agent ? el('span', { className: 'muted', text: `proposed by ${frame.agent}` }) : null,
        this.statusNode),
      this.stepsNode,
      this.controls);
    this.showSteps(frame.plan_summary?.steps ?? []);
  }

  decide(decision) {
    const feedback = this.feedback.value.trim();
    this.onDecide(this.planId, { decision, ...(decision === 'reject' && feedback ? { feedback } : {}) });
  }

  /** A plan_updated frame: the plan's status and every step's. */
  update({ status, steps }) {
    this.element.dataset.state = status;
    this.statusNode.textContent = status;
    this.controls.hidden = status !== 'proposed';
    this.showSteps(steps);
  }

  showSteps(steps) {
    clear(this.stepsNode);
    for (const step of steps) {
      const status = step.status ?? 'pending';
      this.stepsNode.append(el('li', { className: 'plan-step', testid: 'plan-step', data: { status } },
        el('span', { className: `badge status-${status}`, text: status }),
        el('strong', { text: ` ${step.title} ` }),
        el('span', { className: 'muted', text: `(${step.agent}) ${step.description}` }),
        step.result ? el('div', { className: 'plan-result', testid: 'plan-result', text: step.result }) : null));
    }
  }
}

function button(text, testid, kind, onClick) {
  const node = el('button', { type: 'button', className: kind, testid, text });
  node.addEventListener('click', onClick);
  return node;
}
