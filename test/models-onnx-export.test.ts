/**
 * ONNX export: tfjs-layers models (the fixture CNNs, a tiny ResNet-18 with non-trivial batch-norm
 * statistics, a tiny ResNet-50, a 64-px ResNet-18 with the strided 7×7 stem and 'same' max-pool)
 * are written as ONNX, loaded back with loadModel (onnxruntime-node) and compared with tfjs on real
 * PneumoniaMNIST / RetinaMNIST test images: probabilities and raw logits agree to 1e-4.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine, Rng, tf } from '../src/engine/index.js';
import { loadDataset } from '../src/data/dataset.js';
import { resizeHwc, convertChannels } from '../src/data/resize.js';
import { buildModel } from '../src/models/architectures.js';
import { newClassifier } from '../src/models/factory.js';
import { loadClassifier, loadModel } from '../src/models/io.js';
import { Classifier } from '../src/models/model.js';
import { exportOnnx, samePads, IR_VERSION, OPSET } from '../src/models/onnx-export.js';
import { selectImages } from '../src/data/images.js';
import { MedshieldError } from '../src/errors.js';
import { pneumonia, retina, testImages } from './attacks-fixture.js';
import { cli, isCleanError } from './helpers.js';

await initEngine();
const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
const tmp = mkdtempSync(path.join(tmpdir(), 'medshield-onnx-export-'));

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Export, load with loadModel, compare probabilities (loader path) and logits (raw session). */
async function roundTrip(
  model: Classifier,
  out: string,
  x: Float32Array,
  n: number,
): Promise<{ probDiff: number; logitDiff: number; logitScale: number }> {
  const file = await exportOnnx(model, out);
  const onnx = await loadModel(out);
  assert.equal(onnx.differentiable, false);
  assert.equal(onnx.card.architecture.format, 'onnx');
  assert.deepEqual(onnx.card.onnx, { layout: 'NHWC', output: 'logits' });
  assert.deepEqual(onnx.classes, model.classes);
  const probDiff = maxAbs(await model.predictProbs(x, n), await onnx.predictProbs(x, n));
  const [h, w, c] = model.inputShape;
  const session = await ort.InferenceSession.create(file);
  assert.deepEqual(session.inputNames, ['input']);
  assert.deepEqual(session.outputNames, ['logits']);
  const raw = (await session.run({ input: new ort.Tensor('float32', x, [n, h, w, c]) })).logits.data as Float32Array;
  const ref = tf.tidy(() => model.logits(tf.tensor4d(x, [n, h, w, c])).dataSync()) as Float32Array;
  const logitScale = Math.max(1, ...Array.from(ref, Math.abs));
  return { probDiff, logitDiff: maxAbs(raw, ref), logitScale };
}

/** Give every batch-norm layer seeded, far-from-identity γ, β, running mean and variance. */
function randomiseBatchNorm(model: Classifier, seed: number): void {
  const rng = new Rng(seed);
  for (const l of model.net.layers) {
    if (l.getClassName() !== 'BatchNormalization') continue;
    const c = l.getWeights()[0].shape[0];
    const vec = (f: () => number) => tf.tensor1d(Array.from({ length: c }, f));
    l.setWeights([
      vec(() => 0.5 + rng.uniform()),
      vec(() => 0.2 * rng.normal()),
      vec(() => 0.3 * rng.normal()),
      vec(() => 0.3 + 1.7 * rng.uniform()),
    ]);
  }
}

test("TF 'same' padding: the extra pixel goes after (bottom/right), as in tfjs", () => {
  assert.deepEqual(samePads(28, 3, 1), [1, 1]);
  assert.deepEqual(samePads(28, 3, 2), [0, 1]);
  assert.deepEqual(samePads(7, 3, 2), [1, 1]);
  assert.deepEqual(samePads(64, 7, 2), [2, 3]);
  assert.deepEqual(samePads(14, 1, 2), [0, 0]);
  assert.deepEqual(samePads(32, 3, 2), [0, 1]);
});

test('fixture CNN (PneumoniaMNIST): ONNX directory loads and matches tfjs on 64 real test images', async (t) => {
  const fx = await pneumonia();
  const imgs = testImages(fx, 64);
  const r = await roundTrip(fx.model, path.join(tmp, 'cnn'), imgs.x, imgs.n);
  t.diagnostic(`pneumonia cnn: max |Δp| ${r.probDiff.toExponential(2)}, max |Δlogit| ${r.logitDiff.toExponential(2)}`);
  assert.ok(r.probDiff <= 1e-4, `max |Δp| ${r.probDiff}`);
  assert.ok(r.logitDiff <= 1e-4 * r.logitScale, `max |Δlogit| ${r.logitDiff} (scale ${r.logitScale})`);
  const card = JSON.parse(readFileSync(path.join(tmp, 'cnn', 'model-card.json'), 'utf8'));
  assert.deepEqual(card.metrics, fx.model.card.metrics, 'the card carries the source metrics');
  const bytes = readFileSync(path.join(tmp, 'cnn', 'model.onnx'));
  assert.equal(bytes[0], 0x08, 'ModelProto starts with ir_version');
  assert.equal(bytes[1], IR_VERSION);
});

test('fixture CNN (RetinaMNIST, 5 classes, RGB): matches tfjs', async (t) => {
  const fx = await retina();
  const imgs = testImages(fx, 64);
  const r = await roundTrip(fx.model, path.join(tmp, 'retina'), imgs.x, imgs.n);
  t.diagnostic(`retina cnn: max |Δp| ${r.probDiff.toExponential(2)}, max |Δlogit| ${r.logitDiff.toExponential(2)}`);
  assert.equal(fx.model.classes.length, 5);
  assert.ok(r.probDiff <= 1e-4, `max |Δp| ${r.probDiff}`);
  assert.ok(r.logitDiff <= 1e-4 * r.logitScale, `max |Δlogit| ${r.logitDiff}`);
});

test('tiny ResNet-18 and ResNet-50 with random batch-norm statistics (folded into the convs) match tfjs; .onnx + .card.json form loads', async (t) => {
  const data = await loadDataset('pneumoniamnist');
  const imgs = selectImages(data.splits.test, 32, 3);
  for (const arch of ['resnet18', 'resnet50'] as const) {
    const model = newClassifier(arch, data, { width: arch === 'resnet18' ? 8 : 4, seed: 0 });
    randomiseBatchNorm(model, 7);
    const out = path.join(tmp, `${arch}.onnx`);
    const r = await roundTrip(model, out, imgs.x, imgs.n);
    assert.ok(existsSync(path.join(tmp, `${arch}.card.json`)));
    t.diagnostic(
      `${arch}: max |Δp| ${r.probDiff.toExponential(2)}, max |Δlogit| ` +
        `${r.logitDiff.toExponential(2)} (logit scale ${r.logitScale.toFixed(1)})`,
    );
    assert.ok(r.probDiff <= 1e-4, `${arch}: max |Δp| ${r.probDiff}`);
    assert.ok(r.logitDiff <= 1e-4 * r.logitScale, `${arch}: max |Δlogit| ${r.logitDiff} (scale ${r.logitScale})`);
  }
});

test('64-px ResNet-18 (7×7/2 stem, 3×3/2 same max-pool, asymmetric pads) matches tfjs on upscaled real X-rays', async (t) => {
  const data = await loadDataset('pneumoniamnist');
  const small = selectImages(data.splits.test, 16, 4);
  const per = 64 * 64 * 3;
  const x = new Float32Array(small.n * per);
  for (let i = 0; i < small.n; i++) {
    const up = resizeHwc(small.x.subarray(i * 784, (i + 1) * 784), 28, 28, 1, 64, 64);
    x.set(convertChannels(up, 64 * 64, 1, 3), i * per);
  }
  const base = newClassifier('resnet18', data, { width: 4, seed: 1 });
  const card = { ...base.card, input: { ...base.card.input, shape: [64, 64, 3] as [number, number, number] } };
  const model = new Classifier(
    buildModel({ arch: 'resnet18', inputShape: [64, 64, 3], numClasses: 2, width: 4, seed: 1 }),
    card,
  );
  randomiseBatchNorm(model, 11);
  const r = await roundTrip(model, path.join(tmp, 'r18-64'), x, small.n);
  t.diagnostic(`resnet18 64px: max |Δp| ${r.probDiff.toExponential(2)}, max |Δlogit| ${r.logitDiff.toExponential(2)}`);
  assert.ok(r.probDiff <= 1e-4, `max |Δp| ${r.probDiff}`);
  assert.ok(r.logitDiff <= 1e-4 * r.logitScale, `max |Δlogit| ${r.logitDiff}`);
});

test('the shipped default model (full-width ResNet-18) exports and matches tfjs on 64 test images', async (t) => {
  const model = await loadClassifier('default');
  const data = await loadDataset(model.card.dataset.name);
  const imgs = selectImages(data.splits.test, 64, 0);
  const r = await roundTrip(model, path.join(tmp, 'default'), imgs.x, imgs.n);
  t.diagnostic(`default: max |Δp| ${r.probDiff.toExponential(2)}, max |Δlogit| ${r.logitDiff.toExponential(2)}`);
  assert.ok(r.probDiff <= 1e-4, `max |Δp| ${r.probDiff}`);
  assert.ok(r.logitDiff <= 1e-4 * r.logitScale, `max |Δlogit| ${r.logitDiff}`);
});

test('a layer the exporter does not know fails with an unsupported error naming it', async () => {
  const input = tf.input({ shape: [28, 28, 1] });
  const padded = tf.layers.zeroPadding2d({ padding: 1, name: 'pad_me' }).apply(input) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(padded) as tf.SymbolicTensor;
  const net = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 2 }).apply(flat) as tf.SymbolicTensor });
  const base = (await pneumonia()).model;
  await assert.rejects(
    exportOnnx(new Classifier(net, base.card), path.join(tmp, 'bad')),
    (e: unknown) =>
      e instanceof MedshieldError &&
      e.code === 'UNSUPPORTED' &&
      /pad_me/.test(e.message) &&
      /ZeroPadding2D/.test(e.message),
  );
  assert.ok(!existsSync(path.join(tmp, 'bad')), 'nothing written on failure');
});

test('CLI: export --json reports opset and maxAbsDiff on 64 test images; bad input exits 2 with one line', async () => {
  const fx = await pneumonia();
  const out = path.join(tmp, 'cli');
  const r = cli(['export', '--model', fx.dir, '--format', 'onnx', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(j), ['out', 'format', 'opset', 'maxAbsDiff']);
  assert.equal(j.out, out);
  assert.equal(j.format, 'onnx');
  assert.equal(j.opset, OPSET);
  assert.ok(j.maxAbsDiff >= 0 && j.maxAbsDiff <= 1e-4, `maxAbsDiff ${j.maxAbsDiff}`);
  assert.ok(existsSync(path.join(out, 'model.onnx')) && existsSync(path.join(out, 'model-card.json')));

  for (const args of [
    ['export', '--model', path.join(tmp, 'no-such-model'), '--out', path.join(tmp, 'x')],
    ['export', '--model', fx.dir],
    ['export', '--model', out, '--out', path.join(tmp, 'y')],
    ['export', '--model', fx.dir, '--format', 'tflite', '--out', path.join(tmp, 'z')],
  ]) {
    const bad = cli(args);
    assert.ok(isCleanError(bad), `${args.join(' ')} → ${bad.code} ${bad.stderr}`);
  }
  assert.match(
    cli(['export', '--model', path.join(tmp, 'no-such-model'), '--out', path.join(tmp, 'x')]).stderr,
    /does not exist/,
  );
});
