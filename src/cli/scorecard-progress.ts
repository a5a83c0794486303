/**
 * The progress display of `medshield scorecard`: the plan on stderr, a bar over the rows, a line per
 * stage and per finished row, with an ETA that scales what is left by how the row-cost estimates
 * (src/api/scorecard.ts ROW_COST) have fared so far.
 */
import { formatScorecardPlan, formatScorecardRow, type ScorecardOptions } from '../api/scorecard.js';
import { formatDuration } from '../api/common-b.js';
import { progress, note, type Progress } from './progress.js';

/** The scorecard verb's hooks, and `stop` for the bar. */
export function scorecardProgress(quick: boolean): ScorecardOptions & { stop: () => void } {
  let bar: Progress | null = null;
  let t0 = 0;
  let estimatedDone = 0;
  let estimatedTotal = 0;
  const eta = (): string => {
    const spent = (Date.now() - t0) / 1000;
    const f = estimatedDone > 0 ? spent / estimatedDone : 1;
    return formatDuration(Math.max(0, (estimatedTotal - estimatedDone) * f));
  };
  return {
    onNote: note,
    onPlan: (plan, backend, n) => {
      for (const line of formatScorecardPlan(plan, backend, n, quick)) note(line);
      bar = progress('scorecard', plan.rows.length);
      t0 = Date.now();
      estimatedTotal = plan.estimatedSeconds;
    },
    onProgress: (what, done) => bar?.update(done, { at: what.slice(0, 60) }),
    onStage: (stage, est) => {
      estimatedDone += est ?? 0;
      bar?.log(`${stage} (~${formatDuration(est ?? 0)}) …`);
    },
    onRow: (r) => {
      estimatedDone += r.estimatedSeconds ?? 0;
      bar?.log(formatScorecardRow(r, eta()));
    },
    stop: () => bar?.stop(),
  };
}
