/**
 * The pieces every attack relies on: the shared projection (range and ε ball for L∞, L2, L1, L0),
 * ε parsing, criteria on every head (binary with one or two logits, multi-class, multi-label one
 * label or all), DLR's order statistics and binary fallback, and the image-quality measures — on
 * real chest X-ray pixels.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, Rng } from '../src/engine/index.js';
import { loadDataset } from '../src/data/dataset.js';
import { project, withinBall, perturbationSize } from '../src/attacks/project.js';
import { parseEpsilon, parseEpsilonList, checkEpsilon } from '../src/attacks/epsilon.js';
import { makeGoal } from '../src/attacks/goal.js';
import { projectHyperplaneBox } from '../src/attacks/algorithms/fab.js';
import { ssim, psnr } from '../src/eval/image-quality.js';
import { selectImages } from '../src/data/images.js';
import { MedshieldError } from '../src/errors.js';

await initEngine();
const data = await loadDataset('pneumoniamnist');
const img = selectImages(data.splits.test, 16, 2);
const d = 784;

test('project: every norm lands inside [0,1] and the ε ball, and is the identity inside it', () => {
  const rng = new Rng(1);
  for (const [norm, eps] of [
    ['linf', 8 / 255],
    ['l2', 0.7],
    ['l1', 5],
    ['l0', 0.05],
  ] as const) {
    const wild = Float32Array.from(img.x, (v) => v + 3 * rng.normal() * (norm === 'linf' ? 0.1 : 0.5));
    const p = project(img.x, wild, d, norm, eps);
    assert.ok(withinBall(img.x, p, d, norm, eps), `${norm} projection leaves the ball`);
    for (const v of p) assert.ok(v >= 0 && v <= 1);
    const again = project(img.x, p, d, norm, eps);
    for (let i = 0; i < p.length; i++)
      assert.ok(Math.abs(again[i] - p[i]) < 1e-6, `${norm} projection is not idempotent`);
  }
  const inside = Float32Array.from(img.x, (v, i) => Math.min(1, Math.max(0, v + (i % 2 ? 1 : -1) * 0.001)));
  const p = project(img.x, inside, d, 'linf', 2 / 255);
  for (let i = 0; i < p.length; i++) assert.ok(Math.abs(p[i] - inside[i]) < 1e-6);
  // NaN from a broken gradient never escapes
  const bad = Float32Array.from(img.x);
  bad[5] = NaN;
  assert.ok(withinBall(img.x, project(img.x, bad, d, 'linf', 0.1), d, 'linf', 0.1));
  assert.equal(perturbationSize([0.1, -0.3, 0], 'linf'), 0.3);
  assert.equal(perturbationSize([3, 4], 'l2'), 5);
});

test('ε parsing: fractions and decimals; ≤ 0 or > 1 (L∞) is a one-line error', () => {
  assert.equal(parseEpsilon('8/255'), 8 / 255);
  assert.equal(parseEpsilon('0.5'), 0.5);
  assert.deepEqual(
    parseEpsilonList('2/255, 0.1').map((e) => e.text),
    ['2/255', '0.1'],
  );
  for (const bad of ['0', '-1/255', 'abc', '1/0', '']) assert.throws(() => parseEpsilonList(bad), MedshieldError, bad);
  assert.throws(() => checkEpsilon(1.5, 'linf', d), /at most 1/);
  assert.doesNotThrow(() => checkEpsilon(1.5, 'l2', d));
  assert.throws(() => checkEpsilon(40, 'l2', d), /at most 28/);
});

test('criteria on every head: margins are negative exactly when the criterion holds', () => {
  const z = new Float32Array([2, 1, /**/ 0, 3]); // two samples, two logits
  const un = makeGoal('binary', 2, new Int32Array([0, 0]));
  assert.deepEqual(Array.from(un.marginRows(z)), [1, -3]);
  const other = makeGoal('binary', 2, new Int32Array([0, 1]), { kind: 'targeted', target: 'other' });
  assert.deepEqual(Array.from(other.target!), [1, 0]);
  assert.deepEqual(Array.from(other.marginRows(z)), [1, 3]);
  // one-logit binary head: v = [0, z]
  const one = makeGoal('binary', 1, new Int32Array([1, 0]));
  assert.deepEqual(Array.from(one.viewRows(new Float32Array([2, -1]))), [0, 2, 0, -1]);
  assert.deepEqual(Array.from(one.marginRows(one.viewRows(new Float32Array([2, -1])))), [2, 1]);
  // multi-class targeted needs a class
  assert.throws(
    () => makeGoal('multiclass', 5, new Int32Array([0]), { kind: 'targeted', target: 'other' }),
    /needs a target class/,
  );
  assert.throws(
    () => makeGoal('multiclass', 5, new Int32Array([0]), { kind: 'targeted', target: 7 }),
    /between 0 and 4/,
  );
  // multi-label: one label is a binary problem on that logit; all labels flip on any label
  const labels = new Int32Array([1, 0, 1, /**/ 0, 0, 1]);
  const logits = new Float32Array([3, -2, 1, /**/ -1, 2, 4]);
  const l2 = makeGoal('multilabel', 3, labels, { kind: 'untargeted' }, 2);
  assert.deepEqual(Array.from(l2.marginRows(l2.viewRows(logits))), [1, 4]);
  const l1 = makeGoal('multilabel', 3, labels, { kind: 'untargeted' }, 1);
  assert.deepEqual(Array.from(l1.marginRows(l1.viewRows(logits))), [2, -2]);
  const all = makeGoal('multilabel', 3, labels);
  assert.deepEqual(Array.from(all.marginRows(logits)), [1, -2]);
  assert.throws(() => makeGoal('multilabel', 3, labels, { kind: 'targeted', target: 1 }), MedshieldError);
  // tensor margins agree with the array ones
  const tm = tf.tidy(() => all.margin(tf.tensor2d(logits, [2, 3])).arraySync());
  assert.deepEqual(tm, [1, -2]);
});

test('DLR: Croce & Hein’s formula for k ≥ 3, CW margin on binary tasks, and it has a gradient', () => {
  const v = tf.tensor2d([[4, 1, 2, 0.5, 3]], [1, 5]);
  const g = makeGoal('multiclass', 5, new Int32Array([0]));
  const dlr = tf.tidy(() => g.loss(v, 'dlr').arraySync())[0];
  // −(z_y − max_{i≠y} z_i)/(z_π1 − z_π3) = −(4 − 3)/(4 − 2)
  assert.ok(Math.abs(dlr - -0.5) < 1e-6, `dlr ${dlr}`);
  const gt = g.withTarget(new Int32Array([1]));
  const dlrT = tf.tidy(() => gt.loss(v, 'dlr').arraySync())[0];
  // −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2) = −(4 − 1)/(4 − 1.5)
  assert.ok(Math.abs(dlrT - -3 / 2.5) < 1e-6, `targeted dlr ${dlrT}`);
  const grad = tf.tidy(() =>
    tf
      .grad((x: tf.Tensor) => tf.sum(g.loss(x as tf.Tensor2D, 'dlr')))(v)
      .arraySync(),
  ) as number[][];
  assert.ok(grad[0].some((x) => x !== 0));
  const b = makeGoal('binary', 2, new Int32Array([1]));
  const vb = tf.tensor2d([[0.5, 2]], [1, 2]);
  assert.deepEqual(
    tf.tidy(() => b.loss(vb, 'dlr').arraySync()),
    tf.tidy(() => b.loss(vb, 'cw').arraySync()),
  );
});

test('FAB projection: reaches the hyperplane inside the box with minimal L∞ / L2 step', () => {
  const rng = new Rng(4);
  for (const norm of ['linf', 'l2'] as const) {
    for (let trial = 0; trial < 20; trial++) {
      const p = Float32Array.from({ length: 50 }, () => rng.uniform());
      const w = Float32Array.from({ length: 50 }, () => rng.normal());
      const b = w.reduce((s, wi, i) => s + wi * p[i], 0) + (rng.uniform() - 0.5);
      const dd = projectHyperplaneBox(p, w, b, norm);
      const on = w.reduce((s, wi, i) => s + wi * (p[i] + dd[i]), 0);
      assert.ok(Math.abs(on - b) < 1e-4, `${norm}: w·(p+d) = ${on}, want ${b}`);
      for (let i = 0; i < 50; i++) assert.ok(p[i] + dd[i] >= -1e-6 && p[i] + dd[i] <= 1 + 1e-6);
    }
  }
});

test('SSIM and PSNR on real X-rays: identical → 1 and ∞; more noise → lower', () => {
  const a = img.x.subarray(0, d);
  assert.equal(ssim(a, a, 28, 28, 1), 1);
  assert.equal(psnr(a, a), Infinity);
  const rng = new Rng(0);
  const small = Float32Array.from(a, (v) => Math.min(1, Math.max(0, v + 0.01 * rng.normal())));
  const big = Float32Array.from(a, (v) => Math.min(1, Math.max(0, v + 0.1 * rng.normal())));
  assert.ok(ssim(a, small, 28, 28, 1) > ssim(a, big, 28, 28, 1));
  assert.ok(psnr(a, small) > psnr(a, big));
  assert.ok(
    Math.abs(
      psnr(
        a,
        Float32Array.from(a, (v) => v + 0.1),
      ) - 20,
    ) < 1e-3,
  );
});
