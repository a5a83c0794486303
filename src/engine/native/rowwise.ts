/**
 * Softmax and Erf for the native backend, bit-identical to tfjs' cpu kernels but without their
 * overheads. tfjs' cpu Softmax (tfjs-backend-cpu kernels/Softmax.ts) chains the cpu Max, Sub, Exp,
 * Sum and RealDiv kernels directly — not through the registry, so the native elementwise kernels never
 * see them — and its broadcasting Sub/RealDiv compute an index tuple per element; ViT-B/16's twelve
 * attention softmaxes took 8.4 s of a 26 s forward + input gradient at batch 2 (profiled,
 * bench/README.md). Here each row is one pass in float32 steps in the cpu kernel's order (x − max
 * rounded, exp rounded, the row sum accumulated in double and rounded, then the quotient rounded), so
 * the values are the same. Erf is the cpu kernel's formula (Abramowitz–Stegun 7.1.26, tfjs' ERF_*
 * constants) into a pooled output.
 */
import * as tf from '@tensorflow/tfjs';
import { f32, output, type KernelArgs, type NativeImpl } from './util.js';
import { uninitF32 } from './addon.js';

const fr = Math.fround;

const softmax: NativeImpl = ({ inputs, backend, attrs }: KernelArgs) => {
  const li = inputs.logits!;
  const x = f32(backend, li);
  if (!x || li.shape.length === 0) return null;
  const r = li.shape.length;
  const dim = Number(attrs.dim ?? -1);
  if (dim !== -1 && dim !== r - 1) return null;
  const n = li.shape[r - 1];
  if (n === 0) return null;
  const y = uninitF32(x.length);
  for (let o = 0; o < x.length; o += n) {
    let m = x[o];
    for (let k = 1; k < n; k++) if (x[o + k] > m || Number.isNaN(x[o + k])) m = x[o + k];
    let s = 0;
    for (let k = 0; k < n; k++) {
      const e = fr(Math.exp(fr(x[o + k] - m)));
      y[o + k] = e;
      s += e;
    }
    const sf = fr(s);
    for (let k = 0; k < n; k++) y[o + k] = y[o + k] / sf;
  }
  return output(backend, li.shape, y);
};

const P = tf.backend_util.ERF_P,
  A1 = tf.backend_util.ERF_A1,
  A2 = tf.backend_util.ERF_A2,
  A3 = tf.backend_util.ERF_A3,
  A4 = tf.backend_util.ERF_A4,
  A5 = tf.backend_util.ERF_A5;

const erf: NativeImpl = ({ inputs, backend }: KernelArgs) => {
  const x = f32(backend, inputs.x);
  if (!x) return null;
  const y = uninitF32(x.length);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    const v = Math.abs(xi);
    const t = 1.0 / (1.0 + P * v);
    y[i] = Math.sign(xi) * (1.0 - ((((A5 * t + A4) * t + A3) * t + A2) * t + A1) * t * Math.exp(-v * v));
  }
  return output(backend, inputs.x!.shape, y);
};

export const rowwiseKernels: Record<string, NativeImpl> = { Softmax: softmax, Erf: erf };
