// The console shell: sign in with an API key, a top bar offering only what the key's scope may do,
// and hash routes (#ask, #canvas, #tables, #datasources, #bots) each drawn by its own module.

import {ApiError, onUnauthorized, session, whoami} from './api.js';
import {clear, h, toast} from './dom.js';

const SCREENS = [
  {id: 'ask', label: 'Ask', scopes: ['priv_admin', 'priv_asker', 'priv_visitor'], load: () => import('./ask.js')},
  {id: 'canvas', label: 'Canvas', scopes: ['priv_admin', 'priv_asker'], load: () => import('./canvas.js')},
  {id: 'tables', label: 'Tables', scopes: ['priv_admin', 'priv_asker'], load: () => import('./tables.js')},
  {id: 'datasources', label: 'Datasources', scopes: ['priv_admin'], load: () => import('./datasources.js')},
  {id: 'bots', label: 'Bots', scopes: ['priv_admin', 'priv_asker', 'priv_visitor'], load: () => import('./bots.js')},
];
const SCOPE_NAMES = {priv_admin: 'admin', priv_asker: 'asker', priv_visitor: 'visitor'};

const $ = id => document.getElementById(id);
let current = null; // {id, screen module, cleanup}

function allowed() {
  return SCREENS.filter(s => s.scopes.includes(session.me?.scope));
}

function showSignIn(message = '') {
  session.me = null;
  $('shell').hidden = true;
  $('signin').hidden = false;
  const error = $('signin-error');
  error.textContent = message;
  error.hidden = !message;
  $('api-key').value = '';
  $('api-key').focus();
}

async function signIn(event) {
  event.preventDefault();
  const key = $('api-key').value.trim();
  const button = $('signin-button');
  const error = $('signin-error');
  error.hidden = true;
  if (!key) {
    error.textContent = 'Enter your API key.';
    error.hidden = false;
    return;
  }
  button.disabled = true;
  try {
    session.me = await whoami(key);
    session.set(key);
    await enter();
  } catch (exc) {
    error.textContent = exc.status === 401
      ? 'That API key was not accepted. Check it (it is printed when the service starts) and try again.'
      : `Could not sign in: ${exc.detail || exc.message}`;
    error.hidden = false;
    $('api-key').select();
  } finally {
    button.disabled = false;
  }
}

function signOut() {
  session.clear();
  if (current?.cleanup) current.cleanup();
  current = null;
  history.replaceState(null, '', location.pathname);
  showSignIn();
}

function drawNav() {
  const nav = clear($('nav'));
  for (const screen of allowed()) {
    nav.append(h('a', {href: `#${screen.id}`, 'data-screen': screen.id}, screen.label));
  }
  const me = session.me;
  $('who').textContent = `${me.name || me.prefix || 'key'} · ${SCOPE_NAMES[me.scope] || me.scope}`;
}

let routing = 0; // the latest navigation wins: a slower, older one never draws over it

/** Draw the screen the address names; a failure is shown in the page (a 401 has already signed out). */
async function route() {
  try {
    await draw();
  } catch (exc) {
    $('view').removeAttribute('aria-busy');
    if (exc.status === 401 || !session.me) return;
    clear($('view')).append(h('div', {class: 'page'}, h('p', {class: 'error', role: 'alert'},
      `This screen could not be loaded: ${exc.detail || exc.message}`)));
  }
}

async function draw() {
  if (!session.me) return;
  const ticket = ++routing;
  const [id, ...rest] = (location.hash.replace(/^#\/?/, '') || 'ask').split('/');
  const screen = allowed().find(s => s.id === id) || allowed()[0];
  for (const a of $('nav').querySelectorAll('a')) {
    if (a.dataset.screen === screen.id) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const args = rest.map(decodeURIComponent);
  if (current && current.id === screen.id && current.module.update) {
    await current.module.update(args);
    return;
  }
  if (current?.cleanup) current.cleanup();
  current = null;
  const view = $('view');
  view.setAttribute('aria-busy', 'true');
  const module = await screen.load();
  if (ticket !== routing) return;
  const host = h('div', {class: 'screen'});
  clear(view).append(host);
  const cleanup = await module.mount(host, args, {me: session.me});
  if (ticket !== routing) return cleanup?.();
  current = {id: screen.id, module, cleanup};
  view.removeAttribute('aria-busy');
  document.title = `${screen.label} · TableTalk`;
}

async function enter() {
  $('signin').hidden = true;
  $('shell').hidden = false;
  drawNav();
  await route();
}

async function start() {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  // A button's request that failed: say so in the page (a 401 has already returned to Sign in).
  window.addEventListener('unhandledrejection', event => {
    if (!(event.reason instanceof ApiError)) return;
    event.preventDefault();
    if (event.reason.status !== 401) toast(event.reason.detail, 'error');
  });
  onUnauthorized(() => {
    routing++; // a navigation in flight must not draw over the sign-in
    session.clear();
    if (current?.cleanup) current.cleanup();
    current = null;
    showSignIn('Your API key is no longer accepted (it may have been revoked). Sign in again.');
  });
  const key = session.key;
  if (!key) return showSignIn();
  try {
    session.me = await whoami(key);
  } catch (exc) {
    session.clear();
    return showSignIn(exc.status === 401 ? 'Your saved API key is no longer accepted. Sign in again.' : '');
  }
  await enter();
}

start();
