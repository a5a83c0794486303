/**
 * APGD-DLR — Auto-PGD on the Difference of Logits Ratio loss.
 * F. Croce, M. Hein, ICML 2020:  DLR(x, y) = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3).
 * DLR needs ≥ 3 classes; on binary tasks medshield uses the CW margin z_other − z_y instead (stated
 * in goal.ts: for sign/normalised steps and APGD's per-sample comparisons any positive per-sample
 * denominator is equivalent). Defaults: 100 iterations, 1 restart.
 * Usage: `medshield attack --attack apgd-dlr --eps 8/255`.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import { apgdOptions, apgdPerturb } from './apgd.js';
import type { DifferentiableModel } from '../../models/model.js';

export const apgdDlr: Attack = {
  name: 'apgd-dlr',
  reference: 'Croce & Hein, ICML 2020',
  threatModel: 'whitebox',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: false,
  defaultSteps: 100,
  async run(model: DifferentiableModel, x: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x, y, opts);
    const { nIter, restarts } = apgdOptions(this, opts);
    let done = 0;
    const notes = s.goal.k < 3 ? ['DLR needs at least 3 classes: the CW margin loss was used (binary fallback)'] : [];
    const xa = await apgdPerturb(s, x, s.goal, 'dlr', nIter, restarts, () => opts.onStep?.(++done, nIter * restarts));
    return finalize(s, x, xa, notes);
  },
};
