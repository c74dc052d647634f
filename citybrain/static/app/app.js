// The command centre's big screen: 一图观全域、一屏管全局.
// Plain JavaScript over citybrain's own API; every request stays on this server.
(() => {
  'use strict';

  const GROUPS = [
    ['towns', '镇街'], ['villages', '村社区'], ['grids', '网格'], ['compounds', '小区/村民小组'],
    ['micro_grids', '微网格'], ['roads', '道路'], ['teams', '网格团队'], ['cameras', '视频监控'],
    ['facilities', '公共服务设施'], ['incidents', '事件'], ['alerts', '预警'],
  ];
  const POINT_LAYERS = ['teams', 'cameras', 'facilities', 'incidents'];
  const STATUS = {
    reported: '已上报', registered: '已立案', dispatched: '已派遣', on_site: '处置中',
    resolved: '已办结', checked: '已核查', closed: '已归档', escalated: '已提级',
    rejected: '不予立案', merged: '已并案',
  };
  const TIER = { village: '村级', town: '镇级', county: '县级' };
  const TEAM_STATUS = { available: '空闲', busy: '忙碌', off_duty: '休息' };
  const LEVEL = { town: '镇街', village: '村社区', grid: '网格', compound: '小区', micro_grid: '微网格' };
  // Where an area's boundary came from (/areas/{code}: boundary).
  const BOUNDARY = { imported: '测绘数据（导入）', derived: '推算（按村委会位置划分）', synthetic: '示例数据（合成）' };
  const ROLE = {
    grid_worker: '网格员', auxiliary_police: '辅警', party_member: '党员',
    legal_adviser: '法律顾问', mediator: '和谐员',
  };
  const KIND = {
    cultural_hall: '文化礼堂', party_service_centre: '党群服务中心', police_post: '联勤警务站',
    legal_service: '法律服务点', mediation_room: '调解室', bullet: '枪机', dome: '球机',
    face: '人脸抓拍', plate: '车牌识别',
  };
  const ALERT_KIND = { scan: '时空扫描', ears: 'EARS', rule: '规则' };
  const ALERT_STATUS = { new: '新预警', acknowledged: '已确认', dispatched: '已派遣', closed: '已关闭' };
  // What the alerts panel lists: open and not snoozed (newest first, as the API orders them).
  // Alerts say what they found in Chinese; ?lang=en on the page's URL asks them in English.
  const LANG = new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'zh';
  const OPEN_ALERTS = `/alerts?status=new&status=acknowledged&status=dispatched&snoozed=false&limit=100&lang=${LANG}`;
  const HEAT_STOPS = { '24h': [1, 3, 10], '7d': [1, 10, 40], '30d': [1, 30, 150], '365d': [1, 300, 1500] };
  const LIVE_KEEP_MS = 120000;

  const $ = (id) => document.getElementById(id);
  const esc = (s) => String(s ?? '').replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' }[c]));
  const when = (t) => (t ? new Date(t).toLocaleString('zh-CN', { hour12: false }) : '–');
  const pct = (v) => (v === null || v === undefined ? '–' : `${v}%`);
  const fc = (features) => ({ type: 'FeatureCollection', features });
  // The newest write this screen has heard of (an event's `lsn`, when read replicas serve the
  // API): sent back with every read, so no replica that has not replayed it answers.
  const written = { lsn: null };
  const lsnValue = (lsn) => { const [hi, lo] = lsn.split('/'); return BigInt(`0x${hi}`) * 4294967296n + BigInt(`0x${lo}`); };
  const heard = (event) => {
    const lsn = event && event.lsn;
    if (typeof lsn === 'string' && /^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i.test(lsn)
        && (written.lsn === null || lsnValue(lsn) > lsnValue(written.lsn))) written.lsn = lsn;
  };
  const readHeaders = (headers = {}) => (written.lsn ? { ...headers, 'Citybrain-LSN': written.lsn } : headers);
  const getJSON = async (url) => {
    const r = await fetch(url, { headers: readHeaders({ Accept: 'application/json' }) });
    if (!r.ok) throw new Error(`${url}: ${r.status}`);
    return r.json();
  };

  // The window shown at first: the last 24 hours (history is a choice, not the default).
  const state = {
    heatLast: '24h', heatCategory: '', live: [], ticker: [], events: 0, rung: 0, bulks: 0, resyncs: 0,
    alertEvents: 0, alertLoads: 0, alertSelected: null, alertCard: null,
  };
  // /?archive=true: the static layers come from the PMTiles archive the server names
  // (CITYBRAIN_TILE_ARCHIVE_URL, any static host), the live ones from the API.
  const archived = new URLSearchParams(location.search).get('archive') === 'true';
  if (archived) maplibregl.addProtocol('pmtiles', new pmtiles.Protocol().tile);
  const openedWithView = Boolean(location.hash); // (read before the map writes its own)
  const map = new maplibregl.Map({
    container: 'map',
    style: archived ? '/style.json?archive=true' : '/style.json',
    localIdeographFontFamily: '"Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif',
    attributionControl: false,
    hash: true,
    maxPitch: 0,
    // Tiles and the style's sources read from the API as the fetches above do.
    transformRequest: (url) => (url.startsWith(location.origin) && written.lsn
      ? { url, headers: readHeaders() } : { url }),
  });
  // alerts: the list the panel shows, as loaded from OPEN_ALERTS (null until the first load).
  window.citybrain = { map, ready: false, state, cards: 0, alerts: null, written };

  // --- layers ---------------------------------------------------------------------------------
  const styleLayersOf = (group) => map.getStyle().layers
    .filter((l) => [group, `${group}_labels`].includes(l['source-layer']) || l.id === `${group}-hit`)
    .map((l) => l.id);

  // The colours a style layer is drawn in (its paint's literal colours, expressions included):
  // the legend's swatches, read from the style itself so that they cannot drift from the map.
  const PAINTS = ['fill-outline-color', 'line-color', 'circle-color', 'fill-color', 'text-color'];
  function colours(layer) {
    const out = [];
    const walk = (v) => {
      if (typeof v === 'string' && /^(#|rgb|hsl)/.test(v)) out.push(v);
      else if (Array.isArray(v)) v.forEach(walk);
    };
    for (const p of PAINTS) walk(layer.paint?.[p]);
    return [...new Set(out)].slice(0, 4);
  }

  function swatches(group) {
    // (not the invisible fills that make polygons clickable: they are not drawn)
    const layers = map.getStyle().layers.filter((l) => l['source-layer'] === group && l.type !== 'symbol' && !l.id.endsWith('-hit'));
    return [...new Set(layers.flatMap(colours))].slice(0, 4);
  }

  // The heatmap's classes: its colour ramp's stops (incidents per cell), from the style.
  function buildHeatLegend() {
    const ramp = map.getStyle().layers.find((l) => l.id === 'heatmap')?.paint?.['fill-color'];
    if (!Array.isArray(ramp) || ramp[0] !== 'interpolate') return;
    const stops = [];
    for (let i = 3; i + 1 < ramp.length; i += 2) stops.push([ramp[i], ramp[i + 1]]);
    const box = $('heat-legend');
    box.replaceChildren(...stops.map(([value, colour], k) => {
      const item = document.createElement('span');
      item.className = 'heat-class';
      item.dataset.value = value;
      item.dataset.colour = colour;
      const i = document.createElement('i');
      i.className = 'swatch';
      i.style.background = colour;
      item.append(i, k === stops.length - 1 ? ` ≥${value}` : ` ${value}`);
      return item;
    }));
    box.title = '每个 H3 单元的事件数';
  }

  function buildLayerSwitcher() {
    const box = $('layers');
    for (const [id, zh] of GROUPS) {
      const label = document.createElement('label');
      label.dataset.group = id;
      const marks = swatches(id).map((c) => `<i class="swatch" data-colour="${esc(c)}"></i>`).join('');
      label.innerHTML = `<input type="checkbox" checked data-group="${id}"> <span class="legend-marks">${marks}</span> ${zh}`;
      // (colours through the CSSOM: the page's policy refuses style attributes)
      for (const i of label.querySelectorAll('.swatch')) i.style.background = i.dataset.colour;
      label.querySelector('input').addEventListener('change', (e) => {
        for (const l of styleLayersOf(id)) {
          map.setLayoutProperty(l, 'visibility', e.target.checked ? 'visible' : 'none');
        }
      });
      box.appendChild(label);
    }
  }

  function addOverlays() {
    const firstSymbol = map.getStyle().layers.find((l) => l.type === 'symbol')?.id;
    // Invisible fills make polygons clickable for the drill-down.
    for (const [id, minzoom] of [['towns', 0], ['villages', 9], ['grids', 11]]) {
      // (from the API's tiles, or the archive's: wherever the style draws the layer from)
      const source = map.getStyle().layers.find((l) => l['source-layer'] === id)?.source;
      if (!source) continue;
      map.addLayer({
        id: `${id}-hit`, type: 'fill', source, 'source-layer': id, minzoom,
        paint: { 'fill-color': '#000000', 'fill-opacity': 0.01 },
      }, firstSymbol);
    }
    map.addSource('hotspots', { type: 'geojson', data: fc([]) });
    map.addLayer({
      id: 'hotspots', type: 'line', source: 'hotspots', layout: { visibility: 'none' },
      paint: { 'line-color': ['match', ['get', 'kind'], 'hot', '#ff1744', '#2979ff'], 'line-width': 2.5 },
    });
    // The alert chosen in the panel: its area outlined, its incidents as points.
    map.addSource('alert-selected', { type: 'geojson', data: fc([]) });
    map.addLayer({
      id: 'alert-selected-halo', type: 'line', source: 'alert-selected',
      paint: { 'line-color': '#ff6d00', 'line-width': 10, 'line-opacity': 0.45, 'line-blur': 3 },
    });
    map.addLayer({
      id: 'alert-selected', type: 'line', source: 'alert-selected',
      paint: { 'line-color': '#ffffff', 'line-width': 3.5 },
    });
    map.addSource('alert-incidents', { type: 'geojson', data: fc([]) });
    map.addLayer({
      id: 'alert-incidents', type: 'circle', source: 'alert-incidents',
      paint: { 'circle-radius': 6, 'circle-color': '#ffd600', 'circle-stroke-color': '#04121f', 'circle-stroke-width': 1.5 },
    });
    map.addSource('live', { type: 'geojson', data: fc([]) });
    map.addLayer({
      id: 'live-ring', type: 'circle', source: 'live',
      paint: { 'circle-radius': 16, 'circle-color': 'rgba(0,0,0,0)', 'circle-stroke-color': '#ff5252', 'circle-stroke-width': 3 },
    });
    map.addLayer({
      id: 'live-dot', type: 'circle', source: 'live',
      paint: { 'circle-radius': 6, 'circle-color': '#ff5252', 'circle-stroke-color': '#fff', 'circle-stroke-width': 1 },
    });
  }

  // --- heatmap and hotspots -------------------------------------------------------------------
  // One window for everything that shows incidents: the heatmap, the hotspots and the
  // incident layer (open incidents plus those of the window) take the same parameters.
  function windowQuery() {
    const cat = state.heatCategory ? `&category=${encodeURIComponent(state.heatCategory)}` : '';
    return `last=${state.heatLast}${cat}`;
  }

  function heatTiles() {
    return [`${location.origin}/tiles/heatmap/{z}/{x}/{y}.mvt?${windowQuery()}`];
  }

  function refreshHeat() {
    map.getSource('heatmap').setTiles(heatTiles());
    reloadIncidentTiles();
    const [a, b, c] = HEAT_STOPS[state.heatLast];
    map.setPaintProperty('heatmap', 'fill-color',
      ['interpolate', ['linear'], ['get', 'value'], a, '#1a237e', b, '#f57f17', c, '#d50000']);
    if ($('hot-on').checked) loadHotspots();
  }

  async function loadHotspots() {
    const data = await getJSON(`/hotspots/incidents?res=8&${windowQuery()}&format=geojson`);
    map.getSource('hotspots').setData(data);
    state.hotspots = data.features.length;
  }

  function wireHeatControls() {
    $('heat-on').addEventListener('change', (e) => {
      map.setLayoutProperty('heatmap', 'visibility', e.target.checked ? 'visible' : 'none');
    });
    for (const b of $('heat-window').querySelectorAll('button')) {
      b.addEventListener('click', () => {
        for (const o of $('heat-window').querySelectorAll('button')) o.classList.toggle('on', o === b);
        state.heatLast = b.dataset.last;
        refreshHeat();
      });
    }
    $('heat-category').addEventListener('change', (e) => { state.heatCategory = e.target.value; refreshHeat(); });
    $('hot-on').addEventListener('change', (e) => {
      map.setLayoutProperty('hotspots', 'visibility', e.target.checked ? 'visible' : 'none');
      if (e.target.checked) loadHotspots();
    });
  }

  // --- KPI panels -----------------------------------------------------------------------------
  async function loadStats() {
    const s = await getJSON('/stats');
    // The service's clock (a training county may run as of another time): the screen's clock
    // shows it, not the wall's.
    state.clockOffset = Date.parse(s.generated_at) - Date.now();
    $('k-today').textContent = s.today;
    $('k-open').textContent = s.open_now;
    $('k-wait').textContent = s.waiting_dispatch;
    $('k-cams').textContent = pct(s.cameras_online_pct);
    $('towns').querySelector('tbody').innerHTML = s.towns.map((t) =>
      `<tr><td>${esc(t.name)}</td><td>${t.incidents}</td><td>${pct(t.dispatched_on_time_pct)}</td>` +
      `<td>${pct(t.resolved_on_time_pct)}</td></tr>`).join('');
    const top = s.categories[0]?.incidents || 1;
    $('categories').innerHTML = s.categories.map((c) =>
      `<div class="bar"><span>${esc(c.category)}</span><i></i>${c.incidents}</div>`).join('');
    // Widths through the CSSOM: the page's Content-Security-Policy refuses style attributes.
    $('categories').querySelectorAll('.bar i').forEach((bar, n) => {
      bar.style.width = `${(70 * s.categories[n].incidents) / top}%`;
    });
    $('grids').innerHTML = s.busiest_grids.map((g) => `<li>${esc(g.name)} · ${g.open}</li>`).join('');
  }

  // The filter offers the county's categories, whether or not they happened lately.
  async function loadCategories() {
    const select = $('heat-category');
    for (const c of (await getJSON('/categories')).categories) select.add(new Option(c.name, c.name));
  }

  // --- ticker and live events -----------------------------------------------------------------
  function renderTicker() {
    $('ticker-items').innerHTML = state.ticker.map((i) =>
      `<div class="${i.fresh ? 'fresh' : ''}" data-id="${i.id}">` +
      `<span class="status-${i.status}">●</span> #${i.id} ${esc(i.category)} ` +
      `${esc(i.town || '')}${esc(i.grid ? ' ' + i.grid : '')} ${STATUS[i.status] || i.status} ` +
      `${new Date(i.updated_at || i.reported_at).toLocaleTimeString('zh-CN', { hour12: false })}</div>`).join('');
  }

  async function loadTicker() {
    // Incidents that ring while the list loads are newer than it: they stay on top.
    const since = state.rung;
    const loaded = (await getJSON('/incidents-latest?limit=15')).incidents;
    const fresh = state.ticker.slice(0, Math.min(state.rung - since, 15));
    const ids = new Set(fresh.map((i) => i.id));
    state.ticker = [...fresh, ...loaded.filter((i) => !ids.has(i.id))].slice(0, 15);
    renderTicker();
  }

  function onIncident(event) {
    const inc = JSON.parse(event.data);
    heard(inc);
    state.events += 1;
    state.rung += 1; // (each puts one incident on top of the ticker)
    const now = Date.now();
    state.live = state.live.filter((f) => now - f.properties.seen < LIVE_KEEP_MS && f.properties.id !== inc.id);
    state.live.push({
      type: 'Feature', geometry: { type: 'Point', coordinates: [inc.lon, inc.lat] },
      properties: { ...inc, seen: now },
    });
    map.getSource('live').setData(fc(state.live));
    state.ticker = [{ ...inc, fresh: true }, ...state.ticker.filter((i) => i.id !== inc.id)].slice(0, 15);
    renderTicker();
    setTimeout(() => { for (const i of state.ticker) if (i.id === inc.id) i.fresh = false; renderTicker(); }, 8000);
  }

  // Many incidents written at once (an import, a batch update): one summary, and everything
  // that shows incidents is reloaded instead of ringing each one.
  function onBulk(event) {
    heard(JSON.parse(event.data));
    state.events += 1;
    state.bulks += 1;
    refreshHeat(); // the heatmap and the incident tiles, in the same window
    loadStats().catch(console.error);
    loadTicker().catch(console.error);
  }

  // Every layer of the composite source: the incidents, and the alerts' areas too. (With the
  // static layers on an archive, each live layer has a source of its own.)
  function reloadIncidentTiles() {
    const query = `${windowQuery()}&t=${Date.now()}`;
    if (!archived) {
      map.getSource('citybrain').setTiles([`${location.origin}/tiles/{z}/{x}/{y}.mvt?${query}`]);
      return;
    }
    for (const layer of ['incidents', 'alerts']) {
      map.getSource(`citybrain-${layer}`)?.setTiles([`${location.origin}/tiles/${layer}/{z}/{x}/{y}.mvt?${query}`]);
    }
  }

  // What the stream may have missed: the server says so (`resync`: its database restarted, or
  // this screen fell behind), or the stream itself broke and came back. Either way the screen
  // reloads everything that shows incidents rather than show a silent gap.
  function resync() {
    state.resyncs += 1;
    refreshHeat();
    loadStats().catch(console.error);
    loadTicker().catch(console.error);
    alertsSoon(false); // (refreshHeat reloaded the tiles)
  }

  function connectEvents() {
    const source = new EventSource('/events'); // reconnects by itself when the server restarts
    let broken = false;
    source.addEventListener('open', () => {
      $('live').className = 'up';
      if (broken) resync();
      broken = false;
    });
    source.addEventListener('error', () => { $('live').className = 'down'; broken = true; });
    source.addEventListener('incident', onIncident);
    source.addEventListener('bulk', onBulk);
    source.addEventListener('resync', resync);
    source.addEventListener('alert', (e) => { heard(JSON.parse(e.data)); state.alertEvents += 1; alertsSoon(true); });
  }

  // --- alerts (预警) ---------------------------------------------------------------------------
  // A detector's run raises or updates several alerts at once: one reload per burst.
  let alertsTimer = null;
  let alertsTiles = false;
  function alertsSoon(tiles) {
    alertsTiles = alertsTiles || tiles;
    if (alertsTimer) return;
    alertsTimer = setTimeout(() => {
      alertsTimer = null;
      if (alertsTiles) reloadIncidentTiles(); // the alerts layer's areas
      alertsTiles = false;
      loadAlerts().catch(console.error);
    }, 300);
  }

  // Loads may overlap (a burst, a resync): an answer older than the one shown is dropped.
  let alertsAsked = 0;
  let alertsShown = 0;
  async function loadAlerts() {
    const asked = ++alertsAsked;
    const list = await getJSON(OPEN_ALERTS);
    if (asked < alertsShown) return;
    alertsShown = asked;
    window.citybrain.alerts = list;
    state.alertLoads += 1;
    if (!list.some((a) => a.id === state.alertSelected)) clearSelectedAlert();
    renderAlerts();
  }

  const days = (d) => Math.round(d).toLocaleString('en-US');

  function renderAlerts() {
    const list = window.citybrain.alerts || [];
    $('alerts-count').textContent = list.length;
    $('alerts-empty').classList.toggle('hidden', list.length > 0);
    $('alerts-list').innerHTML = list.map((a) =>
      `<li data-id="${a.id}" data-status="${esc(a.status)}" tabindex="0" role="button"` +
      ` class="${a.id === state.alertSelected ? 'on' : ''}${a.active ? '' : ' subsided'}">` +
      `<div class="alert-head"><span class="alert-kind">${esc(ALERT_KIND[a.kind] || a.kind)}</span>` +
      `<span>${esc(a.category || '全部类别')}</span>` +
      `<span class="alert-status">${esc(ALERT_STATUS[a.status] || a.status)}${a.active ? '' : ' · 已平息'}</span></div>` +
      `<div class="alert-area">${esc(a.area_name)}</div>` +
      `<div class="alert-summary">${esc(a.summary)}</div>` +
      (a.recurrence_days != null
        ? `<div class="alert-rec" title="once in ${days(a.recurrence_days)} days">约 ${days(a.recurrence_days)} 天一遇</div>`
        : '') +
      '</li>').join('');
  }

  // [west, south, east, north] of any GeoJSON geometry's coordinates.
  function bboxOf(geometry) {
    const b = [Infinity, Infinity, -Infinity, -Infinity];
    const walk = (c) => {
      if (typeof c[0] === 'number') {
        b[0] = Math.min(b[0], c[0]); b[1] = Math.min(b[1], c[1]);
        b[2] = Math.max(b[2], c[0]); b[3] = Math.max(b[3], c[1]);
      } else {
        for (const x of c) walk(x);
      }
    };
    walk(geometry.coordinates);
    return b;
  }

  function clearSelectedAlert() {
    state.alertSelected = null;
    map.getSource('alert-selected')?.setData(fc([]));
    map.getSource('alert-incidents')?.setData(fc([]));
  }

  async function selectAlert(id) {
    const a = (window.citybrain.alerts || []).find((x) => x.id === id);
    if (!a) return;
    state.alertSelected = id;
    renderAlerts();
    map.getSource('alert-selected').setData(fc([{ type: 'Feature', geometry: a.geometry, properties: { id } }]));
    map.getSource('alert-incidents').setData(fc([]));
    // The same margin left and right (the wider of the side panels), so the area is centred
    // on the screen and clear of both panels.
    const side = Math.max($('leftcol').offsetWidth, $('right').offsetWidth) + 24;
    const [w, s, e, n] = bboxOf(a.geometry);
    map.fitBounds([[w, s], [e, n]], { padding: { top: 100, bottom: 100, left: side, right: side }, maxZoom: 17, duration: 800 });
    const detail = await getJSON(`/alerts/${id}?lang=${LANG}`);
    if (state.alertSelected !== id) return; // another was chosen meanwhile
    map.getSource('alert-incidents').setData(fc(detail.incident_list.map((i) => ({
      type: 'Feature', geometry: { type: 'Point', coordinates: [i.lon, i.lat] },
      properties: { id: i.id, category: i.category, status: i.status },
    }))));
    alertCard(detail);
    state.alertCard = id;
  }

  function alertCard(a) {
    const incidents = a.incident_list.map((i) =>
      `<li class="status-${esc(i.status)}" data-id="${i.id}">#${i.id} ${esc(i.category)} ` +
      `${STATUS[i.status] || esc(i.status)} ${when(i.reported_at)}</li>`).join('');
    const expected = a.expected === null || a.expected === undefined ? '–' : a.expected.toFixed(1);
    showCard(`<h2>预警 · ${esc(a.area_name)}</h2><dl class="card-grid">` +
      row('类型', `${esc(ALERT_KIND[a.kind] || a.kind)} · ${esc(a.detector)}`) +
      row('状态', `${esc(ALERT_STATUS[a.status] || a.status)}${a.active ? '' : ' · 已平息'}`) +
      row('类别', esc(a.category || '全部类别')) + row('概要', esc(a.summary)) +
      row('观测 / 预期', `${a.observed} / ${expected}`) +
      (a.recurrence_days != null ? row('重现期', `约 ${days(a.recurrence_days)} 天一遇`) : '') +
      row('时段', `${when(a.window_start)} – ${when(a.window_end)}`) +
      row('首次发现', when(a.first_seen)) + row('最近发现', when(a.last_seen)) +
      `</dl><h2>事件 (${a.incident_list.length})</h2><ul>${incidents}</ul>`);
  }

  function wireAlerts() {
    const pick = (e) => {
      const li = e.target.closest('li[data-id]');
      if (li) selectAlert(Number(li.dataset.id)).catch(console.error);
    };
    $('alerts-list').addEventListener('click', pick);
    $('alerts-list').addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(e); });
  }

  // --- cards (drill-down) ---------------------------------------------------------------------
  function showCard(html) {
    $('card-body').innerHTML = html;
    $('card').classList.remove('hidden');
    window.citybrain.cards += 1;
  }
  const row = (k, v) => `<dt>${k}</dt><dd>${v}</dd>`;

  async function areaCard(code) {
    const a = await getJSON(`/areas/${encodeURIComponent(code)}`);
    const teams = a.teams.map((t) =>
      `<li>${esc(t.name)} · ${TEAM_STATUS[t.status] || t.status}` +
      ` · ${t.active}/${t.capacity}<br><small>${(t.roles || []).map((r) => ROLE[r] || r).join('、')}</small></li>`).join('');
    const cats = Object.entries(a.last_30_days.by_category).map(([c, n]) => `${esc(c)} ${n}`).join(' · ');
    const open = a.latest_open.map((i) =>
      `<li class="status-${i.status}">#${i.id} ${esc(i.category)} ${STATUS[i.status]} ${when(i.reported_at)}</li>`).join('');
    showCard(`<h2>${LEVEL[a.level]} · ${esc(a.name)}</h2><dl class="card-grid">` +
      row('编码', esc(a.code)) + row('边界', BOUNDARY[a.boundary] || a.boundary) +
      row('人口', `${a.population} 人 · ${a.households} 户`) +
      row('微网格', a.micro_grids) +
      row('团队', `${a.team_summary.teams} (空闲 ${a.team_summary.available} · 忙碌 ${a.team_summary.busy})`) +
      row('办理中事件', a.open_incidents) + row('近30天事件', a.last_30_days.incidents) +
      row('按时派遣', pct(a.last_30_days.dispatched_on_time_pct)) +
      row('按时办结', pct(a.last_30_days.resolved_on_time_pct)) + row('类别', cats || '–') +
      `</dl>${teams ? `<h2>网格团队</h2><ul>${teams}</ul>` : ''}${open ? `<h2>办理中</h2><ul>${open}</ul>` : ''}`);
    const [w, s, e, n] = a.bbox;
    map.fitBounds([[w, s], [e, n]], { padding: 120, maxZoom: 17, duration: 800 });
  }

  async function pointCard(layer, f) {
    const p = f.properties;
    if (p.count !== undefined) { // a cluster: come closer
      map.easeTo({ center: f.geometry.coordinates, zoom: map.getZoom() + 2 });
      return;
    }
    if (layer === 'incidents' || layer === 'live') {
      const id = p.id ?? f.id;
      let i;
      try {
        i = await getJSON(`/incidents/${id}`); // the case file: for a screen with a viewer key
      } catch (err) { // a public screen: the incident's public fields, from the layer
        i = { id, ...(await getJSON(`/collections/incidents/items/${id}`)).properties };
      }
      showCard(`<h2>事件 #${i.id} · ${esc(i.category)}</h2><dl class="card-grid">` +
        row('状态', `<span class="status-${i.status}">${STATUS[i.status]}</span>`) + row('层级', TIER[i.tier]) +
        row('等级', i.severity) + row('来源', esc(i.source)) + row('描述', esc(i.description || '–')) +
        row('上报', when(i.reported_at)) + row('派遣', when(i.dispatched_at)) + row('办结', when(i.resolved_at)) +
        row('派遣时限', when(i.dispatch_due_at)) + row('办结时限', when(i.resolve_due_at)) + '</dl>');
    } else if (layer === 'teams') {
      const t = await getJSON(`/teams/${f.id}`);
      showCard(`<h2>${esc(t.name)}</h2><dl class="card-grid">` +
        row('状态', TEAM_STATUS[t.status] || t.status) + row('任务', `${t.active}/${t.capacity}`) +
        row('成员', t.members.map((m) => ROLE[m.role] || m.role).join('、')) +
        row('擅长', t.skills.join('、')) + row('定位时间', when(t.position_at)) + '</dl>');
    } else {
      const item = await getJSON(`/collections/${layer}/items/${f.id}`);
      const q = item.properties;
      showCard(`<h2>${esc(q.name)}</h2><dl class="card-grid">` +
        Object.entries(q).filter(([k]) => k !== 'name')
          .map(([k, v]) => row(esc(k), esc(k === 'kind' ? (KIND[v] || v) : v))).join('') + '</dl>');
    }
  }

  function wireClicks() {
    const visible = (id) => map.getLayer(id) && map.getLayoutProperty(id, 'visibility') !== 'none';
    map.on('click', async (e) => {
      const pointLayers = map.getStyle().layers
        .filter((l) => POINT_LAYERS.includes(l['source-layer']) && visible(l.id)).map((l) => l.id);
      const points = map.queryRenderedFeatures(e.point, { layers: [...pointLayers, 'live-dot', 'alert-incidents'] });
      if (points.length) {
        const f = points[0];
        const overlay = { 'live-dot': 'live', 'alert-incidents': 'incidents' }[f.layer.id];
        await pointCard(overlay || f.sourceLayer, f);
        return;
      }
      const z = map.getZoom();
      const order = z >= 13 ? ['grids-hit', 'villages-hit', 'towns-hit']
        : z >= 11 ? ['villages-hit', 'towns-hit'] : ['towns-hit'];
      for (const id of order) {
        const hits = visible(id) ? map.queryRenderedFeatures(e.point, { layers: [id] }) : [];
        if (hits.length) { await areaCard(hits[0].properties.code); return; }
      }
    });
    $('card-close').addEventListener('click', () => $('card').classList.add('hidden'));
    for (const id of ['towns-hit', 'villages-hit', 'grids-hit', 'live-dot', 'alert-incidents'].filter((l) => map.getLayer(l))) {
      map.on('mouseenter', id, () => { map.getCanvas().style.cursor = 'pointer'; });
      map.on('mouseleave', id, () => { map.getCanvas().style.cursor = ''; });
    }
  }

  // --- start ----------------------------------------------------------------------------------
  setInterval(() => {
    $('clock').textContent = new Date(Date.now() + (state.clockOffset || 0)).toLocaleString('zh-CN', { hour12: false });
  }, 1000);
  // --- the county fills the wall ---------------------------------------------------------------
  // Opened without a view in the URL (#zoom/lat/lon), the map fits the county's extent (the
  // composite TileJSON's bounds) to whatever screen it is on, from a laptop to a 7680-pixel
  // wall, and again after every resize until someone moves the map by hand.
  const wall = { bounds: null, fitted: !openedWithView, moved: false };
  function fitCounty() {
    if (!wall.bounds || !wall.fitted || wall.moved) return;
    const c = map.getContainer();
    const pad = Math.round(Math.min(c.clientWidth, c.clientHeight) * 0.04);
    map.fitBounds(wall.bounds, { padding: pad, duration: 0 });
  }
  // (a hand on the map: a drag, a wheel, a pinch, a click that zooms to an area)
  for (const ev of ['dragstart', 'wheel', 'touchstart', 'dblclick', 'boxzoomstart', 'click']) {
    map.on(ev, () => { wall.moved = true; });
  }
  map.on('resize', fitCounty);
  window.citybrain.wall = wall;

  map.on('load', () => {
    getJSON('/tiles.json').then((tj) => {
      const [w, s, e, n] = tj.bounds;
      wall.bounds = [[w, s], [e, n]];
      fitCounty();
    }).catch(console.error);
    addOverlays();
    buildLayerSwitcher();
    buildHeatLegend();
    wireHeatControls();
    wireClicks();
    wireAlerts();
    refreshHeat();
    loadAlerts().catch(console.error);
    loadStats().catch(console.error);
    loadCategories().catch(console.error);
    loadTicker().catch(console.error);
    connectEvents();
    setInterval(() => loadStats().catch(console.error), 30000);
    // A snooze that runs out sends no event: the list is read again every minute too.
    setInterval(() => loadAlerts().catch(console.error), 60000);
    // New incidents show at once as live dots; the incident tiles catch up every minute.
    setInterval(() => { if (state.events) reloadIncidentTiles(); }, 60000);
    map.once('idle', () => { window.citybrain.ready = true; });
  });
})();
