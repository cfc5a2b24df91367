// The catalog page. Polls the JSON API every 2 s so statuses and progress move live without
// a server push channel. `window.reelflow` exposes what the page saw (player errors, the
// hls.js instance) so a headless browser test can check playback without scraping the DOM.
'use strict';

const POLL_MS = 2000;
window.reelflow = { errors: [], hls: null, view: null, polls: 0 };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') node.className = v; else node.setAttribute(k, v === true ? '' : v);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    // textContent only: titles and metadata are user input, never markup.
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const fmt = {
  seconds: (s) => (s === null || s === undefined ? '–'
    : `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}`),
  bytes: (b) => {
    if (b === null || b === undefined) return '–';
    const units = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (b >= 1000 && i < units.length - 1) { b /= 1000; i += 1; }
    return `${b.toFixed(i ? 1 : 0)} ${units[i]}`;
  },
  bitrate: (b) => (b ? `${(b / 1000).toFixed(0)} kb/s` : '–'),
  number: (n, digits) => (n === null || n === undefined ? '–' : Number(n).toFixed(digits)),
  time: (t) => (t ? new Date(t).toLocaleString() : '–'),
};

// The API key: apiKey(), KEY_STORE and NeedKey come from api_key.js.

async function getJson(path) {
  const key = apiKey();
  if (!key) throw new NeedKey('this catalog needs an API key');
  const reply = await fetch(path, { headers: { Accept: 'application/json', 'X-API-Key': key } });
  if (reply.status === 401) {
    localStorage.removeItem(KEY_STORE);
    throw new NeedKey('the API key was refused');
  }
  if (!reply.ok) throw new Error(`${path}: HTTP ${reply.status}`);
  return reply.json();
}

function renderKeyForm(app, why) {
  if (app.querySelector('#key-form')) return;
  const input = el('input', { id: 'api-key', type: 'password', placeholder: 'X-API-Key',
    autocomplete: 'off' });
  const form = el('form', { id: 'key-form' },
    el('p', {}, `${why}: enter one (or open this page as /#key=<key>).`), input,
    el('button', { type: 'submit' }, 'Use this key'));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    localStorage.setItem(KEY_STORE, input.value.trim());
    location.reload();
  });
  app.replaceChildren(form);
}

function statusBadge(status) { return el('span', { class: `status ${status}` }, status); }

/** Overall progress of a summary: 100 once ready, else the mean of the stages reported. */
function progressOf(video) {
  if (video.status === 'ready') return 100;
  const stages = Object.values(video.progress || {});
  if (!stages.length) return 0;
  return stages.reduce((a, b) => a + b, 0) / stages.length;
}

/** A waiting video's place in its lane and estimated start (the router's, via `queue`). */
function queueText(queue) {
  if (!queue) return '';
  const lane = queue.lane.replace(/^.*-/, '');
  const start = queue.estimated_start_at
    ? `, starts about ${new Date(queue.estimated_start_at).toLocaleTimeString()}` : '';
  return `#${queue.position} of ${queue.waiting} in the ${lane} lane${start}`;
}

function detailHref(id) { return `/videos/${encodeURIComponent(id)}`; }

function renderList(app, items) {
  const rows = items.map((v) => el('tr', { 'data-video-id': v.video_id, 'data-status': v.status },
    el('td', {}, v.thumbnail ? el('img', { class: 'thumb', src: v.thumbnail, alt: '' })
      : el('div', { class: 'thumb' })),
    el('td', {}, el('a', { href: detailHref(v.video_id), class: 'open' }, v.title || v.video_id)),
    el('td', {}, statusBadge(v.status),
      v.queue ? el('div', { class: 'queue' }, queueText(v.queue)) : null),
    el('td', {}, el('progress', { max: 100, value: progressOf(v).toFixed(0) }),
      ` ${progressOf(v).toFixed(0)} %`),
    el('td', { class: 'num' }, fmt.seconds(v.duration_seconds)),
    el('td', {}, fmt.time(v.created_at))));
  app.replaceChildren(el('h1', {}, 'Videos'), el('table', { id: 'videos' },
    el('thead', {}, el('tr', {}, ['', 'Title', 'Status', 'Progress', 'Duration', 'Created']
      .map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.length ? rows : el('tr', {}, el('td', { colspan: 6 }, 'No videos yet.')))));
}

function renditionTable(renditions) {
  const rows = renditions.map((r) => el('tr', { 'data-rendition': r.rendition },
    el('td', {}, r.rendition), el('td', {}, r.media_type),
    el('td', {}, r.width && r.height ? `${r.width}×${r.height}` : '–'),
    el('td', {}, r.codecs || r.video_codec || r.audio_codec || '–'),
    el('td', { class: 'num' }, fmt.bitrate(r.bitrate)),
    el('td', { class: 'num' }, fmt.bytes(r.size_bytes)),
    el('td', { class: 'num vmaf' }, fmt.number(r.quality && r.quality.vmaf, 2)),
    el('td', { class: 'num' }, fmt.number(r.quality && r.quality.psnr, 2)),
    el('td', { class: 'num' }, fmt.number(r.quality && r.quality.ssim, 4)),
    el('td', {}, r.url ? el('a', { href: r.url }, 'download') : '–')));
  return el('table', { id: 'renditions' }, el('thead', {}, el('tr', {},
    ['Rendition', 'Type', 'Size', 'Codecs', 'Bitrate', 'Bytes', 'VMAF', 'PSNR', 'SSIM', '']
      .map((h) => el('th', {}, h)))), el('tbody', {}, rows));
}

function timelineTable(events) {
  return el('table', { id: 'timeline' }, el('thead', {}, el('tr', {},
    ['When', 'Kind', 'Attempt', 'Summary', 'Where'].map((h) => el('th', {}, h)))),
  el('tbody', {}, events.map((e) => el('tr', {}, el('td', {}, fmt.time(e.occurred_at)),
    el('td', {}, e.kind), el('td', {}, e.attempt ?? '–'), el('td', {}, e.summary),
    el('td', {}, `${e.topic}/${e.partition}@${e.offset}`)))));
}

/** One player per page: polling re-renders the tables around it, never the video element. */
function attachPlayer(video, src) {
  const state = window.reelflow;
  if (state.hlsSource === src) return;
  state.hlsSource = src;
  const onError = (what) => { state.errors.push(what); showPlayerError(what); };
  video.addEventListener('error', () => onError(`media error ${video.error && video.error.code}`));
  if (window.Hls && window.Hls.isSupported()) {
    // A new package (a reprocess, or a revision with captions): keep the position.
    const resumeAt = state.hls ? video.currentTime : 0;
    if (state.hls) state.hls.destroy();
    const hls = new window.Hls({ startPosition: resumeAt || -1 });
    state.hls = hls;
    hls.on(window.Hls.Events.ERROR, (_, data) => {
      if (data.fatal) onError(`hls.js ${data.type}: ${data.details}`);
    });
    // Captions on: the first subtitle track, once the variant's group is known.
    video.addEventListener('playing', () => {
      if (hls.subtitleTracks.length && hls.subtitleTrack < 0) hls.subtitleTrack = 0;
    }, { once: true });
    hls.loadSource(src);
    hls.attachMedia(video);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = src; // Safari plays HLS natively
  } else {
    onError('this browser cannot play HLS (no MSE, and hls.js did not load)');
  }
}

/** The transcript beside the player: each line seeks the player to where it is spoken. */
async function renderTranscript(video, player) {
  const box = document.getElementById('transcript-box');
  const captions = video.captions;
  const state = window.reelflow;
  if (!captions || captions.outcome !== 'ok') {
    box.replaceChildren(el('p', {}, captions ? 'No speech was heard.' : 'No captions yet.'));
    state.transcriptLines = 0;
    return;
  }
  if (state.transcriptAttempt === captions.attempt) return;
  const transcript = await getJson(`/api/v1/videos/${encodeURIComponent(video.video_id)}/transcript`);
  state.transcriptAttempt = captions.attempt;
  state.transcriptLines = transcript.segments.length;
  box.replaceChildren(el('p', {}, `Language ${transcript.language}`),
    el('ol', { id: 'transcript' }, transcript.segments.map((s) => {
      const line = el('li', { class: 'cue', 'data-start': String(s.start) },
        el('span', { class: 'at' }, fmt.seconds(s.start)), ' ', s.text);
      line.addEventListener('click', () => { player.currentTime = s.start; player.play(); });
      return line;
    })));
}

function showPlayerError(message) {
  const box = document.getElementById('player-error');
  if (box) box.textContent = message;
}

async function renderDetail(app, id) {
  const [video, timeline] = await Promise.all([
    getJson(`/api/v1/videos/${encodeURIComponent(id)}`),
    getJson(`/api/v1/videos/${encodeURIComponent(id)}/events?limit=500`)]);
  document.title = `${video.title || video.video_id} – Reelflow`;
  let player = document.getElementById('player');
  if (!app.querySelector('#detail')) {
    player = el('video', { id: 'player', controls: true, muted: true, autoplay: true,
      playsinline: true });
    player.muted = true; // autoplay without a gesture needs a muted element
    app.replaceChildren(el('div', { id: 'detail' },
      el('p', {}, el('a', { href: '/' }, '← all videos')),
      el('h1', { id: 'title' }), el('p', { id: 'facts' }),
      el('section', { id: 'player-box' }, player, el('p', { id: 'player-error', class: 'error' })),
      el('section', {}, el('h2', {}, 'Transcript'), el('div', { id: 'transcript-box' })),
      el('section', {}, el('h2', {}, 'Renditions'), el('div', { id: 'renditions-box' })),
      el('section', {}, el('h2', {}, 'Timeline'), el('div', { id: 'timeline-box' }))));
  }
  document.getElementById('title').textContent = video.title || video.video_id;
  document.getElementById('facts').replaceChildren(el('span', {}, statusBadge(video.status),
    ` attempt ${video.attempt} · duration ${fmt.seconds(video.duration_seconds)}`
    + ` · source ${fmt.bytes(video.source_size_bytes)}`
    + (video.processing_seconds ? ` · processed in ${video.processing_seconds.toFixed(1)} s` : ''),
    video.queue ? el('span', { class: 'queue' }, ` · queued ${queueText(video.queue)}`) : null,
    video.error ? el('span', { class: 'error' },
      ` · ${video.error.stage}: ${video.error.code} (${video.error.message})`) : null));
  document.getElementById('player-box').hidden = !video.playback.hls;
  if (video.playback.hls) attachPlayer(player, video.playback.hls);
  await renderTranscript(video, player).catch((err) => {
    if (err instanceof NeedKey) throw err;
    document.getElementById('transcript-box').textContent = `transcript: ${err.message}`;
  });
  document.getElementById('renditions-box').replaceChildren(renditionTable(video.renditions));
  document.getElementById('timeline-box').replaceChildren(timelineTable(timeline.events));
}

function route() {
  const path = location.hash.startsWith('#/') ? location.hash.slice(1) : location.pathname;
  const match = path.match(/^\/videos\/([0-9a-fA-F-]{36})\/?$/);
  return match ? { view: 'detail', id: match[1] } : { view: 'list' };
}

async function tick() {
  const app = document.getElementById('app');
  const where = route();
  window.reelflow.view = where.view;
  try {
    if (where.view === 'detail') await renderDetail(app, where.id);
    else renderList(app, (await getJson('/api/v1/videos?limit=100')).items);
    document.getElementById('updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    if (err instanceof NeedKey) renderKeyForm(app, err.message);
    document.getElementById('updated').textContent = `update failed: ${err.message}`;
  }
  window.reelflow.polls += 1;
  // Even a ready video can be reprocessed, so the detail view keeps polling too.
  setTimeout(tick, POLL_MS);
}

window.addEventListener('hashchange', () => { location.reload(); });
apiKey();
tick();
