/**
 * Gaussian mixtures of clean deep features per layer and class, for HFC (hfc.ts; Yao et al., MICCAI
 * 2021): EM with full covariances shrunk by 1 % of their mean variance, components held as whitening
 * matrices (Cholesky), and each layer's threshold τ_l = a quantile of the clean per-dimension NLL.
 */
import { type tf, Rng } from '../../engine/index.js';
import type { DifferentiableModel } from '../../models/model.js';
import { featureRows } from '../../detectors/common.js';
import { badInput } from '../../errors.js';

export interface Component {
  logWeight: number;
  mean: Float64Array /** W = C⁻ᵀ with Σ = CCᵀ: (φ−μ)W has squared norm (φ−μ)ᵀΣ⁻¹(φ−μ). */;
  whiten: Float64Array;
  halfLogDetPrec: number;
}
export interface LayerGmm {
  layer: string;
  dim: number;
  components: Component[];
  tau: number;
}
/** The fitted mixtures of one class, one per feature layer. */
export interface ClassGmm {
  cls: number;
  n: number;
  layers: LayerGmm[];
}

const SHRINK = 0.01;

export function pooled(f: tf.Tensor): tf.Tensor2D {
  return (f.rank === 4 ? f.mean([1, 2]) : f.rank === 2 ? f : f.reshape([f.shape[0], -1])) as tf.Tensor2D;
}

/** Lower Cholesky factor of a symmetric positive-definite p × p matrix (row-major); null if not SPD. */
function cholesky(a: Float64Array, p: number): Float64Array | null {
  const l = new Float64Array(p * p);
  for (let i = 0; i < p; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * p + j];
      for (let k = 0; k < j; k++) s -= l[i * p + k] * l[j * p + k];
      if (i === j) {
        if (!(s > 0)) return null;
        l[i * p + i] = Math.sqrt(s);
      } else l[i * p + j] = s / l[j * p + j];
    }
  }
  return l;
}

/** A component from weighted rows: covariance shrunk by SHRINK·tr/p, stored as (C⁻¹)ᵀ and ½ log|Σ⁻¹|. */
function component(rows: Float64Array, n: number, p: number, resp: Float64Array, weight: number): Component {
  let tot = 0;
  for (let i = 0; i < n; i++) tot += resp[i];
  tot = Math.max(tot, 1e-12);
  const mean = new Float64Array(p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) mean[j] += resp[i] * rows[i * p + j];
  for (let j = 0; j < p; j++) mean[j] /= tot;
  const cov = new Float64Array(p * p);
  const dv = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    if (!resp[i]) continue;
    for (let j = 0; j < p; j++) dv[j] = rows[i * p + j] - mean[j];
    for (let a = 0; a < p; a++) {
      const ra = resp[i] * dv[a];
      for (let b = 0; b <= a; b++) cov[a * p + b] += ra * dv[b];
    }
  }
  let tr = 0;
  for (let a = 0; a < p; a++) {
    for (let b = 0; b <= a; b++) {
      cov[a * p + b] /= tot;
      cov[b * p + a] = cov[a * p + b];
    }
    tr += cov[a * p + a];
  }
  let ridge = SHRINK * (tr / p || 1);
  let c: Float64Array | null = null;
  for (let tries = 0; !c && tries < 8; tries++, ridge *= 10) {
    const s = Float64Array.from(cov);
    for (let a = 0; a < p; a++) s[a * p + a] += ridge;
    c = cholesky(s, p);
  }
  if (!c) throw badInput('hfc: could not fit a Gaussian to the reference features (degenerate covariance)');
  // inverse of the lower-triangular C by forward substitution, then W = (C⁻¹)ᵀ
  const inv = new Float64Array(p * p);
  for (let col = 0; col < p; col++) {
    for (let i = col; i < p; i++) {
      let s = i === col ? 1 : 0;
      for (let k = col; k < i; k++) s -= c[i * p + k] * inv[k * p + col];
      inv[i * p + col] = s / c[i * p + i];
    }
  }
  const whiten = new Float64Array(p * p);
  for (let a = 0; a < p; a++) for (let b = 0; b < p; b++) whiten[a * p + b] = inv[b * p + a];
  let half = 0;
  for (let a = 0; a < p; a++) half -= Math.log(c[a * p + a]);
  return { logWeight: Math.log(Math.max(weight, 1e-12)), mean, whiten, halfLogDetPrec: half };
}

/** Per-row negative log-likelihood (without ½p·log 2π) under each component; n × K. */
function nllRows(rows: Float64Array, n: number, p: number, comps: Component[]): Float64Array {
  const out = new Float64Array(n * comps.length);
  const dv = new Float64Array(p);
  comps.forEach((cp, k) => {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < p; j++) dv[j] = rows[i * p + j] - cp.mean[j];
      let m = 0;
      for (let b = 0; b < p; b++) {
        let z = 0;
        for (let a = 0; a < p; a++) z += dv[a] * cp.whiten[a * p + b];
        m += z * z;
      }
      out[i * comps.length + k] = 0.5 * m - cp.halfLogDetPrec - cp.logWeight;
    }
  });
  return out;
}

/** EM for a K-component full-covariance mixture (k-means++-style seeding from `rng`). */
function fitMixture(rows: Float64Array, n: number, p: number, K: number, rng: Rng, iters = 60): Component[] {
  if (K === 1 || n < 2 * K) return [component(rows, n, p, new Float64Array(n).fill(1), 1)];
  // seeding: hard assignment to K centres chosen by D² sampling
  const centres: number[] = [rng.int(n)];
  const d2 = new Float64Array(n).fill(Infinity);
  while (centres.length < K) {
    const c = centres[centres.length - 1];
    let tot = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < p; j++) s += (rows[i * p + j] - rows[c * p + j]) ** 2;
      d2[i] = Math.min(d2[i], s);
      tot += d2[i];
    }
    let u = rng.uniform() * tot;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      u -= d2[i];
      if (u <= 0) {
        pick = i;
        break;
      }
    }
    centres.push(pick);
  }
  let resp = Array.from({ length: K }, () => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    let best = 0;
    let bd = Infinity;
    centres.forEach((c, k) => {
      let s = 0;
      for (let j = 0; j < p; j++) s += (rows[i * p + j] - rows[c * p + j]) ** 2;
      if (s < bd) {
        bd = s;
        best = k;
      }
    });
    resp[best][i] = 1;
  }
  let comps: Component[] = [];
  let prev = Infinity;
  for (let it = 0; it < iters; it++) {
    comps = resp.map((r) => component(rows, n, p, r, r.reduce((a, b) => a + b, 0) / n));
    const nll = nllRows(rows, n, p, comps);
    resp = Array.from({ length: K }, () => new Float64Array(n));
    let total = 0;
    for (let i = 0; i < n; i++) {
      let lo = Infinity;
      for (let k = 0; k < K; k++) lo = Math.min(lo, nll[i * K + k]);
      let s = 0;
      for (let k = 0; k < K; k++) {
        const e = Math.exp(lo - nll[i * K + k]);
        resp[k][i] = e;
        s += e;
      }
      for (let k = 0; k < K; k++) resp[k][i] /= s;
      total += lo - Math.log(s);
    }
    if (Math.abs(prev - total) < 1e-6 * Math.abs(total)) break;
    prev = total;
  }
  return comps;
}

function quantileOf(v: Float64Array, q: number): number {
  const s = Array.from(v).sort((a, b) => a - b);
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Fit the per-layer mixtures of class `cls` on the clean reference images of that class. */
export async function fitClassGmm(
  model: DifferentiableModel,
  ref: { x: Float32Array; y: Int32Array },
  cls: number,
  opts: { components?: number; quantile?: number; seed?: number } = {},
): Promise<ClassGmm> {
  const [h, w, c] = model.inputShape;
  const d = h * w * c;
  const idx: number[] = [];
  for (let i = 0; i < ref.y.length; i++) if (ref.y[i] === cls) idx.push(i);
  if (idx.length < 2)
    throw badInput(
      `hfc: the reference set has ${idx.length} clean image(s) of class ` +
        `${model.classes[cls] ?? cls}; it needs at least 2 to fit the Gaussians`,
    );
  const xs = new Float32Array(idx.length * d);
  idx.forEach((i, r) => xs.set(ref.x.subarray(i * d, (i + 1) * d), r * d));
  const K = opts.components ?? 1;
  const q = opts.quantile ?? 0.5;
  const rng = new Rng((opts.seed ?? 0) ^ 0x4fc);
  const layers: LayerGmm[] = [];
  for (const layer of model.featureNames) {
    const f = await featureRows(model, xs, idx.length, layer, 'mean');
    const p = f.dim;
    const n = idx.length;
    const rows = Float64Array.from(f.data);
    const components = fitMixture(rows, n, p, K, rng);
    const nll = nllRows(rows, n, p, components);
    const dl = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let lo = Infinity;
      for (let k = 0; k < components.length; k++) lo = Math.min(lo, nll[i * components.length + k]);
      dl[i] = lo / p;
    }
    layers.push({ layer, dim: p, components, tau: quantileOf(dl, q) });
  }
  return { cls, n: idx.length, layers };
}
