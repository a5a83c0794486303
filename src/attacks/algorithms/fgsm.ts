/**
 * FGSM — Fast Gradient Sign Method.
 * I. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing Adversarial Examples", ICLR 2015.
 *
 *   x_adv = clip_[0,1]( x + ε · sign(∇ₓ ℓ(f(x), y)) )          (L∞, one step)
 *   x_adv = clip_[0,1]( x + ε · ∇ₓℓ / ‖∇ₓℓ‖₂ )                 (L2 variant, "fast gradient method")
 *
 * Defaults: loss CE; targeted mode descends the loss of the target class (ℓ = log p_t is maximised).
 * Usage: `medshield attack --attack fgsm --eps 2/255`.
 *
 * Cost: exactly one forward+backward pass at x (the logits of that same pass are the clean
 * prediction; nothing else evaluates x) and the one forward pass at x_adv every attack's success
 * check makes — the same work as a one-line PyTorch FGSM whose result is scored. The raw logits of
 * that last pass are returned (`AttackResult.logits`) so an evaluation need not run x_adv again.
 * The arithmetic is the projected-gradient loop's (`iterative.ts`) with one step, no random start and
 * no early stop, so the adversarial images are bit-identical to it.
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import { project, putRows, takeRows } from '../project.js';
import type { DifferentiableModel } from '../../models/model.js';
import { atTarget } from '../goal.js';

export const fgsm: Attack = {
  name: 'fgsm',
  reference: 'Goodfellow, Shlens & Szegedy, ICLR 2015',
  threatModel: 'whitebox',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: true,
  defaultSteps: 1,
  async run(model: DifferentiableModel, x: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x, y, opts);
    const { d, norm, eps, goal } = s;
    // a targeted sample whose class already is the target is left alone (never a success)
    const idx: number[] = [];
    for (let i = 0; i < s.n; i++) if (!atTarget(goal, i)) idx.push(i);
    const all = idx.length === s.n;
    const xa = Float32Array.from(x);
    if (idx.length) {
      const sub = all ? goal : goal.subset(idx);
      const x0 = all ? x : takeRows(x, d, idx);
      const { grad } = await s.oracle.lossGrad(x0, sub, (v) => sub.loss(v, opts.loss ?? 'ce'));
      const cur = Float32Array.from(x0);
      for (let i = 0; i < idx.length; i++) {
        const off = i * d;
        if (norm === 'linf') {
          for (let j = 0; j < d; j++) {
            const g = grad[off + j];
            cur[off + j] += eps * (g > 0 ? 1 : g < 0 ? -1 : 0);
          }
        } else {
          let l2 = 0;
          for (let j = 0; j < d; j++) l2 += grad[off + j] * grad[off + j];
          const f = eps / (Math.sqrt(l2) || 1);
          for (let j = 0; j < d; j++) cur[off + j] += f * grad[off + j];
        }
      }
      const stepped = project(x0, cur, d, norm, eps);
      if (all) xa.set(stepped);
      else putRows(xa, stepped, d, idx);
    }
    opts.onStep?.(1, 1);
    return finalize(s, x, xa, [], { keepLogits: true });
  },
};
