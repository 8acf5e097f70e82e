// The console's wiring: sign-in, the session list, one open session (history + socket),
// the composer, the agent switcher and the frame inspector.

import { api, auth, onUnauthorized, ApiError } from './api.js';
import { HubSocket } from './socket.js';
import { Transcript } from './transcript.js';
import { PlanCard } from './plans.js';
import { FrameLog } from './inspector.js';
import { SessionList } from './sessions.js';
import { el, clear, byTestId } from './dom.js';

const $ = (testid) => byTestId(testid);
// Errors a hitl_decision can get back (sent to this console only, without the call id).
const DECISION_ERRORS = new Set(['already_decided', 'invalid_decision', 'unknown_call', 'rate_limited', 'invalid_frame']);

const state = {
  sessionId: null,
  socket: null,
  opening: 0, // bumps on every open, so a slow history answer for an old session is dropped
  runState: 'idle',
  lastReady: null, // the latest session_ready: its pending approvals survive a resync
  lastDecisionCallId: null, // error frames about a decision do not name the call
  plans: new Map(), // plan_id -> PlanCard, for the open session
};

const transcript = new Transcript($('transcript'), document.querySelector('.transcript-scroll'), {
  onDecide: decide,
  onAnswer: (text) => sendMessage(text),
});

const frames = new FrameLog({
  list: $('frame-log'),
  filter: $('frame-filter'),
  pause: $('pause-frames'),
  buffered: $('frame-buffered'),
  clear: $('clear-frames'),
  count: $('frame-count'),
});

const sessions = new SessionList(
  { list: $('session-list'), search: $('session-search'), more: $('sessions-more'), status: $('session-list-status') },
  (session) => openSession(session.session_id, session.current_agent),
);

// --- sign in / out -----------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const key = $('api-key').value.trim();
  if (!key) return showSignInError('Enter the API key.');
  $('sign-in').disabled = true;
  try {
    const me = await api.checkKey(key);
    auth.save(key);
    $('api-key').value = '';
    await enterApp(me);
  } catch (error) {
    showSignInError(signInMessage(error));
  } finally {
    $('sign-in').disabled = false;
  }
}

function signInMessage(error) {
  if (error instanceof ApiError && error.status === 401) return `The hub refused this credential (401): ${error.message}`;
  return `Could not reach the hub: ${error.message}`;
}

function showSignInError(text) {
  const node = $('sign-in-error');
  node.textContent = text;
  node.hidden = !text;
}

async function enterApp(me) {
  showSignInError('');
  const who = $('who');
  who.textContent = me.admin ? 'administrator: every session' : `signed in as ${me.user}`;
  who.title = me.admin ? 'Signed in with the internal key, which sees every session' : 'Only your own sessions are shown';
  who.hidden = false;
  document.body.classList.replace('signed-out', 'signed-in');
  $('sign-in-view').hidden = true;
  $('app').hidden = false;
  $('sign-out').hidden = false;
  $('toggle-inspector').hidden = false;
  sessions.refresh();
  fillAgents((await api.agents())?.agents);
  openFromHash();
}

function signOut(message = '') {
  closeSession();
  auth.forget();
  document.body.classList.replace('signed-in', 'signed-out');
  $('app').hidden = true;
  $('sign-out').hidden = true;
  $('who').hidden = true;
  $('toggle-inspector').hidden = true;
  $('sign-in-view').hidden = false;
  clear($('session-list'));
  showSignInError(message);
  $('api-key').focus();
}

// A stored key is checked again on load: it may have been rotated since.
async function resumeSignIn() {
  const key = auth.key();
  if (!key) return;
  try {
    await enterApp(await api.checkKey(key));
  } catch (error) {
    signOut(signInMessage(error));
  }
}

function fillAgents(agents) {
  if (!agents?.length) return;
  const select = $('agent-select');
  clear(select, ...agents.map((agent) => el('option', { value: agent.name, text: agent.name, title: agent.description ?? '' })));
  select.value = $('current-agent').textContent;
}

// --- opening a session -------------------------------------------------------------------------

async function openSession(sessionId, agentHint) {
  closeSession();
  const opening = ++state.opening;
  state.sessionId = sessionId;
  showSession(sessionId, agentHint);
  try {
    const [{ messages }, usage] = await Promise.all([api.history(sessionId), api.usage(sessionId)]);
    if (opening !== state.opening) return;
    showUsage(usage.totals);
    transcript.renderHistory(messages);
  } catch (error) {
    if (opening !== state.opening) return;
    transcript.error({ code: 'history', content: `Could not load the history: ${error.message}` });
    // Connecting would create the session: only do that for one that exists.
    if (error instanceof ApiError && error.status === 404) return;
  }
  connect(sessionId);
}

function showSession(sessionId, agentHint) {
  if (location.hash !== sessionHash(sessionId)) history.replaceState(null, '', sessionHash(sessionId));
  document.title = `${sessionId} · agent hub console`;
  $('session-title').textContent = sessionId;
  $('empty-state').hidden = true;
  $('message-input').disabled = false;
  transcript.reset();
  state.plans.clear();
  frames.reset();
  state.lastReady = null;
  setRunState('idle');
  setAgent(agentHint ?? '—');
  sessions.markActive(sessionId);
}

function connect(sessionId) {
  state.socket = new HubSocket({
    sessionId,
    getTicket: () => api.ticket(sessionId),
    onFrame: receive,
    onState: showConnection,
    onSent: (frame) => frames.log(frame, 'out'),
    onFatal: () => signOut('The hub refused the key; sign in again.'),
  });
  state.socket.start();
}

function closeSession() {
  state.socket?.stop();
  state.socket = null;
  state.sessionId = null;
  state.opening += 1;
  $('session-title').textContent = 'none';
  showUsage(null);
  $('empty-state').hidden = false;
  $('message-input').disabled = true;
  showConnection('disconnected', '');
  sessions.markActive(null);
}

const sessionHash = (id) => `#session=${encodeURIComponent(id)}`;

function openFromHash() {
  const match = /^#session=(.+)$/.exec(location.hash);
  const id = match ? decodeURIComponent(match[1]) : null;
  if (id && id !== state.sessionId && auth.key()) openSession(id);
}

async function newSession() {
  $('new-session').disabled = true;
  try {
    const session = await api.createSession();
    $('session-search').value = '';
    await sessions.refresh();
    openSession(session.session_id, session.current_agent);
  } catch (error) {
    transcript.error({ code: 'new_session', content: `Could not create a session: ${error.message}` });
  } finally {
    $('new-session').disabled = false;
  }
}

// --- frames from the hub -----------------------------------------------------------------------

function receive(frame) {
  frames.log(frame, 'in');
  const handler = APP_HANDLERS[frame.type];
  if (handler) handler(frame);
  else transcript.onFrame(frame);
}

const APP_HANDLERS = {
  session_ready(frame) {
    state.lastReady = frame;
    setAgent(frame.current_agent);
    setRunState(frame.run_state);
    transcript.addPendingApprovals(frame.pending_approvals);
  },
  resync(frame) {
    state.plans.clear(); // the transcript is drawn again; a waiting plan is sent again after
    transcript.resync(frame, state.lastReady?.pending_approvals);
  },
  run_started(frame) {
    setRunState('running');
    transcript.onFrame(frame);
  },
  usage(frame) {
    showUsage(frame.session);
  },
  run_finished(frame) {
    setRunState(frame.reason === 'waiting' ? 'waiting' : 'idle');
    transcript.onFrame(frame);
  },
  agent_switched(frame) {
    setAgent(frame.to_agent);
    sessions.setAgent(state.sessionId, frame.to_agent);
    transcript.onFrame(frame);
  },
  error(frame) {
    transcript.onFrame(frame);
    if (DECISION_ERRORS.has(frame.code) && state.lastDecisionCallId) {
      transcript.decisionRefused(frame, state.lastDecisionCallId);
    }
  },
  approval_resolved(frame) {
    if (frame.call_id === state.lastDecisionCallId) state.lastDecisionCallId = null;
    transcript.onFrame(frame);
  },
  plan_approval_required(frame) {
    if (state.plans.has(frame.plan_id)) return; // sent again on reconnect
    const card = new PlanCard(frame, decidePlan);
    state.plans.set(frame.plan_id, card);
    transcript.add(card.element);
  },
  plan_updated(frame) {
    state.plans.get(frame.plan_id)?.update(frame);
  },
};

function setAgent(agent) {
  $('current-agent').textContent = agent || '—';
  const select = $('agent-select');
  if ([...select.options].some((option) => option.value === agent)) select.value = agent;
}

/** A session's running totals: null counts mean the model reported none (shown as unknown). */
function showUsage(totals) {
  const node = $('session-usage');
  if (!totals || !totals.model_calls) {
    node.textContent = '—';
    node.title = 'no model calls yet';
    return;
  }
  const known = totals.total_tokens === null ? 'unknown' : totals.total_tokens.toLocaleString('en');
  const cost = totals.cost_usd === null || totals.cost_usd === undefined ? '' : ` · $${totals.cost_usd.toFixed(4)}`;
  node.textContent = `${known}${cost}`;
  node.title = `${totals.prompt_tokens ?? '?'} prompt + ${totals.completion_tokens ?? '?'} completion tokens over ` +
    `${totals.model_calls} model calls` + (totals.unreported_calls ? ` (${totals.unreported_calls} reported none)` : '');
}

function setRunState(runState) {
  state.runState = runState || 'idle';
  const node = $('run-state');
  node.textContent = state.runState;
  node.dataset.state = state.runState;
  updateControls();
}

function showConnection(connection, detail) {
  const node = $('connection-status');
  node.textContent = connection;
  node.dataset.state = connection;
  document.body.dataset.connection = connection;
  $('connection-detail').textContent = detail;
  updateControls();
}

// Sending needs an open socket; cancel also needs a run to stop.
function updateControls() {
  const connected = state.socket?.isOpen() ?? false;
  $('send').disabled = !connected;
  $('switch-agent').disabled = !connected;
  $('cancel').disabled = !connected || state.runState === 'idle';
}

// --- sending -----------------------------------------------------------------------------------

function send(frame) {
  if (state.socket?.send(frame)) return true;
  showComposerError('Not connected to the hub; wait for the socket to reconnect.');
  return false;
}

function sendMessage(text) {
  const content = text ?? $('message-input').value;
  if (!content.trim()) return;
  const frame = { type: 'user_message', content };
  if ($('interrupt').checked) frame.interrupt = true;
  if (!send(frame)) return;
  transcript.addUserMessage(content);
  showComposerError('');
  if (text === undefined) $('message-input').value = '';
  $('interrupt').checked = false;
}

function showComposerError(text) {
  const node = $('composer-error');
  node.textContent = text;
  node.hidden = !text;
}

function onComposerKey(event) {
  // Enter sends, Shift+Enter is a new line; never while an IME is composing a character.
  if (event.key !== 'Enter' || event.shiftKey || event.isComposing) return;
  event.preventDefault();
  if (!$('send').disabled) sendMessage();
}

function switchAgent() {
  send({ type: 'switch_agent', agent_type: $('agent-select').value, content: '' });
}

// Decisions go over the socket; without one, over HTTP (the hub accepts both, first wins).
async function decide(callId, body) {
  state.lastDecisionCallId = callId;
  if (state.socket?.send({ type: 'hitl_decision', ...body })) return;
  const { call_id: _callId, ...decision } = body;
  try {
    await api.decide(state.sessionId, callId, decision);
    transcript.approvalResolved({ call_id: callId, decision: body.decision, decided_by: 'this console (HTTP)' });
  } catch (error) {
    const code = error.status === 409 ? 'already_decided' : error.code ?? 'http_error';
    transcript.decisionRefused({ code, content: error.message }, callId);
  }
}

async function decidePlan(planId, body) {
  if (state.socket?.send({ type: 'plan_decision', approval_request_id: planId, ...body })) return;
  try {
    await api.decidePlan(state.sessionId, planId, body);
  } catch (error) {
    transcript.error({ code: error.code ?? 'http_error', content: `The plan decision failed: ${error.message}` });
  }
}

// --- start -------------------------------------------------------------------------------------

function toggleInspector() {
  const collapsed = document.body.classList.toggle('inspector-collapsed');
  $('toggle-inspector').setAttribute('aria-expanded', String(!collapsed));
  $('toggle-inspector').textContent = collapsed ? 'Show frames' : 'Hide frames';
}

function bind() {
  $('sign-in-form').addEventListener('submit', signIn);
  $('sign-out').addEventListener('click', () => signOut());
  $('new-session').addEventListener('click', newSession);
  $('composer').addEventListener('submit', (event) => { event.preventDefault(); sendMessage(); });
  $('message-input').addEventListener('keydown', onComposerKey);
  $('cancel').addEventListener('click', () => send({ type: 'cancel' }));
  $('switch-agent').addEventListener('click', switchAgent);
  $('toggle-inspector').addEventListener('click', toggleInspector);
  window.addEventListener('hashchange', openFromHash);
  window.addEventListener('online', () => state.socket?.retryNow());
  onUnauthorized(() => signOut('The hub refused the key; sign in again.'));
}

// A small handle for tests and debugging in the devtools console (holds no secret).
window.hubConsole = {
  get sessionId() { return state.sessionId; },
  get connection() { return state.socket?.state ?? 'disconnected'; },
  get lastSeq() { return state.socket?.lastSeq ?? null; },
  get epoch() { return state.socket?.epoch ?? null; },
  dropConnection: () => state.socket?.drop(),
  // Render a hub frame as if it had arrived (it is not sent anywhere): for UI tests.
  inject: (frame) => receive(frame),
  open: (sessionId) => openSession(sessionId),
};

bind();
showConnection('disconnected', '');
resumeSignIn();
