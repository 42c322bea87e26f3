// Tiny DOM helpers: build elements from data, never from HTML strings (no injection from answers).

/** h('button', {class: 'x', onclick: fn, 'aria-label': 'Close'}, 'text', child, [more]) */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
    else if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name === 'value') el.value = value;
    else if (name === 'checked' || name === 'disabled' || name === 'hidden' || name === 'selected') el[name] = true;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let uid = 0;
/** A unique id for label/for pairs. */
export const nextId = (prefix = 'f') => `${prefix}-${++uid}`;

/** A labelled form control: field('Question', h('textarea')) -> <div class=field><label>..</label>control</div> */
export function field(label, control, hint) {
  if (!control.id) control.id = nextId();
  const hintEl = hint ? h('small', {class: 'hint', id: control.id + '-hint'}, hint) : null;
  if (hintEl) control.setAttribute('aria-describedby', hintEl.id);
  return h('div', {class: 'field'}, h('label', {for: control.id}, label), control, hintEl);
}

/** Save bytes or text as a file through a temporary blob: link. */
export function download(name, data, type = 'text/plain') {
  const blob = data instanceof Blob ? data : new Blob([data], {type});
  const url = URL.createObjectURL(blob);
  const a = h('a', {href: url, download: name, hidden: true});
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A short-lived status message for screen readers and eyes (e.g. "Copied"). */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  const note = h('div', {class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status'}, message);
  box.append(note);
  setTimeout(() => note.remove(), 4000);
}

export function fmt(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', {maximumFractionDigits: 2});
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

export function when(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  return d.toLocaleString(undefined, {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit'});
}
