/**
 * Faster `Sum`, `Mean` and `Tile` for the wasm backend, for the shapes batch normalisation
 * produces in training and in its gradient (tfjs-core's FusedBatchNorm gradient tiles the
 * per-channel 1/√(σ²+ε) to the full activation shape and sums over the batch and spatial axes).
 *
 * - Sum / Mean over LEADING axes (e.g. axes [0,1,2] of an NHWC tensor): tfjs-backend-wasm
 *   transposes the reduced axes innermost and then reduces (~30 ms for 32×28×28×64). A reduction
 *   over the first k axes of a row-major tensor viewed as [N, C] is the GEMV 1ᵀ·X, which runs in
 *   XNNPACK's matmul (~1 ms): Σ_n X[n, c] = (1_N)ᵀ X, and the mean uses (1/N)·1_N.
 *   Other axis sets fall through to the original kernel.
 * - Tile: tfjs-backend-wasm's element-by-element kernel is ~150 ms for that tile; here the tile
 *   is built in place in the output by block copies (innermost axis first, each block doubled
 *   with copyWithin), O(output) bytes of memmove.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { release, reshape, runKernel, type TensorInfo } from './kernel_util.js';

type Impl = (args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: unknown }) => TensorInfo;

/** Sorted, non-negative reduction axes. */
function normAxes(axis: number | number[] | undefined, rank: number): number[] {
  const a = axis === undefined || axis === null ? [...Array(rank).keys()] : Array.isArray(axis) ? axis : [axis];
  return [...new Set(a.map((v) => (v < 0 ? v + rank : v)))].sort((x, y) => x - y);
}

/** Sum (scale 1) or Mean (scale 1/N) over leading axes as a GEMV with a constant row vector. */
export function leadingAxesReduce(original: tf.KernelConfig, mean: boolean): Impl {
  const inner = original.kernelFunc;
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x!;
    const a = attrs as { axis: number | number[]; keepDims: boolean };
    const rank = x.shape.length;
    const axes = normAxes(a.axis, rank);
    const leading = axes.length > 0 && axes.every((v, i) => v === i);
    if (x.dtype !== 'float32' || !leading || rank === 0) {
      return inner({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as TensorInfo;
    }
    const n = x.shape.slice(0, axes.length).reduce((p, q) => p * q, 1);
    const rest = x.shape.slice(axes.length);
    const c = rest.reduce((p, q) => p * q, 1);
    const outShape = a.keepDims ? [...axes.map(() => 1), ...rest] : rest;
    if (n === 0 || c === 0) return inner({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as TensorInfo;
    const ones = runKernel('Fill', {}, { shape: [1, n], value: mean ? 1 / n : 1, dtype: 'float32' }, backend);
    const x2 = reshape(backend, x, [n, c]);
    const r = runKernel('BatchMatMul', { a: ones, b: x2 }, { transposeA: false, transposeB: false }, backend);
    release(backend, ones, x2);
    const out = reshape(backend, r, outShape);
    release(backend, r);
    return out;
  };
}

/** Tile by in-place block doubling (any dtype backed by a typed array). */
export function fastTile(original: tf.KernelConfig): Impl {
  const inner = original.kernelFunc;
  return ({ inputs, backend, attrs }) => {
    const x = inputs.x!;
    const reps = (attrs as { reps: number[] }).reps;
    if (x.dtype === 'string' || reps.length !== x.shape.length) {
      return inner({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as TensorInfo;
    }
    const shape = x.shape;
    const rank = shape.length;
    const outShape = shape.map((s, i) => s * reps[i]!);
    const out = backend.makeOutput(outShape, x.dtype);
    const total = outShape.reduce((p, q) => p * q, 1);
    if (total === 0) return out;
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    dst.set(src, 0);
    // After processing axes d+1…r−1, the buffer holds [shape[0..d], tiled inner] contiguously.
    let innerOut = 1; // size of one tiled block below axis d
    for (let d = rank - 1; d >= 0; d--) {
      const r = reps[d]!;
      const blockIn = shape[d]! * innerOut;
      const blockOut = blockIn * r;
      let outer = 1;
      for (let i = 0; i < d; i++) outer *= shape[i]!;
      if (r !== 1) {
        // Move blocks to their final place from the last one down (never overwrites a source).
        for (let o = outer - 1; o >= 0; o--) {
          const from = o * blockIn,
            to = o * blockOut;
          if (from !== to) dst.copyWithin(to, from, from + blockIn);
          let filled = blockIn;
          while (filled < blockOut) {
            const len = Math.min(filled, blockOut - filled);
            dst.copyWithin(to + filled, to, to + len);
            filled += len;
          }
        }
      }
      innerOut = blockOut;
    }
    return out;
  };
}
