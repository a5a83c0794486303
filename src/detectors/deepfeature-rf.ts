/**
 * Deep-feature detector — Ma X., Niu, Gu, Wang, Zhao, Bailey & Lu, "Understanding adversarial attacks
 * on deep learning based medical image analysis systems", Pattern Recognition 110 (2021).
 *
 * The paper's finding: medical adversarial examples sit far from clean ones in the deep feature space,
 * so a plain classifier on the penultimate features detects them. Here: penultimate features φ(x) →
 * PCA to 20 dimensions (fitted on the clean + adversarial fit images, `ml-pca`, centred) → random
 * forest of 100 trees (`ml-random-forest`, √p features per split, seeded bagging).
 *   score(x) = fraction of trees voting "adversarial".
 *
 * Usage: `medshield detect --model default --detector deepfeature_rf --train-attack pgd --test-attacks fgsm,pgd,cw --eps 8/255 --json`
 */
import { PCA } from 'ml-pca';
import { RandomForestClassifier } from 'ml-random-forest';
import type { DifferentiableModel } from '../models/model.js';
import type { Detector, DetectorFitData, DetectorState } from './types.js';
import { checkFitData, checkModel, concat, detectorState, featureRows, modelIdentity, toRows } from './common.js';

export interface DeepFeatureRfParams { components?: number; trees?: number; seed?: number }

interface RfState { pca: unknown; forest: unknown; components: number }

export class DeepFeatureRf implements Detector {
  readonly name = 'deepfeature_rf';
  readonly reference = 'Ma X. et al., Pattern Recognition 2021, deep features → PCA(20) → random forest';
  private model?: { name: string; sha256: string };
  private pca?: PCA;
  private forest?: RandomForestClassifier;
  private components = 20;

  constructor(readonly params: DeepFeatureRfParams = {}) {}

  async fit(model: DifferentiableModel, data: DetectorFitData): Promise<void> {
    const { nClean, nAdv } = checkFitData(this.name, model, data);
    const f = await featureRows(model, concat(data.clean, data.adversarial), nClean + nAdv);
    const rows = toRows(f.data, f.dim);
    this.components = Math.min(this.params.components ?? 20, f.dim, rows.length - 1);
    this.pca = new PCA(rows, { center: true, scale: false });
    const z = this.pca.predict(rows, { nComponents: this.components }).to2DArray();
    const y = [...new Array<number>(nClean).fill(0), ...new Array<number>(nAdv).fill(1)];
    this.forest = new RandomForestClassifier({
      nEstimators: this.params.trees ?? 100, maxFeatures: Math.max(1, Math.round(Math.sqrt(this.components))), replacement: true,
      useSampleBagging: true, seed: this.params.seed ?? data.seed ?? 0, noOOB: true,
    } as ConstructorParameters<typeof RandomForestClassifier>[0]);
    this.forest.train(z, y);
    this.model = await modelIdentity(model);
  }

  async score(model: DifferentiableModel, x: Float32Array, n: number): Promise<Float64Array> {
    await checkModel(this.name, this.model, model);
    const f = await featureRows(model, x, n);
    const z = this.pca!.predict(toRows(f.data, f.dim), { nComponents: this.components }).to2DArray();
    const votes = this.forest!.predictionValues(z).to2DArray();
    return Float64Array.from(votes, (r) => r.reduce((s, v) => s + v, 0) / r.length);
  }

  save(): DetectorState {
    return detectorState(this.name, this.model, { ...this.params }, { pca: this.pca?.toJSON(), forest: this.forest?.toJSON(), components: this.components } satisfies RfState);
  }

  static load(s: DetectorState): DeepFeatureRf {
    const d = new DeepFeatureRf(s.params as DeepFeatureRfParams);
    const st = s.state as RfState;
    d.model = s.model; d.components = st.components;
    d.pca = PCA.load(st.pca as Parameters<typeof PCA.load>[0]);
    d.forest = RandomForestClassifier.load(st.forest as Parameters<typeof RandomForestClassifier.load>[0]);
    return d;
  }
}
