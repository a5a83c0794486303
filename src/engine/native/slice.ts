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
export function sliceBlocks(
  shape: readonly number[],
  begin: readonly number[],
  sz: readonly number[],
): number[] | null {
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

/**
 * dst[dOff + Σ i_j·ds_j] = src[sOff + Σ i_j·ss_j] over the index box `dims` (any rank): adjacent dims
 * that are contiguous in both arrays are merged first, the innermost dim is one `set` when both sides
 * are unit-stride, a plain loop otherwise.
 */
export function copyStrided(
  src: Float32Array,
  sOff: number,
  ss: readonly number[],
  dst: Float32Array,
  dOff: number,
  ds: readonly number[],
  dims: readonly number[],
): void {
  const d: number[] = [],
    a: number[] = [],
    b: number[] = [];
  for (let i = 0; i < dims.length; i++) {
    if (dims[i] === 1) continue;
    const k = d.length - 1;
    if (k >= 0 && a[k] === ss[i] * dims[i] && b[k] === ds[i] * dims[i]) {
      d[k] *= dims[i];
      a[k] = ss[i];
      b[k] = ds[i];
    } else {
      d.push(dims[i]);
      a.push(ss[i]);
      b.push(ds[i]);
    }
  }
  if (d.length === 0) {
    d.push(1);
    a.push(1);
    b.push(1);
  }
  const r = d.length;
  const n = d[r - 1],
    si = a[r - 1],
    di = b[r - 1];
  let outer = 1;
  for (let j = 0; j < r - 1; j++) outer *= d[j];
  const idx = new Array<number>(r).fill(0);
  let s = sOff,
    t = dOff;
  for (let o = 0; o < outer; o++) {
    if (si === 1 && di === 1) {
      if (n >= 32) dst.set(src.subarray(s, s + n), t);
      else for (let k = 0; k < n; k++) dst[t + k] = src[s + k];
    } else for (let k = 0, p = s, q = t; k < n; k++, p += si, q += di) dst[q] = src[p];
    for (let j = r - 2; j >= 0; j--) {
      s += a[j];
      t += b[j];
      if (++idx[j] < d[j]) break;
      s -= a[j] * d[j];
      t -= b[j] * d[j];
      idx[j] = 0;
    }
  }
}

function stridesOf(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
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
  const out = uninitF32(size(sz));
  if (out.length === 0) return output(backend, sz, out);
  if (p) copyBlock(addon, x, p, out);
  else {
    const st = stridesOf(xi.shape);
    copyStrided(
      x,
      begin.reduce((o, b, i) => o + b * st[i], 0),
      st,
      out,
      0,
      stridesOf(sz),
      sz,
    );
  }
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
      for (let r = 0, o = col, s = 0; r < rows; r++, o += outInner, s += inner) out.set(src.subarray(s, s + inner), o);
    else
      for (let r = 0, o = col, s = 0; r < rows; r++, o += outInner - inner)
        for (let k = 0; k < inner; k++) out[o++] = src[s++];
    col += inner;
  }
  return output(backend, outShape, out);
};

/** Transpose: the addon's strided copy when it collapses to three dims with a unit-stride last one. */
const transpose: NativeImpl = ({ inputs, backend, attrs }: KernelArgs, addon) => {
  const xi = inputs.x!;
  const x = f32(backend, xi);
  if (!x) return null;
  const perm = attrs.perm as number[];
  const xs = stridesOf(xi.shape);
  const outShape = perm.map((p) => xi.shape[p]);
  const ss = perm.map((p) => xs[p]);
  const out = uninitF32(x.length);
  if (x.length === 0) return output(backend, outShape, out);
  // Collapse (output order): merge dim i into the one inside it when the source is contiguous there too.
  const dims: { n: number; s: number }[] = [];
  for (let i = outShape.length - 1; i >= 0; i--) {
    if (outShape[i] === 1) continue;
    const inner = dims[0];
    if (inner && ss[i] === inner.n * inner.s) inner.n *= outShape[i];
    else dims.unshift({ n: outShape[i], s: ss[i] });
  }
  if (dims.length === 0 || dims[dims.length - 1].s !== 1) dims.push({ n: 1, s: 1 });
  if (dims.length <= 3) {
    while (dims.length < 3) dims.unshift({ n: 1, s: 0 });
    const p = [...dims.map((d) => d.n), ...dims.map((d) => d.s)];
    addon.binary(7, x, x, out, [...p, p[3], p[4], p[5]]);
  } else copyStrided(x, 0, ss, out, 0, stridesOf(outShape), outShape);
  return output(backend, outShape, out);
};

/** PadV2 (constant): fill, then copy x into its box. */
const padV2: NativeImpl = ({ inputs, backend, attrs }: KernelArgs) => {
  const xi = inputs.x!;
  const x = f32(backend, xi);
  if (!x) return null;
  const pads = attrs.paddings as [number, number][];
  const outShape = xi.shape.map((d, i) => pads[i][0] + d + pads[i][1]);
  const out = uninitF32(size(outShape));
  out.fill(Number(attrs.constantValue ?? 0));
  const os = stridesOf(outShape);
  if (x.length > 0)
    copyStrided(
      x,
      0,
      stridesOf(xi.shape),
      out,
      pads.reduce((o, p, i) => o + p[0] * os[i], 0),
      os,
      xi.shape,
    );
  return output(backend, outShape, out);
};

export const sliceKernels: Record<string, NativeImpl> = {
  Slice: slice,
  SplitV: splitV,
  Concat: concat,
  Transpose: transpose,
  PadV2: padV2,
};
