/**
 * Randomized smoothing: J. Cohen, E. Rosenfeld, J. Z. Kolter, "Certified Adversarial Robustness via
 * Randomized Smoothing", ICML 2019.
 *
 *   g(x) = argmax_c P_{η ~ N(0, σ² I)} [ f(x + η) = c ]
 *   If p̲_A ≤ P[f(x+η) = c_A] and p̲_A > ½ then g(x + δ) = c_A for all ‖δ‖₂ < R = σ · Φ⁻¹(p̲_A).
 *
 * - Noise-augmented training: the base classifier f is trained on x + N(0, σ²) (`medshield train
 *   --noise-sigma 0.25`; no clipping to [0,1], as in the paper's code).
 * - PREDICT (Alg. 1): n samples, top two counts n_A, n_B; abstain unless the two-sided binomial test
 *   of n_A vs n_A + n_B at p = ½ has p-value ≤ α.
 * - CERTIFY (Alg. 1): n0 = 100 samples select ĉ_A, n fresh samples count n_A; p̲_A = the one-sided
 *   (1 − α) Clopper–Pearson lower bound = Beta⁻¹(α; n_A, n − n_A + 1); abstain if p̲_A ≤ ½, else R.
 *   Defaults σ = 0.25, n0 = 100, n = 1000 (the paper uses 100 000), α = 0.001, noise batch 256.
 * - `SmoothedModel`: g as a ForwardModel; its "probabilities" are the Monte-Carlo class frequencies.
 * The statistics (src/defences/stats.ts) are written here by hand: see that file for why.
 * Usage: `medshield certify --model DIR --dataset pneumoniamnist --sigma 0.25 --n 1000 --limit 100 --json`
 */
import { tf, Rng } from '../engine/index.js';
import type { BatchHook } from '../models/train.js';
import type { DifferentiableModel, ForwardModel, Model } from '../models/model.js';
import { badArgument, unsupported } from '../errors.js';
import { binomialTestPValue, clopperPearsonLower, normalQuantile } from './stats.js';
import type { DefenceEntry } from './registry.js';

export const ABSTAIN = -1;

export interface SmoothingOptions {
  sigma: number;
  /** Noise samples per forward batch (default 256). */
  batch?: number;
  seed?: number;
}

export function checkSigma(sigma: number): void {
  if (!(Number.isFinite(sigma) && sigma > 0)) throw badArgument(`--sigma must be greater than 0, got ${sigma}`);
}

function gaussian(rng: Rng, n: number, sigma: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = sigma * rng.normal();
  return out;
}

/** Base-classifier class counts over `num` noisy copies of one image x (d values). */
async function sampleCounts(
  model: Model,
  x: Float32Array,
  num: number,
  sigma: number,
  rng: Rng,
  batch = 256,
): Promise<Int32Array> {
  const k = model.classes.length;
  const d = x.length;
  const counts = new Int32Array(k);
  for (let done = 0; done < num; done += batch) {
    const m = Math.min(batch, num - done);
    const xs = gaussian(rng, m * d, sigma);
    for (let i = 0; i < m; i++) for (let j = 0; j < d; j++) xs[i * d + j] += x[j];
    const p = await model.predictProbs(xs, m);
    for (let i = 0; i < m; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + best]) best = c;
      counts[best]++;
    }
  }
  return counts;
}

function topTwo(counts: Int32Array): [number, number] {
  let a = 0;
  let b = -1;
  for (let c = 1; c < counts.length; c++) {
    if (counts[c] > counts[a]) {
      b = a;
      a = c;
    } else if (b < 0 || counts[c] > counts[b]) b = c;
  }
  return [a, b];
}

/** Cohen et al.'s PREDICT: the smoothed class, or ABSTAIN. */
export async function predictSmoothed(
  model: Model,
  x: Float32Array,
  opts: SmoothingOptions & { n: number; alpha: number; rng: Rng },
): Promise<number> {
  const counts = await sampleCounts(model, x, opts.n, opts.sigma, opts.rng, opts.batch);
  const [a, b] = topTwo(counts);
  return binomialTestPValue(counts[a], counts[a] + counts[b]) > opts.alpha ? ABSTAIN : a;
}

export interface Certificate {
  prediction: number;
  radius: number;
  pLower: number;
  counts: number[];
}

/** Cohen et al.'s CERTIFY: predicted class and certified L2 radius (prediction ABSTAIN, radius 0 when p̲_A ≤ ½). */
export async function certify(
  model: Model,
  x: Float32Array,
  opts: SmoothingOptions & { n0: number; n: number; alpha: number; rng: Rng },
): Promise<Certificate> {
  const c0 = await sampleCounts(model, x, opts.n0, opts.sigma, opts.rng, opts.batch);
  const cA = topTwo(c0)[0];
  const counts = await sampleCounts(model, x, opts.n, opts.sigma, opts.rng, opts.batch);
  const pLower = clopperPearsonLower(counts[cA], opts.n, opts.alpha);
  if (pLower <= 0.5) return { prediction: ABSTAIN, radius: 0, pLower, counts: Array.from(counts) };
  return { prediction: cA, radius: opts.sigma * normalQuantile(pLower), pLower, counts: Array.from(counts) };
}

/**
 * The smoothed classifier g as a ForwardModel: predictProbs returns, per image, the frequencies of
 * the base classifier's classes over `samples` noisy copies (seeded; each call draws fresh noise).
 */
export class SmoothedModel implements ForwardModel {
  readonly differentiable = false as const;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task;
  readonly card;
  private rng: Rng;

  constructor(
    readonly base: Model,
    readonly sigma: number,
    readonly samples = 100,
    seed = 0,
    readonly batch = 256,
  ) {
    checkSigma(sigma);
    if (!(Number.isInteger(samples) && samples >= 1))
      throw badArgument(`smoothing needs at least one noise sample, got ${samples}`);
    if (base.task === 'multilabel') throw unsupported('randomized smoothing supports single-label tasks only');
    this.inputShape = base.inputShape;
    this.classes = base.classes;
    this.task = base.task;
    this.card = base.card;
    this.rng = new Rng(seed ^ 0x5e0e);
  }

  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    const d = x.length / n;
    const k = this.classes.length;
    const out = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      const c = await sampleCounts(
        this.base,
        x.subarray(i * d, (i + 1) * d),
        this.samples,
        this.sigma,
        this.rng,
        this.batch,
      );
      for (let j = 0; j < k; j++) out[i * k + j] = c[j] / this.samples;
    }
    return out;
  }
}

/**
 * `--defence smoothing:sigma=0.25,n=100` (src/defences/registry.ts): the model wrapped into g, class frequencies as
 * probabilities.
 */
export const smoothingEntry: DefenceEntry = {
  name: 'smoothing',
  summary: 'randomized smoothing: majority vote of the model over n Gaussian-noised copies (Cohen et al. 2019)',
  params: {
    sigma: { default: 0.25, min: 0, max: 10, minExclusive: true, help: 'noise standard deviation σ' },
    n: { default: 100, min: 1, max: 1e6, integer: true, help: 'Monte-Carlo samples per image' },
  },
  create: (p) => ({
    spec: `smoothing:sigma=${p.sigma},n=${p.n}`,
    reference: 'Cohen, Rosenfeld & Kolter, ICML 2019',
    randomized: true,
    noise: { sigma: p.sigma },
    wrap: (model: Model, opts?: { seed?: number }) => new SmoothedModel(model, p.sigma, p.n, opts?.seed ?? 0),
  }),
};

/** Training hook for `medshield train --noise-sigma σ`: each batch becomes x + N(0, σ² I). */
export function noiseAugmentation(sigma: number): BatchHook {
  checkSigma(sigma);
  return {
    card: { noise: { sigma } },
    async transform(_model: DifferentiableModel, xs: tf.Tensor4D, _ys: Int32Array, rng: Rng) {
      return tf.tidy(() => tf.add(xs, tf.tensor(gaussian(rng, xs.size, sigma), xs.shape)) as tf.Tensor4D);
    },
  };
}

/**
 * Certified accuracy at each radius r: the fraction of images certified correct with radius ≥ r (Cohen et al.'s
 * `analyze`).
 */
export function certifiedAccuracy(
  certs: Certificate[],
  labels: ArrayLike<number>,
  radii: number[],
): Array<{ radius: number; accuracy: number }> {
  return radii.map((r) => ({
    radius: r,
    accuracy: certs.length
      ? certs.filter((c, i) => c.prediction === labels[i] && c.radius >= r).length / certs.length
      : 0,
  }));
}
