/**
 * What one job computes: a shard is ONE call of the `attack` verb (src/api/attack.ts) on an image range
 * (`data.range` = the shard's positions in the campaign's seeded sample, `data.sampleSeed` = the campaign
 * seed, `seed` = the job's derived seed); a detection job is one call of the `detect` verb
 * (src/api/detect.ts). Both get this process's `VerbCache` (src/api/common.ts), so a runner or a queue
 * worker loads and hashes a model and a dataset once, not per shard (≈3 s per load on the loaded 2-core
 * machine against ≈0.7 s of FGSM on an 8-image shard). Before the call, the cached model's weights
 * sha256 is checked against the job's: a worker refuses a model that differs from the spec.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { resolveModelPath } from '../../models/io.js';
import type { Model } from '../../models/model.js';
import { CARD_FILE, checkInputMatches, type ModelCard } from '../../models/card.js';
import type { Dataset } from '../../data/dataset.js';
import { selectImages, type Images } from '../../data/images.js';
import { parseEpsilon } from '../../attacks/epsilon.js';
import type { AttackEvaluation } from '../../eval/robustness.js';
import { badInput, mismatch } from '../../errors.js';
import { loadModelRef, newVerbCache, openDataRef, type DataRef } from '../common.js';
import { sliceImages as sliceRange } from '../../data/images.js';
import { attack } from '../attack.js';
import { detect } from '../detect.js';
import { defend } from '../defend.js';
import { scorecard } from '../scorecard.js';
import type { Scorecard } from '../../eval/scorecard-types.js';
import type { AttackJob, DefendJob, DetectJob, JobData, JobModel, ScorecardJob } from './plan.js';
import { isHttpRef } from './spec.js';

/** Models and datasets of this process, shared by every job it runs (local runner or queue worker). */
export const jobCache = newVerbCache();
const samples = new Map<string, Images>();

/** The weights' sha256 a model card records (tfjs weights, or the imported ONNX file). */
export function cardSha256(card: ModelCard): string | null {
  return card.weights?.sha256 ?? (card as { onnx?: { sha256?: string } }).onnx?.sha256 ?? null;
}

/** The sha256 recorded in a model directory's card, without loading the weights (null when unknown). */
export function modelRefSha256(ref: string): string | null {
  const dir = resolveModelPath(ref);
  const p = path.join(dir, CARD_FILE);
  if (!existsSync(p)) return null;
  try {
    return cardSha256(JSON.parse(readFileSync(p, 'utf8')) as ModelCard);
  } catch {
    return null;
  }
}

/** Refuse a model whose weights' sha256 differs from the job's. */
function checkSha(model: Model, m: JobModel): Model {
  if (m.sha256) {
    const sha = cardSha256(model.card);
    if (sha !== m.sha256) {
      throw mismatch(
        `model '${m.name}' (${m.ref}) has weights sha256 ${sha ? sha.slice(0, 12) + '…' : 'unknown'}, ` +
          `the campaign expects ${m.sha256.slice(0, 12)}…`,
      );
    }
  }
  return model;
}

/**
 * A job's model from the process cache (the entry the verb reads: `differentiable` for detection),
 * refused when its weights' sha256 differs from the job's.
 */
export async function jobModel(m: JobModel, differentiable = false): Promise<Model> {
  const model = differentiable
    ? await loadModelRef(m.ref, { differentiable: true, cache: jobCache })
    : await loadModelRef(m.ref, { cache: jobCache });
  return checkSha(model, m);
}

/** The DataRef of a job's seeded sample (`limit` absent = the whole split). */
function dataRef(d: JobData, seed: number, range?: [number, number]): DataRef {
  // a limit ≥ the split's size selects the whole split, in order (selectImages), as no limit does
  const limit = d.limit ?? Number.MAX_SAFE_INTEGER;
  return { dataset: d.dataset, split: d.split, limit, sampleSeed: seed, ...(range ? { range } : {}) };
}

/** A job's dataset (MedMNIST name, .npz, image folder or CSV — read for the model's card), from the process cache. */
export async function jobData(d: JobData, card?: ModelCard): Promise<Dataset> {
  const data = await openDataRef({ dataset: d.dataset }, card, { cache: jobCache });
  const t = data.splits[d.split];
  if (!t?.n) throw badInput(`dataset '${d.dataset}' has no images in its ${d.split} split`);
  if (!card) return data;
  checkInputMatches(card, {
    height: t.height,
    width: t.width,
    channels: t.channels,
    classes: data.info.classes.length,
    task: data.info.task,
    name: data.name,
  });
  return data;
}

/** The campaign's seeded sample of a split (as `--limit N --seed S` selects it), kept per process. */
export function seededSample(
  data: Dataset,
  split: 'train' | 'val' | 'test',
  limit: number | undefined,
  seed: number,
): Images {
  const k = `${data.name}|${data.sha256}|${split}|${limit}|${seed}`;
  let s = samples.get(k);
  if (!s) {
    s = selectImages(data.splits[split], limit, seed);
    samples.set(k, s);
  }
  return s;
}

/** Positions [start, end) of a sample. */
export function sliceImages(img: Images, [start, end]: [number, number]): Images {
  if (!(start >= 0 && end <= img.n && start < end))
    throw badInput(`shard range [${start}, ${end}) is outside the sample of ${img.n} images`);
  return sliceRange(img, start, end);
}

/** ε as the verbs take it: the spec's text when it reads back as the same number, else the number. */
function epsArg(value: number, text: string): number | string {
  try {
    return parseEpsilon(text) === value ? text : value;
  } catch {
    return value;
  }
}

export interface AttackShardOutput {
  evaluation: Pick<AttackEvaluation, 'summary' | 'records' | 'xAdv'>;
  images: Images;
  classes: string[];
  cleanCorrect: number;
  robustCorrect: number;
  dataset: { name: string; sha256: string; path: string };
}

/** One attack on one shard of the sample: one `attack` verb call on the shard's range, with the job's seed. */
export async function computeAttackShard(
  job: AttackJob,
  onProgress?: (done: number, total: number) => void,
): Promise<AttackShardOutput> {
  // an HTTP endpoint is queried (black-box attacks; the spec refuses others); a local model is loaded once
  const http = isHttpRef(job.model.ref);
  const model = http ? null : await jobModel(job.model);
  const data = await jobData(job.data, model?.card);
  const a = job.attack;
  const t = job.model.target ?? {};
  const r = await attack(
    {
      ...(http
        ? {
            victim: {
              url: job.model.ref,
              ...(t.output ? { output: t.output } : {}),
              ...(t.format ? { format: t.format } : {}),
              ...(t.concurrency ? { concurrency: t.concurrency } : {}),
              ...(t.paceMs !== undefined ? { paceMs: t.paceMs } : {}),
              ...(t.retries !== undefined ? { retries: t.retries } : {}),
              ...(t.timeoutMs ? { timeoutMs: t.timeoutMs } : {}),
            },
          }
        : { model: job.model.ref }),
      data: dataRef(job.data, job.campaignSeed, job.range),
      attack: a.attack,
      eps: epsArg(job.eps, job.epsText),
      seed: job.seed,
      batchSize: job.batchSize,
      returnImages: true,
      ...(a.norm ? { norm: a.norm } : {}),
      ...(a.steps !== undefined ? { steps: a.steps } : {}),
      ...(a.stepSize ? { stepSize: a.stepSize.value } : {}),
      ...(a.loss ? { loss: a.loss } : {}),
      ...(a.restarts !== undefined ? { restarts: a.restarts } : {}),
      ...(a.maxQueries !== undefined ? { maxQueries: a.maxQueries } : {}),
      ...(a.pInit !== undefined ? { pInit: a.pInit } : {}),
      ...(a.randomStart !== undefined ? { randomStart: a.randomStart } : {}),
      ...(a.surrogates ? { surrogates: a.surrogates } : {}),
      ...(a.baseAttack ? { baseAttack: a.baseAttack } : {}),
    },
    { cache: jobCache, onProgress },
  );
  const run = r.runs[0];
  const { x, shape } = r.images!;
  const images: Images = { x, labels: new Int32Array(0), n: r.n, shape, indices: r.indices };
  return {
    evaluation: { summary: run.summary, records: run.records, xAdv: run.adversarial! },
    images,
    classes: model?.classes ?? data.info.classes,
    cleanCorrect: run.cleanCorrect,
    robustCorrect: run.robustCorrect,
    dataset: { name: data.name, sha256: data.sha256, path: path.basename(data.path) },
  };
}

export interface DetectionOutput {
  detector: string;
  trainAttack: string;
  rows: Array<Record<string, unknown> & { scores: { clean: number[]; adversarial: number[] } }>;
}

/**
 * One detector at one ε: one `detect` verb call (fitted on train-attack pairs of the fit split, tested on
 * each test attack over the campaign's sample), keeping the ROC points and the per-sample scores.
 */
export async function computeDetection(job: DetectJob, onProgress?: (what: string) => void): Promise<DetectionOutput> {
  await jobModel(job.model, true);
  const d = job.detector;
  const r = await detect(
    {
      model: job.model.ref,
      data: dataRef(job.data, job.campaignSeed),
      detectors: [d.detector],
      trainAttack: d.trainAttack,
      testAttacks: d.testAttacks,
      eps: [epsArg(job.eps, job.epsText)],
      fitLimit: d.fitLimit,
      fitSplit: d.fitSplit,
      seed: job.seed,
      projection: false,
      ...(d.steps ? { steps: d.steps } : {}),
    },
    { cache: jobCache, onStage: onProgress },
  );
  const rows = r.rows.map(({ detector: _d, ...row }) => {
    const s = r.scores.filter((x) => x.attack === row.attack);
    return {
      ...row,
      epsText: job.epsText,
      scores: { clean: s.map((x) => x.clean), adversarial: s.map((x) => x.adversarial) },
    };
  });
  return { detector: r.reports[0].detector, trainAttack: r.reports[0].trainAttack, rows };
}

export interface DefenceShardOutput {
  n: number;
  norm: string;
  /** Images the defended / the undefended model classifies correctly: clean, and both clean and adversarial. */
  cleanCorrect: number;
  robustCorrect: number;
  undefendedCleanCorrect: number;
  undefendedRobustCorrect: number;
  notes: string[];
}

/**
 * One defence against one attack at one ε on one shard: one `defend` verb call (non-adaptive: crafted on the
 * undefended model, classified by the defended one) on the shard's range, with the job's seed. The verb gives
 * accuracies rounded to 4 decimals; with n < 10 000 images per shard they give back the exact counts.
 */
export async function computeDefence(
  job: DefendJob,
  onProgress?: (done: number, total: number) => void,
): Promise<DefenceShardOutput> {
  await jobModel(job.model);
  const r = await defend(
    {
      model: job.model.ref,
      data: dataRef(job.data, job.campaignSeed, job.range),
      defences: [job.defence.defence],
      attacks: [job.attack],
      eps: [epsArg(job.eps, job.epsText)],
      seed: job.seed,
      batchSize: job.batchSize,
      ...(job.defence.steps ? { steps: job.defence.steps } : {}),
      ...(job.defence.norm ? { norm: job.defence.norm } : {}),
    },
    { cache: jobCache, onProgress },
  );
  const none = r.rows.find((x) => x.defence === 'none');
  const row = r.rows.find((x) => x.defence !== 'none');
  if (!none || !row) throw badInput(`defend gave no row for ${job.defence.defence} (job ${job.key})`);
  const count = (acc: number): number => Math.round(acc * r.n);
  return {
    n: r.n,
    norm: row.norm,
    cleanCorrect: count(row.cleanAccuracy),
    robustCorrect: count(row.robustAccuracy),
    undefendedCleanCorrect: count(none.cleanAccuracy),
    undefendedRobustCorrect: count(none.robustAccuracy),
    notes: [...new Set([...row.notes, ...none.notes])],
  };
}

/**
 * One scorecard row at one ε: one `scorecard` verb call with that row only (its own baseline, fit and
 * calibration images from the campaign's dataset, the campaign seed), on the test split's seeded sample of
 * `data.limit` images (the scorecard's default when absent).
 */
export async function computeScorecard(
  job: ScorecardJob,
  onProgress?: (what: string, done: number, total: number) => void,
): Promise<Scorecard> {
  await jobModel(job.model);
  const o = job.options;
  return scorecard(
    {
      model: job.model.ref,
      data: { dataset: job.data.dataset, ...(job.data.limit ? { limit: job.data.limit } : {}) },
      defences: [job.row],
      eps: epsArg(job.eps, job.epsText),
      quick: o.quick,
      seed: job.seed,
      ...(o.fitLimit ? { fitLimit: o.fitLimit } : {}),
      ...(o.steps ? { steps: o.steps } : {}),
      ...(o.eotSamples ? { eotSamples: o.eotSamples } : {}),
      ...(o.advModel ? { advModel: o.advModel } : {}),
      ...(o.noiseModel ? { noiseModel: o.noiseModel } : {}),
    },
    { onProgress },
  );
}
