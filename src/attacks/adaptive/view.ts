/**
 * The attacker's differentiable view of a defended model (Athalye, Carlini & Wagner, "Obfuscated
 * gradients give a false sense of security", ICML 2018):
 *
 * - Exact, where the transform has a tensor version (`InputTransform.differentiable`: blur, random
 *   resize-and-pad): the attacker differentiates f∘T itself.
 * - BPDA, straight-through: the forward pass applies the real transform T, the backward pass treats
 *   it as the identity, i.e. ∇ₓ f(T(x)) ≈ ∇_z f(z)|_{z=T(x)}. Written x + stop_gradient(T(x) − x).
 * - BPDA, learned (`approx`): forward T(x), backward through a network g ≈ T (learned.ts).
 * - EOT: for a randomized defence t ~ T, the view's output is log E_t[softmax f(t(x))], estimated
 *   with `samples` fresh draws per forward pass; its gradient is the average of the per-draw gradients
 *   (through BPDA for non-differentiable draws; exactly for Gaussian noise, as in SmoothAdv).
 *
 * Any white-box attack of the registry then runs on the view unchanged: `getAttack('pgd').run(view, …)`.
 */
import { tf, Rng } from '../../engine/index.js';
import { predictProbsOf, type DifferentiableModel } from '../../models/model.js';
import type { InputTransform } from '../../defences/types.js';
import { unsupported } from '../../errors.js';

/** x ↦ T(x) forward, identity backward. T must be synchronous (every shipped transform is). */
export function straightThrough(
  t: InputTransform,
  shape: [number, number, number],
  rng?: Rng,
): (x: tf.Tensor4D) => tf.Tensor4D {
  const f = tf.customGrad(((x: tf.Tensor) => {
    const n = x.shape[0];
    const r = t.apply(x.dataSync() as Float32Array, n, shape, rng);
    if (r instanceof Promise) throw unsupported(`BPDA needs a synchronous transform; '${t.spec}' is asynchronous`);
    return { value: tf.tensor4d(r, x.shape as [number, number, number, number]), gradFunc: (dy: tf.Tensor) => dy };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (x) => f(x) as tf.Tensor4D;
}

export interface ViewSpec {
  /** Non-differentiable transform in front of the model (BPDA through it). */
  transform?: InputTransform;
  /** Gaussian noise σ added before the model (randomized smoothing). */
  noiseSigma?: number;
  /** A differentiable approximation g ≈ transform: forward stays the transform, the gradient is g's (learned BPDA). */
  approx?: tf.LayersModel;
  /** Draws per forward pass for randomized views (EOT); 1 for deterministic ones. */
  samples?: number;
  seed?: number;
}

/** The attacker's model: f∘T with BPDA, averaged over `samples` draws when T or the noise is random. */
export class DefenceView implements DifferentiableModel {
  readonly differentiable = true as const;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task;
  readonly card;
  readonly featureNames: string[];
  readonly samples: number;
  private readonly rng: Rng;
  private readonly through?: (x: tf.Tensor4D) => tf.Tensor4D;

  constructor(
    readonly base: DifferentiableModel,
    readonly spec: ViewSpec,
  ) {
    this.inputShape = base.inputShape;
    this.classes = base.classes;
    this.task = base.task;
    this.card = base.card;
    this.featureNames = base.featureNames;
    const random = !!spec.noiseSigma || !!spec.transform?.randomized;
    this.samples = random ? Math.max(1, spec.samples ?? 8) : 1;
    this.rng = new Rng(spec.seed ?? 0x0e07);
    if (spec.transform)
      this.through = straightThrough(spec.transform, this.inputShape, spec.transform.randomized ? this.rng : undefined);
  }

  /** One draw of the defence's input pipeline (differentiable in the BPDA sense). */
  private draw(x: tf.Tensor4D): tf.Tensor4D {
    let z = x;
    if (this.spec.noiseSigma) {
      const e = new Float32Array(z.size);
      this.rng.fillNormal(e);
      z = tf.add(z, tf.mul(tf.tensor(e, z.shape), this.spec.noiseSigma));
    }
    const t = this.spec.transform;
    // exact gradients where the transform has a tensor version (blur, random resize-and-pad)
    if (t?.differentiable) return t.differentiable(z, t.randomized ? this.rng : undefined);
    if (t && this.spec.approx) {
      // value T(z), gradient through g: g(z) + const(T(z) − g(z)), the constant rebuilt from values
      const g = this.spec.approx.apply(z) as tf.Tensor4D;
      const r = t.apply(z.dataSync() as Float32Array, z.shape[0], this.inputShape, t.randomized ? this.rng : undefined);
      if (r instanceof Promise) throw unsupported(`BPDA needs a synchronous transform; '${t.spec}' is asynchronous`);
      const gv = g.dataSync() as Float32Array;
      return tf.add(
        g,
        tf.tensor4d(
          Float32Array.from(r, (v, i) => v - gv[i]),
          z.shape as [number, number, number, number],
        ),
      );
    }
    return this.through ? this.through(z) : z;
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.samples === 1) return this.base.logits(this.draw(x));
      const n = x.shape[0];
      const tiled = tf.tile(x, [this.samples, 1, 1, 1]) as tf.Tensor4D;
      const p = tf.softmax(this.base.logits(this.draw(tiled)));
      const mean = tf.mean(p.reshape([this.samples, n, -1]), 0) as tf.Tensor2D;
      return tf.log(tf.add(mean, 1e-12));
    });
  }

  probs(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => (this.task === 'multilabel' ? tf.sigmoid(this.logits(x)) : tf.softmax(this.logits(x))));
  }

  features(x: tf.Tensor4D, layer?: string): tf.Tensor {
    return tf.tidy(() => this.base.features(this.samples === 1 ? this.draw(x) : x, layer));
  }

  predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    return predictProbsOf(this, x, n);
  }
}
