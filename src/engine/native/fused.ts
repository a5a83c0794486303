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
import type { ConvBiasActArgs, ConstConvArgs } from '../hooks.js';
import { convKernels } from './conv.js';
import { f32, type KernelArgs, type NativeImpl } from './util.js';
import type { NativeAddon } from './addon.js';

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

/**
 * Convolution with a CONSTANT filter and bias (an imported ONNX graph's weights: initialisers,
 * never trained), plain or depthwise: y = act(conv(x, filter) + bias), whose only gradient is the
 * input's. tfjs' Conv2D gradient saves the input x for the filter gradient; here nothing needs it,
 * so the tape saves the filter (a kept constant: no copy) and, with ReLU, the output for its mask —
 * a backward pass through a CNN then holds one activation per conv+ReLU and none per linear conv
 * (PyTorch's eager conv saves its input). Forward: with ReLU (plain conv), the native fused
 * kernel as `convBiasAct`; otherwise the Conv2D / depthwise kernel and the bias (and ReLU) added
 * in place by one native pass — the same float additions as conv2d + add (onnx-graph/graph.ts says
 * why a linear conv is not fused). Native backend only; the filter and bias gradients throw.
 */
export const CONST_CONV_KERNEL = 'MedshieldConstConv2D';
export const CONST_CONV_RELU_KERNEL = 'MedshieldConstConv2DRelu';

function convAttrs(attrs: Record<string, unknown>): Record<string, unknown> {
  return { strides: attrs.strides, pad: attrs.pad, dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined };
}

/** Kernel body of CONST_CONV(_RELU)_KERNEL (registered by index.ts). */
export function constConvKernel(relu: boolean): NativeImpl {
  return (args: KernelArgs, addon: NativeAddon) => {
    const { inputs, backend, attrs } = args;
    const depthwise = attrs.depthwise === true;
    if (relu && !depthwise)
      return convKernels.FusedConv2D!(
        {
          inputs: { x: inputs.x, filter: inputs.filter, bias: inputs.bias },
          backend,
          attrs: { ...convAttrs(attrs), activation: 'relu' },
        },
        addon,
      );
    const y = (depthwise ? convKernels.DepthwiseConv2dNative! : convKernels.Conv2D!)(
      { inputs: { x: inputs.x, filter: inputs.filter }, backend, attrs: convAttrs(attrs) },
      addon,
    ) as tf.TensorInfo | null;
    if (!y) return null;
    const yv = f32(backend, y);
    const b = inputs.bias ? f32(backend, inputs.bias) : null;
    if (!yv || (b && b.length !== y.shape[3])) return null; // (a bias of another length would be read out of bounds)
    if (b || relu) addon.biasAct(yv, b, y.shape[3], relu ? 1 : 0, 0);
    return y;
  };
}

let constGradRegistered = false;
function registerConstConvGradients(): void {
  if (constGradRegistered) return;
  constGradRegistered = true;
  const constant = (what: string) => (): tf.Tensor => {
    throw new Error(`constConv: the ${what} is a constant (an imported graph's weights have no gradient)`);
  };
  const dx = (dy: tf.Tensor, filter: tf.Tensor, attrs: tf.NamedAttrMap): tf.Tensor => {
    const a = attrs as unknown as Record<string, unknown>;
    return tf
      .engine()
      .runKernel(a.depthwise ? 'DepthwiseConv2dNativeBackpropInput' : 'Conv2DBackpropInput', { dy, filter }, {
        ...convAttrs(a),
        inputShape: a.inputShape,
      } as unknown as tf.NamedAttrMap) as tf.Tensor;
  };
  tf.registerGradient({
    kernelName: CONST_CONV_KERNEL,
    inputsToSave: ['filter'],
    gradFunc: ((dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => ({
      x: () => dx(dy, saved[0], attrs),
      filter: constant('filter'),
      bias: constant('bias'),
    })) as unknown as tf.GradConfig['gradFunc'],
  });
  tf.registerGradient({
    kernelName: CONST_CONV_RELU_KERNEL,
    inputsToSave: ['filter'],
    outputsToSave: [true],
    gradFunc: ((dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
      const [filter, y] = saved;
      const masked =
        dy.size >= 4096 && dy.dtype === 'float32'
          ? (tf.engine().runKernel(RELU_GRAD_KERNEL, { a: dy, b: y }, {}) as tf.Tensor)
          : tf.mul(dy, tf.step(y));
      return { x: () => dx(masked, filter, attrs), filter: constant('filter'), bias: constant('bias') };
    }) as unknown as tf.GradConfig['gradFunc'],
  });
}

/** y = act(conv(x, filter) + bias) with constant filter and bias, on the native backend (see above). */
export function nativeConstConv(args: ConstConvArgs): tf.Tensor4D {
  registerConstConvGradients();
  return tf
    .engine()
    .runKernel(
      args.activation === 'relu' ? CONST_CONV_RELU_KERNEL : CONST_CONV_KERNEL,
      { x: args.x, filter: args.filter, bias: args.bias },
      {
        strides: args.strides,
        pad: args.pad,
        depthwise: args.depthwise,
        inputShape: args.x.shape,
      } as unknown as tf.NamedAttrMap,
    ) as tf.Tensor4D;
}
