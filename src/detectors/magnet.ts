/**
 * MagNet — Meng & Chen, "MagNet: a two-pronged defense against adversarial examples", CCS 2017.
 *
 * A small convolutional autoencoder AE is trained on clean training images only (the paper's MNIST
 * architecture: Conv3×3·3 σ → AvgPool 2×2 → Conv3×3·3 σ → Conv3×3·3 σ → UpSample 2×2 → Conv3×3·3 σ →
 * Conv3×3·C σ; mean squared error, Adam 1e-3, batch 32, 30 epochs and at least 1500 steps by default, seeded init and
 * shuffles).
 * - Detector (reconstruction error): score(x) = (1/d)‖x − AE(x)‖_p, p = 1 (default) or 2 (mean squared);
 *   adversarial examples lie off the clean-image manifold, so they reconstruct worse.
 * - Reformer: `reform(x)` = AE(x), the image moved back towards the manifold; a defence passes inputs
 *   through it before the classifier (src/defences can wrap a model with it).
 *
 * Adaptive view (`scoreTensor`): the same reconstruction error, differentiable through the autoencoder.
 *
 * Usage: `medshield detect --model default --detector magnet --train-attack pgd --test-attacks fgsm,pgd --eps 8/255
 * --json`
 */
import { tf, Rng } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { Detector, DetectorFitData, DetectorState } from './types.js';
import {
  base64ToF32,
  checkFitData,
  checkModel,
  detectorState,
  f32ToBase64,
  modelIdentity,
  preparedFor,
} from './common.js';

export interface MagNetParams {
  epochs?: number;
  minSteps?: number;
  filters?: number;
  norm?: 1 | 2;
  seed?: number;
  batchSize?: number;
}

interface MagNetState {
  shape: [number, number, number];
  weights: Array<{ shape: number[]; data: string }>;
}

function autoencoder([h, w, c]: [number, number, number], filters: number, seed: number): tf.Sequential {
  const rng = new Rng(seed);
  const conv = (f: number, extra: { inputShape?: number[] } = {}): tf.layers.Layer =>
    tf.layers.conv2d({
      filters: f,
      kernelSize: 3,
      padding: 'same',
      activation: 'sigmoid',
      kernelInitializer: tf.initializers.glorotUniform({ seed: rng.fork() }),
      ...extra,
    });
  const m = tf.sequential();
  m.add(conv(filters, { inputShape: [h, w, c] }));
  m.add(tf.layers.averagePooling2d({ poolSize: 2, padding: 'same' }));
  m.add(conv(filters));
  m.add(conv(filters));
  m.add(tf.layers.upSampling2d({ size: [2, 2] }));
  m.add(conv(filters));
  m.add(conv(c));
  if (h % 2 || w % 2)
    m.add(
      tf.layers.cropping2D({
        cropping: [
          [0, h % 2],
          [0, w % 2],
        ],
      }),
    );
  return m;
}

export class MagNet implements Detector {
  readonly name = 'magnet';
  readonly perImage = true;
  readonly reference = 'Meng & Chen, CCS 2017, autoencoder reconstruction-error detector + reformer';
  private model?: { name: string; sha256: string };
  private ae?: tf.Sequential;
  private shape?: [number, number, number];
  private adaptive?: { model: DifferentiableModel };

  constructor(readonly params: MagNetParams = {}) {}

  async fit(model: DifferentiableModel, data: DetectorFitData): Promise<void> {
    const { d, nClean } = checkFitData(this.name, model, data);
    const seed = this.params.seed ?? data.seed ?? 0;
    this.shape = model.inputShape;
    const [h, w, c] = this.shape;
    this.ae = autoencoder(this.shape, this.params.filters ?? 3, seed);
    const opt = tf.train.adam(1e-3);
    const rng = new Rng(seed ^ 0xa3);
    const bs = this.params.batchSize ?? 32;
    const perEpoch = Math.ceil(nClean / bs);
    const epochs = Math.max(this.params.epochs ?? 30, Math.ceil((this.params.minSteps ?? 1500) / perEpoch));
    for (let e = 0; e < epochs; e++) {
      const order = rng.shuffle(Int32Array.from({ length: nClean }, (_, i) => i)) as Int32Array;
      for (let s = 0; s < nClean; s += bs) {
        const idx = order.subarray(s, Math.min(s + bs, nClean));
        const m = idx.length;
        const xb = new Float32Array(m * d);
        idx.forEach((i, j) => xb.set(data.clean.subarray(i * d, (i + 1) * d), j * d));
        const t = tf.tensor4d(xb, [m, h, w, c]);
        const loss = opt.minimize(
          () => tf.losses.meanSquaredError(t, this.ae!.apply(t, { training: true }) as tf.Tensor4D) as tf.Scalar,
          true,
        );
        loss?.dispose();
        t.dispose();
      }
    }
    opt.dispose();
    this.model = await modelIdentity(model);
  }

  /** The reformer: AE(x) for n images (values in [0,1]). */
  async reform(x: Float32Array, n: number): Promise<Float32Array> {
    const [h, w, c] = this.shape!;
    const out = tf.tidy(() => this.ae!.apply(tf.tensor4d(x, [n, h, w, c])) as tf.Tensor);
    const v = (await out.data()) as Float32Array;
    out.dispose();
    return v;
  }

  async score(model: DifferentiableModel, x: Float32Array, n: number): Promise<Float64Array> {
    await checkModel(this.name, this.model, model);
    const r = await this.reform(x, n);
    const d = x.length / n;
    const p = this.params.norm ?? 1;
    return Float64Array.from({ length: n }, (_, i) => {
      let s = 0;
      for (let j = i * d; j < (i + 1) * d; j++) s += p === 1 ? Math.abs(x[j] - r[j]) : (x[j] - r[j]) ** 2;
      return s / d;
    });
  }

  /** (1/d)‖x − AE(x)‖_p per image as a differentiable tensor (p = 1: mean |·|, p = 2: mean squared), as score(). */
  scoreTensor(model: DifferentiableModel, x: tf.Tensor4D): tf.Tensor1D {
    preparedFor(this.name, this.adaptive, model);
    const r = tf.sub(x, this.ae!.apply(x) as tf.Tensor4D);
    return tf.mean((this.params.norm ?? 1) === 1 ? tf.abs(r) : tf.square(r), [1, 2, 3]) as tf.Tensor1D;
  }

  async prepareAdaptive(model: DifferentiableModel): Promise<{ exact: boolean; note: string }> {
    await checkModel(this.name, this.model, model);
    this.adaptive = { model };
    return { exact: true, note: 'the reconstruction error of score(), differentiable through the autoencoder' };
  }

  save(): DetectorState {
    const weights = this.ae
      ? this.ae.getWeights().map((t) => ({ shape: t.shape, data: f32ToBase64(t.dataSync() as Float32Array) }))
      : [];
    return detectorState(this.name, this.model, { ...this.params }, { shape: this.shape, weights } as MagNetState);
  }

  static load(s: DetectorState): MagNet {
    const d = new MagNet(s.params as MagNetParams);
    const st = s.state as MagNetState;
    d.model = s.model;
    d.shape = st.shape;
    d.ae = autoencoder(st.shape, d.params.filters ?? 3, 0);
    d.ae.setWeights(st.weights.map((w) => tf.tensor(base64ToF32(w.data), w.shape)));
    return d;
  }
}
