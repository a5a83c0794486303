/**
 * Mahalanobis-distance detector — Lee, Lee, Lee & Shin, "A simple unified framework for detecting
 * out-of-distribution samples and adversarial attacks", NeurIPS 2018.
 *
 * Per layer ℓ (every named feature layer of the model; conv maps averaged over space, as the paper):
 * class means μ_{ℓ,c} and one shared ("tied") covariance Σ_ℓ of clean training images' features
 * (`DetectorFitData.reference` when given, else the clean fit images)
 * (shrunk by 1 % of its mean variance, Σ + 0.01·tr(Σ)/p·I, so few images still give a stable inverse).
 *   M_ℓ(x) = max_c −(φ_ℓ(x) − μ_{ℓ,c})ᵀ Σ_ℓ⁻¹ (φ_ℓ(x) − μ_{ℓ,c})
 * Input pre-processing: one FGSM-style step towards the closest class,
 *   x̂ = clip(x − ε_noise · sign ∇ₓ min_c (φ_ℓ(x) − μ_{ℓ,c})ᵀ Σ_ℓ⁻¹ (φ_ℓ(x) − μ_{ℓ,c}), 0, 1),
 * then M_ℓ(x̂) is the layer's score (clean images gain more than adversarial ones). A logistic
 * regression on the standardised layer scores separates clean (negatives) from adversarial images;
 * score = its logit (higher = more suspicious). ε_noise (in [0,1] pixel units) is tuned as the paper
 * does, over {0, 0.0005, 0.001, 0.0014, 0.002, 0.005, 0.01}: the value whose logistic regression
 * reaches the highest 2-fold cross-validated AUC on the fit pairs (each clean image and its
 * adversarial example in the same fold) is kept; `noise` fixes it instead.
 *
 * Adaptive view (`scoreTensor`): the same logit as a differentiable tensor, pre-processing included
 * (the sign of its gradient is held constant: zero derivative almost everywhere).
 *
 * Usage: `medshield detect --model default --detector mahalanobis --train-attack pgd --test-attacks fgsm,pgd --eps
 * 8/255 --json`
 */
import { Matrix, CholeskyDecomposition, pseudoInverse } from 'ml-matrix';
import { tf } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { Detector, DetectorFitData, DetectorState } from './types.js';
import { rocAuc } from '../models/metrics.js';
import {
  checkFitData,
  checkModel,
  concat,
  detectorState,
  featureRowsMany,
  featureTensor,
  Logistic,
  modelIdentity,
  preparedFor,
} from './common.js';

export interface MahalanobisParams {
  noise?: number;
  shrinkage?: number;
  layers?: string[];
}

interface LayerGaussian {
  layer: string;
  means: number[][];
  precision: number[][];
}
interface MahalanobisState {
  gaussians: LayerGaussian[];
  logistic: unknown /** ε_noise chosen at fit (absent in old saves: params.noise ?? 0.001). */;
  noise?: number /** Cross-validated AUC per candidate ε_noise. */;
  tuning?: Array<{ noise: number; auc: number }>;
}

/** Lee et al.'s candidate pre-processing magnitudes (their list, up to the ones that matter at 28 px). */
const NOISE_GRID = [0, 0.0005, 0.001, 0.0014, 0.002, 0.005, 0.01];

export class Mahalanobis implements Detector {
  readonly name = 'mahalanobis';
  readonly perImage = true;
  readonly reference =
    'Lee et al., NeurIPS 2018, class-conditional Gaussians with tied covariance + input pre-processing';
  private model?: { name: string; sha256: string };
  private st?: MahalanobisState;
  private lr?: Logistic;
  private adaptive?: { model: DifferentiableModel; layers: LayerTensors[] };

  constructor(readonly params: MahalanobisParams = {}) {}

  async fit(model: DifferentiableModel, data: DetectorFitData): Promise<void> {
    const { nClean, nAdv } = checkFitData(this.name, model, data);
    const k = model.classes.length;
    const shrink = this.params.shrinkage ?? 0.01;
    const gaussians: LayerGaussian[] = [];
    const ref = data.reference ?? { x: data.clean, labels: data.labels, n: nClean };
    const layers = this.params.layers ?? model.featureNames;
    const rows = await featureRowsMany(model, ref.x, ref.n, layers, 'mean');
    for (const [li, layer] of layers.entries()) {
      const f = rows[li]!;
      const p = f.dim;
      const means = Array.from({ length: k }, () => new Array<number>(p).fill(0));
      const counts = new Array<number>(k).fill(0);
      for (let i = 0; i < ref.n; i++) {
        const c = ref.labels[i];
        counts[c]++;
        for (let j = 0; j < p; j++) means[c][j] += f.data[i * p + j];
      }
      means.forEach((m, c) => {
        if (counts[c]) for (let j = 0; j < p; j++) m[j] /= counts[c];
      });
      const centred = new Matrix(ref.n, p);
      for (let i = 0; i < ref.n; i++)
        for (let j = 0; j < p; j++) centred.set(i, j, f.data[i * p + j] - means[ref.labels[i]][j]);
      const cov = centred.transpose().mmul(centred).div(ref.n);
      let tr = 0;
      for (let j = 0; j < p; j++) tr += cov.get(j, j);
      for (let j = 0; j < p; j++) cov.set(j, j, cov.get(j, j) + shrink * (tr / p || 1));
      const precision = inverseSym(cov);
      gaussians.push({ layer, means: means.map((m, c) => (counts[c] ? m : m.map(() => 1e6))), precision });
    }
    this.st = { gaussians, logistic: null };
    this.disposeAdaptive();
    const x = concat(data.clean, data.adversarial);
    const y = [...new Array<number>(nClean).fill(0), ...new Array<number>(nAdv).fill(1)];
    const fold = (i: number): number => (i < nClean ? i : i - nClean) % 2;
    let best: { noise: number; auc: number; rows: number[][] } | undefined;
    const tuning: Array<{ noise: number; auc: number }> = [];
    const grid = this.params.noise !== undefined ? [this.params.noise] : NOISE_GRID;
    // one gradient per image and layer serves every candidate ε_noise (the direction does not depend on it)
    const rowsPerNoise = await this.layerScoresGrid(model, x, nClean + nAdv, grid);
    grid.forEach((noise, j) => {
      const rows = rowsPerNoise[j];
      const auc = this.params.noise !== undefined ? 1 : crossValidatedAuc(rows, y, fold);
      tuning.push({ noise, auc: Math.round(auc * 1e4) / 1e4 });
      if (!best || auc > best.auc) best = { noise, auc, rows };
    });
    this.st.noise = best!.noise;
    if (tuning.length > 1) this.st.tuning = tuning;
    this.lr = new Logistic().fit(best!.rows, y);
    this.model = await modelIdentity(model);
  }

  /** Pre-processed Mahalanobis confidence per layer, one row per image. */
  async layerScores(model: DifferentiableModel, x: Float32Array, n: number): Promise<number[][]> {
    return (await this.layerScoresGrid(model, x, n, [this.st?.noise ?? this.params.noise ?? 0.001]))[0];
  }

  /**
   * `layerScores` for several ε_noise at once ([noise][image][layer]): the pre-processing direction
   * sign ∇ₓ min_c M is computed once per image and layer and reused for every ε (the same values as
   * `confidence`, which the adaptive view uses).
   */
  private async layerScoresGrid(
    model: DifferentiableModel,
    x: Float32Array,
    n: number,
    noises: number[],
    batch = 64,
  ): Promise<number[][][]> {
    const [h, w, c] = model.inputShape;
    const d = h * w * c;
    const out = noises.map(() => Array.from({ length: n }, (): number[] => []));
    for (const g of this.st!.gaussians) {
      const lg = { layer: g.layer, mu: tf.tensor2d(g.means), P: tf.tensor2d(g.precision) };
      for (let s = 0; s < n; s += batch) {
        const m = Math.min(batch, n - s);
        const t = tf.tensor4d(x.subarray(s * d, (s + m) * d), [m, h, w, c]);
        const dir = noises.some((e) => e > 0) ? tf.tidy(() => preprocessingDirection(model, lg, t)) : undefined;
        for (let j = 0; j < noises.length; j++) {
          const eps = noises[j];
          const conf = tf.tidy(() => {
            const xh = eps > 0 && dir ? (tf.clipByValue(tf.sub(t, tf.mul(eps, dir)), 0, 1) as tf.Tensor4D) : t;
            return tf.neg(tf.min(sqDistances(model, lg, xh), 1));
          });
          const v = await conf.data();
          conf.dispose();
          for (let i = 0; i < m; i++) out[j][s + i].push(v[i]);
        }
        tf.dispose([t, ...(dir ? [dir] : [])]);
      }
      lg.mu.dispose();
      lg.P.dispose();
    }
    return out;
  }

  /**
   * M_ℓ(x̂) per image, x̂ the pre-processed input. The FGSM direction sign ∇ₓ is computed on x's
   * values and held constant (its derivative is 0 almost everywhere), so this is also the exact
   * differentiable view the adaptive attacker gets.
   */
  private confidence(model: DifferentiableModel, g: LayerTensors, t: tf.Tensor4D): tf.Tensor1D {
    const eps = this.st?.noise ?? this.params.noise ?? 0.001;
    let xh = t;
    if (eps > 0) xh = tf.clipByValue(tf.sub(t, tf.mul(eps, preprocessingDirection(model, g, t))), 0, 1) as tf.Tensor4D;
    return tf.neg(tf.min(sqDistances(model, g, xh), 1)) as tf.Tensor1D;
  }

  /** The logit of score() as a differentiable tensor (pre-processing included); `prepareAdaptive` first. */
  scoreTensor(model: DifferentiableModel, x: tf.Tensor4D): tf.Tensor1D {
    const a = preparedFor(this.name, this.adaptive, model);
    return this.lr!.logitTensor(
      tf.stack(
        a.layers.map((g) => this.confidence(model, g, x)),
        1,
      ) as tf.Tensor2D,
    );
  }

  async prepareAdaptive(model: DifferentiableModel): Promise<{ exact: boolean; note: string }> {
    await checkModel(this.name, this.model, model);
    this.disposeAdaptive();
    this.adaptive = {
      model,
      layers: this.st!.gaussians.map((g) => ({
        layer: g.layer,
        mu: tf.tensor2d(g.means),
        P: tf.tensor2d(g.precision),
      })),
    };
    return {
      exact: true,
      note:
        'the same logit as score(), input pre-processing included: its FGSM direction sign(∇ₓ) ' +
        "is computed on the image's values and held constant (zero derivative almost everywhere)",
    };
  }

  private disposeAdaptive(): void {
    if (this.adaptive) tf.dispose(this.adaptive.layers.flatMap((g) => [g.mu, g.P]));
    this.adaptive = undefined;
  }

  async score(model: DifferentiableModel, x: Float32Array, n: number): Promise<Float64Array> {
    await checkModel(this.name, this.model, model);
    return this.lr!.score(await this.layerScores(model, x, n));
  }

  save(): DetectorState {
    return detectorState(this.name, this.model, { ...this.params }, { ...this.st, logistic: this.lr?.toJSON() });
  }

  static load(s: DetectorState): Mahalanobis {
    const d = new Mahalanobis(s.params as MahalanobisParams);
    d.model = s.model;
    d.st = s.state as MahalanobisState;
    d.lr = Logistic.load(d.st.logistic);
    return d;
  }
}

interface LayerTensors {
  layer: string;
  mu: tf.Tensor2D;
  P: tf.Tensor2D;
}

/** sign ∇ₓ Σ min_c M(x), computed on x's values (held constant: no derivative flows through it). */
function preprocessingDirection(model: DifferentiableModel, g: LayerTensors, t: tf.Tensor4D): tf.Tensor4D {
  const grad = tf.grad((v: tf.Tensor) => tf.sum(tf.min(sqDistances(model, g, v as tf.Tensor4D), 1)));
  return tf.sign(grad(tf.tensor4d(t.dataSync(), t.shape))) as tf.Tensor4D;
}

/** Squared Mahalanobis distances [n, k] of the layer's features (conv maps averaged over space) to the class means. */
function sqDistances(model: DifferentiableModel, g: LayerTensors, t: tf.Tensor4D): tf.Tensor2D {
  const f = featureTensor(model, t, g.layer, 'mean');
  const [k, p] = g.mu.shape;
  const m = t.shape[0];
  const diff = tf.sub(f.expandDims(1), g.mu.expandDims(0)) as tf.Tensor3D; // n × k × p
  const dp = tf.matMul(diff.reshape([m * k, p]), g.P).reshape([m, k, p]);
  return tf.sum(tf.mul(dp, diff), 2) as tf.Tensor2D;
}

/** Mean AUC of a logistic regression fitted on one fold and scored on the other, both ways. */
function crossValidatedAuc(rows: number[][], y: number[], fold: (i: number) => number): number {
  let sum = 0;
  let parts = 0;
  for (const f of [0, 1]) {
    const tr = rows.flatMap((_, i) => (fold(i) === f ? [] : [i]));
    const te = rows.flatMap((_, i) => (fold(i) === f ? [i] : []));
    if (new Set(tr.map((i) => y[i])).size < 2 || new Set(te.map((i) => y[i])).size < 2) continue;
    const lr = new Logistic().fit(
      tr.map((i) => rows[i]),
      tr.map((i) => y[i]),
    );
    const a = rocAuc(
      te.map((i) => y[i]),
      lr.score(te.map((i) => rows[i])),
    );
    if (Number.isFinite(a)) {
      sum += a;
      parts++;
    }
  }
  return parts ? sum / parts : 0;
}

/** Inverse of a symmetric positive-definite matrix (Cholesky; falls back to the pseudo-inverse). */
function inverseSym(a: Matrix): number[][] {
  try {
    const ch = new CholeskyDecomposition(a);
    if (ch.isPositiveDefinite()) return ch.solve(Matrix.eye(a.rows)).to2DArray();
  } catch {
    /* fall through */
  }
  return pseudoInverse(a).to2DArray();
}
