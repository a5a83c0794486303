/**
 * KD-BU's score as a differentiable tensor, for adaptive attacks (Carlini & Wagner 2017, "Adversarial
 * examples are not easily detected": minimise the detector's logit alongside the classifier loss).
 *
 *   KD(x) = logmeanexp_i ( −‖φ(x) − φ_i‖² / (2h²) ) over the stored clean features φ_i of the class t
 *           the model predicts at x (t is computed, then held constant: the argmax is not differentiated)
 *   BU(x) = (1/T) Σ_t ‖p_t(x) − p̄(x)‖²,  p_t = softmax(W (m_t ⊙ φ(x)) + b), with the SAME seeded
 *           dropout masks m_t that `score` draws for a batch of this size (deterministic, differentiable)
 *   score = w · standardise([KD, BU]) + b  (the fitted logistic regression's logit)
 *
 * Usage: `await det.prepareAdaptive(model); tf.grad((x) => det.scoreTensor!(model, x).sum())(x)`
 */
import { tf, Rng } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import { unsupported } from '../errors.js';
import { featureTensor, type Logistic } from './common.js';

export interface KdBuFitted {
  bandwidth: number;
  dim: number;
  classFeatures: number[][][];
}
export interface DropoutParams {
  dropout?: number;
  passes?: number;
  seed?: number;
}

/** The model's final dense layer `logits` (weights W [dim, k], bias b). */
export function logitsDense(model: DifferentiableModel): { W: tf.Tensor2D; b: tf.Tensor1D } {
  const net = (model as unknown as { net?: tf.LayersModel }).net;
  let dense: tf.layers.Layer | undefined;
  const own = (model as unknown as { logitsDense?: () => { W: tf.Tensor2D; b: tf.Tensor1D } | null }).logitsDense?.();
  if (own) return own; // an imported ONNX graph's final Gemm (src/models/onnx-graph/model.ts)
  try {
    dense = net?.getLayer('logits');
  } catch {
    dense = undefined;
  }
  if (!dense) throw unsupported(`kd_bu needs a final dense layer named 'logits' (model '${model.card.name}')`);
  const [W, b] = dense.getWeights() as [tf.Tensor2D, tf.Tensor1D];
  return { W, b };
}

/** The T inverted-dropout masks (n·dim each, 0 or 1/(1−p)) for a batch of n images; one buffer, refilled per pass. */
export function* dropoutMasks(params: DropoutParams, size: number): Generator<Float32Array> {
  const p = params.dropout ?? 0.5;
  const T = params.passes ?? 50;
  const rng = new Rng(params.seed ?? 0x6b64);
  const mask = new Float32Array(size);
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < size; i++) mask[i] = rng.uniform() < p ? 0 : 1 / (1 - p);
    yield mask;
  }
}

export interface KdBuAdaptive {
  model: DifferentiableModel;
  /** Per class: its stored clean features (or all of them when the class had none), centred on `centre`. */
  refs: tf.Tensor2D[];
  centres: tf.Tensor2D[];
  refNorms: tf.Tensor1D[];
  h2: number;
  masks?: { n: number; t: tf.Tensor2D[] };
}

export function prepareKdBuAdaptive(model: DifferentiableModel, st: KdBuFitted): KdBuAdaptive {
  logitsDense(model);
  const all = st.classFeatures.flat();
  const refs: tf.Tensor2D[] = [];
  const centres: tf.Tensor2D[] = [];
  const refNorms: tf.Tensor1D[] = [];
  for (const rows of st.classFeatures) {
    const r = rows.length ? rows : all;
    const centre = tf.tidy(() => tf.tensor2d(r).mean(0, true)) as tf.Tensor2D;
    const c = tf.tidy(() => tf.sub(tf.tensor2d(r), centre)) as tf.Tensor2D;
    refs.push(c);
    centres.push(centre);
    refNorms.push(tf.tidy(() => tf.sum(tf.square(c), 1)) as tf.Tensor1D);
  }
  return { model, refs, centres, refNorms, h2: 2 * st.bandwidth * st.bandwidth };
}

export function disposeKdBuAdaptive(a?: KdBuAdaptive): void {
  if (!a) return;
  tf.dispose([...a.refs, ...a.centres, ...a.refNorms, ...(a.masks?.t ?? [])]);
}

export function kdBuTensor(a: KdBuAdaptive, lr: Logistic, params: DropoutParams, x: tf.Tensor4D): tf.Tensor1D {
  const model = a.model;
  const n = x.shape[0];
  const f = featureTensor(model, x);
  const dim = f.shape[1];
  // the predicted class, as `score` takes it (argmax of the probabilities), held constant
  const p = model.probs(x).dataSync();
  const k = model.classes.length;
  const pred = Int32Array.from({ length: n }, (_, i) => {
    let b = 0;
    for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + b]) b = j;
    return b;
  });
  const onehot = tf.oneHot(tf.tensor1d(pred, 'int32'), k).toFloat();
  // KD: log-mean-exp of −‖φ(x) − φ_i‖²/(2h²) per class (distances on features centred per class), picked by the
  // prediction
  const perClass = a.refs.map((ref, c) => {
    const q = tf.sub(f, a.centres[c]);
    const d2 = tf.relu(
      tf.sub(
        tf.add(tf.sum(tf.square(q), 1, true), a.refNorms[c].reshape([1, -1])),
        tf.mul(2, tf.matMul(q, ref, false, true)),
      ),
    );
    return tf.sub(tf.logSumExp(tf.div(d2, -a.h2), 1), Math.log(ref.shape[0]));
  });
  const kd = tf.sum(tf.mul(tf.stack(perClass, 1), onehot), 1);
  // BU: the same T seeded masks `score` draws for a batch of n images
  if (a.masks?.n !== n) {
    tf.dispose(a.masks?.t ?? []);
    a.masks = { n, t: [] };
    // copy: the buffer is refilled
    for (const m of dropoutMasks(params, n * dim)) a.masks.t.push(tf.keep(tf.tensor2d(m.slice(), [n, dim])));
  }
  const { W, b } = logitsDense(model);
  const probs = tf.stack(a.masks.t.map((m) => tf.softmax(tf.add(tf.matMul(tf.mul(f, m), W), b)))); // T × n × k
  const bu = tf.mean(tf.sum(tf.square(tf.sub(probs, tf.mean(probs, 0, true))), 2), 0);
  return lr.logitTensor(tf.stack([kd, bu], 1) as tf.Tensor2D);
}
