/**
 * The white-box oracle: forward passes and input gradients of a differentiable model, on plain
 * Float32Array batches. Attacks do their arithmetic on arrays (one image = one row of d values) and
 * call the oracle for the model; tensors never escape it, so attacks cannot leak memory, and every
 * model evaluation is counted (queries per image).
 */
import { tf } from '../../engine/index.js';
import type { DifferentiableModel } from '../../models/model.js';
import type { Goal } from '../goal.js';

export interface LossGrad {
  /** View logits (n × k) at x. */
  logits: Float32Array;
  /** Per-sample loss at x. */
  loss: Float32Array;
  /** ∂ loss_i / ∂ x_i, same layout as x. */
  grad: Float32Array;
}

export class Oracle {
  readonly d: number;
  readonly shape: [number, number, number];
  forwardCount = 0;
  gradientCount = 0;

  constructor(readonly model: DifferentiableModel) {
    this.shape = model.inputShape;
    this.d = this.shape[0] * this.shape[1] * this.shape[2];
  }

  private tensor(x: Float32Array): tf.Tensor4D {
    const n = x.length / this.d;
    return tf.tensor4d(x, [n, ...this.shape]);
  }

  /** View logits of `goal` at x (n × goal.k). */
  async logits(x: Float32Array, goal: Goal): Promise<Float32Array> {
    const n = x.length / this.d;
    if (n === 0) return new Float32Array(0);
    this.forwardCount += n;
    const out = tf.tidy(() => goal.view(this.model.logits(this.tensor(x))));
    const v = (await out.data()) as Float32Array;
    out.dispose();
    return v;
  }

  /** Raw model logits (n × K) at x. */
  async rawLogits(x: Float32Array): Promise<Float32Array> {
    const n = x.length / this.d;
    if (n === 0) return new Float32Array(0);
    this.forwardCount += n;
    const out = tf.tidy(() => this.model.logits(this.tensor(x)));
    const v = (await out.data()) as Float32Array;
    out.dispose();
    return v;
  }

  /**
   * Per-sample objective ℓ_i(v(x_i)) and its gradient with respect to x, in one forward+backward
   * pass. `objective` maps view logits to a per-sample value (e.g. `goal.loss(v, 'ce')`).
   */
  async lossGrad(x: Float32Array, goal: Goal, objective: (v: tf.Tensor2D) => tf.Tensor1D): Promise<LossGrad> {
    const n = x.length / this.d;
    this.gradientCount += n;
    let vKept: tf.Tensor | null = null;
    let lKept: tf.Tensor | null = null;
    const g = tf.tidy(() => {
      const xt = this.tensor(x);
      return tf.grad((xx: tf.Tensor) => {
        const v = goal.view(this.model.logits(xx as tf.Tensor4D));
        const l = objective(v);
        vKept = tf.keep(v.clone());
        lKept = tf.keep(l.clone());
        return tf.sum(l);
      })(xt);
    });
    const [grad, logits, loss] = (await Promise.all([g.data(), vKept!.data(), lKept!.data()])) as Float32Array[];
    g.dispose();
    vKept!.dispose();
    lKept!.dispose();
    return { logits, loss, grad };
  }

  /** Gradients of several per-sample objectives at x (one backward pass each; DeepFool, JSMA). */
  async jacobian(
    x: Float32Array,
    goal: Goal,
    objectives: Array<(v: tf.Tensor2D) => tf.Tensor1D>,
  ): Promise<{ logits: Float32Array; grads: Float32Array[] }> {
    const grads: Float32Array[] = [];
    let logits: Float32Array = new Float32Array(0);
    for (const f of objectives) {
      const r = await this.lossGrad(x, goal, f);
      grads.push(r.grad);
      logits = r.logits;
    }
    return { logits, grads };
  }

  queries(): { forward: number; gradient: number } {
    return { forward: this.forwardCount, gradient: this.gradientCount };
  }
}

/** Column c of view logits as a per-sample objective. */
export function column(c: number): (v: tf.Tensor2D) => tf.Tensor1D {
  return (v) => tf.squeeze(tf.slice(v, [0, c], [-1, 1]), [1]) as tf.Tensor1D;
}

/** Per-sample column choice (one class index per sample) as an objective. */
export function pickColumns(cols: Int32Array, k: number): (v: tf.Tensor2D) => tf.Tensor1D {
  return (v) => tf.sum(tf.mul(v, tf.oneHot(tf.tensor1d(cols, 'int32'), k).toFloat()), 1) as tf.Tensor1D;
}
