/**
 * deepfeature_rf's cross-validated choice of features and classifier (issue #24 item 5). On the default model the
 * penultimate features cap any classifier near 0.94 AUC at PGD 8/255 while the first layers carry the perturbation,
 * so the detector now picks, by k-fold AUC on the fit pairs only, among Ma et al.'s penultimate forest, the forest on
 * every feature layer (Lee et al.'s ensemble, spatial means) and a ridge logistic regression on each layer alone.
 * Here, on real PneumoniaMNIST films with the fixture CNN (PGD 8/255 pairs fitted on train-split films, scored on
 * held-out test-split films): every candidate is scored and the best one kept, the choice detects the held-out
 * pairs, a save/load round trip scores identically, fixed `layers` + `classifier` skip the choice (the logistic
 * regression's adaptive view is its exact logit), and the ridge logistic regression reaches its optimum (zero
 * gradient) with a tensor view equal to its scores.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../src/engine/index.js';
import { createDetector, DETECTORS } from '../src/detectors/registry.js';
import { concat, layerFeatureRows, toRows } from '../src/detectors/common.js';
import { deepFeatureCandidates, type DeepFeatureRf } from '../src/detectors/deepfeature-rf.js';
import { RidgeLogistic } from '../src/detectors/ridge-logistic.js';
import { detectionMetrics } from '../src/eval/detection.js';
import { detectorFixture } from './detectors-fixture.js';

await initEngine({ threads: 1 });
const { fx, fit, held, fitData } = await detectorFixture(160, 120);

const heldAuc = async (det: { score: DeepFeatureRf['score'] }): Promise<number> =>
  detectionMetrics(await det.score(fx.model, held.clean, held.n), await det.score(fx.model, held.adversarial, held.n))
    .auc ?? 0;

test('deepfeature_rf: every candidate cross-validated on the fit pairs, the best kept; exact save/load', async () => {
  assert.ok(fit.n >= 40 && held.n >= 30, `pairs: fit ${fit.n}, held-out ${held.n}`);
  const det = createDetector('deepfeature_rf') as DeepFeatureRf;
  await det.fit(fx.model, fitData('deepfeature_rf'));
  const { layers, classifier, lambda, selection } = det.choice;
  assert.ok(selection, 'no selection recorded');
  assert.equal(selection.length, deepFeatureCandidates(fx.model.featureNames).length);
  const best = Math.max(...selection.map((s) => s.auc));
  const chosen = selection.find(
    (s) => s.layers.join() === layers.join() && s.classifier === classifier && s.lambda === lambda,
  );
  assert.ok(chosen, `chosen ${layers} ${classifier} not among the candidates`);
  assert.equal(chosen.auc, best);
  const auc = await heldAuc(det);
  console.log(
    `chosen ${layers.join('+')} ${classifier}${lambda ? ` λ=${lambda}` : ''}: CV AUC ${chosen.auc}, held-out AUC ${auc} ` +
      `(fit ${fit.n}, held-out ${held.n}); candidates ${selection.map((s) => `${s.layers.join('+')}/${s.classifier}${s.lambda ? `@${s.lambda}` : ''} ${s.auc}`).join(', ')}`,
  );
  assert.ok(auc >= 0.85, `held-out AUC ${auc}`);
  const back = DETECTORS.deepfeature_rf.load(JSON.parse(JSON.stringify(det.save())));
  assert.deepEqual(
    Array.from(await back.score(fx.model, held.adversarial, held.n)),
    Array.from(await det.score(fx.model, held.adversarial, held.n)),
  );
});

test('deepfeature_rf: fixed layers and classifier skip the choice', async () => {
  const det = createDetector('deepfeature_rf', {
    layers: ['block1'],
    classifier: 'logistic',
    lambda: 1e-3,
  }) as DeepFeatureRf;
  await det.fit(fx.model, fitData('deepfeature_rf'));
  assert.deepEqual(det.choice, { layers: ['block1'], classifier: 'logistic', lambda: 1e-3, selection: undefined });
  assert.ok((await heldAuc(det)) > 0.5);
  // the adaptive view of the logistic regression is its logit, exact, with a non-zero input gradient
  const info = await det.prepareAdaptive(fx.model, fitData('deepfeature_rf'));
  assert.equal(info.exact, true);
  const [h, w, c] = fx.model.inputShape;
  const x = concat(held.clean, held.adversarial);
  const real = await det.score(fx.model, x, 2 * held.n);
  const view = tf.tidy(() => det.scoreTensor(fx.model, tf.tensor4d(x, [2 * held.n, h, w, c]))).dataSync();
  for (let i = 0; i < real.length; i++) assert.ok(Math.abs(real[i] - view[i]) < 1e-3 * (1 + Math.abs(real[i])));
  const g = tf.tidy(() =>
    tf.grad((t: tf.Tensor) => det.scoreTensor(fx.model, t as tf.Tensor4D).sum())(tf.tensor4d(x, [2 * held.n, h, w, c])),
  );
  assert.ok((await g.abs().max().data())[0] > 0);
  g.dispose();
});

test('ridge logistic regression on real deep features: zero gradient at the fit, tensor view = scores', async () => {
  const f = await layerFeatureRows(fx.model, concat(fit.clean, fit.adversarial), 2 * fit.n, ['block1']);
  const rows = toRows(f.data, f.dim);
  const y = [...new Array<number>(fit.n).fill(0), ...new Array<number>(fit.n).fill(1)];
  const lambda = 1e-3;
  const lr = RidgeLogistic.fit(rows, y, lambda);
  // gradient of (1/n) Σ log(1 + e^{−s·t}) + λ‖w‖² in the standardised coordinates
  const t = lr.score(rows);
  const g = new Array<number>(f.dim + 1).fill(0);
  rows.forEach((r, i) => {
    const e = 1 / (1 + Math.exp(-t[i])) - y[i];
    for (let j = 0; j < f.dim; j++) g[j] += (e * (r[j] - lr.mean[j])) / lr.std[j] / rows.length;
    g[f.dim] += e / rows.length;
  });
  for (let j = 0; j < f.dim; j++) g[j] += 2 * lambda * lr.w[j];
  const gmax = Math.max(...g.map(Math.abs));
  console.log(
    `ridge logistic on block1 (${f.dim} features, ${rows.length} rows): max |gradient| ${gmax.toExponential(2)}`,
  );
  assert.ok(gmax < 1e-6, `gradient ${gmax}`);
  const v = tf.tidy(() => lr.logitTensor(tf.tensor2d(f.data, [rows.length, f.dim]))).dataSync();
  for (let i = 0; i < rows.length; i++) assert.ok(Math.abs(v[i] - t[i]) < 1e-3 * (1 + Math.abs(t[i])));
  assert.deepEqual(Array.from(RidgeLogistic.load(JSON.parse(JSON.stringify(lr.toJSON()))).score(rows)), Array.from(t));
});
