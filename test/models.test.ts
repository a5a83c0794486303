import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine, tf } from '../src/engine/index.js';
import { loadDataset, limitSplit, sampleSplit } from '../src/data/dataset.js';
import { buildModel, featureLayers } from '../src/models/architectures.js';
import { newClassifier, fitClassifier } from '../src/models/factory.js';
import { saveModel, loadClassifier, loadModel } from '../src/models/io.js';
import { evaluateSplit } from '../src/models/train.js';
import { checkInputMatches } from '../src/models/card.js';
import { MedshieldError } from '../src/errors.js';
import { ROOT } from './helpers.js';

await initEngine();

test('architectures: output shapes, named features, seeded weights', () => {
  for (const arch of ['cnn', 'resnet18', 'resnet50'] as const) {
    const m = buildModel({ arch, inputShape: [28, 28, 1], numClasses: 3, width: 8, seed: 1 });
    assert.deepEqual(m.outputs[0].shape, [null, 3]);
    for (const f of featureLayers(arch)) assert.ok(m.getLayer(f), `${arch} has feature layer ${f}`);
  }
  const big = buildModel({ arch: 'resnet18', inputShape: [64, 64, 3], numClasses: 7, width: 8, seed: 1 });
  assert.deepEqual(big.getLayer('stem').outputShape, [null, 16, 16, 8]);
  const a = buildModel({ arch: 'cnn', inputShape: [28, 28, 1], numClasses: 2, width: 8, seed: 5 });
  const b = buildModel({ arch: 'cnn', inputShape: [28, 28, 1], numClasses: 2, width: 8, seed: 5 });
  const c = buildModel({ arch: 'cnn', inputShape: [28, 28, 1], numClasses: 2, width: 8, seed: 6 });
  const w = (m: tf.LayersModel) => m.getWeights()[0].dataSync();
  assert.deepEqual(w(a), w(b));
  assert.notDeepEqual(w(a), w(c));
  assert.throws(
    () => buildModel({ arch: 'vgg' as 'cnn', inputShape: [28, 28, 1], numClasses: 2, seed: 0 }),
    MedshieldError,
  );
});

test('a short training run on real chest X-rays beats chance clearly; save → load → eval is exact', async () => {
  const data = await loadDataset('pneumoniamnist');
  const small = { ...data, splits: { ...data.splits, train: sampleSplit(data.splits.train, 1500, 0) } };
  const model = newClassifier('cnn', small, { width: 8, seed: 0 });
  const fit = await fitClassifier(model, small, { epochs: 2, batchSize: 64, seed: 0 });
  // Majority class is 62.5 % of the test split; AUC 0.5 is chance.
  assert.ok(fit.val.auc > 0.9, `val AUC ${fit.val.auc}`);
  assert.ok(fit.test.auc > 0.85, `test AUC ${fit.test.auc}`);
  assert.ok(fit.test.accuracy > 0.7, `test ACC ${fit.test.accuracy}`);
  assert.equal(model.card.training?.seed, 0);
  assert.equal(model.card.dataset.splits.train, 1500);

  const dir = path.join(mkdtempSync(path.join(tmpdir(), 'ms-model-')), 'm');
  await saveModel(model, dir);
  for (const f of ['model.json', 'weights.bin', 'model-card.json']) assert.ok(existsSync(path.join(dir, f)));
  const loaded = await loadClassifier(dir);
  const r = await evaluateSplit(loaded, data.splits.test);
  assert.equal(Math.round(r.accuracy * 1e4) / 1e4, loaded.card.metrics.test!.accuracy);
  assert.equal(Math.round(r.auc * 1e4) / 1e4, loaded.card.metrics.test!.auc);
  // Features for detectors
  const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D;
  assert.deepEqual(loaded.features(x).shape, [2, 128]);
  assert.deepEqual(loaded.features(x, 'block1').shape, [2, 14, 14, 8]);
  assert.throws(() => loaded.features(x, 'nope'), /no feature layer/);

  // A damaged model directory is refused with a clear error.
  writeFileSync(path.join(dir, 'weights.bin'), readFileSync(path.join(dir, 'weights.bin')).subarray(0, 100));
  await assert.rejects(loadClassifier(dir), /\(weights\.bin\) hold 100 bytes/);

  // Above the shard size the weights go to tfjs shards in manifest order; loading joins them exactly.
  const sharded = path.join(path.dirname(dir), 'sharded');
  await saveModel(loaded, sharded, { shardBytes: 64 * 1024 });
  const mj = JSON.parse(readFileSync(path.join(sharded, 'model.json'), 'utf8'));
  const shards: string[] = mj.weightsManifest[0].paths;
  assert.ok(
    shards.length > 1 && shards.every((f, i) => f === `group1-shard${i + 1}of${shards.length}.bin`),
    shards.join(),
  );
  assert.ok(!existsSync(path.join(sharded, 'weights.bin')));
  const again = await loadClassifier(sharded);
  const xs = tf.tensor4d(
    Float32Array.from(data.splits.test.images.subarray(0, 16 * 784), (v) => v / 255),
    [16, 28, 28, 1],
  );
  assert.deepEqual(again.logits(xs).dataSync(), loaded.logits(xs).dataSync());
  // a missing shard, or a manifest pointing outside its directory, is refused by name
  const last = path.join(sharded, shards[shards.length - 1]);
  const keep = readFileSync(last);
  rmSync(last);
  await assert.rejects(loadClassifier(sharded), new RegExp(`${shards[shards.length - 1]} is missing`));
  writeFileSync(last, keep);
  writeFileSync(
    path.join(sharded, 'model.json'),
    JSON.stringify({ ...mj, weightsManifest: [{ ...mj.weightsManifest[0], paths: ['../m/weights.bin'] }] }),
  );
  await assert.rejects(loadClassifier(sharded), /is not a plain file name/);
});

test('same seed, same training numbers', async () => {
  const data = await loadDataset('pneumoniamnist');
  const small = {
    ...data,
    splits: {
      ...data.splits,
      train: sampleSplit(data.splits.train, 256, 1),
      val: limitSplit(data.splits.val, 128),
      test: limitSplit(data.splits.test, 128),
    },
  };
  const run = async () =>
    (
      await fitClassifier(newClassifier('cnn', small, { width: 4, seed: 3 }), small, {
        epochs: 1,
        batchSize: 64,
        seed: 3,
      })
    ).training.history[0].loss;
  assert.equal(await run(), await run());
});

test('the card refuses mismatched data', () => {
  const card = {
    name: 'm',
    input: { shape: [28, 28, 1] },
    dataset: { classes: ['a', 'b'], task: 'binary' },
  } as unknown as Parameters<typeof checkInputMatches>[0];
  assert.throws(() => checkInputMatches(card, { height: 28, width: 28, channels: 3 }), /expects 28×28×1/);
  assert.throws(() => checkInputMatches(card, { height: 28, width: 28, channels: 1, classes: 5 }), /5 classes/);
  checkInputMatches(card, { height: 28, width: 28, channels: 1, classes: 2, task: 'binary' });
});

test('ONNX model (made by scripts/make-test-onnx.py) runs forward-only and matches PyTorch', async () => {
  const file = path.join(ROOT, 'test', 'fixtures', 'pneumonia-tiny.onnx');
  const expected = JSON.parse(
    readFileSync(path.join(ROOT, 'test', 'fixtures', 'pneumonia-tiny.expected.json'), 'utf8'),
  );
  const model = await loadModel(file);
  assert.equal(model.differentiable, false);
  assert.deepEqual(model.inputShape, [28, 28, 1]);
  const data = await loadDataset('pneumoniamnist');
  const te = data.splits.test;
  const x = Float32Array.from(te.images as Uint8Array, (v) => v / 255);
  const probs = await model.predictProbs(x, te.n);
  for (let i = 0; i < 16; i++)
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(probs[i * 2 + j] - expected.probabilities[i][j]) < 1e-4);
  let right = 0;
  for (let i = 0; i < te.n; i++) if ((probs[i * 2 + 1] > probs[i * 2] ? 1 : 0) === te.labels[i]) right++;
  assert.ok(Math.abs(right / te.n - expected.testAccuracy) < 1e-9);
  await assert.rejects(
    loadModel(path.join(ROOT, 'package.json').replace('package.json', 'test/fixtures/pneumonia-tiny.card.json.onnx')),
    /does not exist/,
  );
});
