/**
 * The wasm backend's medshield kernels (src/engine/wasm) against tfjs' pure-JS `cpu` backend,
 * the numerical reference: max |wasm − cpu| / max |cpu| ≤ 1e-4 on fixed and seeded-random
 * shapes (stride, padding, kernel size, batch 1 and larger), MaxPoolGrad's tie rule, matmul
 * with transposed operands, and tf.grad / variable gradients through a small conv net.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, Rng, initEngine } from '../src/engine/index.js';
import { registerWasmBackend, MEDSHIELD_WASM_KERNELS, WRAPPED_WASM_KERNELS } from '../src/engine/wasm/index.js';

const TOL = 1e-4;
type Pad = 'same' | 'valid' | number;

before(async () => {
  const r = await registerWasmBackend(2);
  assert.notEqual(typeof r, 'string', `wasm backend unavailable: ${String(r)}`);
  if (typeof r !== 'string') {
    assert.equal(r.threads, 1); // no threaded wasm build in Node
    assert.equal(r.simd, true);
  }
});

/** A tensor of N(0,1) values from the seeded medshield RNG (backend-independent). */
function randn(shape: number[], rng: Rng): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(rng.fillNormal(new Float32Array(n)), shape);
}

/** Run `f` on cpu and on wasm; return both results' values. */
function onBoth(f: () => tf.Tensor | tf.Tensor[]): [Float32Array[], Float32Array[]] {
  const run = (backend: string): Float32Array[] => {
    tf.setBackend(backend);
    return tf.tidy(() => {
      const r = f();
      return (Array.isArray(r) ? r : [r]).map((t) => t.dataSync() as Float32Array).map((a) => Float32Array.from(a));
    });
  };
  const cpu = run('cpu');
  const wasm = run('wasm');
  tf.setBackend('cpu');
  return [cpu, wasm];
}

function relDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let d = 0,
    m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(a[i]!));
  }
  return d / Math.max(m, 1e-12);
}

function assertClose(label: string, f: () => tf.Tensor | tf.Tensor[]): void {
  const [cpu, wasm] = onBoth(f);
  assert.equal(cpu.length, wasm.length);
  cpu.forEach((c, i) => {
    assert.ok(
      c.some((v) => v !== 0),
      `${label}[${i}]: reference is all zeros (test is vacuous)`,
    );
    const r = relDiff(c, wasm[i]!);
    assert.ok(r <= TOL, `${label}[${i}]: relative difference ${r.toExponential(2)} > ${TOL}`);
  });
}

interface ConvCase {
  b: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  kh: number;
  kw: number;
  s: number;
  pad: Pad;
}

const FIXED: ConvCase[] = [
  { b: 1, h: 8, w: 8, ci: 3, co: 4, kh: 3, kw: 3, s: 1, pad: 'same' },
  { b: 4, h: 9, w: 7, ci: 2, co: 5, kh: 3, kw: 3, s: 2, pad: 'same' }, // odd sizes, stride 2
  { b: 2, h: 8, w: 8, ci: 3, co: 4, kh: 3, kw: 3, s: 2, pad: 'same' }, // TF pads (0,1)
  { b: 1, h: 10, w: 10, ci: 4, co: 3, kh: 3, kw: 3, s: 2, pad: 'valid' },
  { b: 3, h: 7, w: 7, ci: 3, co: 2, kh: 1, kw: 1, s: 2, pad: 'same' }, // ResNet shortcut
  { b: 2, h: 9, w: 9, ci: 3, co: 2, kh: 5, kw: 5, s: 3, pad: 'valid' }, // rows left unread
  { b: 2, h: 6, w: 6, ci: 3, co: 2, kh: 3, kw: 3, s: 1, pad: 1 }, // explicit numeric pad
  { b: 2, h: 8, w: 6, ci: 2, co: 3, kh: 2, kw: 3, s: 1, pad: 'same' }, // even, non-square kernel
  { b: 5, h: 12, w: 12, ci: 16, co: 8, kh: 3, kw: 3, s: 1, pad: 'valid' },
];

function randomCases(seed: number, n: number): ConvCase[] {
  const rng = new Rng(seed);
  const out: ConvCase[] = [];
  for (let i = 0; i < n; i++) {
    const kh = 1 + rng.int(5),
      kw = 1 + rng.int(5);
    out.push({
      b: 1 + rng.int(4),
      h: kh + 2 + rng.int(10),
      w: kw + 2 + rng.int(10),
      ci: 1 + rng.int(8),
      co: 1 + rng.int(8),
      kh,
      kw,
      s: 1 + rng.int(3),
      pad: (['same', 'valid', rng.int(2)] as Pad[])[rng.int(3)]!,
    });
  }
  return out;
}

const name = (c: ConvCase) => `b${c.b} ${c.h}×${c.w}×${c.ci}→${c.co} k${c.kh}×${c.kw} s${c.s} pad=${c.pad}`;

function convCases(): ConvCase[] {
  return [...FIXED, ...randomCases(7, 12)];
}

test('initEngine selects wasm: one thread, SIMD; registration is idempotent', async () => {
  const info = await initEngine({ backend: 'wasm', threads: 2 });
  assert.deepEqual([info.backend, info.threads, info.simd], ['wasm', 1, true]);
  assert.equal(tf.getBackend(), 'wasm');
  assert.deepEqual(await registerWasmBackend(2), { threads: 1, simd: true });
  tf.setBackend('cpu');
});

test('registers the training kernels on wasm', () => {
  for (const k of [...MEDSHIELD_WASM_KERNELS, ...WRAPPED_WASM_KERNELS]) assert.ok(tf.getKernel(k, 'wasm'), k);
});

test('Conv2DBackpropFilter matches cpu', () => {
  const rng = new Rng(1);
  for (const c of convCases()) {
    const x = randn([c.b, c.h, c.w, c.ci], rng);
    const yShape = tf.conv2d(x as tf.Tensor4D, tf.zeros([c.kh, c.kw, c.ci, c.co]) as tf.Tensor4D, c.s, c.pad).shape;
    const dy = randn(yShape, rng);
    assertClose(
      `dW ${name(c)}`,
      () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropFilter',
            { x, dy },
            { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: [c.kh, c.kw, c.ci, c.co] },
          ) as tf.Tensor,
    );
  }
});

test('Conv2DBackpropInput matches cpu', () => {
  const rng = new Rng(2);
  for (const c of convCases()) {
    const w = randn([c.kh, c.kw, c.ci, c.co], rng);
    const yShape = tf.conv2d(tf.zeros([c.b, c.h, c.w, c.ci]) as tf.Tensor4D, w as tf.Tensor4D, c.s, c.pad).shape;
    const dy = randn(yShape, rng);
    assertClose(
      `dX ${name(c)}`,
      () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropInput',
            { dy, filter: w },
            { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: [c.b, c.h, c.w, c.ci] },
          ) as tf.Tensor,
    );
  }
});

test('Conv2D forward with dilation (used by the filter gradient) matches cpu', () => {
  const rng = new Rng(3);
  for (const [d, pad] of [
    [2, 'same'],
    [3, 'valid'],
    [2, 'valid'],
  ] as Array<[number, Pad]>) {
    const x = randn([2, 11, 10, 3], rng),
      w = randn([3, 3, 3, 4], rng);
    assertClose(`conv d${d} ${pad}`, () =>
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, pad as 'same' | 'valid', 'NHWC', d),
    );
  }
});

test('MaxPoolGrad matches cpu, including tied windows (ReLU zeros, repeated values)', () => {
  const rng = new Rng(4);
  // Values rounded to few levels after ReLU: most 2×2 windows hold ties.
  const x = tf.tidy(() =>
    tf
      .relu(randn([3, 8, 8, 5], rng))
      .mul(2)
      .round(),
  );
  for (const [f, s, pad] of [
    [2, 2, 'valid'],
    [3, 2, 'same'],
    [3, 1, 'same'],
    [2, 1, 'valid'],
    [3, 3, 'valid'],
  ] as Array<[number, number, Pad]>) {
    const y = tf.maxPool(x as tf.Tensor4D, f, s, pad as 'same' | 'valid');
    const dy = randn(y.shape, rng);
    assertClose(
      `maxPoolGrad f${f} s${s} ${pad}`,
      () =>
        tf
          .engine()
          .runKernel('MaxPoolGrad', { dy, input: x, output: y }, { filterSize: f, strides: s, pad }) as tf.Tensor,
    );
  }
  // A constant window routes its gradient to the FIRST element in row-major order (cpu's rule).
  tf.setBackend('wasm');
  const g = tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid').sum())(tf.zeros([1, 2, 2, 1]));
  assert.deepEqual(Array.from(g.dataSync()), [1, 0, 0, 0]);
  // Two tied maxima: the first (row 0) gets it; tfjs-backend-wasm's own kernel picks the last.
  const g2 = tf.grad((t: tf.Tensor) => tf.maxPool(t as tf.Tensor4D, 2, 2, 'valid').sum())(
    tf.tensor4d([1, 3, 3, 2], [1, 2, 2, 1]),
  );
  assert.deepEqual(Array.from(g2.dataSync()), [0, 1, 0, 0]);
  tf.setBackend('cpu');
});

test('AvgPoolGrad (tfjs-backend-wasm kernel) matches cpu', () => {
  const rng = new Rng(5);
  const x = randn([2, 9, 9, 4], rng);
  for (const [f, s, pad] of [
    [2, 2, 'valid'],
    [3, 2, 'same'],
    [3, 1, 'same'],
  ] as Array<[number, number, Pad]>) {
    const y = tf.avgPool(x as tf.Tensor4D, f, s, pad as 'same' | 'valid');
    const dy = randn(y.shape, rng);
    assertClose(
      `avgPoolGrad f${f} s${s} ${pad}`,
      () => tf.engine().runKernel('AvgPoolGrad', { dy, input: x }, { filterSize: f, strides: s, pad }) as tf.Tensor,
    );
  }
});

test('BatchMatMul and fused matMul with transposed operands match cpu', () => {
  const rng = new Rng(6);
  for (const [ta, tb] of [
    [false, false],
    [true, false],
    [false, true],
    [true, true],
  ]) {
    const a = randn(ta ? [37, 5] : [5, 37], rng),
      b = randn(tb ? [11, 37] : [37, 11], rng);
    assertClose(`matMul ta=${ta} tb=${tb}`, () => tf.matMul(a, b, ta, tb));
    const a3 = randn(ta ? [3, 19, 4] : [3, 4, 19], rng),
      b3 = randn(tb ? [3, 6, 19] : [3, 19, 6], rng);
    assertClose(`batched matMul ta=${ta} tb=${tb}`, () => tf.matMul(a3, b3, ta, tb));
    const bias = randn([11], rng);
    assertClose(`fused matMul ta=${ta} tb=${tb}`, () =>
      tf.fused.matMul({
        a: a as tf.Tensor2D,
        b: b as tf.Tensor2D,
        transposeA: ta,
        transposeB: tb,
        bias,
        activation: 'relu',
      }),
    );
  }
});

test('Sum and Mean (leading axes as GEMV, others original) match cpu', () => {
  const rng = new Rng(9);
  const x = randn([4, 7, 5, 6], rng);
  const cases: Array<[number | number[] | undefined, boolean]> = [
    [[0, 1, 2], false],
    [[0, 1, 2], true],
    [0, false],
    [[1, 0], true],
    [[0, 1, 2, 3], false],
    [undefined, false],
    [[-4, -3], false],
    [3, false],
    [[1, 2], true],
    [[0, 2], false],
  ];
  for (const [axis, keepDims] of cases) {
    assertClose(`sum axis=${JSON.stringify(axis)} keepDims=${keepDims}`, () => tf.sum(x, axis, keepDims));
    assertClose(`mean axis=${JSON.stringify(axis)} keepDims=${keepDims}`, () => tf.mean(x, axis, keepDims));
  }
  // Large batch-norm-like reduction (N = 32·28·28): float32 GEMV accumulation stays within tolerance.
  const big = tf.tidy(() => randn([32, 28, 28, 8], rng).add(0.5));
  assertClose('sum [0,1,2] of 32×28×28×8', () => tf.sum(big, [0, 1, 2]));
  assertClose('moments of 32×28×28×8', () => {
    const m = tf.moments(big, [0, 1, 2]);
    return [m.mean, m.variance];
  });
  tf.setBackend('wasm');
  assert.deepEqual(Array.from(tf.sum(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), 0).dataSync()), [4, 6]);
  tf.setBackend('cpu');
});

test('Tile matches cpu', () => {
  const rng = new Rng(10);
  const cases: Array<[number[], number[]]> = [
    [
      [1, 1, 1, 6],
      [3, 5, 4, 1],
    ],
    [
      [2, 3],
      [2, 3],
    ],
    [[3], [4]],
    [
      [2, 1, 3],
      [1, 4, 1],
    ],
    [
      [2, 2, 2, 2],
      [1, 2, 1, 3],
    ],
    [
      [4, 5],
      [1, 1],
    ],
  ];
  for (const [shape, reps] of cases) {
    const x = randn(shape, rng);
    assertClose(`tile ${shape}×${reps}`, () => tf.tile(x, reps));
  }
  tf.setBackend('wasm');
  assert.deepEqual(
    Array.from(tf.tile(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), [2, 1]).dataSync()),
    [1, 2, 3, 4, 1, 2, 3, 4],
  );
  assert.deepEqual(Array.from(tf.tile(tf.tensor1d([true, false], 'bool'), [2]).dataSync()), [1, 0, 1, 0]);
  tf.setBackend('cpu');
});

/** A small conv net with every layer kind the medshield models use. */
function smallNet(): tf.LayersModel {
  const init = (seed: number) => tf.initializers.glorotNormal({ seed });
  const input = tf.input({ shape: [12, 12, 2] });
  let x = tf.layers
    .conv2d({ filters: 6, kernelSize: 3, padding: 'same', useBias: false, kernelInitializer: init(1) })
    .apply(input) as tf.SymbolicTensor;
  x = tf.layers.batchNormalization().apply(x) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  x = tf.layers.maxPooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
  const a = tf.layers
    .conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', kernelInitializer: init(2) })
    .apply(x) as tf.SymbolicTensor;
  const b = tf.layers
    .conv2d({ filters: 8, kernelSize: 1, strides: 2, padding: 'same', kernelInitializer: init(3) })
    .apply(x) as tf.SymbolicTensor;
  x = tf.layers.add().apply([a, b]) as tf.SymbolicTensor;
  x = tf.layers.reLU().apply(x) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const flat = tf.layers
    .flatten()
    .apply(tf.layers.averagePooling2d({ poolSize: 3 }).apply(x) as tf.SymbolicTensor) as tf.SymbolicTensor;
  x = tf.layers.concatenate().apply([pooled, flat]) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(4) }).apply(x) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 3, kernelInitializer: init(5) }).apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: logits });
}

test('tf.grad and variable gradients through a small conv net equal on cpu and wasm', () => {
  tf.setBackend('cpu');
  const model = smallNet();
  const rng = new Rng(8);
  for (const batch of [1, 6]) {
    const x = tf.tensor(rng.fillUniform(new Float32Array(batch * 12 * 12 * 2)), [batch, 12, 12, 2]);
    const labels = tf.oneHot(
      tf.tensor1d(
        Array.from({ length: batch }, (_, i) => i % 3),
        'int32',
      ),
      3,
    );
    for (const training of batch > 1 ? [false, true] : [false]) {
      const loss = (t: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, model.apply(t, { training }) as tf.Tensor);
      assertClose(`input grad b${batch} training=${training}`, () => tf.grad(loss)(x));
      assertClose(`weight grads b${batch} training=${training}`, () => {
        const { value, grads } = tf.variableGrads(() => loss(x) as tf.Scalar);
        return [
          value,
          ...Object.keys(grads)
            .sort()
            .map((k) => grads[k]!),
        ];
      });
    }
  }
});

test('gradients of the medshield CNN and ResNet-18 on real PneumoniaMNIST images equal on cpu and wasm', async () => {
  const { loadDataset } = await import('../src/data/dataset.js');
  const { buildModel } = await import('../src/models/architectures.js');
  const ds = await loadDataset('pneumoniamnist');
  const split = ds.splits.test;
  const n = 2,
    px = split.height * split.width * split.channels;
  const img = Float32Array.from(split.images.subarray(0, n * px), (v) =>
    split.images instanceof Uint8Array ? v / 255 : v,
  );
  assert.ok(img.some((v) => v > 0.5) && img.some((v) => v < 0.5), 'real images have contrast');
  tf.setBackend('cpu');
  const x = tf.tensor4d(img, [n, split.height, split.width, split.channels]);
  const labels = tf.oneHot(tf.tensor1d(Array.from(split.labels.subarray(0, n)), 'int32'), 2);
  for (const arch of ['cnn', 'resnet18'] as const) {
    const model = buildModel({
      arch,
      inputShape: [split.height, split.width, split.channels],
      numClasses: 2,
      width: 4,
      seed: 3,
    });
    for (const training of [false, true]) {
      const loss = (t: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, model.apply(t, { training }) as tf.Tensor);
      assertClose(`${arch} input grad training=${training}`, () => tf.grad(loss)(x));
      assertClose(`${arch} weight grads training=${training}`, () => {
        const { value, grads } = tf.variableGrads(() => loss(x) as tf.Scalar);
        return [
          value,
          ...Object.keys(grads)
            .sort()
            .map((k) => grads[k]!),
        ];
      });
    }
    model.dispose();
  }
});
