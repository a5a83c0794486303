/**
 * Projected gradient ascent on any differentiable per-image objective — the loop the joint
 * (classifier + detector) and feature-camouflage attacks share:
 *
 *   x⁰ = x + U(B_ε(x));   x^{t+1} = Π_{B_ε(x) ∩ [0,1]^d}( x^t + α · s(∇ₓ J(x^t)) ),  s = sign (L∞) or g/‖g‖₂ (L2)
 *
 * `check` judges iterates with the REAL deployed pipeline (the true detector score and threshold, the
 * defended model), not the attacker's differentiable surrogate: an image leaves the batch at the first
 * iterate that meets the goal, and that iterate is kept. Restarts re-attack only the images no
 * earlier restart solved. Images that never meet the goal keep their last iterate.
 */
import { tf, Rng } from '../../engine/index.js';
import type { Norm } from '../types.js';
import { randomStart } from '../common.js';
import { project, putRows, takeRows } from '../project.js';

/** Per-image value to maximise for the rows `idx` (indices into the original batch). */
export type Objective = (x: tf.Tensor4D, idx: number[]) => tf.Tensor1D;
/** 1 where the attacker's real goal holds at `xs` (rows `idx`). */
export type Check = (xs: Float32Array, idx: number[]) => Promise<Uint8Array>;

export interface ObjectiveConfig {
  eps: number;
  norm: Norm;
  steps: number;
  /** α (default 2.5·ε/steps, Madry's rule). */
  stepSize?: number;
  restarts?: number;
  seed?: number;
  /** Judge iterates with `check` every this many steps (and always after the last). Default 1. */
  checkEvery?: number;
  onStep?: (done: number, total: number) => void;
  /**
   * Checked after a check that found new successes (`AdaptiveOptions.stopWhen`, in this call's rows): true ends the
   * run.
   */
  stop?: (success: Uint8Array, xAdv: Float32Array) => Promise<boolean>;
}

export interface ObjectiveResult {
  xAdv: Float32Array;
  success: Uint8Array;
  /** Gradient passes per image (each step of each restart it took part in). */
  gradientPasses: number;
}

export async function objectiveAscent(
  shape: [number, number, number],
  x0: Float32Array,
  objective: Objective,
  check: Check,
  cfg: ObjectiveConfig,
): Promise<ObjectiveResult> {
  const [h, w, c] = shape;
  const d = h * w * c;
  const n = x0.length / d;
  if (cfg.norm !== 'linf' && cfg.norm !== 'l2')
    throw new Error(`objective ascent supports linf and l2, not ${cfg.norm}`);
  const steps = cfg.steps;
  const alpha = cfg.stepSize ?? (2.5 * cfg.eps) / steps;
  const restarts = cfg.restarts ?? 1;
  const every = Math.max(1, cfg.checkEvery ?? 1);
  const rng = new Rng(cfg.seed ?? 0);
  const out = Float32Array.from(x0);
  const success = new Uint8Array(n);
  let passes = 0;
  let stopped = false;
  for (let r = 0; r < restarts && !stopped; r++) {
    let idx = Array.from({ length: n }, (_, i) => i).filter((i) => !success[i]);
    if (!idx.length) break;
    let xs = takeRows(x0, d, idx);
    let cur = randomStart(xs, d, cfg.norm, cfg.eps, rng);
    for (let t = 0; t < steps && idx.length; t++) {
      const rows = idx;
      const g = tf.tidy(() => {
        const xt = tf.tensor4d(cur, [rows.length, h, w, c]);
        return tf.grad((v: tf.Tensor) => objective(v as tf.Tensor4D, rows).sum())(xt);
      });
      const grad = (await g.data()) as Float32Array;
      g.dispose();
      passes += rows.length;
      for (let j = 0; j < rows.length; j++) {
        const off = j * d;
        if (cfg.norm === 'linf') {
          for (let q = 0; q < d; q++) {
            const v = grad[off + q];
            cur[off + q] += alpha * (v > 0 ? 1 : v < 0 ? -1 : 0);
          }
        } else {
          let s = 0;
          for (let q = 0; q < d; q++) s += grad[off + q] ** 2;
          const k = alpha / (Math.sqrt(s) || 1);
          for (let q = 0; q < d; q++) cur[off + q] += k * grad[off + q];
        }
      }
      cur = project(xs, cur, d, cfg.norm, cfg.eps);
      cfg.onStep?.(r * steps + t + 1, restarts * steps);
      if ((t + 1) % every === 0 || t === steps - 1) {
        const ok = await check(cur, idx);
        const stay: number[] = [];
        for (let j = 0; j < idx.length; j++) {
          if (ok[j]) {
            success[idx[j]] = 1;
            out.set(cur.subarray(j * d, (j + 1) * d), idx[j] * d);
          } else stay.push(j);
        }
        if (stay.length < idx.length) {
          cur = takeRows(cur, d, stay);
          xs = takeRows(xs, d, stay);
          idx = stay.map((j) => idx[j]);
          // the unsolved images keep their originals if the run ends here
          if (cfg.stop && (await cfg.stop(success, out))) {
            stopped = true;
            break;
          }
        }
      }
    }
    if (!stopped && idx.length && r === restarts - 1) putRows(out, cur, d, idx);
  }
  return { xAdv: out, success, gradientPasses: passes };
}

/**
 * Carlini–Wagner margin of the true class, clipped at −κ: max_{j≠y} z_j − z_y, capped at κ so an image
 * already misclassified by κ stops pulling and the other terms of the objective take over.
 */
export function marginTerm(logits: tf.Tensor2D, y: Int32Array, idx: number[], kappa = 1): tf.Tensor1D {
  return tf.tidy(() => {
    const k = logits.shape[1];
    const oh = tf
      .oneHot(
        tf.tensor1d(
          idx.map((i) => y[i]),
          'int32',
        ),
        k,
      )
      .toFloat();
    const zy = tf.sum(tf.mul(logits, oh), 1);
    const other = tf.max(tf.sub(logits, tf.mul(oh, 1e9)), 1);
    return tf.minimum(tf.sub(other, zy), kappa) as tf.Tensor1D;
  });
}

/**
 * The whole call's success and images while a sub-run on rows `idx` is under way: `success`/`xAdv` with the
 * sub-run's solved rows (`ok`, `xs` in its own row order) written in.
 */
export function merged(
  success: Uint8Array,
  xAdv: Float32Array,
  d: number,
  idx: number[],
  ok: Uint8Array,
  xs: Float32Array,
): [Uint8Array, Float32Array] {
  const s = Uint8Array.from(success);
  const x = Float32Array.from(xAdv);
  idx.forEach((i, j) => {
    if (!ok[j]) return;
    s[i] = 1;
    x.set(xs.subarray(j * d, (j + 1) * d), i * d);
  });
  return [s, x];
}
