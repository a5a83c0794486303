/**
 * `detect(spec)`: fit adversarial-example detectors (kd_bu — Feinman et al. 2017, lid — Ma et al.,
 * ICLR 2018, mahalanobis — Lee et al., NeurIPS 2018, deepfeature_rf, squeeze — Xu et al., NDSS 2018,
 * magnet — Meng & Chen, CCS 2017) on fit-split images attacked with the train attack, and report
 * AUC, TPR at 5 % FPR and the threshold per test attack and ε under Ma et al.'s protocol
 * (Pattern Recognition 2021; src/eval/detection.ts). The attacks run their full iterations (no early
 * stop, as Ma et al.); `earlyStop` restores the per-image stop at the first success, `randomStart:
 * false` drops PGD's random start. `save` stores the fitted detector(s) for the gateway; `report`
 * writes the HTML report with Ma's separability plots (`projection`).
 *
 * The result carries the CLI's reports, flat `{detector, attack, eps, auc, tprAt5Fpr}` rows (what a
 * campaign's detection job stores) and every test pair's detector scores (clean original and
 * adversarial example, by index in the split).
 */
import path from 'node:path';
import { initEngine } from '../engine/index.js';
import { getAttack } from '../attacks/registry.js';
import { checkEpsilon } from '../attacks/epsilon.js';
import { evaluateDetection, type DetectionReport, type FeatureProjection } from '../eval/detection.js';
import { createDetector, DETECTOR_NAMES, saveDetector } from '../detectors/registry.js';
import { badArgument } from '../errors.js';
import {
  validateSpec,
  checkAborted,
  loadModelRef,
  openDataRef,
  selectRef,
  parseEpsList,
  withImageSet,
  DATA_REF_SCHEMA,
  EPS_SCHEMA,
  MODEL_REF_SCHEMA,
  SEED_SCHEMA,
  type DataRef,
  type EpsRef,
  type ModelRef,
  type VerbOptions,
} from './common.js';

export { DETECTOR_NAMES };

/** Default attacks the detectors are tested on. */
export const DETECT_TEST_ATTACKS = ['fgsm', 'bim', 'pgd', 'cw', 'deepfool'];
/** Default images of the test sample and of the fit split. */
export const DETECT_DEFAULT_LIMIT = 300;
export const DETECT_DEFAULT_FIT_LIMIT = 300;
/** Training images for the density models of KD and Mahalanobis when the fit pairs come from val. */
export const REFERENCE_IMAGES = 1000;

export interface DetectSpec {
  /** The model (default 'default'); it must be differentiable. */
  model?: ModelRef;
  /**
   * The test images: dataset (default the model's), split (default test), `limit` = seeded sample (default 300),
   * `range`.
   */
  data?: DataRef;
  /** Detector names (kd_bu, lid, mahalanobis, deepfeature_rf, squeeze, magnet). */
  detectors: string[];
  /** White-box attack whose successful examples the detectors are fitted on (default pgd). */
  trainAttack?: string;
  /** White-box attacks tested on (default fgsm, bim, pgd, cw, deepfool). */
  testAttacks?: string[];
  /** L∞ budget(s): one detector fitted per ε. */
  eps: EpsRef;
  /** Images of the fit split attacked for fitting (default 300; the seeded sample of `seed`). */
  fitLimit?: number;
  /**
   * Split the fit pairs come from (default train; val: KD and Mahalanobis estimate densities on 1000 training images).
   */
  fitSplit?: 'train' | 'val';
  /** Stop each image's attack at its first success (default false: full iterations). */
  earlyStop?: boolean;
  /** PGD's random start (default true). */
  randomStart?: boolean;
  /** Iterations of every attack (default: each attack's own). */
  steps?: number;
  seed?: number;
  /** Save the fitted detector(s) here (DIR, or DIR/<detector>@<ε> when several). */
  save?: string;
  /** Compute Ma's 2-D PCA of the fit pairs' features per ε (default: when `report` is given). */
  projection?: boolean;
  /** Write the HTML report here. */
  report?: string;
  /** The command line recorded in the report. */
  command?: string;
}

export const DETECT_SPEC_SCHEMA = {
  $id: 'medshield:detect-spec',
  type: 'object',
  additionalProperties: false,
  required: ['detectors', 'eps'],
  properties: {
    model: MODEL_REF_SCHEMA,
    data: DATA_REF_SCHEMA,
    detectors: { type: 'array', items: { type: 'string', minLength: 1 } },
    trainAttack: { type: 'string', minLength: 1 },
    testAttacks: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
    eps: EPS_SCHEMA,
    fitLimit: { type: 'integer', minimum: 2, maximum: 1e7 },
    fitSplit: { type: 'string', enum: ['train', 'val'] },
    earlyStop: { type: 'boolean' },
    randomStart: { type: 'boolean' },
    steps: { type: 'integer', minimum: 1, maximum: 1e6 },
    seed: SEED_SCHEMA,
    save: { type: 'string', minLength: 1 },
    projection: { type: 'boolean' },
    report: { type: 'string', minLength: 1 },
    command: { type: 'string' },
  },
} as const;

/** One detector × test attack × ε. */
export interface DetectRow {
  detector: string;
  attack: string;
  eps: number;
  epsText: string;
  /** Test pairs (successful adversarial examples and their clean originals). */
  n: number;
  auc: number | null;
  tprAt5Fpr: number | null;
  threshold: number | null;
  /** Fit pairs. */
  fitN: number;
  /** ROC points (for plots), and the correctly classified images the test / train attack ran on. */
  roc?: Array<{ fpr: number; tpr: number }>;
  attacked?: number;
  fitAttacked?: number;
}

/**
 * One test pair's detector scores: split index, position in the sample, label, and the scores of clean and adversarial.
 */
export interface DetectSampleScore {
  detector: string;
  attack: string;
  eps: number;
  epsText: string;
  index: number;
  position: number;
  label: number;
  clean: number;
  adversarial: number;
}

/** A detector's report as `medshield detect --json` prints it (no ROC points; projection when asked). */
export interface DetectReport {
  detector: string;
  trainAttack: string;
  protocol: string;
  results: Array<Omit<DetectRow, 'detector'>>;
  projection?: FeatureProjection[];
  imageSet?: unknown;
}

export interface DetectResult {
  model: string;
  dataset: string;
  split: string;
  seed: number;
  /** One per detector (the CLI prints the single one as an object, several as an array). */
  reports: DetectReport[];
  rows: DetectRow[];
  scores: DetectSampleScore[];
  /** The written report, when asked for. */
  report?: string;
  seconds: number;
}

export interface DetectOptions extends VerbOptions {
  /** A stage starts ("pgd ε=8/255 on 300 train images", "fit kd_bu at ε=8/255"). */
  onStage?: (what: string) => void;
}

/** Check the names (detectors, white-box attacks) and ε of a spec before any work: one-line exit-2 errors. */
export function checkDetectSpec(spec: DetectSpec): void {
  validateSpec(DETECT_SPEC_SCHEMA, spec, 'detect spec');
  if (!spec.detectors.length) throw badArgument('--detector needs at least one name');
  for (const n of spec.detectors) createDetector(n);
  const attacks = [spec.trainAttack ?? 'pgd', ...(spec.testAttacks ?? DETECT_TEST_ATTACKS)].map(getAttack);
  for (const a of attacks) {
    if (a.threatModel !== 'whitebox')
      throw badArgument(`detect crafts examples with white-box attacks; '${a.name}' is a ${a.threatModel} attack`);
  }
  parseEpsList(spec.eps);
}

/** Fit and test the detectors of `spec`. */
export async function detect(spec: DetectSpec, opts: DetectOptions = {}): Promise<DetectResult> {
  checkDetectSpec(spec);
  const t0 = performance.now();
  const seed = spec.seed ?? 0;
  const fitSplit = spec.fitSplit ?? 'train';
  const trainAttack = getAttack(spec.trainAttack ?? 'pgd');
  const testAttacks = (spec.testAttacks ?? DETECT_TEST_ATTACKS).map(getAttack);
  const eps = parseEpsList(spec.eps);
  await initEngine();
  const model = await loadModelRef(spec.model, { differentiable: true, cache: opts.cache });
  const ref: DataRef = spec.data ?? {};
  const testSplit = ref.split ?? 'test';
  const need = [...new Set([...(fitSplit === 'val' ? ['val', 'train'] : ['train']), testSplit])] as Array<
    'train' | 'val' | 'test'
  >;
  const data = await openDataRef(ref, model.card, { split: need, onNote: opts.onNote, cache: opts.cache });
  const te = data.splits[testSplit];
  for (const e of eps) checkEpsilon(e.value, 'linf', te.height * te.width * te.channels, e.text);
  const testImages = selectRef(
    te,
    { ...ref, limit: ref.head === undefined ? (ref.limit ?? DETECT_DEFAULT_LIMIT) : undefined },
    seed,
  );
  const several = spec.detectors.length > 1 || eps.length > 1;
  const projection = spec.projection ?? !!spec.report;
  const scores: DetectSampleScore[] = [];
  const reports: DetectionReport[] = await evaluateDetection(model, {
    detectors: spec.detectors,
    fitSplit,
    trainImages: selectRef(data.splits[fitSplit], { limit: spec.fitLimit ?? DETECT_DEFAULT_FIT_LIMIT }, seed),
    // fit pairs from val: the density models (KD, Mahalanobis) get training images, disjoint from them
    referenceImages: fitSplit === 'val' ? selectRef(data.splits.train, { limit: REFERENCE_IMAGES }, seed) : undefined,
    testImages,
    trainAttack,
    testAttacks,
    eps,
    seed,
    projection,
    attackOptions: () => ({
      earlyStop: !!spec.earlyStop,
      ...(spec.randomStart === false ? { randomStart: false } : {}),
      ...(spec.steps !== undefined ? { steps: spec.steps } : {}),
    }),
    onFitted: (det, e) => {
      if (spec.save)
        saveDetector(det, several ? path.join(spec.save, `${det.name}@${e.text.replace(/\//g, '_')}`) : spec.save);
    },
    onProgress: (what) => {
      checkAborted(opts.signal);
      opts.onStage?.(what);
    },
    onScores: (s) =>
      s.positions.forEach((pos, j) =>
        scores.push({
          detector: s.detector,
          attack: s.attack,
          eps: s.eps.value,
          epsText: s.eps.text,
          index: testImages.indices?.[pos] ?? pos,
          position: pos,
          label: testImages.labels[pos * (testImages.labels.length / testImages.n)],
          clean: s.clean[j],
          adversarial: s.adversarial[j],
        }),
      ),
  });
  if (spec.report) {
    const { writeDetectionReport } = await import('../report/detection.js');
    await writeDetectionReport(spec.report, reports, {
      model: model.card.name,
      dataset: data.name,
      classes: data.info.classes,
      seed,
      command: spec.command ?? 'medshield detect',
    });
  }
  const out: DetectReport[] = reports.map(({ projection: p, ...r }) => ({
    ...r,
    results: r.results.map(({ attack, eps: ev, n, auc, tprAt5Fpr, threshold, epsText, fitN }) => ({
      attack,
      eps: ev,
      n,
      auc,
      tprAt5Fpr,
      threshold,
      epsText,
      fitN,
    })),
    ...(p ? { projection: p } : {}),
  }));
  return {
    model: model.card.name,
    dataset: data.name,
    split: testSplit,
    seed,
    reports: withImageSet(out, data),
    // the flat rows also carry the ROC points and the attacked counts (a campaign stores them)
    rows: reports.flatMap((r, i) =>
      r.results.map((x, j) => ({
        detector: r.detector,
        ...out[i].results[j],
        ...(x.roc ? { roc: x.roc } : {}),
        ...(x.attacked !== undefined ? { attacked: x.attacked, fitAttacked: x.fitAttacked } : {}),
      })),
    ),
    scores,
    ...(spec.report ? { report: spec.report } : {}),
    seconds: Math.round((performance.now() - t0) / 100) / 10,
  };
}

/** The text form of `medshield detect`. */
export function formatDetect(r: DetectResult): string {
  let s = '';
  for (const d of r.reports) {
    s += `${d.detector} (fitted on ${d.trainAttack}; ${d.protocol})\n`;
    for (const x of d.results) {
      s +=
        `  ${x.attack.padEnd(9)} ε=${x.epsText.padEnd(7)} n=${String(x.n).padEnd(5)} AUC=${x.auc ?? '–'}  ` +
        `TPR@5%FPR=${x.tprAt5Fpr ?? '–'}  threshold=${x.threshold ?? '–'}\n`;
    }
  }
  if (r.report) s += `report: ${r.report}\n`;
  return s;
}
