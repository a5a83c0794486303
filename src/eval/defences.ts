/**
 * Non-adaptive evaluation of defences (issue #9): for each attack and ε, adversarial images are crafted
 * white-box on the UNDEFENDED model (the attacker ignores the defence), then classified by every
 * defended model. Rows: clean accuracy of the defended model on the clean images, and robust accuracy =
 * the fraction of images it classifies correctly both clean and adversarial (so robust ≤ clean). The
 * row with defence "none" is the undefended baseline. The adaptive attacker (BPDA, EOT) is the next issue.
 */
import type { DifferentiableModel, Model } from '../models/model.js';
import type { Attack, AttackOptions } from '../attacks/types.js';
import { epsilonSweep, type SweepPoint } from './sweep.js';
import { judge, probabilities, type Images } from './robustness.js';
import { round } from '../models/metrics.js';
import type { Defence } from '../defences/types.js';

export const NON_ADAPTIVE_NOTE =
  'non-adaptive: adversarial examples crafted white-box on the undefended model, then ' +
  'classified by the defended model (robust = correct on both clean and adversarial)';

export interface DefenceRow {
  defence: string;
  attack: string;
  norm: string;
  eps: number;
  n: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  notes: string[];
}

export interface DefenceEvalOptions extends Omit<AttackOptions, 'eps' | 'norm'> {
  /** Norm per attack (default: L∞ when the attack supports it, else its native norm). */
  norm?: AttackOptions['norm'];
  batchSize?: number;
  onProgress?: (attackIndex: number, epsIndex: number, done: number, total: number) => void;
}

const mean = (a: Uint8Array): number => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : 0);

export async function evaluateDefences(
  model: DifferentiableModel,
  img: Images,
  defences: Defence[],
  attacks: Attack[],
  eps: SweepPoint[],
  o: DefenceEvalOptions = {},
): Promise<DefenceRow[]> {
  const seed = o.seed ?? 0;
  const label = o.label ?? 'all';
  const wrapped: Array<{ spec: string; model: Model; clean: Uint8Array }> = [];
  const none = judge(model, await probabilities(model, img.x, img.n), img.labels, img.n, label).correct;
  for (const d of defences) {
    const m = d.wrap(model, { seed });
    wrapped.push({
      spec: d.spec,
      model: m,
      clean: judge(m, await probabilities(m, img.x, img.n), img.labels, img.n, label).correct,
    });
  }
  const rows: DefenceRow[] = [];
  for (const [ai, attack] of attacks.entries()) {
    const norm = o.norm ?? (attack.norms.includes('linf') ? 'linf' : attack.defaultNorm);
    const { batchSize, onProgress, ...rest } = o;
    const evals = await epsilonSweep(
      model,
      img,
      attack,
      eps,
      { ...rest, norm },
      { batchSize, onProgress: (ei, done, total) => onProgress?.(ai, ei, done, total) },
    );
    for (const ev of evals) {
      const s = ev.summary;
      const advNone = judge(model, ev.advProbs, img.labels, img.n, label).correct;
      const both = (a: Uint8Array, b: Uint8Array): Uint8Array => a.map((v, i) => v & b[i]);
      const base = { attack: attack.name, norm, eps: s.eps, n: img.n };
      rows.push({
        defence: 'none',
        ...base,
        cleanAccuracy: round(mean(none)),
        robustAccuracy: round(mean(both(none, advNone))),
        notes: ['undefended baseline', ...s.notes],
      });
      for (const w of wrapped) {
        const adv = judge(w.model, await probabilities(w.model, ev.xAdv, img.n), img.labels, img.n, label).correct;
        rows.push({
          defence: w.spec,
          ...base,
          cleanAccuracy: round(mean(w.clean)),
          robustAccuracy: round(mean(both(w.clean, adv))),
          notes: [NON_ADAPTIVE_NOTE],
        });
      }
    }
  }
  return rows;
}
