/**
 * `BatchMatMul` and `_FusedMatMul` with transposed operands, for the wasm backend.
 *
 * tfjs-backend-wasm 4.22's matmul runs ~30 GFLOP/s (SIMD, one thread) when neither operand is
 * transposed but only ~2.6 GFLOP/s with `transposeA` or `transposeB` (a strided fallback).
 * Backpropagation through a dense layer needs exactly those: dX = dY·Wᵀ, dW = Xᵀ·dY. The
 * wrappers below materialise the transpose (a memory-bound copy, ~1 ms per 400k floats) and call
 * the backend's own kernel without transposes, which is 5–10× faster end to end.
 */
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { release, transpose, type TensorInfo } from './kernel_util.js';

type Impl = (args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: unknown }) => TensorInfo;

function swapLastTwo(b: BackendWasm, x: TensorInfo): TensorInfo {
  const r = x.shape.length;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return transpose(b, x, perm);
}

/** Wrap a wasm matmul kernel (`BatchMatMul` or `_FusedMatMul`) so it never sees a transpose flag. */
export function untransposedMatMul(original: tf.KernelConfig): Impl {
  const inner = original.kernelFunc;
  return ({ inputs, backend, attrs }) => {
    const a0 = attrs as { transposeA?: boolean; transposeB?: boolean } & Record<string, unknown>;
    if (!a0.transposeA && !a0.transposeB) {
      return inner({ inputs, backend, attrs: attrs as tf.NamedAttrMap }) as TensorInfo;
    }
    const a = a0.transposeA ? swapLastTwo(backend, inputs.a!) : inputs.a!;
    const bb = a0.transposeB ? swapLastTwo(backend, inputs.b!) : inputs.b!;
    const out = inner({
      inputs: { ...inputs, a, b: bb },
      backend,
      attrs: { ...a0, transposeA: false, transposeB: false } as tf.NamedAttrMap,
    }) as TensorInfo;
    if (a !== inputs.a) release(backend, a);
    if (bb !== inputs.b) release(backend, bb);
    return out;
  };
}
