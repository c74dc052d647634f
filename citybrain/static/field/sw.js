// The field app's service worker: the app's shell answered from the phone's cache, and the
// grid's map tiles kept once fetched, so that the app opens and draws its grid without a
// network. The API's reads and every write go to the network untouched: the page keeps its
// data and its outbox in IndexedDB itself (queue.js).
//
// The shell is one version, kept whole: VERSION is the hash of its files (the server writes it
// in), so a new version is a new worker, which the browser installs when it sees it changed;
// it caches the whole new set before it takes over, and a phone never mixes two versions'
// files, offline or not.
const VERSION = 'field-__SHELL_VERSION__';
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
  event.waitUntil(caches.open(VERSION)
    .then((c) => c.addAll(SHELL.map((u) => new Request(u, { cache: 'reload' }))))
    .then(() => self.skipWaiting()));
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
  const kept = await caches.match(new URL(request.url).pathname, { cacheName: VERSION });
  return kept || fetch(request);
}

// Tiles: the kept one at once, fetched again behind it (a grid redrawn by an import reaches
// the phone on its next look), at most MAX_TILES kept.
async function tile(request) {
  const cache = await caches.open(TILES);
  const kept = await cache.match(request.url);
  const fresh = fetch(request).then(async (r) => {
    if (r.ok) {
      await cache.put(request.url, r.clone());
      const keys = await cache.keys();
      for (const old of keys.slice(0, Math.max(0, keys.length - MAX_TILES))) await cache.delete(old);
    }
    return r;
  });
  if (kept) {
    fresh.catch(() => {});
    return kept;
  }
  return fresh;
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
