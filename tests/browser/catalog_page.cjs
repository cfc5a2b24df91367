// Drives the system Chromium through the catalog page and prints one JSON report on stdout.
// Usage: node catalog_page.cjs <catalog-base-url> <video-id> <screenshot.png>
// The page's API key comes from REELFLOW_ADMIN_KEY, handed over as `/#key=<key>`.
//
// Opens `/`, waits for the video's row to show `ready`, follows its link to the detail view,
// waits until the hls.js player has played >= 3 s, clicks the last transcript line (when
// there is a transcript) and waits for the player to seek there, then reads the page.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.REELFLOW_CHROMIUM || '/usr/bin/chromium';
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--autoplay-policy=no-user-gesture-required',
];

async function main() {
  const [base, videoId, screenshot] = process.argv.slice(2);
  if (!base || !videoId || !screenshot) throw new Error('usage: catalog_page.cjs <base> <id> <png>');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'reelflow-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 },
  });
  const report = { failure: null, consoleErrors: [] };
  try {
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => report.consoleErrors.push(`pageerror: ${e.message}`));
    const row = `tr[data-video-id="${videoId}"]`;
    try {
      await page.goto(`${base}/#key=${encodeURIComponent(process.env.REELFLOW_ADMIN_KEY || '')}`);
      await page.waitForSelector(`${row}[data-status="ready"]`, { timeout: 20000 });
      report.list = await page.$eval(row, (tr) => ({
        text: tr.innerText,
        thumbnail: tr.querySelector('img.thumb') ? tr.querySelector('img.thumb').src : null,
        thumbnailLoaded: tr.querySelector('img.thumb') ? tr.querySelector('img.thumb').naturalWidth : 0,
      }));
      report.rows = await page.$$eval('#videos tbody tr', (trs) => trs.length);
      await page.click(`${row} a.open`);
      await page.waitForURL(`**/videos/${videoId}`, { timeout: 10000 });
      await page.waitForSelector('#renditions tbody tr', { timeout: 20000 });
      await page.waitForFunction(() => {
        const v = document.getElementById('player');
        return (v && v.currentTime >= 3) || window.reelflow.errors.length;
      }, null, { timeout: 40000, polling: 100 });
      // The transcript, when the video has one: a click on its last line seeks the player.
      const lines = await page.$$('#transcript li.cue');
      if (lines.length) {
        const last = lines[lines.length - 1];
        const start = Number(await last.getAttribute('data-start'));
        await last.click();
        await page.waitForFunction((at) => {
          const v = document.getElementById('player');
          return Math.abs(v.currentTime - at) < 1.5;
        }, start, { timeout: 10000, polling: 100 });
        report.transcript = { lines: lines.length, clickedStart: start,
          currentTime: await page.evaluate(() => document.getElementById('player').currentTime),
          text: await page.$eval('#transcript', (ol) => ol.innerText) };
      }
    } catch (err) {
      report.failure = err.message;
    }
    Object.assign(report, await page.evaluate(() => {
      const v = document.getElementById('player');
      const cells = (sel) => [...document.querySelectorAll(`${sel} tbody tr`)]
        .map((tr) => [...tr.children].map((td) => td.innerText));
      return {
        url: location.href, view: window.reelflow.view, errors: window.reelflow.errors,
        hlsSource: window.reelflow.hlsSource || null,
        currentTime: v ? v.currentTime : null, paused: v ? v.paused : null,
        videoHeight: v ? v.videoHeight : null,
        textCues: v ? [...v.textTracks].reduce((n, t) => n + (t.cues ? t.cues.length : 0), 0) : 0,
        decodedFrames: v ? v.getVideoPlaybackQuality().totalVideoFrames : null,
        renditions: cells('#renditions'), timeline: cells('#timeline'),
        title: document.getElementById('title') ? document.getElementById('title').innerText : null,
      };
    }));
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err) => { process.stderr.write(`${err.stack || err}\n`); process.exit(1); });
