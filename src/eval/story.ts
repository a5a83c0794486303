/**
 * The demo's middle acts on one model (issue #10): a detector fitted Ma et al.'s way catches the
 * non-adaptive PGD examples, then the informed attacker (joint classifier + detector loss, then HFC)
 * evades it. Built from the scorecard's pieces so the figures mean the same thing there and here.
 */
import type { DifferentiableModel } from '../models/model.js';
import { pgd } from '../attacks/pgd.js';
import { jointThenHfc } from '../attacks/adaptive/index.js';
import type { Pipeline } from '../attacks/adaptive/types.js';
import { judgePipeline } from '../attacks/adaptive/pipeline.js';
import { createDetector } from '../detectors/registry.js';
import { adversarialPairs, noisyCopies, thresholdAt5Fpr } from './detection.js';
import { measure } from './scorecard.js';
import type { Images } from './robustness.js';
import { round, stdDev } from './metrics.js';

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
}

export async function detectorAct(model: DifferentiableModel, fit: Images, calibration: Images, test: Images, xPgd: Float32Array, eps: number, seed: number, name = 'kd_bu', steps = 20, onStage?: (what: string) => void): Promise<DetectorAct> {
  const t0 = Date.now();
  onStage?.(`PGD fit pairs on ${fit.n} train films`);
  const pairs = await adversarialPairs(model, fit, pgd, eps, seed + 7);
  const det = createDetector(name);
  onStage?.(`fitting ${name} and calibrating its alarm on ${calibration.n} val films`);
  const data = { clean: pairs.clean, labels: pairs.labels, adversarial: pairs.adversarial, advLabels: pairs.labels, noisy: noisyCopies(pairs, seed), seed };
  await det.fit(model, data);
  await det.prepareAdaptive?.(model, data);
  const cal = await det.score(model, calibration.x, calibration.n);
  const threshold = thresholdAt5Fpr(cal);
  const p: Pipeline = { model, deployed: model, detector: { detector: det, threshold, scale: stdDev(cal) || 1 } };
  onStage?.(`judging ${test.n} clean and PGD films`);
  const clean = await judgePipeline(p, test.x, test.labels);
  const non = await measure(p, test, clean, xPgd, 'pgd-20');
  onStage?.(`the informed attacker (${jointThenHfc.name}, ${steps} steps) on ${test.n} films`);
  const r = await jointThenHfc.run(p, test.x, test.labels, { eps, norm: 'linf', steps, seed, reference: { x: fit.x, y: fit.labels } } as Parameters<typeof jointThenHfc.run>[3]);
  const adv = await measure(p, test, clean, r.xAdv, jointThenHfc.name);
  const d = test.x.length / test.n;
  const ex = Array.from({ length: test.n }, (_, i) => i).find((i) => !clean.fooled[i] && adv.judgement.fooled[i] && adv.judgement.undetected[i]);
  return {
    detector: det.name, threshold: round(threshold, 4),
    nonAdaptive: { detectionAuc: non.outcome.detectionAuc, caught: non.outcome.tprAt5Fpr, fooledAndUndetected: non.outcome.fooledAndUndetected },
    adaptive: { attack: `${jointThenHfc.name}, ${steps} steps`, fooledAndUndetected: adv.outcome.fooledAndUndetected, detectionAuc: adv.outcome.detectionAuc, caught: adv.outcome.tprAt5Fpr },
    ...(ex !== undefined ? { example: { index: ex, xAdv: r.xAdv.slice(ex * d, (ex + 1) * d) } } : {}),
    seconds: round((Date.now() - t0) / 1000, 1),
  };
}
