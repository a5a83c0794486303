/**
 * Native memory-bound kernels (native/eltwise.cc): broadcasting binary ops, unary ops, Sum/Mean
 * over contiguous axes and FusedBatchNorm's forward affine. tfjs' cpu kernels run these
 * as single-threaded JS loops (the broadcasting ones with per-element index arithmetic), which is
 * what a training step spends most of its non-convolution time in (batch-norm's gradient alone is
 * a dozen of them on every activation). Sum/Mean cover any contiguous block of axes (leading,
 * trailing, or middle as in global average pooling). Tensors below MIN_SIZE stay on the cpu kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { f32, output, size, type KernelArgs, type NativeImpl } from './util.js';
import { uninitF32 } from './addon.js';

const MIN_SIZE = 4096;

/**
 * Collapse a broadcast a ∘ b → out into at most 3 dims [d0,d1,d2] with per-operand element
 * strides (0 = broadcast along that dim); null if it needs more than 3.
 */
export function collapseBroadcast(
  aShape: readonly number[],
  bShape: readonly number[],
  outShape: readonly number[],
): number[] | null {
  const r = outShape.length;
  const pa = [...Array(r - aShape.length).fill(1), ...aShape];
  const pb = [...Array(r - bShape.length).fill(1), ...bShape];
  const dims: { n: number; a: boolean; b: boolean }[] = [];
  for (let i = 0; i < r; i++) {
    const n = outShape[i];
    if (n === 1) continue;
    const a = pa[i] === n,
      b = pb[i] === n;
    const last = dims[dims.length - 1];
    if (last && last.a === a && last.b === b) last.n *= n;
    else dims.push({ n, a, b });
  }
  if (dims.length > 3) return null;
  while (dims.length < 3) dims.unshift({ n: 1, a: true, b: true });
  const strides = (full: (k: number) => boolean): number[] => {
    const s = [0, 0, 0];
    let acc = 1;
    for (let k = 2; k >= 0; k--) {
      if (full(k)) {
        s[k] = acc;
        acc *= dims[k].n;
      }
    }
    return s;
  };
  return [...dims.map((d) => d.n), ...strides((k) => dims[k].a), ...strides((k) => dims[k].b)];
}

function binary(op: number, minSize = MIN_SIZE): NativeImpl {
  return ({ inputs, backend }: KernelArgs, addon) => {
    const a = f32(backend, inputs.a),
      b = f32(backend, inputs.b);
    if (!a || !b) return null;
    const outShape = tf.backend_util.assertAndGetBroadcastShape(inputs.a!.shape, inputs.b!.shape);
    const n = size(outShape);
    if (n < minSize) return null;
    const p = collapseBroadcast(inputs.a!.shape, inputs.b!.shape, outShape);
    if (!p) return null;
    const out = uninitF32(n);
    addon.binary(op, a, b, out, p);
    return output(backend, outShape, out);
  };
}

function unary(op: number): NativeImpl {
  return ({ inputs, backend, attrs }: KernelArgs, addon) => {
    const x = f32(backend, inputs.x);
    if (!x || x.length < MIN_SIZE) return null;
    const y = uninitF32(x.length);
    addon.unary(op, x, y, Number(attrs.alpha ?? 0));
    return output(backend, inputs.x!.shape, y);
  };
}

function reduce(mean: boolean): NativeImpl {
  return ({ inputs, backend, attrs }: KernelArgs, addon) => {
    const x = f32(backend, inputs.x);
    if (!x || x.length < MIN_SIZE) return null;
    const shape = inputs.x!.shape;
    const r = shape.length;
    const axes = tf.util.parseAxisParam(attrs.axis as number | number[], shape).sort((p, q) => p - q);
    const k = axes.length;
    if (k === 0) return null;
    const leading = axes.every((ax, i) => ax === i);
    const trailing = axes.every((ax, i) => ax === r - k + i);
    const contiguous = axes.every((ax, i) => ax === axes[0]! + i);
    if (!contiguous) return null;
    const reduced = size(axes.map((ax) => shape[ax]));
    const kept = x.length / reduced;
    const out = new Float32Array(kept);
    if (leading) addon.reduceSum(x, out, reduced, kept, true);
    else if (trailing) addon.reduceSum(x, out, kept, reduced, false);
    else addon.reduceMid(x, out, size(shape.slice(0, axes[0])), reduced, size(shape.slice(axes[k - 1]! + 1)));
    if (mean) for (let i = 0; i < kept; i++) out[i] /= reduced;
    const outShape = attrs.keepDims
      ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : shape.filter((_, i) => !axes.includes(i));
    return output(backend, outShape, out);
  };
}

/** Tile where every repeated dim has size 1 — a broadcast copy (batch-norm's gradient tiles
 * per-channel vectors to the activation's shape). */
const tile: NativeImpl = ({ inputs, backend, attrs }: KernelArgs, addon) => {
  const x = f32(backend, inputs.x);
  if (!x) return null;
  const shape = inputs.x!.shape;
  const reps = attrs.reps as number[];
  if (reps.length !== shape.length || !reps.every((r, i) => r === 1 || shape[i] === 1)) return null;
  const outShape = shape.map((d, i) => d * reps[i]);
  const n = size(outShape);
  if (n < MIN_SIZE) return null;
  const p = collapseBroadcast(shape, shape, outShape);
  if (!p) return null;
  const out = uninitF32(n);
  addon.binary(7, x, x, out, p);
  return output(backend, outShape, out);
};

const batchNorm: NativeImpl = ({ inputs, backend, attrs }: KernelArgs, addon) => {
  const x = f32(backend, inputs.x),
    mean = f32(backend, inputs.mean),
    variance = f32(backend, inputs.variance);
  if (!x || !mean || !variance || x.length < MIN_SIZE) return null;
  const shape = inputs.x!.shape;
  const C = shape[shape.length - 1];
  const offset = inputs.offset ? f32(backend, inputs.offset) : null;
  const scale = inputs.scale ? f32(backend, inputs.scale) : null;
  if ((inputs.offset && !offset) || (inputs.scale && !scale)) return null;
  for (const p of [mean, variance, offset, scale]) if (p && p.length !== C && p.length !== 1) return null;
  const y = uninitF32(x.length);
  addon.channelAffine(x, y, C, mean, variance, offset, scale, Number(attrs.varianceEpsilon ?? 0.001));
  return output(backend, shape, y);
};

/** Kernels medshield adds (no cpu counterpart), used by gradients.ts: inputs {a: dy, b: x}. */
export const RELU_GRAD_KERNEL = 'MedshieldReluGrad';
export const SQUARE_GRAD_KERNEL = 'MedshieldSquareGrad';
export const SILU_GRAD_KERNEL = 'MedshieldSiluGrad';

/**
 * SiLU's gradient dy·σ(x)·(1 + x(1 − σ(x))): addon op 10, or the same formula in JS when the addon
 * predates it (a build/ not rebuilt since; same values up to the last float32 rounding).
 */
const siluGrad: NativeImpl = (args: KernelArgs, addon) => {
  try {
    return binary(10, 0)(args, addon);
  } catch {
    const g = f32(args.backend, args.inputs.a),
      x = f32(args.backend, args.inputs.b);
    if (!g || !x || g.length !== x.length) return null;
    const out = uninitF32(x.length);
    for (let i = 0; i < x.length; i++) {
      const v = x[i],
        s = 1 / (1 + Math.exp(-v));
      out[i] = g[i] * s * (1 + v * (1 - s));
    }
    return output(args.backend, args.inputs.b!.shape, out);
  }
};

/** relu(x·scale[c] + shift[c]) over the last axis (inference batch norm → ReLU): one addon pass + an in-place ReLU. */
export const AFFINE_RELU_KERNEL = 'MedshieldAffineRelu';
/** Its input gradient dy·[y > 0]·scale[c] from the output y: ReLU gradient, then an in-place per-channel scale. */
export const AFFINE_RELU_GRAD_KERNEL = 'MedshieldAffineReluGrad';

const affineRelu: NativeImpl = ({ inputs, backend }: KernelArgs, addon) => {
  const x = f32(backend, inputs.x),
    sc = f32(backend, inputs.scale),
    sh = f32(backend, inputs.shift);
  const shape = inputs.x?.shape ?? [];
  if (!x || !sc || !sh || sc.length !== sh.length || shape[shape.length - 1] !== sc.length) return null;
  const y = uninitF32(x.length);
  addon.affine(x, y, sc, sh);
  addon.unary(0, y, y, 0);
  return output(backend, shape, y);
};

const affineReluGrad: NativeImpl = ({ inputs, backend }: KernelArgs, addon) => {
  const dy = f32(backend, inputs.dy),
    y = f32(backend, inputs.y),
    sc = f32(backend, inputs.scale);
  const shape = inputs.y?.shape ?? [];
  if (!dy || !y || !sc || dy.length !== y.length || shape[shape.length - 1] !== sc.length) return null;
  const dx = uninitF32(y.length);
  addon.binary(8, dy, y, dx, collapseBroadcast(shape, shape, shape)!);
  const p = collapseBroadcast(shape, [sc.length], shape);
  if (!p) return null;
  addon.binary(2, dx, sc, dx, p);
  return output(backend, shape, dx);
};

export const extraKernels: Record<string, NativeImpl> = {
  [AFFINE_RELU_KERNEL]: affineRelu,
  [AFFINE_RELU_GRAD_KERNEL]: affineReluGrad,
  [RELU_GRAD_KERNEL]: binary(8, 0),
  [SQUARE_GRAD_KERNEL]: binary(9, 0),
  [SILU_GRAD_KERNEL]: siluGrad,
};

export const elementwiseKernels: Record<string, NativeImpl> = {
  Add: binary(0),
  Sub: binary(1),
  Multiply: binary(2),
  RealDiv: binary(3),
  SquaredDifference: binary(4),
  Maximum: binary(5),
  Minimum: binary(6),
  Relu: unary(0),
  Step: unary(1),
  Rsqrt: unary(2),
  Sqrt: unary(3),
  Neg: unary(4),
  Exp: unary(5),
  Square: unary(6),
  Relu6: unary(7),
  Sigmoid: unary(8),
  Reciprocal: unary(9),
  Log: unary(10),
  Abs: unary(11),
  Sum: reduce(false),
  Mean: reduce(true),
  FusedBatchNorm: batchNorm,
  Tile: tile,
};
