/** Small image operations the input transforms share (NHWC Float32Array, one image at a time). */

/** scipy.ndimage 'reflect' (half-sample symmetric) index: … b a | a b c d | d c … */
export function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * n;
  let j = ((i % period) + period) % period;
  if (j >= n) j = period - 1 - j;
  return j;
}

export const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/**
 * Bilinear resize of one h×w×c image to H×W (half-pixel centres, as `tf.image.resizeBilinear`
 * with halfPixelCenters and PIL): every output is a convex combination of inputs, so [0,1] stays [0,1].
 */
export function resizeBilinear(src: Float32Array, h: number, w: number, c: number, H: number, W: number): Float32Array {
  const out = new Float32Array(H * W * c);
  const sy = h / H;
  const sx = w / W;
  for (let y = 0; y < H; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), h - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, h - 1);
    const wy = fy - y0;
    for (let x = 0; x < W; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), w - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, w - 1);
      const wx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = src[(y0 * w + x0) * c + k];
        const b = src[(y0 * w + x1) * c + k];
        const d = src[(y1 * w + x0) * c + k];
        const e = src[(y1 * w + x1) * c + k];
        out[(y * W + x) * c + k] = (1 - wy) * ((1 - wx) * a + wx * b) + wy * ((1 - wx) * d + wx * e);
      }
    }
  }
  return out;
}

/** Reflected offsets of a k-window (offsets −⌊k/2⌋ … k−1−⌊k/2⌋) around each of m positions, times `stride`. */
function windowOffsets(m: number, k: number, stride: number): Int32Array {
  const lo = k >> 1;
  const out = new Int32Array(m * k);
  for (let i = 0; i < m; i++) for (let a = 0; a < k; a++) out[i * k + a] = reflect(i + a - lo, m) * stride;
  return out;
}

/**
 * k×k median filter of n NHWC images, per channel, reflect padding (scipy.ndimage.median_filter with size k): the
 * window covers offsets −⌊k/2⌋ … k−1−⌊k/2⌋ (centred for odd k; for even k the pixel and its upper-left
 * neighbours), and an even window's median is the mean of its two middle values. The 2×2 and 3×3 windows (the
 * feature squeezers' and the median defence's) use sorting networks — 5 and 19 compare-exchanges, Devillard's
 * opt_med9 — instead of a sort per pixel; other sizes, and images holding a NaN, sort each window (NaN last), and
 * all paths give the same values.
 */
export function medianFilter(x: Float32Array, n: number, shape: readonly number[], k: number): Float32Array {
  const [h, w, c] = shape;
  const d = h * w * c;
  const out = new Float32Array(x.length);
  const rows = windowOffsets(h, k, w * c);
  const cols = windowOffsets(w, k, c);
  let finite = true;
  for (let i = 0; i < n * d && finite; i++) if (Number.isNaN(x[i])) finite = false;
  const q = k * k;
  const win = new Float32Array(q);
  for (let s = 0; s < n; s++) {
    const base = s * d;
    for (let y = 0; y < h; y++) {
      const ry = y * k;
      for (let xx = 0; xx < w; xx++) {
        const cx = xx * k;
        for (let ch = 0; ch < c; ch++) {
          const o = base + ch;
          let v: number;
          if (finite && k === 3) {
            const r0 = o + rows[ry],
              r1 = o + rows[ry + 1],
              r2 = o + rows[ry + 2];
            const c0 = cols[cx],
              c1 = cols[cx + 1],
              c2 = cols[cx + 2];
            v = med9(
              x[r0 + c0],
              x[r0 + c1],
              x[r0 + c2],
              x[r1 + c0],
              x[r1 + c1],
              x[r1 + c2],
              x[r2 + c0],
              x[r2 + c1],
              x[r2 + c2],
            );
          } else if (finite && k === 2) {
            const r0 = o + rows[ry],
              r1 = o + rows[ry + 1];
            v = mid4(x[r0 + cols[cx]], x[r0 + cols[cx + 1]], x[r1 + cols[cx]], x[r1 + cols[cx + 1]]);
          } else {
            let m = 0;
            for (let a = 0; a < k; a++) for (let b = 0; b < k; b++) win[m++] = x[o + rows[ry + a] + cols[cx + b]];
            win.sort();
            v = q % 2 ? win[(q - 1) >> 1] : (win[q / 2 - 1] + win[q / 2]) / 2;
          }
          out[base + (y * w + xx) * c + ch] = v;
        }
      }
    }
  }
  return out;
}

/** Mean of the two middle values of four (a 5-exchange sorting network). */
function mid4(a: number, b: number, c: number, d: number): number {
  let t: number;
  if (a > b) (t = a), (a = b), (b = t);
  if (c > d) (t = c), (c = d), (d = t);
  if (a > c) (t = a), (a = c), (c = t);
  if (b > d) (t = b), (b = d), (d = t);
  if (b > c) (t = b), (b = c), (c = t);
  return (b + c) / 2;
}

/** Median of nine (Devillard's opt_med9 sorting network, 19 compare-exchanges). */
function med9(
  p0: number,
  p1: number,
  p2: number,
  p3: number,
  p4: number,
  p5: number,
  p6: number,
  p7: number,
  p8: number,
): number {
  let t: number;
  if (p1 > p2) (t = p1), (p1 = p2), (p2 = t);
  if (p4 > p5) (t = p4), (p4 = p5), (p5 = t);
  if (p7 > p8) (t = p7), (p7 = p8), (p8 = t);
  if (p0 > p1) (t = p0), (p0 = p1), (p1 = t);
  if (p3 > p4) (t = p3), (p3 = p4), (p4 = t);
  if (p6 > p7) (t = p6), (p6 = p7), (p7 = t);
  if (p1 > p2) (t = p1), (p1 = p2), (p2 = t);
  if (p4 > p5) (t = p4), (p4 = p5), (p5 = t);
  if (p7 > p8) (t = p7), (p7 = p8), (p8 = t);
  if (p0 > p3) (t = p0), (p0 = p3), (p3 = t);
  if (p5 > p8) (t = p5), (p5 = p8), (p8 = t);
  if (p4 > p7) (t = p4), (p4 = p7), (p7 = t);
  if (p3 > p6) (t = p3), (p3 = p6), (p6 = t);
  if (p1 > p4) (t = p1), (p1 = p4), (p4 = t);
  if (p2 > p5) (t = p2), (p2 = p5), (p5 = t);
  if (p4 > p7) (t = p4), (p4 = p7), (p7 = t);
  if (p4 > p2) (t = p4), (p4 = p2), (p2 = t);
  if (p6 > p4) (t = p6), (p6 = p4), (p4 = t);
  if (p4 > p2) (t = p4), (p4 = p2), (p2 = t);
  return p4;
}
