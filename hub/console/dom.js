// Tiny DOM builder. Everything that comes from the hub, the model or a tool goes through
// text nodes or attributes set one by one, never through HTML parsing, so a reply containing
// <script> or <img onerror> is shown as the characters it is.

/**
 * el('div', {className: 'x', testid: 'y', data: {callId: 'c'}, attrs: {title: 't'}}, 'text', node)
 * Strings among the children become text nodes; null/undefined/false children are skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  applyProps(node, props);
  append(node, ...children);
  return node;
}

function applyProps(node, props) {
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === 'testid') node.dataset.testid = value;
    else if (key === 'data') Object.assign(node.dataset, value);
    else if (key === 'attrs') setAttrs(node, value);
    else if (key === 'on') addListeners(node, value);
    else if (key === 'text') node.textContent = value;
    else node[key] = value; // plain properties: className, type, disabled, value, hidden, ...
  }
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, String(value));
  }
}

function addListeners(node, listeners) {
  for (const [event, handler] of Object.entries(listeners)) node.addEventListener(event, handler);
}

/** Append children; strings and numbers become text nodes. */
export function append(parent, ...children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Replace every child of `node` (with nothing, or with `children`). */
export function clear(node, ...children) {
  node.replaceChildren();
  return append(node, ...children);
}

/** Shortcut for document.querySelector by data-testid. */
export function byTestId(id, root = document) {
  return root.querySelector(`[data-testid="${id}"]`);
}

/** Pretty JSON for display; falls back to String() for values JSON cannot encode. */
export function prettyJson(value) {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A short local time like 14:03:07 from an ISO string or epoch milliseconds. */
export function shortTime(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** A short local date and time for lists. */
export function shortDateTime(value) {
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return '';
  return date.toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** Keep a scroll container pinned to the bottom only if the user has not scrolled up. */
export function stickToBottom(container, update) {
  const atBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 40;
  const result = update();
  if (atBottom) container.scrollTop = container.scrollHeight;
  return result;
}
