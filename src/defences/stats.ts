/**
 * The statistics randomized smoothing needs, written by hand:
 * - Φ⁻¹, the standard normal quantile: P. J. Acklam's rational approximation (relative error
 *   < 1.15·10⁻⁹ over (0,1)), the same algorithm many statistics libraries ship.
 * - the regularised incomplete beta I_x(a, b): Lentz's continued fraction (Numerical Recipes §6.4)
 *   with ln Γ by Lanczos (g = 7, 9 terms, ~1e-15), and its inverse in x by bisection — slow next to
 *   Halley's method but it cannot fail to converge, and 64 halvings reach double precision;
 * - the one-sided Clopper–Pearson lower bound Beta⁻¹(α; k, n − k + 1) and the two-sided binomial
 *   test at p = ½ (P-value 2·P[X ≥ max(k, n − k)]), as statsmodels' `proportion_confint(method='beta')`
 *   and scipy's `binom_test` compute them in Cohen et al.'s code.
 * Why by hand: the maintained npm packages for the beta quantile (@stdlib/stats-base-dists-beta-quantile)
 * arrive as a tree of @stdlib micro-packages (with N-API addon wrappers) for three functions of ~100
 * lines; these are checked against closed forms and published values in test/defences-training.test.ts.
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction for I_x(a, b) (modified Lentz). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const TINY = 1e-300;
  const EPS = 1e-16;
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return h;
}

/** The regularised incomplete beta function I_x(a, b), a, b > 0, x ∈ [0, 1]. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`incomplete beta needs a, b > 0 (got ${a}, ${b})`);
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  if (x < (a + 1) / (a + b + 2)) return (front * betaContinuedFraction(a, b, x)) / a;
  return 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** The p-quantile of Beta(a, b): the x with I_x(a, b) = p (bisection to double precision). */
function betaQuantile(p: number, a: number, b: number): number {
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200 && hi - lo > 1e-17; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (regularizedBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/** One-sided (1 − α) Clopper–Pearson lower confidence bound on a binomial proportion from k of n. */
export function clopperPearsonLower(k: number, n: number, alpha: number): number {
  if (!(Number.isInteger(k) && Number.isInteger(n) && k >= 0 && k <= n && n >= 1))
    throw new RangeError(`need 0 ≤ k ≤ n, n ≥ 1 (got k=${k}, n=${n})`);
  return k === 0 ? 0 : betaQuantile(alpha, k, n - k + 1);
}

/** Two-sided exact binomial test of k successes in n trials against p = ½ (P-value). */
export function binomialTestPValue(k: number, n: number): number {
  if (n === 0) return 1;
  const hi = Math.max(k, n - k);
  if (2 * hi === n) return 1;
  return Math.min(1, 2 * regularizedBeta(0.5, hi, n - hi + 1));
}

const A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
  2.506628277459239,
];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

/** Φ⁻¹(p), the standard normal quantile (Acklam). */
export function normalQuantile(p: number): number {
  if (p <= 0) return -Infinity;
  if (p >= 1) return Infinity;
  const plow = 0.02425;
  if (p < plow) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (
      (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1)
    );
  }
  if (p > 1 - plow) return -normalQuantile(1 - p);
  const q = p - 0.5;
  const r = q * q;
  return (
    ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
    (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1)
  );
}
