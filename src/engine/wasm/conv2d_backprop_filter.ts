/**
 * `Conv2DBackpropFilter` for the wasm backend (tfjs-backend-wasm 4.22 has none).
 *
 * For y = conv2d(x, W) with stride s and padding (pt, pl):
 *   dW[i, j, c, o] = Σ_{b, p, q} x_pad[b, p·s + i, q·s + j, c] · dy[b, p, q, o]
 * which is itself a stride-1 cross-correlation in which the batch plays the role of the input
 * channels and dy the role of the filter, dilated by s:
 *   dWᵗ[c, i, j, o] = conv2d( xᵗ[c, ·, ·, b],  dyᵗ[p, q, b, o],  dilation = s )
 * with xᵗ = transpose(x, [3,1,2,0]) and dyᵗ = transpose(dy, [1,2,0,3]); the result is transposed
 * back to [kh, kw, ci, co]. The heavy lifting runs in XNNPACK's convolution, with the same FLOPs
 * as the forward pass (2·B·oh·ow·kh·kw·ci·co).
 *
 * Measured alternative (not used): im2col + one GEMM dWᵀ = dYᵀ·X̂. XNNPACK packs the GEMM's
 * right operand on every call, and packing the [B·oh·ow, kh·kw·ci] im2col matrix costs more than
 * the GEMM itself; the conv form above was faster at batch 128 (≈19 GFLOP/s vs ≈14), though
 * slower at batch 32, where each filter tap sees only 32 "input channels".
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { conv2dSignedPad, convGeometry, release, slice, transpose, type TensorInfo } from './kernel_util.js';

interface Attrs {
  strides: number | [number, number];
  pad: unknown;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

export function conv2DBackpropFilter(args: {
  inputs: tf.NamedTensorInfoMap;
  backend: BackendWasm;
  attrs: unknown;
}): TensorInfo {
  const { inputs, backend } = args;
  const attrs = args.attrs as Attrs;
  const x = inputs.x!,
    dy = inputs.dy!;
  if (attrs.dataFormat === 'NCHW') throw new Error('wasm Conv2DBackpropFilter supports NHWC only');
  const info = convGeometry(x.shape, attrs.filterShape, attrs.strides, attrs.pad, attrs.dimRoundingMode);
  const [kh, kw, ci, co] = attrs.filterShape;
  const { strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow, inHeight: h, inWidth: w } = info;
  const pt = info.padInfo.top,
    pl = info.padInfo.left;
  // The correlation output must be exactly kh × kw: choose the bottom/right pad accordingly
  // (negative = crop rows of x that no output position reads).
  const pb = kh - 1 + (oh - 1) * sh + 1 - h - pt;
  const pr = kw - 1 + (ow - 1) * sw + 1 - w - pl;
  const xt = transpose(backend, x, [3, 1, 2, 0]); // [ci, H, W, B]
  const dyt = transpose(backend, dy, [1, 2, 0, 3]); // [oh, ow, B, co]
  const r = conv2dSignedPad(backend, xt, dyt, [pt, pb, pl, pr], [sh, sw]); // [ci, kh, kw, co]
  release(backend, xt, dyt);
  let rr = r;
  if (r.shape[1] !== kh || r.shape[2] !== kw) {
    // cannot happen with the pads above; guard anyway
    rr = slice(backend, r, [0, 0, 0, 0], [ci, kh, kw, co]);
    release(backend, r);
  }
  const out = transpose(backend, rr, [1, 2, 0, 3]); // [kh, kw, ci, co]
  release(backend, rr);
  return out;
}
