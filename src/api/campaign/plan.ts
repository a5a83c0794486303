/**
 * Planning (issue 22, item 2): a validated spec → jobs with stable keys, and a cost estimate.
 * - Attack jobs: one per model × attack × ε × shard; shard k covers positions [k·shardSize, (k+1)·shardSize)
 *   of the campaign's seeded sample (`selectImages(split, limit, seed)`, as `--limit` in the CLI).
 * - Detection jobs: one per model × detector × train attack × ε (fit and test inside the job).
 * - Defence jobs: one per model × defence × attack × ε × shard (one `defend` verb call on the shard).
 * - Scorecard jobs: one per model × scorecard row × ε (one `scorecard` verb call for that row: it fits
 *   detectors and calibrates on its own images, so it is not sharded).
 * An entry with a `models:` list applies to those models only.
 * Each attack and defence job's seed is derived from the campaign seed and its key (the first 4 bytes of
 * sha256(seed + ':' + key), top bit cleared), so a job computes the same numbers wherever it runs.
 * Detection and scorecard jobs are not sharded and use the campaign seed itself, as `medshield detect --seed` and
 * `medshield scorecard --seed` do.
 *
 * The estimate counts forward+backward passes of one image (src/studies/cost.ts's unit) and converts them
 * with a calibration when one is given, else with a nominal 2 ms per pass (the default model, native
 * backend, one thread, on the development machine).
 */
import { createHash } from 'node:crypto';
import { getAttack } from '../../attacks/registry.js';
import type { GradientCalibration } from '../../studies/cost.js';
import { planScorecard } from '../../eval/scorecard-entries.js';
import { defenceRegistry } from '../../defences/registry.js';
import { round } from '../../models/metrics.js';
import { badInput } from '../../errors.js';
import {
  campaignId,
  isHttpRef,
  resolveModelRef,
  specHash,
  type AttackEntry,
  type CampaignSpec,
  type DefenceEntry,
  type DetectorEntry,
  type EpsValue,
  type ModelEntry,
  type ModelTargetOptions,
  type ScorecardEntry,
} from './spec.js';
import { TRANSFER_BASE_ATTACK } from '../../attacks/algorithms/transfer.js';

export interface JobData {
  dataset: string;
  split: 'train' | 'val' | 'test';
  limit?: number;
}
export interface JobModel {
  name: string;
  ref: string;
  sha256?: string;
  /** HTTP endpoints: the client's settings. */
  target?: ModelTargetOptions;
}

/** What every job carries: its stable key, the seeds, the model and the data. */
interface JobBase {
  key: string;
  campaignSeed: number;
  seed: number;
  model: JobModel;
  data: JobData;
  /** The budget: a number in [0,1] (or the norm's scale), and as the spec wrote it. */
  eps: number;
  epsText: string;
}

/** A job on a shard of the seeded sample: positions [range[0], range[1]). */
interface ShardJob extends JobBase {
  batchSize: number;
  shard: number;
  range: [number, number];
}

export interface AttackJob extends ShardJob {
  kind: 'attack';
  attack: Omit<AttackEntry, 'eps'>;
}

export interface DetectJob extends JobBase {
  kind: 'detect';
  batchSize: number;
  detector: Omit<DetectorEntry, 'eps'>;
}

export interface DefendJob extends ShardJob {
  kind: 'defend';
  defence: Omit<DefenceEntry, 'eps' | 'attacks'>;
  attack: string;
}

export interface ScorecardJob extends JobBase {
  kind: 'scorecard';
  /** The row: a defence spec, a detector name or adversarial-training. */
  row: string;
  options: Omit<ScorecardEntry, 'defences' | 'eps' | 'models'>;
}

export type Job = AttackJob | DetectJob | DefendJob | ScorecardJob;

export interface CampaignEstimate {
  /** Forward+backward passes of one image, summed over all jobs. */
  gradientPasses: number;
  /** Forward passes (query attacks, clean predictions). */
  forwardPasses: number;
  gradientSecondsPerImage: number;
  backend: string;
  seconds: number;
}

export interface CampaignPlan {
  id: string;
  name: string;
  specHash: string;
  spec: CampaignSpec;
  /** Images of the seeded sample (the split size when there is no limit and the split is unknown: null). */
  sampleSize: number | null;
  shards: number;
  jobs: Job[];
  estimate: CampaignEstimate;
}

/** Nominal seconds of one forward+backward pass of one image (default model, native backend, one thread). */
export const NOMINAL_GRADIENT_SECONDS = 0.002;

/** Part of a job key: letters, digits, '.', '_' and '-' only (no ':' — BullMQ job ids must not hold one). */
export const keyPart = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '_');

/** Per-job seed: the first 4 bytes of sha256(campaign seed + ':' + key), top bit cleared. */
export function jobSeed(campaignSeed: number, key: string): number {
  return createHash('sha256').update(`${campaignSeed}:${key}`).digest().readUInt32BE(0) & 0x7fffffff;
}

function jobModel(m: ModelEntry, baseDir?: string): JobModel {
  return {
    name: m.name,
    ref: resolveModelRef(m.ref, baseDir),
    ...(m.sha256 ? { sha256: m.sha256 } : {}),
    ...(m.target ? { target: m.target } : {}),
  };
}

/** Whether an entry (with an optional `models:` list) applies to model `name`. */
export const appliesTo = (e: { models?: string[] }, name: string): boolean => !e.models || e.models.includes(name);

const shardKey = (k: number): string => `s${String(k).padStart(4, '0')}`;

/**
 * Expand a spec into jobs. `sampleSize` is the number of images of the seeded sample: data.limit,
 * capped by the split's size when known (`splitSize`); without a limit the split size is needed.
 */
export function planCampaign(
  spec: CampaignSpec,
  o: { splitSize?: number; calibration?: GradientCalibration } = {},
): CampaignPlan {
  const n = spec.data.limit !== undefined ? Math.min(spec.data.limit, o.splitSize ?? Infinity) : o.splitSize;
  if ((spec.attacks.length || spec.defences?.length) && n === undefined)
    throw badInput(
      `campaign '${spec.name}': data.limit is not set, so the shards need the split's size ` +
        '(plan with the data at hand)',
    );
  const shards = n === undefined ? 0 : Math.ceil(n / spec.shardSize);
  const data: JobData = { ...spec.data };
  const jobs: Job[] = [];
  for (const m of spec.models) {
    const model = jobModel(m, spec.baseDir);
    /**
     * What every job of this model carries. Key: the parts, `e<ε>` and, for a shard job, `s<k>`; a shard job's
     * seed is derived from its key, the others use the campaign seed (as the detect and scorecard verbs do).
     */
    const common = (parts: string[], e: EpsValue, k?: number) => {
      const key = [...parts.map(keyPart), `e${keyPart(e.text)}`, ...(k === undefined ? [] : [shardKey(k)])].join('.');
      const seed = k === undefined ? spec.seed : jobSeed(spec.seed, key);
      return { key, campaignSeed: spec.seed, seed, model, data, eps: e.value, epsText: e.text };
    };
    const shard = (k: number) => ({
      batchSize: spec.batchSize,
      shard: k,
      range: [k * spec.shardSize, Math.min((k + 1) * spec.shardSize, n!)] as [number, number],
    });
    for (const a of spec.attacks) {
      if (!appliesTo(a, m.name)) continue;
      const { eps: epsList, ...entry } = a;
      const attack = entry.surrogates
        ? { ...entry, surrogates: entry.surrogates.map((r) => resolveModelRef(r, spec.baseDir)) }
        : entry;
      for (const e of epsList)
        for (let k = 0; k < shards; k++)
          jobs.push({ kind: 'attack', ...common(['atk', m.name, a.name], e, k), ...shard(k), attack });
    }
    for (const d of spec.detectors) {
      if (!appliesTo(d, m.name)) continue;
      const { eps: epsList, ...detector } = d;
      for (const e of epsList)
        jobs.push({
          kind: 'detect',
          ...common(['det', m.name, d.detector, d.trainAttack], e),
          batchSize: spec.batchSize,
          detector,
        });
    }
    for (const d of spec.defences ?? []) {
      if (!appliesTo(d, m.name)) continue;
      const { eps: epsList, attacks, ...defence } = d;
      for (const a of attacks)
        for (const e of epsList)
          for (let k = 0; k < shards; k++)
            jobs.push({ kind: 'defend', ...common(['def', m.name, d.name, a], e, k), ...shard(k), defence, attack: a });
    }
    const sc = spec.scorecard;
    if (sc && appliesTo(sc, m.name)) {
      const { defences: rows, eps: epsList, models: _m, ...o } = sc;
      const options = {
        ...o,
        ...(o.advModel ? { advModel: resolveModelRef(o.advModel, spec.baseDir) } : {}),
        ...(o.noiseModel ? { noiseModel: resolveModelRef(o.noiseModel, spec.baseDir) } : {}),
      };
      for (const row of rows)
        for (const e of epsList) jobs.push({ kind: 'scorecard', ...common(['sc', m.name, row], e), row, options });
    }
  }
  const keys = new Set<string>();
  for (const j of jobs) {
    if (keys.has(j.key))
      throw badInput(
        `campaign '${spec.name}': two jobs share the key '${j.key}' (names differing only in punctuation?)`,
      );
    keys.add(j.key);
  }
  return {
    id: campaignId(spec),
    name: spec.name,
    specHash: specHash(spec),
    spec,
    sampleSize: n ?? null,
    shards,
    jobs,
    estimate: estimate(jobs, n ?? 0, o.calibration),
  };
}

/**
 * Passes one job costs: white-box = images × steps × restarts gradient passes; query attacks = images × budget forward
 * passes.
 */
export function jobCost(j: Job, sampleSize: number): { gradient: number; forward: number } {
  if (j.kind === 'attack') {
    const a = getAttack(j.attack.attack);
    const imgs = j.range[1] - j.range[0];
    if (a.threatModel === 'whitebox')
      return { gradient: imgs * (j.attack.steps ?? a.defaultSteps) * (j.attack.restarts ?? 1), forward: 2 * imgs };
    if (a.threatModel === 'transfer') {
      // the base attack on every surrogate, then one query per image
      const base = getAttack(j.attack.baseAttack ?? TRANSFER_BASE_ATTACK);
      const passes = (j.attack.steps ?? base.defaultSteps) * (j.attack.restarts ?? 1);
      return { gradient: imgs * passes * (j.attack.surrogates?.length ?? 1), forward: 2 * imgs };
    }
    return { gradient: 0, forward: imgs * (j.attack.maxQueries ?? a.defaultSteps) };
  }
  if (j.kind === 'defend') {
    // crafting on the undefended model; clean and adversarial passes through both models (smoothing: its draws)
    const imgs = j.range[1] - j.range[0];
    const base = j.defence.defence.split(/[:+]/)[0];
    const draws = defenceRegistry.get(base).describe.kind === 'smoothing' ? 100 : 1;
    return { gradient: imgs * (j.defence.steps ?? getAttack(j.attack).defaultSteps), forward: 2 * imgs * (1 + draws) };
  }
  if (j.kind === 'scorecard') {
    // the scorecard's own plan, in passes (a calibration of one second per pass)
    const quick = j.options.quick;
    const p = planScorecard(
      { backend: 'passes', gradientSecondsPerImage: 1, batch: 1 },
      {
        defences: [j.row],
        n: j.data.limit !== undefined ? Math.min(j.data.limit, sampleSize || Infinity) : quick ? 64 : 300,
        fitN: j.options.fitLimit ?? (quick ? 200 : 500),
        calibrationN: quick ? 200 : 500,
        quick,
        steps: j.options.steps,
        samples: j.options.eotSamples,
      },
    );
    return { gradient: p.estimatedSeconds, forward: 0 };
  }
  const steps = (name: string): number => j.detector.steps ?? getAttack(name).defaultSteps;
  const fit = j.detector.fitLimit * steps(j.detector.trainAttack);
  const test = j.detector.testAttacks.reduce((s, t) => s + sampleSize * steps(t), 0);
  // fitting and scoring: a few feature passes per image (KD-BU: Monte-Carlo dropout, ~50 forward passes)
  return { gradient: fit + test, forward: 50 * (j.detector.fitLimit + sampleSize * j.detector.testAttacks.length) };
}

/** A forward pass costs about a third of a forward+backward pass. */
function estimate(jobs: Job[], sampleSize: number, cal?: GradientCalibration): CampaignEstimate {
  let gradient = 0;
  let forward = 0;
  for (const j of jobs) {
    const c = jobCost(j, sampleSize);
    gradient += c.gradient;
    forward += c.forward;
  }
  const g = cal?.gradientSecondsPerImage ?? NOMINAL_GRADIENT_SECONDS;
  return {
    gradientPasses: gradient,
    forwardPasses: forward,
    gradientSecondsPerImage: round(g, 6),
    backend: cal?.backend ?? 'nominal',
    seconds: round(g * (gradient + forward / 3), 1),
  };
}

/**
 * Plan with the data and models at hand: the split's size (when data.limit is absent or larger), the
 * weights' sha256 of every model the spec does not pin (read from its card; the jobs carry it, and a
 * worker refuses a model that differs), and, with `calibrate`, a timed gradient pass of the first model.
 */
export async function prepareCampaign(spec: CampaignSpec, o: { calibrate?: boolean } = {}): Promise<CampaignPlan> {
  const { jobModel, jobData, modelRefSha256, seededSample } = await import('./compute.js');
  // calibrate on the first model with weights (an HTTP endpoint has none: the nominal pass time is used)
  const first = spec.models.find((m) => !isHttpRef(m.ref));
  let splitSize: number | undefined;
  let calibration: GradientCalibration | undefined;
  if (spec.data.limit === undefined || o.calibrate) {
    if (first) {
      const ref = resolveModelRef(first.ref, spec.baseDir);
      const model = await jobModel({ name: first.name, ref, ...(first.sha256 ? { sha256: first.sha256 } : {}) });
      const data = await jobData(spec.data, model.card);
      splitSize = data.splits[spec.data.split].n;
      if (o.calibrate && model.differentiable) {
        const { calibrateGradient } = await import('../../studies/cost.js');
        const { currentEngine } = await import('../../engine/index.js');
        const img = seededSample(data, spec.data.split, spec.data.limit, spec.seed);
        calibration = await calibrateGradient(model, img, currentEngine()?.backend ?? 'unknown', 16);
      }
    } else {
      splitSize = (await jobData(spec.data)).splits[spec.data.split].n;
    }
  }
  const plan = planCampaign(spec, { splitSize, calibration });
  const pinned = new Map(
    spec.models.map((m) => [
      m.name,
      isHttpRef(m.ref) ? undefined : (m.sha256 ?? modelRefSha256(resolveModelRef(m.ref, spec.baseDir)) ?? undefined),
    ]),
  );
  for (const j of plan.jobs) {
    const sha = pinned.get(j.model.name);
    if (sha && !j.model.sha256) j.model = { ...j.model, sha256: sha };
  }
  return plan;
}
