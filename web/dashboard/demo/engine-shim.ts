/**
 * The browser's stand-in for src/engine/index.ts when the attack library is bundled for the demo page
 * (scripts/build-demo-ui.mjs redirects `../engine/index.js` here): the same `tf` (@tensorflow/tfjs, on the
 * page's WebGL / wasm / cpu backend), the same seeded Rng, and `convBiasAct` as tf.fused.conv2d — what
 * the engine itself runs on every backend but its Node-only native one.
 */
import * as tf from '@tensorflow/tfjs';

export { tf };
export { Rng } from '../../../src/engine/random.js';

export interface ConvBiasActArgs {
  x: tf.Tensor4D;
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
  strides: [number, number] | number;
  pad: 'valid' | 'same';
  activation: 'linear' | 'relu';
}

export function convBiasAct(a: ConvBiasActArgs): tf.Tensor4D {
  return tf.fused.conv2d({
    x: a.x,
    filter: a.filter,
    bias: a.bias,
    strides: a.strides,
    pad: a.pad,
    dataFormat: 'NHWC',
    activation: a.activation,
  });
}
