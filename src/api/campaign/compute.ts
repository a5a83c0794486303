/**
 * What one job computes, on the library functions the `attack` and `detect` verbs call
 * (src/api/attack.ts → epsilonSweep → evaluateAttack; src/eval/detection.ts), with the same data
 * selection (`openDataRef`, the seeded sample, then the shard's range). Kept apart from shard.ts (which
 * keys, stores and accounts for the work) so these two functions can be swapped for the verbs.
 * Not the verbs themselves yet: a verb call loads and hashes the model and the dataset again (≈3 s per
 * call on the loaded 2-core machine against ≈0.7 s of FGSM on an 8-image shard), whereas a worker
 * here keeps them per process — the per-shard overhead that decides how small shards can be.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { loadModel, resolveModelPath } from '../../models/io.js';
import type { Model, DifferentiableModel } from '../../models/model.js';
import { CARD_FILE, checkInputMatches, type ModelCard } from '../../models/card.js';
import type { Dataset } from '../../data/dataset.js';
import { openDataRef } from '../common.js';
import { selectImages, type Images } from '../../data/images.js';
import { getAttack } from '../../attacks/registry.js';
import { checkEpsilon } from '../../attacks/epsilon.js';
import { ModelTarget } from '../../attacks/targets/target.js';
import type { AttackOptions } from '../../attacks/types.js';
import { evaluateAttack, judge, type AttackEvaluation, type Victim } from '../../eval/robustness.js';
import {
  adversarialPairs,
  noisyCopies,
  detectionMetrics,
  DETECTION_ATTACK_DEFAULTS,
  type DetectionRow,
} from '../../eval/detection.js';
import { createDetector } from '../../detectors/registry.js';
import { badInput, mismatch, unsupported } from '../../errors.js';
import type { AttackJob, DetectJob, JobData, JobModel } from './plan.js';

/** Training images for KD's and Mahalanobis' density models when fit pairs come from val (as `medshield detect`). */
const REFERENCE_IMAGES = 1000;

const models = new Map<string, Promise<Model>>();
const datasets = new Map<string, Promise<Dataset>>();
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

/** Load a job's model once per process; refuse one whose weights' sha256 differs from the job's. */
export async function jobModel(m: JobModel): Promise<Model> {
  let p = models.get(m.ref);
  if (!p) {
    p = loadModel(m.ref);
    models.set(m.ref, p);
    p.catch(() => models.delete(m.ref));
  }
  const model = await p;
  if (m.sha256) {
    const sha = cardSha256(model.card);
    if (sha !== m.sha256) {
      throw mismatch(
        `model '${m.name}' (${m.ref}) has weights sha256 ${sha ? sha.slice(0, 12) + '…' : 'unknown'}, the campaign expects ${m.sha256.slice(0, 12)}…`,
      );
    }
  }
  return model;
}

/** The dataset of a job (MedMNIST name, .npz, image folder or CSV — read for the model's card), once per process. */
export async function jobData(d: JobData, card: ModelCard): Promise<Dataset> {
  const k = `${d.dataset}|${card.input.shape.join('x')}|${card.dataset.classes.join(',')}`;
  let p = datasets.get(k);
  if (!p) {
    p = openDataRef({ dataset: d.dataset, dataDir: process.env.MEDSHIELD_DATA }, card);
    datasets.set(k, p);
    p.catch(() => datasets.delete(k));
  }
  const data = await p;
  const t = data.splits[d.split];
  if (!t?.n) throw badInput(`dataset '${d.dataset}' has no images in its ${d.split} split`);
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
  const d = img.x.length / img.n;
  const lw = img.labels.length / img.n;
  if (!(start >= 0 && end <= img.n && start < end))
    throw badInput(`shard range [${start}, ${end}) is outside the sample of ${img.n} images`);
  return {
    x: img.x.slice(start * d, end * d),
    labels: img.labels.slice(start * lw, end * lw),
    n: end - start,
    shape: img.shape,
    indices: img.indices?.slice(start, end) ?? Array.from({ length: end - start }, (_, i) => start + i),
  };
}

export interface AttackShardOutput {
  evaluation: AttackEvaluation;
  images: Images;
  classes: string[];
  cleanCorrect: number;
  robustCorrect: number;
  dataset: { name: string; sha256: string; path: string };
}

/** One attack on one shard of the sample: `medshield attack --attack A --eps E --limit N --seed S` restricted to the shard, with the job's seed. */
export async function computeAttackShard(
  job: AttackJob,
  onProgress?: (done: number, total: number) => void,
): Promise<AttackShardOutput> {
  const model = await jobModel(job.model);
  const data = await jobData(job.data, model.card);
  const images = sliceImages(seededSample(data, job.data.split, job.data.limit, job.campaignSeed), job.range);
  const attack = getAttack(job.attack.attack);
  const whitebox = attack.threatModel === 'whitebox';
  if (whitebox && !model.differentiable)
    throw unsupported(
      `white-box attack '${attack.name}' needs gradients; model '${job.model.name}' is forward-only (ONNX)`,
    );
  const victim: Victim = whitebox ? model : new ModelTarget(model);
  const norm = job.attack.norm ?? attack.defaultNorm;
  checkEpsilon(job.eps, norm, images.shape[0] * images.shape[1] * images.shape[2], job.epsText);
  const a = job.attack;
  const opts: AttackOptions & { epsText: string } = {
    eps: job.eps,
    epsText: job.epsText,
    norm,
    criterion: { kind: 'untargeted' },
    label: 'all',
    seed: job.seed,
    steps: a.steps,
    stepSize: a.stepSize?.value,
    loss: a.loss,
    restarts: a.restarts,
    maxQueries: a.maxQueries,
    pInit: a.pInit,
    ...(a.randomStart !== undefined ? { randomStart: a.randomStart } : {}),
  };
  const evaluation = await evaluateAttack(victim, images, attack, opts, { batchSize: job.batchSize, onProgress });
  const count = (p: Float32Array): number =>
    judge(victim, p, images.labels, images.n, 'all').correct.reduce((s, v) => s + v, 0);
  return {
    evaluation,
    images,
    classes: model.classes,
    cleanCorrect: count(evaluation.cleanProbs),
    robustCorrect: count(evaluation.advProbs),
    dataset: { name: data.name, sha256: data.sha256, path: path.basename(data.path) },
  };
}

export interface DetectionOutput {
  detector: string;
  trainAttack: string;
  rows: Array<DetectionRow & { scores: { clean: number[]; adversarial: number[] } }>;
}

/**
 * One detector at one ε, fitted on train-attack pairs and tested on each test attack — the inner loop of
 * `evaluateDetection` (src/eval/detection.ts) for one detector, keeping the per-sample scores.
 */
export async function computeDetection(job: DetectJob, onProgress?: (what: string) => void): Promise<DetectionOutput> {
  const model = await jobModel(job.model);
  if (!model.differentiable)
    throw unsupported(`detectors need a differentiable model; '${job.model.name}' is forward-only (ONNX)`);
  const m = model as DifferentiableModel;
  const d = job.detector;
  const data = await jobData(job.data, model.card);
  const fitSplit = data.splits[d.fitSplit];
  if (!fitSplit?.n)
    throw badInput(
      `dataset '${job.data.dataset}' has no images in its ${d.fitSplit} split (detectors are fitted there)`,
    );
  const seed = job.seed;
  const trainImages = selectImages(fitSplit, d.fitLimit, seed);
  const testImages = seededSample(data, job.data.split, job.data.limit, job.campaignSeed);
  const reference = d.fitSplit === 'val' ? selectImages(data.splits.train, REFERENCE_IMAGES, seed) : undefined;
  const opts = (): Partial<AttackOptions> => ({ ...DETECTION_ATTACK_DEFAULTS, ...(d.steps ? { steps: d.steps } : {}) });
  const trainAttack = getAttack(d.trainAttack);
  onProgress?.(`${trainAttack.name} ε=${job.epsText} on ${trainImages.n} ${d.fitSplit} images`);
  const fit = await adversarialPairs(m, trainImages, trainAttack, job.eps, seed, opts());
  if (fit.n < 2)
    throw badInput(
      `${trainAttack.name} at ε = ${job.epsText} fooled ${fit.n} of ${fit.attacked} ${d.fitSplit} images: nothing to fit ${d.detector} on (raise ε or fitLimit)`,
    );
  const noisy = noisyCopies(fit, seed);
  const tests = [];
  for (const t of d.testAttacks) {
    onProgress?.(`${t} ε=${job.epsText} on ${testImages.n} ${job.data.split} images`);
    tests.push({ attack: t, p: await adversarialPairs(m, testImages, getAttack(t), job.eps, seed + 1, opts()) });
  }
  onProgress?.(`fit ${d.detector} at ε=${job.epsText}`);
  const det = createDetector(d.detector);
  await det.fit(m, {
    clean: fit.clean,
    labels: fit.labels,
    adversarial: fit.adversarial,
    advLabels: fit.labels,
    noisy: d.detector === 'kd_bu' || d.detector === 'lid' ? noisy : undefined,
    seed,
    reference,
  });
  const rows: DetectionOutput['rows'] = [];
  for (const t of tests) {
    const clean = t.p.n ? Array.from(await det.score(m, t.p.clean, t.p.n)) : [];
    const adversarial = t.p.n ? Array.from(await det.score(m, t.p.adversarial, t.p.n)) : [];
    const met = t.p.n ? detectionMetrics(clean, adversarial) : { auc: null, tprAt5Fpr: null, threshold: null };
    rows.push({
      attack: t.attack,
      eps: job.eps,
      epsText: job.epsText,
      n: t.p.n,
      ...met,
      fitN: fit.n,
      attacked: t.p.attacked,
      fitAttacked: fit.attacked,
      scores: { clean, adversarial },
    });
  }
  return { detector: det.name, trainAttack: trainAttack.name, rows };
}
