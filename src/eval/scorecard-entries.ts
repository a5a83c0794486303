/**
 * Builds the scorecard rows for medshield's own defences and detectors, and runs the whole scorecard:
 *  - input transforms (jpeg, bitdepth, median, blur, resizepad, tvm): the model behind the transform;
 *    non-adaptive = PGD crafted on the bare model; adaptive = identity BPDA then learned-approximation
 *    BPDA (deterministic), or EOT with BPDA (random); exact gradients where the transform has them.
 *  - smoothing: the noise-trained model (`noiseModel`, else the main model, noted) inside Cohen et al.'s
 *    majority vote; non-adaptive = PGD on the base model; adaptive = EOT over the Gaussian noise.
 *  - adversarial-training: the PGD-trained model (`advModel`); non-adaptive = PGD-20 on it (the usual
 *    evaluation); adaptive = APGD-CE + APGD-DLR with more steps and restarts; transfer = PGD from the
 *    main model.
 *  - detectors (kd_bu, lid, mahalanobis, deepfeature_rf, squeeze, magnet): fitted on train-split clean
 *    images and their PGD examples at the scorecard ε (Ma et al.'s protocol), threshold at 5 % false
 *    positives on clean validation images; non-adaptive = PGD on the model; adaptive = the joint
 *    classifier + detector loss, then HFC feature camouflage on the images it left.
 */
import type { DifferentiableModel } from '../models/model.js';
import { pgd } from '../attacks/algorithms/pgd.js';
import type { AdaptiveOptions, Pipeline } from '../attacks/adaptive/types.js';
import { adaptiveFor, jointThenHfc, bpdaThenLearned } from '../attacks/adaptive/index.js';
import type { HfcOptions } from '../attacks/adaptive/hfc.js';
import { DefenceView } from '../attacks/adaptive/view.js';
import { DEFENCE_NAMES, parseDefenceList } from '../defences/registry.js';
import { createDetector, DETECTOR_NAMES } from '../detectors/registry.js';
import { badArgument } from '../errors.js';
import { adversarialPairs, noisyCopies, thresholdAt5Fpr } from './detection.js';
import { runAttack, type Images } from './robustness.js';
import { round, stdDev } from '../models/metrics.js';
import { measure, scoreEntry, VERDICT_RULE, type ScorecardEntry } from './scorecard.js';
import { judgePipeline } from '../attacks/adaptive/pipeline.js';
import type { Scorecard, ScorecardPlan, ScorecardRow } from './scorecard-types.js';
import type { GradientCalibration } from '../studies/cost.js';
import { VERSION } from '../version.js';
import { WorkCounter } from './scorecard-work.js';

export const TRAINING_DEFENCE = 'adversarial-training';
export const ALL_DEFENCES = [
  'jpeg:q=75',
  'bitdepth:bits=4',
  'median:k=3',
  'blur:sigma=1',
  'resizepad:max=1.15',
  'tvm',
  'smoothing:sigma=0.25,n=100',
  TRAINING_DEFENCE,
  ...DETECTOR_NAMES,
];

/** `all` or a list of defence specs / detector names / `adversarial-training` (';' or ',' separated). */
export function parseScorecardList(text: string): string[] {
  if (text.trim().toLowerCase() === 'all') return [...ALL_DEFENCES];
  const out: string[] = [];
  const rest: string[] = [];
  for (const part of text.split(/;/).flatMap((s) => s.split(/,(?=\s*[a-z_-]+(?:[:;,]|$))/i))) {
    const t = part.trim();
    if (!t) continue;
    const name = t.toLowerCase().replace(/-/g, '_');
    if (DETECTOR_NAMES.includes(name)) out.push(name);
    else if (['adversarial_training', 'adv_training', 'at', 'pgd_at'].includes(name)) out.push(TRAINING_DEFENCE);
    else {
      const base = name.split(':')[0].split('+')[0];
      if (!DEFENCE_NAMES().includes(base))
        throw badArgument(
          `unknown defence or detector '${t}' (choose ` +
            `${[...DEFENCE_NAMES(), TRAINING_DEFENCE, ...DETECTOR_NAMES].join(', ')}, or all)`,
        );
      rest.push(t);
      out.push(t);
    }
  }
  if (rest.length) parseDefenceList(rest.join(';')); // validate specs now: one clear error before any work
  if (!out.length)
    throw badArgument(`--defences: nothing to evaluate (give all, or names: ${ALL_DEFENCES.join(', ')})`);
  return [...new Set(out)];
}

export interface ScorecardInput {
  model: DifferentiableModel;
  modelDir: string;
  /** PGD-adversarially-trained model for the `adversarial-training` row. */
  advModel?: DifferentiableModel;
  /** Noise-trained model for the smoothing row. */
  noiseModel?: DifferentiableModel;
  dataset: string;
  split: string;
  test: Images;
  /** Clean train-split images the detectors are fitted on. */
  fit: Images;
  /** Clean images (validation split) that set each detector's 5 %-FPR threshold. */
  calibration: Images;
  defences: string[];
  eps: number;
  epsText: string;
  quick: boolean;
  seed: number;
  /** Adaptive-attack iterations (default 20 quick, 50 full). */
  steps?: number;
  /** EOT draws per gradient (default 4 quick, 8 full). */
  samples?: number;
  onProgress?: (what: string, done: number, total: number) => void;
  onRow?: (row: ScorecardRow) => void;
  /** Printed-before-the-run plan (`planScorecard`), kept in the JSON beside the measured times. */
  plan?: ScorecardPlan;
  /** A shared stage (PGD on the undefended model, on the fit images) starts, with its estimated seconds. */
  onStage?: (stage: string, estimatedSeconds: number | undefined) => void;
}

/**
 * Cost of each row in forward+backward passes of the main model per image: `adaptive` per test image at
 * 20 steps, `sanity` per sanity image at 20 steps (ε = 0.5 with 20 steps, 40 steps, gradients), `fit` per
 * fit + calibration image (the detector's own fit and its threshold). Fitted (issue #24, session 13) to the
 * measured seconds of each row of `medshield scorecard --model default --defences all --eps 8/255 --quick
 * --seed 0` on a quiet 2-core machine (9.3 min; 7.0 ms per forward+backward image), divided by that run's
 * calibration: a row's factor r gives 110·r per test image and 120·r per sanity image, so the quick plan
 * matches that run. Quick runs skip the sanity checks of rows already broken or weakened, which the factors
 * absorb; a full run's plan (every row's checks, 100 images) is therefore low for those rows. Helper
 * models (the PGD-trained and noise-trained CNNs) are cheaper than the main model, which these figures include.
 */
export const ROW_COST: Record<string, { adaptive: number; sanity: number; fit?: number }> = Object.fromEntries(
  Object.entries({
    // [row factor r, fit passes per fit + calibration image]
    jpeg: [0.24],
    bitdepth: [0.22],
    median: [0.32],
    blur: [0.35],
    resizepad: [0.51],
    tvm: [0.95],
    smoothing: [0.26],
    [TRAINING_DEFENCE]: [0.05],
    kd_bu: [0.36, 4.3],
    lid: [0.55, 2.6],
    mahalanobis: [0.21, 16],
    deepfeature_rf: [0.2, 8.6],
    squeeze: [1.21, 0.9],
    magnet: [0.28, 5.9],
  }).map(([k, [r, fit]]) => [
    k,
    { adaptive: round(110 * r, 1), sanity: round(120 * r, 1), ...(fit !== undefined ? { fit } : {}) },
  ]),
);
const DEFAULT_ROW_COST = { adaptive: 220, sanity: 240, fit: 8 };
/** PGD-20 with early stopping, per image (the undefended baseline and the detectors' fit pairs). */
export const PGD20_COST = 12;

export function rowCost(name: string): { adaptive: number; sanity: number; fit?: number } {
  const key = DETECTOR_NAMES.includes(name) || name === TRAINING_DEFENCE ? name : name.split(':')[0].split('+')[0];
  return (
    ROW_COST[key] ??
    (DETECTOR_NAMES.includes(name)
      ? DEFAULT_ROW_COST
      : { adaptive: DEFAULT_ROW_COST.adaptive, sanity: DEFAULT_ROW_COST.sanity })
  );
}

/**
 * The scorecard's plan: estimated seconds per row and for the shared stages, from one calibration
 * (seconds per image of a forward+backward pass of the main model on this backend). Estimates scale
 * linearly in the images, the adaptive steps and (randomized rows) the EOT draws relative to `--quick`'s
 * 4; a quick run's skipped sanity checks are not known in advance, so a row's estimate includes them.
 */
export function planScorecard(
  cal: GradientCalibration,
  o: {
    defences: string[];
    n: number;
    fitN: number;
    calibrationN: number;
    quick: boolean;
    steps?: number;
    samples?: number;
    sanityLimit?: number;
  },
): ScorecardPlan {
  const g = cal.gradientSecondsPerImage;
  const steps = o.steps ?? (o.quick ? 20 : 50);
  const samples = o.samples ?? (o.quick ? 4 : 8);
  const k = Math.min(o.n, o.sanityLimit ?? (o.quick ? 32 : 100));
  const shared = [
    { stage: 'pgd-20 on the undefended model', images: o.n, estimatedSeconds: round(PGD20_COST * o.n * g, 1) },
  ];
  if (o.defences.some((d) => DETECTOR_NAMES.includes(d)))
    shared.push({
      stage: "pgd-20 on the detectors' fit images",
      images: o.fitN,
      estimatedSeconds: round(PGD20_COST * o.fitN * g, 1),
    });
  const rows = o.defences.map((name) => {
    const c = rowCost(name);
    const randomized = /^(resizepad|tvm|smoothing)/.test(name);
    const f = (steps / 20) * (randomized ? samples / 4 : 1);
    const sec = (c.adaptive * o.n + c.sanity * k) * f * g + (c.fit ?? 0) * (o.fitN + o.calibrationN) * g;
    return { defence: name, images: o.n, sanityImages: k, estimatedSeconds: round(sec, 1) };
  });
  const total = [...shared, ...rows].reduce((s, r) => s + r.estimatedSeconds, 0);
  return { gradientSecondsPerImage: g, backend: cal.backend, shared, rows, estimatedSeconds: round(total, 1) };
}

async function pgdImages(model: DifferentiableModel, img: Images, eps: number, seed: number): Promise<Float32Array> {
  return (await runAttack(model, img, pgd, { eps, norm: 'linf', steps: 20, seed })).xAdv;
}

export async function runScorecard(input: ScorecardInput): Promise<Scorecard> {
  const t0 = Date.now();
  // every model the rows use counts its passes (per-row `work`, load-independent); inside an attack's
  // gradient one forward pass serves the logits and every feature layer of the same iterate; batches are
  // padded to a few sizes so that the backend builds its kernels for a dozen shapes, not one per step
  const counter = new WorkCounter();
  const wrap = <M extends DifferentiableModel>(m: M): M => counter.wrap(m, { share: true, pad: true });
  const o: ScorecardInput = {
    ...input,
    model: wrap(input.model),
    advModel: input.advModel && wrap(input.advModel),
    noiseModel: input.noiseModel && wrap(input.noiseModel),
  };
  const work: NonNullable<Scorecard['work']> = {};
  const steps = o.steps ?? (o.quick ? 20 : 50);
  const samples = o.samples ?? (o.quick ? 4 : 8);
  const total = o.defences.length;
  let done = 0;
  const say = (what: string): void => o.onProgress?.(what, done, total);
  const base: AdaptiveOptions = { eps: o.eps, norm: 'linf', seed: o.seed, samples };
  const timing: Record<string, number> = {};
  say('PGD-20 on the undefended model');
  o.onStage?.('pgd-20 on the undefended model', o.plan?.shared[0]?.estimatedSeconds);
  let ts = Date.now();
  const basePgd = await pgdImages(o.model, o.test, o.eps, o.seed);
  timing['pgd-20 on the undefended model'] = round((Date.now() - ts) / 1000, 1);
  const bare: Pipeline = { model: o.model, deployed: o.model };
  const bareClean = await judgePipeline(bare, o.test.x, o.test.labels);
  const baseline = await measure(bare, o.test, bareClean, basePgd, 'pgd-20');
  work['pgd-20 on the undefended model'] = counter.take();
  const notes: string[] = [];
  const rows: ScorecardRow[] = [];
  let fitPairs: Awaited<ReturnType<typeof adversarialPairs>> | undefined;
  for (const name of o.defences) {
    say(name);
    let entry: ScorecardEntry;
    let fitSeconds: number | undefined;
    if (name === TRAINING_DEFENCE) {
      const m = o.advModel;
      if (!m) {
        notes.push(
          `${TRAINING_DEFENCE}: skipped — no adversarially trained model ` +
            `given (--adv-model DIR; train one with medshield train --adv pgd)`,
        );
        done++;
        continue;
      }
      const p: Pipeline = { model: m, deployed: m };
      const a = adaptiveFor(p);
      entry = {
        defence: TRAINING_DEFENCE,
        kind: 'training',
        reference: 'Madry et al., ICLR 2018: min_θ E max_{‖δ‖∞≤ε} CE(f(x+δ), y)',
        pipeline: p,
        nonAdaptive: { attack: 'pgd-20', xAdv: await pgdImages(m, o.test, o.eps, o.seed) },
        transfer: basePgd,
        adaptive: a,
        adaptiveOptions: { ...base, restarts: o.quick ? 1 : 2 },
        adaptiveLabel: `${a.name} (${o.quick ? 'APGD 1 restart' : 'APGD 2 restarts'})`,
        view: m,
        notes: [
          `model ${m.card.name}` +
            (m.card.training && 'adversarial' in (m.card.training as object)
              ? ` (${JSON.stringify((m.card.training as { adversarial: unknown }).adversarial)})`
              : ''),
        ],
      };
    } else if (DETECTOR_NAMES.includes(name)) {
      if (!fitPairs) {
        say("PGD-20 on the detectors' fit images");
        o.onStage?.("pgd-20 on the detectors' fit images", o.plan?.shared[1]?.estimatedSeconds);
        ts = Date.now();
        fitPairs = await adversarialPairs(o.model, o.fit, pgd, o.eps, o.seed + 7);
        timing["pgd-20 on the detectors' fit images"] = round((Date.now() - ts) / 1000, 1);
        work["pgd-20 on the detectors' fit images"] = counter.take();
        if (fitPairs.n < 2)
          throw badArgument(
            `PGD at ε = ${o.epsText} fooled ${fitPairs.n} of ${fitPairs.attacked}` +
              ` fit images: too few to fit detectors (raise --eps)`,
          );
      }
      const det = createDetector(name);
      const fitData = {
        clean: fitPairs.clean,
        labels: fitPairs.labels,
        adversarial: fitPairs.adversarial,
        advLabels: fitPairs.labels,
        noisy: name === 'kd_bu' || name === 'lid' ? noisyCopies(fitPairs, o.seed) : undefined,
        seed: o.seed,
      };
      say(`fit ${name}`);
      ts = Date.now();
      await det.fit(o.model, fitData);
      const prep = det.prepareAdaptive
        ? await det.prepareAdaptive(o.model, fitData)
        : { exact: false, note: 'no differentiable view' };
      const cal = await det.score(o.model, o.calibration.x, o.calibration.n);
      const threshold = thresholdAt5Fpr(cal);
      fitSeconds = round((Date.now() - ts) / 1000, 1);
      const p: Pipeline = {
        model: o.model,
        deployed: o.model,
        detector: { detector: det, threshold, scale: stdDev(cal) || 1 },
      };
      const a = jointThenHfc;
      const opts: HfcOptions = { ...base, reference: { x: o.fit.x, y: o.fit.labels }, lambdaRounds: o.quick ? 2 : 3 };
      entry = {
        defence: name,
        kind: 'detector',
        reference: det.reference,
        pipeline: p,
        nonAdaptive: { attack: 'pgd-20', xAdv: basePgd },
        adaptive: a,
        adaptiveOptions: opts,
        adaptiveLabel: `joint-${steps}+hfc-${steps}`,
        view: o.model,
        notes: [
          `fitted on ${fitPairs.n} train images and their PGD-20 examples at ε = ${o.epsText}; threshold ` +
            `${round(threshold, 4)} = 5 % false positives on ${o.calibration.n} clean validation images`,
          `adaptive view: ${prep.note}`,
        ],
      };
    } else {
      const d = parseDefenceList(name)[0];
      const m = d.noise && o.noiseModel ? o.noiseModel : o.model;
      const p: Pipeline = { model: m, defence: d, deployed: d.wrap(m, { seed: o.seed }) };
      const a = d.randomized ? adaptiveFor(p) : bpdaThenLearned;
      const n: string[] = [];
      if (d.noise)
        n.push(
          o.noiseModel
            ? `base classifier ${m.card.name} (noise-trained)`
            : `base classifier ${m.card.name} is not noise-trained: give --noise-model for a fair smoothing row`,
          'the smoothed classifier answers its majority class (no abstention) so that every image has a label',
        );
      entry = {
        defence: d.spec,
        kind: d.noise ? 'smoothing' : 'transform',
        reference: d.reference,
        pipeline: p,
        nonAdaptive: { attack: 'pgd-20', xAdv: m === o.model ? basePgd : await pgdImages(m, o.test, o.eps, o.seed) },
        adaptive: a,
        adaptiveOptions: base,
        adaptiveLabel: `${a.name}+pgd-${steps}${d.randomized ? ` (${samples} draws)` : ''}`,
        view: new DefenceView(m, { transform: d.transform, noiseSigma: d.noise?.sigma, samples, seed: o.seed }),
        notes: n,
      };
    }
    const fitWork = counter.take();
    const row = await scoreEntry(entry, o.test, {
      eps: o.eps,
      steps,
      baselineProtected: baseline.protectedFraction,
      seed: o.seed,
      sanityLimit: o.quick ? 32 : 100,
      sanityOnlyWhenDeciding: o.quick,
      stopWhenBroken: o.quick,
      onProgress: (w) => say(w),
      counter,
    });
    if (entry.pipeline.detector) row.detectorThreshold = round(entry.pipeline.detector.threshold, 6);
    if (fitSeconds !== undefined) {
      row.timing = { fit: fitSeconds, ...row.timing };
    }
    row.work = { fit: fitWork, phases: row.work?.phases ?? {} };
    const planned = o.plan?.rows.find((r) => r.defence === name);
    if (planned) row.estimatedSeconds = planned.estimatedSeconds;
    rows.push(row);
    o.onRow?.(row);
    done++;
  }
  say('done');
  return {
    schema: 'medshield.scorecard/1',
    model: { name: o.model.card.name, architecture: o.model.card.architecture.name, dir: o.modelDir },
    dataset: o.dataset,
    split: o.split,
    n: o.test.n,
    eps: o.eps,
    epsText: o.epsText,
    norm: 'linf',
    quick: o.quick,
    seed: o.seed,
    verdictRule: VERDICT_RULE,
    rows,
    baseline: {
      cleanAccuracy: round(1 - bareClean.fooled.reduce((s, v) => s + v, 0) / o.test.n),
      robustAccuracy: baseline.outcome.robustAccuracy,
      attack: 'pgd-20',
      fooledAndUndetected: baseline.outcome.fooledAndUndetected,
    },
    seconds: round((Date.now() - t0) / 1000, 1),
    timing,
    work,
    ...(o.plan ? { plan: o.plan } : {}),
    medshieldVersion: VERSION,
    notes,
  };
}
