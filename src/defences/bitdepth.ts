/**
 * Bit-depth reduction, the first "feature squeezer" of Xu, Evans & Qi 2018 ("Feature Squeezing:
 * Detecting Adversarial Examples in Deep Neural Networks", NDSS): each value is rounded to one of
 * 2^b levels, x' = round(x · (2^b − 1)) / (2^b − 1). Perturbations smaller than half a level vanish.
 * Xu et al. use b = 1 on MNIST and b = 4–5 on CIFAR-10/ImageNet; the default here is b = 4.
 * Deterministic.
 *
 *   medshield defend --model default --defence bitdepth:bits=4 --attacks fgsm,pgd --eps 2/255 --json
 */
import type { InputTransform } from './types.js';
import { specText, type TransformFactory } from './wrap.js';
import { clamp01 } from './ops.js';

const REFERENCE = "Xu et al. 2018 (feature squeezing): bit-depth reduction x' = round(x·(2^b−1))/(2^b−1)";

export function bitDepthTransform(bits = 4): InputTransform {
  const levels = 2 ** bits - 1;
  return {
    spec: specText('bitdepth', { bits }),
    reference: REFERENCE,
    randomized: false,
    apply(x) {
      return Float32Array.from(x, (v) => Math.round(clamp01(v) * levels) / levels);
    },
  };
}

export const bitdepth: TransformFactory = {
  name: 'bitdepth',
  summary: 'reduce every value to b bits (2^b levels)',
  reference: REFERENCE,
  randomized: false,
  params: { bits: { default: 4, min: 1, max: 8, integer: true, help: 'bits per value 1–8' } },
  make: (p) => bitDepthTransform(p.bits),
};
