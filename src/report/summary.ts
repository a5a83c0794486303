/**
 * Plain-language findings for clinicians and safety boards, one sentence per run, e.g.
 * "Changing each pixel by at most 8 grey levels (ε = 8/255) — invisible to a reader — flips 97 % of
 * the model's correct pneumonia diagnoses."
 */
import type { AttackSummary } from '../eval/robustness.js';
import type { AttackReport } from './schema.js';

const pct = (v: number): string => `${Math.round(v * 100)} %`;

/** How the budget reads to a person. */
export function budgetPhrase(r: AttackSummary): string {
  if (r.norm === 'linf') {
    const levels = r.eps * 255;
    const g = Math.abs(levels - Math.round(levels)) < 1e-6 ? String(Math.round(levels)) : levels.toFixed(1);
    return `changing each pixel by at most ${g} grey level${g === '1' ? '' : 's'} out of 255 (ε = ${r.epsText})`;
  }
  if (r.norm === 'l2') return `adding noise of total Euclidean size ${r.epsText} (L2)`;
  if (r.norm === 'l1') return `changing pixels by a summed amount of at most ${r.epsText} (L1)`;
  return `changing at most ${pct(r.eps)} of the pixels (L0)`;
}

export function visibility(r: AttackSummary): string {
  if (r.meanSSIM === null) return '';
  if (r.meanSSIM >= 0.95) return 'a change a reader would not notice';
  if (r.meanSSIM >= 0.8) return 'a faint change';
  return 'a visible change';
}

/** One sentence per run, plus per-class detail for the worst class. */
export function findings(report: AttackReport): string[] {
  const { classes } = report.provenance.model;
  return report.runs.map((r, i) => {
    const vis = visibility(r);
    const who = r.criterion.startsWith('targeted')
      ? 'turns ' +
        (r.targetedSuccessRate === null || r.targetedSuccessRate === undefined ? 'none' : pct(r.targetedSuccessRate)) +
        ` of the model's correct diagnoses into the attacker's chosen ${targetName(r.criterion, classes)}`
      : `flips ${r.attackSuccessRate === null ? 'none' : pct(r.attackSuccessRate)} of the model's correct diagnoses`;
    const per = (report.perClass[i] ?? [])
      .filter((c) => c.correct > 0)
      .map((c) => `${pct(c.flipped / c.correct)} of correct “${c.className}” calls`)
      .join(', ');
    return (
      `${cap(budgetPhrase(r))}${vis ? ` — ${vis} (mean SSIM ${r.meanSSIM?.toFixed(3)})` : ''}` +
      ` — ${who}${per ? ` (${per})` : ''}; accuracy falls from ${pct(r.cleanAccuracy)}` +
      ` to ${pct(r.robustAccuracy)} on ${r.n} test images [${r.attack.toUpperCase()}].`
    );
  });
}

function targetName(criterion: string, classes: string[]): string {
  const t = criterion.split(':')[1];
  if (t === 'other') return 'opposite class';
  const k = Number(t);
  return Number.isInteger(k) && classes[k] ? `class “${classes[k]}”` : `class ${t}`;
}

const cap = (s: string): string => s.charAt(0).toUpperCase() + s.slice(1);
