/**
 * Kernel density + Bayesian uncertainty — Feinman, Curtin, Shintre & Gardner, "Detecting adversarial
 * samples from artifacts", arXiv:1703.00410 (2017).
 *
 * - KD(x) = log (1/|X_t|) Σ_{x_i ∈ X_t} exp(−‖φ(x) − φ(x_i)‖² / (2h²)), a Gaussian kernel density of the
 *   penultimate features φ over the clean training images X_t of the class t the model predicts for x
 *   (low for adversarial examples, which sit off the class manifold). X_t comes from
 *   `DetectorFitData.reference` when given (`detect` passes training-split images and fits on
 *   validation pairs), else from the clean fit images.
 * - BU(x) = (1/T) Σ_t ‖p_t(x)‖² − ‖(1/T) Σ_t p_t(x)‖² over T stochastic forward passes with dropout
 *   (MC dropout). Our architectures (CNN, ResNet-18) have no dropout layer, so dropout p = 0.5
 *   (inverted, ×1/(1−p)) is applied to the penultimate features before the final dense layer `logits`,
 *   T = 50 masks drawn from the seeded Rng.
 * - A logistic regression on the standardised (KD, BU) separates clean and noisy images (negatives)
 *   from adversarial ones (positives); score = its logit.
 *
 * Bandwidth: the paper uses 1.20 (MNIST) and 0.26 (CIFAR-10) for its networks' feature scales; ours
 * is set from the data: h = ½ × the median pairwise distance of the clean training features (override
 * with params.bandwidth).
 *
 * Adaptive view (`scoreTensor`, kd-bu-adaptive.ts): the same logit as a differentiable tensor.
 *
 * Usage: `medshield detect --model default --detector kd_bu --train-attack pgd --test-attacks fgsm,pgd --eps 8/255
 * --json`
 */
import { tf, Rng } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { Detector, DetectorFitData, DetectorState } from './types.js';
import {
  checkFitData,
  checkModel,
  concat,
  detectorState,
  featureRows,
  Logistic,
  modelIdentity,
  predictedClasses,
  preparedFor,
} from './common.js';
import {
  disposeKdBuAdaptive,
  dropoutMasks,
  kdBuTensor,
  logitsDense,
  prepareKdBuAdaptive,
  type KdBuAdaptive,
} from './kd-bu-adaptive.js';

export interface KdBuParams {
  bandwidth?: number;
  dropout?: number;
  passes?: number;
  seed?: number;
  maxPerClass?: number;
}

interface KdBuState {
  bandwidth: number;
  dim: number;
  classFeatures: number[][][];
  logistic: unknown;
}

export class KdBu implements Detector {
  readonly name = 'kd_bu';
  readonly reference = 'Feinman et al. 2017, kernel density + Bayesian (MC-dropout) uncertainty';
  private model?: { name: string; sha256: string };
  private st?: KdBuState;
  private lr?: Logistic;
  private adaptive?: KdBuAdaptive;

  constructor(readonly params: KdBuParams = {}) {}

  async fit(model: DifferentiableModel, data: DetectorFitData): Promise<void> {
    const { nClean, nAdv, nNoisy } = checkFitData(this.name, model, data);
    const k = model.classes.length;
    const maxPer = this.params.maxPerClass ?? 500;
    const ref = data.reference ?? { x: data.clean, labels: data.labels, n: nClean };
    const f = await featureRows(model, ref.x, ref.n);
    const classFeatures: number[][][] = Array.from({ length: k }, () => []);
    for (let i = 0; i < ref.n; i++)
      if (classFeatures[ref.labels[i]].length < maxPer)
        classFeatures[ref.labels[i]].push(Array.from(f.data.subarray(i * f.dim, (i + 1) * f.dim)));
    const bandwidth = this.params.bandwidth ?? 0.5 * medianDistance(classFeatures.flat(), data.seed ?? 0);
    this.st = { bandwidth, dim: f.dim, classFeatures, logistic: null };
    const x = concat(data.clean, ...(data.noisy ? [data.noisy] : []), data.adversarial);
    const chars = await this.characteristics(model, x, nClean + nNoisy + nAdv);
    const y = [...new Array<number>(nClean + nNoisy).fill(0), ...new Array<number>(nAdv).fill(1)];
    this.lr = new Logistic().fit(chars, y);
    disposeKdBuAdaptive(this.adaptive);
    this.adaptive = undefined;
    this.model = await modelIdentity(model);
  }

  /** (KD, BU) per image. */
  async characteristics(model: DifferentiableModel, x: Float32Array, n: number): Promise<number[][]> {
    const st = this.st!;
    const f = await featureRows(model, x, n);
    const pred = await predictedClasses(model, x, n);
    const bu = await this.uncertainty(model, f.data, n, f.dim);
    const h2 = 2 * st.bandwidth * st.bandwidth;
    return Array.from({ length: n }, (_, i) => {
      const v = f.data.subarray(i * f.dim, (i + 1) * f.dim);
      const ref = st.classFeatures[pred[i]].length ? st.classFeatures[pred[i]] : st.classFeatures.flat();
      const logs = ref.map((r) => {
        let s = 0;
        for (let j = 0; j < f.dim; j++) s += (v[j] - r[j]) ** 2;
        return -s / h2;
      });
      const m = Math.max(...logs);
      const kd = m + Math.log(logs.reduce((a, l) => a + Math.exp(l - m), 0) / logs.length);
      return [kd, bu[i]];
    });
  }

  /** MC-dropout variance on the penultimate features through the final dense layer. */
  private async uncertainty(
    model: DifferentiableModel,
    feats: Float32Array,
    n: number,
    dim: number,
  ): Promise<Float64Array> {
    const { W, b } = logitsDense(model);
    const T = this.params.passes ?? 50;
    const k = model.classes.length;
    const sumSq = new Float64Array(n);
    const mean = new Float64Array(n * k);
    const F = tf.tensor2d(feats, [n, dim]);
    for (const mask of dropoutMasks(this.params, n * dim)) {
      const probs = tf.tidy(() => tf.softmax(tf.add(tf.matMul(tf.mul(F, tf.tensor2d(mask, [n, dim])), W), b)));
      const pv = (await probs.data()) as Float32Array;
      probs.dispose();
      for (let i = 0; i < n; i++)
        for (let j = 0; j < k; j++) {
          const q = pv[i * k + j];
          sumSq[i] += (q * q) / T;
          mean[i * k + j] += q / T;
        }
    }
    F.dispose();
    return Float64Array.from({ length: n }, (_, i) => {
      let s = 0;
      for (let j = 0; j < k; j++) s += mean[i * k + j] ** 2;
      return sumSq[i] - s;
    });
  }

  /** The score as a differentiable tensor (kd-bu-adaptive.ts); `prepareAdaptive` first. */
  scoreTensor(model: DifferentiableModel, x: tf.Tensor4D): tf.Tensor1D {
    return kdBuTensor(preparedFor(this.name, this.adaptive, model), this.lr!, this.params, x);
  }

  async prepareAdaptive(model: DifferentiableModel): Promise<{ exact: boolean; note: string }> {
    await checkModel(this.name, this.model, model);
    disposeKdBuAdaptive(this.adaptive);
    this.adaptive = prepareKdBuAdaptive(model, this.st!);
    return {
      exact: true,
      note:
        'KD exact (predicted class held constant); BU uses the same seeded dropout masks ' +
        'as score() for a batch of the same size, so it is deterministic and differentiable',
    };
  }

  async score(model: DifferentiableModel, x: Float32Array, n: number): Promise<Float64Array> {
    await checkModel(this.name, this.model, model);
    return this.lr!.score(await this.characteristics(model, x, n));
  }

  save(): DetectorState {
    return detectorState(this.name, this.model, { ...this.params }, { ...this.st, logistic: this.lr?.toJSON() });
  }

  static load(s: DetectorState): KdBu {
    const d = new KdBu(s.params as KdBuParams);
    d.model = s.model;
    d.st = s.state as KdBuState;
    d.lr = Logistic.load(d.st.logistic);
    return d;
  }
}

/** Median pairwise Euclidean distance over (a seeded sample of at most 200 of) the rows. */
function medianDistance(rows: number[][], seed = 0): number {
  const rng = new Rng(seed ^ 0x5eed);
  const pick = rows.length <= 200 ? rows : Array.from({ length: 200 }, () => rows[rng.int(rows.length)]);
  const d: number[] = [];
  for (let i = 0; i < pick.length; i++)
    for (let j = i + 1; j < pick.length; j++) {
      let s = 0;
      for (let q = 0; q < pick[i].length; q++) s += (pick[i][q] - pick[j][q]) ** 2;
      d.push(Math.sqrt(s));
    }
  d.sort((a, b) => a - b);
  return d.length ? d[Math.floor(d.length / 2)] || 1 : 1;
}
