/**
 * The strong white-box attacker against adversarial training — F. Croce & M. Hein, "Reliable evaluation
 * of adversarial robustness with an ensemble of diverse parameter-free attacks", ICML 2020: APGD with
 * the cross-entropy loss, then APGD with the difference-of-logits-ratio loss
 *   DLR(x, y) = −(z_y − max_{j≠y} z_j) / (z_{π1} − z_{π3})   (binary tasks: the CW margin, see apgd-dlr.ts)
 * on the images the first did not fool, each with more iterations and random restarts than the
 * standard PGD-20 evaluation (default 100 steps × 2 restarts; the paper's AutoAttack `standard` runs
 * APGD-CE 100×5 — `--steps`, `--restarts`). Adversarial training has no transform or detector to get
 * around: the adaptive attacker's job is only to be stronger and to avoid gradient masking.
 *
 * Usage: `medshield scorecard --defences adversarial-training` (the scorecard picks it for trained defences).
 */
import { apgdCe } from '../algorithms/apgd.js';
import { apgdDlr } from '../algorithms/apgd-dlr.js';
import { takeRows, putRows } from '../project.js';
import type { AdaptiveAttack, Pipeline } from './types.js';
import { pipelineResult } from './pipeline.js';

export const apgdEnsemble: AdaptiveAttack = {
  name: 'apgd-ensemble',
  reference: 'Croce & Hein, ICML 2020: APGD-CE then APGD-DLR, DLR = −(z_y − max_{j≠y} z_j)/(z_π1 − z_π3)',
  applies: (p: Pipeline) => !p.defence && !p.detector,
  async run(p, x, y, opts) {
    const d = p.model.inputShape.reduce((a, b) => a * b, 1);
    const o = { ...opts, norm: opts.norm ?? ('linf' as const), steps: opts.steps ?? 100, restarts: opts.restarts ?? 2 };
    const ce = await apgdCe.run(p.model, x, y, o);
    const xAdv = Float32Array.from(ce.xAdv);
    const left = Array.from(ce.success.keys()).filter((i) => !ce.success[i]);
    let gradient = ce.queries.gradient;
    let forward = ce.queries.forward;
    if (left.length) {
      const dlr = await apgdDlr.run(
        p.model,
        takeRows(x, d, left),
        Int32Array.from(left, (i) => y[i]),
        { ...o, seed: (o.seed ?? 0) + 1 },
      );
      const won = left.filter((_, j) => dlr.success[j]);
      putRows(
        xAdv,
        takeRows(
          dlr.xAdv,
          d,
          left.map((_, j) => j).filter((j) => dlr.success[j]),
        ),
        d,
        won,
      );
      gradient += dlr.queries.gradient;
      forward += dlr.queries.forward;
    }
    return pipelineResult(p, xAdv, y, { forward, gradient }, [
      `APGD-CE then APGD-DLR, ${o.steps} steps × ${o.restarts} restarts`,
    ]);
  },
};
