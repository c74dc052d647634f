// The phone's store and its outbox: everything the member does is written here first
// (IndexedDB, so it survives a reload without a network) and sent in order when the network
// is there. Each action carries its own Idempotency-Key (or, for patrols, the patrol's key and
// the points' times), so sending it again after a lost answer applies it once. An action the
// server refuses (4xx) is moved to `refused` with the server's reason, never dropped.

const DB_NAME = 'citybrain-field';
const STORES = ['queue', 'refused', 'kv', 'blobs'];

let opened = null;
export function db() {
  if (!opened) {
    opened = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => {
        const d = req.result;
        d.createObjectStore('queue', { keyPath: 'seq', autoIncrement: true });
        d.createObjectStore('refused', { keyPath: 'seq' });
        d.createObjectStore('kv');
        d.createObjectStore('blobs');
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  return opened;
}

function tx(store, mode, work) {
  return db().then((d) => new Promise((resolve, reject) => {
    const t = d.transaction(store, mode);
    let result;
    Promise.resolve(work(t.objectStore(store))).then((r) => { result = r; });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  }));
}

// One transaction over several stores: an action moves between the queue, the refused and
// its photos all at once or not at all.
function txAll(stores, work) {
  return db().then((d) => new Promise((resolve, reject) => {
    const t = d.transaction(stores, 'readwrite');
    work(Object.fromEntries(stores.map((n) => [n, t.objectStore(n)])));
    t.oncomplete = () => resolve();
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  }));
}

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

export const kv = {
  get: (key) => tx('kv', 'readonly', (s) => req(s.get(key))),
  set: (key, value) => tx('kv', 'readwrite', (s) => { s.put(value, key); }),
  del: (key) => tx('kv', 'readwrite', (s) => { s.delete(key); }),
};

export const all = (store) => tx(store, 'readonly', (s) => req(s.getAll()));
export const count = (store) => tx(store, 'readonly', (s) => req(s.count()));

// A random key: crypto.getRandomValues works where randomUUID may not (plain http on a LAN).
export function newKey() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export async function sha256(blob) {
  const digest = await crypto.subtle.digest('SHA-256', await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (x) => x.toString(16).padStart(2, '0')).join('');
}

// Queue an action; its photos (Blobs) are kept beside it until it is sent.
export async function enqueue(action, photos = []) {
  const refs = [];
  for (const p of photos) {
    const ref = `${newKey()}`;
    await tx('blobs', 'readwrite', (s) => { s.put(p.blob, ref); });
    refs.push({ ref, sha256: p.sha256, taken_at: p.taken_at, lon: p.lon, lat: p.lat });
  }
  return tx('queue', 'readwrite', (s) => req(s.add({ ...action, photos: refs, queued_at: new Date().toISOString() })));
}

export class Offline extends Error {}
export class Unauthorized extends Error {}
// The server failed (5xx): tried again later, and refused after MAX_ATTEMPTS.
export class ServerError extends Offline {}
const MAX_ATTEMPTS = 5;

function csrf() {
  const m = document.cookie.match(/(?:^|;\s*)citybrain_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : '';
}

// A write to the API: the session cookie and its CSRF token. A network failure is Offline;
// a 401 is Unauthorized (log in again: the queue waits); 5xx, 429 and 408 are tried again later.
export async function send(method, url, body, headers = {}) {
  let r;
  try {
    const isBlob = body instanceof Blob;
    r = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers: {
        'X-CSRF-Token': csrf(),
        Accept: 'application/json',
        ...(body !== undefined && !isBlob ? { 'Content-Type': 'application/json' } : {}),
        ...(isBlob ? { 'Content-Type': body.type || 'image/jpeg' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : (isBlob ? body : JSON.stringify(body)),
    });
  } catch (e) {
    throw new Offline(String(e));
  }
  let answer = null;
  try { answer = await r.clone().json(); } catch (e) { answer = null; }
  if (r.status === 401) throw new Unauthorized('请重新登录');
  // A CSRF token that no longer matches is the session's trouble, not the action's.
  if (r.status === 403 && /CSRF/.test(answer?.detail || '')) throw new Unauthorized('请重新登录');
  if (r.status === 429 || r.status === 408) throw new Offline(`HTTP ${r.status}`);
  if (r.status >= 500) throw new ServerError(`服务器出错（HTTP ${r.status}）`);
  return { status: r.status, ok: r.ok, answer };
}

async function photoIds(action) {
  const ids = [];
  for (const p of action.photos || []) {
    const blob = await tx('blobs', 'readonly', (s) => req(s.get(p.ref)));
    const q = new URLSearchParams();
    if (p.taken_at) q.set('taken_at', p.taken_at);
    if (p.lon != null) { q.set('lon', p.lon); q.set('lat', p.lat); }
    const r = await send('POST', `/photos?${q}`, blob);
    if (r.status === 409) throw new Offline('the same photo is being sent: later');
    if (!r.ok) return { refused: r };
    ids.push(r.answer.id);
  }
  return { ids };
}

// What one queued action is, as a request.
async function deliver(action) {
  const sent = await photoIds(action);
  if (sent.refused) return sent.refused;
  const key = { 'Idempotency-Key': action.key };
  switch (action.kind) {
    case 'report':
      return send('POST', '/incidents', { ...action.body, photos: sent.ids.length ? sent.ids : undefined }, key);
    case 'step':
      return send('POST', `/incidents/${action.incident}/steps/${action.step}`,
        { ...action.body, photos: sent.ids.length ? sent.ids : undefined },
        { ...key, Prefer: 'return=minimal' });
    case 'patrol_start':
      return send('PUT', `/patrols/${action.patrol}`, { started_at: action.at });
    case 'patrol_points':
      return send('POST', `/patrols/${action.patrol}/points`, { points: action.points });
    case 'patrol_end':
      return send('POST', `/patrols/${action.patrol}/end`, { ended_at: action.at });
    default:
      return { status: 400, ok: false, answer: { detail: `unknown action ${action.kind}` } };
  }
}

// Sent: the action and its photos go. Refused: it moves to `refused` with its reason, its
// photos kept (the member may want them) until it is dismissed.
function drop(action) {
  return txAll(['queue', 'blobs'], (s) => {
    s.queue.delete(action.seq);
    for (const p of action.photos || []) s.blobs.delete(p.ref);
  });
}

function refuse(action, status, reason) {
  return txAll(['queue', 'refused'], (s) => {
    s.queue.delete(action.seq);
    s.refused.put({ ...action, status, reason });
  });
}

function reasonOf(r) {
  const d = r.answer && r.answer.detail;
  if (Array.isArray(d)) return d.map((x) => x.msg).join('; ');
  return d || `HTTP ${r.status}`;
}

// The actions a member queued (each carries its member's login: on a phone shared by a shift,
// one member's actions are sent only with that member's session).
export async function queuedBy(login) {
  return (await all('queue')).filter((a) => a.login === login);
}

let flushing = null;
// Send what ``login`` queued, oldest first, until none is left or the network is gone. Returns
// what happened to each action sent (for the page to show).
export function flush(login, onEach = () => {}) {
  if (!flushing) {
    flushing = (async () => {
      const done = [];
      let action = null;
      try {
        for (;;) {
          [action] = await queuedBy(login);
          if (!action) break;
          const r = await deliver(action);
          if (r.ok) {
            await drop(action);
            done.push({ action, answer: r.answer });
          } else {
            // Refused on arrival (the case moved on meanwhile, ...): kept with its reason.
            await refuse(action, r.status, reasonOf(r));
            done.push({ action, refused: reasonOf(r) });
          }
          onEach();
        }
      } catch (e) {
        if (e instanceof ServerError && action) {
          const attempts = (action.attempts || 0) + 1;
          if (attempts >= MAX_ATTEMPTS) await refuse(action, 500, `${e.message}，已重试 ${attempts} 次`);
          else await tx('queue', 'readwrite', (s) => { s.put({ ...action, attempts }); });
          onEach();
        } else if (!(e instanceof Offline)) {
          throw e;
        }
      } finally {
        flushing = null;
      }
      return done;
    })();
  }
  return flushing;
}

// The flush in flight, if any, settled (a member logging out waits for their own to end).
export function settled() {
  return (flushing || Promise.resolve()).catch(() => {});
}

export async function dismissRefused(seq) {
  const [action] = (await all('refused')).filter((a) => a.seq === seq);
  await txAll(['refused', 'blobs'], (s) => {
    s.refused.delete(seq);
    for (const p of action?.photos || []) s.blobs.delete(p.ref);
  });
}
