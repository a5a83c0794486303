/**
 * Slice, SplitV and Concat for the native backend as block copies.
 *
 * tfjs' cpu Slice (tfjs-backend-cpu kernels/Slice.ts `sliceImpl`) copies a non-contiguous slice one
 * element at a time through `TensorBuffer.indexToLoc`/`get`/`set` (an index array allocated per
 * element), and its SplitV is one such Slice per part. Concat's gradient is that SplitV (tfjs-core
 * gradients/Concat_grad.ts), so a channel concatenation of NHWC activations — DenseNet's 58 dense
 * layers each concatenate all earlier feature maps (Huang et al., "Densely Connected Convolutional
 * Networks", CVPR 2017) — cost ≈ 1 µs per element in the backward pass (profiled, bench/README.md).
 *
 * Here a slice is collapsed to at most three strided dims (size-1 dims dropped, a dim merged with the
 * inner one when that one is taken whole) and copied by the addon's broadcast-copy kernel
 * (`binary` op 7, OpenMP-parallel, reading `x` from the slice's first element through a subarray);
 * Concat copies each input's rows with `TypedArray.set` into a pooled output. Contiguous slices
 * stay on the cpu kernel (a zero-copy view), as do dtypes other than float32 and more than three
 * strided dims. Same values as the cpu kernels (pure copies).
 */
import * as tf from '@tensorflow/tfjs';
import { f32, output, size, type KernelArgs, type NativeImpl, type TensorInfo } from './util.js';
import { uninitF32 } from './addon.js';
import type { NativeAddon } from './addon.js';

/**
 * A slice of x (row-major `shape`) as [offset, d0, d1, d2, s0, s1, s2]: out[i,j,k] = x[offset + i·s0 +
 * j·s1 + k·s2], or null when it needs more than three strided dims.
 */
export function sliceBlocks(shape: readonly number[], begin: readonly number[], sz: readonly number[]): number[] | null {
  const r = shape.length;
  const strides = new Array<number>(r);
  let acc = 1;
  for (let i = r - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i];
  }
  let offset = 0;
  for (let i = 0; i < r; i++) offset += begin[i] * strides[i];
  // Inner to outer: merge a dim into the one inside it when that one is contiguous in x.
  const dims: { n: number; s: number }[] = [];
  for (let i = r - 1; i >= 0; i--) {
    if (sz[i] === 1) continue;
    const inner = dims[0];
    if (inner && strides[i] === inner.n * inner.s) inner.n *= sz[i];
    else dims.unshift({ n: sz[i], s: strides[i] });
  }
  // The addon's innermost dim is unit-stride: a strided last dim becomes an outer one (d2 = 1).
  if (dims.length === 0 || dims[dims.length - 1].s !== 1) dims.push({ n: 1, s: 1 });
  if (dims.length > 3) return null;
  while (dims.length < 3) dims.unshift({ n: 1, s: 0 });
  return [offset, ...dims.map((d) => d.n), ...dims.map((d) => d.s)];
}

function copyBlock(addon: NativeAddon, x: Float32Array, p: number[], out: Float32Array): void {
  const src = x.subarray(p[0]);
  // binary op 7: out = a, with b's strides only used for addressing (b = a here).
  addon.binary(7, src, src, out, [p[1], p[2], p[3], p[4], p[5], p[6], p[4], p[5], p[6]]);
}

const slice: NativeImpl = ({ inputs, backend, attrs }: KernelArgs, addon) => {
  const xi = inputs.x!;
  const x = f32(backend, xi);
  if (!x) return null;
  const [begin, sz] = tf.slice_util.parseSliceParams(
    xi,
    attrs.begin as number | number[],
    attrs.size as number | number[] | undefined,
  );
  if (tf.slice_util.isSliceContinous(xi.shape, begin, sz)) return null; // cpu: zero-copy subarray
  const p = sliceBlocks(xi.shape, begin, sz);
  if (!p) return null;
  const out = uninitF32(size(sz));
  if (out.length > 0) copyBlock(addon, x, p, out);
  return output(backend, sz, out);
};

const splitV: NativeImpl = ({ inputs, backend, attrs }: KernelArgs, addon) => {
  const xi = inputs.x!;
  const x = f32(backend, xi);
  if (!x) return null;
  const shape = xi.shape;
  const axis = tf.util.parseAxisParam(attrs.axis as number, shape)[0];
  if (size(shape.slice(0, axis)) === 1) return null; // every part contiguous: cpu views
  const parts = tf.backend_util.prepareSplitSize(
    xi as unknown as tf.Tensor,
    attrs.numOrSizeSplits as number | number[],
    axis,
  );
  const begin = new Array<number>(shape.length).fill(0);
  const blocks: number[][] = [];
  for (const s of parts) {
    const sz = [...shape];
    sz[axis] = s;
    const p = sliceBlocks(shape, begin, sz);
    if (!p) return null;
    blocks.push(p);
    begin[axis] += s;
  }
  return parts.map((s, i) => {
    const sz = [...shape];
    sz[axis] = s;
    const out = uninitF32(size(sz));
    if (out.length > 0) copyBlock(addon, x, blocks[i], out);
    return output(backend, sz, out);
  });
};

const concat: NativeImpl = ({ inputs, backend, attrs }: KernelArgs) => {
  const ts = Object.values(inputs).filter((t): t is TensorInfo => !!t && size(t.shape) > 0);
  if (ts.length < 2) return null;
  const xs = ts.map((t) => f32(backend, t));
  if (xs.some((v) => !v)) return null;
  const shape0 = ts[0].shape;
  const axis = tf.util.parseAxisParam(attrs.axis as number, shape0)[0];
  const outShape = tf.backend_util.computeOutShape(
    ts.map((t) => t.shape),
    axis,
  );
  const rows = size(shape0.slice(0, axis));
  const n = size(outShape);
  const outInner = n / rows;
  const out = uninitF32(n);
  let col = 0;
  for (let i = 0; i < ts.length; i++) {
    const src = xs[i]!;
    const inner = src.length / rows;
    if (rows === 1) out.set(src, col);
    else if (inner >= 64)
      for (let r = 0, o = col, s = 0; r < rows; r++, o += outInner, s += inner)
        out.set(src.subarray(s, s + inner), o);
    else
      for (let r = 0, o = col, s = 0; r < rows; r++, o += outInner - inner)
        for (let k = 0; k < inner; k++) out[o++] = src[s++];
    col += inner;
  }
  return output(backend, outShape, out);
};

export const sliceKernels: Record<string, NativeImpl> = { Slice: slice, SplitV: splitV, Concat: concat };
