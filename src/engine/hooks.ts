/**
 * Backend-specific implementations of engine-level ops, filled in by a backend when it registers
 * (so the engine's public functions need no static import of optional backends).
 */
import type * as tf from '@tensorflow/tfjs';

export interface ConvBiasActArgs {
  x: tf.Tensor4D;
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
  strides: [number, number] | number;
  pad: 'valid' | 'same';
  activation: 'linear' | 'relu';
}

/** A convolution whose filter and bias are constants (no gradient for them is ever computed). */
export interface ConstConvArgs extends Omit<ConvBiasActArgs, 'pad'> {
  /** 'valid', 'same' or explicit [[0,0],[top,bottom],[left,right],[0,0]] (no padded copy of x). */
  pad: 'valid' | 'same' | tf.backend_util.ExplicitPadding;
  /** Depthwise: filter [kh,kw,C,mult], one group per input channel. */
  depthwise: boolean;
}

export const backendOps: {
  nativeConvBiasAct: ((a: ConvBiasActArgs) => tf.Tensor4D) | null;
  nativeConstConv: ((a: ConstConvArgs) => tf.Tensor4D) | null;
  nativeAdam: ((lr: number, beta1?: number, beta2?: number, epsilon?: number) => tf.Optimizer) | null;
  nativeSiluGrad: ((dy: tf.Tensor, x: tf.Tensor) => tf.Tensor) | null;
  nativeAffineRelu: ((x: tf.Tensor, scale: tf.Tensor1D, shift: tf.Tensor1D) => tf.Tensor) | null;
} = { nativeConvBiasAct: null, nativeConstConv: null, nativeAdam: null, nativeSiluGrad: null, nativeAffineRelu: null };
