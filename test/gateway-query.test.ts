/**
 * Query-attack detection through the HTTP endpoint (PNG bodies, signature not required for this test):
 * Square (L∞, ε = 0.05), SimBA (pixel basis) and HopSkipJump (decision-only) callers are flagged within 200 queries, and with action
 * `block` the attacker is refused (429, audited); replayed benign PneumoniaMNIST test images from two
 * callers are never flagged. The full figures come from `node dist/bench/gateway/query-eval.js`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import type { Model } from '../src/models/model.js';
import { createGateway, loadGatewayConfig, addKey, type Gateway } from '../src/gateway/index.js';
import { makeGatewayDir, tinyModelDir, testImages, type GatewayDir } from '../bench/gateway/fixtures.js';
import { squareAttack, simbaAttack, hopSkipJump, benignReplay } from '../bench/gateway/query-attacks.js';

let model: Model;
async function start(action: 'flag' | 'block'): Promise<{ g: GatewayDir; gw: Gateway; base: string }> {
  const g = await makeGatewayDir('default', (c) => {
    c.logging = { level: 'silent' };
    c.signature.required = false;
    c.inputs.contentTypes = ['application/dicom', 'image/png'];
    c.output = { mode: 'top1', decimals: 4 };
    c.rateLimit = { perKey: { max: 100000, windowMs: 60000 }, perIp: { max: 100000, windowMs: 60000 } };
    c.queryDetection = { enabled: true, action, blockSeconds: 600 };
  });
  const gw = await createGateway(loadGatewayConfig(g.config), { model });
  return { g, gw, base: await gw.listen(0, '127.0.0.1') };
}

let s: Awaited<ReturnType<typeof start>>;
before(async () => {
  await initEngine({ backend: 'cpu' });
  model = await loadModel(await tinyModelDir());
  s = await start('flag');
});
after(async () => { await s?.gw.close(); });

test('benign replay of 200 test images from two callers: no request flagged', async () => {
  const imgs = (await testImages(200)).map((i) => i.pixels);
  for (let c = 0; c < 2; c++) {
    const key = addKey(s.g.keysFile, 'clinician', `benign ${c}`).apiKey;
    const r = await benignReplay(s.base, key, imgs.slice(c * 100, (c + 1) * 100));
    assert.equal(r.flagged, 0, `caller ${c}: first flag at request ${r.firstFlagAt}`);
  }
});

test('Square, SimBA and HopSkipJump callers are flagged within 200 queries, and the detection is audited', async () => {
  const [victim] = await testImages(1, 300);
  for (const [name, fn] of [['square', squareAttack], ['simba', simbaAttack]] as const) {
    const key = addKey(s.g.keysFile, 'clinician', name).apiKey;
    const r = await fn(s.base, key, victim.pixels, victim.label, { eps: 0.05, budget: 200, seed: 1, stopOnSuccess: false });
    assert.ok(r.detectedAt !== null && r.detectedAt <= 200, `${name}: detected at ${r.detectedAt} of ${r.queries}`);
  }
  const hsj = await hopSkipJump(s.base, addKey(s.g.keysFile, 'clinician', 'hsj').apiKey, victim.pixels, victim.label, { budget: 200, seed: 1 });
  assert.ok(hsj.detectedAt !== null && hsj.detectedAt <= 200, `hopskipjump: detected at ${hsj.detectedAt} of ${hsj.queries}`);
  await s.gw.ctx.audit.flush();
  const alerts = (await s.gw.ctx.audit.store.page(0, 100000)).filter((r) => r.route === 'query-detector');
  assert.equal(alerts.length, 3);
  for (const a of alerts) { assert.equal(a.event, 'SecurityAlert'); assert.match(a.reason!, /query attack suspected after \d+ queries/); }
});

test("action 'block': the attacker is refused with 429 once detected", async () => {
  const b = await start('block');
  try {
    const [victim] = await testImages(1, 301);
    const key = addKey(b.g.keysFile, 'clinician', 'blocked').apiKey;
    const r = await squareAttack(b.base, key, victim.pixels, victim.label, { eps: 0.05, budget: 200, seed: 2, stopOnSuccess: false });
    assert.ok(r.blockedAt !== null && r.blockedAt <= 200, `blocked at ${r.blockedAt}`);
    assert.equal(r.queries, r.blockedAt, 'the attack ends at the block');
    await b.gw.ctx.audit.flush();
    const refused = (await b.gw.ctx.audit.store.page(0, 100000)).filter((x) => x.status === 429);
    assert.ok(refused.length >= 1 && refused.every((x) => x.event === 'SecurityAlert' && x.flags === 'query-attack-suspected'));
  } finally { await b.gw.close(); }
});
