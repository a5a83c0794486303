/**
 * Classifier architectures as tfjs-layers functional models. Every model takes NHWC images in
 * [0,1] (normalisation to [-1,1] is the first layer, so ε is always in pixel units) and outputs
 * logits (one per class; binary tasks have two, as in MedMNIST's reference code).
 *
 * - `cnn`: a small VGG-style CNN (two conv blocks, a 128-unit dense layer).
 * - `resnet18` / `resnet50`: He et al., "Deep Residual Learning for Image Recognition", CVPR 2016.
 *   For inputs below 64 px the stem is MedMNIST's 28-px variant (3×3 conv, stride 1, no max-pool);
 *   from 64 px on it is the standard 7×7/2 conv + 3×3/2 max-pool.
 *
 * Named layers expose intermediate features for detectors: `stem`, `block1`… (or `layer1`…
 * for ResNets), `penultimate` (the pooled / dense features before the classifier) and `logits`.
 */
import { tf, Rng } from '../engine/index.js';
import { badArgument } from '../errors.js';

export type Architecture = 'cnn' | 'resnet18' | 'resnet50';
export const ARCHITECTURES: Architecture[] = ['cnn', 'resnet18', 'resnet50'];

export interface ArchSpec {
  arch: Architecture;
  inputShape: [number, number, number];
  numClasses: number;
  /** Base width: channels of the first stage (cnn default 32, ResNets default 64). */
  width?: number;
  seed: number;
}

export const DEFAULT_WIDTH: Record<Architecture, number> = { cnn: 32, resnet18: 64, resnet50: 64 };

/** Layer names whose outputs are exposed as features, per architecture. */
export function featureLayers(arch: Architecture): string[] {
  return arch === 'cnn'
    ? ['block1', 'block2', 'penultimate']
    : ['stem', 'layer1', 'layer2', 'layer3', 'layer4', 'penultimate'];
}

type SymT = tf.SymbolicTensor;

class Builder {
  private rng: Rng;
  private n = 0;
  constructor(seed: number) {
    this.rng = new Rng(seed);
  }

  private name(kind: string): string {
    return `${kind}_${++this.n}`;
  }

  conv(x: SymT, filters: number, kernel: number, stride = 1, name?: string): SymT {
    return tf.layers
      .conv2d({
        filters,
        kernelSize: kernel,
        strides: stride,
        padding: 'same',
        useBias: false,
        kernelInitializer: tf.initializers.heNormal({ seed: this.rng.fork() }),
        name: name ?? this.name('conv'),
      })
      .apply(x) as SymT;
  }

  bn(x: SymT, name?: string): SymT {
    return tf.layers
      .batchNormalization({ momentum: 0.9, epsilon: 1e-5, name: name ?? this.name('bn') })
      .apply(x) as SymT;
  }

  relu(x: SymT, name?: string): SymT {
    return tf.layers.reLU({ name: name ?? this.name('relu') }).apply(x) as SymT;
  }

  convBnRelu(x: SymT, filters: number, kernel: number, stride = 1, name?: string): SymT {
    return this.relu(this.bn(this.conv(x, filters, kernel, stride)), name);
  }

  dense(x: SymT, units: number, name?: string): SymT {
    return tf.layers
      .dense({
        units,
        kernelInitializer: tf.initializers.glorotUniform({ seed: this.rng.fork() }),
        biasInitializer: 'zeros',
        name: name ?? this.name('dense'),
      })
      .apply(x) as SymT;
  }

  /** ResNet basic block (two 3×3 convs). */
  basic(x: SymT, filters: number, stride: number, name: string): SymT {
    const inC = x.shape[3] as number;
    let y = this.convBnRelu(x, filters, 3, stride);
    y = this.bn(this.conv(y, filters, 3, 1));
    const short = stride !== 1 || inC !== filters ? this.bn(this.conv(x, filters, 1, stride)) : x;
    const sum = tf.layers.add({ name: this.name('add') }).apply([y, short]) as SymT;
    return this.relu(sum, name);
  }

  /** ResNet bottleneck block (1×1, 3×3, 1×1 with expansion 4). */
  bottleneck(x: SymT, filters: number, stride: number, name: string): SymT {
    const inC = x.shape[3] as number;
    const out = filters * 4;
    let y = this.convBnRelu(x, filters, 1, 1);
    y = this.convBnRelu(y, filters, 3, stride);
    y = this.bn(this.conv(y, out, 1, 1));
    const short = stride !== 1 || inC !== out ? this.bn(this.conv(x, out, 1, stride)) : x;
    const sum = tf.layers.add({ name: this.name('add') }).apply([y, short]) as SymT;
    return this.relu(sum, name);
  }
}

export function validateSpec(spec: ArchSpec): void {
  if (!ARCHITECTURES.includes(spec.arch))
    throw badArgument(`unknown model architecture '${spec.arch}' (choose ${ARCHITECTURES.join(', ')})`);
  const [h, w, c] = spec.inputShape;
  if (!(h >= 8 && w >= 8 && (c === 1 || c === 3)))
    throw badArgument(`input shape ${spec.inputShape.join('×')} is not supported (need ≥ 8×8 with 1 or 3 channels)`);
  if (!(Number.isInteger(spec.numClasses) && spec.numClasses >= 2))
    throw badArgument(`a classifier needs at least 2 output classes, got ${spec.numClasses}`);
  if (spec.width !== undefined && !(Number.isInteger(spec.width) && spec.width >= 4 && spec.width <= 512))
    throw badArgument(`--width must be an integer between 4 and 512, got ${spec.width}`);
}

/** Build the model. Same spec and seed → same initial weights. */
export function buildModel(spec: ArchSpec): tf.LayersModel {
  validateSpec(spec);
  const width = spec.width ?? DEFAULT_WIDTH[spec.arch];
  const b = new Builder(spec.seed);
  const input = tf.input({ shape: spec.inputShape, name: 'image' });
  const x0 = tf.layers.rescaling({ scale: 2, offset: -1, name: 'normalize' }).apply(input) as SymT;
  let x: SymT;
  if (spec.arch === 'cnn') {
    x = b.convBnRelu(x0, width, 3);
    x = b.convBnRelu(x, width, 3, 1);
    x = tf.layers.maxPooling2d({ poolSize: 2, name: 'block1' }).apply(x) as SymT;
    x = b.convBnRelu(x, 2 * width, 3);
    x = b.convBnRelu(x, 2 * width, 3);
    x = tf.layers.maxPooling2d({ poolSize: 2, name: 'block2' }).apply(x) as SymT;
    x = tf.layers.flatten({ name: 'flatten' }).apply(x) as SymT;
    x = tf.layers.reLU({ name: 'penultimate' }).apply(b.dense(x, 128)) as SymT;
  } else {
    const small = spec.inputShape[0] < 64;
    if (small) {
      x = b.convBnRelu(x0, width, 3, 1, 'stem');
    } else {
      x = b.convBnRelu(x0, width, 7, 2);
      x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'stem' }).apply(x) as SymT;
    }
    const blocks = spec.arch === 'resnet18' ? [2, 2, 2, 2] : [3, 4, 6, 3];
    for (let s = 0; s < 4; s++) {
      for (let i = 0; i < blocks[s]; i++) {
        const stride = i === 0 && s > 0 ? 2 : 1;
        const name = i === blocks[s] - 1 ? `layer${s + 1}` : `layer${s + 1}_${i}`;
        x = spec.arch === 'resnet18' ? b.basic(x, width << s, stride, name) : b.bottleneck(x, width << s, stride, name);
      }
    }
    x = tf.layers.globalAveragePooling2d({ name: 'penultimate' }).apply(x) as SymT;
  }
  const logits = b.dense(x, spec.numClasses, 'logits');
  return tf.model({ inputs: input, outputs: logits, name: spec.arch });
}

/** Multiply-accumulate count ×2 of the conv and dense layers for one image (analytic FLOPs). */
export function modelFlops(model: tf.LayersModel): number {
  let flops = 0;
  for (const layer of model.layers) {
    const cls = layer.getClassName();
    if (cls === 'Conv2D') {
      const out = layer.outputShape as number[];
      const k = layer.getWeights()[0].shape as number[];
      flops += 2 * out[1] * out[2] * out[3] * k[0] * k[1] * k[2];
    } else if (cls === 'Dense') {
      const k = layer.getWeights()[0].shape as number[];
      flops += 2 * k[0] * k[1];
    }
  }
  return flops;
}
