/**
 * Native 2-D pooling (native/pool.cc): MaxPool, MaxPoolGrad, AvgPool, AvgPoolGrad, NHWC.
 * MaxPoolGrad tie rule = tfjs cpu's: the gradient of each output goes to the first maximum of
 * its window in row-major order (so a ReLU output full of zeros sends it to the window's
 * top-left in-bounds zero). AvgPool divides by the in-bounds pixel count; AvgPoolGrad is its
 * exact adjoint (tfjs' cpu AvgPoolGrad divides by the full window size even where padding cut it,
 * so with 'same' padding the two differ at the borders — the native one is the true gradient).
 */
import * as tf from '@tensorflow/tfjs';
import { f32, output, size, type KernelArgs, type NativeImpl } from './util.js';
import { uninitF32 } from './addon.js';

type Pad = 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;

function poolInfo(xShape: number[], attrs: Record<string, unknown>): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computePool2DInfo(
    xShape as [number, number, number, number],
    attrs.filterSize as [number, number] | number,
    attrs.strides as [number, number] | number,
    1,
    attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
}

function params(ci: tf.backend_util.Conv2DInfo): number[] {
  return [
    ci.batchSize,
    ci.inHeight,
    ci.inWidth,
    ci.inChannels,
    ci.outHeight,
    ci.outWidth,
    ci.filterHeight,
    ci.filterWidth,
    ci.strideHeight,
    ci.strideWidth,
    ci.padInfo.top,
    ci.padInfo.left,
  ];
}

const maxPool: NativeImpl = ({ inputs, backend, attrs }: KernelArgs, addon) => {
  const x = f32(backend, inputs.x);
  if (!x || inputs.x!.shape.length !== 4) return null;
  const ci = poolInfo(inputs.x!.shape, attrs);
  const y = uninitF32(size(ci.outShape));
  addon.maxPoolForward(x, y, params(ci));
  return output(backend, ci.outShape, y);
};

const maxPoolGrad: NativeImpl = ({ inputs, backend, attrs }: KernelArgs, addon) => {
  const x = f32(backend, inputs.input),
    dy = f32(backend, inputs.dy);
  if (!x || !dy) return null;
  const ci = poolInfo(inputs.input!.shape, attrs);
  // Windows that tile the input exactly: the addon writes every element (no zero fill needed).
  const tiles =
    ci.strideHeight === ci.filterHeight &&
    ci.strideWidth === ci.filterWidth &&
    ci.padInfo.top === 0 &&
    ci.padInfo.left === 0 &&
    ci.outHeight * ci.filterHeight === ci.inHeight &&
    ci.outWidth * ci.filterWidth === ci.inWidth;
  const dx = tiles ? uninitF32(x.length) : new Float32Array(x.length);
  addon.maxPoolBackward(x, dy, dx, params(ci));
  return output(backend, inputs.input!.shape, dx);
};

const avgPool: NativeImpl = ({ inputs, backend, attrs }: KernelArgs, addon) => {
  const x = f32(backend, inputs.x);
  if (!x || inputs.x!.shape.length !== 4) return null;
  const ci = poolInfo(inputs.x!.shape, attrs);
  const y = uninitF32(size(ci.outShape));
  addon.avgPoolForward(x, y, params(ci));
  return output(backend, ci.outShape, y);
};

const avgPoolGrad: NativeImpl = ({ inputs, backend, attrs }: KernelArgs, addon) => {
  const dy = f32(backend, inputs.dy);
  if (!dy || !inputs.input) return null;
  const ci = poolInfo(inputs.input.shape, attrs);
  const dx = new Float32Array(size(inputs.input.shape));
  addon.avgPoolBackward(dy, dx, params(ci));
  return output(backend, inputs.input.shape, dx);
};

export const poolKernels: Record<string, NativeImpl> = {
  MaxPool: maxPool,
  MaxPoolGrad: maxPoolGrad,
  AvgPool: avgPool,
  AvgPoolGrad: avgPoolGrad,
};
