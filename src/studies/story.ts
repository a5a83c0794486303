/**
 * The demo's middle acts on one model (issue #10): a detector fitted Ma et al.'s way catches the
 * non-adaptive PGD examples, then the informed attacker (joint classifier + detector loss, then HFC)
 * evades it. Built from the scorecard's pieces so the figures mean the same thing there and here.
 */
import type { DifferentiableModel } from '../models/model.js';
import { pgd } from '../attacks/algorithms/pgd.js';
import { jointThenHfc } from '../attacks/adaptive/index.js';
import type { Pipeline } from '../attacks/adaptive/types.js';
import { judgePipeline } from '../attacks/adaptive/pipeline.js';
import { createDetector } from '../detectors/registry.js';
import { adversarialPairs, noisyCopies, thresholdAt5Fpr } from '../eval/detection.js';
import { measure } from '../eval/scorecard.js';
import type { Images } from '../eval/robustness.js';
import { round, stdDev } from '../models/metrics.js';
import { calibrateGradient, type GradientCalibration } from './cost.js';
import type { Classifier } from '../models/model.js';
import type { Dataset } from '../data/dataset.js';
import { evaluateSplit, type EvalResult } from '../models/train.js';
import { square } from '../attacks/algorithms/square.js';
import { transfer } from '../attacks/algorithms/transfer.js';
import { ModelTarget } from '../attacks/targets/target.js';
import { epsilonSweep } from '../eval/sweep.js';
import { selectImages, sliceImages } from '../data/images.js';
import type { AttackSummary } from '../eval/robustness.js';

export interface DetectorAct {
  detector: string;
  threshold: number;
  /** Non-adaptive PGD: detection AUC, share of successful examples flagged, and fooled-and-undetected. */
  nonAdaptive: { detectionAuc: number | null; caught: number | null; fooledAndUndetected: number };
  /** The informed attacker. */
  adaptive: { attack: string; fooledAndUndetected: number; detectionAuc: number | null; caught: number | null };
  /** Index (into the test images) and adversarial pixels of one image that fooled the model and passed the detector. */
  example?: { index: number; xAdv: Float32Array };
  seconds: number;
  /** Of which: fitting and calibrating the detector (the rest is the informed attacker). */
  fitSeconds: number;
}

export async function detectorAct(
  model: DifferentiableModel,
  fit: Images,
  calibration: Images,
  test: Images,
  xPgd: Float32Array,
  eps: number,
  seed: number,
  name = 'kd_bu',
  steps = 20,
  hooks: { onFitted?: () => void; onStage?: (what: string) => void } = {},
): Promise<DetectorAct> {
  const t0 = Date.now();
  hooks.onStage?.(`PGD fit pairs on ${fit.n} train films`);
  const pairs = await adversarialPairs(model, fit, pgd, eps, seed + 7);
  const det = createDetector(name);
  hooks.onStage?.(`fitting ${name} and calibrating its alarm on ${calibration.n} val films`);
  const data = {
    clean: pairs.clean,
    labels: pairs.labels,
    adversarial: pairs.adversarial,
    advLabels: pairs.labels,
    noisy: noisyCopies(pairs, seed),
    seed,
  };
  await det.fit(model, data);
  await det.prepareAdaptive?.(model, data);
  const cal = await det.score(model, calibration.x, calibration.n);
  const threshold = thresholdAt5Fpr(cal);
  const fitSeconds = (Date.now() - t0) / 1000;
  hooks.onFitted?.();
  const p: Pipeline = { model, deployed: model, detector: { detector: det, threshold, scale: stdDev(cal) || 1 } };
  hooks.onStage?.(`judging ${test.n} clean and PGD films`);
  const clean = await judgePipeline(p, test.x, test.labels);
  const non = await measure(p, test, clean, xPgd, 'pgd-20');
  hooks.onStage?.(`the informed attacker (${jointThenHfc.name}, ${steps} steps) on ${test.n} films`);
  const r = await jointThenHfc.run(p, test.x, test.labels, {
    eps,
    norm: 'linf',
    steps,
    seed,
    reference: { x: fit.x, y: fit.labels },
  } as Parameters<typeof jointThenHfc.run>[3]);
  const adv = await measure(p, test, clean, r.xAdv, jointThenHfc.name);
  const d = test.x.length / test.n;
  const ex = Array.from({ length: test.n }, (_, i) => i).find(
    (i) => !clean.fooled[i] && adv.judgement.fooled[i] && adv.judgement.undetected[i],
  );
  return {
    detector: det.name,
    threshold: round(threshold, 4),
    nonAdaptive: {
      detectionAuc: non.outcome.detectionAuc,
      caught: non.outcome.tprAt5Fpr,
      fooledAndUndetected: non.outcome.fooledAndUndetected,
    },
    adaptive: {
      attack: `${jointThenHfc.name}, ${steps} steps`,
      fooledAndUndetected: adv.outcome.fooledAndUndetected,
      detectionAuc: adv.outcome.detectionAuc,
      caught: adv.outcome.tprAt5Fpr,
    },
    ...(ex !== undefined ? { example: { index: ex, xAdv: r.xAdv.slice(ex * d, (ex + 1) * d) } } : {}),
    seconds: round((Date.now() - t0) / 1000, 1),
    fitSeconds: round(fitSeconds, 1),
  };
}

// ---------------------------------------------------------------------------------------------------
// The demo as a whole (issue #24 item 2): a plan whose cost is estimated from a calibration on the
// current backend, scaled down on a slow backend so the demo finishes in its budget, then the run.

/** Seconds per image of one forward+backward (input-gradient) pass of the demo's model on this backend. */
export type DemoCalibration = GradientCalibration;

export interface DemoStagePlan {
  stage: string;
  images: number;
  estimatedSeconds: number;
}

export interface DemoPlan {
  /** Test films attacked by PGD and the transfer attack; Square and the detector act take the first of them. */
  attackImages: number;
  /** Films Square attacks, and films the detector act judges and the informed attacker attacks (≤ attackImages). */
  squareImages: number;
  actImages: number;
  fitImages: number;
  /** What the user asked for (or the default), and whether the plan attacks fewer films to fit the budget. */
  requestedAttackImages: number;
  /** Square's query budget (1000, or 300 in a plan scaled down far). */
  squareQueries: number;
  /** The plan attacks fewer films (or spends fewer Square queries) than the full run. */
  scaled: boolean;
  /** The estimate is within the budget. */
  fits: boolean;
  budgetSeconds: number;
  stages: DemoStagePlan[];
  estimatedSeconds: number;
  calibration: DemoCalibration;
}

/**
 * Cost of each stage in units of the calibration pass (one forward+backward of the default model per film, a
 * batch of 32 after a warm-up), per backend, measured on a quiet 2-core machine on 2026-12-06 with `medshield demo
 * --seed 0` (native: calibration 7.8 ms per film, 128 films; wasm: 85.3 ms, 16 films, Square at 300 queries):
 * evaluation is one forward pass per test film; PGD-20 with early stopping (at 2/255 most films run all 20
 * steps); the transfer attack's 20 M-DI²-FGSM steps on the full-width surrogate and its one query; the detector
 * fit per fit film (its PGD-20 example, KD+BU's fit, one calibration film); the informed attacker's joint + HFC
 * steps through classifier and detector per film; `squarePerQuery`, one forward pass of Square per film and
 * query. The backends differ in how their batch-32 calibration pass compares with the attacks' passes (native's
 * is relatively faster), hence one table each; the cpu backend uses wasm's.
 */
export const DEMO_STAGE_COSTS = {
  native: {
    evaluate: 1.2,
    'pgd 2/255': 28,
    'pgd 8/255': 8,
    'transfer 8/255': 19,
    'detector fit': 18,
    'informed attacker': 150,
    squarePerQuery: 0.75,
  },
  wasm: {
    evaluate: 0.32,
    'pgd 2/255': 22.7,
    'pgd 8/255': 11.7,
    'transfer 8/255': 29.3,
    'detector fit': 12.1,
    'informed attacker': 198,
    squarePerQuery: 0.38,
  },
} as const;

export type DemoStageCost = (typeof DEMO_STAGE_COSTS)['native' | 'wasm'];
export const demoStageCost = (backend: string): DemoStageCost =>
  backend === 'native' ? DEMO_STAGE_COSTS.native : DEMO_STAGE_COSTS.wasm;

/**
 * Square's cost per film: one forward pass per query until the film flips or the budget Q is spent. The films'
 * queries to flip were fitted as E[min(q, Q)] ≈ Q₀(1 − e^(−Q/Q₀)) with Q₀ = 320 (the native run: median 254
 * queries to flip, 9 % of 64 films never flipped).
 */
export const demoSquareCost = (queries: number, perQuery: number): number =>
  perQuery * 320 * (1 - Math.exp(-queries / 320));

/**
 * Detector fit and calibration films for n attacked films: 200 for the default 128, fewer for a small run (at least 48,
 * or 32 in a plan scaled down for a slow backend).
 */
export const demoFitImages = (n: number, scaled = false): number => Math.min(200, Math.max(scaled ? 32 : 48, 2 * n));

export const DEMO_DEFAULT_IMAGES = 128;
/** Square and the detector act take at most this many of the attacked films (they cost 10–30× a PGD film). */
export const DEMO_SUBSET_IMAGES = 64;
export const DEMO_MIN_IMAGES = 16;
export const DEMO_BUDGET_SECONDS = 600;
export const DEMO_SQUARE_QUERIES = 1000;
/** Square's query budget in a plan scaled down for a slow backend, once the sample is down to 32 films. */
export const DEMO_SQUARE_QUERIES_SCALED = 300;

/** The stages and their estimated seconds for n attacked films. */
export function demoStages(
  cal: DemoCalibration,
  n: number,
  testN: number,
  withTransfer = true,
  scaled = false,
  squareQueries = DEMO_SQUARE_QUERIES,
): DemoStagePlan[] {
  const g = cal.gradientSecondsPerImage;
  const sub = Math.min(n, DEMO_SUBSET_IMAGES);
  const st = (stage: string, images: number, perFilm: number): DemoStagePlan => ({
    stage,
    images,
    estimatedSeconds: round(perFilm * images * g, 1),
  });
  const c = demoStageCost(cal.backend);
  return [
    st('evaluate', testN, c.evaluate),
    st('pgd 2/255', n, c['pgd 2/255']),
    st('pgd 8/255', n, c['pgd 8/255']),
    st('square 8/255', sub, demoSquareCost(squareQueries, c.squarePerQuery)),
    ...(withTransfer ? [st('transfer 8/255', n, c['transfer 8/255'])] : []),
    st('detector fit', demoFitImages(n, scaled), c['detector fit']),
    st('informed attacker', sub, c['informed attacker']),
  ];
}

/**
 * The demo's plan: the requested number of attacked films if its estimate fits the budget (or `full`
 * is set, or the user chose the number), else smaller: the sample first (down to 32 films), then Square's
 * query budget (1000 → 300), then the sample again (down to DEMO_MIN_IMAGES), keeping a 20 % margin for
 * the estimate's error. When even that does not fit, the plan says so (`fits: false`).
 */
export function planDemo(
  cal: DemoCalibration,
  o: { requested?: number; full?: boolean; testN: number; budgetSeconds?: number; withTransfer?: boolean },
): DemoPlan {
  const budget = o.budgetSeconds ?? DEMO_BUDGET_SECONDS;
  const requested = o.requested ?? DEMO_DEFAULT_IMAGES;
  let queries = DEMO_SQUARE_QUERIES;
  const total = (n: number): number =>
    demoStages(cal, n, o.testN, o.withTransfer, n < requested || queries < DEMO_SQUARE_QUERIES, queries).reduce(
      (s, x) => s + x.estimatedSeconds,
      0,
    );
  let n = requested;
  // an explicit --attack-images N or --full is the user's choice: plan it as asked
  if (!o.full && o.requested === undefined) {
    while (total(n) > 0.8 * budget) {
      if (n > 32) n = Math.max(32, Math.floor(n * 0.9));
      else if (queries > DEMO_SQUARE_QUERIES_SCALED) queries = DEMO_SQUARE_QUERIES_SCALED;
      else if (n > DEMO_MIN_IMAGES) n = Math.max(DEMO_MIN_IMAGES, Math.floor(n * 0.9));
      else break;
    }
  }
  const scaled = n < requested || queries < DEMO_SQUARE_QUERIES;
  const stages = demoStages(cal, n, o.testN, o.withTransfer, scaled, queries);
  const est = round(
    stages.reduce((s, x) => s + x.estimatedSeconds, 0),
    1,
  );
  return {
    attackImages: n,
    squareImages: Math.min(n, DEMO_SUBSET_IMAGES),
    actImages: Math.min(n, DEMO_SUBSET_IMAGES),
    fitImages: demoFitImages(n, scaled),
    squareQueries: queries,
    requestedAttackImages: requested,
    scaled,
    fits: est <= budget,
    budgetSeconds: budget,
    stages,
    estimatedSeconds: est,
    calibration: cal,
  };
}

/** Time one forward+backward pass of `batch` films through the model (after one warm-up pass). */
export const calibrateDemo = calibrateGradient;

export interface DemoStageResult {
  stage: string;
  images: number;
  estimatedSeconds: number;
  seconds: number;
}

export interface DemoRun {
  test: EvalResult;
  img: Images;
  runs: AttackSummary[];
  xPgd8: Float32Array;
  act: DetectorAct;
  stages: DemoStageResult[];
}

export interface DemoHooks {
  /** A stage starts (its plan entry). */
  onStage?: (s: DemoStagePlan) => void;
  /** A stage finished (its plan entry and the measured seconds). */
  onStageDone?: (s: DemoStageResult) => void;
  /** Progress within the attack stages (films done / total). */
  onProgress?: (stage: string, done: number, total: number) => void;
  /** A step inside a stage without a film count (the detector act's fit, calibration and informed attacker). */
  onStep?: (what: string) => void;
}

/**
 * The demo's experiment (the CLI only prints it): clean evaluation on the test split, white-box PGD-20
 * at 2/255 and 8/255, black-box Square (`plan.squareQueries`, 1000 unless scaled down) and a transfer attack from the
 * surrogate at 8/255 on
 * `plan.attackImages` seeded test films, then the detector act on `plan.fitImages` fit / calibration films.
 */
export async function runDemo(
  model: Classifier,
  data: Dataset,
  surrogate: Classifier | null,
  plan: DemoPlan,
  seed: number,
  hooks: DemoHooks = {},
): Promise<DemoRun> {
  const stages: DemoStageResult[] = [];
  const planned = (name: string): DemoStagePlan =>
    plan.stages.find((s) => s.stage === name) ?? { stage: name, images: 0, estimatedSeconds: 0 };
  const timed = async <T>(name: string, f: (p: (d: number, t: number) => void) => Promise<T>): Promise<T> => {
    const p = planned(name);
    hooks.onStage?.(p);
    const t0 = performance.now();
    const r = await f((d, t) => hooks.onProgress?.(name, d, t));
    stages.push({ ...p, seconds: round((performance.now() - t0) / 1000, 1) });
    hooks.onStageDone?.(stages[stages.length - 1]);
    return r;
  };
  const test = await timed('evaluate', () => evaluateSplit(model, data.splits.test));
  const img = selectImages(data.splits.test, Math.min(plan.attackImages, data.splits.test.n), seed);
  const runs: AttackSummary[] = [];
  let xPgd8 = img.x;
  for (const e of [2, 8]) {
    const ev = await timed(`pgd ${e}/255`, (p) =>
      epsilonSweep(
        model,
        img,
        pgd,
        [{ value: e / 255, text: `${e}/255` }],
        { steps: 20, seed },
        { onProgress: (_i, d, t) => p(d, t) },
      ),
    );
    runs.push(...ev.map((x) => x.summary));
    if (e === 8) xPgd8 = ev[0].xAdv;
  }
  const sub = sliceImages(img, 0, Math.min(plan.squareImages, img.n));
  runs.push(
    ...(
      await timed('square 8/255', (p) =>
        epsilonSweep(
          new ModelTarget(model),
          sub,
          square,
          [{ value: 8 / 255, text: '8/255' }],
          { maxQueries: plan.squareQueries, seed },
          { onProgress: (_i, d, t) => p(d, t) },
        ),
      )
    ).map((x) => x.summary),
  );
  if (surrogate)
    runs.push(
      ...(
        await timed('transfer 8/255', (p) =>
          epsilonSweep(
            new ModelTarget(model),
            img,
            transfer,
            [{ value: 8 / 255, text: '8/255' }],
            { steps: 20, seed, surrogates: [surrogate] },
            { onProgress: (_i, d, t) => p(d, t) },
          ),
        )
      ).map((x) => x.summary),
    );
  const fitN = plan.fitImages;
  const fitImgs = selectImages(data.splits.train, fitN, seed + 1);
  const calImgs = selectImages(data.splits.val, fitN, seed + 2);
  hooks.onStage?.(planned('detector fit'));
  const t0 = performance.now();
  const actN = Math.min(plan.actImages, img.n);
  const actImgs = sliceImages(img, 0, actN);
  const d = img.x.length / Math.max(1, img.n);
  const act = await detectorAct(
    model,
    fitImgs,
    calImgs,
    actImgs,
    xPgd8.subarray(0, actN * d),
    8 / 255,
    seed,
    'kd_bu',
    20,
    {
      onFitted: () => {
        hooks.onStageDone?.({ ...planned('detector fit'), seconds: round((performance.now() - t0) / 1000, 1) });
        hooks.onStage?.(planned('informed attacker'));
      },
      onStage: (what) => hooks.onStep?.(what),
    },
  );
  const whole = (performance.now() - t0) / 1000;
  stages.push(
    { ...planned('detector fit'), seconds: round(act.fitSeconds, 1) },
    { ...planned('informed attacker'), seconds: round(whole - act.fitSeconds, 1) },
  );
  hooks.onStageDone?.(stages[stages.length - 1]);
  return { test, img, runs, xPgd8, act, stages };
}
