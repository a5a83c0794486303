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
import { pgd } from '../attacks/pgd.js';
import type { AdaptiveOptions, Pipeline } from '../attacks/adaptive/types.js';
import { adaptiveFor, jointThenHfc, bpdaThenLearned } from '../attacks/adaptive/index.js';
import type { HfcOptions } from '../attacks/adaptive/hfc.js';
import { DefenceView } from '../attacks/adaptive/view.js';
import { DEFENCE_NAMES, parseDefenceList } from '../defences/registry.js';
import { createDetector, DETECTOR_NAMES } from '../detectors/registry.js';
import { badArgument } from '../errors.js';
import { adversarialPairs, noisyCopies, thresholdAt5Fpr } from './detection.js';
import { runAttack, type Images } from './robustness.js';
import { round, stdDev } from './metrics.js';
import { measure, scoreEntry, VERDICT_RULE, type ScorecardEntry } from './scorecard.js';
import { judgePipeline } from '../attacks/adaptive/pipeline.js';
import type { Scorecard, ScorecardRow } from './scorecard-types.js';
import { VERSION } from '../version.js';

export const TRAINING_DEFENCE = 'adversarial-training';
export const ALL_DEFENCES = ['jpeg:q=75', 'bitdepth:bits=4', 'median:k=3', 'blur:sigma=1', 'resizepad:max=1.15', 'tvm', 'smoothing:sigma=0.25,n=100', TRAINING_DEFENCE, ...DETECTOR_NAMES];

/** `all` or a list of defence specs / detector names / `adversarial-training` (';' or ',' separated). */
export function parseScorecardList(text: string): string[] {
  if (text.trim().toLowerCase() === 'all') return [...ALL_DEFENCES];
  const out: string[] = []; const rest: string[] = [];
  for (const part of text.split(/;/).flatMap((s) => s.split(/,(?=\s*[a-z_-]+(?:[:;,]|$))/i))) {
    const t = part.trim(); if (!t) continue;
    const name = t.toLowerCase().replace(/-/g, '_');
    if (DETECTOR_NAMES.includes(name)) out.push(name);
    else if (['adversarial_training', 'adv_training', 'at', 'pgd_at'].includes(name)) out.push(TRAINING_DEFENCE);
    else {
      const base = name.split(':')[0].split('+')[0];
      if (!DEFENCE_NAMES().includes(base)) throw badArgument(`unknown defence or detector '${t}' (choose ${[...DEFENCE_NAMES(), TRAINING_DEFENCE, ...DETECTOR_NAMES].join(', ')}, or all)`);
      rest.push(t); out.push(t);
    }
  }
  if (rest.length) parseDefenceList(rest.join(';')); // validate specs now: one clear error before any work
  if (!out.length) throw badArgument(`--defences: nothing to evaluate (give all, or names: ${ALL_DEFENCES.join(', ')})`);
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
}


async function pgdImages(model: DifferentiableModel, img: Images, eps: number, seed: number): Promise<Float32Array> {
  return (await runAttack(model, img, pgd, { eps, norm: 'linf', steps: 20, seed })).xAdv;
}

export async function runScorecard(o: ScorecardInput): Promise<Scorecard> {
  const t0 = Date.now();
  const steps = o.steps ?? (o.quick ? 20 : 50);
  const samples = o.samples ?? (o.quick ? 4 : 8);
  const total = o.defences.length; let done = 0;
  const say = (what: string): void => o.onProgress?.(what, done, total);
  const base: AdaptiveOptions = { eps: o.eps, norm: 'linf', seed: o.seed, samples };
  say('PGD-20 on the undefended model');
  const basePgd = await pgdImages(o.model, o.test, o.eps, o.seed);
  const bare: Pipeline = { model: o.model, deployed: o.model };
  const bareClean = await judgePipeline(bare, o.test.x, o.test.labels);
  const baseline = await measure(bare, o.test, bareClean, basePgd, 'pgd-20');
  const notes: string[] = [];
  const rows: ScorecardRow[] = [];
  let fitPairs: Awaited<ReturnType<typeof adversarialPairs>> | undefined;
  for (const name of o.defences) {
    say(name);
    let entry: ScorecardEntry;
    if (name === TRAINING_DEFENCE) {
      const m = o.advModel;
      if (!m) { notes.push(`${TRAINING_DEFENCE}: skipped — no adversarially trained model given (--adv-model DIR; train one with medshield train --adv pgd)`); done++; continue; }
      const p: Pipeline = { model: m, deployed: m };
      const a = adaptiveFor(p);
      entry = {
        defence: TRAINING_DEFENCE, kind: 'training', reference: 'Madry et al., ICLR 2018: min_θ E max_{‖δ‖∞≤ε} CE(f(x+δ), y)', pipeline: p,
        nonAdaptive: { attack: 'pgd-20', xAdv: await pgdImages(m, o.test, o.eps, o.seed) }, transfer: basePgd,
        adaptive: a, adaptiveOptions: { ...base, restarts: o.quick ? 1 : 2 }, adaptiveLabel: `${a.name} (${o.quick ? 'APGD 1 restart' : 'APGD 2 restarts'})`, view: m,
        notes: [`model ${m.card.name}${m.card.training && 'adversarial' in (m.card.training as object) ? ` (${JSON.stringify((m.card.training as { adversarial: unknown }).adversarial)})` : ''}`],
      };
    } else if (DETECTOR_NAMES.includes(name)) {
      if (!fitPairs) {
        say('PGD-20 on the detectors\' fit images');
        fitPairs = await adversarialPairs(o.model, o.fit, pgd, o.eps, o.seed + 7);
        if (fitPairs.n < 2) throw badArgument(`PGD at ε = ${o.epsText} fooled ${fitPairs.n} of ${fitPairs.attacked} fit images: too few to fit detectors (raise --eps)`);
      }
      const det = createDetector(name);
      const fitData = { clean: fitPairs.clean, labels: fitPairs.labels, adversarial: fitPairs.adversarial, advLabels: fitPairs.labels, noisy: name === 'kd_bu' || name === 'lid' ? noisyCopies(fitPairs, o.seed) : undefined, seed: o.seed };
      say(`fit ${name}`);
      await det.fit(o.model, fitData);
      const prep = det.prepareAdaptive ? await det.prepareAdaptive(o.model, fitData) : { exact: false, note: 'no differentiable view' };
      const cal = await det.score(o.model, o.calibration.x, o.calibration.n);
      const threshold = thresholdAt5Fpr(cal);
      const p: Pipeline = { model: o.model, deployed: o.model, detector: { detector: det, threshold, scale: stdDev(cal) || 1 } };
      const a = jointThenHfc;
      const opts: HfcOptions = { ...base, reference: { x: o.fit.x, y: o.fit.labels }, lambdaRounds: o.quick ? 2 : 3 };
      entry = {
        defence: name, kind: 'detector', reference: det.reference, pipeline: p,
        nonAdaptive: { attack: 'pgd-20', xAdv: basePgd }, adaptive: a, adaptiveOptions: opts, adaptiveLabel: `joint-${steps}+hfc-${steps}`, view: o.model,
        notes: [`fitted on ${fitPairs.n} train images and their PGD-20 examples at ε = ${o.epsText}; threshold ${round(threshold, 4)} = 5 % false positives on ${o.calibration.n} clean validation images`, `adaptive view: ${prep.note}`],
      };
    } else {
      const d = parseDefenceList(name)[0];
      const m = d.noise && o.noiseModel ? o.noiseModel : o.model;
      const p: Pipeline = { model: m, defence: d, deployed: d.wrap(m, { seed: o.seed }) };
      const a = d.randomized ? adaptiveFor(p) : bpdaThenLearned;
      const n: string[] = [];
      if (d.noise) n.push(o.noiseModel ? `base classifier ${m.card.name} (noise-trained)` : `base classifier ${m.card.name} is not noise-trained: give --noise-model for a fair smoothing row`, 'the smoothed classifier answers its majority class (no abstention) so that every image has a label');
      entry = {
        defence: d.spec, kind: d.noise ? 'smoothing' : 'transform', reference: d.reference, pipeline: p,
        nonAdaptive: { attack: 'pgd-20', xAdv: m === o.model ? basePgd : await pgdImages(m, o.test, o.eps, o.seed) },
        adaptive: a, adaptiveOptions: base, adaptiveLabel: `${a.name}+pgd-${steps}${d.randomized ? ` (${samples} draws)` : ''}`,
        view: new DefenceView(m, { transform: d.transform, noiseSigma: d.noise?.sigma, samples, seed: o.seed }), notes: n,
      };
    }
    const row = await scoreEntry(entry, o.test, { eps: o.eps, steps, baselineProtected: baseline.protectedFraction, seed: o.seed, sanityLimit: o.quick ? 32 : 100, onProgress: (w) => say(w) });
    if (entry.pipeline.detector) row.detectorThreshold = round(entry.pipeline.detector.threshold, 6);
    rows.push(row); o.onRow?.(row); done++;
  }
  say('done');
  return {
    schema: 'medshield.scorecard/1',
    model: { name: o.model.card.name, architecture: o.model.card.architecture.name, dir: o.modelDir },
    dataset: o.dataset, split: o.split, n: o.test.n, eps: o.eps, epsText: o.epsText, norm: 'linf', quick: o.quick, seed: o.seed,
    verdictRule: VERDICT_RULE, rows,
    baseline: { cleanAccuracy: round(1 - bareClean.fooled.reduce((s, v) => s + v, 0) / o.test.n), robustAccuracy: baseline.outcome.robustAccuracy, attack: 'pgd-20', fooledAndUndetected: baseline.outcome.fooledAndUndetected },
    seconds: round((Date.now() - t0) / 1000, 1), medshieldVersion: VERSION, notes,
  };
}
