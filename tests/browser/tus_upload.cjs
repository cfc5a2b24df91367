// Uploads one file with tus-js-client in the system Chromium, through a one-time direct-upload
// URL and without an API key, and prints {"url": <the upload's URL>} (or {"failure": …}).
// Usage: node tus_upload.cjs <ingest origin> <direct-upload url> <file>
// The page is opened on the ingest origin itself, so no CORS is involved: what is under test is
// the tus client speaking to ingest, not a cross-origin policy.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');

const CHROMIUM = process.env.REELFLOW_CHROMIUM || '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

async function main() {
  const [origin, endpoint, file] = process.argv.slice(2);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  const report = { url: null, failure: null };
  try {
    const page = await browser.newPage();
    await page.goto(`${origin}/health`);
    await page.addScriptTag({ path: path.join(__dirname, '..', '..', 'node_modules',
      'tus-js-client', 'dist', 'tus.min.js') });
    const bytes = fs.readFileSync(file).toString('base64');
    report.url = await page.evaluate(([b64, url, name]) => new Promise((resolve, reject) => {
      const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const upload = new window.tus.Upload(new Blob([raw]), {
        endpoint: url, chunkSize: 256 * 1024, retryDelays: null,
        metadata: { filename: name },
        onError: (err) => {
          const r = err.originalResponse;
          reject(new Error(r ? `${r.getStatus()} ${r.getBody()}` : String(err)));
        },
        onSuccess: () => resolve(upload.url),
      });
      upload.start();
    }), [bytes, endpoint, path.basename(file)]);
  } catch (err) {
    report.failure = err.message;
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(report));
}

main();
