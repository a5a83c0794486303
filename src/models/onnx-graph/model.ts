/**
 * A differentiable classifier from an ONNX graph: the model's declared preprocessing (pixel range,
 * grey → RGB replication, per-channel mean/std) followed by the graph run with tfjs ops (graph.ts).
 * Inputs are medshield's NHWC images in [0,1], so ε stays in the pixel units of the image the user
 * sees, whatever normalisation the network was trained with (the preprocessing is part of the
 * differentiated function, as in Croce et al.'s RobustBench wrappers).
 */
import { tf } from '../../engine/index.js';
import { badArgument } from '../../errors.js';
import type { ModelCard } from '../card.js';
import { predictProbsOf, type DifferentiableModel } from '../model.js';
import type { OnnxGraph } from './graph.js';

/** What the card declares about the graph's input (card.onnx.preprocess). */
export interface OnnxPreprocess {
  /** Pixel range the network expects: [0,1] or [0,255] (inputs are scaled from [0,1]). */
  range: [number, number];
  /** Per-channel mean/std applied after scaling, in the network's range; null when inside the graph. */
  mean: number[] | null;
  std: number[] | null;
  /** Channels the network takes (images with 1 channel are replicated when this is 3). */
  channels: number;
}

export class OnnxGraphModel implements DifferentiableModel {
  readonly differentiable = true as const;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task;
  readonly featureNames: string[];
  private readonly nchw: boolean;
  private readonly pre: OnnxPreprocess;
  private meanT: tf.Tensor | null = null;
  private stdT: tf.Tensor | null = null;

  constructor(
    readonly graph: OnnxGraph,
    readonly card: ModelCard,
    featureLayers: string[],
  ) {
    this.inputShape = card.input.shape;
    this.classes = card.dataset.classes;
    this.task = card.dataset.task;
    this.featureNames = featureLayers;
    this.nchw = (card.onnx?.layout ?? 'NCHW') === 'NCHW';
    this.pre = card.onnx?.preprocess ?? { range: [0, 1], mean: null, std: null, channels: card.input.shape[2] };
    if (this.pre.mean && this.pre.std) {
      this.meanT = tf.keep(tf.tensor1d(this.pre.mean));
      this.stdT = tf.keep(tf.tensor1d(this.pre.std));
    }
  }

  /** [0,1] NHWC images → the network's input (still NHWC; the graph reads it as NCHW when nchw). */
  preprocess(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      let y: tf.Tensor4D = x;
      const [lo, hi] = this.pre.range;
      if (lo !== 0 || hi !== 1) y = tf.add(tf.mul(y, hi - lo), lo);
      if (y.shape[3] === 1 && this.pre.channels === 3) y = tf.concat([y, y, y], 3);
      if (this.meanT && this.stdT) y = tf.div(tf.sub(y, this.meanT), this.stdT);
      return y;
    });
  }

  private rawOutput(x: tf.Tensor4D): tf.Tensor2D {
    const [z] = this.graph.run(this.preprocess(x), this.nchw, [this.graph.outputName]);
    return tf.reshape(z, [x.shape[0], -1]) as tf.Tensor2D;
  }

  logits(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const z = this.rawOutput(x);
      if (this.card.onnx?.output !== 'probs') return z;
      const p = tf.clipByValue(z, 1e-12, 1 - 1e-7);
      return (this.task === 'multilabel' ? tf.log(tf.div(p, tf.sub(1, p))) : tf.log(p)) as tf.Tensor2D;
    });
  }

  probs(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.card.onnx?.output === 'probs') return this.rawOutput(x);
      const z = this.rawOutput(x);
      return this.task === 'multilabel' ? tf.sigmoid(z) : tf.softmax(z);
    });
  }

  /** An ONNX value by name ('penultimate' = the first declared feature layer, 'logits'); 4-D maps come back NHWC. */
  features(x: tf.Tensor4D, layer = 'penultimate'): tf.Tensor {
    if (layer === 'logits') return this.logits(x);
    const name = layer === 'penultimate' ? this.featureNames[0] : layer;
    if (!this.featureNames.includes(name) && !this.graph.hasValue(name))
      throw badArgument(
        `model has no feature layer '${layer}' (choose ` +
          `${[...this.featureNames, 'logits'].join(', ')}, or any ONNX node output)`,
      );
    return tf.tidy(() => {
      const [f] = this.graph.run(this.preprocess(x), this.nchw, [name]);
      return f.rank === 4 && this.nchw ? tf.transpose(f, [0, 2, 3, 1]) : f;
    });
  }

  /**
   * The final dense layer when the graph ends in Gemm/MatMul(+Add) on the penultimate features (for
   * KD-BU's dropout passes): W [dim, k], b [k]. Null otherwise.
   */
  logitsDense(): { W: tf.Tensor2D; b: tf.Tensor1D } | null {
    return this.graph.finalDense(this.featureNames[0]);
  }

  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    return predictProbsOf(this, x, n);
  }
}
