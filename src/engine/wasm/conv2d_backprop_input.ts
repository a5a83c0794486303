/**
 * `Conv2DBackpropInput` for the wasm backend, replacing tfjs-backend-wasm's slow direct loop.
 *
 * For y = conv2d(x, W) with stride s and padding (pt, pl), the input gradient is the transposed
 * convolution
 *   dx[b, u, v, c] = Σ_{i, j, o} dy[b, (u + pt − i)/s, (v + pl − j)/s, o] · W[i, j, c, o]
 * (terms with a non-integer or out-of-range index vanish).
 *
 * Stride 1: a stride-1 cross-correlation of dy with the spatially flipped, in/out-transposed
 * filter W̃[i, j, o, c] = W[kh−1−i, kw−1−j, c, o], padding top = kh−1−pt, bottom = H − oh + pt
 * (negative pads crop), run by XNNPACK.
 *
 * Stride s > 1 — sub-pixel (phase) decomposition, no multiplications by inserted zeros: output
 * rows u = a + s·t of phase a ∈ [0, s) only see the taps i ≡ (a + pt) (mod s). With
 * r = (a + pt) mod s, q = ⌊(a + pt)/s⌋ and M = ⌈(kh − r)/s⌉ taps i = r + s·m,
 *   dx[a + s·t] = Σ_m dy[t + q − m] · W[r + s·m],
 * a stride-1 correlation of dy with the flipped sub-filter W[r + s·(M−1−m′)] and top padding
 * M−1−q. Each (row phase, column phase) pair is one such conv; the results are interleaved
 * into dx (phases with no taps, e.g. odd positions of a 1×1 stride-2 conv, are zero).
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { conv2dSignedPad, convGeometry, release, runKernel, transpose, type TensorInfo } from './kernel_util.js';

interface Attrs {
  strides: number | [number, number];
  pad: unknown;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

function heapF32(backend: BackendWasm): Float32Array {
  return new Float32Array((backend as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer);
}
const offsetF32 = (backend: BackendWasm, t: TensorInfo) =>
  (backend.dataIdMap.get(t.dataId)!.memoryOffset as number) / 4;

/** Phase geometry along one axis: taps r + s·m (m < count), first dy index offset q. */
function phase(a: number, pad: number, k: number, s: number): { r: number; q: number; count: number } {
  const r = (a + pad) % s;
  return { r, q: Math.floor((a + pad) / s), count: r >= k ? 0 : Math.ceil((k - r) / s) };
}

function strided(
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const [kh, kw, ci, co] = filter.shape as [number, number, number, number];
  const {
    strideHeight: sh,
    strideWidth: sw,
    inHeight: h,
    inWidth: w,
    batchSize: nb,
    outHeight: oh,
    outWidth: ow,
  } = info;
  const pt = info.padInfo.top,
    pl = info.padInfo.left;
  const dx = backend.makeOutput([nb, h, w, ci], 'float32');
  for (let a = 0; a < sh; a++) {
    const ha = Math.ceil((h - a) / sh);
    if (ha <= 0) continue;
    const pr = phase(a, pt, kh, sh);
    for (let b = 0; b < sw; b++) {
      const wb = Math.ceil((w - b) / sw);
      if (wb <= 0) continue;
      const pc = phase(b, pl, kw, sw);
      let part: TensorInfo | null = null;
      if (pr.count > 0 && pc.count > 0) {
        const m = pr.count,
          n = pc.count;
        // Flipped sub-filter [m, n, ci, co]: one block copy per tap, then in/out transposed.
        const sub = backend.makeOutput([m, n, ci, co], 'float32');
        const heap = heapF32(backend);
        const fo = offsetF32(backend, filter),
          so = offsetF32(backend, sub),
          blk = ci * co;
        for (let i2 = 0; i2 < m; i2++) {
          const fi = pr.r + sh * (m - 1 - i2);
          for (let j2 = 0; j2 < n; j2++) {
            const src = fo + (fi * kw + pc.r + sw * (n - 1 - j2)) * blk;
            heap.copyWithin(so + (i2 * n + j2) * blk, src, src + blk);
          }
        }
        const subT = transpose(backend, sub, [0, 1, 3, 2]); // [m, n, co, ci]
        release(backend, sub);
        const top = m - 1 - pr.q,
          left = n - 1 - pc.q;
        part = conv2dSignedPad(backend, dy, subT, [top, ha - oh - top + m - 1, left, wb - ow - left + n - 1]);
        release(backend, subT);
      }
      // Interleave the phase into dx (zeros when the phase has no taps).
      const heap = heapF32(backend);
      const xo = offsetF32(backend, dx);
      const po = part ? offsetF32(backend, part) : 0;
      for (let bi = 0; bi < nb; bi++) {
        for (let t = 0; t < ha; t++) {
          const rowDst = xo + ((bi * h + a + sh * t) * w + b) * ci;
          const rowSrc = po + (bi * ha + t) * wb * ci;
          for (let v = 0; v < wb; v++) {
            const d = rowDst + v * sw * ci;
            if (part) heap.copyWithin(d, rowSrc + v * ci, rowSrc + (v + 1) * ci);
            else heap.fill(0, d, d + ci);
          }
        }
      }
      if (part) release(backend, part);
    }
  }
  return dx;
}

export function conv2DBackpropInput(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: unknown;
}): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as Attrs;
  const dy = inputs.dy!,
    filter = inputs.filter!;
  if (attrs.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropInput supports NHWC only');
  const fShape = filter.shape as [number, number, number, number];
  const info = convGeometry(attrs.inputShape, fShape, attrs.strides, attrs.pad, attrs.dimRoundingMode);
  if (info.strideHeight > 1 || info.strideWidth > 1) return strided(backend, dy, filter, info);

  const [kh, kw] = fShape;
  const { inHeight: h, inWidth: w, outHeight: oh, outWidth: ow } = info;
  const pt = info.padInfo.top,
    pl = info.padInfo.left;
  const flipped = kh === 1 && kw === 1 ? filter : runKernel('Reverse', { x: filter }, { dims: [0, 1] }, backend);
  const wt = transpose(backend, flipped, [0, 1, 3, 2]); // [kh, kw, co, ci]
  if (flipped !== filter) release(backend, flipped);
  const out = conv2dSignedPad(backend, dy, wt, [kh - 1 - pt, h - oh + pt, kw - 1 - pl, w - ow + pl]);
  release(backend, wt);
  return out;
}
