/**
 * Memory of the forward passes (src/models/inference.ts, issue 21): the inference walk and the training-mode walk
 * (`InferenceGraph.runTraining`, what `train` uses) free each activation after its last reader. Checked on the
 * shipped ResNet-18 (`models/default`) and real PneumoniaMNIST test images: the training walk gives exactly the
 * logits, weight gradients and batch-norm moving statistics of tfjs-layers' `net.apply(x, {training: true})`; the
 * bytes alive when the last layer runs are the live frontier, not every activation of the pass.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../src/engine/index.js';
import { loadDataset, batchImages } from '../src/data/dataset.js';
import { loadClassifier } from '../src/models/io.js';
import type { Classifier } from '../src/models/model.js';

await initEngine();
const data = await loadDataset('pneumoniamnist');
const idx = Array.from({ length: 32 }, (_, i) => i * 11);
const x = batchImages(data.splits.test, idx);
const labels = tf.keep(
  tf.oneHot(
    tf.tensor1d(
      idx.map((i) => data.splits.test.labels[i]!),
      'int32',
    ),
    2,
  ),
);
const ce = (z: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, z) as tf.Scalar;

function sameValues(a: tf.Tensor, b: tf.Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, what);
  const av = a.dataSync(),
    bv = b.dataSync();
  for (let i = 0; i < av.length; i++) if (av[i] !== bv[i]) assert.fail(`${what}: element ${i} ${av[i]} ≠ ${bv[i]}`);
}

/** One training-mode loss and weight-gradient evaluation; returns the logits, gradients and BN statistics. */
function trainStep(m: Classifier, forward: (t: tf.Tensor) => tf.Tensor) {
  const vars = m.net.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  let logits: tf.Tensor | null = null;
  const { value, grads } = tf.variableGrads(
    () =>
      tf.tidy(() => {
        const z = forward(x);
        logits = tf.keep(z.clone());
        return ce(z);
      }),
    vars,
  );
  const stats = m.net.layers
    .filter((l) => l.getClassName() === 'BatchNormalization')
    .flatMap((l) => l.getWeights().slice(2)); // moving mean, moving variance
  return { logits: logits!, value, grads, stats };
}

/** The engine's live bytes when the model's last layer (`logits`) is called, minus those before the call. */
function bytesAtLastLayer(m: Classifier, run: () => tf.Tensor): number {
  const last = m.net.getLayer('logits');
  const orig = last.apply.bind(last);
  let at = -1;
  last.apply = ((i: tf.Tensor | tf.Tensor[], k?: Record<string, unknown>) => {
    at = tf.memory().numBytes;
    return orig(i, k);
  }) as typeof last.apply;
  const before = tf.memory().numBytes;
  try {
    tf.dispose(run());
  } finally {
    last.apply = orig;
  }
  assert.ok(at >= 0, 'the logits layer ran');
  return at - before;
}

test('training walk = net.apply(x, {training: true}): logits, gradients, BN statistics (ResNet-18)', async () => {
  const a = await loadClassifier('default');
  const b = await loadClassifier('default');
  const ra = trainStep(a, (t) => a.net.apply(t, { training: true }) as tf.Tensor);
  const rb = trainStep(b, (t) => b.inference.runTraining(t));
  sameValues(rb.logits, ra.logits, 'logits');
  sameValues(rb.value, ra.value, 'loss');
  const names = Object.keys(ra.grads);
  assert.equal(names.length, a.net.trainableWeights.length);
  names.forEach((n, i) => sameValues(rb.grads[Object.keys(rb.grads)[i]!]!, ra.grads[n]!, `gradient of ${n}`));
  assert.ok(ra.stats.length >= 2);
  ra.stats.forEach((s, i) => sameValues(rb.stats[i]!, s, `moving statistic ${i}`));
  for (const r of [ra, rb]) tf.dispose([r.logits, r.value, ...Object.values(r.grads)]);
  a.inference.dispose();
  b.inference.dispose();
});

test('the forward walks hold the live frontier, not every activation (ResNet-18, 32 real images)', async (t) => {
  const m = await loadClassifier('default');
  tf.dispose(m.logits(x as tf.Tensor4D)); // folds the weights (cached, long-lived)
  const xBytes = x.size * 4;
  // Inference: at the last layer only the pooled features are alive (a few KB), where holding every activation
  // of the pass is tens of MB (tfjs-layers' own training-mode executor: measured below).
  const inference = bytesAtLastLayer(m, () => m.logits(x as tf.Tensor4D));
  assert.ok(inference < xBytes, `inference walk: ${inference} bytes alive at the last layer`);
  const walk = bytesAtLastLayer(m, () => tf.tidy(() => m.inference.runTraining(x)));
  const layers = bytesAtLastLayer(m, () => tf.tidy(() => m.net.apply(x, { training: true }) as tf.Tensor));
  assert.ok(walk < xBytes, `training walk, no gradient: ${walk} bytes alive at the last layer`);
  assert.ok(layers > 20 * xBytes, `net.apply (training) holds its activations: ${layers} bytes`);
  // Under a weight gradient the tape keeps what backprop needs; the walk frees the rest (batch-norm outputs
  // read only by the ReLU after them, residual sums), tfjs-layers keeps everything.
  const vars = m.net.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const underGrad = (f: (t: tf.Tensor) => tf.Tensor) => () => {
    const { value, grads } = tf.variableGrads(() => ce(f(x)), vars);
    tf.dispose(Object.values(grads));
    return value;
  };
  const walkGrad = bytesAtLastLayer(
    m,
    underGrad((t) => m.inference.runTraining(t)),
  );
  const layersGrad = bytesAtLastLayer(
    m,
    underGrad((t) => m.net.apply(t, { training: true }) as tf.Tensor),
  );
  t.diagnostic(
    `MB alive at the last layer: inference ${inference / 2 ** 20}, training walk ${walk / 2 ** 20}, ` +
      `net.apply ${layers / 2 ** 20}; under a weight gradient: walk ${walkGrad / 2 ** 20}, ` +
      `net.apply ${layersGrad / 2 ** 20}`,
  );
  assert.ok(
    walkGrad < 0.8 * layersGrad,
    `under a gradient: walk ${walkGrad} bytes, net.apply ${layersGrad} bytes alive at the last layer`,
  );
  m.inference.dispose();
});
