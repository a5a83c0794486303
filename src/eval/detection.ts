/**
 * Detection evaluation, protocol of Ma X. et al. (Pattern Recognition 2021; also LID, ICLR 2018):
 * positives are the successful adversarial examples only (images the model classified correctly and
 * the attack fooled), negatives their clean originals. A detector is fitted per ε on a sample of
 * training images attacked with the train attack (kd_bu and lid also get noisy copies of the clean
 * images as extra negatives — Gaussian noise with the L2 size of each adversarial perturbation, as
 * Feinman et al. did), then scored on test images attacked with every test attack at the same ε
 * (fit on one attack, test on all = the generalisation matrix).
 *
 * The adversarial examples (fit and test) are crafted with the attack's full iteration budget, no
 * early stop (`DETECTION_ATTACK_DEFAULTS`), as Ma et al. (and Madry's PGD, and the LID/KD-BU code) do:
 * an attack that stops each image at its first misclassification leaves it just across the decision
 * boundary, and PGD's random start then dominates the perturbation, so at a larger ε the examples look
 * more like noise than like adversarial examples and detection fell (kd_bu 0.94 → 0.79, lid 0.82 → 0.65
 * from 8/255 to 16/255 on the default model). With full iterations every detector rises with ε
 * (deepfeature_rf 0.993 → 1.000 at the default sizes, with features and classifier cross-validated on the fit pairs);
 * at 8/255 the examples are harder to detect than the early-stopped ones were (docs/defences.md has the experiments). Callers may still pass
 * `earlyStop: true` in their attack options (`detect --early-stop`).
 *
 * Per (attack, ε): ROC AUC of the detector score, and the threshold at 5 % false positives on the
 * clean originals (the (⌊0.05·n⌋+1)-th largest clean score; flagged = score > threshold) with the true
 * positive rate there.
 *
 * Ma's separability finding (their Fig. 8): with `projection: true`, the penultimate-layer features of
 * the train attack's fit pairs (clean originals and their successful adversarial examples) are
 * projected to 2-D by PCA (`ml-pca`, centred, fitted on clean + adversarial features together), at most
 * 300 points per ε (a seeded sample of 150 pairs), for the report's scatter plots.
 */
import { Rng } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { Attack, AttackOptions } from '../attacks/types.js';
import { evaluateAttack, type Images } from './robustness.js';
import { rocAuc, round } from '../models/metrics.js';
import { createDetector } from '../detectors/registry.js';
import type { Detector } from '../detectors/types.js';
import { badInput } from '../errors.js';
import { PCA } from 'ml-pca';
import { concat, featureRows, toRows } from '../detectors/common.js';

export const DETECTION_PROTOCOL = detectionProtocol('train');

/**
 * Attack options under every detection attack unless the caller overrides them: the full iteration budget, no early
 * stop.
 */
export const DETECTION_ATTACK_DEFAULTS: Readonly<Partial<AttackOptions>> = Object.freeze({ earlyStop: false });

/** The protocol sentence for fit pairs drawn from `fitSplit`. */
export function detectionProtocol(fitSplit: string, earlyStop = false): string {
  return (
    `Ma et al.: positives = successful adversarial examples of correctly classified ` +
    `images, negatives = their clean originals; fitted per ε on ${fitSplit}` +
    `-split images attacked with the train attack, tested on test-split images; ` +
    (earlyStop ? 'attacks stopped per image at the first success' : 'attacks run their full iterations (no early stop)')
  );
}

export interface AdversarialPairs {
  clean: Float32Array;
  adversarial: Float32Array;
  labels: Int32Array;
  n: number;
  attacked: number;
  /** Per pair, its position in the attacked images (for per-sample records). */
  positions?: number[];
}

/**
 * Attack the images with `opts` (the attack's own defaults otherwise — `evaluateDetection` passes
 * `DETECTION_ATTACK_DEFAULTS`; the demo's and the scorecard's detector fits keep the attack's defaults, as their
 * verdicts were measured); keep the successful adversarial examples and their clean originals.
 */
export async function adversarialPairs(
  model: DifferentiableModel,
  img: Images,
  attack: Attack,
  eps: number,
  seed = 0,
  opts: Partial<AttackOptions> = {},
): Promise<AdversarialPairs> {
  const norm = attack.norms.includes('linf') ? 'linf' : attack.defaultNorm;
  const ev = await evaluateAttack(model, img, attack, { ...opts, eps, norm, seed });
  const d = img.x.length / img.n;
  const keep = ev.records.map((r, i) => (r.success ? i : -1)).filter((i) => i >= 0);
  const clean = new Float32Array(keep.length * d);
  const adversarial = new Float32Array(keep.length * d);
  const labels = new Int32Array(keep.length);
  keep.forEach((i, j) => {
    clean.set(img.x.subarray(i * d, (i + 1) * d), j * d);
    adversarial.set(ev.xAdv.subarray(i * d, (i + 1) * d), j * d);
    labels[j] = img.labels[i];
  });
  return { clean, adversarial, labels, n: keep.length, attacked: ev.summary.attacked, positions: keep };
}

/** Clean images plus Gaussian noise with the L2 size of each pair's adversarial perturbation, clipped to [0,1]. */
export function noisyCopies(p: AdversarialPairs, seed = 0): Float32Array {
  const d = p.clean.length / Math.max(p.n, 1);
  const rng = new Rng(seed ^ 0x4015e);
  const out = new Float32Array(p.clean.length);
  const z = new Float32Array(d);
  for (let i = 0; i < p.n; i++) {
    let l2 = 0;
    for (let j = 0; j < d; j++) l2 += (p.adversarial[i * d + j] - p.clean[i * d + j]) ** 2;
    rng.fillNormal(z);
    let zn = 0;
    for (const v of z) zn += v * v;
    const s = Math.sqrt(l2 / (zn || 1));
    for (let j = 0; j < d; j++) out[i * d + j] = Math.min(1, Math.max(0, p.clean[i * d + j] + s * z[j]));
  }
  return out;
}

export interface DetectionMetrics {
  auc: number | null;
  tprAt5Fpr: number | null;
  threshold: number | null;
  roc?: Array<{ fpr: number; tpr: number }>;
}

/** The ROC curve (at most ~60 points, always including (0,0) and (1,1)), for plots. */
export function rocCurve(neg: ArrayLike<number>, pos: ArrayLike<number>): Array<{ fpr: number; tpr: number }> {
  const all = [...Array.from(neg, (v) => ({ v, p: 0 })), ...Array.from(pos, (v) => ({ v, p: 1 }))].sort(
    (a, b) => b.v - a.v,
  );
  const pts: Array<{ fpr: number; tpr: number }> = [{ fpr: 0, tpr: 0 }];
  let tp = 0;
  let fp = 0;
  const every = Math.max(1, Math.floor(all.length / 60));
  for (let i = 0; i < all.length; i++) {
    if (all[i].p) tp++;
    else fp++;
    const tieNext = i + 1 < all.length && all[i + 1].v === all[i].v;
    if (!tieNext && (i % every === 0 || i === all.length - 1))
      pts.push({ fpr: round(fp / neg.length), tpr: round(tp / pos.length) });
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
  let tp = 0;
  for (const v of Array.from(pos)) if (v > threshold) tp++;
  return {
    auc: round(auc),
    tprAt5Fpr: round(tp / pos.length),
    threshold: round(threshold, 6),
    roc: rocCurve(neg, pos),
  };
}

export interface DetectionRow {
  attack: string;
  eps: number;
  epsText: string;
  n: number;
  auc: number | null;
  tprAt5Fpr: number | null;
  threshold: number | null;
  fitN: number;
  roc?: Array<{
    fpr: number;
    tpr: number;
  }> /** Correctly classified images the attack was run on (n of them were fooled), and the same for the fit pairs. */;
  attacked?: number;
  fitAttacked?: number;
}

/** 2-D PCA projection of penultimate features of clean originals and their successful adversarial examples (one ε). */
export interface FeatureProjection {
  eps: number;
  epsText: string;
  /** The attack that crafted the adversarial examples (the train attack; train-split fit pairs). */
  attack: string;
  /** Fraction of the feature variance on the two components. */
  explainedVariance: [number, number];
  /** Pairs used to fit the PCA, and points plotted (≤ 300). */
  pairs: number;
  points: Array<{ x: number; y: number; kind: 'clean' | 'adversarial'; label: number }>;
}

export interface DetectionReport {
  detector: string;
  trainAttack: string;
  protocol: string;
  results: DetectionRow[];
  /** One per ε, when asked for (`detect --report`): the same for every detector of the run. */
  projection?: FeatureProjection[];
}

export const PROJECTION_MAX_POINTS = 300;

/**
 * PCA to 2-D of the penultimate features of clean + adversarial pairs (fitted on both together); at most `maxPoints`
 * points, pairs kept together.
 */
export async function featureProjection(
  model: DifferentiableModel,
  p: AdversarialPairs,
  attack: string,
  eps: { value: number; text: string },
  seed = 0,
  maxPoints = PROJECTION_MAX_POINTS,
): Promise<FeatureProjection> {
  if (p.n < 2) throw badInput(`feature projection needs at least 2 adversarial pairs (got ${p.n})`);
  const f = await featureRows(model, concat(p.clean, p.adversarial), 2 * p.n, 'penultimate', 'flatten');
  const rows = toRows(f.data, f.dim);
  const pca = new PCA(rows, { center: true, scale: false });
  const ev = pca.getExplainedVariance();
  const z = pca.predict(rows, { nComponents: 2 }).to2DArray();
  let pick = Array.from({ length: p.n }, (_, i) => i);
  const maxPairs = Math.max(1, Math.floor(maxPoints / 2));
  if (pick.length > maxPairs)
    pick = Array.from((new Rng(seed ^ 0x9ca).shuffle(Int32Array.from(pick)) as Int32Array).subarray(0, maxPairs)).sort(
      (a, b) => a - b,
    );
  const pt = (r: number[] | undefined, kind: 'clean' | 'adversarial', label: number) => ({
    x: round(r?.[0] ?? 0, 4),
    y: round(r?.[1] ?? 0, 4),
    kind,
    label,
  });
  const points = pick.flatMap((i) => [pt(z[i], 'clean', p.labels[i]), pt(z[p.n + i], 'adversarial', p.labels[i])]);
  return {
    eps: eps.value,
    epsText: eps.text,
    attack,
    explainedVariance: [round(ev[0] ?? 0), round(ev[1] ?? 0)],
    pairs: p.n,
    points,
  };
}

export interface DetectionOptions {
  detectors: string[];
  trainImages: Images;
  testImages: Images;
  /** The split trainImages come from (for the protocol sentence; default 'train'). */
  fitSplit?: string;
  /** Clean training images for the detectors' density models (KD, Mahalanobis), apart from the fit pairs. */
  referenceImages?: Images;
  trainAttack: Attack;
  testAttacks: Attack[];
  eps: Array<{ value: number; text: string }>;
  seed?: number;
  params?: Record<string, Record<string, unknown>>;
  /**
   * Attack options per attack and ε (steps, step size…; ε, norm and seed are set here; over
   * `DETECTION_ATTACK_DEFAULTS`).
   */
  attackOptions?: (attack: string, eps: number) => Partial<AttackOptions>;
  /** Also compute the 2-D feature projection of the fit pairs per ε (Ma's separability plots). */
  projection?: boolean;
  /** Called with each fitted detector (e.g. to save it). */
  onFitted?: (det: Detector, eps: { value: number; text: string }) => void | Promise<void>;
  onProgress?: (what: string) => void;
  /** Called with each detector's per-pair scores on each test attack (positions index `testImages`). */
  onScores?: (s: DetectionScores) => void;
}

/** One detector's scores on the test pairs of one attack and ε: pair j is test image `positions[j]`. */
export interface DetectionScores {
  detector: string;
  attack: string;
  eps: { value: number; text: string };
  positions: number[];
  clean: ArrayLike<number>;
  adversarial: ArrayLike<number>;
}

/** Fit each detector per ε on train-attack pairs, score test pairs of every test attack. */
export async function evaluateDetection(model: DifferentiableModel, o: DetectionOptions): Promise<DetectionReport[]> {
  const seed = o.seed ?? 0;
  const earlyStop = o.attackOptions?.(o.trainAttack.name, o.eps[0]?.value ?? 0).earlyStop === true;
  const reports: DetectionReport[] = o.detectors.map((name) => ({
    detector: createDetector(name).name,
    trainAttack: o.trainAttack.name,
    protocol: detectionProtocol(o.fitSplit ?? 'train', earlyStop),
    results: [],
  }));
  for (const e of o.eps) {
    o.onProgress?.(`${o.trainAttack.name} ε=${e.text} on ${o.trainImages.n} train images`);
    const fit = await adversarialPairs(model, o.trainImages, o.trainAttack, e.value, seed, {
      ...DETECTION_ATTACK_DEFAULTS,
      ...o.attackOptions?.(o.trainAttack.name, e.value),
    });
    if (fit.n < 2)
      throw badInput(
        `${o.trainAttack.name} at ε = ${e.text} fooled ${fit.n} of ${fit.attacked} train ` +
          `images: no successful adversarial examples to fit on (raise ε or --fit-limit)`,
      );
    const noisy = noisyCopies(fit, seed);
    const tests: Array<{ attack: string; p: AdversarialPairs }> = [];
    for (const a of o.testAttacks) {
      o.onProgress?.(`${a.name} ε=${e.text} on ${o.testImages.n} test images`);
      tests.push({
        attack: a.name,
        p: await adversarialPairs(model, o.testImages, a, e.value, seed + 1, {
          ...DETECTION_ATTACK_DEFAULTS,
          ...o.attackOptions?.(a.name, e.value),
        }),
      });
    }
    if (o.projection) {
      o.onProgress?.(`feature projection at ε=${e.text} (${fit.n} ${o.trainAttack.name} pairs)`);
      const proj = await featureProjection(model, fit, o.trainAttack.name, e, seed);
      for (const r of reports) (r.projection ??= []).push(proj);
    }
    for (const [i, name] of o.detectors.entries()) {
      o.onProgress?.(`fit ${name} at ε=${e.text}`);
      const det = createDetector(name, o.params?.[name]);
      await det.fit(model, {
        clean: fit.clean,
        labels: fit.labels,
        adversarial: fit.adversarial,
        advLabels: fit.labels,
        noisy: name === 'kd_bu' || name === 'lid' ? noisy : undefined,
        seed,
        reference: o.referenceImages,
      });
      await o.onFitted?.(det, e);
      for (const t of tests) {
        const sc = t.p.n
          ? {
              clean: await det.score(model, t.p.clean, t.p.n),
              adversarial: await det.score(model, t.p.adversarial, t.p.n),
            }
          : null;
        if (sc)
          o.onScores?.({
            detector: reports[i].detector,
            attack: t.attack,
            eps: e,
            positions: t.p.positions ?? [],
            ...sc,
          });
        const m = sc ? detectionMetrics(sc.clean, sc.adversarial) : { auc: null, tprAt5Fpr: null, threshold: null };
        reports[i].results.push({
          attack: t.attack,
          eps: e.value,
          epsText: e.text,
          n: t.p.n,
          ...m,
          fitN: fit.n,
          attacked: t.p.attacked,
          fitAttacked: fit.attacked,
        });
      }
    }
  }
  return reports;
}
