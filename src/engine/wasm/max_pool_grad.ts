/**
 * `MaxPoolGrad` for the wasm backend with the tfjs `cpu` backend's tie rule.
 *
 * The gradient of y = maxpool(x) routes dy[b, p, q, c] to ONE input position of its window:
 * the first strict maximum in row-major window order (as tfjs-backend-cpu's `maxPoolPositions`,
 * `pixel > maxValue`; a window of NaNs routes nowhere). tfjs-backend-wasm's own kernel routes
 * ties differently, and ties are common after ReLU (windows of zeros), so the two backends would
 * give different input gradients. Windows are read straight from the wasm heap.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { convGeometry, type TensorInfo } from './kernel_util.js';

interface Attrs {
  filterSize: number | [number, number];
  strides: number | [number, number];
  pad: unknown;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
}

export function maxPoolGrad(args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: unknown }): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as Attrs;
  const x = inputs.input!,
    dy = inputs.dy!;
  const fs = typeof attrs.filterSize === 'number' ? [attrs.filterSize, attrs.filterSize] : attrs.filterSize;
  const c = x.shape[3]!;
  const info = convGeometry(x.shape, [fs[0]!, fs[1]!, c, c], attrs.strides, attrs.pad, attrs.dimRoundingMode);
  const {
    batchSize: nb,
    inHeight: h,
    inWidth: w,
    outHeight: oh,
    outWidth: ow,
    strideHeight: sh,
    strideWidth: sw,
  } = info;
  const fh = info.filterHeight,
    fw = info.filterWidth;
  const pt = info.padInfo.top,
    pl = info.padInfo.left;

  const out = backend.makeOutput(x.shape, 'float32');
  const xv = backend.typedArrayFromHeap(x) as Float32Array;
  const dyv = backend.typedArrayFromHeap(dy) as Float32Array;
  const dx = backend.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const rowX = w * c,
    imgX = h * rowX,
    rowY = ow * c,
    imgY = oh * rowY;
  const best = new Float64Array(c);
  const pos = new Int32Array(c);
  for (let b = 0; b < nb; b++) {
    const xb = b * imgX,
      yb = b * imgY;
    for (let p = 0; p < oh; p++) {
      const r0 = p * sh - pt;
      const rMin = Math.max(0, r0),
        rMax = Math.min(h, r0 + fh);
      for (let q = 0; q < ow; q++) {
        const c0 = q * sw - pl;
        const cMin = Math.max(0, c0),
          cMax = Math.min(w, c0 + fw);
        best.fill(Number.NEGATIVE_INFINITY);
        pos.fill(-1);
        for (let r = rMin; r < rMax; r++) {
          for (let cc = cMin; cc < cMax; cc++) {
            const base = xb + r * rowX + cc * c;
            for (let d = 0; d < c; d++) {
              const v = xv[base + d]!;
              if (v > best[d]!) {
                best[d] = v;
                pos[d] = base + d;
              }
            }
          }
        }
        const yo = yb + p * rowY + q * c;
        for (let d = 0; d < c; d++) {
          const at = pos[d]!;
          if (at >= 0) dx[at] = dx[at]! + dyv[yo + d]!;
        }
      }
    }
  }
  return out;
}
