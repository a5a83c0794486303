/**
 * Joint classifier + detector attack — N. Carlini & D. Wagner, "Adversarial examples are not easily
 * detected: bypassing ten detection methods", AISec 2017 (the attacker knows the detector D, its
 * statistic and its threshold τ, and minimises both losses at once):
 *
 *   maximise  J(x') = min(max_{j≠y} z_j(x') − z_y(x'), κ)  −  λ · max(0, (D(x') − τ)/s + δ)
 *
 * z = the model's logits, κ = 5 (`--confidence`; the classifier term stops pulling once x' is misclassified
 * by κ — a confident misclassification also survives the squeezers and dropout some detectors apply),
 * s = the spread of D on clean images, δ = ½ (aim half a spread below the threshold). D is the
 * detector's differentiable view (`scoreTensor`): exact for KD+BU (its dropout masks are seeded), LID,
 * Mahalanobis (its pre-processing direction held constant) and MagNet, BPDA straight-through for
 * feature squeezing, and a soft forest (every split a sigmoid) for the random forest.
 * λ runs through {0.5, 2, 10}: each value attacks only the images the previous ones did not solve.
 * Success = misclassified by the model AND scored ≤ τ by the REAL detector.
 *
 * Usage: `medshield scorecard --defences kd_bu,lid,mahalanobis` (the scorecard picks `joint` for detectors).
 */
import { tf } from '../../engine/index.js';
import { unsupported } from '../../errors.js';
import { takeRows, putRows } from '../project.js';
import type { AdaptiveAttack, Pipeline } from './types.js';
import { marginTerm, merged, objectiveAscent } from './objective.js';
import { pipelineCheck, pipelineResult } from './pipeline.js';

const LAMBDAS = [0.5, 2, 10];

export const joint: AdaptiveAttack = {
  name: 'joint',
  reference: 'Carlini & Wagner, AISec 2017: max min(max_{j≠y} z_j − z_y, κ) − λ·max(0, (D(x′) − τ)/s + δ), κ = 5',
  applies: (p: Pipeline) => !!p.detector,
  async run(p, x, y, opts) {
    const dd = p.detector;
    if (!dd) throw unsupported('the joint attack needs a deployed detector');
    const det = dd.detector;
    if (!det.scoreTensor)
      throw unsupported(`detector '${det.name}' has no differentiable view for the adaptive attacker`);
    const shape = p.model.inputShape;
    const d = shape[0] * shape[1] * shape[2];
    const n = y.length;
    const scale = dd.scale && dd.scale > 0 ? dd.scale : 1;
    const lambdas = opts.lambda !== undefined ? [opts.lambda] : LAMBDAS;
    const xAdv = Float32Array.from(x);
    const solved = new Uint8Array(n);
    let gradient = 0;
    const steps = opts.steps ?? 50;
    for (const [li, lambda] of lambdas.entries()) {
      const idx = Array.from({ length: n }, (_, i) => i).filter((i) => !solved[i]);
      if (!idx.length) break;
      const ys = Int32Array.from(idx, (i) => y[i]);
      const objective = (v: tf.Tensor4D, rows: number[]): tf.Tensor1D =>
        tf.tidy(() => {
          const margin = marginTerm(p.model.logits(v), ys, rows, opts.confidence ?? 5);
          const s = det.scoreTensor!(p.model, v);
          return tf.sub(
            margin,
            tf.mul(lambda, tf.relu(tf.add(tf.div(tf.sub(s, dd.threshold), scale), 0.5))),
          ) as tf.Tensor1D;
        });
      const r = await objectiveAscent(shape, takeRows(x, d, idx), objective, pipelineCheck(p, ys), {
        eps: opts.eps,
        norm: opts.norm ?? 'linf',
        steps,
        stepSize: opts.stepSize,
        restarts: opts.restarts ?? 1,
        seed: (opts.seed ?? 0) + li,
        checkEvery: 5,
        onStep: opts.onStep ? (done, total) => opts.onStep!(li * total + done, lambdas.length * total) : undefined,
        stop: opts.stopWhen && ((ok, xs) => opts.stopWhen!(...merged(solved, xAdv, d, idx, ok, xs))),
      });
      gradient += r.gradientPasses;
      putRows(xAdv, r.xAdv, d, idx);
      idx.forEach((i, j) => {
        if (r.success[j]) solved[i] = 1;
      });
      if (li < lambdas.length - 1 && opts.stopWhen && (await opts.stopWhen(solved, xAdv))) break;
    }
    return pipelineResult(p, xAdv, y, { forward: 0, gradient }, [
      `joint classifier + ${det.name} loss, λ ∈ {${lambdas.join(', ')}}, ${steps} steps each`,
    ]);
  },
};
