/**
 * The projected-gradient family (FGSM, BIM, PGD, MI-FGSM) as one loop:
 *
 *   x⁰ = x + U(ball ε)  (random start)      or x⁰ = x
 *   g^{t+1} = µ·g^t + ∇ℓ(x^t)/‖∇ℓ(x^t)‖₁   (momentum, MI-FGSM; µ = 0 gives g = ∇ℓ)
 *   x^{t+1} = Π_{B(x,ε) ∩ [0,1]^d}( x^t + α · s(g^{t+1}) ),   s = sign for L∞,  g/‖g‖₂ for L2
 *
 * run for `steps` iterations and `restarts` random restarts; a restart only attacks the samples no
 * earlier restart fooled. With early stopping a sample leaves the batch at the first iterate that
 * meets the criterion (that iterate is kept), which saves work and never weakens the attack.
 */
import type { LossName } from './types.js';
import { cleanMargins, randomStart, type Setup } from './common.js';
import { project, putRows, takeRows } from './project.js';
import { atTarget, goalMet, goalMetRows } from './goal.js';

export interface AscentConfig {
  steps: number;
  stepSize: number;
  randomStart: boolean;
  restarts: number;
  /** Momentum decay µ (0: plain gradient). */
  decay: number;
  loss: LossName;
  earlyStop: boolean;
  onStep?: (done: number, total: number) => void;
}

function keep<T extends Float32Array | Int32Array>(a: T, d: number, rows: number[]): T {
  return takeRows(a, d, rows);
}

export async function gradientAscent(s: Setup, x0: Float32Array, cfg: AscentConfig): Promise<Float32Array> {
  const { d, oracle, norm, eps } = s;
  const out = Float32Array.from(x0);
  // Samples already adversarial at x are left alone. Without a random start the first gradient pass
  // evaluates x itself, so the separate clean pass is only needed with one.
  const fooled = cfg.randomStart ? goalMetRows(s.goal, await cleanMargins(s, x0)) : new Uint8Array(s.n);
  const skip = (i: number): boolean => atTarget(s.goal, i);
  const total = cfg.steps * cfg.restarts;
  for (let r = 0; r < cfg.restarts; r++) {
    let idx: number[] = [];
    for (let i = 0; i < s.n; i++) if (!fooled[i] && !skip(i)) idx.push(i);
    if (!idx.length) break;
    let xs = takeRows(x0, d, idx);
    let cur = cfg.randomStart ? randomStart(xs, d, norm, eps, s.rng) : Float32Array.from(xs);
    let mom = new Float32Array(cur.length);
    let goal = s.goal.subset(idx);
    for (let t = 0; t < cfg.steps && idx.length; t++) {
      const { logits, grad } = await oracle.lossGrad(cur, goal, (v) => goal.loss(v, cfg.loss));
      if (cfg.earlyStop) {
        const m = goal.marginRows(logits);
        const stay: number[] = [];
        for (let j = 0; j < idx.length; j++) {
          if (goalMet(goal, j, m[j])) {
            fooled[idx[j]] = 1;
            out.set(cur.subarray(j * d, (j + 1) * d), idx[j] * d);
          } else stay.push(j);
        }
        if (stay.length < idx.length) {
          if (!stay.length) {
            idx = [];
            break;
          }
          cur = keep(cur, d, stay);
          xs = keep(xs, d, stay);
          mom = keep(mom, d, stay);
          const g2 = keep(grad, d, stay);
          idx = stay.map((j) => idx[j]);
          goal = s.goal.subset(idx);
          step(cur, g2, mom, d, norm, cfg);
        } else step(cur, grad, mom, d, norm, cfg);
      } else step(cur, grad, mom, d, norm, cfg);
      cur = project(xs, cur, d, norm, eps);
      cfg.onStep?.(r * cfg.steps + t + 1, total);
    }
    if (!idx.length) continue;
    // Final iterate: keep it where it succeeds; after the last restart keep it anyway (PGD's answer,
    // and no evaluation is needed: `finalize` checks it).
    const last = r === cfg.restarts - 1;
    if (last) {
      putRows(out, cur, d, idx);
      continue;
    }
    const m = goal.marginRows(await oracle.logits(cur, goal));
    const rows: number[] = [];
    const at: number[] = [];
    for (let j = 0; j < idx.length; j++) {
      const met = goalMet(goal, j, m[j]);
      if (met) fooled[idx[j]] = 1;
      if (met || last) {
        rows.push(j);
        at.push(idx[j]);
      }
    }
    putRows(out, takeRows(cur, d, rows), d, at);
  }
  return out;
}

/** One ascent step in place: x ← x + α·s(g), with optional MI-FGSM momentum accumulation in `mom`. */
function step(
  x: Float32Array,
  grad: Float32Array,
  mom: Float32Array,
  d: number,
  norm: string,
  cfg: AscentConfig,
): void {
  const n = x.length / d;
  for (let i = 0; i < n; i++) {
    const off = i * d;
    let dir: Float32Array = grad.subarray(off, off + d);
    if (cfg.decay > 0) {
      let l1 = 0;
      for (let j = 0; j < d; j++) l1 += Math.abs(dir[j]);
      l1 = l1 || 1;
      for (let j = 0; j < d; j++) mom[off + j] = cfg.decay * mom[off + j] + dir[j] / l1;
      dir = mom.subarray(off, off + d);
    }
    if (norm === 'linf') {
      for (let j = 0; j < d; j++) x[off + j] += cfg.stepSize * (dir[j] > 0 ? 1 : dir[j] < 0 ? -1 : 0);
    } else {
      let l2 = 0;
      for (let j = 0; j < d; j++) l2 += dir[j] * dir[j];
      const f = cfg.stepSize / (Math.sqrt(l2) || 1);
      for (let j = 0; j < d; j++) x[off + j] += f * dir[j];
    }
  }
}
