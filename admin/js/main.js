// The dashboard shell: sign-in, the hash router (#/classes, #/classes/{id}, #/library, #/ai-tasks, #/operator,
// #/privacy, #/signin), the header (who is signed in, the live connection's state), the error banner, and
// the token hand-over:
//   - a link `/dashboard#token=…[&class=ID][&view=operator]` (what `classhub serve` prints, or
//     what the platform opens) stores the token in this tab and removes it from the address bar;
//   - a platform page that embeds or opens the dashboard may post
//     `{type: "classhub:token", token}` (e.g. a fresh Clerk session token); the dashboard posts
//     `{type: "classhub:token-expired"}` to it when the server refuses the current one.

import { api, claims, clearToken, secondsLeft, setToken, token } from './api.js';
import { h, notice, replace } from './dom.js';
import { showClasses } from './classes.js';
import { showAiTasks } from './aitasks.js';
import { showLibrary } from './library.js';
import { showLive } from './live.js';
import { showOperator } from './operator.js';
import { showPrivacy } from './privacy.js';
import { showStudent } from './student.js';

const main = document.getElementById('main');
const who = document.getElementById('who');
const connStatus = document.getElementById('conn-status');
const banner = document.getElementById('banner');
const signOut = document.getElementById('sign-out');
const navOperator = document.getElementById('nav-operator');
const navClasses = document.getElementById('nav-classes');
const navLibrary = document.getElementById('nav-library');
const navAiTasks = document.getElementById('nav-ai-tasks');
const navPrivacy = document.getElementById('nav-privacy');
const navMe = document.getElementById('nav-me');

let me = null;
let leaveView = null;
let expiryTimer = null;
let routed = false;

const ctx = {
  token,
  onError: showError,
  onAuthFailed: (message) => askForToken(message),
  setConnStatus,
  showBanner,
  clearBanner,
};

function takeHandover() {
  const hash = location.hash.replace(/^#/, '');
  if (!hash.startsWith('token=')) return;
  const params = new URLSearchParams(hash);
  setToken(params.get('token'));
  const route = params.get('view') === 'operator'
    ? '#/operator'
    : params.get('class') ? `#/classes/${encodeURIComponent(params.get('class'))}` : '';
  // Keep the token out of the address bar, the history and any bookmark. Without a view, the
  // role's home follows (start).
  history.replaceState(null, '', `${location.pathname}${route}`);
}

function parentWindow() {
  if (window.parent && window.parent !== window) return window.parent;
  return window.opener || null;
}

window.addEventListener('message', (event) => {
  const parent = parentWindow();
  if (!parent || event.source !== parent) return;
  if (event.data?.type === 'classhub:token' && typeof event.data.token === 'string') {
    setToken(event.data.token);
    clearBanner();
    if (!me) start();
  }
});

window.addEventListener('classhub:unauthorized', (event) => askForToken(event.detail.message));
window.addEventListener('hashchange', () => {
  // A hand-over link opened in a tab that already shows the dashboard.
  if (location.hash.startsWith('#token=')) {
    me = null;
    start();
  } else {
    route();
  }
});

signOut.addEventListener('click', () => {
  clearToken();
  me = null;
  askForToken('You signed out.');
});

// The skip link must not touch the hash, which is the router's.
document.querySelector('.skip-link').addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});

banner.addEventListener('click', (event) => {
  if (event.target.matches('[data-action="dismiss"]')) clearBanner();
});

async function start() {
  takeHandover();
  if (!token()) {
    showSignIn();
    return;
  }
  const left = secondsLeft();
  if (left !== null && left <= 0) {
    askForToken('Your session has expired. Sign in again with a new token.');
    return;
  }
  try {
    me = await api('/api/v1/auth/me');
  } catch (error) {
    if (error.unauthorized) return; // the unauthorized listener shows the sign-in form
    showError(error, start);
    return;
  }
  const name = me.user?.display_name || me.user?.id || claims()?.sub || 'you';
  who.textContent = `${name} · ${me.role} · ${me.tenant}`;
  signOut.hidden = false;
  navClasses.hidden = false;
  navLibrary.hidden = !['admin', 'educator'].includes(me.role);
  navAiTasks.hidden = navLibrary.hidden;
  navOperator.hidden = me.role !== 'admin';
  navPrivacy.hidden = me.role !== 'admin';
  navMe.hidden = me.role !== 'student';
  watchExpiry();
  if (!location.hash || location.hash === '#/signin') {
    const home = { admin: '#/operator', student: '#/me' }[me.role] || '#/classes';
    history.replaceState(null, '', `${location.pathname}${home}`);
  }
  route();
}

function route() {
  if (!me) return;
  leaveView?.();
  leaveView = null;
  setConnStatus(null);
  clearBanner();
  const path = location.hash.replace(/^#/, '') || '/classes';
  const live = /^\/classes\/([^/]+)$/.exec(path);
  markNav(path);
  if (live) {
    leaveView = showLive(main, decodeURIComponent(live[1]), ctx);
  } else if (path === '/library') {
    leaveView = showLibrary(main, ctx);
  } else if (path === '/ai-tasks') {
    leaveView = showAiTasks(main, ctx);
  } else if (path === '/operator') {
    leaveView = showOperator(main, ctx);
  } else if (path === '/privacy') {
    leaveView = showPrivacy(main, ctx);
  } else if (path === '/me') {
    leaveView = showStudent(main, me, ctx);
  } else if (path === '/signin') {
    showSignIn();
  } else {
    showClasses(main, ctx);
  }
  // After a navigation inside the page, start reading (and tabbing) at the new view; on the
  // first view of a load, leave focus at the top, where the skip link is.
  if (routed) main.focus({ preventScroll: true });
  routed = true;
}

function markNav(path) {
  for (const link of [navClasses, navLibrary, navAiTasks, navOperator, navPrivacy, navMe]) link.removeAttribute('aria-current');
  if (path === '/library') navLibrary.setAttribute('aria-current', 'page');
  if (path === '/ai-tasks') navAiTasks.setAttribute('aria-current', 'page');
  if (path === '/me') navMe.setAttribute('aria-current', 'page');
  if (path.startsWith('/classes')) navClasses.setAttribute('aria-current', 'page');
  if (path === '/operator') navOperator.setAttribute('aria-current', 'page');
  if (path === '/privacy') navPrivacy.setAttribute('aria-current', 'page');
}

function showSignIn(message) {
  leaveView?.();
  leaveView = null;
  setConnStatus(null);
  who.textContent = '';
  signOut.hidden = true;
  navOperator.hidden = true;
  navPrivacy.hidden = true;
  navClasses.hidden = true;
  navLibrary.hidden = true;
  navAiTasks.hidden = true;
  const field = h('textarea', { id: 'token-input', name: 'token', rows: 4, required: true, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'token-help' });
  const status = h('p', { class: 'form-status', role: 'status' });
  const form = h('form', { class: 'signin panel', 'aria-labelledby': 'signin-title' },
    h('h1', { id: 'signin-title', text: 'Sign in' }),
    message ? h('p', { class: 'notice-inline', role: 'alert', 'data-testid': 'signin-message' }, message) : null,
    h('label', { for: 'token-input' }, 'Platform token'),
    field,
    h('p', { id: 'token-help', class: 'muted' },
      'In development, ', h('code', { text: 'classhub serve' }), ' prints a link that signs you in (',
      h('code', { text: 'classhub serve --demo' }), ' adds a live demo class). ',
      'In production, your platform hands the dashboard your session token.'),
    h('button', { type: 'submit', class: 'button primary' }, 'Sign in'),
    status);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = field.value.trim();
    if (!value) {
      status.textContent = 'Paste a token first.';
      field.focus();
      return;
    }
    setToken(value);
    me = null;
    history.replaceState(null, '', `${location.pathname}#/classes`);
    start();
  });
  replace(main, form);
  field.focus();
}

function askForToken(message) {
  if (expiryTimer) clearTimeout(expiryTimer);
  me = null;
  parentWindow()?.postMessage({ type: 'classhub:token-expired' }, '*');
  history.replaceState(null, '', `${location.pathname}#/signin`);
  showSignIn(message);
}

/** A session that expires while the page is open: say so before the next action fails. */
function watchExpiry() {
  if (expiryTimer) clearTimeout(expiryTimer);
  const left = secondsLeft();
  if (left === null) return;
  expiryTimer = setTimeout(() => {
    showBanner('Your session has expired. Live updates may continue, but actions need a new token.',
      h('button', { type: 'button', class: 'button small', onclick: () => askForToken('Your session has expired. Sign in again with a new token.') }, 'Sign in again'));
  }, Math.min(left * 1000, 2 ** 31 - 1));
}

function showError(error, retry) {
  if (error.unauthorized) return;
  const again = h('button', { type: 'button', class: 'button', onclick: retry }, 'Try again');
  if (error.unreachable) {
    replace(main, notice('error', 'Cannot reach classhub', error.message, again));
  } else if (error.status === 403) {
    replace(main, notice('error', 'Not allowed', error.message, h('a', { class: 'button', href: '#/classes' }, 'Back to my classes')));
  } else if (error.status === 404) {
    replace(main, notice('error', 'Not found', error.message, h('a', { class: 'button', href: '#/classes' }, 'Back to my classes')));
  } else {
    replace(main, notice('error', 'Something went wrong', error.message, again));
  }
}

function setConnStatus(state, detail) {
  const text = {
    connecting: 'Connecting…',
    live: detail === 'webtransport' ? 'Live · WebTransport' : 'Live',
    reconnecting: detail ? `Connection lost; reconnecting in ${detail} s…` : 'Reconnecting…',
    'signed-out': 'Signed out',
  }[state] || '';
  connStatus.textContent = text;
  connStatus.dataset.state = state || '';
  connStatus.dataset.transport = state === 'live' ? detail || '' : '';
  connStatus.hidden = !state;
  if (state === 'reconnecting') showBanner('The live connection to classhub dropped. Reconnecting…');
  if (state === 'live') clearBanner();
}

function showBanner(message, action) {
  replace(banner, h('span', {}, message), action || null,
    h('button', { type: 'button', class: 'button small ghost', 'data-action': 'dismiss', 'aria-label': 'Dismiss this message' }, '×'));
  banner.hidden = false;
}

function clearBanner() {
  banner.hidden = true;
  banner.replaceChildren();
}

start();
