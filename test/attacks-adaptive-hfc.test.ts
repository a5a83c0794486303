/**
 * HFC (Yao et al., MICCAI 2021) on real PneumoniaMNIST chest X-rays with the fixture CNN, against the
 * Mahalanobis detector (Lee et al. 2018) fitted as in detectors.test.ts (160 training images: clean +
 * successful PGD-8/255), threshold at 5 % false positives on 100 held-out clean test images. On 40
 * correctly classified test images at ε = 8/255: HFC leaves more images fooled AND undetected than
 * plain PGD (scored by the same detector and threshold) and than the same loop without the feature
 * term (λ = 0); every output is in the ε ball and [0,1]; its images' features are closer (Mahalanobis
 * distance, every layer) to the target class's clean Gaussians than PGD's. Multi-class (RetinaMNIST):
 * the most likely wrong class is the target, a 2-component mixture per layer, outputs in the ball.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { selectImages } from '../src/data/images.js';
import { adversarialPairs } from '../src/eval/detection.js';
import { pgd } from '../src/attacks/algorithms/pgd.js';
import { withinBall } from '../src/attacks/project.js';
import { createDetector } from '../src/detectors/registry.js';
import { hfc, featureDistances } from '../src/attacks/adaptive/hfc.js';
import { fitClassGmm, type ClassGmm } from '../src/attacks/adaptive/gmm.js';
import type { Pipeline } from '../src/attacks/adaptive/types.js';
import { MedshieldError } from '../src/errors.js';
import type { DifferentiableModel } from '../src/models/model.js';
import { pneumonia, retina } from './attacks-fixture.js';

await initEngine({ threads: 1 });
const fx = await pneumonia();
const model = fx.model;
const EPS = 8 / 255;
const d = 28 * 28;

// the detector, fitted as in detectors.test.ts (train-split clean + successful PGD-8/255 examples)
const fit = await adversarialPairs(model, selectImages(fx.data.splits.train, 160, 3), pgd, EPS, 0);
const det = createDetector('mahalanobis');
await det.fit(model, {
  clean: fit.clean,
  labels: fit.labels,
  adversarial: fit.adversarial,
  advLabels: fit.labels,
  seed: 0,
});
// threshold at 5 % FPR on 100 held-out clean test images (flagged when score ≥ threshold)
const cal = selectImages(fx.data.splits.test, 100, 5);
const calScores = Array.from(await det.score(model, cal.x, cal.n)).sort((a, b) => b - a);
const threshold = calScores[Math.floor(0.05 * calScores.length)];

async function predicted(m: DifferentiableModel, x: Float32Array, n: number): Promise<Int32Array> {
  const k = m.classes.length;
  const p = await m.predictProbs(x, n);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + b]) b = j;
    out[i] = b;
  }
  return out;
}

/** Up to `want` correctly classified images of a seeded sample. */
async function correct(
  m: DifferentiableModel,
  split: Parameters<typeof selectImages>[0],
  size: number,
  want: number,
  seed: number,
): Promise<{ x: Float32Array; y: Int32Array; n: number }> {
  const pool = selectImages(split, size, seed);
  const dd = pool.x.length / pool.n;
  const pred = await predicted(m, pool.x, pool.n);
  const keep: number[] = [];
  for (let i = 0; i < pool.n && keep.length < want; i++) if (pred[i] === pool.labels[i]) keep.push(i);
  const x = new Float32Array(keep.length * dd);
  const y = new Int32Array(keep.length);
  keep.forEach((i, j) => {
    x.set(pool.x.subarray(i * dd, (i + 1) * dd), j * dd);
    y[j] = pool.labels[i];
  });
  return { x, y, n: keep.length };
}

const { x, y, n } = await correct(model, fx.data.splits.test, 60, 40, 11);
const pipeline: Pipeline = { model, deployed: model, detector: { detector: det, threshold } };
const reference = { x: fit.clean, y: fit.labels };

/** Fraction of the n images misclassified and scored below the threshold. */
async function fooledUndetected(xa: Float32Array): Promise<number> {
  const pred = await predicted(model, xa, n);
  const sc = await det.score(model, xa, n);
  let both = 0;
  for (let i = 0; i < n; i++) if (pred[i] !== y[i] && sc[i] < threshold) both++;
  return both / n;
}

const pgdRes = await pgd.run(model, x, y, { eps: EPS, seed: 0 });
const hfcRes = await hfc.run(pipeline, x, y, { eps: EPS, seed: 0, reference });
const flatRes = await hfc.run(pipeline, x, y, { eps: EPS, seed: 0, reference, lambda: 0 });
const pgdBoth = await fooledUndetected(pgdRes.xAdv);
const hfcBoth = await fooledUndetected(hfcRes.xAdv);
const flatBoth = await fooledUndetected(flatRes.xAdv);

test('HFC: more images fooled and undetected by the Mahalanobis detector than PGD and than λ = 0, at 8/255', (t) => {
  assert.ok(n >= 30, `only ${n} correctly classified images`);
  const msg =
    `n=${n}, threshold ${threshold.toFixed(3)}: fooled & ` +
    `undetected PGD ${pgdBoth}, HFC λ=0 ${flatBoth}, HFC ${hfcBoth}`;
  t.diagnostic(msg);
  assert.ok(hfcBoth > pgdBoth, msg);
  assert.ok(hfcBoth > flatBoth, msg);
  // the result's own bookkeeping agrees with the real pipeline
  assert.equal(hfcRes.success.reduce((s, v) => s + v, 0) / n, hfcBoth);
  assert.ok(hfcRes.detectorScores && hfcRes.detectorScores.length === n);
  for (let i = 0; i < n; i++)
    if (hfcRes.success[i]) assert.ok(hfcRes.fooled[i] === 1 && hfcRes.detectorScores![i] < threshold);
  assert.equal(hfcRes.queries.forward, 0);
  assert.ok(hfcRes.queries.gradient > 0);
});

test('HFC: every output inside the 8/255 L∞ ball and [0,1]', () => {
  assert.ok(withinBall(x, hfcRes.xAdv, d, 'linf', EPS));
  assert.ok(withinBall(x, flatRes.xAdv, d, 'linf', EPS));
});

test("HFC: features closer to the target class's clean Gaussians than PGD's, in every layer", async (t) => {
  const gmms = new Map<number, ClassGmm>();
  for (const c of [0, 1]) gmms.set(c, await fitClassGmm(model, reference, c));
  const targets = Array.from(y, (v) => 1 - v);
  const mean = (a: Float64Array) => a.reduce((s, v) => s + v, 0) / a.length;
  const dp = (await featureDistances(model, gmms, pgdRes.xAdv, targets)).map(mean);
  const dh = (await featureDistances(model, gmms, hfcRes.xAdv, targets)).map(mean);
  const msg =
    `mean Mahalanobis distance per layer (${model.featureNames.join(', ')}): PGD ` +
    `${dp.map((v) => v.toFixed(2)).join('/')}, HFC ${dh.map((v) => v.toFixed(2)).join('/')}`;
  t.diagnostic(msg);
  for (let l = 0; l < dp.length; l++) assert.ok(dh[l] < dp[l], msg);
  assert.ok(mean(Float64Array.from(dh)) < mean(Float64Array.from(dp)), msg);
});

test('HFC: applies only with a detector; bad options refused with one-line errors', async () => {
  assert.equal(hfc.applies(pipeline), true);
  assert.equal(hfc.applies({ model, deployed: model }), false);
  const bad = (e: unknown) => e instanceof MedshieldError && !e.message.includes('\n');
  const x2 = x.subarray(0, 2 * d);
  const y2 = y.subarray(0, 2);
  await assert.rejects(
    hfc.run(pipeline, x2, y2, { eps: EPS }),
    (e: unknown) => bad(e) && /reference/.test((e as Error).message),
  );
  await assert.rejects(
    hfc.run(pipeline, x2, y2, { eps: EPS, reference, norm: 'l1' }),
    (e: unknown) => bad(e) && /l1/.test((e as Error).message),
  );
  await assert.rejects(
    hfc.run(pipeline, x2, y2, { eps: EPS, reference: { x: fit.clean, y: new Int32Array(fit.n).fill(y2[0]) } }),
    (e: unknown) => bad(e) && /at least 2/.test((e as Error).message),
  );
  await assert.rejects(hfc.run(pipeline, x2, y2, { eps: EPS, reference, quantile: 2 }), bad);
});

test('HFC multi-class (RetinaMNIST, K = 2): targets the most likely wrong class, outputs in the ball, most images fooled', async (t) => {
  const rf = await retina();
  const m = rf.model;
  const dd = 28 * 28 * 3;
  const tr = selectImages(rf.data.splits.train, 600, 2);
  const imgs = await correct(m, rf.data.splits.test, 40, 10, 3);
  const p: Pipeline = { model: m, deployed: m };
  const r = await hfc.run(p, imgs.x, imgs.y, {
    eps: EPS,
    seed: 0,
    steps: 30,
    components: 2,
    reference: { x: tr.x, y: tr.labels },
  });
  assert.ok(withinBall(imgs.x, r.xAdv, dd, 'linf', EPS));
  assert.equal(r.detectorScores, undefined);
  const pred = await predicted(m, r.xAdv, imgs.n);
  let fooled = 0;
  for (let i = 0; i < imgs.n; i++) {
    assert.equal(r.fooled[i], pred[i] !== imgs.y[i] ? 1 : 0);
    fooled += r.fooled[i];
  }
  t.diagnostic(`RetinaMNIST: fooled ${fooled}/${imgs.n}`);
  assert.ok(fooled / imgs.n >= 0.5, `fooled ${fooled}/${imgs.n}`);
  assert.match(r.notes.join(' '), /most likely wrong class/);
});
