/**
 * The in-process runner: plan, record the campaign in the store, then run every job that has no stored
 * result, one after another, through `runJob` (the same code the queue's workers run). Re-running the
 * same spec resumes: only the missing jobs run. A failed job is recorded and the others still run; the
 * campaign ends `failed` if any job failed, `done` when every job has a result.
 */
import { badInput } from '../../errors.js';
import { campaignStatus, type CampaignStatus } from './aggregate.js';
import { prepareCampaign, type CampaignPlan, type Job } from './plan.js';
import { runJob, type JobResult } from './shard.js';
import type { CampaignSpec } from './spec.js';
import type { CampaignRow, CampaignStore } from './store/types.js';

export interface CampaignProgress {
  /** Jobs with a stored result, of all jobs of the campaign (includes those done by earlier runs). */
  done: number;
  total: number;
  /** The job running now and its progress in [0, 1]. */
  job?: string;
  fraction?: number;
  what?: string;
}

export interface LocalRunOptions {
  store: CampaignStore;
  onProgress?: (p: CampaignProgress) => void;
  /** Called after each job (finished or failed). */
  onJob?: (job: Job, r: JobResult | null, error?: unknown) => void;
  /** Stop (between jobs) once aborted; the campaign can be resumed. */
  signal?: AbortSignal;
  /** Run at most this many jobs in this call (then stop; resume later). */
  maxJobs?: number;
  workerId?: string;
  /** A plan made earlier (e.g. by `campaign plan`); default: planned here. */
  plan?: CampaignPlan;
}

/** Record a planned campaign in the store (once; a second call with the same spec is a no-op). */
export async function registerCampaign(store: CampaignStore, plan: CampaignPlan): Promise<CampaignRow> {
  const now = new Date().toISOString();
  const row: CampaignRow = {
    id: plan.id,
    name: plan.name,
    specHash: plan.specHash,
    spec: plan.spec,
    jobsTotal: plan.jobs.length,
    state: 'planned',
    createdAt: now,
    updatedAt: now,
    seconds: 0,
  };
  await store.createCampaign(row);
  const have = await store.getCampaign(plan.id);
  if (!have) throw badInput(`campaign '${plan.id}' could not be recorded in ${store.where}`);
  if (have.specHash !== plan.specHash)
    throw badInput(
      `campaign '${plan.id}' in ${store.where} has spec hash ${have.specHash.slice(0, 12)}…, ` +
        `this spec ${plan.specHash.slice(0, 12)}…`,
    );
  return have;
}

export async function runCampaignLocal(spec: CampaignSpec, o: LocalRunOptions): Promise<CampaignStatus> {
  const t0 = performance.now();
  const plan = o.plan ?? (await prepareCampaign(spec));
  const { store } = o;
  await registerCampaign(store, plan);
  const done = await store.doneKeys(plan.id);
  const total = plan.jobs.length;
  let finished = plan.jobs.filter((j) => done.has(j.key)).length;
  const todo = plan.jobs.filter((j) => !done.has(j.key));
  let failed = 0;
  let ran = 0;
  if (todo.length) await store.setCampaignState(plan.id, 'running');
  o.onProgress?.({ done: finished, total });
  try {
    for (const job of todo) {
      // let signal handlers run (a job's tensor work may never yield to the event loop's macrotasks)
      await new Promise((r) => setImmediate(r));
      if (o.signal?.aborted || (o.maxJobs !== undefined && ran >= o.maxJobs)) break;
      ran++;
      try {
        const r = await runJob(job, {
          store,
          campaignId: plan.id,
          specHash: plan.specHash,
          workerId: o.workerId,
          onProgress: (fraction, what) => o.onProgress?.({ done: finished, total, job: job.key, fraction, what }),
        });
        finished++;
        o.onJob?.(job, r);
      } catch (e) {
        failed++;
        o.onJob?.(job, null, e);
      }
      o.onProgress?.({ done: finished, total });
    }
  } finally {
    const state = finished >= total ? 'done' : failed ? 'failed' : 'planned';
    // a run that found nothing to do leaves the recorded wall time alone
    await store.setCampaignState(plan.id, state, ran ? (performance.now() - t0) / 1000 : 0);
  }
  return campaignStatus(store, plan.id);
}
