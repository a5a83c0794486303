/**
 * Image-quality measures between a clean image and its adversarial version (values in [0,1]).
 *
 * - SSIM: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality assessment: from
 *   error visibility to structural similarity", IEEE TIP 2004, with scikit-image's defaults
 *   (`structural_similarity`): 7×7 uniform window, K1 = 0.01, K2 = 0.03, data range L = 1, sample
 *   covariances (N/(N−1)), mean over the windows that fit inside the image, averaged over channels:
 *     SSIM = (2µxµy + C1)(2σxy + C2) / ((µx² + µy² + C1)(σx² + σy² + C2)),  C1 = (K1 L)², C2 = (K2 L)².
 * - PSNR = 10·log10(L² / MSE) dB (∞ for identical images).
 */

/** SSIM of two H×W×C images (row-major, channels last). */
export function ssim(a: ArrayLike<number>, b: ArrayLike<number>, h: number, w: number, c: number, win = 7): number {
  const C1 = 0.01 ** 2;
  const C2 = 0.03 ** 2;
  const N = win * win;
  const cov = N / (N - 1);
  if (h < win || w < win) win = Math.max(1, Math.min(h, w) | 1);
  let total = 0;
  let count = 0;
  for (let ch = 0; ch < c; ch++) {
    for (let y0 = 0; y0 + win <= h; y0++) {
      for (let x0 = 0; x0 + win <= w; x0++) {
        let sa = 0;
        let sb = 0;
        let saa = 0;
        let sbb = 0;
        let sab = 0;
        for (let yy = y0; yy < y0 + win; yy++) {
          for (let xx = x0; xx < x0 + win; xx++) {
            const k = (yy * w + xx) * c + ch;
            const va = a[k];
            const vb = b[k];
            sa += va;
            sb += vb;
            saa += va * va;
            sbb += vb * vb;
            sab += va * vb;
          }
        }
        const n = win * win;
        const ma = sa / n;
        const mb = sb / n;
        const va = (saa / n - ma * ma) * cov;
        const vb = (sbb / n - mb * mb) * cov;
        const vab = (sab / n - ma * mb) * cov;
        total += ((2 * ma * mb + C1) * (2 * vab + C2)) / ((ma * ma + mb * mb + C1) * (va + vb + C2));
        count++;
      }
    }
  }
  return count ? total / count : 1;
}

/** PSNR in dB for data range 1 (Infinity when the images are identical). */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  const mse = s / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

/** Mean of the finite values (null when there are none). */
export function finiteMean(v: ArrayLike<number>): number | null {
  let s = 0;
  let n = 0;
  for (let i = 0; i < v.length; i++)
    if (Number.isFinite(v[i])) {
      s += v[i];
      n++;
    }
  return n ? s / n : null;
}

export function median(v: ArrayLike<number>): number | null {
  const a = Array.from(v)
    .filter(Number.isFinite)
    .sort((x, y) => x - y);
  if (!a.length) return null;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}
