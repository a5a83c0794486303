/**
 * Deep-feature detector — Ma X., Niu, Gu, Wang, Zhao, Bailey & Lu, "Understanding adversarial attacks
 * on deep learning based medical image analysis systems", Pattern Recognition 110 (2021).
 *
 * The paper's finding: medical adversarial examples sit far from clean ones in the deep feature space,
 * so a plain classifier on the penultimate features detects them. Here: penultimate features φ(x) →
 * PCA to 20 dimensions (fitted on the clean + adversarial fit images, `ml-pca`, centred) → random
 * forest of 100 trees (random-forest.ts: Breiman's forest as scikit-learn grows it, ⌊√p⌋ features drawn at every
 * split, seeded bootstrap).
 *   score(x) = fraction of trees voting "adversarial" (mean class-1 leaf fraction).
 * Detectors saved before 2026-12-06 hold an `ml-random-forest` forest (features drawn once per tree); they still
 * load and score as saved.
 *
 * Adaptive view (`scoreTensor`): the forest has no gradient; `prepareAdaptive` builds a soft forest (the
 * same trees with sigmoid splits, deepfeature-rf-adaptive.ts) that mimics its vote fraction. Not exact.
 *
 * Usage: `medshield detect --model default --detector deepfeature_rf --train-attack pgd --test-attacks fgsm,pgd,cw
 * --eps 8/255 --json`
 */
import { PCA } from 'ml-pca';
import { RandomForestClassifier } from 'ml-random-forest';
import { RandomForest, type ForestNode } from './random-forest.js';
import type { tf } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { Detector, DetectorFitData, DetectorState } from './types.js';
import {
  checkFitData,
  checkModel,
  concat,
  detectorState,
  featureRows,
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
}

interface RfState {
  pca: unknown;
  forest: unknown;
  components: number;
}

export class DeepFeatureRf implements Detector {
  readonly name = 'deepfeature_rf';
  readonly reference = 'Ma X. et al., Pattern Recognition 2021, deep features → PCA(20) → random forest';
  private model?: { name: string; sha256: string };
  private pca?: PCA;
  private forest?: RandomForest | RandomForestClassifier;
  private components = 20;
  private adaptive?: SoftForest;

  constructor(readonly params: DeepFeatureRfParams = {}) {}

  async fit(model: DifferentiableModel, data: DetectorFitData): Promise<void> {
    const { nClean, nAdv } = checkFitData(this.name, model, data);
    const f = await featureRows(model, concat(data.clean, data.adversarial), nClean + nAdv);
    const rows = toRows(f.data, f.dim);
    this.components = Math.min(this.params.components ?? 20, f.dim, rows.length - 1);
    this.pca = new PCA(rows, { center: true, scale: false });
    const z = this.pca.predict(rows, { nComponents: this.components }).to2DArray();
    const y = [...new Array<number>(nClean).fill(0), ...new Array<number>(nAdv).fill(1)];
    this.forest = RandomForest.fit(z, y, { trees: this.params.trees ?? 100, seed: this.params.seed ?? data.seed ?? 0 });
    disposeSoftForest(this.adaptive);
    this.adaptive = undefined;
    this.model = await modelIdentity(model);
  }

  async score(model: DifferentiableModel, x: Float32Array, n: number): Promise<Float64Array> {
    await checkModel(this.name, this.model, model);
    const f = await featureRows(model, x, n);
    return this.votes(this.pca!.predict(toRows(f.data, f.dim), { nComponents: this.components }).to2DArray());
  }

  /** Fraction of trees voting "adversarial" for PCA coordinates z. */
  private votes(z: number[][]): Float64Array {
    const f = this.forest!;
    if (f instanceof RandomForest) return f.predict(z);
    return Float64Array.from(f.predictionValues(z).to2DArray(), (r) => r.reduce((s, v) => s + v, 0) / r.length);
  }

  /** The forest in the shape the soft forest reads (ml-random-forest's: per-tree feature indexes, nodes). */
  private forestLike(): ForestLike {
    const f = this.forest!;
    if (!(f instanceof RandomForest)) return f as unknown as ForestLike;
    const all = Array.from({ length: f.features }, (_, j) => j);
    const node = (nd: ForestNode): ForestLike['estimators'][number]['root'] =>
      nd.p !== undefined
        ? { distribution: { to1DArray: () => [1 - nd.p!, nd.p!] } }
        : { splitColumn: nd.f, splitValue: nd.t, left: node(nd.l!), right: node(nd.r!) };
    return { indexes: f.trees.map(() => all), estimators: f.trees.map((t) => ({ root: node(t) })) };
  }

  /** The soft forest's vote fraction in (0,1) ≈ score(), differentiable; `prepareAdaptive` first. */
  scoreTensor(model: DifferentiableModel, x: tf.Tensor4D): tf.Tensor1D {
    return softForestTensor(preparedFor(this.name, this.adaptive, model), x);
  }

  /**
   * Build the soft forest (also after `load`). With `data` (the fit images), its temperature is
   * calibrated so it ranks them, and copies between and around them, as the forest does.
   */
  async prepareAdaptive(model: DifferentiableModel, data?: DetectorFitData): Promise<{ exact: boolean; note: string }> {
    await checkModel(this.name, this.model, model);
    if (data) checkFitData(this.name, model, data);
    disposeSoftForest(this.adaptive);
    this.adaptive = undefined;
    const { soft, agreement } = await prepareSoftForest(
      model,
      this.pca!.toJSON() as PcaJson,
      this.components,
      this.forestLike(),
      this.pca!.getStandardDeviations(),
      (z) => this.votes(z),
      data,
      this.params.seed ?? data?.seed ?? 0,
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

  save(): DetectorState {
    return detectorState(this.name, this.model, { ...this.params }, {
      pca: this.pca?.toJSON(),
      forest: this.forest?.toJSON(),
      components: this.components,
    } satisfies RfState);
  }

  static load(s: DetectorState): DeepFeatureRf {
    const d = new DeepFeatureRf(s.params as DeepFeatureRfParams);
    const st = s.state as RfState;
    d.model = s.model;
    d.components = st.components;
    d.pca = PCA.load(st.pca as Parameters<typeof PCA.load>[0]);
    d.forest = RandomForest.isJson(st.forest)
      ? RandomForest.load(st.forest)
      : RandomForestClassifier.load(st.forest as Parameters<typeof RandomForestClassifier.load>[0]);
    return d;
  }
}
