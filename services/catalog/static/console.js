// The operations console. Polls the admin-only `/api/v1/console` API (groups every 2 s,
// charts, stuck work and dead letters every 10 s). `window.reelflowConsole` exposes what the
// page drew (the groups and every chart's data) so a headless browser test can check it
// without scraping pixels. Actions ask for a confirmation before they change anything.
'use strict';

const GROUPS_MS = 2000;
const CHARTS_MS = 10000;
window.reelflowConsole = { groups: null, charts: {}, polls: 0, errors: [] };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v;
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const dash = (v) => (v === null || v === undefined ? '-' : String(v));


async function call(path, options) {
  const key = apiKey();
  if (!key) throw new NeedKey('the console needs the admin key');
  const init = Object.assign({ headers: {} }, options || {});
  init.headers = Object.assign({ Accept: 'application/json', 'X-API-Key': key }, init.headers);
  const reply = await fetch(path, init);
  const body = await reply.json().catch(() => ({}));
  if (reply.status === 401 || reply.status === 403) {
    localStorage.removeItem(KEY_STORE);
    throw new NeedKey(body.detail || 'the key was refused');
  }
  if (!reply.ok) throw new Error(`${body.error || reply.status}: ${body.detail || ''}`);
  return body;
}

function askForKey(message) {
  const form = document.getElementById('key-form');
  form.hidden = false;
  document.getElementById('key-error').textContent = message;
}

document.getElementById('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  localStorage.setItem(KEY_STORE, document.getElementById('key-input').value);
  document.getElementById('key-form').hidden = true;
  refreshAll();
});

// -- consumer groups ----------------------------------------------------------------------

// Partition rows that need no attention (OK, no lag) stay folded until their group is opened.
const expanded = new Set();

function renderGroups(answer) {
  window.reelflowConsole.groups = answer;
  document.getElementById('window').textContent =
    `Status over a ${answer.window_s} s window; sampled ${answer.taken_at
      ? new Date(answer.taken_at * 1000).toLocaleTimeString() : 'not yet'}` +
    (answer.error ? ` (last sample failed: ${answer.error})` : '') +
    '. Partitions that are OK without lag are folded: open a group to see them all.';
  const body = document.querySelector('#groups tbody');
  body.replaceChildren();
  for (const g of answer.groups) {
    const open = expanded.has(g.group);
    const toggle = el('button', { class: 'toggle', title: 'every partition', onclick: () => {
      if (open) expanded.delete(g.group); else expanded.add(g.group);
      renderGroups(window.reelflowConsole.groups);
    } }, open ? '▾' : '▸');
    body.append(el('tr', { class: 'group-head', 'data-group': g.group, 'data-status': g.status },
      el('td', {}, toggle, ' ', g.group), el('td', { colspan: 4 }, `${g.source}, state ${g.state}, ${g.partitions.length} partitions`),
      el('td', { class: 'num' }, g.total_lag), el('td', { class: 'num' }, g.max_lag_seconds.toFixed(1)),
      el('td', { class: 'num' }, g.members.length),
      el('td', {}, el('span', { class: `st ${g.status}` }, g.status)), el('td', {}, g.rule)));
    for (const p of g.partitions) {
      const quiet = p.status === 'OK' && !p.lag;
      body.append(el('tr', { 'data-group': g.group, 'data-topic': p.topic, 'data-partition': p.partition,
        hidden: quiet && !open },
        el('td', {}, ''), el('td', {}, p.topic), el('td', { class: 'num' }, p.partition),
        el('td', { class: 'num' }, dash(p.current_offset)), el('td', { class: 'num' }, p.log_end_offset),
        el('td', { class: 'num lag' }, dash(p.lag)),
        el('td', { class: 'num' }, p.lag_seconds === null ? '-' : p.lag_seconds.toFixed(1)),
        el('td', {}, dash(p.client_id)),
        el('td', {}, el('span', { class: `st ${p.status}` }, p.status)), el('td', { class: 'hint' }, p.rule)));
    }
  }
}

// -- charts -------------------------------------------------------------------------------

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2',
  '#7f7f7f', '#bcbd22', '#17becf'];
const plots = {};

function drawChart(id, times, series) {
  const names = Object.keys(series);
  const data = [times, ...names.map((n) => series[n])];
  window.reelflowConsole.charts[id] = { names, data };
  const box = document.getElementById(`chart-${id}`);
  const caption = box.parentElement.querySelector('figcaption');
  caption.dataset.empty = names.length ? '' : 'nothing in the last hour';
  if (typeof uPlot === 'undefined') { box.textContent = 'uPlot is not installed (npm ci)'; return; }
  if (plots[id] && plots[id].names.join() === names.join()) {
    plots[id].plot.setData(data);
    return;
  }
  if (plots[id]) plots[id].plot.destroy();
  box.replaceChildren();
  const opts = {
    width: 540, height: 200,
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 1.5 }))],
    axes: [{}, { size: 50 }],
  };
  plots[id] = { names, plot: new uPlot(opts, data, box) };
}

function renderCharts(c) {
  drawChart('throughput', c.throughput.times, c.throughput.series);
  drawChart('figures', c.figures.times, c.figures.counts);
  drawChart('playable', c.figures.times, c.figures.playable);
  drawChart('dead-letters', c.dead_letters.times, c.dead_letters.series);
  drawChart('retries', c.retries.times, c.retries.series);
  const rate = c.figures.failure_rate_5m;
  document.getElementById('failure-rate').textContent =
    `Failure rate over the last 5 minutes: ${rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(2)} %`}` +
    [c.figures.error, c.retries.error].filter(Boolean).map((e) => ` (${e})`).join('');
}

// -- stuck work and dead letters ----------------------------------------------------------

function renderStuck(s) {
  document.getElementById('stuck-rule').textContent =
    `In a stage for longer than ${s.factor} × that stage's median (and over ${s.floor_s} s).`;
  const body = document.querySelector('#stuck tbody');
  body.replaceChildren(...s.items.map((v) => el('tr', { 'data-video-id': v.video_id },
    el('td', {}, el('a', { href: `/videos/${v.video_id}` }, v.title || v.video_id)),
    el('td', {}, dash(v.owner)), el('td', {}, v.stage), el('td', { class: 'num' }, v.in_stage_s),
    el('td', { class: 'num' }, dash(v.stage_median_s)), el('td', { class: 'num' }, v.limit_s))));
}

function confirmInline(cell, label, action) {
  // The first click only arms the action; a second, explicit button does it.
  cell.replaceChildren(el('button', { class: 'confirm', onclick: action }, label),
    el('button', { onclick: () => refreshAll() }, 'cancel'));
}

function renderDeadLetters(answer) {
  const body = document.querySelector('#dead-letters tbody');
  body.replaceChildren(...answer.items.map((d) => {
    const cell = el('td', {});
    cell.append(el('button', {
      class: 'redrive',
      onclick: () => confirmInline(cell, `confirm redrive to ${d.original_topic}`, async () => {
        try {
          const done = await call(`/api/v1/console/dead-letters/${d.id}/redrive`, { method: 'POST' });
          document.getElementById('action-result').textContent =
            `redrove ${done.record} -> ${done.topic}/${done.partition}@${done.offset}`;
        } catch (err) { document.getElementById('action-result').textContent = err.message; }
      }),
    }, 'redrive…'));
    return el('tr', { 'data-dead-letter-id': d.id }, el('td', {}, new Date(d.occurred_at).toLocaleString()),
      el('td', {}, d.original_topic), el('td', {}, d.consumer_group), el('td', {}, d.error_code),
      el('td', { class: 'num' }, d.redrive_count), el('td', { class: 'hint' }, (d.error_message || '').slice(0, 120)), cell);
  }));
}

document.getElementById('replay-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  const request = { group: form.get('group'), topic: form.get('topic'), to_datetime: form.get('to_datetime') };
  const box = document.getElementById('replay-plan');
  try {
    const plan = await call('/api/v1/console/replay', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(request) });
    const rows = plan.moves.map((m) => el('tr', {}, el('td', {}, m.topic), el('td', { class: 'num' }, m.partition),
      el('td', { class: 'num' }, dash(m.current)), el('td', { class: 'num' }, m.new)));
    box.replaceChildren(
      el('p', {}, `Dry run for ${plan.group} (offsets in ${plan.store}); nothing changed yet.` +
        (plan.live_members ? ` The group has ${plan.live_members} live member(s): stop them first.` : '')),
      el('table', {}, el('thead', {}, el('tr', {}, el('th', {}, 'topic'), el('th', {}, 'partition'),
        el('th', {}, 'current'), el('th', {}, 'new'))), el('tbody', {}, rows)),
      el('button', { class: 'confirm', disabled: plan.live_members > 0, onclick: async () => {
        try {
          await call('/api/v1/console/replay', { method: 'POST', headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(Object.assign({}, request, { execute: true })) });
          box.append(el('p', {}, `offsets of ${plan.group} written to ${plan.store}`));
        } catch (err) { box.append(el('p', { class: 'error' }, err.message)); }
      } }, 'confirm replay'));
  } catch (err) { box.replaceChildren(el('p', { class: 'error' }, err.message)); }
});

// -- polling ------------------------------------------------------------------------------

async function guarded(job) {
  try {
    await job();
    document.getElementById('error').textContent = '';
  } catch (err) {
    if (err instanceof NeedKey) askForKey(err.message);
    else { document.getElementById('error').textContent = err.message; window.reelflowConsole.errors.push(err.message); }
  }
}

async function refreshGroups() {
  await guarded(async () => {
    renderGroups(await call('/api/v1/console/groups'));
    window.reelflowConsole.polls += 1;
    document.getElementById('updated').textContent = new Date().toLocaleTimeString();
  });
}

async function refreshSlow() {
  await guarded(async () => renderCharts(await call('/api/v1/console/charts')));
  await guarded(async () => renderStuck(await call('/api/v1/console/stuck')));
  await guarded(async () => renderDeadLetters(await call('/api/v1/dead-letters?limit=20')));
}

function refreshAll() { refreshGroups(); refreshSlow(); }

refreshAll();
setInterval(refreshGroups, GROUPS_MS);
setInterval(refreshSlow, CHARTS_MS);
