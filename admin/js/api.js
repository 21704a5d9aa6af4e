// The REST client: the signed-in token (kept in this tab's sessionStorage), JSON calls under
// /api/v1 with the error shape {"error": {"code", "message"}}, and the two failures every view
// handles the same way: the server cannot be reached, and the token is no longer accepted.

const TOKEN_KEY = 'classhub.token';

/** A failed call. `status` 0 means the server could not be reached. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  get unreachable() { return this.status === 0; }
  get unauthorized() { return this.status === 401; }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value) {
  sessionStorage.setItem(TOKEN_KEY, value.trim());
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** The token's claims (not verified: the server does that), or null. */
export function claims(jwt = token()) {
  try {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return null;
  }
}

/** Seconds until the token expires (negative once expired), or null when it has no `exp`. */
export function secondsLeft(jwt = token()) {
  const exp = claims(jwt)?.exp;
  return typeof exp === 'number' ? exp - Date.now() / 1000 : null;
}

/**
 * Calls the REST API. Resolves with the parsed JSON (or the Response for `raw`), rejects with
 * an ApiError. A 401 also fires `classhub:unauthorized` on window, so the shell can ask for a
 * new token whichever view made the call.
 */
export async function api(path, { method = 'GET', body, raw = false } = {}) {
  const headers = { Accept: raw ? '*/*' : 'application/json' };
  const current = token();
  if (current) headers.Authorization = `Bearer ${current}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'unreachable', 'Cannot reach the classhub server. Check that it is running and your network is up.');
  }
  if (response.ok) {
    if (raw) return response;
    return response.status === 204 ? null : response.json();
  }
  let code = 'error';
  let message = `The server answered ${response.status}.`;
  try {
    const answer = await response.json();
    code = answer?.error?.code || code;
    message = answer?.error?.message || message;
  } catch {
    // Not JSON (a proxy's page): keep the status line.
  }
  const error = new ApiError(response.status, code, message);
  if (response.status === 401) {
    window.dispatchEvent(new CustomEvent('classhub:unauthorized', { detail: error }));
  }
  throw error;
}

/** Every item of a cursor-paged list (stops after `max` items). */
export async function all(path, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const separator = path.includes('?') ? '&' : '?';
    const page = await api(`${path}${separator}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
