/**
 * Loading the optional oneDNN addon (native/*.cc, built by scripts/build-native.mjs into
 * build/Release/medshield_native.node). Loading never throws: a missing or broken addon is a
 * one-line reason string, and the engine falls back to the portable backend.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../version.js';

/** Integer parameter lists are documented next to each function in native/*.cc. */
export interface NativeAddon {
  setThreads(n: number): number;
  info(): { onednn: string; threads: number; isa: string };
  conv2dForward(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, params: number[], alpha: number, filterId: number): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, params: number[], filterId: number): void;
  conv2dBackwardWeights(x: Float32Array, dy: Float32Array, dw: Float32Array, params: number[], dbias: Float32Array | null): void;
  sgemm(a: Float32Array, b: Float32Array, c: Float32Array, params: number[]): void;
  maxPoolForward(x: Float32Array, y: Float32Array, params: number[]): void;
  maxPoolBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, params: number[]): void;
  avgPoolForward(x: Float32Array, y: Float32Array, params: number[]): void;
  avgPoolBackward(dy: Float32Array, dx: Float32Array, params: number[]): void;
  channelAffine(x: Float32Array, y: Float32Array, c: number, mean: Float32Array, variance: Float32Array,
    offset: Float32Array | null, scale: Float32Array | null, eps: number): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, params: number[]): void;
  unary(op: number, x: Float32Array, y: Float32Array, alpha: number): void;
  reduceSum(x: Float32Array, out: Float32Array, outer: number, inner: number, overOuter: boolean): void;
  bnGradStats(x: Float32Array, dy: Float32Array, mean: Float32Array, out: Float32Array): void;
  reduceMid(x: Float32Array, out: Float32Array, outer: number, mid: number, inner: number): void;
  momentsStats(x: Float32Array, out: Float32Array): void;
  affine(x: Float32Array, y: Float32Array, scale: Float32Array, shift: Float32Array): void;
  bnBackward(dy: Float32Array, x: Float32Array, dx: Float32Array, a: Float32Array, b: Float32Array, c: Float32Array): void;
  biasAct(y: Float32Array, bias: Float32Array | null, c: number, act: number, alpha: number): void;
}

export const ADDON_PATH = path.join(PACKAGE_ROOT, 'build', 'Release', 'medshield_native.node');

let cached: NativeAddon | string | undefined;

/** The addon, or the reason it is unavailable. */
export function loadAddon(): NativeAddon | string {
  if (cached !== undefined) return cached;
  if (process.env.MEDSHIELD_NO_NATIVE === '1') return (cached = 'disabled by MEDSHIELD_NO_NATIVE=1');
  if (!existsSync(ADDON_PATH)) return (cached = 'native addon not built (needs libdnnl-dev and a C++ compiler; run `node scripts/build-native.mjs`)');
  // oneDNN's OpenMP threads spin between parallel regions by default; on a busy 2-core machine the
  // spinning steals the other thread's core and a small-batch forward pass took 70 ms instead of
  // 12 ms (measured). Sleeping waits cost a few µs per region on large batches. libgomp reads this
  // when it loads, so it must be set before the addon is.
  process.env.OMP_WAIT_POLICY ??= 'PASSIVE';
  try {
    const require = createRequire(import.meta.url);
    cached = require(ADDON_PATH) as NativeAddon;
  } catch (e) {
    cached = `native addon failed to load: ${(e instanceof Error ? e.message : String(e)).split('\n')[0]}`;
  }
  return cached;
}

/**
 * An output buffer the kernel overwrites completely: uninitialised memory (no zero fill —
 * activations at batch 128 are tens of MB, and zeroing them costs as much as a ReLU).
 */
export function uninitF32(n: number): Float32Array {
  if (n < 1024) return new Float32Array(n);
  const buf = Buffer.allocUnsafeSlow(n * 4);
  return new Float32Array(buf.buffer, buf.byteOffset, n);
}
