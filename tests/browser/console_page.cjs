// Drives the system Chromium through the operations console and prints one JSON report.
// Usage: node console_page.cjs <catalog-base-url> <screenshot.png>
// The admin key comes from REELFLOW_ADMIN_KEY, handed over as `/console#key=<key>`.
//
// Opens `/console`, waits until the groups table lists the wanted groups (REELFLOW_GROUPS,
// comma-separated) and the throughput chart holds a non-zero point, then reads the DOM and
// the data every chart was drawn with (`window.reelflowConsole`) and takes a screenshot.
'use strict';

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.REELFLOW_CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function main() {
  const [base, screenshot] = process.argv.slice(2);
  if (!base || !screenshot) throw new Error('usage: console_page.cjs <base> <png>');
  const wanted = (process.env.REELFLOW_GROUPS || '').split(',').filter(Boolean);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'reelflow-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 900 },
  });
  const report = { failure: null, consoleErrors: [] };
  try {
    const page = await context.newPage();
    page.on('console', (m) => { if (m.type() === 'error') report.consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => report.consoleErrors.push(`pageerror: ${e.message}`));
    try {
      await page.goto(`${base}/console#key=${encodeURIComponent(process.env.REELFLOW_ADMIN_KEY || '')}`);
      await page.waitForFunction((names) => {
        const shown = [...document.querySelectorAll('#groups tr.group-head')].map((tr) => tr.dataset.group);
        const chart = (window.reelflowConsole.charts || {}).throughput;
        const moving = chart && chart.data.slice(1).some((col) => col.some((v) => v > 0));
        return names.every((n) => shown.includes(n)) && moving;
      }, wanted, { timeout: 60000, polling: 250 });
    } catch (err) {
      report.failure = err.message;
    }
    Object.assign(report, await page.evaluate(() => ({
      url: location.href,
      groups: [...document.querySelectorAll('#groups tr.group-head')].map((tr) => ({
        group: tr.dataset.group, status: tr.dataset.status,
        cells: [...tr.children].map((td) => td.textContent),
      })),
      partitionRows: [...document.querySelectorAll('#groups tbody tr[data-topic]')].map((tr) => ({
        group: tr.dataset.group, topic: tr.dataset.topic, partition: Number(tr.dataset.partition),
        hidden: tr.hidden, cells: [...tr.children].map((td) => td.textContent),
      })),
      charts: window.reelflowConsole.charts,
      canvases: Object.fromEntries([...document.querySelectorAll('.charts figure > div')].map(
        (div) => [div.id, div.querySelectorAll('canvas').length])),
      api: window.reelflowConsole.groups,
      errors: window.reelflowConsole.errors,
    })));
    await page.screenshot({ path: screenshot, fullPage: true });
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(report) + '\n');
}

main().catch((err) => { process.stderr.write(`${err.stack || err}\n`); process.exit(1); });
