/**
 * Resize and channel-convert a decoded image to a model's input shape [h, w, c] (HWC, [0,1]).
 *
 * Separable resampling with half-pixel centres (output pixel i maps to input coordinate
 * (i + 0.5)·s − 0.5, s = in/out):
 * - upscaling (s ≤ 1): bilinear interpolation, edges clamped;
 * - downscaling (s > 1): area averaging — each output pixel is the mean of the input it covers,
 *   weighting every input pixel by its overlap with [i·s, (i+1)·s) (OpenCV's INTER_AREA). This is
 *   the box-filter antialias: a 512→28 reduction averages ≈18×18 input pixels instead of sampling 4,
 *   and the mean intensity is preserved exactly.
 * Channels: grey → RGB by replication; RGB → grey by ITU-R BT.601 luma Y = 0.299 R + 0.587 G + 0.114 B.
 */
import { badArgument, badInput } from '../errors.js';
import type { DecodedImage } from './decoded.js';

/** Sparse per-output-index weights along one axis. */
interface AxisWeights {
  index: Int32Array[];
  weight: Float64Array[];
}

function axisWeights(inSize: number, outSize: number): AxisWeights {
  const s = inSize / outSize;
  const index: Int32Array[] = [];
  const weight: Float64Array[] = [];
  for (let i = 0; i < outSize; i++) {
    if (s > 1) {
      const lo = i * s;
      const hi = Math.min(inSize, (i + 1) * s);
      const j0 = Math.floor(lo);
      const j1 = Math.min(inSize - 1, Math.ceil(hi) - 1);
      const idx: number[] = [];
      const w: number[] = [];
      for (let j = j0; j <= j1; j++) {
        const overlap = Math.min(hi, j + 1) - Math.max(lo, j);
        if (overlap > 1e-12) {
          idx.push(j);
          w.push(overlap / (hi - lo));
        }
      }
      index.push(Int32Array.from(idx));
      weight.push(Float64Array.from(w));
    } else {
      const x = Math.min(inSize - 1, Math.max(0, (i + 0.5) * s - 0.5));
      const j0 = Math.floor(x);
      const f = x - j0;
      const j1 = Math.min(inSize - 1, j0 + 1);
      index.push(Int32Array.from(f === 0 || j1 === j0 ? [j0] : [j0, j1]));
      weight.push(Float64Array.from(f === 0 || j1 === j0 ? [1] : [1 - f, f]));
    }
  }
  return { index, weight };
}

/** Resample an HWC float image to (outH, outW), same channel count. */
export function resizeHwc(
  src: Float32Array,
  h: number,
  w: number,
  c: number,
  outH: number,
  outW: number,
): Float32Array {
  if (outH === h && outW === w) return src.slice();
  const wx = axisWeights(w, outW);
  const wy = axisWeights(h, outH);
  // Horizontal pass: h × outW × c.
  const tmp = new Float64Array(h * outW * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < outW; x++) {
      const idx = wx.index[x];
      const wt = wx.weight[x];
      for (let k = 0; k < c; k++) {
        let acc = 0;
        for (let t = 0; t < idx.length; t++) acc += wt[t] * src[(y * w + idx[t]) * c + k];
        tmp[(y * outW + x) * c + k] = acc;
      }
    }
  }
  // Vertical pass: outH × outW × c.
  const out = new Float32Array(outH * outW * c);
  const row = outW * c;
  for (let y = 0; y < outH; y++) {
    const idx = wy.index[y];
    const wt = wy.weight[y];
    for (let t = 0; t < idx.length; t++) {
      const a = wt[t];
      const base = idx[t] * row;
      for (let q = 0; q < row; q++) out[y * row + q] += a * tmp[base + q];
    }
  }
  for (let i = 0; i < out.length; i++) out[i] = out[i] < 0 ? 0 : out[i] > 1 ? 1 : out[i];
  return out;
}

/** Convert HWC channels 1 ↔ 3 (replication / BT.601 luma). */
export function convertChannels(src: Float32Array, n: number, from: 1 | 3, to: 1 | 3): Float32Array {
  if (from === to) return src;
  if (from === 1) {
    const out = new Float32Array(n * 3);
    for (let p = 0; p < n; p++) out[3 * p] = out[3 * p + 1] = out[3 * p + 2] = src[p];
    return out;
  }
  const out = new Float32Array(n);
  for (let p = 0; p < n; p++) out[p] = 0.299 * src[3 * p] + 0.587 * src[3 * p + 1] + 0.114 * src[3 * p + 2];
  return out;
}

/** Resize and channel-convert `img` to the model input `shape` = [h, w, c]; HWC float in [0,1]. */
export function toModelInput(
  img: DecodedImage,
  shape: readonly [number, number, number] | readonly number[],
): Float32Array {
  const [h, w, c] = shape;
  if (shape.length !== 3 || ![h, w].every((v) => Number.isInteger(v) && v > 0)) {
    throw badArgument(
      `model input shape must be [height, width, channels] with positive sizes, got [${shape.join(', ')}]`,
    );
  }
  if (c !== 1 && c !== 3) throw badArgument(`model input must have 1 or 3 channels, got ${c}`);
  const expected = img.width * img.height * img.channels;
  if (img.data.length !== expected)
    throw badArgument(`decoded image data has ${img.data.length} values, expected ${expected}`);
  let bad = 0;
  for (let i = 0; i < img.data.length; i++) if (!Number.isFinite(img.data[i])) bad++;
  if (bad)
    throw badInput(`decoded image has ${bad} NaN/Inf pixel value${bad === 1 ? '' : 's'}; refusing to classify it`);
  const n = img.width * img.height;
  if (c < img.channels) {
    const grey = convertChannels(img.data, n, img.channels, 1);
    return resizeHwc(grey, img.height, img.width, 1, h, w);
  }
  const resized = resizeHwc(img.data, img.height, img.width, img.channels, h, w);
  return convertChannels(resized, h * w, img.channels, c as 1 | 3);
}
