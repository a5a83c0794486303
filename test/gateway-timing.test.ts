/**
 * The gateway's latency breakdown (issue 24 item 8): with `logging.serverTiming` each answer carries a
 * Server-Timing header with the time of every stage a signed DICOM went through — and the stages add up to no more
 * than the request's total; without it (the default) no stage times leave the server. The stage histogram is in
 * /metrics either way.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { createGateway, loadGatewayConfig, type Gateway } from '../src/gateway/index.js';
import { parseServerTiming } from '../src/gateway/timing.js';
import { makeGatewayDir, tinyModelDir, testImages, signedDicom, infer, request } from '../bench/gateway/fixtures.js';

const open: Gateway[] = [];
after(async () => {
  for (const g of open) await g.close();
});

async function start(serverTiming: boolean) {
  await initEngine({ backend: 'cpu' });
  const model = await loadModel(await tinyModelDir());
  const g = await makeGatewayDir('default', (c) => {
    c.logging = { level: 'silent', serverTiming };
  });
  const gw = await createGateway(loadGatewayConfig(g.config), { model });
  open.push(gw);
  const base = await gw.listen(0, '127.0.0.1');
  const body = await signedDicom(g, (await testImages(1))[0].pixels);
  return { g, base, body };
}

test('Server-Timing on: every stage of a verified request, summing to at most the total', async () => {
  const { g, base, body } = await start(true);
  const r = await infer(base, g.apiKey, body);
  assert.equal(r.status, 200, r.body);
  const t = parseServerTiming(r.headers['server-timing'] as string);
  for (const s of [
    'auth',
    'receive',
    'hash',
    'parse',
    'verify',
    'decode',
    'queue',
    'model',
    'answer',
    'audit',
    'total',
  ]) {
    assert.ok(t[s] !== undefined && t[s] >= 0, `stage ${s} in ${r.headers['server-timing']}`);
  }
  const sum = Object.entries(t)
    .filter(([k]) => k !== 'total')
    .reduce((a, [, v]) => a + v, 0);
  assert.ok(sum <= t.total + 0.5, `stages ${sum.toFixed(3)} ms ≤ total ${t.total} ms`);
  const m = await request(`${base}/metrics`);
  assert.match(m.body, /medshield_gateway_stage_seconds_count\{stage="verify"\} [1-9]/);
  // A refused (unsigned) image stops after verification: no model, queue or answer stage.
  const bad = Buffer.from(body);
  bad[bad.length - 1] ^= 0xff;
  const r2 = await infer(base, g.apiKey, bad);
  assert.equal(r2.status, 422);
  const t2 = parseServerTiming(r2.headers['server-timing'] as string);
  assert.equal(t2.model, undefined);
  assert.ok(t2.audit !== undefined);
});

test('Server-Timing off by default: no stage times leave the server', async () => {
  const { g, base, body } = await start(false);
  const r = await infer(base, g.apiKey, body);
  assert.equal(r.status, 200, r.body);
  assert.equal(r.headers['server-timing'], undefined);
});
