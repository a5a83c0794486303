/**
 * Gateway input detectors and defences (config `detectors`, `defences`) on a real server on 127.0.0.1 with
 * the fixture CNN trained on PneumoniaMNIST: a feature-squeezing detector (Xu et al. 2018) fitted on PGD
 * pairs and saved with saveDetector, thresholded at 5 % false positives on clean test images. A clean
 * image is answered; a PGD-8/255 image it scores above threshold is refused with 422 naming the detector
 * (audited, no prediction); with action flag the answer carries {detector, score}; a detector fitted on
 * another model (the surrogate) stops start-up with one line (in-process and `serve`, exit 2); and
 * `defences: ['jpeg:q=75']` serves through the JPEG-defended model without changing clean labels; concurrent requests'
 * squeeze scores are computed in one micro-batched call and equal the one-at-a-time scores.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { selectImages } from '../src/data/images.js';
import { adversarialPairs, thresholdAt5Fpr } from '../src/eval/detection.js';
import { getAttack } from '../src/attacks/registry.js';
import { createDetector, saveDetector } from '../src/detectors/registry.js';
import { MedshieldError } from '../src/errors.js';
import { createGateway, loadGatewayConfig, validateGatewayConfig, type Gateway } from '../src/gateway/index.js';
import { makeGatewayDir, pngBytes, infer, request } from '../bench/gateway/fixtures.js';
import { pneumonia, surrogate, type Fixture } from './attacks-fixture.js';
import { cliAsync, isCleanError } from './helpers.js';

const D = 28 * 28;
let fx: Fixture;
let detDir: string;
let otherDir: string;
let threshold: number;
const cleanPx: Uint8Array[] = [];
let advPx: Uint8Array;
const open: Gateway[] = [];

const toU8 = (x: Float32Array): Uint8Array => Uint8Array.from(x, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
const fromU8 = (u: Uint8Array): Float32Array => Float32Array.from(u, (v) => v / 255);

/** A gateway on the fixture model serving PNG (no signature policy, no query detection: detectors only). */
async function start(patch: (c: Record<string, any>) => void): Promise<{ gw: Gateway; base: string; key: string }> {
  const g = await makeGatewayDir(fx.dir, (c) => {
    c.logging = { level: 'silent' };
    c.signature = { required: false, trustedCas: [] };
    c.inputs = { contentTypes: ['image/png'] };
    c.queryDetection = { enabled: false };
    c.output = { mode: 'probs', decimals: 6 };
    patch(c);
  });
  const gw = await createGateway(loadGatewayConfig(g.config), { model: fx.model });
  open.push(gw);
  return { gw, base: await gw.listen(0, '127.0.0.1'), key: g.apiKey };
}

before(async () => {
  await initEngine({ threads: 1 });
  fx = await pneumonia();
  const other = await surrogate();
  const pgd = getAttack('pgd');
  const fit = await adversarialPairs(fx.model, selectImages(fx.data.splits.train, 60, 3), pgd, 8 / 255, 0);
  assert.ok(fit.n >= 10, `successful PGD pairs to fit on: ${fit.n}`);
  const det = createDetector('squeeze');
  await det.fit(fx.model, {
    clean: fit.clean,
    labels: fit.labels,
    adversarial: fit.adversarial,
    advLabels: fit.labels,
    seed: 0,
  });
  detDir = mkdtempSync(path.join(os.tmpdir(), 'ms-gw-det-'));
  saveDetector(det, detDir);
  // 5 %-FPR threshold on clean test images, as `detect --json` prints it (scored as the gateway sees them: 8-bit).
  const clean = selectImages(fx.data.splits.test, 100, 5);
  const cleanU8 = toU8(clean.x);
  threshold = thresholdAt5Fpr(await det.score(fx.model, fromU8(cleanU8), clean.n));
  // Clean images the detector clears and the model classifies confidently; a PGD image (8-bit) it scores above
  // threshold.
  const cs = await det.score(fx.model, fromU8(cleanU8), clean.n);
  const probs = await fx.model.predictProbs(fromU8(cleanU8), clean.n);
  for (let i = 0; i < clean.n && cleanPx.length < 5; i++) {
    if (cs[i] <= threshold && Math.max(probs[2 * i], probs[2 * i + 1]) > 0.9)
      cleanPx.push(cleanU8.slice(i * D, (i + 1) * D));
  }
  assert.equal(cleanPx.length, 5, 'enough confident clean images under the threshold');
  const held = await adversarialPairs(fx.model, selectImages(fx.data.splits.test, 40, 6), pgd, 8 / 255, 1);
  const advU8 = toU8(held.adversarial);
  const as = await det.score(fx.model, fromU8(advU8), held.n);
  const best = as.indexOf(Math.max(...as));
  assert.ok(as[best] > threshold, `some PGD-8/255 image scores above the threshold (${as[best]} vs ${threshold})`);
  advPx = advU8.slice(best * D, (best + 1) * D);
  // The same detector fitted on the surrogate model.
  const odet = createDetector('squeeze');
  await odet.fit(other.model, {
    clean: fit.clean,
    labels: fit.labels,
    adversarial: fit.adversarial,
    advLabels: fit.labels,
    seed: 0,
  });
  otherDir = mkdtempSync(path.join(os.tmpdir(), 'ms-gw-det-other-'));
  saveDetector(odet, otherDir);
});
after(async () => {
  for (const gw of open) await gw.close();
});

test('action reject: clean image answered; a PGD-8/255 image above threshold → 422 naming the detector, audited, no prediction', async () => {
  const { gw, base, key } = await start((c) => {
    c.detectors = [{ dir: detDir, threshold, action: 'reject' }];
  });
  const ok = await infer(base, key, pngBytes(cleanPx[0]), 'image/png');
  assert.equal(ok.status, 200, ok.body);
  assert.equal(typeof ok.json.label, 'number');
  assert.deepEqual(ok.json.flags, []);
  const bad = await infer(base, key, pngBytes(advPx), 'image/png');
  assert.equal(bad.status, 422, bad.body);
  assert.match(bad.json.message, /detector 'squeeze' scored [\d.e-]+ > threshold/);
  assert.ok(!('label' in bad.json) && !('probabilities' in bad.json), 'no prediction');
  await gw.ctx.audit.flush();
  const recs = await gw.ctx.audit.store.page(0, 10000);
  const rOk = recs.find((r) => r.requestId === ok.json.requestId)!;
  assert.equal(rOk.event, 'DICOMInstancesAccessed');
  assert.match(rOk.reason!, /input detectors: squeeze=[\d.e-]+<=/);
  const rBad = recs.find((r) => r.requestId === bad.json.requestId)!;
  assert.equal(rBad.status, 422);
  assert.equal(rBad.event, 'SecurityAlert');
  assert.equal(rBad.decision, 'rejected:squeeze');
  assert.equal(rBad.flags, 'detector-reject:squeeze');
  assert.match(rBad.reason!, /squeeze=[\d.e-]+>[\d.e-]+:reject/);
  const m = await request(`${base}/metrics`);
  assert.match(m.body, /medshield_input_detector_total\{detector="squeeze",verdict="reject"\} 1/);
  assert.match(m.body, /medshield_input_detector_total\{detector="squeeze",verdict="clean"\} 1/);
});

test('action flag: the adversarial image is answered with flags [{detector, score}]', async () => {
  const { gw, base, key } = await start((c) => {
    c.detectors = [{ dir: detDir, threshold, action: 'flag' }];
  });
  const r = await infer(base, key, pngBytes(advPx), 'image/png');
  assert.equal(r.status, 200, r.body);
  assert.equal(typeof r.json.label, 'number');
  assert.equal(r.json.flags.length, 1);
  assert.equal(r.json.flags[0].detector, 'squeeze');
  assert.ok(r.json.flags[0].score > threshold, `${r.json.flags[0].score} > ${threshold}`);
  const c = await infer(base, key, pngBytes(cleanPx[1]), 'image/png');
  assert.deepEqual(c.json.flags, []);
  await gw.ctx.audit.flush();
  const rec = (await gw.ctx.audit.store.page(0, 10000)).find((x) => x.requestId === r.json.requestId)!;
  assert.equal(rec.flags, 'detector-flag:squeeze');
  assert.match(rec.decision!, /^\d+:/);
});

test('a detector fitted on another model, a missing detector dir or a bad defence spec stop start-up with one line', async () => {
  const g = await makeGatewayDir(fx.dir, (c) => {
    c.logging = { level: 'silent' };
    c.detectors = [{ dir: otherDir, threshold: 0.1, action: 'reject' }];
  });
  await assert.rejects(
    createGateway(loadGatewayConfig(g.config), { model: fx.model }),
    (e: unknown) =>
      e instanceof MedshieldError &&
      e.code === 'MISMATCH' &&
      /^gateway config: detectors\.0: detector in .* was fitted for model/.test(e.message) &&
      !e.message.includes('\n'),
  );
  const r = await cliAsync(['serve', '--config', g.config, '--port', '0'], { timeoutMs: 120_000 });
  assert.ok(isCleanError(r), `${r.code} ${r.stderr}`);
  assert.match(r.stderr, /detectors\.0: detector in .* was fitted for model/);
  const missing = await makeGatewayDir(fx.dir, (c) => {
    c.logging = { level: 'silent' };
    c.detectors = [{ dir: 'no-such-detector', threshold: 0.1 }];
  });
  const cfg = loadGatewayConfig(missing.config);
  assert.equal(cfg.detectors[0].dir, path.join(missing.dir, 'no-such-detector'), 'dir relative to the config file');
  assert.equal(cfg.detectors[0].action, 'flag', 'default action');
  await assert.rejects(
    createGateway(cfg, { model: fx.model }),
    (e: unknown) =>
      e instanceof MedshieldError && /^gateway config: detectors\.0: no saved detector at /.test(e.message),
  );
  assert.throws(
    () => validateGatewayConfig({ signature: { required: false }, defences: ['jpeg:q=500'] }),
    (e: Error) => /defences\.0 'jpeg:q=500': defence 'jpeg': q must be/.test(e.message) && !e.message.includes('\n'),
  );
  assert.throws(
    () =>
      validateGatewayConfig({
        signature: { required: false },
        detectors: [{ dir: 'x', threshold: 1, action: 'block' }],
      }),
    /detectors\.0\.action must be equal to one of the allowed values \(flag, reject\)/,
  );
});

test("defences: ['jpeg:q=75'] serves through the defended model and keeps clean labels", async () => {
  const plain = await start(() => undefined);
  const jpeg = await start((c) => {
    c.defences = ['jpeg:q=75'];
  });
  assert.equal(validateGatewayConfig({ signature: { required: false } }).defences.length, 0, 'default: no defences');
  let differ = 0;
  for (const px of cleanPx) {
    const a = await infer(plain.base, plain.key, pngBytes(px), 'image/png');
    const b = await infer(jpeg.base, jpeg.key, pngBytes(px), 'image/png');
    assert.equal(a.status, 200, a.body);
    assert.equal(b.status, 200, b.body);
    assert.equal(b.json.label, a.json.label, 'same label with the JPEG defence');
    if (a.json.confidence !== b.json.confidence) differ++;
  }
  assert.ok(differ > 0, 'the JPEG-defended model actually answered (probabilities differ)');
});

test('squeeze scores of concurrent requests are micro-batched and equal the one-at-a-time scores', async () => {
  const { loadInputDefences, screenInput } = await import('../src/gateway/input-defences.js');
  const inp = await loadInputDefences(
    { defences: [], detectors: [{ dir: detDir, threshold, action: 'flag' }] },
    fx.model,
  );
  assert.ok(inp.detectors[0].batcher, 'squeeze is batched');
  const xs = [...cleanPx, advPx].map(fromU8);
  const det = inp.detectors[0].detector;
  const one = await Promise.all(xs.map(async (x) => (await det.score(fx.model, x, 1))[0]));
  let calls = 0;
  const orig = det.score.bind(det);
  det.score = async (m, x, n) => {
    calls++;
    return orig(m, x, n);
  };
  const batched = await Promise.all(xs.map((x) => screenInput(inp, x)));
  assert.equal(calls, 1, 'one detector call for the concurrent requests');
  batched.forEach((v, i) =>
    assert.ok(
      Math.abs(v[0].score - one[i]) <= 1e-5 * Math.max(1, Math.abs(one[i])),
      `image ${i}: ${v[0].score} vs ${one[i]}`,
    ),
  );
  assert.deepEqual(
    batched.map((v) => v[0].triggered),
    one.map((s) => s > threshold),
  );
});
