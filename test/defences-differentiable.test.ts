/**
 * Exact differentiable versions of input transforms (adaptive attacks, issue #10) on real
 * PneumoniaMNIST chest X-rays: Gaussian blur's and random resize-and-pad's tensor versions give
 * apply()'s values (resize-and-pad for identically seeded Rngs over successive calls, so both draw
 * the same random numbers in the same order), their gradients are finite and non-zero, and the
 * gradient matches the finite-difference directional derivative of apply().
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf, Rng } from '../src/engine/index.js';
import { loadDataset } from '../src/data/dataset.js';
import { selectImages } from '../src/data/images.js';
import { blurTransform } from '../src/defences/blur.js';
import { resizePadTransform } from '../src/defences/resizepad.js';
import type { InputTransform } from '../src/defences/types.js';

await initEngine({ threads: 1 });
const data = await loadDataset('pneumoniamnist');
const img = selectImages(data.splits.test, 16, 3);
const shape = img.shape;
const [h, w, c] = shape;
const dims: [number, number, number, number] = [img.n, h, w, c];

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

function viaTensor(t: InputTransform, x: Float32Array, rng?: Rng): Float32Array {
  const xt = tf.tensor4d(x, dims);
  const before = tf.memory().numTensors;
  const y = t.differentiable!(xt, rng);
  assert.equal(tf.memory().numTensors, before + 1, `${t.spec} leaks intermediate tensors`);
  const v = y.dataSync() as Float32Array;
  assert.deepEqual(y.shape, dims, `${t.spec} keeps the batch shape`);
  tf.dispose([xt, y]);
  return Float32Array.from(v);
}

/** ∇_x Σ differentiable(x)·wt for a fixed weight image wt, as a Float32Array. */
function gradient(t: InputTransform, x: Float32Array, wt: Float32Array, rng?: Rng): Float32Array {
  const xt = tf.tensor4d(x, dims);
  const wtt = tf.tensor4d(wt, dims);
  const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(t.differentiable!(v as tf.Tensor4D, rng), wtt)))(xt);
  const out = Float32Array.from(g.dataSync() as Float32Array);
  tf.dispose([xt, wtt, g]);
  return out;
}

const randomImage = (rng: Rng): Float32Array => Float32Array.from({ length: img.x.length }, () => rng.normal());
const dot = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

test('blur: differentiable() equals apply() on real X-rays (σ = 0.5, 1, 2, and 8 whose radius exceeds the image)', () => {
  for (const sigma of [0.5, 1, 2, 8]) {
    const t = blurTransform(sigma);
    const ref = t.apply(img.x, img.n, shape) as Float32Array;
    const d = maxDiff(viaTensor(t, img.x), ref);
    console.log(`blur σ=${sigma}: max |differentiable − apply| = ${d.toExponential(2)}`);
    assert.ok(d < 1e-5, `blur σ=${sigma}: max difference ${d}`);
  }
});

test('resizepad: identically seeded Rngs give the same output from apply() and differentiable() over three calls', () => {
  for (const max of [1.15, 1.3]) {
    const t = resizePadTransform(max);
    const rA = new Rng(11);
    const rB = new Rng(11);
    const outs: Float32Array[] = [];
    for (let call = 0; call < 3; call++) {
      const ref = t.apply(img.x, img.n, shape, rA) as Float32Array;
      const got = viaTensor(t, img.x, rB);
      const d = maxDiff(got, ref);
      console.log(`resizepad max=${max} call ${call + 1}: max |differentiable − apply| = ${d.toExponential(2)}`);
      assert.ok(d < 1e-5, `resizepad max=${max} call ${call + 1}: max difference ${d}`);
      outs.push(got);
    }
    // the calls really are random: successive draws differ
    assert.ok(
      maxDiff(outs[0], outs[1]) > 1e-3 && maxDiff(outs[1], outs[2]) > 1e-3,
      `resizepad max=${max}: successive calls identical`,
    );
    // and both consumed exactly the same random numbers
    assert.equal(rA.nextU32(), rB.nextU32(), `resizepad max=${max}: Rng states diverged`);
  }
  // the default Rng (none passed) matches too
  const t = resizePadTransform(1.15);
  assert.ok(maxDiff(viaTensor(t, img.x), t.apply(img.x, img.n, shape) as Float32Array) < 1e-5);
});

test('gradients through blur and resizepad are finite and non-zero', () => {
  const wt = randomImage(new Rng(5));
  for (const t of [blurTransform(1), blurTransform(0.5), resizePadTransform(1.15), resizePadTransform(1.3)]) {
    const g = gradient(t, img.x, wt, new Rng(2));
    assert.ok(g.every(Number.isFinite), `${t.spec}: non-finite gradient`);
    const norm = Math.sqrt(dot(g, g));
    assert.ok(norm > 1, `${t.spec}: gradient norm ${norm}`);
  }
});

test('the gradient equals the finite-difference directional derivative of apply() (blur, and resizepad at a fixed draw)', () => {
  const rng = new Rng(7);
  const wt = randomImage(rng);
  // an interior point of [0,1] (a real X-ray, contrast-scaled) so steps of ±ε·v never reach the clip
  const x0 = Float32Array.from(img.x, (v) => 0.05 + 0.9 * v);
  const eps = 0.01;
  const transforms: [InputTransform, number][] = [
    [blurTransform(1), 0],
    [blurTransform(2), 0],
    [resizePadTransform(1.3), 21],
  ];
  for (const [t, seed] of transforms) {
    const g = gradient(t, x0, wt, new Rng(seed));
    for (let k = 0; k < 2; k++) {
      const v = randomImage(rng);
      const vmax = v.reduce((m, a) => Math.max(m, Math.abs(a)), 0);
      const step = (sgn: number): Float32Array => Float32Array.from(x0, (a, i) => a + sgn * (eps / vmax) * v[i]);
      const xp = step(1);
      const xm = step(-1);
      assert.ok(xp.every((a) => a > 0 && a < 1) && xm.every((a) => a > 0 && a < 1));
      const f = (x: Float32Array): number => dot(t.apply(x, img.n, shape, new Rng(seed)) as Float32Array, wt);
      const numeric = f(xp) - f(xm);
      const dx = Float64Array.from(xp, (a, i) => a - xm[i]);
      const analytic = dot(g, dx);
      const rel = Math.abs(numeric - analytic) / Math.abs(numeric);
      console.log(
        `${t.spec} direction ${k + 1}: finite difference ${numeric.toFixed(6)}, ` +
          `gradient ${analytic.toFixed(6)}, relative error ${rel.toExponential(2)}`,
      );
      assert.ok(rel < 1e-3, `${t.spec}: relative error ${rel}`);
    }
  }
});
