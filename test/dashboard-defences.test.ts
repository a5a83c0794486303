/**
 * The campaign page and the scorecard page draw a campaign's defence rows and scorecard rows (issue 22), in a real
 * browser (Debian's Chromium through playwright-core), over a store filled at test time by a real small campaign:
 * the shipped model on 8 PneumoniaMNIST test films, FGSM at 8/255, JPEG (q = 75) against FGSM at 8/255, and the
 * scorecard's adversarial-training row (quick) at 8/255. Every table cell is the stored number, every chart has its
 * bars, axe finds no serious or critical violation, no page breaks the Content-Security-Policy; the campaign's HTML
 * report holds the same rows. Screenshot: docs/img/dashboard-defences.png.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { initEngine } from '../src/engine/index.js';
import {
  openStore,
  runCampaignLocal,
  validateCampaignSpec,
  type CampaignStatus,
  type CampaignStore,
} from '../src/api/campaign/index.js';
import { createDashboard, type Dashboard } from '../src/dashboard/server.js';
import { PACKAGE_ROOT } from '../src/version.js';
import { NO_CHROMIUM as skip, launchChromium, axe } from './browser.js';

let dir: string;
let store: CampaignStore;
let status: CampaignStatus;
let dash: Dashboard;
let url: string;
let browser: Browser;

/** The dashboard's percentage format (web/dashboard/src/format.ts). */
const pct = (x: number | null): string => (x == null ? '–' : `${(100 * x).toFixed(1)} %`);

async function open(p: string): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(120000); // generous: the machine is shared (no timing is asserted)
  page.on('close', () => {
    context.close().catch(() => undefined);
  });
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('request', (r) => {
    if (!r.url().startsWith(url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:'))
      problems.push(`request to ${r.url()}`);
  });
  await page.addInitScript(() =>
    document.addEventListener('securitypolicyviolation', (e) =>
      console.error(`CSP violation: ${e.violatedDirective} ${e.blockedURI}`),
    ),
  );
  await page.goto(url + p, { waitUntil: 'networkidle' });
  return { page, problems };
}

const cells = (page: Page, sel: string): Promise<string[][]> =>
  page.$$eval(`${sel} tbody tr`, (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())),
  );

/** Bars of each chart whose caption matches. */
async function bars(page: Page, caption: RegExp): Promise<number> {
  await page.waitForSelector('.chart svg .mark-rect path', { state: 'attached', timeout: 30000 });
  const charts = await page.$$eval('figure.chart', (fs) =>
    fs.map((f) => ({
      caption: f.querySelector('figcaption')?.textContent ?? '',
      bars: f.querySelectorAll('svg .mark-rect path').length,
      w: f.querySelector('svg')?.getBoundingClientRect().width ?? 0,
    })),
  );
  const c = charts.find((x) => caption.test(x.caption));
  assert.ok(c, `a chart captioned ${caption}: ${JSON.stringify(charts)}`);
  assert.ok(c.w > 300, `chart width ${c.w}`);
  return c.bars;
}

function defenceCells(s: CampaignStatus): string[][] {
  return s.defences.map((d) => [
    d.model,
    d.defence,
    d.attack,
    d.epsText,
    String(d.n),
    pct(d.cleanAccuracy),
    pct(d.robustAccuracy),
    pct(d.undefendedCleanAccuracy),
    pct(d.undefendedRobustAccuracy),
  ]);
}

function scorecardCells(s: CampaignStatus): string[][] {
  return s.scorecard.map((r) => [
    r.model,
    r.defence,
    r.epsText,
    String(r.n),
    pct(r.cleanAccuracy),
    r.nonAdaptive.attack,
    pct(r.nonAdaptive.fooledAndUndetected),
    r.adaptive.attack,
    pct(r.adaptive.fooledAndUndetected),
    r.gradientMasking ? 'yes' : 'no',
    r.sanity,
    r.verdict,
  ]);
}

before(async () => {
  if (skip) return;
  await initEngine();
  dir = mkdtempSync(path.join(tmpdir(), 'ms-dashboard-defences-'));
  store = await openStore(`sqlite:${path.join(dir, 'campaigns.db')}`);
  const spec = validateCampaignSpec({
    name: 'dashboard-defences',
    seed: 0,
    models: [{ ref: 'default' }],
    data: { dataset: 'pneumoniamnist', split: 'test', limit: 8 },
    attacks: [{ attack: 'fgsm', eps: ['8/255'] }],
    defences: [{ defence: 'jpeg', quality: 75, attacks: ['fgsm'], eps: ['8/255'] }],
    scorecard: { defences: ['adversarial-training'], eps: ['8/255'], quick: true },
    shardSize: 4,
  });
  status = await runCampaignLocal(spec, { store });
  dash = await createDashboard({ store, storeLabel: 'sqlite:campaigns.db', pollMs: 100 });
  url = await dash.listen(0);
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await dash?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the campaign ran: 2 attack shards, 2 defence shards, 1 scorecard job', { skip }, () => {
  assert.equal(status.status, 'done');
  assert.deepEqual(status.shards, { total: 5, done: 5, failed: 0 });
  assert.equal(status.defences.length, 1);
  assert.deepEqual(
    [status.defences[0].defence, status.defences[0].attack, status.defences[0].n],
    ['jpeg:q=75', 'fgsm', 8],
  );
  assert.equal(status.scorecard.length, 1);
  assert.deepEqual(
    [status.scorecard[0].defence, status.scorecard[0].n, status.scorecard[0].quick],
    ['adversarial-training', 8, true],
  );
});

test("campaign page: the defences and scorecard tables hold the store's numbers; their charts have bars", {
  skip,
}, async () => {
  const { page, problems } = await open(`/campaigns/${status.id}`);
  await page.waitForSelector('#defences tbody tr');
  await page.waitForSelector('#scorecard-rows tbody tr');
  assert.deepEqual(await cells(page, '#defences'), defenceCells(status));
  assert.deepEqual(await cells(page, '#scorecard-rows'), scorecardCells(status));
  // 4 bars per defence row (undefended and defended, clean and under attack), 2 per scorecard row
  assert.equal(await bars(page, /^Accuracy per defence/), 4 * status.defences.length);
  assert.equal(await bars(page, /^Fooled and undetected per scorecard row/), 2 * status.scorecard.length);
  const b = status.scorecard[0].baseline;
  assert.equal(
    (await page.textContent('#scorecard-baseline'))?.replace(/\s+/g, ' ').trim(),
    `No defence: default at ε 8/255, clean accuracy ${pct(b.cleanAccuracy)}, ` +
      `${pct(b.robustAccuracy)} under ${b.attack}.`,
  );
  // the per-attack table and robustness curve are still there
  assert.equal((await cells(page, '#results')).length, status.results.length);
  await axe(page, 'campaign page with defences and scorecard rows');
  mkdirSync(path.join(PACKAGE_ROOT, 'docs', 'img'), { recursive: true });
  await page.screenshot({ path: path.join(PACKAGE_ROOT, 'docs', 'img', 'dashboard-defences.png'), fullPage: true });
  assert.deepEqual(problems, []);
  await page.close();
});

test('scorecard page: the same defence and scorecard rows', { skip }, async () => {
  const api = await (await fetch(`${url}/api/campaigns/${status.id}/scorecard`)).json();
  assert.deepEqual(api.defences, JSON.parse(JSON.stringify(status.defences)));
  assert.deepEqual(api.scorecard, JSON.parse(JSON.stringify(status.scorecard)));
  const { page, problems } = await open(`/scorecard/${status.id}`);
  await page.waitForSelector('#defences tbody tr');
  assert.deepEqual(await cells(page, '#defences'), defenceCells(status));
  assert.deepEqual(await cells(page, '#scorecard-rows'), scorecardCells(status));
  assert.match((await page.textContent('#no-detection')) ?? '', /none in this campaign/);
  await axe(page, 'scorecard page with defences and scorecard rows');
  assert.deepEqual(problems, []);
  await page.close();
});

test("the campaign's HTML report has the defence and scorecard rows", { skip }, async () => {
  const r = await fetch(`${url}/api/campaigns/${status.id}/report`);
  assert.equal(r.status, 200);
  const html = await r.text();
  const d = status.defences[0];
  const f4 = (v: number): string => v.toFixed(4);
  assert.ok(
    html.includes(
      `<tr><td>jpeg:q=75</td><td>fgsm</td><td>${d.norm}</td><td>8/255</td><td>8</td><td>${f4(d.cleanAccuracy)}</td>` +
        `<td>${f4(d.robustAccuracy)}</td><td>${f4(d.undefendedCleanAccuracy)}</td>` +
        `<td>${f4(d.undefendedRobustAccuracy)}</td></tr>`,
    ),
    'defence row in the report',
  );
  const s = status.scorecard[0];
  assert.ok(
    html.includes(
      `<tr><td>adversarial-training</td><td>8/255</td><td>8</td><td>${f4(s.cleanAccuracy)}</td>` +
        `<td>${f4(s.nonAdaptive.fooledAndUndetected)}</td><td>${f4(s.adaptive.fooledAndUndetected)}</td>`,
    ),
    'scorecard row in the report',
  );
  assert.ok(html.indexOf('id="defences"') < html.indexOf('<h2>Provenance</h2>'));
});
