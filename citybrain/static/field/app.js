// The grid member's phone (网格员): my tasks, their steps, reports and patrols, working with
// or without a network. What the member does goes to the outbox (queue.js) and is sent in
// order when the network is there; what the server said last (tasks, categories, the grid) is
// kept in IndexedDB so the app opens and works offline.
import {
  all, dismissRefused, enqueue as keep, flush, kv, newKey, queuedBy, settled, sha256, Unauthorized,
} from '/field/queue.js';

const $ = (id) => document.getElementById(id);
const MAX_SIDE = 1600; // photos are resized on the phone (CITYBRAIN_PHOTO_MAX_SIDE)
const POLL_MS = 30000; // new tasks are looked for this often while online
const PATROL_EVERY_MS = 30000; // a patrol records a point this often ...
const PATROL_EVERY_M = 20; // ... or after this many metres
const PATROL_BATCH = 10; // points per batch sent
const STEP_FORMS = {
  report_done: { text: 'note', label: '办理情况', photos: true },
  ask_escalation: { text: 'reason', label: '上报原因', photos: false },
  return: { text: 'reason', label: '退回原因', photos: false },
};
const STATUS_ZH = {
  dispatched: '待处置', on_site: '处置中', resolved: '已办结', registered: '已立案',
  reported: '已上报', checked: '已核查', closed: '已结案', escalated: '已上报上级',
};

// The service's time: the phone's clock shifted by what the server last said (Citybrain-Now),
// so that what is stamped offline (reports, photos, patrols) is on the service's clock.
let clockOffset = 0;
const now = () => new Date(Date.now() + clockOffset);

// Every action is the logged-in member's (queue.js sends it only with their session).
const enqueue = (action, photos) => keep({ ...action, login: state.me.actor }, photos);

const state = { notified: 0, stream: null, me: null, tasks: [], open: null, seen: new Set(), map: null, position: null, marker: null, watch: null };

// --- the page's parts ---------------------------------------------------------------------

function show(view) {
  for (const v of ['tasks', 'report', 'patrol']) {
    $(`${v}-view`).hidden = v !== view;
    $(`tab-${v}`).setAttribute('aria-pressed', String(v === view));
  }
  if (view === 'report') locateMe();
  state.map?.resize();
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString('zh-CN', { hour12: false }) : '';
}

function timeLeft(iso) {
  if (!iso) return { text: '', late: false };
  const ms = new Date(iso) - now();
  const h = Math.floor(Math.abs(ms) / 3600000);
  const m = Math.floor((Math.abs(ms) % 3600000) / 60000);
  const span = h >= 48 ? `${Math.floor(h / 24)}天${h % 24}小时` : `${h}小时${m}分`;
  return ms < 0 ? { text: `已超时 ${span}`, late: true } : { text: `剩余 ${span}`, late: false };
}

async function showPending() {
  const n = state.me ? (await queuedBy(state.me.actor)).length : 0;
  $('pending').hidden = n === 0;
  $('pending').textContent = `待同步 ${n}`;
  const refused = (await all('refused')).filter((a) => a.login === state.me?.actor);
  $('refused').hidden = refused.length === 0;
  $('refused-list').replaceChildren(...refused.map((a) => {
    const li = document.createElement('li');
    const what = a.kind === 'step' ? `事件 ${a.incident} 的「${a.label}」` : a.kind === 'report' ? `上报「${a.body.category}」` : '巡查记录';
    li.textContent = `${what}未被接受：${a.reason} `;
    const ok = document.createElement('button');
    ok.type = 'button';
    ok.textContent = '知道了';
    ok.addEventListener('click', async () => { await dismissRefused(a.seq); showPending(); });
    li.append(ok);
    return li;
  }));
}

function showNet() {
  $('net').textContent = navigator.onLine ? '在线' : '离线';
  $('net').classList.toggle('offline', !navigator.onLine);
}

// --- talking to the server ----------------------------------------------------------------

async function getJSON(url) {
  const r = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (r.status === 401) throw new Unauthorized('请重新登录');
  if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
  return r.json();
}

async function sync() {
  if (!state.me) return;
  try {
    const done = await flush(state.me.actor, showPending);
    if (done.length) await refreshTasks();
  } catch (e) {
    if (e instanceof Unauthorized) return askLogin('登录已过期，请重新登录（待同步的记录会保留）');
    console.error(e);
  }
  showPending();
}

// --- tasks (我的任务) ---------------------------------------------------------------------

// New cases arrive on the live stream (/events: every case's public fields as it changes);
// one of the member's team's, or a bulk change, has the tasks read again (at most every
// second). Polling every POLL_MS stays behind it: a handler's department is not on the
// stream, and a server whose streams are full refuses one (EventSource then stays closed).
let refreshing = null;
function refreshSoon() {
  if (!refreshing) refreshing = setTimeout(() => { refreshing = null; refreshTasks(); }, 1000);
}

function openStream() {
  if (!window.EventSource || state.stream) return;
  state.stream = new EventSource('/events');
  state.stream.addEventListener('incident', (e) => {
    try {
      const d = JSON.parse(e.data);
      if (d.team_id != null && d.team_id === state.me?.team_id) refreshSoon();
    } catch (err) { /* not ours to read */ }
  });
  state.stream.addEventListener('bulk', refreshSoon);
}

async function refreshTasks() {
  let tasks;
  try {
    const sentAt = Date.now();
    const r = await fetch('/tasks', { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (r.status === 401) return askLogin('登录已过期，请重新登录');
    if (!r.ok) return;
    tasks = await r.json();
    const serverNow = Date.parse(r.headers.get('Citybrain-Now'));
    if (!Number.isNaN(serverNow)) {
      clockOffset = serverNow - (sentAt + Date.now()) / 2;
      await kv.set('clockOffset', clockOffset);
    }
  } catch (e) {
    return; // offline: what is kept stands
  }
  // (the first list the phone ever reads is not news; after it, a case not seen before is)
  const fresh = tasks.filter((t) => !state.seen.has(t.id));
  if (state.primed && fresh.length) notify(fresh);
  state.primed = true;
  await kv.set('primed', true);
  for (const t of tasks) state.seen.add(t.id);
  await kv.set('seen', [...state.seen]);
  await kv.set('tasks', tasks);
  state.tasks = await withQueued(tasks);
  renderTasks();
}

// The tasks as the member left them: the steps still queued are shown as taken.
async function withQueued(tasks) {
  const queued = (await queuedBy(state.me.actor)).filter((a) => a.kind === 'step');
  const byId = new Map(tasks.map((t) => [t.id, { ...t, queued: [] }]));
  for (const a of queued) {
    const t = byId.get(a.incident);
    if (!t) continue;
    t.queued.push(a.step);
    if (a.step === 'accept') t.accepted_at = t.accepted_at || a.queued_at;
    if (a.step === 'handle') t.status = 'on_site';
    if (a.step === 'ask_escalation') t.escalation_asked = a.body.reason;
    if (['report_done', 'return'].includes(a.step)) t.status = a.step === 'return' ? 'registered' : 'resolved';
  }
  return [...byId.values()];
}

function notify(fresh) {
  state.notified += fresh.length;
  $('tasks-empty').hidden = true;
  try { navigator.vibrate?.([200, 100, 200]); } catch (e) { /* not on this phone */ }
  try {
    const ctx = new AudioContext();
    const o = ctx.createOscillator();
    o.frequency.value = 880;
    o.connect(ctx.destination);
    o.start();
    o.stop(ctx.currentTime + 0.3);
  } catch (e) { /* sound needs a tap first on some phones */ }
  document.title = `(${fresh.length}) 新任务 · 网格员`;
}

function renderTasks() {
  const list = $('tasks');
  $('tasks-empty').hidden = state.tasks.length > 0;
  list.replaceChildren(...state.tasks.map((t) => {
    const li = document.createElement('li');
    li.className = `sev-${t.severity}`;
    li.dataset.id = t.id;
    const b = document.createElement('button');
    b.type = 'button';
    const left = timeLeft(t.resolve_due_at);
    const due = document.createElement('span');
    due.className = `due${left.late ? ' late' : ''}`;
    due.textContent = left.text;
    b.append(`#${t.id} ${t.category} · ${STATUS_ZH[t.status] || t.status}${t.queued?.length ? ' · 待同步' : ''} `, due);
    b.addEventListener('click', () => openTask(t.id));
    li.append(b);
    return li;
  }));
  drawTasks();
  if (state.open != null) openTask(state.open);
}

function openTask(id) {
  const t = state.tasks.find((x) => x.id === id);
  $('task').hidden = !t;
  $('tasks').hidden = !!t;
  state.open = t ? id : null;
  if (!t) return;
  $('task-title').textContent = `#${t.id} ${t.category}`;
  $('task-meta').textContent = `${STATUS_ZH[t.status] || t.status} · 严重程度 ${t.severity} · 上报于 ${when(t.reported_at)}${t.accepted_at ? ' · 已签收' : ''}`;
  $('task-desc').textContent = t.description || '';
  $('task-due').textContent = `处置时限 ${when(t.resolve_due_at)}（${timeLeft(t.resolve_due_at).text}）`;
  const may = {
    accept: t.status === 'dispatched' && !t.accepted_at,
    handle: t.status === 'dispatched',
    report_done: t.status === 'on_site',
    ask_escalation: ['dispatched', 'on_site'].includes(t.status) && !t.escalation_asked && t.tier !== 'county',
    return: ['dispatched', 'on_site'].includes(t.status),
  };
  for (const b of document.querySelectorAll('#task [data-step]')) b.disabled = !may[b.dataset.step];
  $('task-history').replaceChildren(...(t.events || []).map((e) => {
    const li = document.createElement('li');
    li.textContent = `${when(e.at)} ${e.actor} ${e.action}${e.note ? `：${e.note}` : ''}`;
    return li;
  }));
  state.map?.flyTo({ center: [t.lon, t.lat], zoom: 16 });
}

async function takeStep(step, body = {}, photos = []) {
  const t = state.tasks.find((x) => x.id === state.open);
  const label = document.querySelector(`#task [data-step="${step}"]`).textContent;
  await enqueue({ kind: 'step', key: newKey(), incident: t.id, step, label, body }, photos);
  state.tasks = await withQueued(await kv.get('tasks') || []);
  renderTasks();
  await showPending();
  sync();
}

function stepForm(step) {
  const form = STEP_FORMS[step];
  $('step-form').hidden = false;
  $('step-form').dataset.step = step;
  $('step-text-name').textContent = form.label;
  $('step-text').value = '';
  $('step-photo-label').hidden = !form.photos;
  $('step-photos').value = '';
  $('step-error').textContent = '';
}

async function onStepButton(step) {
  if (STEP_FORMS[step]) return stepForm(step);
  if (step === 'handle') {
    const p = await here();
    return takeStep('handle', p ? { lon: p.lon, lat: p.lat } : {});
  }
  return takeStep(step);
}

async function onStepForm(ev) {
  ev.preventDefault();
  const step = $('step-form').dataset.step;
  const form = STEP_FORMS[step];
  const text = $('step-text').value.trim();
  if (!text) { $('step-error').textContent = `请填写${form.label}`; return; }
  const files = [...$('step-photos').files];
  if (form.photos && !files.length) { $('step-error').textContent = '办结需要至少一张照片'; return; }
  const photos = form.photos ? await Promise.all(files.map(resized)) : [];
  $('step-form').hidden = true;
  await takeStep(step, { [form.text]: text }, photos);
}

// --- photos, positions ----------------------------------------------------------------------

async function resized(file) {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' });
  const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.85));
  const p = state.position;
  return { blob, sha256: await sha256(blob), taken_at: now().toISOString(), lon: p?.lon, lat: p?.lat };
}

function here() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (pos) => { state.position = { lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy_m: pos.coords.accuracy }; resolve(state.position); },
      () => resolve(state.position),
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 0 },
    );
  });
}

async function locateMe() {
  const p = await here();
  if (!p) { $('report-place').textContent = '位置：无法定位，请在地图上拖动标记'; return; }
  placeMarker(p);
  describePlace(p);
}

async function describePlace(p) {
  const at = `${p.lon.toFixed(6)}, ${p.lat.toFixed(6)}`;
  try {
    const l = await getJSON(`/locate?lon=${p.lon}&lat=${p.lat}`);
    const parts = [l.town?.name, l.village?.name, l.grid?.name, l.compound?.name, l.micro_grid?.name].filter(Boolean);
    $('report-place').textContent = `位置：${parts.join(' / ')}（${at}）`;
  } catch (e) {
    $('report-place').textContent = `位置：${at}（离线，提交后定位网格）`;
  }
}

function placeMarker(p) {
  if (!state.map) return;
  if (!state.marker) {
    state.marker = new maplibregl.Marker({ draggable: true }).setLngLat([p.lon, p.lat]).addTo(state.map);
    state.marker.on('dragend', () => {
      const { lng, lat } = state.marker.getLngLat();
      state.position = { lon: lng, lat };
      state.pinned = true;
      describePlace(state.position);
    });
  } else {
    state.marker.setLngLat([p.lon, p.lat]);
  }
  state.map.flyTo({ center: [p.lon, p.lat], zoom: 16 });
}

// --- report (上报事件) ------------------------------------------------------------------------

async function onReport(ev) {
  ev.preventDefault();
  $('report-error').textContent = '';
  // Where the member is now, unless they dragged the pin to where the problem is.
  const p = state.pinned ? state.position : (await here()) || state.position;
  if (!p) { $('report-error').textContent = '没有位置：请允许定位或在地图上拖动标记'; return; }
  const files = [...$('photos').files];
  const photos = await Promise.all(files.map(resized));
  const body = {
    lon: p.lon, lat: p.lat, category: $('category').value, description: $('description').value.trim(),
    source: 'grid_patrol', reported_at: now().toISOString(),
  };
  await enqueue({ kind: 'report', key: newKey(), body }, photos);
  $('report-form').reset();
  state.pinned = false;
  $('report-done').textContent = navigator.onLine ? '已提交' : '已保存，联网后自动上报';
  await showPending();
  sync();
}

// --- patrol (巡查) ----------------------------------------------------------------------------

function metres(a, b) {
  const r = 6371008.8;
  const dLat = ((b.lat - a.lat) * Math.PI) / 180;
  const dLon = ((b.lon - a.lon) * Math.PI) / 180;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos((a.lat * Math.PI) / 180) * Math.cos((b.lat * Math.PI) / 180) * Math.sin(dLon / 2) ** 2;
  return 2 * r * Math.asin(Math.sqrt(s));
}

// Positions are taken one after another (each reads and writes the kept patrol).
let patrolChain = Promise.resolve();
function onPosition(pos) {
  patrolChain = patrolChain.then(() => patrolPoint(pos)).catch((e) => console.error(e));
}

async function patrolPoint(pos) {
  const patrol = await kv.get('patrol');
  if (!patrol) return;
  const point = { at: new Date((pos.timestamp || Date.now()) + clockOffset).toISOString(), lon: pos.coords.longitude, lat: pos.coords.latitude, accuracy_m: pos.coords.accuracy };
  const last = patrol.last;
  if (last && Date.parse(point.at) - Date.parse(last.at) < PATROL_EVERY_MS && metres(last, point) < PATROL_EVERY_M) return;
  if (last && point.at <= last.at) return;
  patrol.buffer.push(point);
  patrol.last = point;
  patrol.recorded += 1;
  if (patrol.buffer.length >= PATROL_BATCH) await sendPatrolBuffer(patrol);
  await kv.set('patrol', patrol);
  $('patrol-state').textContent = `巡查中：已记录 ${patrol.recorded} 个点`;
}

async function sendPatrolBuffer(patrol) {
  if (!patrol.buffer.length) return;
  await enqueue({ kind: 'patrol_points', key: newKey(), patrol: patrol.key, points: patrol.buffer });
  patrol.buffer = [];
  await showPending();
  sync();
}

function watchPatrol() {
  if (state.watch != null || !navigator.geolocation) return;
  state.watch = navigator.geolocation.watchPosition(onPosition, () => {}, { enableHighAccuracy: true, maximumAge: 0 });
  // A member standing still moves no watcher: a point every PATROL_EVERY_MS all the same.
  state.tick = setInterval(() => navigator.geolocation.getCurrentPosition(onPosition, () => {}, { maximumAge: 0 }), PATROL_EVERY_MS);
  $('patrol-start').disabled = true;
  $('patrol-end').disabled = false;
}

async function startPatrol() {
  const patrol = { login: state.me.actor, key: newKey(), started_at: now().toISOString(), buffer: [], last: null, recorded: 0 };
  await kv.set('patrol', patrol);
  await enqueue({ kind: 'patrol_start', key: newKey(), patrol: patrol.key, at: patrol.started_at });
  $('patrol-state').textContent = '巡查中：已记录 0 个点';
  watchPatrol();
  await showPending();
  sync();
}

async function endPatrol() {
  if (state.watch != null) navigator.geolocation.clearWatch(state.watch);
  clearInterval(state.tick);
  state.watch = null;
  await patrolChain;
  const patrol = await kv.get('patrol');
  $('patrol-start').disabled = false;
  $('patrol-end').disabled = true;
  if (!patrol) return;
  await sendPatrolBuffer(patrol);
  await enqueue({ kind: 'patrol_end', key: newKey(), patrol: patrol.key, at: now().toISOString() });
  await kv.del('patrol');
  $('patrol-state').textContent = `巡查结束：共 ${patrol.recorded} 个点`;
  await showPending();
  sync();
}

// --- the map of the member's grid -----------------------------------------------------------

const TILED = { roads: 8, grids: 11, micro_grids: 14 }; // layer: its first zoom

function tileUrl(layer) {
  return `${location.origin}/tiles/${layer}/{z}/{x}/{y}.mvt`;
}

// MapLibre (a megabyte) is loaded after the tasks are shown: on a slow link the list is usable
// first, the map comes when it comes.
function loadMapLibre() {
  if (window.maplibregl) return Promise.resolve(true);
  return new Promise((resolve) => {
    const css = document.createElement('link');
    css.rel = 'stylesheet';
    css.href = '/field/maplibre-gl.css';
    document.head.append(css);
    const js = document.createElement('script');
    js.src = '/field/maplibre-gl.js';
    js.onload = () => resolve(true);
    js.onerror = () => resolve(false);
    document.head.append(js);
  });
}

async function startMap(area) {
  if (state.map || !(await loadMapLibre())) return;
  const sources = {};
  for (const [layer, minzoom] of Object.entries(TILED)) sources[layer] = { type: 'vector', tiles: [tileUrl(layer)], minzoom, maxzoom: 16 };
  sources.tasks = { type: 'geojson', data: { type: 'FeatureCollection', features: [] } };
  try {
    state.map = new maplibregl.Map({
      container: 'map',
      attributionControl: false,
      style: {
        version: 8,
        sources,
        layers: [
          { id: 'bg', type: 'background', paint: { 'background-color': '#eef1f5' } },
          { id: 'roads', type: 'line', source: 'roads', 'source-layer': 'roads', paint: { 'line-color': '#8a96a8', 'line-width': 2 } },
          { id: 'micro', type: 'line', source: 'micro_grids', 'source-layer': 'micro_grids', paint: { 'line-color': '#b7c3d3', 'line-width': 0.8 } },
          { id: 'grids', type: 'line', source: 'grids', 'source-layer': 'grids', paint: { 'line-color': '#0b3d91', 'line-width': 2 } },
          { id: 'tasks', type: 'circle', source: 'tasks', paint: { 'circle-radius': 8, 'circle-color': '#d93025', 'circle-stroke-color': '#fff', 'circle-stroke-width': 2 } },
        ],
      },
      bounds: area?.bbox,
      maxZoom: 18,
    });
    state.map.on('load', drawTasks);
  } catch (e) {
    state.map = null; // no WebGL here: the app works without its map
  }
}

function drawTasks() {
  const source = state.map?.getSource('tasks');
  source?.setData({
    type: 'FeatureCollection',
    features: state.tasks.map((t) => ({ type: 'Feature', id: t.id, geometry: { type: 'Point', coordinates: [t.lon, t.lat] }, properties: { id: t.id } })),
  });
}

// The grid's tiles at the zooms a member uses, fetched once online so that the service
// worker keeps them for offline use.
async function keepGridTiles(bbox) {
  if (!bbox || !navigator.onLine) return;
  const [w, s, e, n] = bbox;
  const x = (lon, z) => Math.floor(((lon + 180) / 360) * 2 ** z);
  const y = (lat, z) => {
    const r = (lat * Math.PI) / 180;
    return Math.floor(((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * 2 ** z);
  };
  const urls = [];
  for (let z = 13; z <= 16; z += 1) {
    for (let tx = x(w, z); tx <= x(e, z); tx += 1) {
      for (let ty = y(n, z); ty <= y(s, z); ty += 1) {
        for (const [layer, minzoom] of Object.entries(TILED)) if (z >= minzoom) urls.push(tileUrl(layer).replace('{z}', z).replace('{x}', tx).replace('{y}', ty));
      }
    }
  }
  for (const u of urls.slice(0, 600)) {
    try { await fetch(u, { credentials: 'same-origin' }); } catch (e) { return; }
  }
}

// --- logging in, starting -------------------------------------------------------------------

function askLogin(message = '') {
  $('login').hidden = false;
  $('app').hidden = true;
  $('login-error').textContent = message;
}

async function onLogin(ev) {
  ev.preventDefault();
  const f = new FormData(ev.target);
  let r;
  try {
    r = await fetch('/auth/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ login: f.get('login'), password: f.get('password') }),
    });
  } catch (e) {
    $('login-error').textContent = '无网络：联网后登录';
    return;
  }
  const answer = await r.json().catch(() => ({}));
  if (!r.ok) { $('login-error').textContent = answer.detail || `登录失败（${r.status}）`; return; }
  if (answer.me.must_change_password) { $('login-error').textContent = '请先在电脑上修改管理员设置的密码'; return; }
  await kv.set('me', answer.me);
  await kv.del('loggedOut');
  ev.target.reset();
  started(answer.me);
}

// The moment the task list is usable (what bench/field.py measures from the navigation).
function usable() {
  if (!performance.getEntriesByName('citybrain:tasks').length) performance.mark('citybrain:tasks');
}

async function started(me) {
  state.me = me;
  $('who').textContent = me.name || me.actor;
  $('login').hidden = true;
  $('app').hidden = false;
  if ((await kv.get('owner')) !== me.actor) {
    // Another member used this phone before: their tasks are not this one's (their queued
    // actions stay, sent when they log in again).
    for (const key of ['tasks', 'seen', 'primed', 'area']) await kv.del(key);
    await kv.set('owner', me.actor);
  }
  state.seen = new Set((await kv.get('seen')) || []);
  state.primed = Boolean(await kv.get('primed'));
  clockOffset = (await kv.get('clockOffset')) || 0;
  state.tasks = await withQueued((await kv.get('tasks')) || []);
  renderTasks(); // what was kept, at once; then what the server says
  if (state.tasks.length) usable();
  await refreshTasks();
  usable();
  await loadCategories(); // (before going offline can take them away: a report needs them)
  openStream();
  if ((await kv.get('patrol'))?.login === me.actor) watchPatrol();
  await showPending();
  sync();
  later(me);
}

// What can wait until the tasks are usable: the service worker, the categories, the map and
// the grid's tiles (kept by the worker, so fetched once it controls the page).
async function later(me) {
  registerWorker();
  let area = await kv.get('area');
  try {
    area = await getJSON(`/areas/${encodeURIComponent(me.area_code)}`);
    await kv.set('area', { bbox: area.bbox, name: area.name });
  } catch (e) { /* offline: the kept one */ }
  await startMap(area);
  if (!('serviceWorker' in navigator)) return;
  await navigator.serviceWorker.ready;
  if (!navigator.serviceWorker.controller) {
    await new Promise((resolve) => navigator.serviceWorker.addEventListener('controllerchange', resolve, { once: true }));
  }
  keepGridTiles(area?.bbox);
}

async function loadCategories() {
  let cats = await kv.get('categories');
  try {
    const answer = await getJSON('/categories');
    cats = (answer.categories || answer).map((c) => c.name || c);
    await kv.set('categories', cats);
  } catch (e) { /* offline: the kept list */ }
  $('category').replaceChildren(...(cats || []).map((c) => {
    const o = document.createElement('option');
    o.value = o.textContent = c;
    return o;
  }));
}

// The worker (and the shell it keeps) once the page is usable: not before, on a slow link.
function registerWorker() {
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/field/sw.js', { scope: '/field/' }).catch(() => {});
  }
}

// Log out on the server too; offline, the next time the app opens with a network. Until then
// the session cookie the browser holds must not log anyone back in.
async function endSession() {
  const token = (document.cookie.match(/citybrain_csrf=([^;]+)/) || [])[1] || '';
  try {
    const r = await fetch('/auth/logout', { method: 'POST', credentials: 'same-origin', headers: { 'X-CSRF-Token': decodeURIComponent(token) } });
    if (r.ok || r.status === 401) await kv.del('loggedOut');
  } catch (e) { /* offline: at the next opening */ }
}

async function boot() {
  showNet();
  addEventListener('online', () => { showNet(); sync().then(refreshTasks); });
  addEventListener('offline', showNet);
  $('login-form').addEventListener('submit', onLogin);
  $('report-form').addEventListener('submit', onReport);
  $('step-form').addEventListener('submit', onStepForm);
  $('step-cancel').addEventListener('click', () => { $('step-form').hidden = true; });
  $('task-back').addEventListener('click', () => { state.open = null; $('task').hidden = true; $('tasks').hidden = false; });
  for (const b of document.querySelectorAll('#task [data-step]')) b.addEventListener('click', () => onStepButton(b.dataset.step));
  for (const v of ['tasks', 'report', 'patrol']) $(`tab-${v}`).addEventListener('click', () => show(v));
  $('patrol-start').addEventListener('click', startPatrol);
  $('patrol-end').addEventListener('click', endPatrol);
  $('logout').addEventListener('click', async () => {
    const waiting = (await queuedBy(state.me.actor)).length;
    if (waiting && !confirm(`还有 ${waiting} 条记录待同步：退出后，它们在您再次登录时发送。确定退出？`)) return;
    if (await kv.get('patrol')) await endPatrol(); // (a patrol is its member's: it ends here)
    await settled(); // what is being sent goes with this member's session, not the next one's
    await kv.set('loggedOut', true); // (kept until the server has ended the session too)
    await kv.del('me');
    state.stream?.close();
    state.stream = null;
    state.me = null;
    await endSession();
    askLogin();
  });
  setInterval(() => { if (navigator.onLine && state.me) sync().then(refreshTasks); }, POLL_MS);

  let me = null;
  if (await kv.get('loggedOut')) {
    await endSession();
    return askLogin();
  }
  try {
    me = await getJSON('/auth/me');
    if (me.kind !== 'user' || me.must_change_password) me = null;
    else await kv.set('me', me); // (who opens it offline next time)
  } catch (e) {
    if (!(e instanceof Unauthorized)) me = await kv.get('me'); // offline: who was here
  }
  if (me) started(me); else askLogin();
}

window.fieldApp = { flush: sync, queue: () => all('queue'), refused: () => all('refused'), state };
boot();
