/**
 * `attack --save-adversarial FILE.npz`: the float32 adversarial set round-trips — reloaded images give
 * the reported robust accuracy, stay in the ε-ball, and NumPy reads the file. And `train` warns when
 * a run ends while still improving; the default epochs scale with the number of optimiser steps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { readNpz, writeNpz, readNpy, writeNpy } from '../src/data/npz.js';
import { loadDataset } from '../src/data/dataset.js';
import { loadClassifier } from '../src/models/io.js';
import { predictions } from '../src/models/metrics.js';
import { defaultEpochs, trainAdvice } from '../src/models/train-advice.js';
import { cli, RETINA_NPZ } from './helpers.js';

await initEngine();
const tmp = mkdtempSync(path.join(tmpdir(), 'ms-advset-'));
const PY = '/usr/bin/python3';

test('npy writer: what the reader reads back, for every dtype written', () => {
  const f = Float32Array.from([0, 0.5, 1 / 3, 1]);
  const arrays = {
    f: { data: f, shape: [2, 2] },
    i: { data: Int32Array.from([-3, 7]), shape: [2] },
    b: { data: Uint8Array.from([1, 0, 1]), shape: [3], dtype: 'b1' as const },
    d: { data: Float64Array.from([Math.PI]), shape: [1] },
  };
  const back = readNpz(writeNpz(arrays));
  assert.deepEqual(back.f.shape, [2, 2]);
  assert.equal(back.f.dtype, 'f4');
  assert.deepEqual(Array.from(back.f.data), Array.from(f));
  assert.equal(back.i.dtype, 'i8');
  assert.deepEqual(Array.from(back.i.data), [-3, 7]);
  assert.equal(back.b.dtype, 'b1');
  assert.deepEqual(Array.from(back.b.data), [1, 0, 1]);
  assert.equal(back.d.data[0], Math.PI);
  const one = writeNpy({ data: Float32Array.from([1, 2, 3]), shape: [3] });
  assert.equal((one.length - 3 * 4) % 64, 0, 'header padded to 64 bytes');
  assert.deepEqual(Array.from(readNpy(one).data), [1, 2, 3]);
});

test('attack --save-adversarial: reloaded images give the reported robust accuracy and stay within ε; an ε sweep stacks', async () => {
  const file = path.join(tmp, 'adv.npz');
  const r = cli([
    'attack',
    '--model',
    'models/resnet18-w32',
    '--limit',
    '40',
    '--attack',
    'pgd',
    '--eps',
    '4/255',
    '--steps',
    '10',
    '--seed',
    '3',
    '--save-adversarial',
    file,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  const a = readNpz(new Uint8Array(readFileSync(file)));
  const n = 40;
  const d = 28 * 28;
  assert.deepEqual(a.adv_images.shape, [n, 28, 28, 1]);
  assert.equal(a.adv_images.dtype, 'f4');
  assert.deepEqual(a.clean_images.shape, [n, 28, 28, 1]);
  assert.deepEqual(a.labels.shape, [n, 1]);
  assert.deepEqual(a.indices.shape, [n]);
  assert.deepEqual(Array.from(a.eps.data), [4 / 255]);
  assert.deepEqual(Array.from(a.steps.data), [10]);
  // The clean images are the test split's films at the recorded indices.
  const data = await loadDataset('pneumoniamnist');
  const te = data.splits.test;
  for (let i = 0; i < n; i += 7) {
    const src = a.indices.data[i];
    assert.equal(a.labels.data[i], te.labels[src]);
    assert.equal(Math.round(a.clean_images.data[i * d + 300] * 255), (te.images as Uint8Array)[src * d + 300]);
  }
  // L∞ ≤ ε and pixels in [0,1].
  let linf = 0;
  for (let i = 0; i < a.adv_images.data.length; i++) {
    const v = a.adv_images.data[i];
    assert.ok(v >= 0 && v <= 1);
    linf = Math.max(linf, Math.abs(v - a.clean_images.data[i]));
  }
  assert.ok(linf <= 4 / 255 + 1e-6, `L∞ ${linf}`);
  assert.ok(linf > 1 / 255, 'the images were perturbed');
  // Re-run the model on the saved float images: the same predictions and the reported robust accuracy.
  const model = await loadClassifier('models/resnet18-w32');
  const probs = await model.predictProbs(a.adv_images.data as Float32Array, n);
  const pred = predictions({ probs, n, k: 2 }, 'binary');
  let correct = 0;
  for (let i = 0; i < n; i++) {
    assert.equal(pred[i], a.adv_predictions.data[i], `image ${i}`);
    if (pred[i] === a.labels.data[i]) correct++;
  }
  assert.equal(Math.round((correct / n) * 1e4) / 1e4, res.robustAccuracy);
  const successes = Array.from(a.success.data).reduce((s, v) => s + v, 0);
  assert.equal(successes, Math.round(res.attackSuccessRate * (res.cleanAccuracy * n)));
  if (existsSync(PY)) {
    const py = spawnSync(
      PY,
      [
        '-c',
        `import numpy as np, sys; d = np.load(sys.argv[1]); print(d['adv_images'].dtype, ` +
          `d['adv_images'].shape, d['labels'].dtype, int(d['success'].sum()), ` +
          `float(np.abs(d['adv_images'] - d['clean_images']).max()) <= 4/255 + 1e-6)`,
        file,
      ],
      { encoding: 'utf8' },
    );
    if (py.status === 0) assert.equal(py.stdout.trim(), `float32 (40, 28, 28, 1) int64 ${successes} True`);
    else assert.match(py.stderr, /No module named 'numpy'/);
  }
  // An ε sweep: a leading ε axis.
  const sweep = path.join(tmp, 'sweep.npz');
  const s = cli([
    'attack',
    '--model',
    'models/resnet18-w32',
    '--limit',
    '8',
    '--attack',
    'fgsm',
    '--eps',
    '2/255,8/255',
    '--save-adversarial',
    sweep,
    '--json',
  ]);
  assert.equal(s.code, 0, s.stderr);
  const b = readNpz(new Uint8Array(readFileSync(sweep)));
  assert.deepEqual(b.adv_images.shape, [2, 8, 28, 28, 1]);
  assert.deepEqual(b.adv_predictions.shape, [2, 8]);
  assert.deepEqual(b.eps.shape, [2]);
});

test('train: default epochs scale with optimiser steps; a run that is still improving warns', () => {
  assert.equal(defaultEpochs(4708, 128), 10); // PneumoniaMNIST: 37 steps per epoch
  assert.equal(defaultEpochs(546, 128), 60); // BreastMNIST: 5 steps per epoch → 300 steps
  assert.equal(defaultEpochs(50, 128), 200);
  const hist = (losses: number[], aucs: number[], best: number): Parameters<typeof trainAdvice>[0] => ({
    epochsRun: losses.length,
    bestEpoch: best,
    history: losses.map((loss, i) => ({ epoch: i + 1, loss, valAccuracy: 0, valAuc: aucs[i] })),
  });
  const flat = [0.9, 0.9, 0.9, 0.9, 0.9];
  assert.equal(
    trainAdvice(hist([0.75, 0.71, 0.68, 0.65, 0.62], flat, 1), 5).stillImproving,
    true,
    'the training loss still falls',
  );
  assert.equal(
    trainAdvice(hist([0.3, 0.2, 0.15, 0.14, 0.139], [0.9, 0.95, 0.96, 0.965, 0.975], 5), 5).warning,
    'still improving at epoch 5 (the best validation epoch is the last (5)); try --epochs 15',
  );
  // Converged: the best epoch is behind, and the loss barely moves at the end of the cosine schedule.
  assert.equal(
    trainAdvice(hist([0.12, 0.1, 0.095, 0.093, 0.092], [0.98, 0.985, 0.991, 0.99, 0.99], 3), 5).warning,
    null,
  );
  assert.equal(
    trainAdvice(hist([0.3, 0.2, 0.15], [0.9, 0.95, 0.96], 3), 10).warning,
    null,
    'early stopping: no warning',
  );
  // RetinaMNIST (1080 training images, 9 steps per epoch) for 2 epochs is still learning.
  const r = cli(['train', '--dataset', RETINA_NPZ, '--model', 'cnn', '--width', '8', '--epochs', '2', '--json'], {
    env: { MEDSHIELD_QUIET: '0', MEDSHIELD_PROGRESS: 'plain' },
  });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.match(out.warning, /^still improving at epoch 2 \(.+\); try --epochs 12$/);
  assert.ok(r.stderr.includes(`medshield: warning: ${out.warning}`));
  assert.match(r.stderr, /medshield: train cnn: started \(18 to do\)/);
});
