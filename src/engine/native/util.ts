/** Small helpers shared by the native kernels: zero-copy tensor access and the fallback wrapper. */
import type * as tf from '@tensorflow/tfjs';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { NativeAddon } from './addon.js';

export type Backend = MathBackendCPU;
export type TensorInfo = tf.TensorInfo;
export interface KernelArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: Backend;
  attrs: Record<string, unknown>;
}
/** A native kernel body: returns null when the case is not covered (the cpu kernel then runs). */
export type NativeImpl = (args: KernelArgs, addon: NativeAddon) => TensorInfo | TensorInfo[] | null;

/** The Float32Array behind a float32 tensor of the cpu-style backend (no copy), or null. */
export function f32(backend: Backend, t: TensorInfo | undefined): Float32Array | null {
  if (t?.dtype !== 'float32') return null;
  const v = backend.data.get(t.dataId)?.values;
  return v instanceof Float32Array ? v : null;
}

export function output(backend: Backend, shape: number[], values: Float32Array): TensorInfo {
  return backend.makeTensorInfo(shape, 'float32', values);
}

export function size(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Kernels that fell back to the cpu implementation because the addon threw, by kernel name. */
export const nativeErrors = new Map<string, string>();

/** Calls per kernel name that ran natively / fell back to the cpu kernel (for profiling). */
export const nativeCounts = new Map<string, { native: number; cpu: number }>();
let counting = false;
/** Turn per-kernel call counting on or off (off by default: it costs a map lookup per call). */
export function countNativeCalls(on: boolean): void {
  counting = on;
  if (on) nativeCounts.clear();
}
function count(name: string, native: boolean): void {
  let c = nativeCounts.get(name);
  if (!c) nativeCounts.set(name, (c = { native: 0, cpu: 0 }));
  if (native) c.native++;
  else c.cpu++;
}

/** MEDSHIELD_NATIVE_STRICT=1: an addon error is thrown, not hidden by the fallback (debugging the addon). */
const STRICT = process.env.MEDSHIELD_NATIVE_STRICT === '1';

/**
 * Wrap a native body so any uncovered case or addon error runs tfjs' cpu kernel instead — same
 * result, only slower. Addon errors are remembered in `nativeErrors` (first message per kernel).
 */
export function withFallback(
  name: string,
  impl: NativeImpl,
  fallback: tf.KernelFunc,
  addon: NativeAddon,
): tf.KernelFunc {
  return ((args: KernelArgs) => {
    try {
      const r = impl(args.attrs ? args : { ...args, attrs: {} }, addon);
      if (r !== null) {
        if (counting) count(name, true);
        return r;
      }
    } catch (e) {
      if (STRICT) throw e;
      if (!nativeErrors.has(name)) nativeErrors.set(name, e instanceof Error ? e.message : String(e));
    }
    if (counting) count(name, false);
    return fallback(args as unknown as Parameters<tf.KernelFunc>[0]);
  }) as unknown as tf.KernelFunc;
}

/** tfjs fused activation name → addon activation code (null: not supported natively). */
export function activationCode(act: unknown): number | null {
  switch (act ?? 'linear') {
    case 'linear':
      return 0;
    case 'relu':
      return 1;
    case 'relu6':
      return 2;
    case 'leakyrelu':
      return 3;
    case 'sigmoid':
      return 4;
    case 'elu':
      return 5;
    default:
      return null; // prelu needs per-channel weights: cpu kernel
  }
}
