/**
 * The small interface every adversarial-example detector plugs into (ARCHITECTURE.md: "Detector:
 * fit(cleanFeatures, advFeatures), score(x) → number[], save/load").
 *
 * A detector is fitted on clean images and (successful) adversarial images of one model and
 * scores new images: higher = more suspicious. It reads the model through `DifferentiableModel`
 * (features of named layers, logits, gradients where its paper needs them); what it stores is tied
 * to that model (`modelSha` in its saved state), and scoring images for a different model is refused.
 *
 * Protocol (Ma et al. 2021): only successful adversarial examples are positives, their clean
 * originals the negatives; AUC, TPR at 5 % FPR and the threshold are reported per attack.
 */
import type { DifferentiableModel } from '../models/model.js';
import type { tf } from '../engine/index.js';

export interface DetectorFitData {
  /** Clean images (n × d, NHWC rows in [0,1]) and their labels. */
  clean: Float32Array;
  labels: Int32Array;
  /** Adversarial images (m × d) that fooled the model (positives), with the labels of their originals. */
  adversarial: Float32Array;
  advLabels: Int32Array;
  /** Noisy clean images (KD-BU, LID use them as extra negatives, as the papers do), optional. */
  noisy?: Float32Array;
  /**
   * Clean training images for the density models — KD's kernel density, Mahalanobis's class
   * Gaussians — which the papers estimate on the training set, apart from the images the regression
   * is fitted on. Without it the clean fit images serve both, and they then sit closer to their own
   * density estimate than any new image does (the regression learns an optimistic clean score).
   */
  reference?: { x: Float32Array; labels: Int32Array; n: number };
  seed?: number;
}

export interface Detector {
  /** Registry name (`kd_bu`, `lid`, `mahalanobis`, `deepfeature_rf`, `squeeze`, `magnet`). */
  readonly name: string;
  readonly reference: string;
  fit(model: DifferentiableModel, data: DetectorFitData): Promise<void>;
  /** One score per image (higher = more likely adversarial). */
  score(model: DifferentiableModel, x: Float32Array, n: number): Promise<Float64Array>;
  /**
   * True when an image's score depends on that image alone, not on the others in the batch or their order, up to the
   * float rounding of batched kernels (KD+BU's dropout masks follow the position in the batch: false there): a judge
   * may then score only the images it needs.
   */
  readonly perImage?: boolean;
  /** JSON-serialisable fitted state (plus the model identity it belongs to). */
  save(): DetectorState;
  /**
   * The adaptive attacker's view of `score` (Carlini & Wagner 2017, "not easily detected"): a
   * differentiable tensor [n] on the same scale as `score` (higher = more suspicious), built inside
   * the caller's tf.tidy/tf.grad. Exact where the statistic is differentiable (KD, Mahalanobis, LID
   * against the stored reference batch, MagNet's reconstruction error); a surrogate where it is not
   * (random forest: a model trained to mimic it; squeezers: BPDA straight-through). Call
   * `prepareAdaptive` once (after fit/load) before using it.
   */
  scoreTensor?(model: DifferentiableModel, x: tf.Tensor4D): tf.Tensor1D;
  /**
   * Precompute what `scoreTensor` needs (reference features, surrogate fit); `exact` says whether scoreTensor = score.
   */
  prepareAdaptive?(model: DifferentiableModel, data?: DetectorFitData): Promise<{ exact: boolean; note: string }>;
}

export interface DetectorState {
  schema: 'medshield.detector/1';
  detector: string;
  /** Identity of the model it was fitted on: card name + sha256 of weights. */
  model: { name: string; sha256: string };
  params: Record<string, unknown>;
  state: unknown;
}
