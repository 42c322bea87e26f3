// The console's only door to the service: the public /api/v1 API, with the key kept for this browser session.

const KEY = 'tabletalk.apiKey';
const listeners = new Set();

export const session = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
  me: null,
};

/** Called when the service says the key is no longer valid (e.g. revoked while signed in). */
export function onUnauthorized(fn) { listeners.add(fn); }

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
    this.detail = detail;
  }
}

function headers(key, extra = {}) {
  return {Authorization: `Bearer ${key}`, ...extra};
}

async function failure(resp) {
  let detail = `${resp.status} ${resp.statusText}`;
  try { detail = (await resp.json()).detail || detail; } catch { /* not JSON */ }
  if (resp.status === 401) listeners.forEach(fn => fn(detail));
  return new ApiError(resp.status, detail);
}

function request(path, {method = 'GET', body, key = session.key, accept} = {}) {
  const init = {method, headers: headers(key, accept ? {Accept: accept} : {})};
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  return fetch('/api/v1' + path, init);
}

/** JSON in, JSON out; throws ApiError with the service's `detail`. */
export async function api(path, options = {}) {
  const resp = await request(path, options);
  if (!resp.ok) throw await failure(resp);
  if (resp.status === 204) return null;
  const type = resp.headers.get('Content-Type') || '';
  return type.includes('json') ? resp.json() : resp.text();
}

/** The raw response (for HTML export and other files). */
export async function apiBlob(path, options = {}) {
  const resp = await request(path, options);
  if (!resp.ok) throw await failure(resp);
  return resp.blob();
}

/** Checks a key without signing out anyone: the key's own description, or an ApiError. */
export async function whoami(key) {
  const resp = await request('/auth/me', {key});
  if (!resp.ok) {
    let detail = '';
    try { detail = (await resp.json()).detail; } catch { /* ignore */ }
    throw new ApiError(resp.status, detail);
  }
  return resp.json();
}

/**
 * POST and read a Server-Sent Events answer as it arrives: yields {event, data} with `data` parsed
 * as JSON when it is JSON ("[DONE]" stays a string). Works for named events (chats) and bare
 * `data:` lines (canvas runs, table generation).
 */
export async function* stream(path, body) {
  const resp = await request(path, {method: 'POST', body, accept: 'text/event-stream'});
  if (!resp.ok) throw await failure(resp);
  const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const {value, done} = await reader.read();
    if (value) buffer += value;
    let cut;
    while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, '');
      const parsed = parseBlock(block);
      if (parsed) yield parsed;
    }
    if (done) break;
  }
  const last = parseBlock(buffer);
  if (last) yield last;
}

function parseBlock(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith('event:')) event = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (!data.length) return null;
  const text = data.join('\n');
  try { return {event, data: JSON.parse(text)}; } catch { return {event, data: text}; }
}
