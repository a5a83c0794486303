/**
 * Sanity checks for a robustness claim, run automatically on every scorecard row — N. Carlini et al.,
 * "On evaluating adversarial robustness", arXiv:1902.06705 (2019), §5 and Appendix; F. Tramer,
 * N. Carlini, W. Brendel & A. Madry, "On adaptive attacks to adversarial example defenses", NeurIPS 2020.
 *
 * "Protected" = the fraction of originally-correct images the deployed pipeline still gets right or
 * flags (1 − fooled-and-undetected). The checks:
 *  - large-eps: at ε = 0.5 (L∞; any image can be turned into a grey one) the attack must leave
 *    ≤ 10 % protected — if not, the attack is not reaching the defence (masked or shattered gradients).
 *  - more-steps: twice the iterations never protects more (tolerance: 3 points or 2 images, whichever
 *    is larger, for the randomness of random starts and randomized defences).
 *  - whitebox-beats-transfer: the adaptive white-box attack protects no more than the non-adaptive
 *    attack transferred from the undefended model (same tolerance).
 *  - gradients: the attacker's gradient (CW margin loss, through the attacker's view) is finite and
 *    non-zero for ≥ 90 % of the images.
 * A defence that looks robust to the non-adaptive attack but fails any check is flagged as gradient
 * masking: its numbers are not evidence of robustness.
 */
import { tf } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { SanityCheck } from './scorecard-types.js';
import { round } from '../models/metrics.js';

export const LARGE_EPS = 0.5;
export const LARGE_EPS_MAX_PROTECTED = 0.1;
export const TOLERANCE = 0.03;
export const MIN_GRADIENT_FRACTION = 0.9;

export interface SanityProbe {
  /** Protected fraction after the adaptive attack at ε with `steps` iterations. */
  protectedAt(eps: number, steps: number): Promise<number>;
  /** Protected fraction after the adaptive attack at the scorecard's ε and steps (already measured). */
  adaptive: number;
  /** Protected fraction after the non-adaptive (transfer) attack at the same ε. */
  transfer: number;
  /** The attacker's differentiable view, the clean images and labels, for the gradient check. */
  view: DifferentiableModel;
  x: Float32Array;
  y: Int32Array;
}

/** Per-image L2 norm of ∇ₓ CW-margin(view(x), y) (NaN where it is not finite). */
export async function gradientNorms(
  view: DifferentiableModel,
  x: Float32Array,
  y: Int32Array,
  batch = 64,
): Promise<Float64Array> {
  const [h, w, c] = view.inputShape;
  const d = h * w * c;
  const n = y.length;
  const k = view.classes.length;
  const out = new Float64Array(n);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const g = tf.tidy(() => {
      const oh = tf.oneHot(tf.tensor1d(y.subarray(s, s + m), 'int32'), k).toFloat();
      const f = (v: tf.Tensor): tf.Scalar => {
        const z = view.logits(v as tf.Tensor4D);
        return tf.sum(tf.sub(tf.max(tf.sub(z, tf.mul(oh, 1e9)), 1), tf.sum(tf.mul(z, oh), 1)));
      };
      return tf.grad(f)(tf.tensor4d(x.subarray(s * d, (s + m) * d), [m, h, w, c]));
    });
    const v = (await g.data()) as Float32Array;
    g.dispose();
    for (let i = 0; i < m; i++) {
      let q = 0;
      for (let j = 0; j < d; j++) q += v[i * d + j] ** 2;
      out[s + i] = Number.isFinite(q) ? Math.sqrt(q) : NaN;
    }
  }
  return out;
}

export async function sanityChecks(
  p: SanityProbe,
  o: { eps: number; steps: number },
): Promise<{ passed: boolean; failures: string[]; checks: SanityCheck[] }> {
  const checks: SanityCheck[] = [];
  const tol = Math.max(TOLERANCE, 2 / Math.max(1, p.y.length));
  const large = await p.protectedAt(LARGE_EPS, o.steps);
  checks.push({
    name: 'large-eps',
    passed: large <= LARGE_EPS_MAX_PROTECTED,
    values: { eps: LARGE_EPS, protected: round(large) },
    detail:
      `at ε = ${LARGE_EPS} the adaptive attack leaves ${pct(large)}` +
      ` protected (expected ≤ ${pct(LARGE_EPS_MAX_PROTECTED)})`,
  });
  const more = await p.protectedAt(o.eps, 2 * o.steps);
  checks.push({
    name: 'more-steps',
    passed: more <= p.adaptive + tol,
    values: { steps: o.steps, protected: round(p.adaptive), doubleSteps: 2 * o.steps, protectedDouble: round(more) },
    detail:
      `${2 * o.steps} steps leave ${pct(more)} protected vs ${pct(p.adaptive)}` +
      ` with ${o.steps} (more iterations must not weaken the attack)`,
  });
  checks.push({
    name: 'whitebox-beats-transfer',
    passed: p.adaptive <= p.transfer + tol,
    values: { adaptive: round(p.adaptive), transfer: round(p.transfer) },
    detail:
      `adaptive white-box leaves ${pct(p.adaptive)} protected vs ` +
      `${pct(p.transfer)} for the transferred non-adaptive attack`,
  });
  const g = await gradientNorms(p.view, p.x, p.y);
  const ok = Array.from(g).filter((v) => Number.isFinite(v) && v > 0).length / Math.max(g.length, 1);
  checks.push({
    name: 'gradients',
    passed: ok >= MIN_GRADIENT_FRACTION,
    values: { usable: round(ok), nan: Array.from(g).filter((v) => Number.isNaN(v)).length },
    detail:
      `${pct(ok)} of the images give a finite non-zero attacker ` +
      `gradient (expected ≥ ${pct(MIN_GRADIENT_FRACTION)})`,
  });
  const failures = checks.filter((c) => !c.passed).map((c) => c.name);
  return { passed: !failures.length, failures, checks };
}

const pct = (v: number): string => `${(100 * v).toFixed(1)} %`;
