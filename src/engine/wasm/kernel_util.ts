/**
 * Helpers for medshield's wasm kernels: call the wasm backend's own kernels (XNNPACK conv,
 * transpose, pad, slice…) directly on `TensorInfo`s, outside the autodiff tape, and free the
 * intermediates. Kernels written this way compose the backend's fast primitives without
 * allocating `tf.Tensor`s.
 */
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

export type TensorInfo = tf.TensorInfo;
export type Pads4 = [number, number, number, number]; // top, bottom, left, right

/** Run the kernel `name` as registered for the wasm backend (looked up at call time). */
export function runKernel(
  name: string,
  inputs: Record<string, TensorInfo>,
  attrs: Record<string, unknown>,
  backend: BackendWasm,
): TensorInfo {
  const k = tf.getKernel(name, 'wasm');
  if (!k) throw new Error(`wasm kernel '${name}' is not registered`);
  const out = k.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend });
  if (Array.isArray(out)) throw new Error(`wasm kernel '${name}' returned several outputs`);
  return out;
}

/** Release intermediates created inside a kernel (ref-counted: reshapes share data). */
export function release(backend: BackendWasm, ...ts: TensorInfo[]): void {
  for (const t of ts) backend.disposeData(t.dataId);
}

export const transpose = (b: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo =>
  runKernel('Transpose', { x }, { perm }, b);

export const reshape = (b: BackendWasm, x: TensorInfo, shape: number[]): TensorInfo =>
  runKernel('Reshape', { x }, { shape }, b);

export const slice = (b: BackendWasm, x: TensorInfo, begin: number[], size: number[]): TensorInfo =>
  runKernel('Slice', { x }, { begin, size }, b);

export const pad = (b: BackendWasm, x: TensorInfo, paddings: Array<[number, number]>): TensorInfo =>
  runKernel('PadV2', { x }, { paddings, constantValue: 0 }, b);

/**
 * NHWC cross-correlation `conv2d(x, w)` (w: [kh, kw, ci, co]) with explicit top/bottom/left/right
 * padding that may be NEGATIVE (a negative pad crops the input), stride 1 and the given dilation.
 * Output height = H + top + bottom − ((kh−1)·dh + 1) + 1.
 */
export function conv2dSignedPad(
  b: BackendWasm,
  x: TensorInfo,
  w: TensorInfo,
  pads: Pads4,
  dilations: [number, number] = [1, 1],
): TensorInfo {
  const [top, bottom, left, right] = pads;
  let input = x;
  if (top < 0 || bottom < 0 || left < 0 || right < 0) {
    const [n, h, wd, c] = x.shape;
    const ct = Math.max(0, -top),
      cb = Math.max(0, -bottom),
      cl = Math.max(0, -left),
      cr = Math.max(0, -right);
    input = slice(b, x, [0, ct, cl, 0], [n, h - ct - cb, wd - cl - cr, c]);
  }
  const explicit = [
    [0, 0],
    [Math.max(0, top), Math.max(0, bottom)],
    [Math.max(0, left), Math.max(0, right)],
    [0, 0],
  ];
  const out = runKernel(
    'Conv2D',
    { x: input, filter: w },
    {
      strides: [1, 1],
      pad: explicit,
      dataFormat: 'NHWC',
      dilations,
      dimRoundingMode: undefined,
    },
    b,
  );
  if (input !== x) release(b, input);
  return out;
}

/** Padding (top, bottom, left, right) and output size of a conv2d/pool with the tfjs rules. */
export function convGeometry(
  xShape: number[],
  filterShape: [number, number, number, number],
  strides: number | [number, number],
  pad: unknown,
  dimRoundingMode?: 'floor' | 'round' | 'ceil',
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad as 'same' | 'valid' | number,
    dimRoundingMode,
    false,
    'channelsLast',
  );
}
