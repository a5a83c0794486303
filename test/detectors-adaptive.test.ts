/**
 * The adaptive attacker's view of every detector (issue #10; Carlini & Wagner 2017): on real
 * PneumoniaMNIST X-rays with the fixture CNN, after fit + prepareAdaptive, scoreTensor ranks clean and
 * PGD-8/255 images as score() does (Spearman ≥ 0.9; equal to 1e-3 where the view is exact), its
 * gradient is finite and non-zero, and one signed descent step of 1/255 along it lowers the real
 * score() of the adversarial images. Also: scoreTensor before prepareAdaptive is refused, and the
 * forest's soft surrogate can be prepared after load without the fit data.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../src/engine/index.js';
import { createDetector, DETECTOR_NAMES, DETECTORS } from '../src/detectors/registry.js';
import { concat } from '../src/detectors/common.js';
import { takeRows } from '../src/attacks/project.js';
import { spearman } from '../src/detectors/deepfeature-rf-adaptive.js';
import { MedshieldError } from '../src/errors.js';
import { detectorFixture } from './detectors-fixture.js';

await initEngine({ threads: 1 });
const { fx, fit, held, fitData } = await detectorFixture(120, 60);
const [h, w, c] = fx.model.inputShape;
const d = h * w * c;
const all = concat(held.clean, held.adversarial);
const nAll = 2 * held.n;

const mean = (v: ArrayLike<number>): number => Array.from(v).reduce((s, x) => s + x, 0) / v.length;

test('enough successful PGD examples at 8/255', () => {
  assert.ok(fit.n >= 30 && held.n >= 20, `fit ${fit.n}, held-out ${held.n}`);
});

for (const name of DETECTOR_NAMES) {
  test(`${name}: scoreTensor agrees with score(), its gradient is finite and non-zero, and a descent step lowers the real score`, async () => {
    const det = createDetector(name, name === 'magnet' ? { minSteps: 200, epochs: 5 } : undefined);
    await det.fit(fx.model, fitData(name));
    assert.throws(
      () => tf.tidy(() => det.scoreTensor!(fx.model, tf.zeros([1, h, w, c]) as tf.Tensor4D)),
      (e: unknown) => e instanceof MedshieldError && /prepareAdaptive/.test(e.message),
    );
    const info = await det.prepareAdaptive!(fx.model, fitData(name));
    assert.ok(info.note.length > 0);

    // (a) same ranking as score() (and the same values where the view is exact)
    const real = await det.score(fx.model, all, nAll);
    const view = tf.tidy(() => det.scoreTensor!(fx.model, tf.tensor4d(all, [nAll, h, w, c]))).dataSync();
    assert.equal(view.length, nAll);
    const rho = spearman(real, view);
    let maxDiff = 0;
    for (let i = 0; i < nAll; i++) maxDiff = Math.max(maxDiff, Math.abs(real[i] - view[i]));
    console.log(
      `${name}: exact ${info.exact}, Spearman ${rho.toFixed(4)}, max |diff| ${maxDiff.toExponential(2)} (n = ${nAll})`,
    );
    assert.ok(rho >= 0.9, `${name}: Spearman ${rho} < 0.9`);
    if (info.exact) assert.ok(maxDiff < 1e-3, `${name}: exact view differs from score() by ${maxDiff}`);

    // (b) the gradient of the summed view w.r.t. the images: finite, non-zero for most images
    const gAll = tf.tidy(() =>
      tf.grad((x: tf.Tensor) => det.scoreTensor!(fx.model, x as tf.Tensor4D).sum())(tf.tensor4d(all, [nAll, h, w, c])),
    );
    const gv = gAll.dataSync() as Float32Array;
    gAll.dispose();
    assert.ok(gv.every(Number.isFinite), `${name}: non-finite gradient`);
    let nonzero = 0;
    for (let i = 0; i < nAll; i++) if (gv.subarray(i * d, (i + 1) * d).some((v) => v !== 0)) nonzero++;
    assert.ok(nonzero >= 0.8 * nAll, `${name}: gradient zero for ${nAll - nonzero} of ${nAll} images`);

    // (c) one signed step of 1/255 down the gradient lowers the mean real score of the adversarial images
    const adv = all.subarray(held.n * d);
    const stepped = Float32Array.from(adv, (v, j) => Math.min(1, Math.max(0, v - Math.sign(gv[held.n * d + j]) / 255)));
    const before = mean(await det.score(fx.model, adv, held.n));
    const after = mean(await det.score(fx.model, stepped, held.n));
    console.log(
      `${name}: mean score of the adversarial images ${before.toFixed(4)} → ${after.toFixed(4)} after one 1/255 step`,
    );
    assert.ok(after < before, `${name}: descent step did not lower the score (${before} → ${after})`);
  });
}

test('deepfeature_rf (forest on every feature layer): after save/load, prepareAdaptive works without data (uncalibrated soft forest) and still ranks like the forest', async () => {
  const det = createDetector('deepfeature_rf', { classifier: 'forest', layers: fx.model.featureNames });
  await det.fit(fx.model, fitData('deepfeature_rf'));
  const back = DETECTORS.deepfeature_rf.load(JSON.parse(JSON.stringify(det.save())));
  const info = await back.prepareAdaptive!(fx.model);
  assert.equal(info.exact, false);
  assert.match(info.note, /no data/);
  const v = tf.tidy(() => back.scoreTensor!(fx.model, tf.tensor4d(all, [nAll, h, w, c]))).dataSync();
  assert.ok(Array.from(v).every((s) => s >= 0 && s <= 1));
  const rho = spearman(await back.score(fx.model, all, nAll), v);
  console.log(`deepfeature_rf after load, no data: Spearman ${rho.toFixed(4)}`);
  assert.ok(rho >= 0.9, `Spearman ${rho}`);
  await assert.rejects(
    back.prepareAdaptive!(fx.model, { ...fitData('deepfeature_rf'), adversarial: new Float32Array(0) }),
    (e: unknown) => e instanceof MedshieldError && e.code === 'BAD_INPUT',
  );
});

test('a perImage detector scores an image alone as in its batch, up to float rounding (a judge may score the fooled only)', async () => {
  const subset = [0, 3, 4, 9, nAll - 1];
  for (const name of DETECTOR_NAMES) {
    const det = createDetector(name, name === 'magnet' ? { minSteps: 200, epochs: 5 } : undefined);
    if (!det.perImage) continue;
    await det.fit(fx.model, fitData(name));
    const full = await det.score(fx.model, all, nAll);
    const part = await det.score(fx.model, takeRows(all, d, subset), subset.length);
    // the same up to the float rounding of batched kernels (a matrix product's blocking follows the batch size)
    subset.forEach((i, j) =>
      assert.ok(Math.abs(part[j]! - full[i]!) <= 1e-4 * Math.max(1, Math.abs(full[i]!)), `${name} image ${i}`),
    );
  }
  assert.equal(createDetector('kd_bu').perImage, undefined, "KD+BU's dropout masks follow the batch position");
});
