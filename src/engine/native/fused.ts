/**
 * Lazy filter gradients for bias-free convolutions on the native backend.
 *
 * tfjs-layers' Conv2D layer calls tf.fused.conv2d, whose custom gradient computes the input AND
 * the filter gradient eagerly — so an input gradient (every attack step) also pays for a full
 * Conv2DBackpropFilter per layer, about a third of its time. Without bias and activation the
 * fused op is exactly tf.conv2d, whose registered gradient computes each input's gradient only
 * when asked. This wraps the `fused.conv2d` export of @tensorflow/tfjs-core (what tfjs-layers
 * calls) to use tf.conv2d in that case while `native` is the backend; anything else (bias,
 * activation, prelu, another backend) goes to the original.
 */
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { NATIVE_BACKEND_NAME } from './name.js';

interface FusedConvArgs {
  x: tf.Tensor; filter: tf.Tensor; strides: number | [number, number]; pad: 'valid' | 'same' | number;
  dataFormat?: 'NHWC' | 'NCHW'; dilations?: number | [number, number]; dimRoundingMode?: 'floor' | 'round' | 'ceil';
  bias?: tf.Tensor | null; activation?: string | null; preluActivationWeights?: tf.Tensor | null; leakyreluAlpha?: number;
}
type FusedNs = { conv2d: (args: FusedConvArgs) => tf.Tensor; [k: string]: unknown };

let installed = false;
/** Install the wrapper (idempotent); false if tfjs-core's exports cannot be replaced. */
export function installLazyConvGradients(): boolean {
  if (installed) return true;
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as { fused: FusedNs };
  const desc = Object.getOwnPropertyDescriptor(core, 'fused');
  if (!desc || !desc.writable || typeof core.fused?.conv2d !== 'function') return false;
  const orig = core.fused;
  const conv2d = (args: FusedConvArgs): tf.Tensor => {
    const plain = tf.getBackend() === NATIVE_BACKEND_NAME && args.bias == null && args.preluActivationWeights == null
      && (args.activation == null || args.activation === 'linear') && (args.dataFormat ?? 'NHWC') === 'NHWC';
    if (!plain) return orig.conv2d(args);
    return tf.conv2d(args.x as tf.Tensor4D, args.filter as tf.Tensor4D, args.strides, args.pad, 'NHWC', args.dilations ?? [1, 1], args.dimRoundingMode);
  };
  const replacement: FusedNs = Object.assign(Object.create(null) as FusedNs, orig, { conv2d });
  core.fused = replacement;
  installed = true;
  return true;
}
