/**
 * The portable backend: @tensorflow/tfjs-backend-wasm 4.22 (XNNPACK, SIMD) plus the kernels
 * medshield registers so that CNNs and ResNets can be TRAINED and differentiated on it.
 *
 * - The .wasm binaries are loaded from the installed package's dist/ directory on disk
 *   (`setWasmPaths`), so initialisation works offline.
 * - SIMD is used when the CPU/runtime validates a SIMD module (all x86-64 Node 20 builds do).
 * - Threads: tfjs-backend-wasm's multi-threaded build needs Web Workers + SharedArrayBuffer
 *   message passing that Node does not provide (tfjs issue #3830; the package forces
 *   WASM_HAS_MULTITHREAD_SUPPORT=false under Node), so the backend runs ONE thread whatever
 *   `threads` asks for. The returned info says so (`threads: 1`).
 *
 * Kernels added or replaced (see each file for the equations):
 *   Conv2DBackpropFilter — missing in tfjs-backend-wasm; a conv2d of transposed x and dy.
 *   Conv2DBackpropInput  — replaces the slow direct loop; conv2d with the flipped filter.
 *   MaxPoolGrad          — replaces the wasm kernel, whose tie rule differs from `cpu`.
 *   BatchMatMul, _FusedMatMul — wrapped: transposed operands are materialised first, because
 *                          the wasm kernel's transposeA/B path is ~10× slower (dense-layer grads).
 *   Sum, Mean            — wrapped: reductions over leading axes (batch-norm statistics and
 *                          gradients) run as a GEMV, ~30× faster; other axes use the original.
 *   Tile                 — wrapped: block-copy tiling (batch-norm gradient), ~30× faster.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { conv2DBackpropFilter } from './conv2d_backprop_filter.js';
import { conv2DBackpropInput } from './conv2d_backprop_input.js';
import { maxPoolGrad } from './max_pool_grad.js';
import { untransposedMatMul } from './mat_mul.js';
import { fastTile, leadingAxesReduce } from './reduce_tile.js';

export interface WasmInfo {
  threads: number;
  simd: boolean;
}

/** Kernels medshield registers (or re-registers) on the wasm backend. */
export const MEDSHIELD_WASM_KERNELS = ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'MaxPoolGrad'] as const;
/** wasm kernels medshield wraps (keeping the original's setup and implementation inside). */
export const WRAPPED_WASM_KERNELS = ['BatchMatMul', '_FusedMatMul', 'Sum', 'Mean', 'Tile'] as const;
type Wrapper = (original: tf.KernelConfig) => KernelImpl;
const WRAPPERS: Record<(typeof WRAPPED_WASM_KERNELS)[number], Wrapper> = {
  BatchMatMul: untransposedMatMul,
  _FusedMatMul: untransposedMatMul,
  Sum: (o) => leadingAxesReduce(o, false),
  Mean: (o) => leadingAxesReduce(o, true),
  Tile: fastTile,
};

type KernelImpl = (args: { inputs: tf.NamedTensorInfoMap; backend: BackendWasm; attrs: unknown }) => tf.TensorInfo;
const IMPLS: Record<(typeof MEDSHIELD_WASM_KERNELS)[number], KernelImpl> = {
  Conv2DBackpropFilter: conv2DBackpropFilter,
  Conv2DBackpropInput: conv2DBackpropInput,
  MaxPoolGrad: maxPoolGrad,
};

let registered: WasmInfo | null = null;
let kernelsRegistered = false;

function registerKernels(): void {
  if (kernelsRegistered) return; // never wrap a wrapper
  kernelsRegistered = true;
  for (const name of MEDSHIELD_WASM_KERNELS) {
    if (tf.getKernel(name, 'wasm')) tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: IMPLS[name] as unknown as tf.KernelFunc,
    });
  }
  for (const name of WRAPPED_WASM_KERNELS) {
    const original = tf.getKernel(name, 'wasm');
    if (!original) continue;
    tf.unregisterKernel(name, 'wasm');
    const config: tf.KernelConfig = {
      kernelName: name,
      backendName: 'wasm',
      kernelFunc: WRAPPERS[name](original) as unknown as tf.KernelFunc,
    };
    if (original.setupFunc) config.setupFunc = original.setupFunc;
    if (original.disposeFunc) config.disposeFunc = original.disposeFunc;
    tf.registerKernel(config);
  }
}

/**
 * Load and initialise the wasm backend and register medshield's kernels on it. Leaves the
 * wasm backend initialised (not necessarily active: the caller calls `tf.setBackend('wasm')`).
 * Returns a one-line reason instead of throwing when the backend is not available.
 */
export async function registerWasmBackend(_threads: number): Promise<WasmInfo | string> {
  if (registered) return registered;
  let mod: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    mod = await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    return `cannot load @tensorflow/tfjs-backend-wasm (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
  }
  const require = createRequire(import.meta.url);
  let distDir: string;
  try {
    distDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
  } catch {
    return 'cannot resolve the @tensorflow/tfjs-backend-wasm package directory';
  }
  const setWasmPaths = mod.setWasmPaths ?? (mod as unknown as { default: typeof mod }).default?.setWasmPaths;
  if (typeof setWasmPaths !== 'function') return 'tfjs-backend-wasm exports no setWasmPaths';
  // One prefix for the three binaries (plain, simd, threaded-simd); the loader picks simd.
  setWasmPaths(distDir + path.sep, /* usePlatformFetch */ false);
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));

  registerKernels();
  const previous = tf.engine().backendName as string | null;
  let ok = false;
  try {
    ok = await tf.setBackend('wasm');
  } catch (e) {
    return `wasm backend failed to initialise (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
  }
  if (!ok) return 'wasm backend failed to initialise';
  if (previous && previous !== 'wasm') await tf.setBackend(previous);
  registered = { threads: 1, simd };
  return registered;
}
