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
  conv2dForward(
    x: Float32Array,
    w: Float32Array,
    bias: Float32Array | null,
    y: Float32Array,
    params: number[],
    alpha: number,
    filterId: number,
  ): void;
  conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, params: number[], filterId: number): void;
  conv2dBackwardWeights(
    x: Float32Array,
    dy: Float32Array,
    dw: Float32Array,
    params: number[],
    dbias: Float32Array | null,
  ): void;
  sgemm(a: Float32Array, b: Float32Array, c: Float32Array, params: number[]): void;
  maxPoolForward(x: Float32Array, y: Float32Array, params: number[]): void;
  maxPoolBackward(x: Float32Array, dy: Float32Array, dx: Float32Array, params: number[]): void;
  avgPoolForward(x: Float32Array, y: Float32Array, params: number[]): void;
  avgPoolBackward(dy: Float32Array, dx: Float32Array, params: number[]): void;
  channelAffine(
    x: Float32Array,
    y: Float32Array,
    c: number,
    mean: Float32Array,
    variance: Float32Array,
    offset: Float32Array | null,
    scale: Float32Array | null,
    eps: number,
  ): void;
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, params: number[]): void;
  unary(op: number, x: Float32Array, y: Float32Array, alpha: number): void;
  reduceSum(x: Float32Array, out: Float32Array, outer: number, inner: number, overOuter: boolean): void;
  bnGradStats(x: Float32Array, dy: Float32Array, mean: Float32Array, out: Float32Array): void;
  reduceMid(x: Float32Array, out: Float32Array, outer: number, mid: number, inner: number): void;
  momentsStats(x: Float32Array, out: Float32Array): void;
  affine(x: Float32Array, y: Float32Array, scale: Float32Array, shift: Float32Array): void;
  bnBackward(
    dy: Float32Array,
    x: Float32Array,
    dx: Float32Array,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
  ): void;
  adamUpdate(
    w: Float32Array,
    g: Float32Array,
    m: Float32Array,
    v: Float32Array,
    w2: Float32Array,
    m2: Float32Array,
    v2: Float32Array,
    params: number[],
  ): void;
  biasAct(y: Float32Array, bias: Float32Array | null, c: number, act: number, alpha: number): void;
}

export const ADDON_PATH = path.join(PACKAGE_ROOT, 'build', 'Release', 'medshield_native.node');

let cached: NativeAddon | string | undefined;

/** The addon, or the reason it is unavailable. */
export function loadAddon(): NativeAddon | string {
  if (cached !== undefined) return cached;
  if (process.env.MEDSHIELD_NO_NATIVE === '1') return (cached = 'disabled by MEDSHIELD_NO_NATIVE=1');
  if (!existsSync(ADDON_PATH))
    return (cached =
      'native addon not built (needs libdnnl-dev and a C++ compiler; run `node scripts/build-native.mjs`)');
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
 * Output buffers and their reuse.
 *
 * Every kernel output is a new Float32Array. A batch-128 activation is 12–26 MB, and each fresh
 * one costs (a) page faults when first written (≈ 4.5 ms per 12.8 MB measured, ten times the
 * ReLU that fills it) and (b) V8 garbage collections: ArrayBuffers count as external memory and
 * V8 runs a full mark-compact every ~64 MB of it — measured 33 mark-compacts per ResNet-18 train
 * step. So large outputs come from a pool: when tfjs disposes a tensor whose array was allocated
 * here and never left the backend (`installBufferPool` below), the array goes back to the pool
 * and the next output of that length reuses it. An array is never recycled once it may be
 * visible elsewhere: read out through readSync/read (dataSync, data, moving to another backend),
 * registered under a second data id, or viewed by another tensor (a subarray of its buffer).
 * MEDSHIELD_NO_POOL=1 turns the pool off.
 */
const POOL_MIN = 1 << 16; // elements (256 KB); smaller outputs are plain allocations
const POOL_MAX_BYTES = 1 << 30;
const POOL_MAX_PER_SIZE = 16;
const pool = new Map<number, Float32Array[]>();
let pooledBytes = 0;
const owned = new WeakSet<Float32Array>(); // allocated here, still eligible for reuse
const ownerOf = new WeakMap<ArrayBufferLike, Float32Array>();
const registered = new WeakSet<Float32Array>(); // currently held by a tfjs data id
const recycleHooks: Array<(a: Float32Array) => void> = [];
const poolOn = () => process.env.MEDSHIELD_NO_POOL !== '1';

/** Pool statistics (tests and profiling). */
export const poolStats = { allocated: 0, reused: 0, released: 0 };

/** Called with each array about to be reused (e.g. to forget per-array caches). */
export function onRecycle(f: (a: Float32Array) => void): void {
  recycleHooks.push(f);
}

/**
 * An output buffer the kernel overwrites completely: uninitialised memory (no zero fill —
 * activations at batch 128 are tens of MB, and zeroing them costs as much as a ReLU), from the
 * pool when one of this length is free.
 */
export function uninitF32(n: number): Float32Array {
  if (n < 1024) return new Float32Array(n);
  if (n >= POOL_MIN && poolOn()) {
    const free = pool.get(n);
    const a = free?.pop();
    if (a) {
      pooledBytes -= n * 4;
      poolStats.reused++;
      for (const h of recycleHooks) h(a);
      return a;
    }
  }
  const buf = Buffer.allocUnsafeSlow(n * 4);
  const a = new Float32Array(buf.buffer, buf.byteOffset, n);
  if (n >= POOL_MIN) {
    owned.add(a);
    ownerOf.set(a.buffer, a);
    poolStats.allocated++;
  }
  return a;
}

function disown(a: Float32Array): void {
  owned.delete(a);
}

/** Values being registered under a data id: never recycle anything that becomes shared. */
function guard(values: unknown): void {
  if (!(values instanceof Float32Array)) return;
  const owner = ownerOf.get(values.buffer);
  if (!owner) return;
  if (owner !== values || registered.has(values)) disown(owner);
  else registered.add(values);
}

function release(values: unknown): void {
  if (!(values instanceof Float32Array) || !owned.has(values)) return;
  registered.delete(values);
  if (!poolOn() || pooledBytes + values.length * 4 > POOL_MAX_BYTES) return;
  let free = pool.get(values.length);
  if (!free) pool.set(values.length, (free = []));
  if (free.length >= POOL_MAX_PER_SIZE) return;
  free.push(values);
  pooledBytes += values.length * 4;
  poolStats.released++;
}

interface CpuLikeBackend {
  data: { has(id: object): boolean; get(id: object): { values?: unknown } | undefined };
  write(values: unknown, shape: number[], dtype: string): object;
  move(dataId: object, values: unknown, shape: number[], dtype: string, refCount: number): void;
  readSync(dataId: object): unknown;
  read(dataId: object): Promise<unknown>;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** Hook a MathBackendCPU instance so arrays from uninitF32 return to the pool on dispose. */
export function installBufferPool(backend: CpuLikeBackend): void {
  const write = backend.write.bind(backend),
    move = backend.move.bind(backend);
  const readSync = backend.readSync.bind(backend),
    read = backend.read.bind(backend);
  const disposeData = backend.disposeData.bind(backend);
  backend.write = (values, shape, dtype) => {
    guard(values);
    return write(values, shape, dtype);
  };
  backend.move = (dataId, values, shape, dtype, refCount) => {
    guard(values);
    move(dataId, values, shape, dtype, refCount);
  };
  backend.readSync = (dataId) => {
    const v = readSync(dataId);
    if (v instanceof Float32Array) disown(v);
    return v;
  };
  backend.read = async (dataId) => {
    const v = await read(dataId);
    if (v instanceof Float32Array) disown(v);
    return v;
  };
  backend.disposeData = (dataId, force = false) => {
    const values = backend.data.has(dataId) ? backend.data.get(dataId)?.values : undefined;
    const r = disposeData(dataId, force);
    if (values !== undefined && !backend.data.has(dataId)) release(values);
    return r;
  };
}
