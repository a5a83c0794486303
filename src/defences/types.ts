/**
 * The small interface every defence plugs into (ARCHITECTURE.md: "a Defence wraps a Model and
 * returns a Model, so every attack and metric works on defended models unchanged").
 *
 * - Input transforms (JPEG, bit depth, median, blur, random resize-and-pad, …) wrap a model: the
 *   defended model applies the transform to its input, then the original model. Non-differentiable
 *   transforms return a `ForwardModel` (no gradients through them); the adaptive-attack issue adds
 *   BPDA/EOT on top using `transform` and `randomized` below.
 * - Training defences (PGD adversarial training, TRADES, noise-augmented training for smoothing)
 *   produce a new `Classifier` through `medshield train --adv …`, not through this interface.
 * - Randomized smoothing wraps a model into a Monte-Carlo classifier (`smoothing.ts`).
 */
import type { Model } from '../models/model.js';
import type { Rng, tf } from '../engine/index.js';

export interface InputTransform {
  /** Registry name with parameters, as typed: `jpeg:q=75`, `bitdepth:bits=4`, `median:k=3`. */
  readonly spec: string;
  /** Paper and equation, for reports. */
  readonly reference: string;
  /** True when the transform draws random numbers (EOT needs many samples). */
  readonly randomized: boolean;
  /** Transform a batch of NHWC images in [0,1] (n × h × w × c values); returns a new array in [0,1]. */
  apply(x: Float32Array, n: number, shape: [number, number, number], rng?: Rng): Float32Array | Promise<Float32Array>;
  /**
   * A differentiable tensor version of `apply` giving the same values (within float rounding) for the same rng state;
   * when present the adaptive attacker differentiates through it exactly instead of BPDA.
   */
  differentiable?(x: tf.Tensor4D, rng?: Rng): tf.Tensor4D;
}

export interface Defence {
  readonly spec: string;
  readonly reference: string;
  readonly randomized: boolean;
  /** The defended model (forward-only when the defence is not differentiable). */
  wrap(model: Model, opts?: { seed?: number }): Model;
  /** For input-transform defences: the transform itself (BPDA/EOT use it). */
  readonly transform?: InputTransform;
  /** For randomized smoothing: the Gaussian noise the smoothed classifier votes over (EOT samples it). */
  readonly noise?: { sigma: number };
}
