// govhub operator dashboard: polls /api/connectors every 2 s and renders one card per
// connector, /api/views for the data-sharing views' log and /api/cluster for the
// hub's instances. No framework and nothing loaded from elsewhere. Every value from the server
// goes into the page through textContent or an attribute, never as HTML.
'use strict';

(() => {
  const POLL_MS = 2000;
  const BUCKET_MS = 10_000; // one throughput bucket
  const WINDOW_MS = 600_000; // the throughput chart's span: 10 minutes
  const BUCKETS = WINDOW_MS / BUCKET_MS;
  const TOKEN_KEY = 'govhub.admin.token';
  const SVG_NS = 'http://www.w3.org/2000/svg';

  // Connector states: colour comes from CSS ([data-state]); the icon and the words say
  // the same thing without colour.
  const STATES = {
    running: { icon: '↻', zh: '同步中', en: 'Syncing', tip: '正在拉取 · pulling records now' },
    idle: { icon: '✓', zh: '空闲', en: 'Idle', tip: '已追平，等待下一轮 · caught up, waiting for the next poll' },
    paused: { icon: '❚❚', zh: '已暂停', en: 'Paused', tip: '操作员已暂停 · paused by an operator' },
    failing: { icon: '✕', zh: '故障', en: 'Failing', tip: '上次同步失败 · the last sync failed' },
    circuit_open: { icon: '⊘', zh: '熔断', en: 'Circuit open', tip: '连续失败，暂停请求 · too many failures, polls held off' },
    waiting_for_sink: { icon: '⧗', zh: '等待消息队列', en: 'Waiting for broker', tip: '消息队列暂不可写，批次将重试 · the sink refuses writes; the batch is retried' },
  };
  const stateOrder = (s) => {
    const i = Object.keys(STATES).indexOf(s);
    return i < 0 ? Infinity : i;
  };
  const UNKNOWN_STATE = { icon: '?', zh: '未知', en: 'Unknown' };

  const HUB_STATES = {
    loading: { icon: '…', zh: '连接中', en: 'Connecting' },
    healthy: { icon: '✓', zh: '运行正常', en: 'Healthy' },
    attention: { icon: '!', zh: '需要关注', en: 'Needs attention' },
    paused: { icon: '❚❚', zh: '全部暂停', en: 'All paused' },
    idle: { icon: '○', zh: '空闲', en: 'Idle' },
    unreachable: { icon: '✕', zh: '无法连接', en: 'Unreachable' },
    auth: { icon: '!', zh: '需要令牌', en: 'Token required' },
  };

  const numberFormat = new Intl.NumberFormat('en-US');
  const timeFormat = new Intl.DateTimeFormat('zh-CN', {
    year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  });
  const clockFormat = new Intl.DateTimeFormat('zh-CN', {
    hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
  });

  const $ = (id) => document.getElementById(id);
  const cardsBox = $('connectors');
  const template = $('connector-template');
  const cards = new Map(); // connector name → card element

  let timer = null;
  let waitingForToken = false;
  let lastData = null;
  let lastOkAt = null; // client time of the last good answer
  let skewMs = 0; // server clock − client clock, from the Date header when it is off by > 2 s
  let epoch = 0; // bumped by every pause/resume, so answers to older polls are dropped

  class AuthError extends Error {
    constructor(hadToken) {
      super(hadToken ? 'token rejected' : 'token required');
      this.hadToken = hadToken;
    }
  }

  // ---- small helpers -------------------------------------------------------------------

  function readToken() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
  }

  function storeToken(token) {
    try { sessionStorage.setItem(TOKEN_KEY, token); } catch { /* private mode: ask again */ }
  }

  function forgetToken() {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* nothing stored */ }
  }

  function serverNow() {
    return Date.now() + skewMs;
  }

  function num(v) {
    const n = Number(v);
    return Number.isFinite(n) ? numberFormat.format(n) : '—';
  }

  /** Replaces el's content by "zh <span lang=en>en</span>". */
  function bilingual(el, zh, en) {
    const span = document.createElement('span');
    span.lang = 'en';
    span.textContent = en;
    el.replaceChildren(document.createTextNode(zh + ' '), span);
  }

  function relativeTime(ms) {
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 5) return ['刚刚', 'just now'];
    if (s < 60) return [`${s} 秒前`, `${s} s ago`];
    const m = Math.floor(s / 60);
    if (m < 60) return [`${m} 分钟前`, `${m} min ago`];
    const h = Math.floor(m / 60);
    if (h < 48) return [`${h} 小时前`, `${h} h ago`];
    const d = Math.floor(h / 24);
    return [`${d} 天前`, `${d} d ago`];
  }

  function duration(seconds) {
    const s = Number(seconds);
    if (!Number.isFinite(s)) return '—';
    if (s < 1) return '< 1 s';
    if (s < 60) return `${Math.round(s)} s`;
    const total = Math.round(s);
    if (total < 3600) return `${Math.floor(total / 60)} min ${String(total % 60).padStart(2, '0')} s`;
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    if (h < 48) return `${h} h ${String(m).padStart(2, '0')} min`;
    return `${Math.floor(h / 24)} d ${h % 24} h`;
  }

  /** Fills a <time> with "N 秒前 · N s ago"; the exact time is in its title. */
  function setTime(el, iso, neverZh, neverEn) {
    const t = iso ? Date.parse(iso) : NaN;
    if (!Number.isFinite(t)) {
      el.removeAttribute('datetime');
      el.removeAttribute('title');
      bilingual(el, neverZh, neverEn);
      return;
    }
    el.dateTime = iso;
    el.title = timeFormat.format(new Date(t));
    const [zh, en] = relativeTime(serverNow() - t);
    bilingual(el, zh, en);
  }

  function setBadge(el, state, table, fallback) {
    const s = table[state] || fallback;
    el.dataset.state = table[state] ? state : 'unknown';
    el.querySelector('.icon').textContent = s.icon;
    bilingual(el.querySelector('.text'), s.zh, s.en);
    if (s.tip) el.title = s.tip;
    else el.removeAttribute('title');
  }

  // ---- the API -------------------------------------------------------------------------

  async function api(path, options = {}) {
    const headers = new Headers(options.headers || {});
    headers.set('Accept', 'application/json');
    const token = readToken();
    if (token) headers.set('Authorization', `Bearer ${token}`);
    const res = await fetch(path, { ...options, headers, cache: 'no-store', credentials: 'same-origin' });
    if (res.status === 401) throw new AuthError(Boolean(token));
    if (!res.ok) {
      let detail = '';
      try { detail = (await res.text()).slice(0, 300); } catch { /* no body */ }
      throw new Error(`HTTP ${res.status}${detail ? `: ${detail}` : ''}`);
    }
    const date = Date.parse(res.headers.get('Date') || '');
    if (Number.isFinite(date)) {
      const skew = date - Date.now();
      skewMs = Math.abs(skew) > 2000 ? skew : 0;
    }
    return res.json();
  }

  // ---- rendering -----------------------------------------------------------------------

  function createCard(name) {
    const card = template.content.firstElementChild.cloneNode(true);
    const id = `connector-${name.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    card.id = id;
    card.dataset.connector = name;
    card.dataset.testid = id;
    const heading = card.querySelector('.name');
    heading.id = `${id}-title`;
    heading.textContent = name;
    card.setAttribute('aria-labelledby', heading.id);
    const pause = card.querySelector('button.pause');
    const resume = card.querySelector('button.resume');
    pause.setAttribute('aria-label', `暂停 Pause ${name}`);
    resume.setAttribute('aria-label', `恢复 Resume ${name}`);
    pause.addEventListener('click', () => act(name, 'pause', card));
    resume.addEventListener('click', () => act(name, 'resume', card));
    return card;
  }

  function renderCard(card, c) {
    card.querySelector('.department').textContent = c.department ?? '';
    card.querySelector('.kind').textContent = c.kind ?? '';
    const badge = card.querySelector('.state');
    setBadge(badge, c.state, STATES, UNKNOWN_STATE);
    card.dataset.state = badge.dataset.state;

    setTime(card.querySelector('.last-sync'), c.last_success, '尚未同步', 'never');
    const lag = card.querySelector('.lag');
    // The age of the newest committed record, not a backlog: an idle connector that is
    // caught up shows how long the department has had nothing new.
    if (c.lag_seconds == null) {
      lag.textContent = '—';
      lag.title = 'nothing committed yet · 尚无数据';
    } else {
      const [zh, en] = relativeTime(Number(c.lag_seconds) * 1000);
      bilingual(lag, zh, en);
      lag.title = `fetched ${duration(c.lag_seconds)} ago; it grows while the department has nothing new`;
    }

    const counts = c.counts || {};
    for (const k of ['pulled', 'published', 'rejected', 'duplicates']) {
      const el = card.querySelector(`.${k}`);
      el.textContent = num(counts[k]);
      el.dataset.value = String(counts[k] ?? '');
    }
    card.querySelector('.counts .bad').classList.toggle('nonzero', Number(counts.rejected) > 0);

    renderCounted(card, '.reasons:not(.quality)', '.no-reasons',
      (Array.isArray(c.top_reasons) ? c.top_reasons : []).map((r) => (Array.isArray(r) ? r : [r?.reason, r?.count])));
    // Records published with a value set aside (a resident ID failing its check): what
    // the department should correct, with record ids to look up, never values.
    const quality = c.data_quality && typeof c.data_quality === 'object' ? c.data_quality : {};
    renderCounted(card, '.quality', '.no-quality',
      Object.entries(quality).map(([field, q]) => [field, q?.count, (q?.examples || []).join(', ')]));
    renderError(card, c.last_error);
    renderChart(card, Array.isArray(c.throughput) ? c.throughput : []);

    const cursor = card.querySelector('.cursor');
    cursor.textContent = c.cursor == null ? '—' : JSON.stringify(c.cursor);

    if (!card.classList.contains('busy')) setButtons(card, c.state);
  }

  function setButtons(card, state) {
    card.querySelector('button.pause').disabled = state === 'paused';
    card.querySelector('button.resume').disabled = state !== 'paused';
  }

  /** Fills list `listSel` with `[label, count, hint]` rows (at most five). */
  function renderCounted(card, listSel, emptySel, rows) {
    const list = card.querySelector(listSel);
    const items = rows.slice(0, 5).map(([label, n, hint]) => {
      const li = document.createElement('li');
      const text = document.createElement('span');
      text.className = 'reason';
      text.textContent = String(label ?? '');
      text.title = hint ? `${label} · e.g. ${hint}` : String(label ?? '');
      const count = document.createElement('span');
      count.className = 'reason-count';
      count.textContent = num(n);
      li.append(text, count);
      return li;
    });
    list.replaceChildren(...items);
    list.hidden = items.length === 0;
    card.querySelector(emptySel).hidden = items.length !== 0;
  }

  function renderError(card, err) {
    const box = card.querySelector('.last-error');
    if (!err) {
      box.hidden = true;
      return;
    }
    box.hidden = false;
    setTime(box.querySelector('.error-at'), err.at, '', '');
    box.querySelector('.error-message').textContent = String(err.message ?? '');
  }

  function renderChart(card, points) {
    const svg = card.querySelector('svg.chart');
    const W = 600;
    const H = 80;
    const slot = W / BUCKETS;
    // Buckets are placed by their own time in the window ending now (server time).
    const end = Math.floor(serverNow() / BUCKET_MS) * BUCKET_MS + BUCKET_MS;
    const start = end - WINDOW_MS;
    const values = new Array(BUCKETS).fill(0);
    const stamps = new Array(BUCKETS).fill(null);
    for (const p of points) {
      const t = Date.parse(p?.at);
      const n = Number(p?.records);
      if (!Number.isFinite(t) || !Number.isFinite(n)) continue;
      let i = Math.floor((t - start) / BUCKET_MS);
      if (i === BUCKETS) i = BUCKETS - 1; // stamped with the end of the current bucket
      if (i < 0 || i >= BUCKETS) continue;
      values[i] += n;
      stamps[i] = t;
    }
    const total = values.reduce((a, b) => a + b, 0);
    const peak = Math.max(0, ...values);
    const scale = peak > 0 ? (H - 4) / peak : 0;

    const nodes = [];
    const title = document.createElementNS(SVG_NS, 'title');
    title.textContent = `最近 10 分钟写入 ${num(total)} 条，峰值 ${num(peak)} 条/10 秒 · ` +
      `Last 10 minutes: ${num(total)} records written, peak ${num(peak)} per 10 s`;
    nodes.push(title);
    for (let k = 1; k < 4; k += 1) {
      const grid = document.createElementNS(SVG_NS, 'line');
      grid.setAttribute('class', 'grid');
      grid.setAttribute('x1', String(k * (W / 4)));
      grid.setAttribute('x2', String(k * (W / 4)));
      grid.setAttribute('y1', '0');
      grid.setAttribute('y2', String(H));
      nodes.push(grid);
    }
    values.forEach((v, i) => {
      if (v <= 0) return;
      const h = Math.max(2, v * scale);
      const rect = document.createElementNS(SVG_NS, 'rect');
      rect.setAttribute('class', 'bar');
      rect.setAttribute('x', String(i * slot + 1));
      rect.setAttribute('y', String(H - h));
      rect.setAttribute('width', String(slot - 2));
      rect.setAttribute('height', String(h));
      const tip = document.createElementNS(SVG_NS, 'title');
      const at = stamps[i] ?? start + i * BUCKET_MS;
      tip.textContent = `${clockFormat.format(new Date(at))}  ${num(v)}`;
      rect.append(tip);
      nodes.push(rect);
    });
    const base = document.createElementNS(SVG_NS, 'line');
    base.setAttribute('class', 'baseline');
    base.setAttribute('x1', '0');
    base.setAttribute('x2', String(W));
    base.setAttribute('y1', String(H - 0.5));
    base.setAttribute('y2', String(H - 0.5));
    nodes.push(base);
    svg.replaceChildren(...nodes);
    svg.setAttribute('aria-label', title.textContent);

    const totalEl = card.querySelector('.throughput-total');
    totalEl.textContent = `${num(total)} 条 / 10 min`;
    totalEl.dataset.value = String(total);
    card.querySelector('.peak').textContent = peak > 0 ? `${num(peak)}/10 s` : '';
  }

  function renderIdentity(identity) {
    for (const k of ['residents', 'records', 'links', 'merges', 'splits']) {
      const el = $(`identity-${k}`);
      el.textContent = identity ? num(identity[k]) : '—';
      el.dataset.value = identity ? String(identity[k] ?? '') : '';
    }
  }

  function renderHub(connectors, problem) {
    const badge = $('hub-state');
    const summary = $('hub-summary');
    let state;
    if (problem === 'auth') state = 'auth';
    else if (problem) state = 'unreachable';
    else if (!connectors) state = 'loading';
    else if (connectors.length === 0) state = 'idle';
    else if (connectors.some((c) => c.state === 'failing' || c.state === 'circuit_open' || c.state === 'waiting_for_sink')) state = 'attention';
    else if (connectors.every((c) => c.state === 'paused')) state = 'paused';
    else state = 'healthy';
    setBadge(badge, state, HUB_STATES, HUB_STATES.loading);

    const chips = [];
    if (connectors) {
      const total = document.createElement('span');
      total.className = 'chip';
      bilingual(total, `${connectors.length} 个连接器`, 'connectors');
      chips.push(total);
      const byState = new Map();
      for (const c of connectors) byState.set(c.state, (byState.get(c.state) || 0) + 1);
      for (const [s, n] of [...byState].sort((a, b) => stateOrder(a[0]) - stateOrder(b[0]))) {
        const info = STATES[s] || UNKNOWN_STATE;
        const chip = document.createElement('span');
        chip.className = 'chip';
        chip.dataset.state = STATES[s] ? s : 'unknown';
        bilingual(chip, `${n} ${info.zh}`, info.en.toLowerCase());
        chips.push(chip);
      }
      const published = connectors.reduce((a, c) => a + (Number(c.counts?.published) || 0), 0);
      const pub = document.createElement('span');
      pub.className = 'chip';
      bilingual(pub, `已发布 ${num(published)} 条`, 'published');
      chips.push(pub);
    }
    summary.replaceChildren(...chips);
  }

  function renderUpdated(problem) {
    const el = $('updated');
    el.classList.toggle('problem', Boolean(problem));
    if (problem === 'auth') {
      bilingual(el, '请输入访问令牌', 'enter the access token');
      return;
    }
    const ago = lastOkAt == null ? null : relativeTime(Date.now() - lastOkAt);
    if (problem) {
      const when = ago ? `（上次更新 ${ago[0]}）` : '';
      bilingual(el, `连接中断，正在重试${when}`, `connection lost, retrying${ago ? ` (last update ${ago[1]})` : ''}`);
      el.title = problem;
    } else if (ago) {
      bilingual(el, `更新于 ${clockFormat.format(new Date(lastOkAt))}`, `updated every ${POLL_MS / 1000} s`);
      el.removeAttribute('title');
    }
  }

  function render(data) {
    const connectors = Array.isArray(data?.connectors) ? [...data.connectors] : [];
    connectors.sort((a, b) => String(a.name).localeCompare(String(b.name)));
    const seen = new Set();
    let previous = null;
    for (const c of connectors) {
      const name = String(c.name);
      seen.add(name);
      let card = cards.get(name);
      if (!card) {
        card = createCard(name);
        cards.set(name, card);
      }
      // Keep cards in name order without moving ones already in place (focus stays).
      const wanted = previous ? previous.nextElementSibling : cardsBox.firstElementChild;
      if (wanted !== card) cardsBox.insertBefore(card, wanted);
      renderCard(card, c);
      previous = card;
    }
    for (const [name, card] of cards) {
      if (!seen.has(name)) {
        card.remove();
        cards.delete(name);
      }
    }
    $('connectors-empty').hidden = connectors.length !== 0;
    document.body.classList.remove('stale');
    renderIdentity(data?.identity);
    renderHub(connectors, null);
    renderUpdated(null);
  }

  // The sharing log: one row per subscriber, kind and UTC day; field names and counts.
  function renderViews(data) {
    const lines = Array.isArray(data?.views) ? data.views : [];
    const rows = lines.map((l) => {
      const tr = document.createElement('tr');
      const fields = Object.entries(l.fields || {})
        .map(([field, actions]) => `${field} ${Object.entries(actions || {}).map(([a, n]) => `${a} ${num(n)}`).join(', ')}`)
        .join(' · ');
      for (const [text, cls] of [[l.subscriber, ''], [l.kind, ''], [l.day, ''], [num(l.events), 'n'], [fields, 'fields']]) {
        const td = document.createElement('td');
        td.textContent = String(text ?? '');
        if (cls) td.className = cls;
        tr.append(td);
      }
      return tr;
    });
    $('views-rows').replaceChildren(...rows);
    $('views-table').hidden = rows.length === 0;
    $('views-empty').hidden = rows.length !== 0;
    $('views').dataset.lines = String(rows.length);
  }

  // The instances of a hub run as several (exactly-once on Kafka): which one is active,
  // and which connectors each runs.
  // A hub alone (no group) hides the panel.
  function renderCluster(data) {
    const instances = data?.group && Array.isArray(data.instances) ? data.instances : [];
    const rows = instances.map((i) => {
      const tr = document.createElement('tr');
      const active = i.role === 'active';
      const role = active ? '运行中 active' : '待命 standby';
      const name = i.instance === data.this_instance ? `${i.instance} (本实例 this one)` : i.instance;
      // Spread connectors: the ones this instance runs; otherwise the active one runs all.
      const connectors = Array.isArray(i.connectors) ? i.connectors.join(', ') : (active ? '全部 all' : '');
      for (const text of [name, i.host, role, connectors]) {
        const td = document.createElement('td');
        td.textContent = String(text ?? '');
        tr.append(td);
      }
      return tr;
    });
    $('cluster-rows').replaceChildren(...rows);
    $('cluster').hidden = rows.length === 0;
  }

  function showProblem(problem) {
    document.body.classList.toggle('stale', lastData != null);
    renderHub(lastData ? lastData.connectors : null, problem);
    renderUpdated(problem);
  }

  // ---- polling, actions, token ---------------------------------------------------------

  async function refresh() {
    const mine = epoch;
    try {
      const data = await api('/api/connectors');
      if (mine !== epoch) return; // a pause/resume happened meanwhile: its refresh wins
      lastData = data;
      lastOkAt = Date.now();
      render(data);
      // A server running no hub has no sharing log (503): the panel stays as it is.
      try {
        renderViews(await api('/api/views'));
      } catch (e) {
        if (e instanceof AuthError) throw e;
      }
      try {
        renderCluster(await api('/api/cluster'));
      } catch (e) {
        if (e instanceof AuthError) throw e;
      }
    } catch (e) {
      if (e instanceof AuthError) {
        askToken(e.hadToken);
        return;
      }
      showProblem(String(e?.message || e));
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(tick, POLL_MS);
  }

  async function tick() {
    await refresh();
    if (!waitingForToken) schedule();
  }

  async function act(name, action, card) {
    epoch += 1;
    const message = card.querySelector('.action-message');
    message.textContent = '';
    message.classList.remove('problem');
    card.classList.add('busy');
    card.setAttribute('aria-busy', 'true');
    for (const b of card.querySelectorAll('.card-actions button')) b.disabled = true;
    try {
      // The server takes state-changing requests only as JSON (see admin/guard.rs).
      const c = await api(`/api/connectors/${encodeURIComponent(name)}/${action}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
      });
      if (c && typeof c === 'object' && c.name === name) renderCard(card, c);
    } catch (e) {
      if (e instanceof AuthError) {
        askToken(e.hadToken);
      } else {
        message.classList.add('problem');
        message.textContent = `${action === 'pause' ? '暂停失败' : '恢复失败'}: ${String(e?.message || e)}`;
      }
    } finally {
      card.classList.remove('busy');
      card.removeAttribute('aria-busy');
    }
    await refresh();
    const state = cards.get(name)?.dataset.state;
    if (state) setButtons(card, state);
  }

  function askToken(hadToken) {
    waitingForToken = true;
    clearTimeout(timer);
    forgetToken();
    showProblem('auth');
    const dialog = $('token-dialog');
    const problem = $('token-problem');
    problem.hidden = !hadToken;
    if (hadToken) bilingual(problem, '令牌无效，请重新输入。', 'The token was not accepted.');
    if (!dialog.open) dialog.showModal();
    $('token-input').focus();
  }

  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('token-input');
    const token = input.value.trim();
    if (!token) return;
    storeToken(token);
    input.value = '';
    $('token-dialog').close();
    waitingForToken = false;
    tick();
  });

  // Escape closes a modal dialog; without a token there is nothing to show, so keep it.
  $('token-dialog').addEventListener('cancel', (ev) => ev.preventDefault());

  tick();
})();
