/**
 * The informed attacker (Amit et al.; Athalye, Carlini & Wagner, ICML 2018; Tramer et al., NeurIPS
 * 2020): an adaptive attack knows the deployed defence — the input transform in front of the model,
 * the randomness it draws, the detector beside it and that detector's threshold — and attacks the
 * whole pipeline, not the bare model.
 *
 * `Pipeline` is what is deployed; `AdaptiveAttack.run` returns images inside [0,1] and the ε ball
 * around the originals, plus, per image, whether the deployed pipeline is fooled (misclassified by
 * the defended model) and whether the detector stays below its threshold.
 */
import type { DifferentiableModel, Model } from '../../models/model.js';
import type { Defence } from '../../defences/types.js';
import type { Detector } from '../../detectors/types.js';
import type { AttackOptions, AttackResult } from '../types.js';

export interface DeployedDetector {
  detector: Detector;
  /** Flag an image when score > threshold (set for 5 % false positives on clean images, as `detect` does). */
  threshold: number;
  /** Spread of the clean scores (standard deviation); scales the detector term of adaptive objectives. */
  scale?: number;
}

export interface Pipeline {
  /** The undefended, differentiable model (what the defence wraps, what detectors read). */
  model: DifferentiableModel;
  /** The input-transform or smoothing defence in front of the model, if any. */
  defence?: Defence;
  /** What answers at deployment: `defence.wrap(model)` or `model` itself. */
  deployed: Model;
  /** A detector beside the model, if any. */
  detector?: DeployedDetector;
}

export interface AdaptiveOptions extends AttackOptions {
  /** EOT: samples of the defence's randomness per gradient (default 8). */
  samples?: number;
  /** The white-box attack run on the attacker's differentiable view (BPDA/EOT; default `pgd`). */
  base?: string;
  /** Joint/HFC: weight of the detector (or feature) term against the classifier term. */
  lambda?: number;
  /**
   * Stop as soon as this holds (the scorecard's `--quick`: the row's verdict is decided). A chain calls it between
   * its parts and passes it to its first part; the joint attack calls it between its λ rounds and at each check of
   * its ascent that finds new successes — with, per image of this call, 1 where the goal is met (that image's
   * adversarial image is final) and the images so far. On true the attack returns what it has; the images it had
   * not solved keep their originals or their last iterate. Never called with fewer successes than the last call.
   */
  stopWhen?: (success: Uint8Array, xAdv: Float32Array) => Promise<boolean>;
}

export interface AdaptiveResult extends AttackResult {
  /** 1 where the deployed pipeline misclassifies xAdv (its label differs from y). */
  fooled: Uint8Array;
  /** Detector score at xAdv, when a detector is deployed. */
  detectorScores?: Float64Array;
}

export interface AdaptiveAttack {
  /** Registry name (`bpda`, `eot`, `joint`, `hfc`, `apgd-ensemble`). */
  readonly name: string;
  /** Paper, venue and the equation in one line, for reports. */
  readonly reference: string;
  /** Whether the attack is meant for this pipeline (BPDA: a deterministic transform; joint: a detector; …). */
  applies(p: Pipeline): boolean;
  run(p: Pipeline, x: Float32Array, y: Int32Array, opts: AdaptiveOptions): Promise<AdaptiveResult>;
}
