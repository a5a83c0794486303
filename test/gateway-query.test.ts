/**
 * Query-attack detection through the HTTP endpoint with medshield's OWN attacks (src/attacks: square,
 * simba, hsj) driven by the HTTP target with PNG requests (`--target-url … --target-format png`), one API
 * key per attacker, against a gateway on the fixture CNN (trained on PneumoniaMNIST) that accepts unsigned
 * PNG and answers probabilities. Square (L∞), SimBA and HopSkipJump (decision-only) callers are flagged
 * within 200 queries (read from the audit log's SecurityAlert records); with action `block` the attacker
 * is refused (429, audited) and the attack stops; replayed benign test images from two callers are never
 * flagged. The full figures come from `node dist/bench/gateway/query-eval.js`.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { MedshieldError } from '../src/errors.js';
import { createGateway, loadGatewayConfig, addKey, type Gateway } from '../src/gateway/index.js';
import { makeGatewayDir, testImages, type GatewayDir } from '../bench/gateway/fixtures.js';
import { attackGateway, benignReplay, detectionFromAudit, type TargetMeta } from '../bench/gateway/query-attacks.js';
import { pneumonia, type Fixture } from './attacks-fixture.js';

let fx: Fixture;
let meta: TargetMeta;
async function start(action: 'flag' | 'block'): Promise<{ g: GatewayDir; gw: Gateway; base: string }> {
  const g = await makeGatewayDir(fx.dir, (c) => {
    c.logging = { level: 'silent' };
    c.signature.required = false;
    c.inputs.contentTypes = ['application/dicom', 'image/png'];
    c.output = { mode: 'probs', decimals: 4 };
    c.rateLimit = { perKey: { max: 100000, windowMs: 60000 }, perIp: { max: 100000, windowMs: 60000 } };
    c.queryDetection = { enabled: true, action, blockSeconds: 600 };
  });
  const gw = await createGateway(loadGatewayConfig(g.config), { model: fx.model });
  return { g, gw, base: await gw.listen(0, '127.0.0.1') };
}

/** A test image the fixture classifies correctly (HWC in [0,1]) and its label. */
async function victim(offset: number): Promise<{ x: Float32Array; label: number }> {
  for (const im of await testImages(40, offset)) {
    const x = Float32Array.from(im.pixels, (v) => v / 255);
    const p = await fx.model.predictProbs(x, 1);
    if ((p[1] > p[0] ? 1 : 0) === im.label) return { x, label: im.label };
  }
  throw new Error('no correctly classified test image');
}

let s: Awaited<ReturnType<typeof start>>;
before(async () => {
  await initEngine({ threads: 1 });
  fx = await pneumonia();
  meta = { inputShape: fx.model.inputShape, classes: fx.model.classes, task: fx.model.task };
  s = await start('flag');
});
after(async () => {
  await s?.gw.close();
});

test('benign replay of 200 test images from two callers: no request flagged', async () => {
  const imgs = (await testImages(200)).map((i) => i.pixels);
  for (let c = 0; c < 2; c++) {
    const key = addKey(s.g.keysFile, 'clinician', `benign ${c}`).apiKey;
    const r = await benignReplay(s.base, key, imgs.slice(c * 100, (c + 1) * 100));
    assert.equal(r.flagged, 0, `caller ${c}: first flag at request ${r.firstFlagAt}`);
  }
});

test("medshield's Square, SimBA and HopSkipJump through the HTTP target are flagged within 200 queries, and the detection is audited", async () => {
  const v = await victim(300);
  // ε small enough that Square and SimBA do not succeed (and stop) before the detector's 10-query window.
  for (const [attack, eps] of [
    ['square', 2 / 255],
    ['simba', 2 / 255],
    ['hsj', 1],
  ] as const) {
    const k = addKey(s.g.keysFile, 'clinician', attack);
    const r = await attackGateway({
      base: s.base,
      apiKey: k.apiKey,
      attack,
      x: v.x,
      label: v.label,
      meta,
      eps,
      budget: 200,
      seed: 1,
    });
    assert.ok(r.queries > 0 && r.queries <= 200, `${attack}: ${r.queries} queries`);
    const at = await detectionFromAudit(s.gw.ctx.audit, k.id);
    assert.ok(at !== null && at <= 200, `${attack}: detected at ${at} of ${r.queries} queries`);
  }
  const alerts = (await s.gw.ctx.audit.store.page(0, 100000)).filter((r) => r.route === 'query-detector');
  assert.equal(alerts.length, 3);
  for (const a of alerts) {
    assert.equal(a.event, 'SecurityAlert');
    assert.match(a.reason!, /query attack suspected after \d+ queries/);
  }
});

test("action 'block': the attacker is refused with 429 once detected and the attack stops", async () => {
  const b = await start('block');
  try {
    const v = await victim(340);
    const k = addKey(b.g.keysFile, 'clinician', 'blocked');
    await assert.rejects(
      attackGateway({
        base: b.base,
        apiKey: k.apiKey,
        attack: 'square',
        x: v.x,
        label: v.label,
        meta,
        eps: 2 / 255,
        budget: 200,
        seed: 2,
      }),
      (e: unknown) =>
        e instanceof MedshieldError && /HTTP 429/.test(e.message) && /query attack suspected/.test(e.message),
    );
    const at = await detectionFromAudit(b.gw.ctx.audit, k.id);
    assert.ok(at !== null && at <= 200, `blocked at ${at}`);
    const refused = (await b.gw.ctx.audit.store.page(0, 100000)).filter((x) => x.status === 429);
    assert.ok(
      refused.length >= 1 &&
        refused.every((x) => x.event === 'SecurityAlert' && x.flags === 'query-attack-suspected' && x.userId === k.id),
    );
  } finally {
    await b.gw.close();
  }
});
