/**
 * Deep-feature detector — Ma X., Niu, Gu, Wang, Zhao, Bailey & Lu, "Understanding adversarial attacks
 * on deep learning based medical image analysis systems", Pattern Recognition 110 (2021).
 *
 * The paper's finding: medical adversarial examples sit far from clean ones in the deep feature space,
 * so a plain classifier on deep features detects them (Ma et al.: the second-last layer's features, a
 * random forest). Here, as there: features φ(x) → PCA to 20 dimensions (fitted on the clean + adversarial fit
 * images, `ml-pca`, centred) → random forest of 100 trees (random-forest.ts: Breiman's forest as scikit-learn
 * grows it, ⌊√p⌋ features drawn at every split, seeded bootstrap);
 *   score(x) = fraction of trees voting "adversarial" (mean class-1 leaf fraction).
 * Which features: the penultimate layer (Ma et al.) or Lee et al.'s feature ensemble (NeurIPS 2018: every
 * feature layer, each averaged over space, φ(x) = [mean_{h,w} f_ℓ(x)]_ℓ, standardised before the PCA) — and,
 * on the ensemble, the forest or a logistic regression (score = its logit wᵀ(φ(x) − m)/s + b). The fit picks the
 * candidate (`DEEP_FEATURE_CANDIDATES`) with the highest k-fold cross-validated AUC on the fit pairs (each clean
 * image and its adversarial example in the same fold; ties keep the earlier, Ma's first), as Lee et al. tune their
 * detector on validation pairs; `layers` / `classifier` fix it instead. On the default model the penultimate
 * features cap any classifier near 0.94 AUC at PGD 8/255, while the early layers carry the perturbation
 * (docs/defences.md, "The forest, the features and the 8/255 ceiling").
 * Detectors saved before 2026-12-06 hold penultimate features and an `ml-random-forest` forest (features drawn
 * once per tree); they still load and score as saved.
 *
 * Adaptive view (`scoreTensor`): the logistic regression's logit is exact; the forest has no gradient, so
 * `prepareAdaptive` builds a soft forest (the same trees with sigmoid splits, deepfeature-rf-adaptive.ts) that
 * mimics its vote fraction. Not exact.
 *
 * Usage: `medshield detect --model default --detector deepfeature_rf --train-attack pgd --test-attacks fgsm,pgd,cw
 * --eps 8/255 --json`
 */
import { PCA } from 'ml-pca';
import { RandomForestClassifier } from 'ml-random-forest';
import { RandomForest, type ForestNode } from './random-forest.js';
import { RidgeLogistic, type RidgeLogisticJson } from './ridge-logistic.js';
import type { tf } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { Detector, DetectorFitData, DetectorState } from './types.js';
import { rocAuc } from '../models/metrics.js';
import { badInput } from '../errors.js';
import {
  checkFitData,
  checkModel,
  concat,
  detectorState,
  layerFeatureRows,
  layerFeatureTensor,
  modelIdentity,
  preparedFor,
  toRows,
} from './common.js';
import {
  disposeSoftForest,
  prepareSoftForest,
  softForestTensor,
  type ForestLike,
  type PcaJson,
  type SoftForest,
} from './deepfeature-rf-adaptive.js';

export interface DeepFeatureRfParams {
  components?: number;
  trees?: number;
  seed?: number;
  /** Feature layers (default: chosen by cross-validation on the fit pairs, see `deepFeatureCandidates`). */
  layers?: string[];
  /** `forest` (Ma et al.) or `logistic` (default: chosen with the layers). */
  classifier?: DeepFeatureClassifier;
  /** The logistic regression's L2 weight λ (default: cross-validated over `LAMBDAS`). */
  lambda?: number;
  /** Cross-validation folds for the choice (default 3; pairs stay together). */
  folds?: number;
}

export type DeepFeatureClassifier = 'forest' | 'logistic';

/** One candidate of the cross-validated choice: feature layers, classifier, and λ for the logistic regression. */
export interface DeepFeatureCandidate {
  layers: string[];
  classifier: DeepFeatureClassifier;
  lambda?: number;
}

/** The logistic regression's candidate L2 weights. */
export const LAMBDAS = [1e-2, 1e-3, 1e-4, 1e-5];

/**
 * The candidates, in order of preference on ties: Ma et al.'s penultimate features with the forest first; Lee et
 * al.'s feature ensemble (every distinct feature layer, averaged over space) with the forest; then each feature
 * layer alone (averaged over space) with the logistic regression at each λ.
 */
export function deepFeatureCandidates(layers: string[]): DeepFeatureCandidate[] {
  return [
    { layers: ['penultimate'], classifier: 'forest' },
    { layers, classifier: 'forest' },
    ...layers.flatMap((l) => LAMBDAS.map((lambda) => ({ layers: [l], classifier: 'logistic' as const, lambda }))),
  ];
}

interface RfState {
  pca?: unknown;
  forest?: unknown;
  components: number;
  /** Absent in saves before 2026-12-06 (penultimate features, forest). */
  layers?: string[];
  classifier?: DeepFeatureClassifier;
  logistic?: RidgeLogisticJson;
  /** Standardisation before the PCA (several layers). */
  scaler?: Scaler;
  /** Cross-validated AUC per candidate on the fit pairs. */
  selection?: Array<{ layers: string[]; classifier: DeepFeatureClassifier; lambda?: number; auc: number }>;
}

/** Column means and standard deviations (1 where a feature is constant) the rows are standardised by. */
interface Scaler {
  mean: number[];
  std: number[];
}

type Fitted =
  | {
      classifier: 'forest';
      pca: PCA;
      forest: RandomForest | RandomForestClassifier;
      components: number;
      scaler?: Scaler;
    }
  | { classifier: 'logistic'; lr: RidgeLogistic };

export class DeepFeatureRf implements Detector {
  readonly name = 'deepfeature_rf';
  readonly perImage = true;
  readonly reference =
    'Ma X. et al., Pattern Recognition 2021, deep features → PCA(20) → random forest; ' +
    'layers and classifier cross-validated (Lee et al., NeurIPS 2018, feature ensemble)';
  private model?: { name: string; sha256: string };
  private layers: string[] = ['penultimate'];
  private fitted?: Fitted;
  private selection?: RfState['selection'];
  private adaptive?: SoftForest | { model: DifferentiableModel; lr: RidgeLogistic };

  constructor(readonly params: DeepFeatureRfParams = {}) {}

  /** Layers, classifier and the cross-validated AUCs the fit chose (after `fit`/`load`). */
  get choice(): {
    layers: string[];
    classifier: DeepFeatureClassifier;
    lambda?: number;
    selection?: RfState['selection'];
  } {
    const m = this.fitted;
    return {
      layers: this.layers,
      classifier: m?.classifier ?? 'forest',
      lambda: m?.classifier === 'logistic' ? m.lr.lambda : undefined,
      selection: this.selection,
    };
  }

  async fit(model: DifferentiableModel, data: DetectorFitData): Promise<void> {
    const { nClean, nAdv } = checkFitData(this.name, model, data);
    const x = concat(data.clean, data.adversarial);
    const n = nClean + nAdv;
    const y = [...new Array<number>(nClean).fill(0), ...new Array<number>(nAdv).fill(1)];
    const seed = this.params.seed ?? data.seed ?? 0;
    // per-layer features (spatial means), computed once; a layer equal to an earlier one (a ResNet's last block
    // averaged over space is its penultimate layer) is left out of the ensemble
    const perLayer = new Map<string, { data: Float32Array; dim: number }>();
    const featuresOf = async (layer: string): Promise<{ data: Float32Array; dim: number }> => {
      if (!perLayer.has(layer)) {
        const f = await layerFeatureRows(model, x, n, [layer]);
        // a non-finite feature would silently drop its candidates from the choice: refuse instead
        if (!f.data.every(Number.isFinite))
          throw badInput(`detector '${this.name}': layer '${layer}' gave non-finite features on the fit images`);
        perLayer.set(layer, f);
      }
      return perLayer.get(layer)!;
    };
    const rowsOf = async (layers: string[]): Promise<number[][]> => {
      const parts: Array<{ data: Float32Array; dim: number }> = [];
      for (const l of layers) parts.push(await featuresOf(l));
      return Array.from({ length: n }, (_, i) =>
        parts.flatMap((p) => Array.from(p.data.subarray(i * p.dim, (i + 1) * p.dim))),
      );
    };
    let candidates: DeepFeatureCandidate[];
    if (this.params.layers && this.params.classifier)
      candidates = [{ layers: this.params.layers, classifier: this.params.classifier, lambda: this.params.lambda }];
    else {
      const distinct: string[] = [];
      for (const l of model.featureNames) {
        const f = await featuresOf(l);
        const same = distinct.some((k) => {
          const g = perLayer.get(k)!;
          return g.dim === f.dim && g.data.every((v, j) => Math.abs(v - f.data[j]) <= 1e-5 * (1 + Math.abs(v)));
        });
        if (!same) distinct.push(l);
      }
      candidates = deepFeatureCandidates(distinct).filter(
        (c) =>
          (!this.params.classifier || c.classifier === this.params.classifier) &&
          (!this.params.layers || c.layers.join() === this.params.layers.join()) &&
          (this.params.lambda === undefined || c.lambda === undefined || c.lambda === this.params.lambda),
      );
      if (candidates.length === 0)
        candidates = [
          { layers: this.params.layers ?? ['penultimate'], classifier: this.params.classifier ?? 'forest' },
        ];
    }
    let best = candidates[0];
    this.selection = undefined;
    if (candidates.length > 1) {
      const k = this.params.folds ?? 3;
      const fold = (i: number): number => (i < nClean ? i : i - nClean) % k;
      this.selection = [];
      let bestAuc = -1;
      for (const c of candidates) {
        const r = await rowsOf(c.layers);
        let sum = 0;
        let parts = 0;
        for (let f = 0; f < k; f++) {
          const tr = r.flatMap((_, i) => (fold(i) === f ? [] : [i]));
          const te = r.flatMap((_, i) => (fold(i) === f ? [i] : []));
          const ytr = tr.map((i) => y[i]);
          const yte = te.map((i) => y[i]);
          if (new Set(ytr).size < 2 || new Set(yte).size < 2) continue;
          const m = fitClassifier(
            c,
            tr.map((i) => r[i]),
            ytr,
            this.params,
            seed,
          );
          const a = rocAuc(
            yte,
            scoreFitted(
              m,
              te.map((i) => r[i]),
            ),
          );
          if (Number.isFinite(a)) {
            sum += a;
            parts++;
          }
        }
        const auc = parts ? sum / parts : 0;
        this.selection.push({ ...c, auc: Math.round(auc * 1e4) / 1e4 });
        if (auc > bestAuc) {
          bestAuc = auc;
          best = c;
        }
      }
    }
    this.layers = best.layers;
    this.fitted = fitClassifier(best, await rowsOf(best.layers), y, this.params, seed);
    this.disposeAdaptive();
    this.model = await modelIdentity(model);
  }

  async score(model: DifferentiableModel, x: Float32Array, n: number): Promise<Float64Array> {
    await checkModel(this.name, this.model, model);
    const f = await layerFeatureRows(model, x, n, this.layers);
    return scoreFitted(this.fitted!, toRows(f.data, f.dim));
  }

  /** The soft forest (or the logistic regression's logit) ≈ score(), differentiable; `prepareAdaptive` first. */
  scoreTensor(model: DifferentiableModel, x: tf.Tensor4D): tf.Tensor1D {
    const a = preparedFor(this.name, this.adaptive, model);
    if ('lr' in a) return a.lr.logitTensor(layerFeatureTensor(model, x, this.layers));
    return softForestTensor(a, x);
  }

  /**
   * The logistic regression: its logit as a tensor (exact). The forest: build the soft forest (also after `load`);
   * with `data` (the fit images), its temperature is calibrated so it ranks them, and copies between and around
   * them, as the forest does.
   */
  async prepareAdaptive(model: DifferentiableModel, data?: DetectorFitData): Promise<{ exact: boolean; note: string }> {
    await checkModel(this.name, this.model, model);
    if (data) checkFitData(this.name, model, data);
    this.disposeAdaptive();
    const m = this.fitted!;
    if (m.classifier === 'logistic') {
      this.adaptive = { model, lr: m.lr };
      return {
        exact: true,
        note: `the logistic regression's logit on the ${this.layers.join(', ')} features (spatial means), as score()`,
      };
    }
    // standardising before the PCA is folded into it: z = ((φ − m)/s − μ)U = (φ − (m + s∘μ)) diag(1/s) U
    const pj = m.pca.toJSON() as PcaJson;
    const { soft, agreement } = await prepareSoftForest(
      model,
      m.scaler
        ? {
            ...pj,
            center: true,
            scale: true,
            means: pj.means.map((v, j) => m.scaler!.mean[j] + m.scaler!.std[j] * v),
            stdevs: m.scaler.std,
          }
        : pj,
      m.components,
      forestLike(m.forest),
      m.pca.getStandardDeviations(),
      (z) => votes(m.forest, z),
      data,
      this.params.seed ?? data?.seed ?? 0,
      this.layers,
    );
    this.adaptive = soft;
    const cal =
      agreement === undefined
        ? 'α = 0.05 (no data given to calibrate it)'
        : `α = ${soft.alpha}, Spearman ${agreement.toFixed(3)} ` +
          `with the forest on the fit images and copies around them`;
    return {
      exact: false,
      note:
        `surrogate: soft forest (the ${soft.trees} trees with ` +
        `sigmoid splits, temperature α·std per PCA coordinate; ${cal})`,
    };
  }

  private disposeAdaptive(): void {
    if (this.adaptive && !('lr' in this.adaptive)) disposeSoftForest(this.adaptive);
    this.adaptive = undefined;
  }

  save(): DetectorState {
    const m = this.fitted;
    return detectorState(this.name, this.model, { ...this.params }, {
      layers: this.layers,
      classifier: m?.classifier ?? 'forest',
      selection: this.selection,
      ...(m?.classifier === 'logistic'
        ? { logistic: m.lr.toJSON(), components: 0 }
        : {
            pca: m?.pca.toJSON(),
            forest: m?.forest.toJSON(),
            components: m?.components ?? 0,
            scaler: m?.scaler,
          }),
    } satisfies RfState);
  }

  static load(s: DetectorState): DeepFeatureRf {
    const d = new DeepFeatureRf(s.params as DeepFeatureRfParams);
    const st = s.state as RfState;
    d.model = s.model;
    d.layers = st.layers ?? ['penultimate'];
    d.selection = st.selection;
    if (st.classifier === 'logistic' && RidgeLogistic.isJson(st.logistic))
      d.fitted = { classifier: 'logistic', lr: RidgeLogistic.load(st.logistic) };
    else
      d.fitted = {
        classifier: 'forest',
        components: st.components,
        scaler: st.scaler,
        pca: PCA.load(st.pca as Parameters<typeof PCA.load>[0]),
        forest: RandomForest.isJson(st.forest)
          ? RandomForest.load(st.forest)
          : RandomForestClassifier.load(st.forest as Parameters<typeof RandomForestClassifier.load>[0]),
      };
    return d;
  }
}

/**
 * Fit one classifier on feature rows: PCA (standardised when several layers are concatenated) + forest, or the
 * logistic regression (on standardised features).
 */
function fitClassifier(
  c: DeepFeatureCandidate,
  rows: number[][],
  y: number[],
  params: DeepFeatureRfParams,
  seed: number,
): Fitted {
  if (c.classifier === 'logistic')
    return { classifier: 'logistic', lr: RidgeLogistic.fit(rows, y, c.lambda ?? params.lambda ?? 1e-4) };
  const classifier = 'forest';
  const components = Math.min(params.components ?? 20, rows[0].length, rows.length - 1);
  const scaler = c.layers.length > 1 ? scalerOf(rows) : undefined;
  const x = standardised(rows, scaler);
  const pca = new PCA(x, { center: true, scale: false });
  const z = pca.predict(x, { nComponents: components }).to2DArray();
  return {
    classifier,
    pca,
    components,
    scaler,
    forest: RandomForest.fit(z, y, { trees: params.trees ?? 100, seed }),
  };
}

function scalerOf(rows: number[][]): Scaler {
  const n = rows.length;
  const p = rows[0].length;
  const mean = new Array<number>(p).fill(0);
  const std = new Array<number>(p).fill(0);
  for (const r of rows) for (let j = 0; j < p; j++) mean[j] += r[j] / n;
  for (const r of rows) for (let j = 0; j < p; j++) std[j] += (r[j] - mean[j]) ** 2 / n;
  return { mean, std: std.map((v) => Math.sqrt(v) || 1) };
}

function standardised(rows: number[][], s?: Scaler): number[][] {
  return s ? rows.map((r) => r.map((v, j) => (v - s.mean[j]) / s.std[j])) : rows;
}

function scoreFitted(m: Fitted, rows: number[][]): Float64Array {
  if (m.classifier === 'logistic') return m.lr.score(rows);
  return votes(m.forest, m.pca.predict(standardised(rows, m.scaler), { nComponents: m.components }).to2DArray());
}

/** Fraction of trees voting "adversarial" for PCA coordinates z. */
function votes(f: RandomForest | RandomForestClassifier, z: number[][]): Float64Array {
  if (f instanceof RandomForest) return f.predict(z);
  return Float64Array.from(f.predictionValues(z).to2DArray(), (r) => r.reduce((s, v) => s + v, 0) / r.length);
}

/** The forest in the shape the soft forest reads (ml-random-forest's: per-tree feature indexes, nodes). */
function forestLike(f: RandomForest | RandomForestClassifier): ForestLike {
  if (!(f instanceof RandomForest)) return f as unknown as ForestLike;
  const all = Array.from({ length: f.features }, (_, j) => j);
  const node = (nd: ForestNode): ForestLike['estimators'][number]['root'] =>
    nd.p !== undefined
      ? { distribution: { to1DArray: () => [1 - nd.p!, nd.p!] } }
      : { splitColumn: nd.f, splitValue: nd.t, left: node(nd.l!), right: node(nd.r!) };
  return { indexes: f.trees.map(() => all), estimators: f.trees.map((t) => ({ root: node(t) })) };
}
