/**
 * The dashboard (issue 23) in a real browser (Debian's Chromium through playwright-core), over a results store
 * filled at test time by a real small campaign (the shipped ResNet-18 on 16 PneumoniaMNIST test films, PGD with
 * 3 steps at ε = 2/255 and 8/255, feature squeezing fitted at 8/255): every view shows the store's numbers, every
 * chart has marks, gallery images decode, the campaign page's progress moves while a second campaign runs in this
 * process, axe finds no serious or critical accessibility violation, no page breaks the Content-Security-Policy or
 * asks another origin for anything. Screenshots of the main views go to docs/img/dashboard-*.png (README).
 * Security without a browser: read-only (405), API keys of the auditor role beyond loopback (401/403/200).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { initEngine } from '../src/engine/index.js';
import {
  openStore,
  prepareCampaign,
  registerCampaign,
  runCampaignLocal,
  validateCampaignSpec,
  campaignStatus,
  campaignSamples,
  type CampaignStatus,
  type CampaignStore,
} from '../src/api/campaign/index.js';
import { createDashboard, type Dashboard } from '../src/dashboard/server.js';
import { addKey } from '../src/gateway/keys.js';
import { PACKAGE_ROOT } from '../src/version.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian package chromium)`;
const IMG = path.join(PACKAGE_ROOT, 'docs', 'img');

let dir: string;
let store: CampaignStore;
let status: CampaignStatus;
let dash: Dashboard;
let url: string;
let browser: Browser;
let _context: BrowserContext | undefined;

const pct = (x: number | null): string => (x == null ? '–' : `${(100 * x).toFixed(1)} %`);

/** Open a view; collect CSP violations, page errors and requests to other origins. */
async function open(
  p: string,
  waitUntil: 'load' | 'networkidle' = 'networkidle',
  width = 1100,
  height = 760,
): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  page.setDefaultTimeout(120000); // generous: the test machine is shared (no timing is asserted)
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
  await page.goto(url + p, { waitUntil });
  return { page, problems };
}

async function axe(page: Page, what: string): Promise<void> {
  const r = await new AxeBuilder({ page }).analyze();
  const bad = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    bad.map(
      (v) =>
        `${v.id} (${v.impact}): ${v.nodes
          .map((n) => n.target.join(' '))
          .slice(0, 3)
          .join(', ')}`,
    ),
    [],
    `axe on ${what}`,
  );
}

async function shot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(IMG, { recursive: true });
  await page.screenshot({ path: path.join(IMG, `dashboard-${name}.png`), fullPage });
}

async function chartMarks(page: Page): Promise<Array<{ w: number; marks: number }>> {
  await page.waitForSelector('.chart svg .mark-line path, .chart svg .mark-symbol path', {
    timeout: 30000,
    state: 'attached',
  });
  return page.$$eval('.chart svg', (els) =>
    els.map((e) => ({
      w: e.getBoundingClientRect().width,
      marks: e.querySelectorAll('.mark-line path, .mark-symbol path').length,
    })),
  );
}

before(async () => {
  if (skip) return;
  await initEngine();
  dir = mkdtempSync(path.join(tmpdir(), 'ms-dashboard-'));
  // The shipped models plus an imported ONNX model (the test fixture), as a models/ folder.
  const models = path.join(dir, 'models');
  mkdirSync(models);
  for (const m of readdirSync(path.join(PACKAGE_ROOT, 'models')))
    symlinkSync(path.join(PACKAGE_ROOT, 'models', m), path.join(models, m));
  mkdirSync(path.join(models, 'pneumonia-tiny-onnx'));
  copyFileSync(
    path.join(PACKAGE_ROOT, 'test', 'fixtures', 'pneumonia-tiny.onnx'),
    path.join(models, 'pneumonia-tiny-onnx', 'model.onnx'),
  );
  copyFileSync(
    path.join(PACKAGE_ROOT, 'test', 'fixtures', 'pneumonia-tiny.card.json'),
    path.join(models, 'pneumonia-tiny-onnx', 'model-card.json'),
  );
  store = await openStore(`sqlite:${path.join(dir, 'campaigns.db')}`);
  const spec = validateCampaignSpec({
    name: 'dashboard-test',
    seed: 0,
    models: [{ ref: 'default' }],
    data: { dataset: 'pneumoniamnist', split: 'test', limit: 16 },
    attacks: [{ attack: 'pgd', eps: ['2/255', '8/255'], steps: 3 }],
    detectors: [{ detector: 'squeeze', trainAttack: 'pgd', eps: ['8/255'], fitLimit: 16, steps: 3 }],
    shardSize: 8,
  });
  status = await runCampaignLocal(spec, { store });
  dash = await createDashboard({ store, storeLabel: 'sqlite:campaigns.db', modelsDir: models, pollMs: 100 });
  url = await dash.listen(0);
  browser = await chromium.launch({
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
});

after(async () => {
  await browser?.close();
  await dash?.close();
  await store?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the campaign ran: 4 attack shards and 1 detection job, with per-sample records', { skip }, async () => {
  assert.equal(status.status, 'done');
  assert.deepEqual(status.shards, { total: 5, done: 5, failed: 0 });
  assert.equal(status.results.length, 2);
  assert.equal(status.detection.length, 1);
  assert.equal((await campaignSamples(store, status.id, { limit: 1 })).total, 32);
});

test('JSON API: campaigns, campaign status, models, OpenAPI document', { skip }, async () => {
  const list = await (await fetch(`${url}/api/campaigns`)).json();
  assert.deepEqual(list, [
    { id: status.id, name: 'dashboard-test', status: 'done', shards: { total: 5, done: 5, failed: 0 } },
  ]);
  const one = await (await fetch(`${url}/api/campaigns/${status.id}`)).json();
  assert.deepEqual(one, JSON.parse(JSON.stringify(await campaignStatus(store, status.id))));
  const models = (await (await fetch(`${url}/api/models`)).json()) as Array<{
    name: string;
    sha256: string;
    architecture: string;
    dataset: string;
    metrics: unknown;
    onnx: boolean;
    campaigns: string[];
  }>;
  const def = models.find((m) => m.name === 'default')!;
  assert.match(def.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(def.campaigns, [status.id]);
  assert.equal(def.dataset, 'pneumoniamnist');
  assert.equal(models.find((m) => m.name === 'pneumonia-tiny-onnx')?.onnx, true);
  const missing = await fetch(`${url}/api/campaigns/nope-000000000000`);
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).message, /no campaign 'nope-000000000000'/);
  const bad = await fetch(`${url}/api/campaigns/${status.id}/samples?eps=abc`);
  assert.equal(bad.status, 400);
  const api = await (await fetch(`${url}/openapi.json`)).json();
  for (const p of [
    '/api/campaigns',
    '/api/campaigns/{id}',
    '/api/models',
    '/api/campaigns/{id}/samples',
    '/api/campaigns/{id}/events',
    '/api/campaigns/{id}/scorecard',
  ]) {
    assert.ok(api.paths[p]?.get, `OpenAPI has GET ${p}`);
  }
});

test("campaigns list and campaign page show the store's numbers and the robustness curve", { skip }, async () => {
  let { page, problems } = await open('/');
  await page.waitForSelector('#campaigns tbody tr');
  const row = await page.textContent('#campaigns tbody tr');
  assert.match(row ?? '', new RegExp(`${status.id}.*dashboard-test.*done.*5 / 5`));
  await axe(page, 'campaigns list');
  await shot(page, 'campaigns');
  assert.deepEqual(problems, []);
  await page.close();

  ({ page, problems } = await open(`/campaigns/${status.id}`));
  await page.waitForSelector('#results tbody tr');
  const rows = await page.$$eval('#results tbody tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
  );
  assert.equal(rows.length, status.results.length);
  for (const [i, r] of status.results.entries()) {
    assert.deepEqual(rows[i], [
      r.model,
      r.attack,
      r.epsText,
      String(r.n),
      pct(r.cleanAccuracy),
      pct(r.robustAccuracy),
      pct(r.attackSuccessRate),
    ]);
  }
  const charts = await chartMarks(page);
  assert.equal(charts.length, 1);
  assert.ok(charts[0].w > 300 && charts[0].marks >= 2, JSON.stringify(charts));
  // 3 points (ε = 0 from the clean accuracy, 2/255, 8/255) on one line.
  assert.equal(await page.$$eval('.chart svg .mark-symbol.role-mark path', (p) => p.length), 3);
  assert.equal(await page.textContent('[data-testid=progress-text]'), '5 / 5 shards');
  const report = await fetch(`${url}/api/campaigns/${status.id}/report`);
  assert.equal(report.status, 200);
  const html = await report.text();
  assert.match(html, /<svg/);
  assert.match(report.headers.get('content-security-policy') ?? '', /default-src 'none'; style-src 'unsafe-inline'/);
  await axe(page, 'campaign page');
  await shot(page, 'campaign', true);
  assert.deepEqual(problems, []);
  await page.close();
});

test('models view: every model with card, weights hash, metrics and campaigns; ONNX marked', { skip }, async () => {
  const { page, problems } = await open('/models');
  await page.waitForSelector('#models tbody tr');
  const rows = await page.$$eval('#models tbody tr', (trs) =>
    trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
  );
  const models = (await (await fetch(`${url}/api/models`)).json()) as Array<{
    name: string;
    sha256: string | null;
    metrics: { test?: { accuracy: number } } | null;
    campaigns: string[];
  }>;
  assert.equal(rows.length, models.length);
  assert.ok(rows.length >= 6, `models: ${rows.length}`);
  for (const [i, m] of models.entries()) {
    assert.ok(rows[i][0].startsWith(m.name), `${rows[i][0]} / ${m.name}`);
    assert.equal(rows[i][3], pct(m.metrics?.test?.accuracy ?? null));
    assert.equal(rows[i][4], m.sha256 ? `${m.sha256.slice(0, 16)}…` : 'not recorded');
    assert.equal(rows[i][5], String(m.campaigns.length));
  }
  assert.match(rows.find((r) => r[0].startsWith('pneumonia-tiny-onnx'))![0], /ONNX/);
  assert.equal(await page.$$eval('.card', (c) => c.length), models.length);
  await axe(page, 'models');
  await shot(page, 'models');
  assert.deepEqual(problems, []);
  await page.close();
});

test("scorecard: the detector's AUC and its ROC curve from the stored scores; no defences", { skip }, async () => {
  const { page, problems } = await open(`/scorecard/${status.id}`);
  await page.waitForSelector('#detection tbody tr');
  const d = status.detection[0];
  const cells = await page.$$eval('#detection tbody tr td', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(cells, [d.model, d.detector, d.attack, d.epsText, d.auc!.toFixed(3), d.tprAt5Fpr!.toFixed(3)]);
  const charts = await chartMarks(page);
  assert.equal(charts.length, 2, 'AUC vs ε and ROC');
  for (const c of charts) assert.ok(c.w > 300 && c.marks >= 1, JSON.stringify(c));
  assert.match((await page.textContent('#no-defences')) ?? '', /none in this campaign/);
  await axe(page, 'scorecard');
  await shot(page, 'scorecard', true);
  assert.deepEqual(problems, []);
  await page.close();
});

test('gallery: images decode, filters and pages follow the store', { skip }, async () => {
  const { page, problems } = await open(`/gallery/${status.id}`);
  await page.waitForSelector('ul.gallery li.sample');
  assert.match((await page.textContent('#sample-count')) ?? '', /^32 samples, showing 1–24/);
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll('ul.gallery img')].length === 72 &&
      [...document.querySelectorAll('ul.gallery img')].every((i) => (i as HTMLImageElement).complete),
  );
  const imgs = await page.$$eval('ul.gallery img', (els) => els.map((e) => (e as HTMLImageElement).naturalWidth));
  assert.ok(
    imgs.every((w) => w === 28),
    `decoded: ${imgs.join(',')}`,
  );
  await axe(page, 'gallery');
  // Filter: flipped at 8/255 — the count is the store's.
  const flipped = await campaignSamples(store, status.id, { flipped: true, eps: 8 / 255 });
  await page.selectOption('select >> nth=0', 'true');
  await page.waitForFunction(
    () =>
      /showing/.test(document.querySelector('#sample-count')?.textContent ?? '') && location.search.includes('flipped'),
  );
  await page.selectOption('select >> nth=2', String(8 / 255));
  await page.waitForFunction(
    (n) => (document.querySelector('#sample-count')?.textContent ?? '').startsWith(`${n} samples`),
    flipped.total,
  );
  const after = await page.$$eval('ul.gallery li.sample', (li) => li.map((l) => l.getAttribute('data-key')));
  assert.deepEqual(
    after,
    flipped.rows.slice(0, 24).map((r) => r.sampleKey),
  );
  assert.ok(await page.$$eval('ul.gallery li.sample', (li) => li.every((l) => l.classList.contains('flipped'))));
  await page.waitForFunction(() =>
    [...document.querySelectorAll('ul.gallery img')].every(
      (i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0,
    ),
  );
  await shot(page, 'gallery');
  // Pages: the second page of all samples holds the last 8.
  await page.goto(`${url}/gallery/${status.id}`, { waitUntil: 'networkidle' });
  await page.click('text=Next');
  await page.waitForFunction(() =>
    (document.querySelector('#sample-count')?.textContent ?? '').includes('showing 25–32'),
  );
  assert.equal(await page.$$eval('ul.gallery li.sample', (li) => li.length), 8);
  assert.deepEqual(problems, []);
  await page.close();
});

test('live progress: the campaign page follows a campaign running in this process', { skip }, async () => {
  const spec = validateCampaignSpec({
    name: 'dashboard-live',
    seed: 1,
    models: [{ ref: 'default' }],
    data: { dataset: 'pneumoniamnist', split: 'test', limit: 8 },
    attacks: [{ attack: 'pgd', eps: ['4/255'], steps: 2 }],
    shardSize: 2,
  });
  const plan = await prepareCampaign(spec);
  await registerCampaign(store, plan);
  const { page, problems } = await open(`/campaigns/${plan.id}`, 'load'); // the event stream stays open: never idle
  await page.waitForSelector('[data-testid=progress-text]');
  assert.equal(await page.textContent('[data-testid=progress-text]'), '0 / 4 shards');
  await page.evaluate(() => {
    const seen: string[] = [];
    (window as unknown as { seen: string[] }).seen = seen;
    const el = document.querySelector('[data-testid=progress-text]')!;
    new MutationObserver(() => {
      if (seen[seen.length - 1] !== el.textContent) seen.push(el.textContent ?? '');
    }).observe(el, { characterData: true, childList: true, subtree: true });
  });
  // One job at a time (the run resumes where it stopped): a job's tensor work holds this process's event loop, so
  // between jobs the dashboard's poll gets its turn — as it always does when the campaign runs in another process.
  for (let k = 1; k <= 4; k++) {
    await runCampaignLocal(spec, { store, plan, maxJobs: 1 });
    await page.waitForFunction(
      (n) => document.querySelector('[data-testid=progress-text]')?.textContent === `${n} / 4 shards`,
      k,
      { timeout: 60000 },
    );
  }
  await page.waitForSelector('.badge-done');
  const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
  assert.deepEqual(
    seen.filter((s) => /^[1-4] \/ 4/.test(s)),
    ['1 / 4 shards', '2 / 4 shards', '3 / 4 shards', '4 / 4 shards'],
    `progress seen: ${seen.join(' → ')}`,
  );
  assert.equal(seen[seen.length - 1], '4 / 4 shards');
  assert.ok(await page.$('#results tbody tr'), 'results table after the run');
  assert.deepEqual(problems, []);
  await page.close();
});

test('security: read-only, strict CSP, API keys of the auditor role beyond loopback', { skip }, async () => {
  const post = await fetch(`${url}/api/campaigns`, {
    method: 'POST',
    body: '{}',
    headers: { 'content-type': 'application/json' },
  });
  assert.equal(post.status, 405);
  const r = await fetch(`${url}/`);
  const csp = r.headers.get('content-security-policy') ?? '';
  assert.match(csp, /script-src 'self'(;|$)/);
  assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
  assert.match(await r.text(), /<script type="module" src="\/assets\/app\.js"><\/script>/);
  await assert.rejects(createDashboard({ store, host: '0.0.0.0' }), /reachable from other machines/);
  const keys = path.join(dir, 'keys.json');
  const auditor = addKey(keys, 'auditor').apiKey;
  const clinician = addKey(keys, 'clinician').apiKey;
  const open0 = await createDashboard({ store, host: '0.0.0.0', keysFile: keys });
  try {
    const get = (u: string, key?: string) =>
      open0.app.inject({ method: 'GET', url: u, headers: key ? { authorization: `Bearer ${key}` } : {} });
    assert.equal((await get('/')).statusCode, 200, 'the page shell holds no data');
    assert.equal((await get('/assets/app.js')).statusCode, 200);
    assert.equal((await get('/api/campaigns')).statusCode, 401);
    assert.equal((await get('/api/campaigns', 'msk_00000000_' + 'x'.repeat(43))).statusCode, 401);
    assert.equal((await get('/api/campaigns', clinician)).statusCode, 403);
    const ok = await get('/api/campaigns', auditor);
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.json().length, 2);
    assert.equal((await get(`/api/campaigns/${status.id}/samples/x/clean.png`)).statusCode, 401);
  } finally {
    await open0.close();
  }
});
