/**
 * `runJob`: runs ONE job in process and writes its result to the store — the only code that executes
 * campaign work, used by the local runner and by the queue's workers alike. The result row, its
 * per-sample records and their PNGs are written in one transaction, once (insert-if-absent on
 * (campaign, job key)): a job that already has a result is not run again, and a retried or duplicated
 * job that finishes second writes nothing.
 */
import os from 'node:os';
import { currentEngine } from '../../engine/index.js';
import { encodePng } from '../../data/png-encode.js';
import { amplifiedDifference } from '../../eval/examples.js';
import { VERSION, gitCommit } from '../../version.js';
import { oneLine } from '../../errors.js';
import { computeAttackShard, computeDefence, computeDetection, computeScorecard } from './compute.js';
import type { Scorecard, ScorecardRow } from '../../eval/scorecard-types.js';
import type { AttackJob, DefendJob, DetectJob, Job, ScorecardJob } from './plan.js';
import type { CampaignStore, JobResultRow, SampleImageRow, SampleRow } from './store/types.js';

/** What an attack job stores as its result: counts that add up over shards, and the shard's summary. */
export interface AttackJobResult {
  n: number;
  cleanCorrect: number;
  robustCorrect: number;
  attacked: number;
  succeeded: number;
  /** Sums over the attacked images (for means over shards). */
  linfSum: number;
  l2Sum: number;
  queriesSum: number;
  queriesCount: number;
  summary: Record<string, unknown>;
}

export interface DetectJobResult {
  detector: string;
  trainAttack: string;
  rows: Array<Record<string, unknown>>;
}

/** What a defence job stores: counts that add up over shards (defended and undefended). */
export interface DefendJobResult {
  defence: string;
  attack: string;
  norm: string;
  n: number;
  cleanCorrect: number;
  robustCorrect: number;
  undefendedCleanCorrect: number;
  undefendedRobustCorrect: number;
  notes: string[];
}

/** What a scorecard job stores: its row (verdict, non-adaptive and adaptive outcomes, sanity checks) and baseline. */
export interface ScorecardJobResult {
  row: ScorecardRow;
  baseline: Scorecard['baseline'];
  n: number;
  quick: boolean;
  epsText: string;
  dataset: string;
  modelName: string;
}

export interface JobResult {
  key: string;
  kind: Job['kind'];
  /** false: the store already had a result for this job (nothing was run, or another worker finished first). */
  written: boolean;
  /** Skipped without running: a result was already stored. */
  skipped: boolean;
  seconds: number;
  result: AttackJobResult | DetectJobResult | DefendJobResult | ScorecardJobResult | null;
}

export interface JobContext {
  store: CampaignStore;
  campaignId: string;
  specHash: string;
  /** Who ran it (default host:pid). */
  workerId?: string;
  /** Progress within the job: fraction done in [0, 1]. */
  onProgress?: (fraction: number, what?: string) => void;
  /** Run even if the store has a result (the write is still insert-if-absent). */
  force?: boolean;
}

let commit: string | null | undefined;
const defaultWorker = (): string => `${os.hostname()}:${process.pid}`;

export async function runJob(job: Job, ctx: JobContext): Promise<JobResult> {
  if (!ctx.force && (await ctx.store.hasResult(ctx.campaignId, job.key))) {
    return { key: job.key, kind: job.kind, written: false, skipped: true, seconds: 0, result: null };
  }
  const t0 = performance.now();
  const workerId = ctx.workerId ?? defaultWorker();
  try {
    const out =
      job.kind === 'attack'
        ? await attackJob(job, ctx)
        : job.kind === 'detect'
          ? await detectJob(job, ctx)
          : job.kind === 'defend'
            ? await defendJob(job, ctx)
            : await scorecardJob(job, ctx);
    const seconds = (performance.now() - t0) / 1000;
    commit ??= gitCommit();
    const row: JobResultRow = {
      campaignId: ctx.campaignId,
      jobKey: job.key,
      kind: job.kind,
      model: job.model.name,
      ...jobColumns(job, out.result),
      eps: job.eps,
      result: out.result,
      specHash: ctx.specHash,
      medshieldVersion: VERSION,
      gitCommit: commit,
      backend: currentEngine()?.backend ?? 'unknown',
      seed: job.seed,
      workerId,
      seconds: Math.round(seconds * 1000) / 1000,
      createdAt: new Date().toISOString(),
    };
    const written = await ctx.store.putResult(row, out.samples, out.images);
    return { key: job.key, kind: job.kind, written, skipped: false, seconds, result: out.result };
  } catch (e) {
    await ctx.store.recordFailure(ctx.campaignId, job.key, oneLine(e), workerId).catch(() => undefined);
    throw e;
  }
}

/**
 * The columns that name a job's row: the attack (detection: the train attack; scorecard: the adaptive attack run),
 * the shard, and the detector, defence or scorecard row (the `detector` column).
 */
function jobColumns(job: Job, result: unknown): Pick<JobResultRow, 'attack' | 'shard' | 'detector'> {
  switch (job.kind) {
    case 'attack':
      return { attack: job.attack.name, shard: job.shard, detector: null };
    case 'detect':
      return { attack: job.detector.trainAttack, shard: null, detector: job.detector.detector };
    case 'defend':
      return { attack: job.attack, shard: job.shard, detector: job.defence.name };
    case 'scorecard':
      return { attack: (result as ScorecardJobResult).row.adaptive.attack, shard: null, detector: job.row };
  }
}

/** Key of a sample: the job key without its shard, and the position in the seeded sample. */
export function sampleKey(job: AttackJob, position: number): string {
  return `${job.key.replace(/\.s\d+$/, '')}.p${String(position).padStart(5, '0')}`;
}

async function attackJob(
  job: AttackJob,
  ctx: JobContext,
): Promise<{ result: AttackJobResult; samples: SampleRow[]; images: SampleImageRow[] }> {
  const out = await computeAttackShard(job, (done, total) => ctx.onProgress?.(total ? done / total : 0));
  const { evaluation: ev, images } = out;
  const [h, w, c] = images.shape;
  const d = h * w * c;
  const samples: SampleRow[] = [];
  const pngs: SampleImageRow[] = [];
  let linfSum = 0;
  let l2Sum = 0;
  let queriesSum = 0;
  let queriesCount = 0;
  ev.records.forEach((r, i) => {
    const position = job.range[0] + i;
    const key = sampleKey(job, position);
    if (r.attacked) {
      linfSum += r.linf;
      l2Sum += r.l2;
    }
    if (r.success && r.queries !== undefined) {
      queriesSum += r.queries;
      queriesCount++;
    }
    samples.push({
      sampleKey: key,
      jobKey: job.key,
      model: job.model.name,
      attack: job.attack.name,
      eps: job.eps,
      epsText: job.epsText,
      position,
      datasetIndex: r.index,
      label: r.label,
      cleanPrediction: r.cleanPrediction,
      adversarialPrediction: r.adversarialPrediction,
      cleanConfidence: r.cleanConfidence,
      adversarialConfidence: r.adversarialConfidence,
      attacked: r.attacked,
      success: r.success,
      linf: r.linf,
      l2: r.l2,
      queries: r.queries ?? null,
    });
    const a = images.x.subarray(i * d, (i + 1) * d);
    const b = ev.xAdv.subarray(i * d, (i + 1) * d);
    pngs.push({
      sampleKey: key,
      clean: encodePng(a, h, w, c),
      adversarial: encodePng(b, h, w, c),
      difference: encodePng(amplifiedDifference(a, b), h, w, c),
    });
  });
  const { queryCurve: _q, ...summary } = ev.summary;
  return {
    result: {
      n: images.n,
      cleanCorrect: out.cleanCorrect,
      robustCorrect: out.robustCorrect,
      attacked: ev.summary.attacked,
      succeeded: ev.records.filter((r) => r.success).length,
      linfSum,
      l2Sum,
      queriesSum,
      queriesCount,
      summary: {
        ...summary,
        attack: job.attack.name,
        algorithm: job.attack.attack,
        epsText: job.epsText,
        range: job.range,
        shape: images.shape,
        dataset: out.dataset,
      },
    },
    samples,
    images: pngs,
  };
}

async function detectJob(
  job: DetectJob,
  ctx: JobContext,
): Promise<{ result: DetectJobResult; samples: SampleRow[]; images: SampleImageRow[] }> {
  let stage = 0;
  const stages = 2 + job.detector.testAttacks.length;
  const out = await computeDetection(job, (what) => ctx.onProgress?.(Math.min(1, stage++ / stages), what));
  return {
    result: {
      detector: out.detector,
      trainAttack: out.trainAttack,
      rows: out.rows as unknown as Array<Record<string, unknown>>,
    },
    samples: [],
    images: [],
  };
}

async function defendJob(
  job: DefendJob,
  ctx: JobContext,
): Promise<{ result: DefendJobResult; samples: SampleRow[]; images: SampleImageRow[] }> {
  const out = await computeDefence(job, (done, total) => ctx.onProgress?.(total ? done / total : 0));
  const { n, norm, notes, ...counts } = out;
  return {
    result: { defence: job.defence.defence, attack: job.attack, norm, n, ...counts, notes },
    samples: [],
    images: [],
  };
}

async function scorecardJob(
  job: ScorecardJob,
  ctx: JobContext,
): Promise<{ result: ScorecardJobResult; samples: SampleRow[]; images: SampleImageRow[] }> {
  const card = await computeScorecard(job, (what, done, total) =>
    ctx.onProgress?.(total ? Math.min(1, done / total) : 0, what),
  );
  const row = card.rows[0];
  if (!row) throw new Error(`the scorecard gave no row for '${job.row}' (job ${job.key})`);
  return {
    result: {
      row,
      baseline: card.baseline,
      n: card.n,
      quick: card.quick,
      epsText: card.epsText,
      dataset: card.dataset,
      modelName: card.model.name,
    },
    samples: [],
    images: [],
  };
}
