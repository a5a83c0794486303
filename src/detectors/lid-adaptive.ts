/**
 * LID's score as a differentiable tensor, for adaptive attacks (Carlini & Wagner 2017): per layer ℓ,
 * the distances r_j(x) = ‖φ_ℓ(x) − φ_ℓ(ref_j)‖ to the stored reference minibatch are differentiable;
 * which reference images are the k nearest is chosen from their values (indices computed, held
 * constant, then gathered), and the MLE
 *   LID_ℓ(x) = −( (1/k) Σ_{i=1..k} log( r_i(x) / r_k(x) ) )⁻¹   (the same neighbours as `score`)
 * goes through the fitted logistic regression: score = its logit. Same reference batch as `score`: exact.
 *
 * Usage: `await det.prepareAdaptive(model); tf.grad((x) => det.scoreTensor!(model, x).sum())(x)`
 */
import { tf } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import { featureRows, featureTensor, type Logistic } from './common.js';

export interface LidAdaptive {
  model: DifferentiableModel;
  layers: string[];
  refs: tf.Tensor2D[];
  refNorms: tf.Tensor2D[];
  k: number;
  skipNearest: boolean;
}

export async function prepareLidAdaptive(
  model: DifferentiableModel,
  layers: string[],
  ref: Float32Array,
  nRef: number,
  k: number,
  skipNearest: boolean,
): Promise<LidAdaptive> {
  const refs: tf.Tensor2D[] = [];
  const refNorms: tf.Tensor2D[] = [];
  for (const layer of layers) {
    const f = await featureRows(model, ref, nRef, layer);
    const t = tf.tensor2d(f.data, [nRef, f.dim]);
    refs.push(t);
    refNorms.push(tf.tidy(() => tf.sum(tf.square(t), 1).reshape([1, nRef])));
  }
  return { model, layers, refs, refNorms, k: Math.min(k, nRef - 1), skipNearest };
}

export function disposeLidAdaptive(a?: LidAdaptive): void {
  if (a) tf.dispose([...a.refs, ...a.refNorms]);
}

export function lidTensor(a: LidAdaptive, lr: Logistic, x: tf.Tensor4D): tf.Tensor1D {
  const n = x.shape[0];
  const k = a.k;
  const skip = a.skipNearest ? 1 : 0;
  const lids = a.layers.map((layer, l) => {
    const q = featureTensor(a.model, x, layer);
    const nRef = a.refs[l].shape[0];
    // the same squared distances as `pairwiseSq` in score()
    const d2 = tf.relu(
      tf.sub(tf.add(tf.sum(tf.square(q), 1, true), a.refNorms[l]), tf.mul(2, tf.matMul(q, a.refs[l], false, true))),
    );
    const v = d2.dataSync();
    const idx = new Int32Array(n * k);
    for (let i = 0; i < n; i++) {
      const order = Array.from({ length: nRef }, (_, j) => j).sort((p, s) => v[i * nRef + p] - v[i * nRef + s]);
      for (let j = 0; j < k; j++) idx[i * k + j] = i * nRef + order[j + skip];
    }
    const r = tf.sqrt(tf.maximum(tf.gather(d2.reshape([n * nRef]), tf.tensor1d(idx, 'int32')), 1e-24)).reshape([n, k]);
    const rk = tf.maximum(r.slice([0, k - 1], [n, 1]), 1e-12);
    const s = tf.sum(tf.log(tf.div(r, rk)), 1);
    // LID = −k/s where s < 0, else 0 (as score()); the case is read from the values, held constant
    const neg = tf.tensor1d(
      Array.from(s.dataSync(), (v) => (v < 0 ? 1 : 0)),
      'bool',
    );
    return tf.where(neg, tf.div(-k, tf.where(neg, s, tf.onesLike(s))), tf.zerosLike(s));
  });
  return lr.logitTensor(tf.stack(lids, 1) as tf.Tensor2D);
}
