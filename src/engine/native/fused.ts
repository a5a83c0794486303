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
import { RELU_GRAD_KERNEL } from './elementwise.js';
import type { ConvBiasActArgs } from '../hooks.js';

interface FusedConvArgs {
  x: tf.Tensor;
  filter: tf.Tensor;
  strides: number | [number, number];
  pad: 'valid' | 'same' | number;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  bias?: tf.Tensor | null;
  activation?: string | null;
  preluActivationWeights?: tf.Tensor | null;
  leakyreluAlpha?: number;
}
type FusedNs = { conv2d: (args: FusedConvArgs) => tf.Tensor; [k: string]: unknown };

let installed = false;
/** Install the wrapper (idempotent); false if tfjs-core's exports cannot be replaced. */
export function installLazyConvGradients(): boolean {
  if (installed) return true;
  const core = createRequire(import.meta.url)('@tensorflow/tfjs-core') as { fused: FusedNs };
  const desc = Object.getOwnPropertyDescriptor(core, 'fused');
  if (!desc?.writable || typeof core.fused?.conv2d !== 'function') return false;
  const orig = core.fused;
  const conv2d = (args: FusedConvArgs): tf.Tensor => {
    const plain =
      tf.getBackend() === NATIVE_BACKEND_NAME &&
      args.bias == null &&
      args.preluActivationWeights == null &&
      (args.activation == null || args.activation === 'linear') &&
      (args.dataFormat ?? 'NHWC') === 'NHWC';
    if (!plain) return orig.conv2d(args);
    return tf.conv2d(
      args.x as tf.Tensor4D,
      args.filter as tf.Tensor4D,
      args.strides,
      args.pad,
      'NHWC',
      args.dilations ?? [1, 1],
      args.dimRoundingMode,
    );
  };
  const replacement: FusedNs = Object.assign(Object.create(null) as FusedNs, orig, { conv2d });
  core.fused = replacement;
  installed = true;
  return true;
}

/**
 * Conv2D + per-channel bias + optional ReLU as one native oneDNN call (post-ops) with LAZY
 * per-input gradients: the folded inference path of src/models (conv with batch norm folded in)
 * differentiates w.r.t. the input on every attack step, and tfjs' fused conv2d would also compute
 * the filter and bias gradients eagerly. Forward = the FusedConv2D kernel; backward masks dy with
 * [y > 0] once (ReLU) and computes dx, dfilter, dbias only when asked.
 */
export const FUSED_CONV_KERNEL = 'MedshieldFusedConv2D';

let gradRegistered = false;
function registerFusedConvGradient(): void {
  if (gradRegistered) return;
  gradRegistered = true;
  tf.registerGradient({
    kernelName: FUSED_CONV_KERNEL,
    inputsToSave: ['x', 'filter'],
    outputsToSave: [true],
    gradFunc: ((dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [x, filter, y] = saved as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
      const a = attrs as unknown as { strides: [number, number] | number; pad: 'valid' | 'same'; activation: string };
      // Computed here, not lazily inside a thunk: tfjs runs each thunk in its own tidy.
      const masked =
        a.activation !== 'relu'
          ? dy
          : dy.size >= 4096 && dy.dtype === 'float32'
            ? (tf.engine().runKernel(RELU_GRAD_KERNEL, { a: dy, b: y }, {}) as tf.Tensor)
            : tf.mul(dy, tf.step(y));
      const d = (): tf.Tensor => masked;
      const conv = { strides: a.strides, pad: a.pad, dataFormat: 'NHWC', dilations: 1, dimRoundingMode: undefined };
      return {
        x: () =>
          tf.engine().runKernel('Conv2DBackpropInput', { dy: d(), filter }, {
            ...conv,
            inputShape: x.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        filter: () =>
          tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: d() }, {
            ...conv,
            filterShape: filter.shape,
          } as unknown as tf.NamedAttrMap) as tf.Tensor,
        bias: () => tf.sum(d(), [0, 1, 2]),
      };
    }) as unknown as tf.GradConfig['gradFunc'],
  });
}

/** The FusedConv2D kernel body under the lazy-gradient kernel name (registered by index.ts). */
export function fusedConvKernelAttrs(args: ConvBiasActArgs): tf.NamedAttrMap {
  return {
    strides: args.strides,
    pad: args.pad,
    dataFormat: 'NHWC',
    dilations: [1, 1],
    activation: args.activation,
  } as unknown as tf.NamedAttrMap;
}

/** y = act(conv2d(x, filter) + bias), NHWC, dilation 1, on the native backend (lazy gradients). */
export function nativeConvBiasAct(args: ConvBiasActArgs): tf.Tensor4D {
  registerFusedConvGradient();
  return tf
    .engine()
    .runKernel(
      FUSED_CONV_KERNEL,
      { x: args.x, filter: args.filter, bias: args.bias },
      fusedConvKernelAttrs(args),
    ) as tf.Tensor4D;
}
