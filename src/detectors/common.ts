/**
 * Shared pieces of the detectors: batched feature extraction, the identity of the model a detector
 * belongs to (card name + sha256 of its weights), standardisation, and the logistic regression
 * (the `ml-logistic-regression` package, on standardised features plus an intercept column) that
 * KD-BU, LID and Mahalanobis feed their per-image characteristics to.
 */
import { createHash } from 'node:crypto';
import { Matrix } from 'ml-matrix';
import LogisticRegression from 'ml-logistic-regression';
import { tf } from '../engine/index.js';
import { featuresOf, type DifferentiableModel } from '../models/model.js';
import { badInput, mismatch } from '../errors.js';
import type { DetectorFitData, DetectorState } from './types.js';

export type Rows = number[][];

/** Features of `layer` for n images, one row each: conv maps flattened (`flatten`) or averaged over space (`mean`). */
export async function featureRows(
  model: DifferentiableModel,
  x: Float32Array,
  n: number,
  layer = 'penultimate',
  pool: 'flatten' | 'mean' = 'flatten',
  batch = 128,
): Promise<{ data: Float32Array; dim: number }> {
  return (await featureRowsMany(model, x, n, [layer], pool, batch))[0]!;
}

/**
 * `featureRows` of several layers from one forward pass per batch (`featuresOf`): the same values as one call per
 * layer, for the cost of the deepest layer instead of the sum over layers.
 */
export async function featureRowsMany(
  model: DifferentiableModel,
  x: Float32Array,
  n: number,
  layers: string[],
  pool: 'flatten' | 'mean' = 'flatten',
  batch = 128,
): Promise<Array<{ data: Float32Array; dim: number }>> {
  const [h, w, c] = model.inputShape;
  const d = h * w * c;
  const parts: Float32Array[][] = layers.map(() => []);
  const dims = layers.map(() => 0);
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const fs = tf.tidy(() =>
      featuresOf(model, tf.tensor4d(x.subarray(s * d, (s + m) * d), [m, h, w, c]), layers).map(
        (t) => (t.rank === 4 && pool === 'mean' ? t.mean([1, 2]) : t.reshape([m, -1])) as tf.Tensor2D,
      ),
    );
    for (let l = 0; l < layers.length; l++) {
      dims[l] = fs[l]!.shape[1];
      parts[l]!.push((await fs[l]!.data()) as Float32Array);
    }
    tf.dispose(fs);
  }
  return parts.map((ps, l) => {
    const out = new Float32Array(n * dims[l]!);
    let o = 0;
    for (const p of ps) {
      out.set(p, o);
      o += p.length;
    }
    return { data: out, dim: dims[l]! };
  });
}

export function toRows(data: Float32Array, dim: number): Rows {
  const out: Rows = [];
  for (let i = 0; i < data.length / dim; i++) out.push(Array.from(data.subarray(i * dim, (i + 1) * dim)));
  return out;
}

/** Predicted class per image (argmax of the logits). */
export async function predictedClasses(model: DifferentiableModel, x: Float32Array, n: number): Promise<Int32Array> {
  const p = await model.predictProbs(x, n);
  const k = model.classes.length;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + b]) b = j;
    out[i] = b;
  }
  return out;
}

const identities = new WeakMap<object, Promise<{ name: string; sha256: string }>>();

/**
 * The model's card name and the sha256 of its weights (all weight tensors in order), or of its card when it has no
 * weights in process.
 */
export function modelIdentity(model: DifferentiableModel): Promise<{ name: string; sha256: string }> {
  let id = identities.get(model);
  if (!id) {
    id = (async () => {
      const h = createHash('sha256');
      const net = (model as unknown as { net?: tf.LayersModel }).net;
      if (net)
        for (const wt of net.getWeights()) {
          const v = (await wt.data()) as Float32Array;
          h.update(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
        }
      else h.update(JSON.stringify(model.card));
      return { name: model.card.name, sha256: h.digest('hex') };
    })();
    identities.set(model, id);
  }
  return id;
}

/** Refuse a model other than the one the detector was fitted on. */
export async function checkModel(
  name: string,
  fitted: { name: string; sha256: string } | undefined,
  model: DifferentiableModel,
): Promise<void> {
  if (!fitted) throw badInput(`detector '${name}' is not fitted (fit it or load a saved one)`);
  const id = await modelIdentity(model);
  if (id.sha256 !== fitted.sha256)
    throw mismatch(
      `detector '${name}' was fitted for model '${fitted.name}' (weights sha256 ` +
        `${fitted.sha256.slice(0, 12)}…), not for '${id.name}' (${id.sha256.slice(0, 12)}…)`,
    );
}

/** Check the fit data: both clean and (successful) adversarial images, matching sizes. */
export function checkFitData(
  name: string,
  model: DifferentiableModel,
  data: DetectorFitData,
): { d: number; nClean: number; nAdv: number; nNoisy: number } {
  const d = model.inputShape[0] * model.inputShape[1] * model.inputShape[2];
  const nClean = data.clean.length / d;
  const nAdv = data.adversarial.length / d;
  const nNoisy = data.noisy ? data.noisy.length / d : 0;
  if (!Number.isInteger(nClean) || !Number.isInteger(nAdv) || !Number.isInteger(nNoisy))
    throw badInput(`detector '${name}': image sizes do not match the model's ${model.inputShape.join('×')} input`);
  if (nAdv < 2)
    throw badInput(
      `detector '${name}' needs successful adversarial examples ` +
        `to fit (got ${nAdv}); use a stronger attack or a larger ε`,
    );
  if (nClean < 2) throw badInput(`detector '${name}' needs clean images to fit (got ${nClean})`);
  return { d, nClean, nAdv, nNoisy };
}

export interface Standardiser {
  mean: number[];
  std: number[];
}

function standardiser(x: Rows): Standardiser {
  const p = x[0].length;
  const mean = new Array<number>(p).fill(0);
  const std = new Array<number>(p).fill(0);
  for (const r of x)
    r.forEach((v, j) => {
      mean[j] += v / x.length;
    });
  for (const r of x)
    r.forEach((v, j) => {
      std[j] += (v - mean[j]) ** 2 / x.length;
    });
  return { mean, std: std.map((v) => Math.sqrt(v) || 1) };
}

export function standardise(s: Standardiser, x: Rows): Rows {
  return x.map((r) => r.map((v, j) => (v - s.mean[j]) / s.std[j]));
}

/**
 * Logistic regression on standardised features (+ intercept): `ml-logistic-regression`, batch gradient
 * descent, 3000 steps at learning rate 1/n (the package sums the gradient over rows). Score = P(adversarial).
 */
export class Logistic {
  constructor(
    public scaler?: Standardiser,
    private lr?: LogisticRegression,
  ) {}

  fit(x: Rows, y: number[]): this {
    if (new Set(y).size < 2)
      throw badInput('logistic regression needs both clean and adversarial examples (only one class given)');
    this.scaler = standardiser(x);
    const design = new Matrix(standardise(this.scaler, x).map((r) => [...r, 1]));
    this.lr = new LogisticRegression({ numSteps: 3000, learningRate: 1 / y.length });
    this.lr.train(design, Matrix.columnVector(y));
    return this;
  }

  /** P(adversarial) per row. The package's classifier 0 scores "not class 0" = class 1. */
  score(x: Rows): Float64Array {
    if (!this.lr || !this.scaler) throw badInput('logistic regression is not fitted');
    const design = new Matrix(standardise(this.scaler, x).map((r) => [...r, 1]));
    const z = design.mmul(this.lr.classifiers[0].weights.transpose()).to1DArray();
    // the logit, not the sigmoid: keeps ranks when the fit saturates
    return Float64Array.from(z);
  }

  /** The fit as a linear map: logit = Σ_j w_j (x_j − mean_j) / std_j + b (what `score` computes). */
  linear(): { mean: number[]; std: number[]; w: number[]; b: number } {
    if (!this.lr || !this.scaler) throw badInput('logistic regression is not fitted');
    const wb = this.lr.classifiers[0].weights.to1DArray();
    return { mean: this.scaler.mean, std: this.scaler.std, w: wb.slice(0, -1), b: wb[wb.length - 1] };
  }

  /** `score` as a differentiable tensor: the logit of each row of x [n, p] (for adaptive attacks). */
  logitTensor(x: tf.Tensor2D): tf.Tensor1D {
    const { mean, std, w, b } = this.linear();
    return tf.tidy(() => {
      const z = tf.div(tf.sub(x, tf.tensor1d(mean)), tf.tensor1d(std));
      return tf.add(tf.matMul(z, tf.tensor2d(w, [w.length, 1])).reshape([-1]), b) as tf.Tensor1D;
    });
  }

  toJSON(): unknown {
    return { scaler: this.scaler, lr: this.lr!.toJSON() };
  }

  static load(s: unknown): Logistic {
    const o = s as { scaler: Standardiser; lr: unknown };
    return new Logistic(o.scaler, LogisticRegression.load(o.lr));
  }
}

/**
 * What `scoreTensor` needs, prepared by `prepareAdaptive` for one model object; refuse to build the
 * tensor view before that, or for another model.
 */
export function preparedFor<T extends { model: DifferentiableModel }>(
  name: string,
  a: T | undefined,
  model: DifferentiableModel,
): T {
  if (!a) throw badInput(`detector '${name}': call prepareAdaptive(model) before scoreTensor`);
  if (a.model !== model)
    throw mismatch(
      `detector '${name}': scoreTensor was prepared for another model; call prepareAdaptive with this one`,
    );
  return a;
}

/**
 * Features of `layer` as a differentiable [n, dim] tensor (conv maps flattened or averaged over space, as
 * `featureRows`).
 */
export function featureTensor(
  model: DifferentiableModel,
  x: tf.Tensor4D,
  layer = 'penultimate',
  pool: 'flatten' | 'mean' = 'flatten',
): tf.Tensor2D {
  const t = model.features(x, layer);
  return (t.rank === 4 && pool === 'mean' ? t.mean([1, 2]) : t.reshape([x.shape[0], -1])) as tf.Tensor2D;
}

/**
 * Deep features of several layers, one row per image: each layer's maps averaged over space (Lee et al. 2018's
 * pooling; vectors as they are), concatenated in the order given.
 */
export async function layerFeatureRows(
  model: DifferentiableModel,
  x: Float32Array,
  n: number,
  layers: string[],
): Promise<{ data: Float32Array; dim: number }> {
  const parts = await featureRowsMany(model, x, n, layers, 'mean');
  if (parts.length === 1) return parts[0]!;
  const dim = parts.reduce((s, p) => s + p.dim, 0);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    let o = i * dim;
    for (const p of parts) {
      out.set(p.data.subarray(i * p.dim, (i + 1) * p.dim), o);
      o += p.dim;
    }
  }
  return { data: out, dim };
}

/** `layerFeatureRows` as a differentiable [n, dim] tensor. */
export function layerFeatureTensor(model: DifferentiableModel, x: tf.Tensor4D, layers: string[]): tf.Tensor2D {
  const parts = featuresOf(model, x, layers).map(
    (t) => (t.rank === 4 ? t.mean([1, 2]) : t.reshape([x.shape[0], -1])) as tf.Tensor2D,
  );
  return parts.length === 1 ? parts[0] : (tf.concat(parts, 1) as tf.Tensor2D);
}

/** Common save(): the state every detector writes. */
export function detectorState(
  name: string,
  model: { name: string; sha256: string } | undefined,
  params: Record<string, unknown>,
  state: unknown,
): DetectorState {
  if (!model) throw badInput(`detector '${name}' is not fitted; nothing to save`);
  return { schema: 'medshield.detector/1', detector: name, model, params, state };
}

/** Concatenate image arrays. */
export function concat(...xs: Float32Array[]): Float32Array {
  const out = new Float32Array(xs.reduce((s, x) => s + x.length, 0));
  let o = 0;
  for (const x of xs) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}

/** Float32Array ⇄ base64 (exact, compact in JSON). */
export function f32ToBase64(x: Float32Array): string {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('base64');
}
export function base64ToF32(s: string): Float32Array {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}

/** Squared Euclidean distances between the rows of a (n × dim) and b (m × dim), n × m row-major. */
export async function pairwiseSq(
  a: Float32Array,
  n: number,
  b: Float32Array,
  m: number,
  dim: number,
): Promise<Float32Array> {
  const t = tf.tidy(() => {
    const A = tf.tensor2d(a, [n, dim]);
    const B = tf.tensor2d(b, [m, dim]);
    const d = tf.sub(
      tf.add(tf.sum(tf.square(A), 1, true), tf.sum(tf.square(B), 1).reshape([1, m])),
      tf.mul(2, tf.matMul(A, B, false, true)),
    );
    return tf.relu(d);
  });
  const out = (await t.data()) as Float32Array;
  t.dispose();
  return out;
}
