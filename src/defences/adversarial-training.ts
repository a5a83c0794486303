/**
 * Robust training: PGD adversarial training and TRADES, as a per-batch hook of the training loop
 * (src/models/train.ts `BatchHook`).
 *
 * - PGD-AT: A. Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018.
 *     min_θ E_(x,y) [ max_{‖δ‖∞ ≤ ε} CE(f_θ(x + δ), y) ]
 *   inner max by PGD: random start δ⁰ ~ U[−ε, ε]^d, `steps` iterations of x ← Π(x + α·sign ∇ₓ CE),
 *   α = 2.5·ε/steps (Madry's rule), projection onto the ε ball ∩ [0,1]^d; the outer loss is the
 *   (class-weighted) CE on the adversarial batch only, as in Madry et al.
 * - TRADES: H. Zhang et al., "Theoretically Principled Trade-off between Robustness and Accuracy", ICML 2019.
 *     min_θ E [ CE(f_θ(x), y) + β · KL( p_θ(x) ‖ p_θ(x') ) ],   x' = argmax_{‖x'−x‖∞ ≤ ε} KL(p_θ(x) ‖ p_θ(x'))
 *   inner max by PGD on the KL from x + 0.001·N(0, I) (the authors' start), same step rule; β = 6.
 * The attack runs on the model in inference mode (batch-norm running statistics), as torchattacks
 * and the TRADES reference code do (`model.eval()` while generating x').
 * Checkpoint selection: validation *balanced* robust accuracy (mean per-class accuracy under PGD-10 at
 * the training ε on a seeded sample of 256 validation images) — a constant classifier scores 0.5
 * however skewed the classes — ties broken by validation AUC.
 * Usage: `medshield train --dataset pneumoniamnist --model cnn --adv pgd --eps 8/255 --adv-steps 7`
 *        `medshield train --dataset pneumoniamnist --adv trades --eps 8/255 --adv-steps 7 --beta 6`
 */
import { tf, Rng } from '../engine/index.js';
import type { Split } from '../data/dataset.js';
import type { BatchHook } from '../models/train.js';
import type { Classifier, DifferentiableModel } from '../models/model.js';
import { selectImages } from '../data/images.js';
import { badArgument, unsupported } from '../errors.js';

export type AdversarialMethod = 'pgd' | 'trades';
export const ADVERSARIAL_METHODS: AdversarialMethod[] = ['pgd', 'trades'];

export interface AdversarialTrainingOptions {
  method: AdversarialMethod;
  /** L∞ radius in pixel units ([0,1] scale). */
  eps: number;
  /** Inner PGD iterations (default 7). */
  steps?: number;
  /** Inner step size (default 2.5·ε/steps). */
  stepSize?: number;
  /** TRADES trade-off β (default 6). */
  beta?: number;
  /** Validation images for checkpoint selection (default 256; 0 = select on val AUC). */
  valImages?: number;
}

/** Per-sample cross-entropy (unweighted) of logits against integer labels. */
function crossEntropy(logits: tf.Tensor2D, y: tf.Tensor2D): tf.Tensor1D {
  return tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(logits)), 1)) as tf.Tensor1D;
}

/** Per-sample KL(p ‖ softmax(logits)) for fixed probabilities p. */
function klFrom(p: tf.Tensor2D, logits: tf.Tensor2D): tf.Tensor1D {
  return tf.sum(tf.mul(p, tf.sub(tf.log(tf.add(p, 1e-12)), tf.logSoftmax(logits))), 1) as tf.Tensor1D;
}

/**
 * L∞ PGD on a batch, in tensors: maximises `objective(logits)` (summed over samples) from `start`,
 * with steps of α·sign(∇), projected onto {‖x' − x‖∞ ≤ ε} ∩ [0,1]^d after every step.
 */
function linfAscent(
  model: DifferentiableModel,
  x: tf.Tensor4D,
  start: tf.Tensor4D,
  objective: (logits: tf.Tensor2D) => tf.Tensor1D,
  eps: number,
  steps: number,
  stepSize: number,
): tf.Tensor4D {
  const lo = tf.maximum(tf.sub(x, eps), 0);
  const hi = tf.minimum(tf.add(x, eps), 1);
  const g = tf.grad((xx: tf.Tensor) => tf.sum(objective(model.logits(xx as tf.Tensor4D))));
  let cur: tf.Tensor4D = tf.minimum(tf.maximum(start, lo), hi);
  for (let t = 0; t < steps; t++) {
    const next = tf.tidy(
      () => tf.minimum(tf.maximum(tf.add(cur, tf.mul(stepSize, tf.sign(g(cur)))), lo), hi) as tf.Tensor4D,
    );
    cur.dispose();
    cur = next;
  }
  lo.dispose();
  hi.dispose();
  return cur;
}

/** PGD adversarial examples for (x, y) under CE (random uniform start), as one tensor. */
function pgdExamples(
  model: DifferentiableModel,
  x: tf.Tensor4D,
  labels: Int32Array,
  eps: number,
  steps: number,
  stepSize: number,
  rng: Rng,
): tf.Tensor4D {
  const k = model.classes.length;
  const noise = rng.fillUniform(new Float32Array(x.size), -eps, eps);
  return tf.tidy(() => {
    const y = tf.oneHot(tf.tensor1d(labels, 'int32'), k).toFloat() as tf.Tensor2D;
    return linfAscent(
      model,
      x,
      tf.add(x, tf.tensor(noise, x.shape)) as tf.Tensor4D,
      (z) => crossEntropy(z, y),
      eps,
      steps,
      stepSize,
    );
  });
}

/** TRADES inner maximisation: x' maximising KL(p(x) ‖ p(x')) from x + 0.001·N(0, I). */
function tradesExamples(
  model: DifferentiableModel,
  x: tf.Tensor4D,
  eps: number,
  steps: number,
  stepSize: number,
  rng: Rng,
): tf.Tensor4D {
  const noise = new Float32Array(x.size);
  for (let i = 0; i < noise.length; i++) noise[i] = 0.001 * rng.normal();
  return tf.tidy(() => {
    const p = tf.softmax(model.logits(x)) as tf.Tensor2D;
    return linfAscent(
      model,
      x,
      tf.add(x, tf.tensor(noise, x.shape)) as tf.Tensor4D,
      (z) => klFrom(p, z),
      eps,
      steps,
      stepSize,
    );
  });
}

/** Balanced (mean per-class) accuracy under PGD at ε on a fixed sample of validation images. */
export async function balancedRobustAccuracy(
  model: Classifier,
  val: Split,
  eps: number,
  steps: number,
  limit: number,
  seed = 0,
): Promise<number> {
  const im = selectImages(val, limit, seed);
  const k = model.classes.length;
  const rng = new Rng(seed ^ 0xad5);
  const hit = new Float64Array(k);
  const tot = new Float64Array(k);
  const batch = 128;
  const d = im.x.length / im.n;
  for (let s = 0; s < im.n; s += batch) {
    const m = Math.min(batch, im.n - s);
    const y = im.labels.subarray(s, s + m);
    const x = tf.tensor4d(im.x.subarray(s * d, (s + m) * d), [m, ...im.shape]);
    const xa = pgdExamples(model, x, y, eps, steps, (2.5 * eps) / steps, rng);
    const pred = tf.tidy(() => tf.argMax(model.logits(xa), 1));
    const p = (await pred.data()) as Int32Array;
    x.dispose();
    xa.dispose();
    pred.dispose();
    for (let i = 0; i < m; i++) {
      tot[y[i]]++;
      if (p[i] === y[i]) hit[y[i]]++;
    }
  }
  let sum = 0;
  let classes = 0;
  for (let c = 0; c < k; c++)
    if (tot[c] > 0) {
      sum += hit[c] / tot[c];
      classes++;
    }
  return classes ? sum / classes : 0;
}

/** The training hook for `medshield train --adv pgd|trades`. */
export function adversarialTraining(opts: AdversarialTrainingOptions, task: string): BatchHook {
  const { method, eps } = opts;
  if (!ADVERSARIAL_METHODS.includes(method))
    throw badArgument(`unknown --adv method '${method}' (choose ${ADVERSARIAL_METHODS.join(', ')})`);
  if (task === 'multilabel')
    throw unsupported('adversarial training supports single-label tasks (binary, multi-class, ordinal) only');
  if (!(eps > 0 && eps <= 1)) throw badArgument(`--eps must be in (0, 1] (L∞, pixel units), got ${eps}`);
  const steps = opts.steps ?? 7;
  if (!(Number.isInteger(steps) && steps >= 1))
    throw badArgument(`--adv-steps must be a positive integer, got ${steps}`);
  const stepSize = opts.stepSize ?? (2.5 * eps) / steps;
  if (!(stepSize > 0)) throw badArgument(`adversarial step size must be positive, got ${stepSize}`);
  const beta = opts.beta ?? 6;
  if (method === 'trades' && !(beta >= 0 && Number.isFinite(beta)))
    throw badArgument(`--beta must be a non-negative number, got ${opts.beta}`);
  if (method !== 'trades' && opts.beta !== undefined) throw badArgument('--beta applies to --adv trades only');
  const valImages = opts.valImages ?? 256;
  const selection =
    valImages > 0
      ? `val balanced robust accuracy (PGD-10 at eps, ${valImages} val images), ties by val AUC`
      : 'val AUC';
  return {
    card: { adversarial: { method, eps, steps, stepSize, ...(method === 'trades' ? { beta } : {}), selection } },
    async transform(model, xs, ys, rng) {
      return method === 'pgd'
        ? pgdExamples(model, xs, ys, eps, steps, stepSize, rng)
        : tradesExamples(model, xs, eps, steps, stepSize, rng);
    },
    ...(method === 'trades'
      ? {
          loss(
            forward: (x: tf.Tensor4D) => tf.Tensor2D,
            clean: tf.Tensor4D,
            xt: tf.Tensor4D,
            ce: (logits: tf.Tensor2D) => tf.Scalar,
          ): tf.Scalar {
            const zc = forward(clean);
            const kl = tf.mean(klFrom(tf.softmax(zc) as tf.Tensor2D, forward(xt)));
            return tf.add(ce(zc), tf.mul(beta, kl)) as tf.Scalar;
          },
        }
      : {}),
    ...(valImages > 0
      ? { validate: (model: Classifier, val: Split) => balancedRobustAccuracy(model, val, eps, 10, valImages) }
      : {}),
  };
}
