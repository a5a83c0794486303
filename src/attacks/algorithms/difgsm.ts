/**
 * DI-FGSM — iterative FGSM with input diversity (DI²-FGSM; with momentum µ > 0, M-DI²-FGSM).
 * C. Xie, Z. Zhang, Y. Zhou, S. Bai, J. Wang, Z. Ren, A. Yuille, "Improving Transferability of
 * Adversarial Examples with Input Diversity", CVPR 2019.
 *
 *   T(x) = pad(resize(x, r×r)) with probability p, else x;   r uniform in [⌊ρ·H⌋, H−1], zero padding at
 *          a random offset back to H×W (ρ = `resizeRate` 0.9, p = `diversityProb` 0.5: torchattacks'
 *          DIFGSM, which shrinks and pads since our networks take a fixed input size)
 *   g^{t+1} = µ · g^t + ∇ₓℓ(f(T(x^t)), y) / ‖·‖₁;   x^{t+1} = Clip_{x,ε}( x^t + α · sign(g^{t+1}) )
 *
 * One transform per gradient pass (per batch, as torchattacks), drawn from the attack's seeded Rng; the
 * resize (bilinear, half-pixel centres) and the placement are one linear map per axis, so the gradient
 * through T is exact. Success is judged on the untransformed image. Defaults (torchattacks DIFGSM):
 * 20 steps, α = ε/4 (2/255 at 8/255), µ = 0, no random start, loss CE, and no early stopping — DI is a
 * transfer attack and runs every step. Usage:
 *   medshield attack --model default --attack transfer --surrogate surrogate --base-attack difgsm --eps 8/255
 */
import type { Attack, AttackOptions } from '../types.js';
import { finalize, setup } from '../common.js';
import { gradientAscent } from '../iterative.js';
import { Oracle } from '../targets/oracle.js';
import { Rng, tf } from '../../engine/index.js';
import { badArgument } from '../../errors.js';
import { predictProbsOf, type DifferentiableModel } from '../../models/model.js';

/** Bilinear resize n → m (half-pixel centres, PyTorch's align_corners=False) as an m × n matrix. */
function resizeMatrix(n: number, m: number): Float32Array {
  const a = new Float32Array(m * n);
  const s = n / m;
  for (let y = 0; y < m; y++) {
    const f = Math.min(Math.max((y + 0.5) * s - 0.5, 0), n - 1);
    const y0 = Math.floor(f);
    const y1 = Math.min(y0 + 1, n - 1);
    a[y * n + y0] += 1 - (f - y0);
    a[y * n + y1] += f - y0;
  }
  return a;
}

/** Resize size → r, placed at `offset` in a zero line of `size`: a size × size matrix. */
function shrinkPadMatrix(size: number, r: number, offset: number): Float32Array {
  const out = new Float32Array(size * size);
  out.set(resizeMatrix(size, r), offset * size);
  return out;
}

/** A model seen through Xie et al.'s random resize-and-pad: each `logits` call draws one transform. */
export class DiverseInputs implements DifferentiableModel {
  readonly differentiable = true as const;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task;
  readonly card;
  readonly featureNames: string[];

  constructor(
    readonly inner: DifferentiableModel,
    readonly resizeRate: number,
    readonly diversityProb: number,
    readonly rng: Rng,
  ) {
    this.inputShape = inner.inputShape;
    this.classes = inner.classes;
    this.task = inner.task;
    this.card = inner.card;
    this.featureNames = inner.featureNames;
  }

  /** T(x): the batch shrunk to r×r' and zero-padded back at a random offset (or x itself, with probability 1 − p). */
  transform(x: tf.Tensor4D): tf.Tensor4D {
    const [n, h, w, c] = x.shape;
    const lo = Math.floor(h * this.resizeRate);
    if (this.rng.uniform() >= this.diversityProb || lo >= h) return x;
    const r = lo + this.rng.int(h - lo);
    const rw = Math.max(1, Math.round((w * r) / h));
    const ay = shrinkPadMatrix(h, r, this.rng.int(h - r + 1));
    const aw = shrinkPadMatrix(w, rw, this.rng.int(w - rw + 1));
    return tf.tidy(() => {
      // [n,h,w,c] → [n·c, h, w]; Y = A_y · X · A_wᵀ as two 2-D products
      const xs = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n * c * h, w]);
      const t1 = tf.matMul(xs, tf.tensor2d(aw, [w, w]), false, true); // rows · A_wᵀ
      const t2 = tf.reshape(tf.transpose(tf.reshape(t1, [n * c, h, w]), [0, 2, 1]), [n * c * w, h]);
      const t3 = tf.matMul(t2, tf.tensor2d(ay, [h, h]), false, true); // columns · A_yᵀ
      return tf.transpose(tf.reshape(t3, [n, c, w, h]), [0, 3, 2, 1]) as tf.Tensor4D;
    });
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.inner.logits(this.transform(x)));
  }

  probs(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => (this.task === 'multilabel' ? tf.sigmoid(this.logits(x)) : tf.softmax(this.logits(x))));
  }

  features(x: tf.Tensor4D, layer?: string): tf.Tensor {
    return tf.tidy(() => this.inner.features(this.transform(x), layer));
  }

  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    return predictProbsOf(this, x, n);
  }
}

export const difgsm: Attack = {
  name: 'difgsm',
  reference: 'Xie et al., CVPR 2019',
  threatModel: 'whitebox',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: true,
  defaultSteps: 20,
  async run(model: DifferentiableModel, x: Float32Array, y: Int32Array, opts: AttackOptions) {
    const s = setup(this, model, x, y, opts);
    const rate = opts.resizeRate ?? 0.9;
    const prob = opts.diversityProb ?? 0.5;
    if (!(rate > 0 && rate <= 1)) throw badArgument(`resizeRate must be in (0, 1], got ${rate}`);
    if (!(prob >= 0 && prob <= 1)) throw badArgument(`diversityProb must be in [0, 1], got ${prob}`);
    const steps = opts.steps ?? this.defaultSteps;
    const diverse = new Oracle(new DiverseInputs(model, rate, prob, new Rng((opts.seed ?? 0) + 0x0d1)));
    const xa = await gradientAscent({ ...s, oracle: diverse }, x, {
      steps,
      stepSize: opts.stepSize ?? opts.eps / 4,
      randomStart: false,
      restarts: 1,
      decay: opts.decay ?? 0,
      loss: opts.loss ?? 'ce',
      earlyStop: opts.earlyStop ?? false,
      onStep: opts.onStep,
    });
    const r = await finalize(s, x, xa);
    r.queries.gradient += diverse.gradientCount;
    r.queries.forward += diverse.forwardCount;
    return r;
  },
};
