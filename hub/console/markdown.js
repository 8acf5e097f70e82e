// A deliberately small Markdown renderer that builds DOM nodes, never HTML strings.
// Supported: ``` / ~~~ fenced code (with a language), `inline code`, **bold**, *italic*,
// # headings, - / * / + bullet lists, 1. numbered lists, paragraphs with line breaks, and links
// ([text](url) or bare URLs) only when the URL is http or https. Anything else stays text.

import { el } from './dom.js';

const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;
const BLANK = /^\s*$/;

/** Render Markdown `text` into a DocumentFragment of safe nodes. */
export function renderMarkdown(text) {
  const lines = String(text ?? '').replace(/\r\n?/g, '\n').split('\n');
  const fragment = document.createDocumentFragment();
  let i = 0;
  while (i < lines.length) {
    const [node, next] = readBlock(lines, i);
    if (node) fragment.append(node);
    i = next;
  }
  return fragment;
}

// Returns [node or null, index of the next unread line]. Order matters: a fence wins over
// everything, a rule over a bullet ("---" vs "- ").
function readBlock(lines, i) {
  const line = lines[i];
  if (BLANK.test(line)) return [null, i + 1];
  if (FENCE.test(line)) return readFence(lines, i);
  if (RULE.test(line)) return [el('hr'), i + 1];
  const heading = HEADING.exec(line);
  if (heading) return [el(`h${Math.min(heading[1].length + 2, 6)}`, {}, ...renderInline(heading[2])), i + 1];
  if (BULLET.test(line)) return readList(lines, i, BULLET, 'ul');
  if (NUMBERED.test(line)) return readList(lines, i, NUMBERED, 'ol');
  return readParagraph(lines, i);
}

function readFence(lines, start) {
  const [, marker, lang] = FENCE.exec(lines[start]);
  const body = [];
  let i = start + 1;
  // The fence closes on a line of the same character, at least as long; or at the end.
  while (i < lines.length && !isClosingFence(lines[i], marker)) body.push(lines[i++]);
  const code = el('code', { text: body.join('\n') });
  const safeLang = lang.replace(/[^\w+#.-]/g, '').slice(0, 30);
  if (safeLang) {
    code.className = `language-${safeLang}`;
    code.dataset.lang = safeLang;
  }
  return [el('pre', { className: 'md-code' }, code), i + 1];
}

function isClosingFence(line, marker) {
  const trimmed = line.trim();
  return trimmed.length >= marker.length && trimmed === marker[0].repeat(trimmed.length);
}

function readList(lines, start, pattern, tag) {
  const list = el(tag);
  const first = NUMBERED.exec(lines[start]);
  if (tag === 'ol' && first && first[1] !== '1') list.start = Number(first[1]);
  let i = start;
  while (i < lines.length) {
    const match = pattern.exec(lines[i]);
    if (!match) break;
    const itemLines = [match[match.length - 1]];
    i += 1;
    // Indented lines that are not themselves list items continue the item.
    while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !pattern.test(lines[i])) {
      itemLines.push(lines[i].trim());
      i += 1;
    }
    list.append(el('li', {}, ...renderLines(itemLines)));
  }
  return [list, i];
}

function readParagraph(lines, start) {
  const body = [];
  let i = start;
  while (i < lines.length && !BLANK.test(lines[i]) && !startsBlock(lines[i])) body.push(lines[i++]);
  return [el('p', {}, ...renderLines(body)), i];
}

function startsBlock(line) {
  return FENCE.test(line) || HEADING.test(line) || BULLET.test(line) || NUMBERED.test(line) || RULE.test(line);
}

// Lines of one paragraph or list item: inline Markdown, joined by <br>.
function renderLines(lines) {
  const nodes = [];
  lines.forEach((line, index) => {
    if (index > 0) nodes.push(el('br'));
    nodes.push(...renderInline(line));
  });
  return nodes;
}

// One pass over the text with the earliest-matching inline construct; bold and italic
// recurse on their content. Groups: 1-2 code, 3 **bold**, 4 __bold__, 5 *em*, 6 _em_,
// 7-8 [text](url), 9 bare URL.
const INLINE = new RegExp(
  [
    '(`+)([^`]|[^`][\\s\\S]*?[^`])\\1(?!`)',
    '\\*\\*(?=\\S)([\\s\\S]*?\\S)\\*\\*',
    '__(?=\\S)([\\s\\S]*?\\S)__(?!\\w)',
    '\\*(?=[^\\s*])([\\s\\S]*?[^\\s*])\\*(?!\\*)',
    '(?<![\\w])_(?=[^\\s_])([\\s\\S]*?[^\\s_])_(?![\\w])',
    '\\[([^\\]\\n]+)\\]\\(\\s*([^()\\s]+)\\s*\\)',
    '(https?:\\/\\/[^\\s<>"\'`]+)',
  ].join('|'),
  'g',
);

/** Inline Markdown of one line (or span) as an array of nodes. */
export function renderInline(text) {
  const nodes = [];
  let last = 0;
  INLINE.lastIndex = 0;
  for (const match of [...text.matchAll(INLINE)]) {
    if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
    nodes.push(...inlineNode(match));
    last = match.index + match[0].length;
  }
  if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
  return nodes;
}

function inlineNode(match) {
  const [whole, , code, bold1, bold2, em1, em2, linkText, linkUrl, bareUrl] = match;
  if (code !== undefined) return [el('code', { className: 'md-inline-code', text: trimCode(code) })];
  if (bold1 !== undefined || bold2 !== undefined) return [el('strong', {}, ...renderInline(bold1 ?? bold2))];
  if (em1 !== undefined || em2 !== undefined) return [el('em', {}, ...renderInline(em1 ?? em2))];
  if (linkText !== undefined) return linkOrText(linkUrl, renderInline(linkText), whole);
  return bareLink(bareUrl);
}

// `` ` code ` `` keeps its inner backticks; one surrounding space on both sides is dropped.
function trimCode(code) {
  return /^ .* $/s.test(code) && code.trim() ? code.slice(1, -1) : code;
}

function bareLink(url) {
  const end = urlEnd(url);
  const core = url.slice(0, end);
  const nodes = linkOrText(core, [document.createTextNode(core)], core);
  if (end < url.length) nodes.push(document.createTextNode(url.slice(end)));
  return nodes;
}

// Trailing punctuation usually ends the sentence rather than the URL; a closing parenthesis
// belongs to the URL only if it closes one opened inside it (Wikipedia-style links).
function urlEnd(url) {
  let end = url.length;
  while (end > 0) {
    const ch = url[end - 1];
    const body = url.slice(0, end);
    const unbalanced = ch === ')' && body.split('(').length < body.split(')').length;
    if (!'.,;:!?\'"]'.includes(ch) && !unbalanced) break;
    end -= 1;
  }
  return end;
}

function linkOrText(url, content, fallback) {
  const href = safeHttpUrl(url);
  if (!href) return [document.createTextNode(fallback)];
  const link = el('a', { href, target: '_blank', rel: 'noopener noreferrer' }, ...content);
  return [link];
}

/** The normalised URL if it is http(s), else null (javascript:, data:, relative, ...). */
export function safeHttpUrl(url) {
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
  } catch {
    return null;
  }
}
