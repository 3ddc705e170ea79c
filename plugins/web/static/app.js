// The dashboard: plain ES module, no build step. Every value from the server is put into the page as text
// (textContent, attribute values), never as HTML, so params, results, errors, notes and tags cannot run anything.

const main = document.getElementById('main');
const STATES = ['waiting', 'running', 'succeeded', 'failed', 'cancelled'];
const FILTERS = ['state', 'target', 'tag', 'key', 'q', 'from', 'to', 'recurring'];

/** An element with attributes and children; strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    // Through the CSSOM: a style attribute would be refused by the page's Content-Security-Policy.
    else if (name === 'style') el.style.cssText = value;
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) el.append(child instanceof Node ? child : String(child));
  return el;
}

/** Replaces `el`'s children: lists flattened, null and undefined left out (the DOM's own would print them). */
function put(el, ...children) {
  el.replaceChildren(...children.flat(2).filter((c) => c !== null && c !== undefined && c !== ''));
}

function flash(text) {
  const el = document.getElementById('flash');
  el.textContent = text;
  el.classList.add('show');
  setTimeout(() => el.classList.remove('show'), 4000);
}

async function api(path, options = {}) {
  const response = await fetch(`/api${path}`, {
    credentials: 'same-origin',
    ...options,
    headers: options.body ? { 'Content-Type': 'application/json' } : {},
  });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error?.message ?? `HTTP ${response.status}`);
  return body;
}

const time = (iso) => (iso ? new Date(iso).toLocaleString() : '–');
const json = (value) => JSON.stringify(value, null, 2) ?? 'undefined';

// ---- live updates: one EventSource per tab, closed while the tab is hidden ----
let source = null;
let sourceUrl = null;
let onEvent = null;
function live(url, handler) {
  sourceUrl = url;
  onEvent = handler;
  connect();
}
function connect() {
  if (source) source.close();
  source = null;
  document.getElementById('live').classList.remove('on');
  if (!sourceUrl || document.hidden) return;
  source = new EventSource(sourceUrl);
  source.onopen = () => document.getElementById('live').classList.add('on');
  source.onerror = () => document.getElementById('live').classList.remove('on');
  for (const kind of ['snapshot', 'job']) source.addEventListener(kind, (event) => onEvent?.(JSON.parse(event.data)));
}
document.addEventListener('visibilitychange', connect);

// ---- routing: the address says which page and which filters; links navigate without reload ----
function navigate(url) {
  history.pushState(null, '', url);
  render();
}
document.addEventListener('click', (event) => {
  const a = event.target.closest?.('a');
  if (!a || a.origin !== location.origin || a.target || event.ctrlKey || event.metaKey) return;
  event.preventDefault();
  navigate(a.pathname + a.search);
});
window.addEventListener('popstate', render);

function render() {
  sourceUrl = null;
  connect();
  put(main);
  const path = location.pathname;
  const jobMatch = /^\/jobs\/(\d+)$/.exec(path);
  const page = jobMatch ? jobPage(Number(jobMatch[1])) : path === '/jobs' ? jobsPage() : path === '/recurring' ? recurringPage() : path === '/limits' ? limitsPage() : overviewPage();
  page.catch((error) => put(main, h('p', { class: 'state-failed' }, `Could not load: ${error.message}`)));
}

// ---- charts: inline SVG ----
function lineChart(title, series, points, unit) {
  const width = 360, height = 120, pad = 24;
  const values = series.flatMap((s) => points.map((p) => s.value(p)).filter((v) => v !== null));
  const max = Math.max(1, ...values);
  const x = (i) => pad + (i * (width - pad - 4)) / Math.max(1, points.length - 1);
  const y = (v) => height - pad + 4 - (v / max) * (height - pad - 4);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', width);
  svg.setAttribute('height', height);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  const axis = document.createElementNS(ns, 'text');
  axis.setAttribute('x', 2);
  axis.setAttribute('y', 12);
  axis.setAttribute('font-size', 10);
  axis.textContent = `${Math.round(max * 100) / 100} ${unit}`;
  svg.append(axis);
  for (const s of series) {
    const d = points.map((p, i) => [i, s.value(p)]).filter(([, v]) => v !== null).map(([i, v], k) => `${k === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    if (!d) continue;
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    path.setAttribute('fill', 'none');
    path.setAttribute('stroke', s.color);
    svg.append(path);
  }
  const legend = h('div', { class: 'muted' }, series.map((s) => h('span', { style: `color:${s.color}` }, `■ ${s.name} `)));
  return h('div', { class: 'chart' }, h('div', {}, title), svg, legend);
}

// ---- overview ----
async function overviewPage() {
  const draw = (snap) => {
    const minutes = snap.minutes;
    put(main, 
      h('h2', {}, 'Overview'),
      h('div', { class: 'cards' }, STATES.map((state) => h('a', { class: `card state-${state}`, href: `/jobs?state=${state}` },
        h('b', {}, snap.counts[state].toLocaleString()), state))),
      h('p', { class: 'muted' }, `Oldest due waiting job: ${(snap.oldestWaitingMs / 1000).toFixed(1)} s · recurring jobs: ${snap.recurring} · last hour: wait p50/p95/p99 ${ms(snap.hour.wait)}, run ${ms(snap.hour.run)} · updated ${new Date(snap.at).toLocaleTimeString()}`),
      h('div', { class: 'charts' },
        lineChart('Finished per minute (last hour)', [
          { name: 'succeeded', color: '#070', value: (p) => p.succeeded },
          { name: 'failed', color: '#b00', value: (p) => p.failed },
        ], minutes, 'jobs'),
        lineChart('Wait (due → start), ms', pctSeries((p) => p.wait), minutes, 'ms'),
        lineChart('Run time, ms', pctSeries((p) => p.run), minutes, 'ms')),
      h('h3', {}, 'Workers'),
      snap.workers.length === 0
        ? h('p', { class: 'muted' }, 'No worker holds jobs right now.')
        : h('table', {}, h('tr', {}, h('th', {}, 'host'), h('th', {}, 'pid'), h('th', {}, 'running'), h('th', {}, 'last heartbeat'), h('th', {}, 'owner')),
          snap.workers.map((w) => h('tr', {}, h('td', {}, w.host ?? '–'), h('td', {}, w.pid ?? '–'), h('td', {}, w.running),
            h('td', {}, w.lastHeartbeatAt === null ? '–' : `${new Date(w.lastHeartbeatAt).toLocaleTimeString()} (${(w.heartbeatAgeMs / 1000).toFixed(0)} s ago)`), h('td', { class: 'muted' }, w.owner)))),
      h('h3', {}, 'Failed attempts in the last hour'),
      snap.failuresLastHour.length === 0 ? h('p', { class: 'muted' }, 'None.') : h('table', {}, snap.failuresLastHour.map((f) =>
        h('tr', {}, h('td', {}, h('a', { href: `/jobs?state=failed&target=${encodeURIComponent(`${f.service}.${f.method}`)}` }, `${f.service}.${f.method}`)), h('td', {}, f.failures)))),
    );
  };
  draw(await api('/overview'));
  live('/api/events', draw);
}
const ms = (p) => [p.p50, p.p95, p.p99].map((v) => (v === null ? '–' : `${v} ms`)).join(' / ');
const pctSeries = (of) => [
  { name: 'p50', color: '#06a', value: (p) => of(p).p50 },
  { name: 'p95', color: '#c80', value: (p) => of(p).p95 },
  { name: 'p99', color: '#b00', value: (p) => of(p).p99 },
];

// ---- jobs list ----
function currentFilters() {
  const params = new URLSearchParams(location.search);
  const filters = {};
  for (const name of FILTERS) if (params.get(name)) filters[name] = params.get(name);
  return filters;
}

async function jobsPage() {
  const params = new URLSearchParams(location.search);
  const filters = currentFilters();
  const before = params.get('before');
  const query = new URLSearchParams({ ...filters, ...(before ? { before } : {}) });
  const form = h('form', { class: 'filters', onsubmit: (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const next = new URLSearchParams();
    for (const name of FILTERS) if (data.get(name)) next.set(name, String(data.get(name)));
    navigate(`/jobs?${next}`);
  } },
    h('label', {}, 'state', h('select', { name: 'state' }, h('option', { value: '' }, 'any'), STATES.map((s) => h('option', { value: s, selected: filters.state === s }, s)))),
    ['target', 'tag', 'key', 'q', 'from', 'to'].map((name) => h('label', {}, { target: 'service.method', q: 'text in params or error', from: 'added from', to: 'added before' }[name] ?? name,
      h('input', { name, value: filters[name] ?? '', size: name === 'q' ? 24 : 12, placeholder: name === 'from' || name === 'to' ? '2026-11-30T08:00Z' : '' }))),
    h('button', { type: 'submit' }, 'Filter'),
    h('a', { href: '/jobs' }, 'clear'));
  const count = h('span', { class: 'muted' }, 'counting…');
  const table = h('table', { id: 'jobs' });
  const pager = h('div', { class: 'bar' });
  const selected = new Set();
  const action = h('select', {}, ['retry', 'cancel', 'run-now', 'delete'].map((a) => h('option', { value: a }, a)));
  const progress = h('span', {});
  const bulkBar = h('div', { class: 'bar' }, 'Action:', action,
    h('button', { type: 'button', onclick: () => bulk({ ids: [...selected] }) }, 'on selected'),
    h('button', { type: 'button', onclick: () => bulk({ filter: filters }) }, 'on all matching this filter'), progress);
  put(main, h('h2', {}, 'Jobs'), form, h('p', {}, count), bulkBar, table, pager);

  async function bulk(target) {
    if (target.ids && target.ids.length === 0) return flash('Select jobs first');
    const what = target.ids ? `${target.ids.length} selected jobs` : `${(await api('/bulk/preview', { method: 'POST', body: JSON.stringify(target) })).text} jobs matching this filter`;
    if (!confirm(`${action.value} ${what}?`)) return;
    try {
      let state = await api('/bulk', { method: 'POST', body: JSON.stringify({ action: action.value, ...target }) });
      const bar = h('progress', { max: Math.max(1, state.expected), value: 0 });
      const text = h('span', {});
      put(progress, bar, text);
      while (state.state === 'running') {
        bar.value = state.done;
        text.textContent = ` ${state.done} / ${state.expected}`;
        await new Promise((resolve) => setTimeout(resolve, 300));
        state = await api(`/bulk/${state.id}`);
      }
      bar.value = state.done;
      text.textContent = ` done: ${state.changed} changed, ${state.skipped} skipped${state.truncated ? ' (stopped at the limit)' : ''}${state.errors.length ? ` · ${state.errors[0]}` : ''}`;
      await load();
    } catch (error) {
      flash(error.message);
    }
  }

  async function load() {
    const page = await api(`/jobs?${query}`);
    put(table, 
      h('tr', {}, h('th', {}, ''), h('th', {}, 'id'), h('th', {}, 'state'), h('th', {}, 'job'), h('th', {}, 'attempts'), h('th', {}, 'added'), h('th', {}, 'tags'), h('th', {}, 'params / error')),
      page.jobs.map((job) => h('tr', { 'data-id': job.id },
        h('td', {}, h('input', { type: 'checkbox', checked: selected.has(job.id), onchange: (e) => (e.target.checked ? selected.add(job.id) : selected.delete(job.id)) })),
        h('td', {}, h('a', { href: `/jobs/${job.id}` }, `#${job.id}`)),
        h('td', { class: `state-${job.state}` }, job.state),
        h('td', {}, `${job.service}.${job.method}`),
        h('td', {}, job.attempts),
        h('td', {}, time(job.createdAt)),
        h('td', {}, job.tags.join(', ')),
        h('td', { class: 'muted' }, (job.error ? `${job.error.name}: ${job.error.message}` : JSON.stringify(job.params) ?? '').slice(0, 120)))));
    put(pager, 
      before ? h('a', { href: `/jobs?${new URLSearchParams(filters)}` }, '« newest') : '',
      page.next !== null ? h('a', { href: `/jobs?${new URLSearchParams({ ...filters, before: page.next })}`, rel: 'next' }, page.partial ? `searched down to #${page.next}: look further »` : 'next page »') : h('span', { class: 'muted' }, 'end'));
    return page;
  }

  await load();
  api(`/jobs/count?${new URLSearchParams(filters)}`).then((c) => { count.textContent = `${c.text} matching`; }, () => { count.textContent = ''; });
  // Live: the first page is read again when the shared snapshot says jobs were added or changed state.
  let seen = null;
  live('/api/events', (snap) => {
    const mark = `${snap.newestJobId}:${STATES.map((s) => snap.counts[s]).join(',')}:${snap.minutes.at(-1)?.succeeded}:${snap.minutes.at(-1)?.failed}`;
    if (seen !== null && mark !== seen && !before) load().catch(() => {});
    seen = mark;
  });
}

// ---- one job ----
async function jobPage(id) {
  const data = await api(`/jobs/${id}`);
  const notes = h('ul', { id: 'notes' });
  const state = h('span', {});
  const bar = h('progress', { max: 1, value: 0 });
  const barText = h('span', {});
  const result = h('pre', { id: 'result' });
  const timeline = h('ul', {});
  const errors = h('div', { id: 'attempts' });
  const why = h('p', { id: 'why', class: 'why' });
  const pauseBar = h('div', { class: 'bar', id: 'pause' });
  const parents = h('ul', { id: 'parents' });
  const dependants = h('ul', { id: 'dependants' });
  let lastNote = 0;
  const addNotes = (list) => {
    for (const note of list) {
      if (note.id <= lastNote) continue;
      lastNote = note.id;
      notes.append(h('li', { class: note.level === 'warning' ? 'state-failed' : '' }, `${time(note.at)} ${note.level}: `, note.message));
    }
  };
  const show = (job) => {
    state.className = `state-${job.state}`;
    state.textContent = job.state;
    if (job.progress) {
      bar.max = job.progress.total;
      bar.value = job.progress.current;
      barText.textContent = ` ${job.progress.current} / ${job.progress.total}`;
    }
    result.textContent = job.result === null ? '–' : json(job.result);
    put(timeline, 
      h('li', {}, `added ${time(job.createdAt)}`),
      h('li', {}, `due ${time(job.runAt)}`),
      job.startedAt ? h('li', {}, `started ${time(job.startedAt)} (attempt ${job.attempts})`) : null,
      job.finishedAt ? h('li', {}, `finished ${time(job.finishedAt)}: ${job.state}`) : null);
  };
  const act = (action) => h('button', { type: 'button', 'data-action': action, onclick: async () => {
    if (action === 'delete' && !confirm(`Delete job #${id}?`)) return;
    try {
      await api(action === 'delete' ? `/jobs/${id}` : `/jobs/${id}/${action}`, { method: action === 'delete' ? 'DELETE' : 'POST' });
      flash(`${action}: done`);
      if (action === 'delete') return navigate('/jobs');
      const fresh = await api(`/jobs/${id}`);
      show(fresh.job);
      drawErrors(fresh.errors);
      await drawFlow(fresh);
    } catch (error) {
      flash(error.message);
    }
  } }, action);
  // Parents, dependants, why it waits, and its target's pause buttons: re-read when the job moves, and after a pause or resume.
  const drawFlow = async (detail) => {
    const relatedList = (list, total, none) => [
      list.length === 0 ? h('li', { class: 'muted' }, none) : list.map((r) => h('li', { 'data-id': r.id },
        h('a', { href: `/jobs/${r.id}` }, `#${r.id}`), ' ', r.target ?? '', ' ', h('span', { class: `state-${r.state}` }, r.state))),
      total > list.length ? h('li', { class: 'muted' }, `showing ${list.length} of ${total}`) : null,
    ];
    put(parents, relatedList(detail.parents, detail.parentsTotal, 'none: it runs after no other job'));
    put(dependants, relatedList(detail.dependants, detail.dependantsTotal, 'none: no job runs after it'));
    why.textContent = detail.why.map((w) => w.text).join(' · ');
    const paused = (await api('/paused')).paused.map((p) => p.target);
    const { service, method } = detail.job;
    const pausing = paused.filter((t) => t === service || t === `${service}.${method}`);
    put(pauseBar, pausing.length > 0
      ? pausing.map((t) => pauseButton(t, false, refreshFlow))
      : [pauseButton(`${service}.${method}`, true, refreshFlow), pauseButton(service, true, refreshFlow)]);
  };
  const refreshFlow = async () => drawFlow(await api(`/jobs/${id}`));
  const drawErrors = (list) => put(errors, list.length === 0 ? h('p', { class: 'muted' }, 'No failed attempts.') : list.map((e) =>
    h('div', { class: 'attempt' }, h('h4', {}, `Attempt ${e.attempt} · ${time(e.at)}`), h('div', { class: 'state-failed' }, `${e.name}: `, e.message), e.stack ? h('pre', {}, e.stack) : null)));
  const job = data.job;
  put(main, 
    h('h2', {}, `Job #${job.id} `, state),
    why,
    h('div', { class: 'bar' }, act('retry'), act('cancel'), act('run-now'), act('delete')),
    pauseBar,
    h('table', {},
      h('tr', {}, h('th', {}, 'job'), h('td', {}, `${job.service}.${job.method}`)),
      h('tr', {}, h('th', {}, 'attempts'), h('td', {}, job.maxAttempts === 0 ? `${job.attempts} (method default)` : `${job.attempts} of ${job.maxAttempts}`)),
      h('tr', {}, h('th', {}, 'priority'), h('td', {}, job.priority)),
      h('tr', {}, h('th', {}, 'unique key'), h('td', {}, job.key ?? '–')),
      h('tr', {}, h('th', {}, 'tags'), h('td', {}, job.tags.length ? job.tags.map((t) => h('a', { href: `/jobs?tag=${encodeURIComponent(t)}` }, t, ' ')) : '–')),
      h('tr', {}, h('th', {}, 'recurring origin'), h('td', {}, data.recurring ? h('a', { href: `/jobs?recurring=${data.recurring.id}` }, data.recurring.signature, job.fireTime ? ` (fire time ${time(job.fireTime)})` : '') : job.recurringId ? `recurring #${job.recurringId} (removed)` : '–')),
      h('tr', {}, h('th', {}, 'progress'), h('td', {}, bar, barText))),
    h('div', { class: 'flow' },
      h('div', {}, h('h3', {}, 'Runs after (parents)'), parents),
      h('div', {}, h('h3', {}, 'Dependants'), dependants)),
    h('h3', {}, 'Timeline'), timeline,
    h('h3', {}, 'Params'), h('pre', { id: 'params' }, json(job.params)),
    h('h3', {}, 'Result'), result,
    h('h3', {}, 'Attempts'), errors,
    h('h3', {}, 'Notes'), notes);
  show(job);
  drawErrors(data.errors);
  addNotes(data.notes);
  await drawFlow(data);
  const markOf = (j) => `${j.state}:${j.waitingFor}:${j.parked}:${j.held}`;
  let lastMark = markOf(job);
  live(`/api/events?job=${id}`, async (view) => {
    if (!view.job) return;
    show(view.job);
    addNotes(view.notes);
    if (markOf(view.job) !== lastMark) {
      lastMark = markOf(view.job);
      const fresh = await api(`/jobs/${id}`);
      drawErrors(fresh.errors);
      await drawFlow(fresh);
    }
  });
}

// ---- pause and resume: a target is `service.method` or a whole `service` ----
async function setPaused(target, pause, after) {
  if (pause && !confirm(`Pause ${target}? Its waiting jobs are not started until it is resumed (running ones finish).`)) return;
  try {
    if (pause) await api('/paused', { method: 'POST', body: JSON.stringify({ target }) });
    else await api(`/paused/${encodeURIComponent(target)}`, { method: 'DELETE' });
    flash(`${pause ? 'paused' : 'resumed'} ${target}`);
    await after();
  } catch (error) {
    flash(error.message);
  }
}
function pauseButton(target, pause, after) {
  return h('button', { type: 'button', [pause ? 'data-pause' : 'data-resume']: target, onclick: () => setPaused(target, pause, after) }, `${pause ? 'Pause' : 'Resume'} ${target}`);
}

// ---- limits: paused targets, and the concurrency keys and rate limits holding jobs back ----
async function limitsPage() {
  const paused = h('table', { id: 'paused' });
  const keys = h('table', { id: 'keys' });
  const keysNote = h('p', { class: 'muted' });
  const rates = h('table', { id: 'rate-limits' });
  const input = h('input', { name: 'target', size: 24, placeholder: 'service.method or service', required: true });
  const form = h('form', { class: 'filters', id: 'pause-form', onsubmit: async (event) => {
    event.preventDefault();
    const target = input.value.trim();
    if (!target) return;
    await setPaused(target, true, async () => {
      input.value = '';
      await load();
    });
  } }, h('label', {}, 'target', input), h('button', { type: 'submit' }, 'Pause'));
  put(main,
    h('h2', {}, 'Limits'),
    h('h3', {}, 'Paused'),
    h('p', { class: 'muted' }, 'Jobs of a paused target wait (running ones finish) until it is resumed, on every worker. A method paused on its own stays paused when its service is resumed.'),
    paused, form,
    h('h3', {}, 'Concurrency keys'),
    h('p', { class: 'muted' }, 'Keys with jobs running or parked (waiting because the key is full), most parked first.'),
    keys, keysNote,
    h('h3', {}, 'Rate limits'),
    h('p', { class: 'muted' }, 'At most the limit of jobs under a name start in any window of its length, on every worker; a job over it waits for the name\'s next free slot, using no attempt.'),
    rates);
  async function load() {
    const [p, k, r] = await Promise.all([api('/paused'), api('/concurrency-keys'), api('/rate-limits')]);
    put(paused, p.paused.length === 0 ? h('tr', {}, h('td', { class: 'muted' }, 'Nothing is paused.')) : [
      h('tr', {}, h('th', {}, 'target'), h('th', {}, 'paused since'), h('th', {}, 'waiting jobs'), h('th', {}, '')),
      p.paused.map((t) => h('tr', { 'data-target': t.target },
        h('td', {}, t.target), h('td', {}, time(t.at)),
        h('td', {}, h('a', { href: `/jobs?${new URLSearchParams({ state: 'waiting', target: t.method === null ? t.service : t.target })}` }, 'list')),
        h('td', {}, pauseButton(t.target, false, load))))]);
    put(keys, k.keys.length === 0 ? h('tr', {}, h('td', { class: 'muted' }, 'No concurrency key has jobs running or parked.')) : [
      h('tr', {}, h('th', {}, 'key'), h('th', {}, 'running'), h('th', {}, 'parked'), h('th', {}, 'limit')),
      k.keys.map((key) => h('tr', { 'data-key': key.key }, h('td', {}, key.key), h('td', {}, key.running), h('td', {}, key.parked), h('td', {}, key.limit ?? '–')))]);
    keysNote.textContent = k.truncated ? `Showing the first ${k.keys.length} keys.` : '';
    put(rates, r.rateLimits.length === 0 ? h('tr', {}, h('td', { class: 'muted' }, 'No rate limit is set.')) : [
      h('tr', {}, h('th', {}, 'name'), h('th', {}, 'limit'), h('th', {}, 'starts in the last window'), h('th', {}, 'room')),
      r.rateLimits.map((rate) => h('tr', { 'data-name': rate.name },
        h('td', {}, rate.name), h('td', {}, `${rate.limit} per ${rate.perSeconds} s`), h('td', {}, rate.recentStarts),
        h('td', {}, rate.freeAt === null ? 'room now' : `free again at ${time(rate.freeAt)}`)))]);
  }
  await load();
  live('/api/events', () => { load().catch(() => {}); });
}

// ---- recurring ----
async function recurringPage() {
  const data = await api('/recurring');
  // `done` says what happened, from the response; the page is then drawn again from the server.
  const act = (label, path, method, done, attrs = {}) => h('button', { type: 'button', ...attrs, onclick: async () => {
    if (method === 'DELETE' && !confirm('Remove this recurring job? Jobs it added stay.')) return;
    try {
      flash(done(await api(path, { method })));
      render();
    } catch (error) {
      flash(error.message);
    }
  } }, label);
  const pauseOrResume = (r) => (r.pausedAt === null
    ? act('pause', `/recurring/${r.id}/pause`, 'POST', () => `paused ${r.signature}`, { 'data-action': 'pause' })
    : act('resume', `/recurring/${r.id}/resume`, 'POST', (out) => `resumed ${r.signature}: next run ${time(out.nextRunAt)}`, { 'data-action': 'resume' }));
  put(main, 
    h('h2', {}, 'Recurring jobs'),
    h('p', { class: 'muted' }, 'A paused recurring job adds no jobs until it is resumed (jobs it added already stay); it then runs at its next fire time from then on, skipping every occurrence due before the resume. "Run now" adds a one-off copy; the schedule stays.'),
    data.recurring.length === 0 ? h('p', {}, 'No recurring jobs.') : h('table', { id: 'recurring' },
      h('tr', {}, ['signature', 'schedule', 'in words', 'time zone', 'next five', 'last', 'lag', ''].map((t) => h('th', {}, t))),
      data.recurring.map((r) => h('tr', { 'data-id': r.id, class: r.pausedAt === null ? null : 'paused' },
        h('td', {}, h('a', { href: `/jobs?recurring=${r.id}` }, r.signature)),
        h('td', {}, r.cron ?? `every ${r.every} s`),
        h('td', {}, r.words),
        h('td', {}, r.cron ? (r.tz ?? 'UTC') : '–'),
        h('td', {}, r.pausedAt === null ? h('ul', {}, r.nextFires.map((t) => h('li', {}, time(t)))) : h('span', { class: 'paused-since' }, `paused since ${time(r.pausedAt)}`)),
        h('td', {}, r.last ? h('a', { href: `/jobs/${r.last.id}`, class: `state-${r.last.state}` }, `#${r.last.id} ${r.last.state}`) : '–'),
        h('td', {}, r.lagSeconds > 1 ? `${r.lagSeconds.toFixed(0)} s` : '–'),
        h('td', {},
          act('run now', `/recurring/${r.id}/run-now`, 'POST', (out) => `added job #${out.job}`, { 'data-action': 'run-now' }),
          pauseOrResume(r),
          act('remove', `/recurring/${r.id}`, 'DELETE', () => `removed ${r.signature}`, { 'data-action': 'remove' }))))));
}

render();
