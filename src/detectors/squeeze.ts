/**
 * Feature squeezing — Xu, Evans & Qi, "Feature squeezing: detecting adversarial examples in deep
 * neural networks", NDSS 2018.
 *
 *   score(x) = max_s ‖ p(x) − p(squeeze_s(x)) ‖₁
 * over the squeezers s: bit-depth reduction to b bits (round(x·(2ᵇ−1))/(2ᵇ−1); b = 5 for grey X-rays,
 * between the paper's 1 for MNIST and 5 for colour images) and median smoothing with 2×2 and 3×3
 * windows (reflecting borders; the 2×2 window covers the pixel and its upper-left neighbours, as
 * scipy's median_filter with size 2). The score is threshold-free (the paper picks the threshold at
 * 5 % false positives on clean images; `detect` reports that threshold); `fit` only records the model.
 *
 * Adaptive view (`scoreTensor`): the same score, with the squeezers passed straight through (BPDA,
 * Athalye et al. 2018: forward s(x), backward ∂s/∂x ≈ I); the max over squeezers stays a max.
 *
 * Usage: `medshield detect --model default --detector squeeze --train-attack pgd --test-attacks fgsm,pgd,cw --eps 8/255
 * --json`
 */
import { tf, untaped } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { Detector, DetectorFitData, DetectorState } from './types.js';
import { checkFitData, checkModel, concat, detectorState, modelIdentity, preparedFor } from './common.js';
import { medianFilter } from '../defences/ops.js';

export interface SqueezeParams {
  bits?: number;
  medians?: number[];
}

export function bitDepth(x: Float32Array, bits: number): Float32Array {
  const l = 2 ** bits - 1;
  return Float32Array.from(x, (v) => Math.round(v * l) / l);
}

/** Median filter with a k×k window (k even: window [i−k/2, i+k/2−1]), reflected borders, per channel. */
export function median(x: Float32Array, n: number, shape: [number, number, number], k: number): Float32Array {
  return medianFilter(x, n, shape, k);
}

export class Squeeze implements Detector {
  readonly name = 'squeeze';
  readonly perImage = true;
  readonly reference = 'Xu, Evans & Qi, NDSS 2018, feature squeezing (bit depth 5, median 2×2 and 3×3)';
  private model?: { name: string; sha256: string };
  private adaptive?: { model: DifferentiableModel };

  constructor(readonly params: SqueezeParams = {}) {}

  async fit(model: DifferentiableModel, data: DetectorFitData): Promise<void> {
    checkFitData(this.name, model, data);
    this.model = await modelIdentity(model);
  }

  async score(model: DifferentiableModel, x: Float32Array, n: number): Promise<Float64Array> {
    await checkModel(this.name, this.model, model);
    const k = model.classes.length;
    const p0 = await model.predictProbs(x, n);
    const squeezed = this.squeezed(model, x, n);
    const out = new Float64Array(n);
    for (const xs of squeezed) {
      const p = await model.predictProbs(xs, n);
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += Math.abs(p[i * k + j] - p0[i * k + j]);
        out[i] = Math.max(out[i], s);
      }
    }
    return out;
  }

  /** The squeezed images of x (flat), one per squeezer, in score()'s order. */
  private squeezed(model: DifferentiableModel, x: Float32Array, n: number): Float32Array[] {
    return [
      bitDepth(x, this.params.bits ?? 5),
      ...(this.params.medians ?? [2, 3]).map((m) => median(x, n, model.inputShape, m)),
    ];
  }

  /**
   * max_s ‖p(x) − p(s(x))‖₁ as a tensor; s(x) is computed on x's values and passed straight through (BPDA).
   * The gradient of a max flows through its largest term only, so the squeezer that scores highest for each image is
   * picked from a forward pass of the three squeezed copies that the gradient does not go through, and only p(x) and
   * p(s*(x)) are differentiated: p(x) is the iterate's own forward pass (shared with the classifier's logits when
   * the model shares passes), so a step costs two differentiated passes and three forward ones instead of four
   * differentiated passes (and a fifth for the classifier term).
   */
  scoreTensor(model: DifferentiableModel, x: tf.Tensor4D): tf.Tensor1D {
    preparedFor(this.name, this.adaptive, model);
    const n = x.shape[0];
    const [, h, w, c] = x.shape;
    const d = h * w * c;
    const k = model.classes.length;
    const squeezed = this.squeezed(model, x.dataSync() as Float32Array, n);
    const p0 = model.probs(x);
    const p0v = p0.dataSync();
    const pv = untaped(() =>
      tf.tidy(() => model.probs(tf.tensor4d(concat(...squeezed), [squeezed.length * n, h, w, c])).dataSync()),
    );
    const pick = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestScore = -1;
      squeezed.forEach((_, j) => {
        let s = 0;
        for (let m = 0; m < k; m++) s += Math.abs(pv[(j * n + i) * k + m] - p0v[i * k + m]);
        if (s > bestScore) [best, bestScore] = [j, s];
      });
      pick.set(squeezed[best].subarray(i * d, (i + 1) * d), i * d);
    }
    const straight = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
      value: tf.tensor(pick, (args[0] as tf.Tensor).shape),
      gradFunc: (dy: tf.Tensor) => dy,
    }))(x) as tf.Tensor4D;
    return tf.sum(tf.abs(tf.sub(model.probs(straight), p0)), 1) as tf.Tensor1D;
  }

  async prepareAdaptive(model: DifferentiableModel): Promise<{ exact: boolean; note: string }> {
    await checkModel(this.name, this.model, model);
    this.adaptive = { model };
    return {
      exact: true,
      note: 'the value is score() exactly; the gradient passes the squeezers straight through (BPDA: ∂s(x)/∂x ≈ I)',
    };
  }

  save(): DetectorState {
    return detectorState(this.name, this.model, { ...this.params }, {});
  }

  static load(s: DetectorState): Squeeze {
    const d = new Squeeze(s.params as SqueezeParams);
    d.model = s.model;
    return d;
  }
}
