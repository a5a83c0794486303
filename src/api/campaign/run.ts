/**
 * What `medshield campaign plan|run|status|report|export|list` do, as library functions (issue 22: a
 * shell parses, calls one function, prints): load a spec (with a seed override), open a campaign by id
 * or spec file, plan with a summary, run in process or on the BullMQ queue (src/api/campaign/queue.ts,
 * when this build has it) with a campaign progress display, export, report, list.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { badArgument, unsupported } from '../../errors.js';
import type { ProgressSink } from '../common.js';
import { campaignStatus, campaignCsv, type listCampaigns, type CampaignStatus } from './aggregate.js';
import { runCampaignLocal } from './local.js';
import { prepareCampaign } from './plan.js';
import { campaignReportHtml } from './report.js';
import { campaignId, loadCampaignSpec, type CampaignSpec } from './spec.js';
import { openStore } from './store/index.js';
import type { CampaignStore } from './store/types.js';

/** Load a spec file; `seed` (when given) overrides the spec's seed. */
export async function loadCampaign(file: string, o: { seed?: number } = {}): Promise<CampaignSpec> {
  const s = await loadCampaignSpec(file);
  return o.seed !== undefined ? { ...s, seed: o.seed } : s;
}

/** What `campaign plan` prints: the id, job counts, sample size, shards and the cost estimate. */
export interface CampaignPlanSummary {
  id: string;
  name: string;
  specHash: string;
  jobs: number;
  attackJobs: number;
  detectionJobs: number;
  defenceJobs: number;
  scorecardJobs: number;
  sampleSize: number | null;
  shards: number;
  estimate: Awaited<ReturnType<typeof prepareCampaign>>['estimate'];
}

/** Plan a spec with the data at hand and a timed gradient pass (the engine must be started). */
export async function planSummary(spec: CampaignSpec): Promise<CampaignPlanSummary> {
  const plan = await prepareCampaign(spec, { calibrate: true });
  return {
    id: plan.id,
    name: plan.name,
    specHash: plan.specHash,
    jobs: plan.jobs.length,
    attackJobs: plan.jobs.filter((j) => j.kind === 'attack').length,
    detectionJobs: plan.jobs.filter((j) => j.kind === 'detect').length,
    defenceJobs: plan.jobs.filter((j) => j.kind === 'defend').length,
    scorecardJobs: plan.jobs.filter((j) => j.kind === 'scorecard').length,
    sampleSize: plan.sampleSize,
    shards: plan.shards,
    estimate: plan.estimate,
  };
}

export function planText(p: CampaignPlanSummary, shardSize: number): string {
  const more = [
    p.defenceJobs ? `${p.defenceJobs} defence shards` : '',
    p.scorecardJobs ? `${p.scorecardJobs} scorecard rows` : '',
  ].filter(Boolean);
  const jobs = [`${p.attackJobs} attack shards of ${shardSize} images`, ...more, `${p.detectionJobs} detection`].join(
    ', ',
  );
  return `${p.id}: ${p.jobs} jobs (${jobs}), about ${Math.round(p.estimate.seconds)} s on ${p.estimate.backend}\n`;
}

export interface RunCampaignOptions {
  store: CampaignStore;
  /** redis://… : enqueue the jobs for `medshield worker`s instead of running them here. */
  queue?: string;
  /** In process: run at most N jobs, then stop (resume later). */
  maxJobs?: number;
  /** Stop after the running job (in process) or stop waiting (queue); a re-run resumes. */
  signal?: AbortSignal;
  /** A progress display (label, total jobs), e.g. the CLI's bar. */
  progress?: (label: string, total: number) => ProgressSink;
}

/** Run a campaign in process (resuming: only jobs without a stored result run) or through the queue. */
export async function runCampaign(spec: CampaignSpec, o: RunCampaignOptions): Promise<CampaignStatus> {
  return o.queue ? runOnQueue(spec, o) : runHere(spec, o);
}

async function runOnQueue(spec: CampaignSpec, o: RunCampaignOptions): Promise<CampaignStatus> {
  const file = new URL('./queue.js', import.meta.url);
  if (!existsSync(file))
    throw unsupported('--queue is not available in this build (run without --queue to run in process)');
  const q = (await import(file.href)) as {
    runCampaignOnQueue: (spec: CampaignSpec, o: object) => Promise<CampaignStatus>;
  };
  let bar: ProgressSink | undefined;
  try {
    return await q.runCampaignOnQueue(spec, {
      queue: o.queue,
      store: o.store,
      signal: o.signal,
      onProgress: (p: { done: number; total: number; failed?: number }) => {
        bar ??= o.progress?.(`campaign ${campaignId(spec)} (queue)`, p.total);
        bar?.update(p.done, p.failed ? { failed: p.failed } : undefined);
      },
    });
  } finally {
    bar?.stop();
  }
}

async function runHere(spec: CampaignSpec, o: RunCampaignOptions): Promise<CampaignStatus> {
  const plan = await prepareCampaign(spec);
  // the bar counts this run's jobs (a resumed campaign's earlier jobs would make the ETA too hopeful)
  const done = (await o.store.doneKeys(plan.id)).size;
  const label = `campaign ${plan.id}${done ? ` (${done} of ${plan.jobs.length} jobs already done)` : ''}`;
  const bar = o.progress?.(label, plan.jobs.length - done);
  const log = (line: string): void => (bar?.log ? bar.log(line) : void process.stderr.write(line + '\n'));
  const stopping = (): void => log('medshield: stopping after the running job (re-run to resume)');
  o.signal?.addEventListener('abort', stopping, { once: true });
  try {
    return await runCampaignLocal(spec, {
      store: o.store,
      plan,
      signal: o.signal,
      maxJobs: o.maxJobs,
      onProgress: (p) =>
        bar?.update(p.done - done, p.job ? { job: p.job, at: `${Math.round((p.fraction ?? 0) * 100)}%` } : undefined),
      onJob: (j, _r, e) => {
        if (e) log(`medshield: job ${j.key} failed: ${e instanceof Error ? e.message : String(e)}`);
      },
    });
  } finally {
    bar?.stop();
    o.signal?.removeEventListener('abort', stopping);
  }
}

/**
 * Open a campaign by `ref`: a spec file (its id — with `seed` overriding the spec's — and, without
 * `store`, its default store next to it) or an id with `store`; call `fn`, then close the store.
 */
export async function withCampaign<T>(
  ref: string,
  o: { store?: string; seed?: number },
  fn: (store: CampaignStore, id: string) => Promise<T>,
): Promise<T> {
  let store: CampaignStore;
  let id: string;
  if (/\.(ya?ml|json)$/i.test(ref) && existsSync(ref)) {
    store = await openStore(o.store, ref);
    try {
      id = campaignId(await loadCampaign(ref, o));
    } catch (e) {
      await store.close();
      throw e;
    }
  } else {
    if (!o.store) throw badArgument(`give --store URL for campaign '${ref}' (or pass its spec file instead of the id)`);
    store = await openStore(o.store);
    id = ref;
  }
  try {
    return await fn(store, id);
  } finally {
    await store.close();
  }
}

/** Open a store by URL (required unless a spec file is given: then the one next to it), call `fn`, close it. */
export async function withStore<T>(
  url: string | undefined,
  fn: (store: CampaignStore) => Promise<T>,
  specFile?: string,
): Promise<T> {
  if (!url && !specFile) throw badArgument('give --store URL');
  const store = await openStore(url, specFile);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** A campaign's results as text: the status object as one JSON line, or the CSV (one line per job result). */
export async function exportCampaign(
  store: CampaignStore,
  id: string,
  format: 'json' | 'csv' = 'json',
): Promise<string> {
  return format === 'csv' ? campaignCsv(store, id) : JSON.stringify(await campaignStatus(store, id)) + '\n';
}

/** Write the campaign's self-contained HTML report to `file`. */
export async function writeCampaignReport(store: CampaignStore, id: string, file: string): Promise<void> {
  writeFileSync(file, await campaignReportHtml(store, id));
}

/** `campaign list` without --json: one line per campaign. */
export function campaignListText(l: Awaited<ReturnType<typeof listCampaigns>>): string {
  return l.map((c) => `${c.id} ${c.status} ${c.shards.done}/${c.shards.total}\n`).join('');
}
