// HTTP calls to the hub. Every call carries the credential — a user token as
// `Authorization: Bearer`, the internal key as X-Internal-Auth; it lives in sessionStorage
// only (gone when the tab closes, never in the URL or localStorage, so it does not leak into
// history, logs or other tabs).

const KEY_NAME = 'agent-hub-console:key';
const TIMEOUT_MS = 15000;

// The API is mounted next to /console/, so resolve paths against this module's URL: that keeps
// working if the hub is served under a path prefix.
const BASE = new URL('..', import.meta.url);

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
  }
}

export const auth = {
  key: () => sessionStorage.getItem(KEY_NAME),
  save: (key) => sessionStorage.setItem(KEY_NAME, key),
  forget: () => sessionStorage.removeItem(KEY_NAME),
};

let unauthorizedHandler = () => {};

/** Called whenever the hub answers 401 to the stored key (it was revoked or rotated). */
export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

export function apiUrl(path) {
  return new URL(path.replace(/^\//, ''), BASE);
}

/** The socket URL for a session; the ticket and resume point go in the query. */
export function socketUrl(sessionId, params) {
  const url = apiUrl(`ws/${encodeURIComponent(sessionId)}`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null) url.searchParams.set(name, String(value));
  }
  return url.href;
}

// A JWT is three base64url parts; anything else is taken for the internal key.
const JWT_SHAPE = /^[\w-]+\.[\w-]+\.[\w-]+$/;

function credentialHeaders(key) {
  if (key && JWT_SHAPE.test(key)) return { Authorization: `Bearer ${key}` };
  return { 'X-Internal-Auth': key ?? '' };
}

async function request(method, path, { body, key = auth.key() } = {}) {
  const headers = { ...credentialHeaders(key), Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(apiUrl(path), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(TIMEOUT_MS),
    cache: 'no-store',
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.error, data?.detail);
  return data;
}

// Wrap calls made with the stored key so a 401 signs the console out.
async function authed(method, path, options) {
  try {
    return await request(method, path, options);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) unauthorizedHandler(error);
    throw error;
  }
}

function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

const sessionPath = (id, rest = '') => `/sessions/${encodeURIComponent(id)}${rest}`;

export const api = {
  /** Validates a candidate credential without storing it; says whom it names. */
  checkKey: (key) => request('GET', '/auth/me', { key }),
  agents: () => authed('GET', '/agents'),
  sessions: ({ limit = 20, before, q } = {}) => authed('GET', `/sessions${query({ limit, before, q })}`),
  createSession: () => authed('POST', '/sessions', { body: {} }),
  usage: (id) => authed('GET', sessionPath(id, `/usage${query({ limit: 1 })}`)),
  history: (id, limit = 200) => authed('GET', sessionPath(id, `/history${query({ limit })}`)),
  decide: (id, callId, decision) =>
    authed('POST', sessionPath(id, `/approvals/${encodeURIComponent(callId)}`), { body: decision }),
  decidePlan: (id, planId, decision) =>
    authed('POST', sessionPath(id, `/plans/${encodeURIComponent(planId)}/decision`), { body: decision }),
  ticket: (id) => authed('POST', '/auth/ws-ticket', { body: { session_id: id } }),
};
