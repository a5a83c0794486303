/**
 * The HTML attack report, loaded in a real browser (Debian's Chromium through playwright-core):
 * the Vega-Lite charts are inline SVG with drawn marks, every example image decodes, the clinician
 * summary and the ATLAS / NIST tags are there, and the page makes no network request.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { initEngine } from '../src/engine/index.js';
import { ATTACKS } from '../src/attacks/registry.js';
import { epsilonSweep } from '../src/eval/sweep.js';
import { buildReport } from '../src/report/build.js';
import { renderHtml } from '../src/report/html.js';
import { pneumonia, testImages } from './attacks-fixture.js';

const CHROMIUM = '/usr/bin/chromium';

test('the attack report renders in Chromium with charts, images, summary and tags, offline', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian package chromium)`,
}, async () => {
  await initEngine();
  const fx = await pneumonia();
  const images = testImages(fx, 16, 3);
  const evals = await epsilonSweep(
    fx.model,
    images,
    ATTACKS.pgd,
    [
      { value: 2 / 255, text: '2/255' },
      { value: 8 / 255, text: '8/255' },
    ],
    { steps: 5, seed: 0 },
  );
  const report = buildReport({
    card: fx.model.card,
    modelPath: fx.dir,
    dataset: { name: 'pneumoniamnist', split: 'test', sha256: fx.data.sha256, path: fx.data.path, limit: 16 },
    images,
    evaluations: evals,
    seed: 0,
    engine: 'test',
    command: 'medshield attack --attack pgd --eps 2/255,8/255 --steps 5 --limit 16',
  });
  const html = await renderHtml(report);
  assert.ok(!/<script(?![^>]*application\/json)/.test(html), 'no executable script');
  assert.ok(!/(src|href)="https?:/.test(html), 'no external resources');
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'ms-report-')), 'report.html');
  writeFileSync(file, html);

  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  try {
    const page = await browser.newPage();
    const requests: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) requests.push(r.url());
    });
    await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
    const charts = await page.$$eval('.chart svg', (els) =>
      els.map((e) => ({
        w: (e as SVGSVGElement).getBoundingClientRect().width,
        paths: e.querySelectorAll('path').length,
      })),
    );
    assert.ok(charts.length >= 2, `charts: ${charts.length}`);
    for (const c of charts) assert.ok(c.w > 100 && c.paths > 3, `chart drawn: ${JSON.stringify(c)}`);
    const imgs = await page.$$eval('#examples img', (els) =>
      els.map((e) => ({
        ok: (e as HTMLImageElement).complete && (e as HTMLImageElement).naturalWidth === 28,
        shown: (e as HTMLImageElement).getBoundingClientRect().width,
      })),
    );
    assert.ok(imgs.length >= 6 && imgs.length % 3 === 0, `images: ${imgs.length}`);
    for (const i of imgs) assert.ok(i.ok && i.shown >= 56, JSON.stringify(i));
    const summary = await page.textContent('#summary');
    assert.match(summary ?? '', /grey levels? out of 255 \(ε = 8\/255\)/);
    assert.match(summary ?? '', /correct diagnoses/);
    const tags = await page.textContent('#tags');
    assert.match(tags ?? '', /AML\.T0043/);
    assert.match(tags ?? '', /evasion/);
    assert.equal(await page.$$eval('#results tbody tr', (r) => r.length), 2);
    assert.match((await page.textContent('#command')) ?? '', /medshield attack/);
    const data = JSON.parse((await page.textContent('#report-data')) ?? '{}');
    assert.equal(data.schema, 'medshield.attack-report/1');
    assert.deepEqual(requests, [], 'the report fetched nothing from the network');
    await page.screenshot({ path: file.replace(/\.html$/, '.png'), fullPage: true });
  } finally {
    await browser.close();
  }
});
