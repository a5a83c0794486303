/**
 * Transfer attack — the black box of Finlayson et al. (Science 2019): craft adversarial images with
 * a white-box attack on a surrogate model the attacker trained independently (different seed, data
 * sample or architecture), then send them to the target once.
 *   N. Papernot, P. McDaniel, I. Goodfellow, "Transferability in machine learning", arXiv:1605.07277 (2016);
 *   Y. Liu, X. Chen, C. Liu, D. Song, ICLR 2017 (ensembles of surrogates: average the logits).
 *
 *   x_adv = A_{f_s}(x, y; ε),   f_s = (1/m) Σ_j z_j  (logit ensemble of the m surrogates)
 *   success ⇔ the target's decision on x_adv meets the criterion (one query per image).
 *
 * The base attack (`--base-attack`) runs without early stopping: stopping at the surrogate's boundary
 * leaves perturbations that barely cross it and transfer poorly (8/255, shipped surrogate → default
 * model, 200 films: PGD-20 with early stop 0.915, without 0.825). The default is M-DI²-FGSM — DI-FGSM
 * (input diversity, Xie et al., CVPR 2019) with momentum µ = 1 (Dong et al., CVPR 2018), 20 steps of
 * α = ε/4 — the strongest base attack of docs/blackbox.md's experiment table (0.565 there); `--base-attack
 * pgd` gives the former default. Usage:
 *   medshield attack --model default --attack transfer --surrogate DIR[,DIR…] [--base-attack difgsm] --eps 8/255 --json
 */
import { badArgument, unsupported } from '../../errors.js';
import { EnsembleModel } from '../../models/ensemble.js';
import type { Model } from '../../models/model.js';
import { QuerySetup, type QueryAttack } from '../query.js';
import { getAttack } from '../registry.js';
import type { Target } from '../targets/target.js';
import type { AttackOptions, AttackResult } from '../types.js';

/** The default base attack and, for the momentum attacks, the default momentum µ. */
export const TRANSFER_BASE_ATTACK = 'difgsm';
const MOMENTUM = new Set(['difgsm', 'mifgsm']);

export const transfer: QueryAttack = {
  name: 'transfer',
  reference: 'Papernot et al. 2016; Liu et al., ICLR 2017; Finlayson et al., Science 2019',
  threatModel: 'transfer',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: true,
  defaultSteps: 1,
  async run(target: Target | Model, x: Float32Array, y: Int32Array, opts: AttackOptions): Promise<AttackResult> {
    const surrogates = opts.surrogates ?? [];
    if (!surrogates.length)
      throw badArgument('the transfer attack needs at least one surrogate model (--surrogate DIR[,DIR…])');
    const base = getAttack(opts.baseAttack ?? TRANSFER_BASE_ATTACK);
    if (base.threatModel !== 'whitebox')
      throw unsupported(`--base-attack must be a white-box attack, got '${base.name}'`);
    const s = new QuerySetup(this, target, x, y, { ...opts, maxQueries: 1 });
    const t = s.target;
    const surrogate = new EnsembleModel(surrogates);
    if (surrogate.inputShape.join('×') !== t.inputShape.join('×'))
      throw badArgument(
        `surrogate ${surrogate.card.name} takes ${surrogate.inputShape.join('×')}` +
          ` images but the target takes ${t.inputShape.join('×')}`,
      );
    if (surrogate.classes.length !== t.classes.length || surrogate.task !== t.task)
      throw badArgument(
        `surrogate ${surrogate.card.name} has ${surrogate.classes.length} classes ` +
          `(${surrogate.task}) but the target has ${t.classes.length} (${t.task})`,
      );
    const decay = opts.decay ?? (MOMENTUM.has(base.name) ? 1 : undefined);
    const crafted = await base.run(surrogate, x, y, {
      ...opts,
      surrogates: undefined,
      baseAttack: undefined,
      maxQueries: undefined,
      earlyStop: false,
      decay,
    });
    const all = Array.from({ length: s.n }, (_, i) => i);
    const margins = await s.margins(all, crafted.xAdv);
    const success = Uint8Array.from(all, (i) => (s.succeeded(i, margins[i]) ? 1 : 0));
    const fooledSurrogate = crafted.success.reduce((a, b) => a + b, 0);
    const r = s.finish(x, crafted.xAdv, success, [
      ...crafted.notes,
      `transfer: crafted with ${base.name}${decay ? ` (µ = ${decay})` : ''} on ${surrogate.card.name} (fooled the ` +
        `surrogate on ${fooledSurrogate}/${s.n}); the target was queried once per image`,
    ]);
    r.queries.gradient = crafted.queries.gradient;
    return r;
  },
};
