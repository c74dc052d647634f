// The field app's service worker: the app's shell answered from the phone's cache at once
// (and refreshed behind it: a new version is used from the next load), and the grid's map
// tiles kept once fetched, so that the app opens and draws its grid without a network. The
// API's reads and every write go to the network untouched: the page keeps its data and its
// outbox in IndexedDB itself (queue.js).
const VERSION = 'field-v1';
const SHELL = [
  '/field/',
  '/field/app.js',
  '/field/queue.js',
  '/field/app.css',
  '/field/manifest.webmanifest',
  '/field/icon.svg',
  '/field/maplibre-gl.js',
  '/field/maplibre-gl.css',
];
const TILES = `${VERSION}-tiles`;
const MAX_TILES = 2000;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(VERSION).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name !== VERSION && name !== TILES) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function shell(request) {
  const cache = await caches.open(VERSION);
  const key = new URL(request.url).pathname;
  const kept = await cache.match(key);
  const fresh = fetch(request).then((r) => {
    if (r.ok) cache.put(key, r.clone());
    return r;
  });
  if (kept) {
    fresh.catch(() => {});
    return kept;
  }
  return fresh;
}

async function tile(request) {
  const cache = await caches.open(TILES);
  const kept = await cache.match(request.url);
  if (kept) return kept;
  const r = await fetch(request);
  if (r.ok) {
    await cache.put(request.url, r.clone());
    const keys = await cache.keys();
    for (const old of keys.slice(0, Math.max(0, keys.length - MAX_TILES))) await cache.delete(old);
  }
  return r;
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (SHELL.includes(url.pathname) || url.pathname === '/field') {
    event.respondWith(shell(request));
  } else if (url.pathname.startsWith('/tiles/') && url.pathname.endsWith('.mvt')) {
    event.respondWith(tile(request));
  }
});
