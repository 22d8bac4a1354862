// dynmgr web dashboard. Plain DOM and SVG, no library, nothing from elsewhere.
// Every id, reason and detail is data from the fleet (arbitrary UTF-8): it only
// ever reaches the page through textContent or an attribute value, never as HTML.
'use strict';

(() => {
  const $ = (sel) => document.querySelector(sel);
  const SVG = 'http://www.w3.org/2000/svg';
  const STATUSES = ['running', 'busy', 'starting', 'restarting', 'stopping', 'failed', 'halted',
                    'exited', 'passivating', 'passive'];
  const COLORS = {};
  const css = getComputedStyle(document.documentElement);
  for (const s of STATUSES.concat(['exits', 'restarts'])) {
    COLORS[s] = css.getPropertyValue('--' + s).trim() || '#888';
  }
  const MAX_EVENTS = 300;

  const view = {
    workers: [],          // from /api/state
    mailboxes: new Map(), // id -> depth
    sortKey: 'id',
    sortDesc: false,
    filter: '',
    actions: false,
    serverOffset: 0,      // server wall ms - Date.now(): same host by default, so 0
  };

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function formatUptime(startedMs, nowMs) {
    if (!startedMs || nowMs < startedMs) return '-';
    const s = Math.floor((nowMs - startedMs) / 1000);
    const pad = (n) => String(n).padStart(2, '0');
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + pad(s % 60) + 's';
    if (s < 86400) return Math.floor(s / 3600) + 'h' + pad(Math.floor((s % 3600) / 60)) + 'm';
    return Math.floor(s / 86400) + 'd' + pad(Math.floor((s % 86400) / 3600)) + 'h';
  }

  function lastExit(w) {
    const e = w.last_exit;
    if (!e || !e.kind || e.kind === 'none') return '-';
    return e.reason || e.kind;
  }

  // ---------------------------------------------------------------- token

  const TOKEN_KEY = 'dynmgr-token';
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
  function askToken() {
    const t = window.prompt('Token (the first line of the supervisor\'s --web-token-file):', '');
    if (t === null) return false;
    sessionStorage.setItem(TOKEN_KEY, t.trim());
    showAuth();
    return t.trim() !== '';
  }
  function showAuth() {
    $('#auth-state').textContent = token() ? 'token set for this tab' : 'no token: read-only';
  }

  async function act(verb, id) {
    if (!token() && !askToken()) return;
    if (!window.confirm(verb + ' worker ' + JSON.stringify(id) + '?')) return;
    const res = await fetch('/api/workers/' + encodeURIComponent(id) + '/' + verb, {
      method: 'POST',
      headers: { 'Authorization': 'Bearer ' + token() },
      cache: 'no-store',
    });
    let body = {};
    try { body = await res.json(); } catch (e) { /* not JSON */ }
    if (res.status === 401) sessionStorage.removeItem(TOKEN_KEY);
    showAuth();
    $('#message').textContent = res.ok ? '' : verb + ' ' + id + ': ' + res.status + ' ' +
                                             (body.message || res.statusText);
    refreshState();
  }

  // ---------------------------------------------------------------- table

  function sortValue(w, key, now) {
    switch (key) {
      case 'pid': return w.pid || 0;
      case 'restarts': return w.restarts || 0;
      case 'uptime': return w.pid > 0 && w.started_ms ? now - w.started_ms : -1;
      case 'mailbox': return view.mailboxes.get(w.id) || 0;
      case 'status': return w.status || '';
      case 'last_exit': return lastExit(w);
      default: return w.id;
    }
  }

  function renderTable() {
    const now = Date.now() + view.serverOffset;
    const f = view.filter.toLowerCase();
    let rows = view.workers.filter((w) => !f || w.id.toLowerCase().includes(f) ||
                                          String(w.status).includes(f));
    const k = view.sortKey;
    rows.sort((a, b) => {
      const x = sortValue(a, k, now), y = sortValue(b, k, now);
      const c = x < y ? -1 : x > y ? 1 : (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
      return view.sortDesc ? -c : c;
    });
    const body = document.createElement('tbody');
    for (const w of rows) {
      const tr = el('tr');
      tr.dataset.id = w.id;
      tr.append(el('td', w.id, 'id'));
      tr.cells[0].title = w.id;
      tr.append(el('td', w.pid > 0 ? w.pid : '-', 'num pid'));
      const st = el('td', null, 'status');
      st.append(el('b', w.status, String(w.status)));
      tr.append(st);
      tr.append(el('td', w.restarts, 'num restarts'));
      tr.append(el('td', w.pid > 0 ? formatUptime(w.started_ms, now) : '-', 'num uptime'));
      tr.append(el('td', view.mailboxes.has(w.id) ? view.mailboxes.get(w.id) : '-', 'num mailbox'));
      const le = el('td', lastExit(w), 'last-exit');
      le.title = lastExit(w);
      tr.append(le);
      if (view.actions) {
        const td = el('td', null, 'actions');
        const r = el('button', 'restart');
        r.type = 'button';
        r.addEventListener('click', () => act('restart', w.id));
        const d = el('button', 'del');
        d.type = 'button';
        d.addEventListener('click', () => act('del', w.id));
        td.append(r, d);
        tr.append(td);
      }
      body.append(tr);
    }
    $('#workers tbody').replaceWith(body);
    $('#shown').textContent = rows.length === view.workers.length
        ? '(' + rows.length + ')' : '(' + rows.length + ' of ' + view.workers.length + ')';
    for (const th of document.querySelectorAll('#workers th[data-key]')) {
      th.classList.toggle('sorted', th.dataset.key === view.sortKey);
      th.classList.toggle('desc', th.dataset.key === view.sortKey && view.sortDesc);
    }
  }

  function renderSummary(state) {
    $('#instance').textContent = state.name;
    document.title = 'dynmgr ' + state.name;
    $('#manager').textContent = state.manager;
    $('#supervisor').textContent = state.supervisor.pid +
        (state.supervisor.running ? '' : ' (not running)');
    const counts = new Map();
    for (const w of state.workers) counts.set(w.status, (counts.get(w.status) || 0) + 1);
    const c = $('#counts');
    c.textContent = '';
    c.append(el('span', state.workers.length + ' workers'));
    for (const [s, n] of [...counts].sort()) c.append(el('span', n + ' ' + s));
  }

  let stateBusy = false, stateAgain = false;
  async function refreshState() {
    if (stateBusy) { stateAgain = true; return; }
    stateBusy = true;
    try {
      const [s, m] = await Promise.all([fetch('/api/state', { cache: 'no-store' }),
                                        fetch('/api/mailboxes', { cache: 'no-store' })]);
      if (s.ok) {
        const state = await s.json();
        view.workers = state.workers;
        renderSummary(state);
      }
      if (m.ok) {
        const mb = await m.json();
        view.mailboxes = new Map(mb.workers.map((w) => [w.id, w.mailbox_depth]));
      }
      renderTable();
    } catch (e) {
      $('#message').textContent = 'unable to read the state: ' + e;
    } finally {
      stateBusy = false;
      if (stateAgain) { stateAgain = false; setTimeout(refreshState, 200); }
    }
  }

  // ---------------------------------------------------------------- charts

  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function legend(box, names) {
    box.textContent = '';
    for (const n of names) {
      const s = el('span', n);
      const i = el('i');
      i.style.background = COLORS[n] || '#888';
      s.prepend(i);
      box.append(s);
    }
  }

  function axes(svg, W, H, max, t0, t1) {
    for (let i = 0; i <= 4; i++) {
      const y = H - 18 - (H - 30) * i / 4;
      svg.append(svgEl('line', { x1: 30, x2: W, y1: y, y2: y, class: 'grid' }));
      svg.append(svgEl('text', { x: 2, y: y + 4 }, String(Math.round(max * i / 4))));
    }
    const label = (t) => new Date(t).toTimeString().slice(0, 5);
    svg.append(svgEl('text', { x: 32, y: H - 3 }, label(t0)));
    svg.append(svgEl('text', { x: W - 34, y: H - 3 }, label(t1)));
  }

  // Restarts and exits per minute: the 10 s samples summed by minute, as bars.
  function drawRates(samples) {
    const svg = $('#chart-rate');
    svg.textContent = '';
    const W = 600, H = 180;
    const now = samples.length ? samples[samples.length - 1].time_ms : Date.now();
    const minutes = [];
    for (let i = 59; i >= 0; i--) minutes.push({ t: now - i * 60000, exits: 0, restarts: 0 });
    for (const s of samples) {
      const idx = 59 - Math.floor((now - s.time_ms) / 60000);
      if (idx < 0 || idx > 59) continue;
      minutes[idx].exits += s.exits;
      minutes[idx].restarts += s.restarts;
    }
    const max = Math.max(4, ...minutes.map((m) => Math.max(m.exits, m.restarts)));
    axes(svg, W, H, max, minutes[0].t, now);
    const bw = (W - 32) / 60;
    minutes.forEach((m, i) => {
      const x = 32 + i * bw;
      for (const [k, off] of [['exits', 0], ['restarts', bw / 2]]) {
        if (!m[k]) continue;
        const h = (H - 30) * m[k] / max;
        svg.append(svgEl('rect', { x: x + off, y: H - 18 - h, width: Math.max(bw / 2 - 1, 1),
                                   height: h, fill: COLORS[k] }));
      }
    });
    legend($('#legend-rate'), ['exits', 'restarts']);
  }

  // Workers by status: one line per status seen in the hour.
  function drawStatus(samples) {
    const svg = $('#chart-status');
    svg.textContent = '';
    const W = 600, H = 180;
    const now = samples.length ? samples[samples.length - 1].time_ms : Date.now();
    const t0 = now - 3600000;
    const seen = STATUSES.filter((s) => samples.some((x) => x.by_status[s]));
    const max = Math.max(4, ...samples.map((x) => Math.max(0, ...Object.values(x.by_status))));
    axes(svg, W, H, max, t0, now);
    const X = (t) => 32 + (W - 34) * (t - t0) / 3600000;
    const Y = (n) => H - 18 - (H - 30) * n / max;
    for (const s of seen) {
      const pts = samples.map((x) => X(x.time_ms).toFixed(1) + ',' + Y(x.by_status[s] || 0).toFixed(1));
      if (pts.length === 1) pts.push((W - 2) + ',' + Y(samples[0].by_status[s] || 0).toFixed(1));
      svg.append(svgEl('polyline', { points: pts.join(' '), fill: 'none', stroke: COLORS[s],
                                     'stroke-width': 2 }));
    }
    legend($('#legend-status'), seen);
  }

  async function refreshHistory() {
    try {
      const r = await fetch('/api/history', { cache: 'no-store' });
      if (!r.ok) return;
      const h = await r.json();
      drawRates(h.samples);
      // The status lines end at the table's present, not at the last 10 s sample.
      const now = { time_ms: Date.now() + view.serverOffset, by_status: {}, exits: 0, restarts: 0 };
      for (const w of view.workers) now.by_status[w.status] = (now.by_status[w.status] || 0) + 1;
      drawStatus(view.workers.length ? h.samples.concat([now]) : h.samples);
    } catch (e) { /* the next tick tries again */ }
  }

  // ---------------------------------------------------------------- events

  function describe(e) {
    switch (e.event) {
      case 'missed': return e.count + ' event(s) missed (the stream fell behind)';
      case 'exited': return 'exited: ' + ((e.exit && (e.exit.reason || e.exit.kind)) || '') +
                            (e.uptime_ms !== undefined ? ' (up ' + (e.uptime_ms / 1000).toFixed(1) + ' s)' : '');
      case 'restarting': return 'restarting in ' + e.in_ms + ' ms (restart ' + e.restarts + ')';
      case 'overrun': return 'overrun: busy for ' + e.busy_ms + ' ms';
      case 'spawned': case 'adopted': return e.event + ' (pid ' + e.pid + ')';
      case 'manager': return 'manager ' + e.state;
      default: {
        const more = e.how || e.reason || e.cause || e.new_id || '';
        return e.event + (more ? ' (' + more + ')' : '');
      }
    }
  }

  let eventCount = 0;
  function addEvent(e) {
    const li = el('li', null, e.event);
    li.dataset.seq = e.seq;
    const t = new Date(e.time_ms || Date.now());
    li.append(el('span', '#' + e.seq + ' ', 'seq'));
    li.append(document.createTextNode(t.toTimeString().slice(0, 8) + ' '));
    if (e.id !== undefined) li.append(el('b', e.id, 'id'), document.createTextNode(' '));
    li.append(document.createTextNode(describe(e)));
    const list = $('#events');
    list.prepend(li);
    while (list.children.length > MAX_EVENTS) list.lastChild.remove();
    eventCount++;
    $('#event-count').textContent = '(' + eventCount + ')';
  }

  let pending = null;
  function soon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refreshState(); }, 150);
  }

  function connect() {
    const src = new EventSource('/events?tail=100');
    src.onopen = () => { $('#live').textContent = 'live'; $('#live').className = 'on'; };
    src.onerror = () => { $('#live').textContent = 'reconnecting'; $('#live').className = 'off'; };
    src.onmessage = (m) => {
      let e;
      try { e = JSON.parse(m.data); } catch (err) { return; }
      addEvent(e);
      soon();
    };
    src.addEventListener('missed', (m) => {
      try { addEvent(JSON.parse(m.data)); } catch (err) { /* ignore */ }
      soon();
    });
  }

  // ---------------------------------------------------------------- start

  async function start() {
    for (const th of document.querySelectorAll('#workers th[data-key]')) {
      th.addEventListener('click', () => {
        if (view.sortKey === th.dataset.key) view.sortDesc = !view.sortDesc;
        else { view.sortKey = th.dataset.key; view.sortDesc = false; }
        renderTable();
      });
    }
    $('#filter').addEventListener('input', (ev) => { view.filter = ev.target.value; renderTable(); });
    try {
      const cfg = await (await fetch('/api/config', { cache: 'no-store' })).json();
      view.actions = !!cfg.actions;
    } catch (e) { /* read-only */ }
    if (view.actions) {
      $('#auth').hidden = false;
      $('#workers th.actions').hidden = false;
      $('#token-button').addEventListener('click', askToken);
      showAuth();
    }
    connect();
    await refreshState();
    refreshHistory();
    setInterval(refreshState, 2000);
    setInterval(refreshHistory, 10000);
  }

  start();
})();
