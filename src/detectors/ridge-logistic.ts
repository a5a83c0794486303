/**
 * L2-regularised logistic regression on standardised features, fitted by Newton's method (iteratively reweighted
 * least squares; Hastie, Tibshirani & Friedman, "The Elements of Statistical Learning", 2nd ed., §4.4.1):
 *   minimise (1/n) Σ_i log(1 + exp(−s_i (wᵀz_i + b))) + λ‖w‖²,   z = (x − m) / s (fit-set mean and std),
 *   score(x) = wᵀz + b (the logit: keeps ranks when the fit saturates).
 * Newton converges in a few steps where `Logistic` (common.ts: `ml-logistic-regression`, 3000 gradient steps) takes
 * 20–120 s on a few hundred rows; the deep-feature detector fits it many times while cross-validating λ and layers.
 * The Hessian is p × p, so this is for p up to a few hundred features.
 */
import { tf } from '../engine/index.js';
import { badInput } from '../errors.js';

export interface RidgeLogisticJson {
  kind: 'medshield.ridge-logistic/1';
  lambda: number;
  mean: number[];
  std: number[];
  w: number[];
  b: number;
}

export class RidgeLogistic {
  private constructor(
    readonly lambda: number,
    readonly mean: number[],
    readonly std: number[],
    readonly w: number[],
    readonly b: number,
  ) {}

  /** Fit on rows x (n × p), labels y ∈ {0, 1}. */
  static fit(x: number[][], y: ArrayLike<number>, lambda = 1e-4, iterations = 30): RidgeLogistic {
    const n = x.length;
    const p = x[0]?.length ?? 0;
    if (new Set(Array.from(y)).size < 2)
      throw badInput('logistic regression needs both clean and adversarial examples (only one class given)');
    const mean = new Array<number>(p).fill(0);
    const std = new Array<number>(p).fill(0);
    for (const r of x) for (let j = 0; j < p; j++) mean[j] += r[j] / n;
    for (const r of x) for (let j = 0; j < p; j++) std[j] += (r[j] - mean[j]) ** 2 / n;
    for (let j = 0; j < p; j++) std[j] = Math.sqrt(std[j]) || 1;
    const q = p + 1; // last coordinate: the intercept (not penalised)
    const z = x.map((r) => {
      const v = new Float64Array(q);
      for (let j = 0; j < p; j++) v[j] = (r[j] - mean[j]) / std[j];
      v[p] = 1;
      return v;
    });
    const beta = new Float64Array(q);
    const loss = (bt: Float64Array): number => {
      let l = 0;
      for (let i = 0; i < n; i++) {
        let t = 0;
        for (let j = 0; j < q; j++) t += z[i][j] * bt[j];
        const s = y[i] ? t : -t;
        l += s > 0 ? Math.log1p(Math.exp(-s)) : -s + Math.log1p(Math.exp(s));
      }
      let r = 0;
      for (let j = 0; j < p; j++) r += bt[j] * bt[j];
      return l / n + lambda * r;
    };
    let current = loss(beta);
    for (let it = 0; it < iterations; it++) {
      const g = new Float64Array(q);
      const H = new Float64Array(q * q);
      for (let i = 0; i < n; i++) {
        const zi = z[i];
        let t = 0;
        for (let j = 0; j < q; j++) t += zi[j] * beta[j];
        const pr = 1 / (1 + Math.exp(-t));
        const r = (pr - (y[i] ? 1 : 0)) / n;
        const wgt = Math.max(pr * (1 - pr), 1e-10) / n;
        for (let j = 0; j < q; j++) {
          g[j] += r * zi[j];
          const a = wgt * zi[j];
          if (a === 0) continue;
          const row = j * q;
          for (let k = j; k < q; k++) H[row + k] += a * zi[k];
        }
      }
      for (let j = 0; j < p; j++) {
        g[j] += 2 * lambda * beta[j];
        H[j * q + j] += 2 * lambda;
      }
      H[p * q + p] += 1e-10;
      for (let j = 0; j < q; j++) for (let k = 0; k < j; k++) H[j * q + k] = H[k * q + j];
      const step = choleskySolve(H, g, q);
      // damped Newton: halve the step until the loss does not rise
      let t = 1;
      let next = beta;
      let value = current;
      for (let h = 0; h < 30; h++) {
        const cand = Float64Array.from(beta, (v, j) => v - t * step[j]);
        const l = loss(cand);
        if (l <= current) {
          next = cand;
          value = l;
          break;
        }
        t /= 2;
      }
      if (next === beta) break;
      const done = current - value < 1e-10 * Math.max(1, current);
      beta.set(next);
      current = value;
      if (done) break;
    }
    return new RidgeLogistic(lambda, mean, std, Array.from(beta.subarray(0, p)), beta[p]);
  }

  /** The logit per row. */
  score(x: number[][]): Float64Array {
    const p = this.w.length;
    return Float64Array.from(x, (r) => {
      let t = this.b;
      for (let j = 0; j < p; j++) t += (this.w[j] * (r[j] - this.mean[j])) / this.std[j];
      return t;
    });
  }

  /** `score` as a differentiable tensor: the logit of each row of x [n, p] (for adaptive attacks). */
  logitTensor(x: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const v = Float32Array.from(this.w, (w, j) => w / this.std[j]);
      const c = this.b - this.w.reduce((s, w, j) => s + (w * this.mean[j]) / this.std[j], 0);
      return tf.add(tf.matMul(x, tf.tensor2d(v, [v.length, 1])).reshape([-1]), c) as tf.Tensor1D;
    });
  }

  toJSON(): RidgeLogisticJson {
    return {
      kind: 'medshield.ridge-logistic/1',
      lambda: this.lambda,
      mean: this.mean,
      std: this.std,
      w: this.w,
      b: this.b,
    };
  }

  static isJson(s: unknown): s is RidgeLogisticJson {
    return (s as RidgeLogisticJson | undefined)?.kind === 'medshield.ridge-logistic/1';
  }

  static load(s: RidgeLogisticJson): RidgeLogistic {
    return new RidgeLogistic(s.lambda, s.mean, s.std, s.w, s.b);
  }
}

/** Solve A v = g for a symmetric positive-definite A (q × q, row-major), Cholesky. */
function choleskySolve(A: Float64Array, g: Float64Array, q: number): Float64Array {
  const L = new Float64Array(q * q);
  for (let j = 0; j < q; j++) {
    let d = A[j * q + j];
    for (let k = 0; k < j; k++) d -= L[j * q + k] ** 2;
    const ljj = Math.sqrt(Math.max(d, 1e-12));
    L[j * q + j] = ljj;
    for (let i = j + 1; i < q; i++) {
      let s = A[i * q + j];
      for (let k = 0; k < j; k++) s -= L[i * q + k] * L[j * q + k];
      L[i * q + j] = s / ljj;
    }
  }
  const u = new Float64Array(q);
  for (let i = 0; i < q; i++) {
    let s = g[i];
    for (let k = 0; k < i; k++) s -= L[i * q + k] * u[k];
    u[i] = s / L[i * q + i];
  }
  const v = new Float64Array(q);
  for (let i = q - 1; i >= 0; i--) {
    let s = u[i];
    for (let k = i + 1; k < q; k++) s -= L[k * q + i] * v[k];
    v[i] = s / L[i * q + i];
  }
  return v;
}
