/**
 * APGD — Auto-PGD (the algorithm shared by APGD-CE, APGD-DLR and APGD-T) and the APGD-CE attack.
 * F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
 * parameter-free attacks", ICML 2020 (Algorithm 1); ported from the authors' autoattack/autopgd_base.py.
 *
 *   z^{k+1} = P_S( x^k + η^k ∇ℓ(x^k) )                       (L∞: η·sign(∇);  L2: η·∇/‖∇‖₂)
 *   x^{k+1} = P_S( x^k + α (z^{k+1} − x^k) + (1 − α)(x^k − x^{k−1}) ),   α = 0.75 (1 at k = 0)
 *   η⁰ = 2ε; at checkpoints w_j (first after 0.22·N_iter, spacing shrinking by 0.03·N_iter to a
 *   minimum of 0.06·N_iter) η is halved and x restarts from the best point when
 *   (1) the loss increased in at most ρ = 75 % of the steps since the last checkpoint, or
 *   (2) η was not reduced at the last checkpoint and the best loss has not improved since.
 * Random start: x⁰ = x + ε·t/‖t‖ (t uniform in [−1,1]^d for L∞, Gaussian for L2).
 * The attack keeps, per sample, the first adversarial iterate (or the highest-loss point when none).
 * Defaults (AutoAttack): 100 iterations, 1 restart. A sample leaves the batch once fooled — APGD's
 * per-sample step-size rules make this exactly equivalent to running it on.
 * Usage: `medshield attack --attack apgd-ce --eps 8/255`.
 */
import type { Attack, AttackOptions, LossName, Norm } from '../types.js';
import { cleanMargins, finalize, setup, type Setup } from '../common.js';
import { atTarget, goalMet, goalMetRows, type Goal } from '../goal.js';
import { Rng } from '../../engine/index.js';
import type { DifferentiableModel } from '../../models/model.js';
import { takeRows } from '../project.js';

interface Run {
  xBest: Float32Array;
  fooled: Uint8Array;
  xBestAdv: Float32Array;
}

function normalise(v: Float32Array, off: number, d: number, norm: Norm): number {
  let s = 0;
  if (norm === 'linf') {
    for (let j = off; j < off + d; j++) s = Math.max(s, Math.abs(v[j]));
  } else {
    for (let j = off; j < off + d; j++) s += v[j] * v[j];
    s = Math.sqrt(s);
  }
  return s + 1e-12;
}

/** Project rows of x onto B_ε(x0) ∩ [0,1] exactly as autopgd_base does (L∞ clamp; L2 rescale then clamp). */
function projectRow(x0: Float32Array, x: Float32Array, off: number, d: number, norm: Norm, eps: number): void {
  if (norm === 'linf') {
    for (let j = off; j < off + d; j++)
      x[j] = Math.min(1, Math.max(0, Math.min(x0[j] + eps, Math.max(x0[j] - eps, x[j]))));
    return;
  }
  let s = 0;
  for (let j = off; j < off + d; j++) s += (x[j] - x0[j]) ** 2;
  const r = Math.sqrt(s);
  const f = r > eps ? eps / (r + 1e-12) : 1;
  for (let j = off; j < off + d; j++) x[j] = Math.min(1, Math.max(0, x0[j] + (x[j] - x0[j]) * f));
}

/** One APGD run (Algorithm 1) on a batch; `lossGoal` defines ℓ, `checkGoal` defines success. */
export async function apgdSingleRun(
  s: Setup,
  x0: Float32Array,
  lossGoal: Goal,
  checkGoal: Goal,
  loss: LossName,
  nIter: number,
  rng: Rng,
  onStep?: () => void,
): Promise<Run> {
  const { d, oracle, norm, eps } = s;
  const n = x0.length / d;
  const nIter2 = Math.max(Math.floor(0.22 * nIter), 1);
  const nIterMin = Math.max(Math.floor(0.06 * nIter), 1);
  const sizeDecr = Math.max(Math.floor(0.03 * nIter), 1);
  const xAdv = new Float32Array(x0.length);
  for (let i = 0; i < n; i++) {
    const off = i * d;
    const t = new Float32Array(d);
    if (norm === 'linf') rng.fillUniform(t, -1, 1);
    else rng.fillNormal(t);
    const nt = normalise(t, 0, d, norm);
    for (let j = 0; j < d; j++) xAdv[off + j] = Math.min(1, Math.max(0, x0[off + j] + (eps * t[j]) / nt));
  }
  const xBest = Float32Array.from(xAdv);
  const xBestAdv = Float32Array.from(xAdv);
  const grad = new Float32Array(x0.length);
  const gradBest = new Float32Array(x0.length);
  const lossBest = new Float64Array(n);
  const fooled = new Uint8Array(n);
  const stepSize = new Float64Array(n).fill(2 * eps);
  const lossSteps: Float64Array[] = [];
  let active = Array.from({ length: n }, (_, i) => i);
  const evaluate = async (rows: number[]): Promise<{ loss: Float32Array; margin: Float64Array }> => {
    const xs = takeRows(xAdv, d, rows);
    const lg = lossGoal.subset(rows);
    const cg = checkGoal.subset(rows);
    const r = await oracle.lossGrad(xs, lg, (v) => lg.loss(v, loss));
    rows.forEach((i, j) => grad.set(r.grad.subarray(j * d, (j + 1) * d), i * d));
    return { loss: r.loss, margin: cg.marginRows(r.logits) };
  };
  const first = await evaluate(active);
  active.forEach((i, j) => {
    lossBest[i] = first.loss[j];
    if (goalMet(checkGoal, i, first.margin[j])) fooled[i] = 1;
  });
  gradBest.set(grad);
  active = active.filter((i) => !fooled[i]);
  const xOld = Float32Array.from(xAdv);
  let k = nIter2;
  let counter3 = 0;
  const lossBestLastCheck = Float64Array.from(lossBest);
  const reducedLastCheck = new Uint8Array(n).fill(1);
  for (let it = 0; it < nIter && active.length; it++) {
    const a = it > 0 ? 0.75 : 1.0;
    for (const i of active) {
      const off = i * d;
      const z = new Float32Array(d);
      const gn = norm === 'l2' ? normalise(grad, off, d, 'l2') : 1;
      for (let j = 0; j < d; j++)
        z[j] = xAdv[off + j] + stepSize[i] * (norm === 'linf' ? Math.sign(grad[off + j]) : grad[off + j] / gn);
      const x0r = x0.subarray(off, off + d);
      projectRow(x0r, z, 0, d, norm, eps);
      for (let j = 0; j < d; j++) {
        const g2 = xAdv[off + j] - xOld[off + j];
        xOld[off + j] = xAdv[off + j];
        z[j] = xAdv[off + j] + (z[j] - xAdv[off + j]) * a + g2 * (1 - a);
      }
      projectRow(x0r, z, 0, d, norm, eps);
      xAdv.set(z, off);
    }
    const r = await evaluate(active);
    const ls = new Float64Array(n).fill(NaN);
    active.forEach((i, j) => {
      ls[i] = r.loss[j];
      if (goalMet(checkGoal, i, r.margin[j])) {
        fooled[i] = 1;
        xBestAdv.set(xAdv.subarray(i * d, (i + 1) * d), i * d);
      }
      if (r.loss[j] > lossBest[i]) {
        lossBest[i] = r.loss[j];
        xBest.set(xAdv.subarray(i * d, (i + 1) * d), i * d);
        gradBest.set(grad.subarray(i * d, (i + 1) * d), i * d);
      }
    });
    lossSteps.push(ls);
    onStep?.();
    counter3++;
    if (counter3 === k) {
      for (const i of active) {
        let inc = 0;
        for (let c = 0; c < k; c++) {
          const cur = lossSteps[it - c]?.[i] ?? 0;
          const prev = it - c - 1 >= 0 ? lossSteps[it - c - 1][i] : 0;
          if (cur > prev) inc++;
        }
        const osc = inc <= k * 0.75;
        const noImpr = !reducedLastCheck[i] && lossBestLastCheck[i] >= lossBest[i];
        const reduce = osc || noImpr;
        reducedLastCheck[i] = reduce ? 1 : 0;
        lossBestLastCheck[i] = lossBest[i];
        if (reduce) {
          stepSize[i] /= 2;
          xAdv.set(xBest.subarray(i * d, (i + 1) * d), i * d);
          grad.set(gradBest.subarray(i * d, (i + 1) * d), i * d);
        }
      }
      k = Math.max(k - sizeDecr, nIterMin);
      counter3 = 0;
    }
    active = active.filter((i) => !fooled[i]);
  }
  return { xBest, fooled, xBestAdv };
}

/**
 * APGD with restarts (untargeted losses CE/DLR, or a given targeted goal): each restart attacks
 * only the samples still robust. Returns per sample the adversarial point, or the highest-loss one.
 */
export async function apgdPerturb(
  s: Setup,
  x0: Float32Array,
  lossGoal: Goal,
  loss: LossName,
  nIter: number,
  restarts: number,
  onStep?: () => void,
): Promise<Float32Array> {
  const { d, n } = s;
  const out = Float32Array.from(x0);
  const m0 = await cleanMargins(s, x0);
  const fooled = goalMetRows(s.goal, m0);
  const skip = (i: number): boolean => atTarget(s.goal, i);
  for (let r = 0; r < restarts; r++) {
    const idx: number[] = [];
    for (let i = 0; i < n; i++) if (!fooled[i] && !skip(i)) idx.push(i);
    if (!idx.length) break;
    const run = await apgdSingleRun(
      s,
      takeRows(x0, d, idx),
      lossGoal.subset(idx),
      s.goal.subset(idx),
      loss,
      nIter,
      new Rng(s.rng.fork()),
      onStep,
    );
    idx.forEach((i, j) => {
      if (run.fooled[j]) {
        fooled[i] = 1;
        out.set(run.xBestAdv.subarray(j * d, (j + 1) * d), i * d);
      } else out.set(run.xBest.subarray(j * d, (j + 1) * d), i * d);
    });
  }
  return out;
}

export function apgdOptions(attack: Attack, opts: AttackOptions): { nIter: number; restarts: number } {
  return { nIter: opts.steps ?? attack.defaultSteps, restarts: opts.restarts ?? 1 };
}

export const apgdCe: Attack = {
  name: 'apgd-ce',
  reference: 'Croce & Hein, ICML 2020',
  threatModel: 'whitebox',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: true,
  defaultSteps: 100,
  async run(model: DifferentiableModel, x: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x, y, opts);
    const { nIter, restarts } = apgdOptions(this, opts);
    let done = 0;
    const xa = await apgdPerturb(s, x, s.goal, opts.loss ?? 'ce', nIter, restarts, () =>
      opts.onStep?.(++done, nIter * restarts),
    );
    return finalize(s, x, xa);
  },
};
