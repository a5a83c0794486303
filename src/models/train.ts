/**
 * Training loop: Adam or SGD (momentum 0.9), cosine or step LR (MedMNIST's ×0.1 at 50 % and 75 %),
 * augmentation (random ±2-px translation, on by default; horizontal flip off by default, since anatomy
 * has a side), class weights (`auto`: balanced for binary tasks, whose 0.5 threshold otherwise follows
 * the training prevalence; PneumoniaMNIST's test split has 37.5 % normal films against 26 % in train), gradient
 * accumulation over micro-batches (the wasm heap is 4 GB), model selection and early stopping on validation AUC
 * (MedMNIST selects its checkpoints on validation AUC).
 * Training defences plug in through `batchHook` (src/defences/adversarial-training.ts, smoothing.ts).
 */
import { tf, Rng, currentEngine, adamOptimizer } from '../engine/index.js';
import type { Split } from '../data/dataset.js';
import { batchImages, batchLabels, labelCounts } from '../data/dataset.js';
import type { Task } from '../data/medmnist.js';
import { badArgument } from '../errors.js';
import { classificationMetrics, type ClassificationMetrics } from './metrics.js';
import type { Classifier } from './model.js';
import type { ModelCard } from './card.js';

export interface TrainOptions {
  epochs: number;
  batchSize?: number;
  /** Split each batch into micro-batches of this size and accumulate gradients. */
  microBatch?: number;
  optimizer?: 'adam' | 'sgd';
  learningRate?: number;
  schedule?: 'cosine' | 'step' | 'constant';
  weightDecay?: number;
  augment?: boolean;
  flip?: boolean;
  classWeights?: 'auto' | 'balanced' | 'none';
  /**
   * Stop after this many epochs without a better validation AUC (or `batchHook.validate` score; 0 = never stop early).
   */
  patience?: number;
  seed: number;
  /** Per-batch hook of a training defence (adversarial training, TRADES, noise augmentation). */
  batchHook?: BatchHook;
  onEvent?: (e: TrainEvent) => void;
}

/**
 * A training defence, seen by the loop: `transform` replaces each (augmented) micro-batch by the
 * input the loss sees (PGD adversarial examples, x + N(0,σ²) noise, or the clean batch for TRADES);
 * `loss` replaces the weighted cross-entropy on that input (TRADES: CE(f(x)) + β·KL); `validate`
 * replaces validation AUC as the checkpoint score (higher is better; AUC breaks ties).
 */
export interface BatchHook {
  transform(model: Classifier, xs: tf.Tensor4D, ys: Int32Array, rng: Rng): Promise<tf.Tensor4D>;
  loss?(
    forward: (x: tf.Tensor4D) => tf.Tensor2D,
    clean: tf.Tensor4D,
    xt: tf.Tensor4D,
    ce: (logits: tf.Tensor2D) => tf.Scalar,
  ): tf.Scalar;
  validate?(model: Classifier, val: Split): Promise<number>;
  /** What the model card records under `training` (e.g. `{ adversarial: {...} }`). */
  readonly card?: Partial<NonNullable<ModelCard['training']>>;
}

export type TrainEvent =
  | { type: 'step'; epoch: number; step: number; steps: number; loss: number; learningRate: number }
  | {
      type: 'epoch';
      epoch: number;
      epochs: number;
      loss: number;
      val: ClassificationMetrics;
      best: boolean;
      seconds: number;
      valScore?: number;
    };

export interface TrainResult {
  epochsRun: number;
  bestEpoch: number;
  bestVal: ClassificationMetrics;
  classWeights: number[] | null;
  seconds: number;
  history: Array<{ epoch: number; loss: number; valAccuracy: number; valAuc: number; valScore?: number }>;
}

export interface EvalResult extends ClassificationMetrics {
  n: number;
  probs: Float32Array;
}

/** Probabilities for a whole split, in batches. */
export async function predictSplit(
  model: Pick<Classifier, 'classes' | 'probs'>,
  split: Split,
  batchSize = 256,
): Promise<Float32Array> {
  const k = model.classes.length;
  const out = new Float32Array(split.n * k);
  for (let s = 0; s < split.n; s += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, split.n - s) }, (_, i) => s + i);
    const x = batchImages(split, idx);
    const p = model.probs(x);
    out.set((await p.data()) as Float32Array, s * k);
    x.dispose();
    p.dispose();
  }
  return out;
}

export async function evaluateSplit(
  model: Pick<Classifier, 'classes' | 'task' | 'probs'>,
  split: Split,
  batchSize = 256,
): Promise<EvalResult> {
  const probs = await predictSplit(model, split, batchSize);
  const m = classificationMetrics({ probs, n: split.n, k: model.classes.length }, split.labels, model.task);
  return { ...m, n: split.n, probs };
}

function lossFn(
  task: Task,
  logits: tf.Tensor2D,
  labels: Int32Array,
  k: number,
  weights: Float32Array | null,
): tf.Scalar {
  const n = logits.shape[0];
  if (task === 'multilabel') {
    const y = tf.tensor2d(Float32Array.from(labels), [n, k]);
    return tf.losses.sigmoidCrossEntropy(y, logits) as tf.Scalar;
  }
  const y = tf.oneHot(tf.tensor1d(labels, 'int32'), k);
  const logp = tf.logSoftmax(logits);
  const ce = tf.neg(tf.sum(tf.mul(y, logp), 1));
  if (!weights) return tf.mean(ce) as tf.Scalar;
  const w = tf.tensor1d(Array.from(labels, (c) => weights[c]));
  return tf.div(tf.sum(tf.mul(ce, w)), tf.sum(w)) as tf.Scalar;
}

/** Random translation by up to ±2 px (zero fill) and optional horizontal flip, in place. */
function augmentBatch(
  x: Float32Array,
  n: number,
  h: number,
  w: number,
  c: number,
  rng: Rng,
  flip: boolean,
): Float32Array {
  const per = h * w * c;
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const dy = rng.int(5) - 2;
    const dx = rng.int(5) - 2;
    const f = flip && rng.uniform() < 0.5;
    for (let yy = 0; yy < h; yy++) {
      const sy = yy - dy;
      if (sy < 0 || sy >= h) continue;
      for (let xx = 0; xx < w; xx++) {
        let sx = xx - dx;
        if (sx < 0 || sx >= w) continue;
        if (f) sx = w - 1 - sx;
        for (let ch = 0; ch < c; ch++) out[i * per + (yy * w + xx) * c + ch] = x[i * per + (sy * w + sx) * c + ch];
      }
    }
  }
  return out;
}

function learningRateAt(o: Required<Pick<TrainOptions, 'learningRate' | 'schedule'>>, progress: number): number {
  if (o.schedule === 'cosine') return o.learningRate * 0.5 * (1 + Math.cos(Math.PI * progress));
  if (o.schedule === 'step') return o.learningRate * (progress >= 0.75 ? 0.01 : progress >= 0.5 ? 0.1 : 1);
  return o.learningRate;
}

export async function train(
  model: Classifier,
  data: { train: Split; val: Split },
  opts: TrainOptions,
): Promise<TrainResult> {
  const o = {
    batchSize: 128,
    optimizer: 'adam' as const,
    schedule: 'cosine' as const,
    weightDecay: 0,
    augment: true,
    flip: false,
    classWeights: 'auto' as 'auto' | 'balanced' | 'none',
    patience: 0,
    ...opts,
  };
  const lr0 = o.learningRate ?? (o.optimizer === 'sgd' ? 0.05 : 1e-3);
  if (!(Number.isInteger(o.epochs) && o.epochs >= 1))
    throw badArgument(`--epochs must be a positive integer, got ${o.epochs}`);
  if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1))
    throw badArgument(`--batch-size must be a positive integer, got ${o.batchSize}`);
  if (!(lr0 > 0)) throw badArgument(`--lr must be positive, got ${lr0}`);
  const engine = currentEngine();
  const micro = Math.min(
    o.microBatch ?? (engine?.backend === 'wasm' && model.card.architecture.name !== 'cnn' ? 32 : o.batchSize),
    o.batchSize,
  );

  const { train: tr, val } = data;
  const k = model.classes.length;
  const [h, w, c] = model.inputShape;
  let classWeights: Float32Array | null = null;
  const balanced = o.classWeights === 'balanced' || (o.classWeights === 'auto' && model.task === 'binary');
  if (balanced && model.task !== 'multilabel') {
    const counts = labelCounts(tr, k);
    classWeights = Float32Array.from(counts, (cnt) => (cnt > 0 ? tr.n / (k * cnt) : 0));
  }

  const rng = new Rng(o.seed ^ 0x5eed);
  const optimizer = o.optimizer === 'sgd' ? tf.train.momentum(lr0, 0.9) : adamOptimizer(lr0);
  const setLr = (v: number): void => {
    (optimizer as unknown as { learningRate: number }).learningRate = v;
  };
  const vars = model.net.trainableWeights.map((wt) => (wt as unknown as { val: tf.Variable }).val);
  const decayed = model.net.trainableWeights
    .filter((wt) => wt.name.includes('kernel'))
    .map((wt) => (wt as unknown as { val: tf.Variable }).val);

  const stepsPerEpoch = Math.ceil(tr.n / o.batchSize);
  const totalSteps = stepsPerEpoch * o.epochs;
  let best: { epoch: number; score: number; val: ClassificationMetrics; weights: tf.Tensor[] } | null = null;
  let sinceBest = 0;
  const history: TrainResult['history'] = [];
  const t0 = Date.now();
  let epoch = 0;
  for (epoch = 1; epoch <= o.epochs; epoch++) {
    const te = Date.now();
    const order = rng.shuffle(Int32Array.from({ length: tr.n }, (_, i) => i)) as Int32Array;
    let lossSum = 0;
    let lossN = 0;
    for (let s = 0; s < stepsPerEpoch; s++) {
      const lr = learningRateAt(
        { learningRate: lr0, schedule: o.schedule },
        ((epoch - 1) * stepsPerEpoch + s) / totalSteps,
      );
      setLr(lr);
      const idx = order.subarray(s * o.batchSize, Math.min(tr.n, (s + 1) * o.batchSize));
      const nb = idx.length;
      let acc: tf.NamedTensorMap | null = null;
      let batchLoss = 0;
      for (let m = 0; m < nb; m += micro) {
        const sub = idx.subarray(m, Math.min(nb, m + micro));
        const xs0 = batchImages(tr, sub);
        let xs = xs0;
        if (o.augment) {
          const aug = augmentBatch(xs0.dataSync() as Float32Array, sub.length, h, w, c, rng, o.flip);
          xs = tf.tensor4d(aug, xs0.shape);
          xs0.dispose();
        }
        const ys = batchLabels(tr, sub);
        const frac = sub.length / nb;
        const hook = o.batchHook;
        const xt = hook ? await hook.transform(model, xs, ys, rng) : xs;
        // `net.apply(x, { training: true })`, freeing each activation after its last reader (inference.ts).
        const forward = (x: tf.Tensor4D): tf.Tensor2D => model.inference.runTraining(x) as tf.Tensor2D;
        const ce = (logits: tf.Tensor2D): tf.Scalar => lossFn(model.task, logits, ys, k, classWeights);
        const { value, grads } = tf.variableGrads(
          () =>
            tf.tidy(() => {
              let l = hook?.loss ? hook.loss(forward, xs, xt, ce) : ce(forward(xt));
              if (o.weightDecay > 0)
                l = tf.add(
                  l,
                  tf.mul(o.weightDecay / 2, tf.addN(decayed.map((v) => tf.sum(tf.square(v))))),
                ) as tf.Scalar;
              return tf.mul(l, frac) as tf.Scalar;
            }),
          vars,
        );
        batchLoss += (await value.data())[0];
        value.dispose();
        xs.dispose();
        if (xt !== xs) xt.dispose();
        if (!acc) acc = grads;
        else {
          const prev: tf.NamedTensorMap = acc;
          acc = {};
          for (const key of Object.keys(grads)) {
            acc[key] = tf.add(prev[key], grads[key]);
            prev[key].dispose();
            grads[key].dispose();
          }
        }
      }
      optimizer.applyGradients(acc! as unknown as Parameters<typeof optimizer.applyGradients>[0]);
      tf.dispose(acc!);
      lossSum += batchLoss * nb;
      lossN += nb;
      o.onEvent?.({ type: 'step', epoch, step: s + 1, steps: stepsPerEpoch, loss: batchLoss, learningRate: lr });
    }
    const v = await evaluateSplit(model, val);
    const score = o.batchHook?.validate ? await o.batchHook.validate(model, val) : v.auc;
    const isBest =
      !best ||
      score > best.score ||
      (score === best.score && (v.auc > best.val.auc || (v.auc === best.val.auc && v.accuracy > best.val.accuracy)));
    if (isBest) {
      if (best) tf.dispose(best.weights);
      best = {
        epoch,
        score,
        val: { accuracy: v.accuracy, auc: v.auc },
        weights: model.net.getWeights().map((t) => t.clone()),
      };
      sinceBest = 0;
    } else sinceBest++;
    const loss = lossSum / lossN;
    const extra = o.batchHook?.validate ? { valScore: score } : {};
    history.push({ epoch, loss, valAccuracy: v.accuracy, valAuc: v.auc, ...extra });
    o.onEvent?.({
      type: 'epoch',
      epoch,
      epochs: o.epochs,
      loss,
      val: { accuracy: v.accuracy, auc: v.auc },
      best: isBest,
      seconds: (Date.now() - te) / 1000,
      ...extra,
    });
    if (!Number.isFinite(loss)) throw new Error(`training diverged at epoch ${epoch} (loss ${loss}); lower --lr`);
    if (o.patience > 0 && sinceBest >= o.patience) break;
  }
  optimizer.dispose();
  model.net.setWeights(best!.weights);
  tf.dispose(best!.weights);
  return {
    epochsRun: Math.min(epoch, o.epochs),
    bestEpoch: best!.epoch,
    bestVal: best!.val,
    classWeights: classWeights ? Array.from(classWeights) : null,
    seconds: (Date.now() - t0) / 1000,
    history,
  };
}
