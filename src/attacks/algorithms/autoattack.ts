/**
 * AutoAttack, standard version — a parameter-free ensemble.
 * F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
 * parameter-free attacks", ICML 2020.
 *
 * Runs, in order, each on the samples still robust: APGD-CE (100 iterations, 1 restart), APGD-T
 * (targeted DLR, min(9, k−1) target classes, 100 iterations), FAB-T (min(9, k−1) targets, 100
 * iterations) and Square (5000 queries, p_init = 0.8 as in AutoAttack's standard version, run on the
 * model's probabilities in process). Robust accuracy is the worst case over the components, and
 * `components` gives the cumulative success after each. AutoAttack is an untargeted evaluation; a
 * targeted criterion is refused.
 * Usage: `medshield attack --attack autoattack --eps 8/255`.
 */
import type { Attack, AttackOptions, AttackResult } from '../types.js';
import { finalize, setup } from '../common.js';
import { apgdCe } from './apgd.js';
import { apgdT } from './apgd-t.js';
import { fabT } from './fab.js';
import { squareAttack } from './square.js';

/**
 * AutoAttack's Square: p_init 0.8 and the p schedule of a 10 000-query run, not rescaled to the budget (autoattack's
 * `resc_schedule=False`).
 */
const square = squareAttack({ rescaleSchedule: false });
import { takeRows, putRows } from '../project.js';
import { unsupported } from '../../errors.js';
import type { DifferentiableModel } from '../../models/model.js';

export const autoattack: Attack = {
  name: 'autoattack',
  reference: 'Croce & Hein, ICML 2020 (AutoAttack, standard)',
  threatModel: 'whitebox',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: false,
  defaultSteps: 100,
  async run(model: DifferentiableModel, x0: Float32Array, y: Int32Array, opts: AttackOptions): Promise<AttackResult> {
    if (opts.criterion?.kind === 'targeted')
      throw unsupported('AutoAttack is an untargeted evaluation; drop --targeted');
    const s = setup(this, model, x0, y, opts);
    const { d, n } = s;
    const labelWidth = y.length / n;
    const out = Float32Array.from(x0);
    const success = new Uint8Array(n);
    const components: Array<{ name: string; success: Uint8Array }> = [];
    const notes: string[] = [];
    let forward = 0;
    let gradient = 0;
    const parts = [apgdCe, apgdT, fabT, square];
    for (const [pi, a] of parts.entries()) {
      const idx: number[] = [];
      for (let i = 0; i < n; i++) if (!success[i]) idx.push(i);
      if (idx.length) {
        const r = await a.run(model, takeRows(x0, d, idx), takeRows(y, labelWidth, idx), {
          ...opts,
          loss: undefined,
          restarts: 1,
          steps: opts.steps ?? 100,
          seed: (opts.seed ?? 0) + pi,
          maxQueries: opts.maxQueries ?? 5000,
          pInit: 0.8,
          onStep: opts.onStep
            ? (done, total) => opts.onStep!(pi * 1000 + Math.round((1000 * done) / total), parts.length * 1000)
            : undefined,
        });
        forward += r.queries.forward;
        gradient += r.queries.gradient;
        for (const note of r.notes) if (!notes.includes(note)) notes.push(note);
        const won: number[] = [];
        const at: number[] = [];
        idx.forEach((i, j) => {
          if (r.success[j]) {
            success[i] = 1;
            won.push(j);
            at.push(i);
          }
        });
        putRows(out, takeRows(r.xAdv, d, won), d, at);
      }
      components.push({ name: a.name, success: Uint8Array.from(success) });
    }
    const res = await finalize(s, x0, out, notes);
    res.queries = { forward: forward + res.queries.forward, gradient: gradient + res.queries.gradient };
    res.components = components;
    return res;
  },
};
