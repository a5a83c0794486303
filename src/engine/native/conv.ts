/**
 * Native 2-D convolution kernels (oneDNN, native/conv.cc): Conv2D, Conv2DBackpropInput,
 * Conv2DBackpropFilter, FusedConv2D (bias + activation as oneDNN post-ops) and the depthwise
 * variants (grouped convolution with one group per input channel). NHWC only; NCHW falls back.
 * Geometry (output size, SAME/VALID/explicit padding) is tfjs' own computeConv2DInfo, so the
 * native kernels see exactly the padding the cpu kernels use.
 */
import * as tf from '@tensorflow/tfjs';
import { activationCode, f32, output, size, type KernelArgs, type NativeImpl } from './util.js';
import { uninitF32, onRecycle } from './addon.js';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

/**
 * A stable id per filter array. tfjs tensors are immutable (a variable's assign makes a new
 * array), so the same Float32Array means the same filter and the addon may reuse the copy it
 * already reordered into the primitive's blocked layout.
 */
const filterIds = new WeakMap<Float32Array, number>();
let nextFilterId = 0;
// A pooled array reused as a new output is a new filter (addon.ts reuses disposed arrays).
onRecycle((a) => {
  filterIds.delete(a);
});
function filterId(w: Float32Array): number {
  let id = filterIds.get(w);
  if (id === undefined) {
    id = nextFilterId++;
    filterIds.set(w, id);
  }
  return id;
}

/** The addon's 20-integer parameter list (see native/conv.cc). */
function convParams(ci: Conv2DInfo, groups: number, act: number, hasBias: boolean): number[] {
  return [
    ci.batchSize,
    ci.inHeight,
    ci.inWidth,
    ci.inChannels,
    ci.outHeight,
    ci.outWidth,
    ci.outChannels,
    ci.filterHeight,
    ci.filterWidth,
    ci.strideHeight,
    ci.strideWidth,
    ci.padInfo.top,
    ci.padInfo.left,
    ci.padInfo.bottom,
    ci.padInfo.right,
    ci.dilationHeight,
    ci.dilationWidth,
    groups,
    act,
    hasBias ? 1 : 0,
  ];
}

function nhwc(attrs: Record<string, unknown>): boolean {
  return attrs.dataFormat === undefined || attrs.dataFormat === 'NHWC' || attrs.dataFormat === 'channelsLast';
}

type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

function info(
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
  depthwise: boolean,
  dilations?: unknown,
): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number] | number,
    (dilations ?? attrs.dilations ?? 1) as [number, number] | number,
    attrs.pad as Pad,
    attrs.dimRoundingMode as Rounding,
    depthwise,
    'channelsLast',
  );
}

function forward(depthwise: boolean, fused: boolean): NativeImpl {
  return ({ inputs, backend, attrs }: KernelArgs, addon) => {
    if (!nhwc(attrs)) return null;
    const x = f32(backend, inputs.x),
      w = f32(backend, inputs.filter);
    if (!x || !w || inputs.x!.shape.length !== 4) return null;
    let act = 0;
    let bias: Float32Array | null = null;
    if (fused) {
      const a = activationCode(attrs.activation);
      if (a === null || inputs.preluActivationWeights) return null;
      act = a;
      if (inputs.bias) {
        bias = f32(backend, inputs.bias);
        if (!bias) return null;
      }
    }
    const ci = info(inputs.x!.shape, inputs.filter!.shape, attrs, depthwise);
    if (bias && bias.length !== ci.outChannels) return null; // scalar / odd broadcast: cpu kernel
    const y = uninitF32(size(ci.outShape));
    addon.conv2dForward(
      x,
      w,
      bias,
      y,
      convParams(ci, depthwise ? ci.inChannels : 1, act, bias !== null),
      Number(attrs.leakyreluAlpha ?? 0.2),
      filterId(w),
    );
    return output(backend, ci.outShape, y);
  };
}

function backwardData(depthwise: boolean): NativeImpl {
  return ({ inputs, backend, attrs }: KernelArgs, addon) => {
    if (!nhwc(attrs)) return null;
    const dy = f32(backend, inputs.dy),
      w = f32(backend, inputs.filter);
    if (!dy || !w) return null;
    const inShape = attrs.inputShape as number[];
    const ci = info(inShape, inputs.filter!.shape, attrs, depthwise);
    const dx = uninitF32(size(inShape));
    addon.conv2dBackwardData(dy, w, dx, convParams(ci, depthwise ? ci.inChannels : 1, 0, false), filterId(w));
    return output(backend, inShape, dx);
  };
}

function backwardFilter(depthwise: boolean): NativeImpl {
  return ({ inputs, backend, attrs }: KernelArgs, addon) => {
    if (!nhwc(attrs)) return null;
    const x = f32(backend, inputs.x),
      dy = f32(backend, inputs.dy);
    if (!x || !dy) return null;
    const fShape = attrs.filterShape as number[];
    const ci = info(inputs.x!.shape, fShape, attrs, depthwise);
    const dw = uninitF32(size(fShape));
    addon.conv2dBackwardWeights(x, dy, dw, convParams(ci, depthwise ? ci.inChannels : 1, 0, false), null);
    return output(backend, fShape, dw);
  };
}

export const convKernels: Record<string, NativeImpl> = {
  Conv2D: forward(false, false),
  FusedConv2D: forward(false, true),
  DepthwiseConv2dNative: forward(true, false),
  FusedDepthwiseConv2D: forward(true, true),
  Conv2DBackpropInput: backwardData(false),
  DepthwiseConv2dNativeBackpropInput: backwardData(true),
  Conv2DBackpropFilter: backwardFilter(false),
  DepthwiseConv2dNativeBackpropFilter: backwardFilter(true),
};
