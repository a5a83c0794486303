/**
 * The dashboard's gateway view (issue 23, view 5; acceptance 1, gateway part) in Debian's Chromium: a running
 * gateway (`gateway init` layout, its SQLite audit log) serves a signed PneumoniaMNIST film and refuses an
 * unsigned one and a tampered one (422); the dashboard started with its configuration shows the refusals by
 * reason (unsigned, invalid signature), the served request, the audit chain intact and the latest records —
 * without the image hashes or SOP Instance UIDs the audit log holds. The dashboard reads the running gateway's
 * log through its audit API with an auditor key (MEDSHIELD_GATEWAY_URL / MEDSHIELD_GATEWAY_KEY).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium, type Page } from 'playwright-core';
import { AxeBuilder } from '@axe-core/playwright';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { addKey, createGateway, loadGatewayConfig } from '../src/gateway/index.js';
import { findElement, PIXEL_DATA } from '../src/provenance/dicom-parse.js';
import { parseDicom } from '../src/provenance/index.js';
import { createDashboard } from '../src/dashboard/server.js';
import { makeGatewayDir, tinyModelDir, testImages, signedDicom, infer } from '../bench/gateway/fixtures.js';
import { writeDicom } from '../bench/gateway/dicom-writer.js';
import { ROOT } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const IMG = path.join(ROOT, 'docs', 'img');

test('gateway view: refusals by reason after an unsigned request, audit chain intact, no image identifiers', {
  skip: existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian package chromium)`,
}, async () => {
  if (!existsSync(path.join(ROOT, 'dist', 'dashboard-ui', 'index.html'))) {
    const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'build-dashboard.mjs')], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, MEDSHIELD_QUIET: '1' },
    });
    assert.equal(b.status, 0, b.stderr);
  }
  await initEngine({ backend: 'cpu' });
  const model = await loadModel(await tinyModelDir());
  const g = await makeGatewayDir('default', (c) => {
    c.logging = { level: 'silent' };
  });
  const config = loadGatewayConfig(g.config);
  const gw = await createGateway(config, { model });
  const base = await gw.listen(0, '127.0.0.1');
  // A running gateway owns its SQLite log: the dashboard reads it through GET /v1/audit with an auditor key.
  process.env.MEDSHIELD_GATEWAY_URL = base;
  process.env.MEDSHIELD_GATEWAY_KEY = addKey(g.keysFile, 'auditor', 'dashboard').apiKey;
  const dash = await createDashboard({ gatewayConfig: config, gatewayConfigPath: g.config, host: '127.0.0.1' });
  const url = await dash.listen(0);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run'],
  });
  try {
    const [im] = await testImages(1);
    const ok = await infer(base, g.apiKey, await signedDicom(g, im.pixels));
    assert.equal(ok.status, 200, ok.body);
    await gw.ctx.audit.flush();
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${url}/gateway`);
    await page.waitForSelector('#refusals tbody tr[data-reason="unsigned"]', { timeout: 60_000 });
    const count = (reason: string) =>
      page.textContent(`#refusals tr[data-reason="${reason}"] td.num`).then((t) => Number(t));
    assert.equal(await count('unsigned'), 0, 'no refusal before the unsigned request');
    assert.match((await page.textContent('#audit-status')) ?? '', /Audit chain intact/);

    // An unsigned film and a tampered one (one pixel byte changed after signing): both refused (422).
    const unsigned = await infer(base, g.apiKey, writeDicom({ rows: 28, cols: 28, pixels: im.pixels }));
    assert.equal(unsigned.status, 422, unsigned.body);
    const signed = await signedDicom(g, im.pixels);
    const tampered = Buffer.from(signed);
    tampered[findElement(parseDicom(signed).dataset, PIXEL_DATA)!.valueOffset + 100] ^= 0x01;
    const bad = await infer(base, g.apiKey, tampered);
    assert.equal(bad.status, 422, bad.body);
    await gw.ctx.audit.flush();
    // The view refreshes itself (every 3 s): the refusal appears without a reload.
    await page.waitForFunction(
      () => Number(document.querySelector('#refusals tr[data-reason="unsigned"] td.num')?.textContent) >= 1,
      null,
      { timeout: 60_000 },
    );
    assert.equal(await count('unsigned'), 1);
    assert.equal(await count('invalid-signature'), 1);
    assert.ok(
      await page.$('#audit-latest tr[data-refusal="unsigned"]'),
      'the unsigned request is among the latest records',
    );
    assert.match((await page.textContent('#traffic')) ?? '', /Requests\s*3/);
    assert.match((await page.textContent('#audit-status')) ?? '', /Audit chain intact: \d+ records/);
    // No image hash or SOP Instance UID from the audit log reaches the page or its API.
    const recs = await gw.ctx.audit.store.page(0, 10000);
    const secrets = recs.flatMap((r) => [r.imageSha256, r.sopInstanceUid]).filter((x): x is string => !!x);
    assert.ok(secrets.length >= 2, 'the audit log does hold image hashes / UIDs');
    const html = await page.content();
    const api = await (await fetch(`${url}/api/gateway`)).text();
    for (const s of secrets) {
      assert.ok(!html.includes(s), `page leaks ${s}`);
      assert.ok(!api.includes(s), `API leaks ${s}`);
    }
    await axe(page, '/gateway');
    mkdirSync(IMG, { recursive: true });
    await page.screenshot({ path: path.join(IMG, 'dashboard-gateway.png') });
  } finally {
    await browser.close();
    await dash.close();
    await gw.close();
    delete process.env.MEDSHIELD_GATEWAY_URL;
    delete process.env.MEDSHIELD_GATEWAY_KEY;
  }
  // Without --gateway-config the API says so (404, one line).
  const plain = await createDashboard({ host: '127.0.0.1' });
  try {
    const r = await plain.app.inject({ url: '/api/gateway' });
    assert.equal(r.statusCode, 404);
    assert.match(r.json().message, /--gateway-config/);
  } finally {
    await plain.close();
  }
});

/** axe: no serious or critical accessibility violation (issue 23, acceptance 3). */
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
