/**
 * APGD-T — targeted Auto-PGD on the targeted DLR loss, as run by AutoAttack.
 * F. Croce, M. Hein, ICML 2020:  DLR_t(x, y) = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2).
 * Untargeted criterion: for τ = 2 … T+1 the target is the τ-th most likely class at the clean image
 * (T = min(9, k − 1), AutoAttack's standard setting), each run attacking the samples still robust;
 * success is misclassification. With a targeted criterion the given target is used once and success
 * means reaching it. Fallbacks for few classes: π4 := π3 with 3 classes; the CW margin z_t − z_y on
 * binary tasks. Defaults: 100 iterations, 1 restart per target.
 * Usage: `medshield attack --attack apgd-t --eps 8/255`.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, pendingTargeted, roundTargets, setup, targetedPlan } from '../common.js';
import { apgdOptions, apgdSingleRun } from './apgd.js';
import { Rng } from '../../engine/index.js';
import { takeRows } from '../project.js';
import { unsupported } from '../../errors.js';
import type { DifferentiableModel } from '../../models/model.js';

export const apgdT: Attack = {
  name: 'apgd-t',
  reference: 'Croce & Hein, ICML 2020',
  threatModel: 'whitebox',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: true,
  defaultSteps: 100,
  async run(model: DifferentiableModel, x0: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x0, y, opts);
    const { d, n, goal, oracle } = s;
    if (!goal.y)
      throw unsupported('APGD-T needs a single-label view; choose one label of a multi-label head with --label');
    const { nIter, restarts } = apgdOptions(this, opts);
    const k = goal.k;
    const out = Float32Array.from(x0);
    const { fooled, ranks, nTargets, total } = await targetedPlan(s, x0, opts.targetClasses, restarts, nIter);
    let done = 0;
    for (let tc = 2; tc < nTargets + 2; tc++) {
      for (let r = 0; r < restarts; r++) {
        const idx = pendingTargeted(n, fooled, goal);
        if (!idx.length) break;
        const targets = roundTargets(goal, idx, ranks, tc);
        const sub = goal.subset(idx);
        const run = await apgdSingleRun(
          s,
          takeRows(x0, d, idx),
          sub.withTarget(targets),
          sub,
          'dlr',
          nIter,
          new Rng(s.rng.fork()),
          () => opts.onStep?.(++done, total),
        );
        idx.forEach((i, j) => {
          if (run.fooled[j]) {
            fooled[i] = 1;
            out.set(run.xBestAdv.subarray(j * d, (j + 1) * d), i * d);
          } else out.set(run.xBest.subarray(j * d, (j + 1) * d), i * d);
        });
      }
    }
    const notes =
      k < 4
        ? [
            `targeted DLR needs at least 4 classes: ` +
              `${k === 2 ? 'the CW margin' : 'π4 := π3'} was used (fallback for ${k} classes)`,
          ]
        : [];
    return finalize(s, x0, out, notes);
  },
};
