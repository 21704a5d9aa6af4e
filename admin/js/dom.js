// Small DOM helpers. Everything the dashboard shows is built with these: text goes in as
// text nodes, never as HTML, so a student's name or an event's payload cannot inject markup.

/**
 * Makes an element. `attrs`: attributes (`class`, `for`, `aria-*`, `data-*`, ...), `on*`
 * functions become listeners, `hidden`/`disabled`/`checked`/`selected` are booleans, `value`
 * and `text` set the property. Children: nodes, strings, numbers, arrays; null/false skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const element = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2), value);
    } else if (name === 'text') {
      element.textContent = String(value);
    } else if (name === 'value') {
      element.value = value;
    } else if (['hidden', 'disabled', 'checked', 'selected', 'required'].includes(name)) {
      element[name] = Boolean(value);
      if (value === true && name !== 'checked' && name !== 'selected') element.setAttribute(name, '');
    } else {
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else if (child instanceof Node) parent.appendChild(child);
    else parent.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces an element's children. */
export function replace(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}

/** `10:42:05` in the viewer's locale. */
export function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** `3 min ago`, `12 s ago`. */
export function ago(seconds) {
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

/** Rounds a percentage for display. */
export function pct(value) {
  return `${Math.round(Number(value) || 0)}%`;
}

/** Announces a message to screen readers through the page's polite live region. */
export function announce(message) {
  const region = document.getElementById('announcer');
  if (!region) return;
  region.textContent = '';
  // A fresh text node in a later task, so repeated messages are read again.
  setTimeout(() => { region.textContent = message; }, 50);
}

/** A titled empty or error state with an optional action. */
export function notice(kind, title, body, action) {
  return h('div', { class: `notice notice-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('h2', { text: title }),
    body ? h('p', {}, body) : null,
    action || null);
}

/** `fn`, called at most once per `ms`: calls made meanwhile share the next call. */
export function coalesced(fn, ms) {
  let timer = null;
  return () => {
    if (timer) return;
    timer = setTimeout(() => { timer = null; fn(); }, ms);
  };
}
