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

export const backendOps: {
  nativeConvBiasAct: ((a: ConvBiasActArgs) => tf.Tensor4D) | null;
  nativeAdam: ((lr: number, beta1?: number, beta2?: number, epsilon?: number) => tf.Optimizer) | null;
} = { nativeConvBiasAct: null, nativeAdam: null };
