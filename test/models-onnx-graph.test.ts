/**
 * Differentiable ONNX import (issue 21) on the fixtures of scripts/make-onnx-fixtures.py: a small
 * CNN trained on PneumoniaMNIST and width-reduced torchvision architectures (ResNet-18 blocks,
 * DenseNet, MobileNet v2/v3, EfficientNet-B0, ConvNeXt, ViT) plus two op modules, exported by
 * PyTorch 1.13 at opsets 13–17, with PyTorch's logits, input gradients and PGD-20 robust accuracy on
 * 16 real PneumoniaMNIST test images (8 per class).
 *
 * Per fixture: `importOnnx` (its own onnxruntime check ≤ 1e-4) → loadModel → engine logits equal
 * onnxruntime-node's on the same images within 1e-4 and PyTorch's within 1e-4; input gradients of
 * the summed cross-entropy (through the grey → RGB replication / declared mean-std) equal
 * PyTorch's within 1e-3 relative L2; medshield's PGD-20 (no random start, α = ε/4) leaves the same
 * robust accuracy as PyTorch's PGD within one image.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine, tf } from '../src/engine/index.js';
import { loadModel } from '../src/models/io.js';
import { importOnnx } from '../src/models/onnx-import.js';
import { OnnxGraphModel } from '../src/models/onnx-graph/model.js';
import { pgd } from '../src/attacks/algorithms/pgd.js';
import { ROOT } from './helpers.js';

await initEngine();
const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
const FIX = path.join(ROOT, 'test', 'fixtures', 'onnx');
const tmp = mkdtempSync(path.join(tmpdir(), 'medshield-onnx-graph-'));
const images = JSON.parse(readFileSync(path.join(FIX, 'images.json'), 'utf8')) as {
  pixels: number[];
  labels: number[];
  shape: number[];
};
const X = Float32Array.from(images.pixels);
const Y = Int32Array.from(images.labels);
const N = Y.length;

interface Meta {
  name: string;
  channels: number;
  mean: number[] | null;
  std: number[] | null;
  eps: number;
  pgdRobustAccuracy: number;
  logits: number[];
  grad: number[];
}

const FIXTURES = [
  'cnn_trained',
  'resnet18',
  'densenet121',
  'mobilenet_v2',
  'mobilenet_v3',
  'efficientnet_b0',
  'convnext_tiny',
  'vit_b_16',
  'ops_a',
  'ops_b',
];

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
function relL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let n = 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    n += (a[i] - b[i]) ** 2;
    d += b[i] ** 2;
  }
  return Math.sqrt(n / d);
}

async function inputGrad(model: OnnxGraphModel): Promise<Float32Array> {
  const x = tf.tensor4d(X, [N, 28, 28, 1]);
  const y = tf.oneHot(tf.tensor1d(Y, 'int32'), 2);
  const g = tf.grad((xx: tf.Tensor) => tf.sum(tf.neg(tf.mul(y, tf.logSoftmax(model.logits(xx as tf.Tensor4D))))))(x);
  const out = (await g.data()) as Float32Array;
  [x, y, g].forEach((t) => t.dispose());
  return out;
}

for (const name of FIXTURES) {
  test(`ONNX fixture ${name}: engine = onnxruntime = PyTorch (logits 1e-4), input gradients (1e-3), PGD-20 robust accuracy`, async () => {
    const meta = JSON.parse(readFileSync(path.join(FIX, `${name}.json`), 'utf8')) as Meta;
    const file = path.join(FIX, `${name}.onnx`);
    const out = path.join(tmp, name);
    const r = await importOnnx({
      file,
      out,
      dataset: 'pneumoniamnist',
      evaluate: name === 'cnn_trained',
      ...(meta.mean ? { mean: meta.mean, std: meta.std! } : {}),
    });
    assert.ok(r.check.maxAbsDiff <= 1e-4, `import check ${r.check.maxAbsDiff}`);
    assert.equal(r.differentiable, true);
    const model = await loadModel(out);
    assert.ok(model instanceof OnnxGraphModel, 'an imported directory loads as a differentiable model');
    assert.deepEqual(model.inputShape, [28, 28, 1]);

    // Logits vs onnxruntime-node on the fixture's images (fed the same preprocessed tensor) and vs PyTorch.
    const x = tf.tensor4d(X, [N, 28, 28, 1]);
    const z = model.logits(x);
    const ours = (await z.data()) as Float32Array;
    const pre = model.preprocess(x);
    const nchw = tf.transpose(pre, [0, 3, 1, 2]);
    const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1 });
    const res = await session.run({
      [session.inputNames[0]]: new ort.Tensor('float32', (await nchw.data()) as Float32Array, nchw.shape),
    });
    const theirs = res[session.outputNames[0]].data as Float32Array;
    await session.release();
    [x, z, pre, nchw].forEach((t) => t.dispose());
    assert.ok(maxAbs(ours, theirs) <= 1e-4, `engine vs onnxruntime: ${maxAbs(ours, theirs)}`);
    assert.ok(maxAbs(ours, meta.logits) <= 1e-4, `engine vs PyTorch: ${maxAbs(ours, meta.logits)}`);

    // Input gradients vs PyTorch.
    const g = await inputGrad(model);
    assert.ok(relL2(g, meta.grad) <= 1e-3, `input gradient relative L2 ${relL2(g, meta.grad)}`);

    // PGD-20, no random start, step ε/4, early stop per image — as the script's PyTorch PGD.
    const adv = await pgd.run(model, X, Y, {
      eps: meta.eps,
      steps: 20,
      stepSize: meta.eps / 4,
      randomStart: false,
      seed: 0,
    });
    const p = await model.predictProbs(adv.xAdv, N);
    let correct = 0;
    for (let i = 0; i < N; i++) if ((p[2 * i + 1] > p[2 * i] ? 1 : 0) === Y[i]) correct++;
    assert.ok(
      Math.abs(correct - meta.pgdRobustAccuracy * N) <= 1,
      `PGD robust ${correct}/${N} vs PyTorch ${meta.pgdRobustAccuracy * N}/${N}`,
    );
  });
}
