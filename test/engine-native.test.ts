/**
 * The native oneDNN backend (src/engine/native, native/*.cc) against tfjs' pure-JS `cpu`
 * backend, the numerical reference: max |native − cpu| ≤ 1e-4 × max |cpu| for every native
 * kernel on seeded-random shapes (stride 1/2, padding same/valid/explicit, dilation, batch 1 and
 * 128), gradients through tf.grad, MaxPoolGrad's tie rule (first maximum in row-major window
 * order, as tfjs cpu), and that the kernels really ran natively (no silent cpu fallback).
 * Skipped, with the reason, when the addon is not built (it needs libdnnl-dev and a compiler).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tf, Rng, quietCpuBackend } from '../src/engine/index.js';
import {
  registerNativeBackend,
  loadAddon,
  nativeErrors,
  nativeCounts,
  countNativeCalls,
  nativeMoments,
  fusedBnCalls,
  poolStats,
} from '../src/engine/native/index.js';
import { convBiasAct, adamOptimizer, siluGrad, affineRelu } from '../src/engine/index.js';

const TOL = 1e-4;
const addon = loadAddon();
const skip = typeof addon === 'string' ? `native backend unavailable: ${addon}` : false;
if (skip) console.log(`# engine-native: skipping — ${skip}`);

before(async () => {
  if (skip) return;
  const r = await registerNativeBackend(2);
  assert.notEqual(typeof r, 'string', `native backend failed to register: ${String(r)}`);
  countNativeCalls(true);
  quietCpuBackend('cpu');
  quietCpuBackend('native');
});

after(() => {
  if (skip) return;
  assert.deepEqual([...nativeErrors], [], 'a native kernel threw and fell back to cpu');
  countNativeCalls(false);
});

/** A tensor of N(0,1) values from the seeded medshield RNG (backend-independent). */
function randn(shape: number[], rng: Rng, std = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(rng.fillNormal(new Float32Array(n), 0, std), shape);
}

function run(backend: string, f: () => tf.Tensor | tf.Tensor[]): Float32Array[] {
  tf.setBackend(backend);
  return tf.tidy(() => {
    const r = f();
    return (Array.isArray(r) ? r : [r]).map((t) => Float32Array.from(t.dataSync() as Float32Array));
  });
}

function relDiff(ref: Float32Array, got: Float32Array): number {
  assert.equal(ref.length, got.length);
  let d = 0,
    m = 0;
  for (let i = 0; i < ref.length; i++) {
    d = Math.max(d, Math.abs(ref[i]! - got[i]!));
    m = Math.max(m, Math.abs(ref[i]!));
  }
  return d / Math.max(m, 1e-12);
}

/** f's outputs on cpu and on native; `kernels` must have run natively at least once during f. */
function onBoth(label: string, f: () => tf.Tensor | tf.Tensor[], kernels: string[]): [Float32Array[], Float32Array[]] {
  const cpu = run('cpu', f);
  const before = new Map(kernels.map((k) => [k, nativeCounts.get(k)?.native ?? 0]));
  const nat = run('native', f);
  tf.setBackend('cpu');
  for (const k of kernels)
    assert.ok((nativeCounts.get(k)?.native ?? 0) > before.get(k)!, `${label}: kernel ${k} did not run natively`);
  assert.equal(cpu.length, nat.length);
  return [cpu, nat];
}

/** Compare f on cpu and native within TOL; `kernels` must have run natively at least once during f. */
function assertClose(label: string, f: () => tf.Tensor | tf.Tensor[], kernels: string[]): void {
  const [cpu, nat] = onBoth(label, f, kernels);
  cpu.forEach((c, i) => {
    assert.ok(
      c.some((v) => v !== 0),
      `${label}[${i}]: reference is all zeros (test is vacuous)`,
    );
    const r = relDiff(c, nat[i]!);
    assert.ok(r <= TOL, `${label}[${i}]: max |native − cpu| / max |cpu| = ${r.toExponential(2)} > ${TOL}`);
  });
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  n: number;
  h: number;
  w: number;
  c: number;
  oc: number;
  k: number;
  s: number;
  pad: Pad;
  d: number;
}

const explicit: Pad = [
  [0, 0],
  [1, 2],
  [2, 0],
  [0, 0],
];
const convCases: ConvCase[] = [
  { n: 1, h: 9, w: 9, c: 3, oc: 5, k: 3, s: 1, pad: 'same', d: 1 },
  { n: 2, h: 10, w: 7, c: 4, oc: 6, k: 3, s: 2, pad: 'same', d: 1 },
  { n: 3, h: 11, w: 11, c: 5, oc: 4, k: 3, s: 2, pad: 'valid', d: 1 },
  { n: 2, h: 8, w: 9, c: 3, oc: 7, k: 3, s: 1, pad: explicit, d: 1 },
  { n: 2, h: 12, w: 12, c: 4, oc: 4, k: 3, s: 1, pad: 'same', d: 2 },
  { n: 2, h: 9, w: 9, c: 6, oc: 8, k: 1, s: 2, pad: 'same', d: 1 },
  { n: 1, h: 13, w: 13, c: 2, oc: 3, k: 5, s: 2, pad: 'valid', d: 1 },
  { n: 128, h: 14, w: 14, c: 8, oc: 16, k: 3, s: 1, pad: 'same', d: 1 },
];
const label = (c: ConvCase): string =>
  `${c.n}×${c.h}×${c.w}×${c.c}→${c.oc} k${c.k} s${c.s} ${typeof c.pad === 'string' ? c.pad : 'explicit'} d${c.d}`;

test('Conv2D forward matches cpu (stride, padding, dilation, batch 1 and 128)', { skip }, () => {
  const rng = new Rng(1);
  for (const c of convCases) {
    const x = randn([c.n, c.h, c.w, c.c], rng),
      w = randn([c.k, c.k, c.c, c.oc], rng);
    assertClose(`conv ${label(c)}`, () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad, 'NHWC', c.d), [
      'Conv2D',
    ]);
  }
});

test('reordered-filter cache: alternating filters of one shape, and a variable after assign, stay exact', {
  skip,
}, () => {
  const rng = new Rng(13);
  const x = randn([2, 8, 8, 4], rng),
    wa = randn([3, 3, 4, 8], rng),
    wb = randn([3, 3, 4, 8], rng);
  const v = tf.variable(wa.clone());
  assertClose('alternating filters', () => {
    const outs = [
      tf.conv2d(x as tf.Tensor4D, wa as tf.Tensor4D, 1, 'same'),
      tf.conv2d(x as tf.Tensor4D, wb as tf.Tensor4D, 1, 'same'),
      tf.conv2d(x as tf.Tensor4D, wa as tf.Tensor4D, 1, 'same'),
    ];
    const dx = tf.grad((xx: tf.Tensor) => tf.conv2d(xx as tf.Tensor4D, wb as tf.Tensor4D, 1, 'same').sum())(x);
    return [...outs, dx];
  }, ['Conv2D', 'Conv2DBackpropInput']);
  tf.setBackend('native');
  const before = tf.tidy(() =>
    tf
      .conv2d(x as tf.Tensor4D, v as unknown as tf.Tensor4D, 1, 'same')
      .dataSync()
      .slice(),
  );
  v.assign(wb);
  const after = tf.tidy(() =>
    tf
      .conv2d(x as tf.Tensor4D, v as unknown as tf.Tensor4D, 1, 'same')
      .dataSync()
      .slice(),
  );
  const ref = tf.tidy(() => {
    tf.setBackend('cpu');
    return tf
      .conv2d(x as tf.Tensor4D, wb as tf.Tensor4D, 1, 'same')
      .dataSync()
      .slice();
  });
  tf.setBackend('cpu');
  assert.ok(
    relDiff(ref as Float32Array, after as Float32Array) <= TOL,
    'conv after variable.assign used a stale filter',
  );
  assert.ok(relDiff(ref as Float32Array, before as Float32Array) > 0.1, 'filters a and b should differ');
  v.dispose();
});

test('Conv2D gradients (input and filter) through tf.grad match cpu', { skip }, () => {
  const rng = new Rng(2);
  for (const c of convCases.filter((cc) => cc.d === 1)) {
    const x = randn([c.n, c.h, c.w, c.c], rng),
      w = randn([c.k, c.k, c.c, c.oc], rng);
    const loss = (xx: tf.Tensor, ww: tf.Tensor): tf.Scalar =>
      tf
        .conv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, c.s, c.pad)
        .square()
        .sum();
    assertClose(`conv grads ${label(c)}`, () => tf.grads(loss)([x, w]), [
      'Conv2DBackpropInput',
      'Conv2DBackpropFilter',
    ]);
  }
});

test('FusedConv2D (bias + relu / relu6 / leakyrelu / linear) matches cpu', { skip }, () => {
  const rng = new Rng(3);
  const x = randn([2, 9, 9, 4], rng),
    w = randn([3, 3, 4, 6], rng),
    b = randn([6], rng);
  for (const activation of ['relu', 'relu6', 'leakyrelu', 'linear', 'sigmoid', 'elu'] as const) {
    assertClose(
      `fused conv ${activation}`,
      () =>
        tf.fused.conv2d({
          x: x as tf.Tensor4D,
          filter: w as tf.Tensor4D,
          strides: 2,
          pad: 'same',
          bias: b,
          activation,
          leakyreluAlpha: 0.1,
        }),
      ['FusedConv2D'],
    );
  }
  assertClose(
    'fused conv no bias',
    () =>
      tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: 'valid', activation: 'relu' }),
    ['FusedConv2D'],
  );
});

test('depthwise conv forward and gradients match cpu', { skip }, () => {
  const rng = new Rng(4);
  for (const [s, pad, mult] of [
    [1, 'same', 1],
    [2, 'same', 2],
    [2, 'valid', 3],
  ] as [number, 'same' | 'valid', number][]) {
    const x = randn([2, 9, 8, 4], rng),
      w = randn([3, 3, 4, mult], rng);
    assertClose(
      `depthwise s${s} ${pad} ×${mult}`,
      () => tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, s, pad),
      ['DepthwiseConv2dNative'],
    );
    const loss = (xx: tf.Tensor, ww: tf.Tensor): tf.Scalar =>
      tf
        .depthwiseConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, s, pad)
        .square()
        .sum();
    assertClose(`depthwise grads s${s} ${pad} ×${mult}`, () => tf.grads(loss)([x, w]), [
      'DepthwiseConv2dNativeBackpropInput',
      'DepthwiseConv2dNativeBackpropFilter',
    ]);
  }
});

test('MatMul / BatchMatMul / fused matmul match cpu (transposes, batch broadcast)', { skip }, () => {
  const rng = new Rng(5);
  const a = randn([37, 53], rng),
    b = randn([53, 29], rng);
  assertClose('matmul', () => tf.matMul(a, b), ['BatchMatMul']);
  assertClose('matmul Tᵃ', () => tf.matMul(a.transpose(), b, true, false), ['BatchMatMul']);
  assertClose('matmul Tᵇ', () => tf.matMul(a, b.transpose(), false, true), ['BatchMatMul']);
  assertClose('matmul TᵃTᵇ', () => tf.matMul(a.transpose(), b.transpose(), true, true), ['BatchMatMul']);
  const ba = randn([3, 4, 7, 5], rng),
    bb = randn([3, 4, 5, 6], rng),
    b1 = randn([5, 6], rng);
  assertClose('batch matmul', () => tf.matMul(ba, bb), ['BatchMatMul']);
  assertClose('batch matmul broadcast', () => tf.matMul(ba, b1), ['BatchMatMul']);
  const bias = randn([29], rng);
  for (const activation of ['relu', 'linear', 'sigmoid'] as const) {
    assertClose(
      `fused matmul ${activation}`,
      () => tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias, activation }),
      ['_FusedMatMul'],
    );
  }
  assertClose('matmul grads', () => tf.grads((x: tf.Tensor, y: tf.Tensor) => tf.matMul(x, y).square().sum())([a, b]), [
    'BatchMatMul',
  ]);
});

test('MaxPool / AvgPool forward and gradients match cpu', { skip }, () => {
  const rng = new Rng(6);
  for (const [k, s, pad] of [
    [2, 2, 'valid'],
    [3, 2, 'same'],
    [3, 1, 'same'],
    [3, 2, 'valid'],
  ] as [number, number, 'same' | 'valid'][]) {
    const x = randn([3, 9, 10, 5], rng);
    assertClose(`maxPool k${k} s${s} ${pad}`, () => tf.maxPool(x as tf.Tensor4D, k, s, pad), ['MaxPool']);
    const dy = randn(
      tf.tidy(() => tf.maxPool(x as tf.Tensor4D, k, s, pad).shape),
      rng,
    );
    assertClose(
      `maxPool grad k${k} s${s} ${pad}`,
      () =>
        tf.grad((xx: tf.Tensor) =>
          tf
            .maxPool(xx as tf.Tensor4D, k, s, pad)
            .mul(dy)
            .sum(),
        )(x),
      ['MaxPoolGrad'],
    );
    assertClose(`avgPool k${k} s${s} ${pad}`, () => tf.avgPool(x as tf.Tensor4D, k, s, pad), ['AvgPool']);
    if (pad === 'valid')
      assertClose(
        `avgPool grad k${k} s${s}`,
        () =>
          tf.grad((xx: tf.Tensor) =>
            tf
              .avgPool(xx as tf.Tensor4D, k, s, pad)
              .square()
              .sum(),
          )(x),
        ['AvgPoolGrad'],
      );
  }
  // Windows that tile the input (the addon's no-zero-fill path), odd channel count.
  const tiled = randn([4, 8, 6, 37], rng);
  assertClose(
    'maxPool grad tiled 2×2',
    () =>
      tf.grad((xx: tf.Tensor) =>
        tf
          .maxPool(xx as tf.Tensor4D, 2, 2, 'valid')
          .square()
          .sum(),
      )(tiled),
    ['MaxPoolGrad'],
  );
  const big = randn([128, 14, 14, 16], rng);
  assertClose(
    'maxPool batch 128',
    () =>
      tf.grad((xx: tf.Tensor) =>
        tf
          .maxPool(xx as tf.Tensor4D, 2, 2, 'valid')
          .square()
          .sum(),
      )(big),
    ['MaxPool', 'MaxPoolGrad'],
  );
});

test('MaxPoolGrad tie rule: the first maximum in row-major window order gets the gradient (as cpu)', { skip }, () => {
  const rng = new Rng(7);
  // ReLU of mostly-negative values: windows full of tied zeros.
  const x = randn([2, 8, 8, 3], rng).sub(1.5);
  assertClose(
    'maxPool(relu) grad ties',
    () => tf.grad((xx: tf.Tensor) => tf.maxPool(tf.relu(xx) as tf.Tensor4D, 2, 2, 'valid').sum())(tf.relu(x)),
    ['MaxPoolGrad'],
  );
  assertClose(
    'maxPool(relu) grad ties same/overlap',
    () => tf.grad((xx: tf.Tensor) => tf.maxPool(xx as tf.Tensor4D, 3, 2, 'same').sum())(tf.relu(x)),
    ['MaxPoolGrad'],
  );
  // Constant input: every window is a tie; the gradient must land on each window's top-left pixel.
  tf.setBackend('native');
  const g = tf.tidy(() =>
    tf
      .grad((xx: tf.Tensor) => tf.maxPool(xx as tf.Tensor4D, 2, 2, 'valid').sum())(tf.zeros([1, 4, 4, 1]))
      .dataSync(),
  );
  tf.setBackend('cpu');
  assert.deepEqual(Array.from(g), [1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0]);
});

test('AvgPoolGrad with same padding is the adjoint of AvgPool (⟨avgPool(x), dy⟩ = ⟨x, avgPoolGrad(dy)⟩)', {
  skip,
}, () => {
  const rng = new Rng(8);
  const x = randn([2, 7, 9, 3], rng);
  tf.setBackend('native');
  const [lhs, rhs] = tf.tidy(() => {
    const y = tf.avgPool(x as tf.Tensor4D, 3, 2, 'same');
    const dy = randn(y.shape, rng);
    const dx = tf.grad((xx: tf.Tensor) =>
      tf
        .avgPool(xx as tf.Tensor4D, 3, 2, 'same')
        .mul(dy)
        .sum(),
    )(x);
    return [y.mul(dy).sum().dataSync()[0]!, x.mul(dx).sum().dataSync()[0]!];
  });
  tf.setBackend('cpu');
  assert.ok(Math.abs(lhs - rhs) <= 1e-4 * Math.max(1, Math.abs(lhs)), `adjoint mismatch ${lhs} vs ${rhs}`);
});

test('batch norm, broadcasting elementwise ops, reductions and Tile match cpu', { skip }, () => {
  const rng = new Rng(9);
  const x = randn([8, 12, 12, 32], rng),
    c = randn([32], rng),
    per = randn([8, 1, 1, 32], rng),
    row = randn([8, 12, 12, 1], rng);
  assertClose('batchNorm', () => tf.batchNorm(x, c, c.abs().add(0.5), c, c.mul(2), 1e-3), ['FusedBatchNorm']);
  assertClose('batchNorm no scale/offset', () => tf.batchNorm(x, c, c.abs().add(0.5)), ['FusedBatchNorm']);
  assertClose(
    'add/sub/mul/div broadcast',
    () => [
      tf.add(x, c),
      tf.sub(c, x),
      tf.mul(x, per),
      tf.div(x, row.abs().add(1)),
      tf.squaredDifference(x, per),
      tf.maximum(x, c),
      tf.minimum(row, x),
    ],
    ['Add', 'Sub', 'Multiply', 'RealDiv', 'SquaredDifference', 'Maximum', 'Minimum'],
  );
  assertClose(
    'same-shape and scalar binary',
    () => [tf.add(x, x), tf.mul(x, tf.scalar(3)), tf.div(tf.scalar(2), x.abs().add(1))],
    ['Add', 'Multiply', 'RealDiv'],
  );
  assertClose(
    'unary',
    () => [
      tf.relu(x),
      tf.step(x),
      tf.step(x, 0.3),
      tf.rsqrt(x.abs().add(0.1)),
      tf.sqrt(x.abs()),
      tf.neg(x),
      tf.exp(x),
      tf.square(x),
      tf.relu6(x.mul(4)),
      tf.sigmoid(x),
      tf.reciprocal(x),
      tf.log(x.abs().add(0.1)),
      tf.abs(x),
    ],
    ['Relu', 'Step', 'Rsqrt', 'Sqrt', 'Neg', 'Exp', 'Square', 'Relu6', 'Sigmoid', 'Reciprocal', 'Log', 'Abs'],
  );
  assertClose(
    'sum/mean',
    () => [
      tf.sum(x, [0, 1, 2]),
      tf.sum(x, [0, 1, 2], true),
      tf.mean(x, [0, 1, 2]),
      tf.sum(x, -1),
      tf.mean(x, [2, 3], true),
      tf.sum(x),
      tf.mean(x, [1, 2]),
      tf.sum(x, [1, 2], true),
    ],
    ['Sum', 'Mean'],
  );
  assertClose('moments', () => {
    const m = tf.moments(x, [0, 1, 2]);
    return [m.mean, m.variance];
  }, ['Mean']);
  assertClose('tile per-channel vector', () => tf.tile(c.reshape([1, 1, 1, 32]), [8, 12, 12, 1]), ['Tile']);
});

test("Slice, SplitV, Concat (and Concat's gradient), Transpose, PadV2, Softmax and Erf: exactly the cpu kernels' values", {
  skip,
}, () => {
  const rng = new Rng(11);
  const x = randn([4, 7, 6, 40], rng),
    a = randn([4, 7, 6, 32], rng),
    b = randn([4, 7, 6, 8], rng),
    c = randn([4, 7, 6, 3], rng),
    m = randn([3, 5, 4, 2, 6], rng);
  const exact = (label: string, f: () => tf.Tensor | tf.Tensor[], kernels: string[]) => {
    const [cpu, nat] = onBoth(label, f, kernels);
    cpu.forEach((v, i) => assert.deepEqual(nat[i], v, `${label}[${i}] differs from cpu`));
  };
  exact(
    'slice',
    () => [
      tf.slice(x, [0, 0, 0, 8], [4, 7, 6, 32]), // channel block (DenseNet's concat gradient)
      tf.slice(x, [1, 2, 1, 0], [2, 3, 4, 40]), // spatial crop (pad gradient)
      tf.slice(x, [0, 3, 0, 5], [4, 1, 6, 1]), // size-1 dims dropped
      tf.slice(x, [1, 1, 1, 1], [3, 5, 4, 30]), // four strided dims: cpu kernel
      tf.slice(m, [0, 1, 0, 0, 2], [3, 3, 4, 2, 3]),
    ],
    ['Slice'],
  );
  exact('split on channels', () => tf.split(x, [32, 5, 3], 3), ['SplitV']);
  exact('split on rows', () => tf.split(x, 7, 1), ['SplitV']);
  exact('concat on channels', () => [tf.concat([a, b, c], 3), tf.concat([c, a], -1)], ['Concat']);
  exact('concat on rows', () => tf.concat([a, x.slice([0, 0, 0, 0], [4, 7, 6, 32])], 2), ['Concat']);
  exact(
    'transpose',
    () => [
      tf.transpose(x, [0, 3, 1, 2]), // NHWC → NCHW
      tf.transpose(m.reshape([3, 20, 12]), [1, 0, 2]), // attention heads (last axis kept)
      tf.transpose(m.reshape([3, 20, 12]), [1, 2, 0]),
      tf.transpose(m, [4, 2, 0, 3, 1]), // five strided dims: JS loop
    ],
    ['Transpose'],
  );
  exact(
    'pad',
    () => [
      tf.pad(a, [
        [0, 0],
        [1, 2],
        [0, 3],
        [0, 0],
      ]),
      tf.pad(
        m,
        [
          [0, 0],
          [0, 0],
          [1, 0],
          [0, 0],
          [2, 5],
        ],
        1.5,
      ),
    ],
    ['PadV2'],
  );
  exact('softmax and erf', () => [tf.softmax(x), tf.softmax(m.mul(10)), tf.erf(x), tf.erf(m.mul(3))], [
    'Softmax',
    'Erf',
  ]);
  exact('gradient of a channel concat', () => {
    const w = randn([4, 7, 6, 43], new Rng(12));
    return tf.grads((p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) => tf.sum(tf.mul(tf.concat([p, q, r], 3), w)))([
      a,
      b,
      c,
    ]);
  }, ['SplitV', 'Concat']);
});

test('siluGrad (one native pass) matches the composed SiLU gradient on cpu', { skip }, () => {
  const rng = new Rng(13);
  const x = randn([8, 12, 12, 32], rng, 3),
    dy = randn([8, 12, 12, 32], rng);
  const cpu = run('cpu', () => {
    const sg = tf.sigmoid(x);
    return tf.mul(dy, tf.mul(sg, tf.add(1, tf.mul(x, tf.sub(1, sg)))));
  });
  tf.setBackend('cpu');
  assert.equal(siluGrad(dy, x), null, 'siluGrad must be null off the native backend');
  const nat = run('native', () => siluGrad(dy, x)!);
  tf.setBackend('cpu');
  const r = relDiff(cpu[0]!, nat[0]!);
  assert.ok(r <= 1e-6, `max |native − cpu| / max |cpu| = ${r.toExponential(2)}`);
});

test('affineRelu (inference batch norm → ReLU, one op) and its input gradient match the composed ops on cpu', {
  skip,
}, () => {
  const rng = new Rng(14);
  const x = randn([4, 9, 9, 24], rng),
    dy = randn([4, 9, 9, 24], rng),
    s = randn([24], rng) as tf.Tensor1D,
    b = randn([24], rng) as tf.Tensor1D;
  const f = (fused: boolean) => () => {
    const g = tf.grad((xx: tf.Tensor) =>
      tf.sum(tf.mul(fused ? affineRelu(xx, s, b)! : tf.relu(tf.add(tf.mul(xx, s), b)), dy)),
    );
    return [fused ? affineRelu(x, s, b)! : tf.relu(tf.add(tf.mul(x, s), b)), g(x)];
  };
  const cpu = run('cpu', f(false));
  const nat = run('native', f(true));
  tf.setBackend('cpu');
  cpu.forEach((c, i) => {
    const r = relDiff(c, nat[i]!);
    assert.ok(r <= 1e-6, `[${i}] max |native − cpu| / max |cpu| = ${r.toExponential(2)}`);
  });
});

test('gradients of a small conv net (conv, batch norm, relu, max-pool, dense) match cpu', { skip }, () => {
  const rng = new Rng(10);
  const x = randn([16, 12, 12, 3], rng);
  const w1 = randn([3, 3, 3, 16], rng, 0.3),
    w2 = randn([3, 3, 16, 32], rng, 0.1),
    b2 = randn([32], rng, 0.1);
  const gamma = randn([16], rng, 0.1).add(1),
    beta = randn([16], rng, 0.1);
  const wd = randn([3 * 3 * 32, 4], rng, 0.05),
    labels = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3], 'int32'), 4);
  const net = (xx: tf.Tensor, a: tf.Tensor, bb: tf.Tensor, g: tf.Tensor, be: tf.Tensor, d: tf.Tensor): tf.Scalar => {
    let h: tf.Tensor = tf.conv2d(xx as tf.Tensor4D, a as tf.Tensor4D, 1, 'same');
    const m = tf.moments(h, [0, 1, 2]);
    h = tf.relu(tf.batchNorm(h, m.mean, m.variance, be, g, 1e-5));
    h = tf.maxPool(h as tf.Tensor4D, 2, 2, 'valid');
    h = tf.relu(tf.conv2d(h as tf.Tensor4D, bb as tf.Tensor4D, 2, 'same').add(b2));
    const logits = tf.matMul(h.reshape([16, -1]), d);
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  };
  assertClose('conv net grads', () => tf.grads(net)([x, w1, w2, gamma, beta, wd]), [
    'Conv2D',
    'Conv2DBackpropInput',
    'Conv2DBackpropFilter',
    'MaxPoolGrad',
    'FusedBatchNorm',
    'BatchMatMul',
    'MedshieldReluGrad',
    'MedshieldSquareGrad',
  ]);
});

test('one-pass moments (what tfjs-layers batch norm calls) and its gradient match cpu', { skip }, () => {
  const rng = new Rng(11);
  const x = randn([16, 10, 10, 24], rng, 2).add(3);
  const a = randn([24], rng),
    b = randn([24], rng);
  assertClose('moments values', () => {
    const m = nativeMoments(x, [0, 1, 2]);
    return [m.mean, m.variance];
  }, ['MedshieldMoments']);
  assertClose(
    'moments gradient',
    () =>
      tf.grad((xx: tf.Tensor) => {
        const m = nativeMoments(xx, [0, 1, 2]);
        return tf.add(tf.sum(tf.mul(m.mean, a)), tf.sum(tf.mul(m.variance, b))) as tf.Scalar;
      })(x),
    ['MedshieldMoments', 'MedshieldChannelAffine'],
  );
});

test('a tfjs-layers BatchNormalization layer in training mode: output and gradients match cpu', { skip }, () => {
  const rng = new Rng(12);
  const x = randn([32, 8, 8, 16], rng, 1.5).add(0.5);
  const dy = randn([32, 8, 8, 16], rng);
  const layer = tf.layers.batchNormalization({ epsilon: 1e-5 });
  layer.build([null, 8, 8, 16]);
  layer.setWeights([randn([16], rng, 0.2).add(1), randn([16], rng, 0.2), tf.zeros([16]), tf.ones([16])]);
  const [gamma, beta] = layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const run = (): tf.Tensor[] => {
    const f = (): tf.Scalar => tf.sum(tf.mul(layer.apply(x, { training: true }) as tf.Tensor, dy));
    const { grads } = tf.variableGrads(f, [gamma!, beta!]);
    const gx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx, { training: true }) as tf.Tensor, dy)))(x);
    return [layer.apply(x, { training: true }) as tf.Tensor, gx, grads[gamma!.name]!, grads[beta!.name]!];
  };
  const calls = { ...fusedBnCalls };
  assertClose('batchNormalization layer', run, ['MedshieldMoments', 'MedshieldChannelAffine']);
  // The fused training-mode op (batchnorm.ts: one affine pass forward, two passes backward) ran.
  assert.ok(
    fusedBnCalls.forward > calls.forward && fusedBnCalls.backward > calls.backward,
    'fused training batch norm did not run',
  );
});

test('fused training batch norm at batch 128 (ResNet shapes, no γ/β broadcasts) matches cpu with tf.grad', {
  skip,
}, () => {
  const rng = new Rng(16);
  for (const [h, c] of [
    [28, 32],
    [7, 256],
  ] as [number, number][]) {
    const x = randn([128, h, h, c], rng, 2).add(1);
    const dy = randn([128, h, h, c], rng);
    const layer = tf.layers.batchNormalization({ epsilon: 1e-5, momentum: 0.9 });
    layer.build([null, h, h, c]);
    const init = [randn([c], rng, 0.3).add(1), randn([c], rng, 0.3), tf.zeros([c]), tf.ones([c])];
    const [gamma, beta] = layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const calls = fusedBnCalls.backward;
    assertClose(`training batch norm ${h}×${h}×${c}`, () => {
      layer.setWeights(init);
      const f = (xx: tf.Tensor): tf.Scalar => tf.sum(tf.mul(layer.apply(xx, { training: true }) as tf.Tensor, dy));
      const gx = tf.grad(f)(x);
      const { grads } = tf.variableGrads(() => f(x), [gamma!, beta!]);
      // The moving averages were updated from the batch statistics, as unfused.
      return [gx, grads[gamma!.name]!, grads[beta!.name]!, ...layer.getWeights().slice(2)];
    }, ['MedshieldMoments']);
    assert.ok(fusedBnCalls.backward > calls);
  }
});

test('convBiasAct (conv + bias + relu, lazy gradients) matches tf.fused.conv2d on cpu, with gradients', {
  skip,
}, () => {
  const rng = new Rng(17);
  for (const c of convCases.filter((cc) => cc.d === 1 && typeof cc.pad === 'string')) {
    const x = randn([c.n, c.h, c.w, c.c], rng) as tf.Tensor4D,
      w = randn([c.k, c.k, c.c, c.oc], rng) as tf.Tensor4D;
    const b = randn([c.oc], rng) as tf.Tensor1D;
    for (const activation of ['relu', 'linear'] as const) {
      const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        convBiasAct({
          x: xx as tf.Tensor4D,
          filter: ww as tf.Tensor4D,
          bias: bb as tf.Tensor1D,
          strides: c.s,
          pad: c.pad as 'same' | 'valid',
          activation,
        });
      const dy = randn(
        tf.tidy(() => f(x, w, b).shape),
        rng,
      );
      assertClose(`convBiasAct ${activation} ${label(c)}`, () => {
        const y = f(x, w, b);
        const g = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(f(xx, ww, bb), dy)))([
          x,
          w,
          b,
        ]);
        // input only: no filter gradient needed
        const gx = tf.grad((xx: tf.Tensor) => tf.sum(tf.mul(f(xx, w, b), dy)))(x);
        return [y, ...g, gx];
      }, ['MedshieldFusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']);
    }
  }
});

test('tfjs-layers conv2d layers (with and without bias): input and weight gradients match cpu', { skip }, () => {
  const rng = new Rng(14);
  const x = randn([4, 10, 10, 3], rng);
  for (const useBias of [false, true]) {
    const layer = tf.layers.conv2d({
      filters: 8,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      useBias,
      kernelInitializer: 'glorotNormal',
    });
    layer.build([null, 10, 10, 3]);
    layer.setWeights(layer.getWeights().map((w) => randn(w.shape, rng)));
    const vars = layer.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
    const loss = (xx: tf.Tensor): tf.Scalar => tf.sum(tf.square(layer.apply(xx) as tf.Tensor));
    assertClose(
      `conv2d layer useBias=${useBias}`,
      () => {
        const gx = tf.grad(loss)(x);
        const { grads } = tf.variableGrads(() => loss(x), vars);
        return [layer.apply(x) as tf.Tensor, gx, ...vars.map((v) => grads[v.name]!)];
      },
      useBias
        ? ['FusedConv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter']
        : ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'],
    );
  }
});

test('a small residual tfjs-layers model (conv, batch norm, relu, add, pooling, dense): loss and all weight gradients match cpu', {
  skip,
}, () => {
  const rng = new Rng(15);
  const input = tf.input({ shape: [12, 12, 1] });
  const conv = (filters: number, stride: number) =>
    tf.layers.conv2d({ filters, kernelSize: 3, strides: stride, padding: 'same', useBias: false });
  const bn = () => tf.layers.batchNormalization({ epsilon: 1e-5 });
  let h = tf.layers.reLU().apply(bn().apply(conv(8, 1).apply(input))) as tf.SymbolicTensor;
  const y1 = bn().apply(conv(8, 1).apply(tf.layers.reLU().apply(bn().apply(conv(8, 1).apply(h))))) as tf.SymbolicTensor;
  h = tf.layers.reLU().apply(tf.layers.add().apply([y1, h])) as tf.SymbolicTensor;
  h = tf.layers
    .maxPooling2d({ poolSize: 2 })
    .apply(tf.layers.reLU().apply(bn().apply(conv(16, 2).apply(h)))) as tf.SymbolicTensor;
  const logits = tf.layers
    .dense({ units: 3 })
    .apply(tf.layers.globalAveragePooling2d({}).apply(h)) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: logits });
  const init = model.weights.map((w) =>
    w.name.includes('variance') ? tf.ones(w.shape as number[]) : randn(w.shape as number[], rng, 0.3),
  );
  const x = randn([16, 12, 12, 1], rng);
  const labels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: 16 }, (_, i) => i % 3),
      'int32',
    ),
    3,
  );
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  assertClose('residual model step', () => {
    model.setWeights(init); // training-mode calls move the batch-norm moving averages: same start on each backend
    const { value, grads } = tf.variableGrads(
      () => tf.losses.softmaxCrossEntropy(labels, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
      vars,
    );
    const gx = tf.grad(
      (xx: tf.Tensor) =>
        tf.losses.softmaxCrossEntropy(labels, model.apply(xx, { training: false }) as tf.Tensor) as tf.Scalar,
    )(x);
    return [value, gx, ...vars.map((v) => grads[v.name]!)];
  }, [
    'Conv2D',
    'Conv2DBackpropInput',
    'Conv2DBackpropFilter',
    'MedshieldMoments',
    'MedshieldChannelAffine',
    'MaxPoolGrad',
  ]);
  // Three SGD steps (weights and batch-norm statistics updated in place, old arrays disposed and
  // reused by the output pool, filters re-read each step): same weights as cpu.
  const big = randn([128, 12, 12, 1], rng);
  const bigLabels = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: 128 }, (_, i) => i % 3),
      'int32',
    ),
    3,
  );
  assertClose('residual model, 3 SGD steps', () => {
    model.setWeights(init);
    const opt = tf.train.sgd(0.1);
    for (let i = 0; i < 3; i++) {
      const { value, grads } = tf.variableGrads(
        () => tf.losses.softmaxCrossEntropy(bigLabels, model.apply(big, { training: true }) as tf.Tensor) as tf.Scalar,
        vars,
      );
      opt.applyGradients(grads);
      tf.dispose([value, grads]);
    }
    opt.dispose();
    return [model.apply(big, { training: false }) as tf.Tensor, ...model.getWeights().map((w) => w.clone())];
  }, ['Conv2D', 'Conv2DBackpropFilter', 'MedshieldMoments']);
});

test('output buffer pool: disposed outputs are reused, but never an array read out or viewed by another tensor', {
  skip,
}, () => {
  const rng = new Rng(18);
  tf.setBackend('native');
  const x = randn([64, 32, 32, 8], rng); // 524 288 elements: pooled size
  const churn = () => {
    for (let i = 0; i < 4; i++)
      tf.tidy(() => {
        tf.neg(tf.relu(x));
        tf.abs(x);
      });
  };
  churn();
  const reused = poolStats.reused;
  churn();
  assert.ok(poolStats.reused > reused, 'no output was reused from the pool');
  // An array handed out by dataSync keeps its values after its tensor is disposed.
  const a = tf.relu(x);
  const v = a.dataSync() as Float32Array;
  const copy = Float32Array.from(v);
  a.dispose();
  churn();
  assert.deepEqual(v, copy, 'a dataSync result was overwritten by a later kernel');
  // A contiguous slice (possibly a view of the parent's buffer) survives the parent's disposal.
  const b = tf.neg(x);
  const s = tf.slice(b, [0, 0, 0, 0], [8, 32, 32, 8]);
  const ref = tf.tidy(() => tf.slice(tf.neg(x), [0, 0, 0, 0], [8, 32, 32, 8]).arraySync());
  b.dispose();
  churn();
  assert.deepEqual(s.arraySync(), ref, 'a slice changed after its parent was disposed');
  s.dispose();
  // Results through the pool stay exact (filters from reused arrays included): a conv net step.
  tf.setBackend('cpu');
});

test('native Adam (one pass per variable) matches tf.train.adam on cpu over 5 steps, learning-rate changes included', {
  skip,
}, () => {
  const rng = new Rng(19);
  const init = [randn([3, 3, 16, 32], rng, 0.2), randn([32], rng, 0.2), randn([64, 2], rng, 0.2)];
  const gradSeq = Array.from({ length: 5 }, () => init.map((t) => randn(t.shape, rng, 0.01)));
  assertClose('adam 5 steps', () => {
    const vars = init.map((t, i) => tf.variable(t.clone(), true, `adamtest_${tf.getBackend()}_${i}_${Math.random()}`));
    const opt = adamOptimizer(1e-2);
    gradSeq.forEach((gs, k) => {
      (opt as unknown as { learningRate: number }).learningRate = 1e-2 * (1 - k / 10);
      opt.applyGradients(Object.fromEntries(vars.map((v, i) => [v.name, gs[i]!])));
    });
    const out = vars.map((v, i) => tf.sub(v, init[i]!)); // the updates themselves, not swamped by the weights
    opt.dispose();
    vars.forEach((v) => v.dispose());
    return out;
  }, ['MedshieldAdam']);
});

test('every addon kernel refuses a buffer shorter than its shape needs (RangeError, nothing written)', { skip }, () => {
  const a = addon as Exclude<typeof addon, string>;
  const short = new Float32Array(3);
  const ok = new Float32Array(64);
  const tooShort = (f: () => void): void => assert.throws(f, /buffer of \d+ elements, the shape needs \d+/);
  tooShort(() => a.sgemm(ok, ok, short, [1, 2, 2, 2, 0, 0, 0, 0]));
  tooShort(() => a.sgemm(short, ok, ok, [1, 2, 2, 2, 0, 0, 0, 0]));
  tooShort(() => a.sgemm(ok, ok, ok, [8, 2, 2, 2, 0, 0, 9, 0])); // a's 8 strided batches span 7·9 + 4 = 67 > 64
  tooShort(() => a.binary(0, ok, ok, short, [1, 2, 2, 2, 2, 1, 2, 2, 1]));
  tooShort(() => a.binary(0, short, ok, ok, [2, 2, 2, 4, 2, 1, 0, 0, 0]));
  tooShort(() => a.unary(0, ok, short, 0));
  tooShort(() => a.reduceSum(ok, short, 4, 4, false));
  tooShort(() => a.maxPoolForward(ok, short, [1, 4, 4, 1, 2, 2, 2, 2, 2, 2, 0, 0]));
  tooShort(() => a.maxPoolForward(short, ok, [1, 4, 4, 1, 2, 2, 2, 2, 2, 2, 0, 0]));
  // conv: x [1,4,4,1], 3×3 filter, 1 → 2 channels, 'valid' → y [1,2,2,2]
  const conv = [1, 4, 4, 1, 2, 2, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1, 1, 1, 0, 0];
  tooShort(() => a.conv2dForward(ok, short, null, ok, conv, 0, -1));
  tooShort(() => a.conv2dForward(ok, ok, null, short, conv, 0, -1));
  const y = new Float32Array(8);
  a.conv2dForward(ok.fill(1), new Float32Array(18).fill(1), null, y, conv, 0, -1);
  assert.deepEqual([...y], new Array(8).fill(9));
});
