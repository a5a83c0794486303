/**
 * The Model interface everything plugs into (attacks, defences, detectors, eval, gateway).
 * Inputs are NHWC float tensors in [0,1]; any normalisation lives inside the model.
 *
 * A `DifferentiableModel` gives tensors that tf.grad can differentiate (white-box attacks need it);
 * a `ForwardModel` (ONNX file, HTTP endpoint) only returns probabilities and says so in its type.
 */
import { tf } from '../engine/index.js';
import type { Task } from '../data/medmnist.js';
import type { ModelCard } from './card.js';
import { featureLayers, type Architecture } from './architectures.js';
import { badArgument } from '../errors.js';
import { InferenceGraph } from './inference.js';

export interface ModelBase {
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task: Task;
  readonly card: ModelCard;
}

export interface ForwardModel extends ModelBase {
  readonly differentiable: false;
  /** Probabilities for a batch [n,H,W,C] in [0,1]; returns n × k values. */
  predictProbs(x: Float32Array, n: number): Promise<Float32Array>;
}

export interface DifferentiableModel extends ModelBase {
  readonly differentiable: true;
  /** Logits [n,k] (differentiable). */
  logits(x: tf.Tensor4D): tf.Tensor2D;
  /** Probabilities [n,k]: softmax, or sigmoid per label for multi-label tasks. */
  probs(x: tf.Tensor4D): tf.Tensor2D;
  /** Named intermediate features (default: the penultimate layer). */
  features(x: tf.Tensor4D, layer?: string): tf.Tensor;
  /** Names accepted by `features`. */
  readonly featureNames: string[];
  predictProbs(x: Float32Array, n: number): Promise<Float32Array>;
  /**
   * `features(x, l)` for every layer l (a name of `featureNames` or 'logits') from one forward pass, where the
   * model can share it; callers fall back to `features` per layer when it is absent (`featuresOf`).
   */
  featuresMany?(x: tf.Tensor4D, layers: string[]): tf.Tensor[];
}

/** `features(x, l)` for each layer: one shared pass when the model offers `featuresMany`, else one pass per layer. */
export function featuresOf(model: DifferentiableModel, x: tf.Tensor4D, layers: string[]): tf.Tensor[] {
  return model.featuresMany ? model.featuresMany(x, layers) : layers.map((l) => model.features(x, l));
}

export type Model = ForwardModel | DifferentiableModel;

/** A tfjs-layers network plus its card. */
export class Classifier implements DifferentiableModel {
  readonly differentiable = true as const;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task: Task;
  readonly featureNames: string[];
  /** Inference-mode runner with batch norm folded into the convolutions (see inference.ts). */
  readonly inference: InferenceGraph;

  constructor(
    readonly net: tf.LayersModel,
    public card: ModelCard,
  ) {
    this.inputShape = card.input.shape;
    this.classes = card.dataset.classes;
    this.task = card.dataset.task;
    this.featureNames = featureLayers(card.architecture.name as Architecture);
    this.inference = new InferenceGraph(net);
  }

  /**
   * Inference-mode logits (batch norm with its moving statistics, folded into the convs).
   * Differentiable w.r.t. the input; for weight gradients train through `net.apply(x, {training})`.
   */
  logits(x: tf.Tensor4D): tf.Tensor2D {
    return this.inference.run(x) as tf.Tensor2D;
  }

  probs(x: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const z = this.logits(x);
      return this.task === 'multilabel' ? tf.sigmoid(z) : tf.softmax(z);
    });
  }

  features(x: tf.Tensor4D, layer = 'penultimate'): tf.Tensor {
    if (layer === 'logits') return this.logits(x);
    if (!this.featureNames.includes(layer))
      throw badArgument(
        `model has no feature layer '${layer}' (choose ${[...this.featureNames, 'logits'].join(', ')})`,
      );
    return this.inference.run(x, this.net.getLayer(layer).output as tf.SymbolicTensor);
  }

  featuresMany(x: tf.Tensor4D, layers: string[]): tf.Tensor[] {
    for (const l of layers)
      if (l !== 'logits' && !this.featureNames.includes(l))
        throw badArgument(`model has no feature layer '${l}' (choose ${[...this.featureNames, 'logits'].join(', ')})`);
    return this.inference.runMany(
      x,
      layers.map((l) => (l === 'logits' ? this.net.outputs[0]! : this.net.getLayer(l).output) as tf.SymbolicTensor),
    );
  }

  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    return predictProbsOf(this, x, n);
  }
}

/** `predictProbs` for any differentiable model: `probs` on n images of its input shape, read back. */
export async function predictProbsOf(
  model: Pick<DifferentiableModel, 'inputShape' | 'probs'>,
  x: Float32Array,
  n: number,
): Promise<Float32Array> {
  const [h, w, c] = model.inputShape;
  const t = tf.tensor4d(x, [n, h, w, c]);
  const p = model.probs(t);
  const out = (await p.data()) as Float32Array;
  t.dispose();
  p.dispose();
  return out;
}
