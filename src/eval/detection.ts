/**
 * Detection evaluation, protocol of Ma X. et al. (Pattern Recognition 2021; also LID, ICLR 2018):
 * positives are the successful adversarial examples only (images the model classified correctly and
 * the attack fooled), negatives their clean originals. A detector is fitted per ε on a sample of
 * training images attacked with the train attack (kd_bu and lid also get noisy copies of the clean
 * images as extra negatives — Gaussian noise with the L2 size of each adversarial perturbation, as
 * Feinman et al. did), then scored on test images attacked with every test attack at the same ε
 * (fit on one attack, test on all = the generalisation matrix).
 *
 * Per (attack, ε): ROC AUC of the detector score, and the threshold at 5 % false positives on the
 * clean originals (the (⌊0.05·n⌋+1)-th largest clean score; flagged = score > threshold) with the true
 * positive rate there.
 */
import { Rng } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { Attack } from '../attacks/types.js';
import { evaluateAttack, type Images } from './robustness.js';
import { rocAuc, round } from './metrics.js';
import { createDetector } from '../detectors/registry.js';
import type { Detector } from '../detectors/types.js';
import { badInput } from '../errors.js';

export const DETECTION_PROTOCOL = 'Ma et al.: positives = successful adversarial examples of correctly classified images, negatives = their clean originals; fitted per ε on train-split images attacked with the train attack, tested on test-split images';

export interface AdversarialPairs { clean: Float32Array; adversarial: Float32Array; labels: Int32Array; n: number; attacked: number }

/** Attack the images; keep the successful adversarial examples and their clean originals. */
export async function adversarialPairs(model: DifferentiableModel, img: Images, attack: Attack, eps: number, seed = 0): Promise<AdversarialPairs> {
  const norm = attack.norms.includes('linf') ? 'linf' : attack.defaultNorm;
  const ev = await evaluateAttack(model, img, attack, { eps, norm, seed });
  const d = img.x.length / img.n;
  const keep = ev.records.map((r, i) => (r.success ? i : -1)).filter((i) => i >= 0);
  const clean = new Float32Array(keep.length * d); const adversarial = new Float32Array(keep.length * d); const labels = new Int32Array(keep.length);
  keep.forEach((i, j) => {
    clean.set(img.x.subarray(i * d, (i + 1) * d), j * d); adversarial.set(ev.xAdv.subarray(i * d, (i + 1) * d), j * d); labels[j] = img.labels[i];
  });
  return { clean, adversarial, labels, n: keep.length, attacked: ev.summary.attacked };
}

/** Clean images plus Gaussian noise with the L2 size of each pair's adversarial perturbation, clipped to [0,1]. */
export function noisyCopies(p: AdversarialPairs, seed = 0): Float32Array {
  const d = p.clean.length / Math.max(p.n, 1); const rng = new Rng(seed ^ 0x4015e);
  const out = new Float32Array(p.clean.length); const z = new Float32Array(d);
  for (let i = 0; i < p.n; i++) {
    let l2 = 0; for (let j = 0; j < d; j++) l2 += (p.adversarial[i * d + j] - p.clean[i * d + j]) ** 2;
    rng.fillNormal(z); let zn = 0; for (const v of z) zn += v * v;
    const s = Math.sqrt(l2 / (zn || 1));
    for (let j = 0; j < d; j++) out[i * d + j] = Math.min(1, Math.max(0, p.clean[i * d + j] + s * z[j]));
  }
  return out;
}

export interface DetectionMetrics { auc: number | null; tprAt5Fpr: number | null; threshold: number | null; roc?: Array<{ fpr: number; tpr: number }> }

/** The ROC curve (at most ~60 points, always including (0,0) and (1,1)), for plots. */
export function rocCurve(neg: ArrayLike<number>, pos: ArrayLike<number>): Array<{ fpr: number; tpr: number }> {
  const all = [...Array.from(neg, (v) => ({ v, p: 0 })), ...Array.from(pos, (v) => ({ v, p: 1 }))].sort((a, b) => b.v - a.v);
  const pts: Array<{ fpr: number; tpr: number }> = [{ fpr: 0, tpr: 0 }];
  let tp = 0; let fp = 0;
  const every = Math.max(1, Math.floor(all.length / 60));
  for (let i = 0; i < all.length; i++) {
    if (all[i].p) tp++; else fp++;
    const tieNext = i + 1 < all.length && all[i + 1].v === all[i].v;
    if (!tieNext && (i % every === 0 || i === all.length - 1)) pts.push({ fpr: round(fp / neg.length), tpr: round(tp / pos.length) });
  }
  return pts;
}

/** The score above which at most 5 % of these negatives (clean images) are flagged. */
export function thresholdAt5Fpr(neg: ArrayLike<number>): number {
  const sorted = Array.from(neg).sort((a, b) => b - a);
  return sorted[Math.min(Math.floor(0.05 * sorted.length), sorted.length - 1)];
}

export function detectionMetrics(neg: ArrayLike<number>, pos: ArrayLike<number>): DetectionMetrics {
  if (!neg.length || !pos.length) return { auc: null, tprAt5Fpr: null, threshold: null };
  const labels = [...new Array<number>(neg.length).fill(0), ...new Array<number>(pos.length).fill(1)];
  const auc = rocAuc(labels, [...Array.from(neg), ...Array.from(pos)]);
  const threshold = thresholdAt5Fpr(neg);
  let tp = 0; for (const v of Array.from(pos)) if (v > threshold) tp++;
  return { auc: round(auc), tprAt5Fpr: round(tp / pos.length), threshold: round(threshold, 6), roc: rocCurve(neg, pos) };
}

export interface DetectionRow { attack: string; eps: number; epsText: string; n: number; auc: number | null; tprAt5Fpr: number | null; threshold: number | null; fitN: number; roc?: Array<{ fpr: number; tpr: number }> }
export interface DetectionReport { detector: string; trainAttack: string; protocol: string; results: DetectionRow[] }

export interface DetectionOptions {
  detectors: string[];
  trainImages: Images; testImages: Images;
  trainAttack: Attack; testAttacks: Attack[];
  eps: Array<{ value: number; text: string }>;
  seed?: number;
  params?: Record<string, Record<string, unknown>>;
  /** Called with each fitted detector (e.g. to save it). */
  onFitted?: (det: Detector, eps: { value: number; text: string }) => void | Promise<void>;
  onProgress?: (what: string) => void;
}

/** Fit each detector per ε on train-attack pairs, score test pairs of every test attack. */
export async function evaluateDetection(model: DifferentiableModel, o: DetectionOptions): Promise<DetectionReport[]> {
  const seed = o.seed ?? 0;
  const reports: DetectionReport[] = o.detectors.map((name) => ({ detector: createDetector(name).name, trainAttack: o.trainAttack.name, protocol: DETECTION_PROTOCOL, results: [] }));
  for (const e of o.eps) {
    o.onProgress?.(`${o.trainAttack.name} ε=${e.text} on ${o.trainImages.n} train images`);
    const fit = await adversarialPairs(model, o.trainImages, o.trainAttack, e.value, seed);
    if (fit.n < 2) throw badInput(`${o.trainAttack.name} at ε = ${e.text} fooled ${fit.n} of ${fit.attacked} train images: no successful adversarial examples to fit on (raise ε or --fit-limit)`);
    const noisy = noisyCopies(fit, seed);
    const tests: Array<{ attack: string; p: AdversarialPairs }> = [];
    for (const a of o.testAttacks) {
      o.onProgress?.(`${a.name} ε=${e.text} on ${o.testImages.n} test images`);
      tests.push({ attack: a.name, p: await adversarialPairs(model, o.testImages, a, e.value, seed + 1) });
    }
    for (const [i, name] of o.detectors.entries()) {
      o.onProgress?.(`fit ${name} at ε=${e.text}`);
      const det = createDetector(name, o.params?.[name]);
      await det.fit(model, { clean: fit.clean, labels: fit.labels, adversarial: fit.adversarial, advLabels: fit.labels, noisy: name === 'kd_bu' || name === 'lid' ? noisy : undefined, seed });
      await o.onFitted?.(det, e);
      for (const t of tests) {
        const m = t.p.n ? detectionMetrics(await det.score(model, t.p.clean, t.p.n), await det.score(model, t.p.adversarial, t.p.n)) : { auc: null, tprAt5Fpr: null, threshold: null };
        reports[i].results.push({ attack: t.attack, eps: e.value, epsText: e.text, n: t.p.n, ...m, fitN: fit.n });
      }
    }
  }
  return reports;
}
