// Drives the system Chromium (never a downloaded one) through player.html for each engine and
// prints one JSON report on stdout. Usage: node play.cjs <origin> <top-height> [engine ...]
// where an engine is `hls` or `shaka`, optionally `hls=<url>` to play a manifest from
// elsewhere (e.g. the catalog's /media URL, cross-origin to the page) instead of /pkg/.
//
// Per engine: load, start on the lowest rung, play >= 1 s, switch to the top rung, play until
// currentTime >= 4 s (so >= 3 s of playback after the start), then read what the player
// reports. hls.js also renders a keyframe through its I-frame player (iframes.m3u8).
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.REELFLOW_CHROMIUM || '/usr/bin/chromium';
const SOURCES = { hls: '/pkg/master.m3u8', shaka: '/pkg/manifest.mpd' };
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

async function waitFor(page, predicate, arg, timeoutMs, what) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: timeoutMs, polling: 100 });
  } catch (err) {
    throw new Error(`timed out waiting for ${what}`);
  }
}

async function runEngine(context, origin, engine, topHeight, src) {
  const page = await context.newPage();
  const console_ = [];
  page.on('console', (m) => { if (m.type() === 'error') console_.push(m.text()); });
  page.on('pageerror', (e) => console_.push(`pageerror: ${e.message}`));
  const started = Date.now();
  const source = src || SOURCES[engine];
  // REELFLOW_PLAYER_QUERY: more harness parameters, e.g. `&clearkey=<license URL>`.
  const url = `${origin}/player.html?engine=${engine}&src=${encodeURIComponent(source)}` +
    (process.env.REELFLOW_PLAYER_QUERY || '');
  const report = { engine, failure: null };
  try {
    await page.goto(url);
    await waitFor(page, () => window.harness.ready || window.harness.errors.length, null, 20000,
      'the manifest');
    await waitFor(page, () => document.getElementById('main').currentTime >= 1 ||
      window.harness.errors.length, null, 20000, 'playback to reach 1 s');
    await page.evaluate((h) => window.harness.switchTo(h), topHeight);
    await waitFor(page, (h) => {
      const v = document.getElementById('main');
      return (v.currentTime >= 4 && v.videoHeight === h) || window.harness.errors.length;
    }, topHeight, 30000, 'playback to reach 4 s on the top rung');
    // Trick play only on a run that plays (a failed one has nothing left to show).
    if (engine === 'hls' && !(await page.evaluate(() => window.harness.errors.length))) {
      await page.evaluate(() => window.harness.trickPlayAt(6));
      await waitFor(page, () => (window.harness.trick && window.harness.trick.height > 0) ||
        (window.harness.trick && window.harness.trick.errors.length), null, 20000,
      'the I-frame player to render a keyframe');
    }
  } catch (err) {
    report.failure = err.message;
  }
  Object.assign(report, await page.evaluate(() => {
    const v = document.getElementById('main');
    const quality = v.getVideoPlaybackQuality();
    const h = window.harness;
    return {
      currentTime: v.currentTime, videoHeight: v.videoHeight, paused: v.paused,
      decodedFrames: quality.totalVideoFrames, droppedFrames: quality.droppedVideoFrames,
      audioDecodedBytes: v.webkitAudioDecodedByteCount ?? null,
      errors: h.errors, warnings: h.warnings, heightsSeen: h.heightsSeen, trick: h.trick,
      ...h.describe(),
    };
  }));
  report.consoleErrors = console_;
  report.seconds = (Date.now() - started) / 1000;
  await page.close();
  return report;
}

async function main() {
  const [origin, topHeight, ...engines] = process.argv.slice(2);
  if (!origin || !topHeight) throw new Error('usage: node play.cjs <origin> <top-height> [engines]');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'reelflow-chromium-'));
  const launched = Date.now();
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS,
  });
  const result = { chromium: context.browser() ? context.browser().version() : null,
    launchSeconds: (Date.now() - launched) / 1000, engines: [] };
  try {
    const page = await context.newPage();
    result.mse = await page.evaluate(() => ({
      h264: MediaSource.isTypeSupported('video/mp4; codecs="avc1.42E01E"'),
      aac: MediaSource.isTypeSupported('audio/mp4; codecs="mp4a.40.2"'),
    }));
    await page.close();
    for (const spec of engines.length ? engines : ['hls', 'shaka']) {
      const [engine, ...rest] = spec.split('=');
      result.engines.push(await runEngine(context, origin, engine, Number(topHeight),
        rest.join('=') || null));
    }
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err) => { process.stderr.write(`${err.stack || err}\n`); process.exit(1); });
