/**
 * The engine: one place that owns the TensorFlow.js backend.
 *
 * Backends, fastest first:
 *  - `native`: the tfjs CPU backend with hot kernels (conv, matmul, pooling, batch norm)
 *    replaced by a oneDNN N-API addon (src/engine/native, native/). Optional: used when the addon loads.
 *  - `wasm`:   @tensorflow/tfjs-backend-wasm (SIMD) plus kernels medshield registers for it
 *    (src/engine/wasm). The portable default.
 *  - `cpu`:    tfjs' pure-JS backend. Always available, slow; the numerical reference in tests.
 *
 * Models, attacks and the rest only ever import `tf` from here and never know which backend runs.
 */
import * as tf from '@tensorflow/tfjs';
import { badArgument } from '../errors.js';
import { backendOps, type ConvBiasActArgs, type ConstConvArgs } from './hooks.js';
import { installFrugalBackprop } from './backprop.js';

export type { ConvBiasActArgs, ConstConvArgs };

export { tf };
export { Rng } from './random.js';
export { untaped } from './backprop.js';

export type BackendName = 'native' | 'wasm' | 'cpu';
export type BackendChoice = BackendName | 'auto';

export interface EngineInfo {
  backend: BackendName;
  threads: number;
  simd: boolean;
  /** Why a faster backend was not used (e.g. the native addon failed to load), if it was not. */
  fallbackReason?: string;
}

export interface EngineOptions {
  backend?: BackendChoice;
  threads?: number;
}

let current: EngineInfo | null = null;

function envThreads(): number | undefined {
  const v = process.env.MEDSHIELD_THREADS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw badArgument(`MEDSHIELD_THREADS must be a positive integer, got '${v}'`);
  return n;
}

function envBackend(): BackendChoice | undefined {
  const v = process.env.MEDSHIELD_BACKEND;
  if (v === undefined || v === '') return undefined;
  if (!['auto', 'native', 'wasm', 'cpu'].includes(v))
    throw badArgument(`MEDSHIELD_BACKEND must be auto, native, wasm or cpu, got '${v}'`);
  return v as BackendChoice;
}

type Registrar = (threads: number) => Promise<{ threads: number; simd: boolean } | string>;

/** Register and select an optional backend; a string result is the reason it is unavailable. */
async function tryBackend(name: 'native' | 'wasm', threads: number): Promise<EngineInfo | string> {
  try {
    const register: Registrar =
      name === 'native'
        ? (await import('./native/index.js')).registerNativeBackend
        : (await import('./wasm/index.js')).registerWasmBackend;
    const r = await register(threads);
    if (typeof r === 'string') return r;
    await tf.setBackend(name);
    quietCpuBackend();
    return { backend: name, threads: r.threads, simd: r.simd };
  } catch (e) {
    return e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
}

/**
 * Select and initialise the backend. Idempotent: later calls with the same choice return the
 * same info. `auto` tries native, then wasm, then cpu, and records why it fell back.
 */
export async function initEngine(opts: EngineOptions = {}): Promise<EngineInfo> {
  const choice: BackendChoice = opts.backend ?? envBackend() ?? 'auto';
  const threads = opts.threads ?? envThreads() ?? 2;
  if (!Number.isInteger(threads) || threads < 1)
    throw badArgument(`--threads must be a positive integer, got ${threads}`);
  if (current && (choice === 'auto' || choice === current.backend)) return current;

  const reasons: string[] = [];
  const attempt = async (name: BackendName): Promise<EngineInfo | null> => {
    if (name === 'cpu') {
      await tf.setBackend('cpu');
      quietCpuBackend();
      return { backend: 'cpu', threads: 1, simd: false };
    }
    const r = await tryBackend(name, threads);
    if (typeof r === 'string') {
      reasons.push(`${name}: ${r}`);
      return null;
    }
    return r;
  };

  let info: EngineInfo | null = null;
  if (choice === 'auto') {
    for (const name of ['native', 'wasm', 'cpu'] as BackendName[]) {
      info = await attempt(name);
      if (info) break;
    }
  } else {
    info = await attempt(choice);
    if (!info) throw badArgument(`backend '${choice}' is not available (${reasons.join('; ')})`);
  }
  if (!info) throw new Error('no backend could be initialised');
  if (reasons.length) info.fallbackReason = reasons.join('; ');
  await tf.ready();
  installFrugalBackprop(); // free saved tensors and used gradients during backprop (backprop.ts)
  quietCpuBackend('cpu'); // tests and fallbacks switch to cpu later; never print its advert
  current = info;
  return info;
}

/**
 * tfjs' CPU backend prints a multi-line advert for tfjs-node on first use in Node; medshield
 * chose its backend deliberately, so silence it (also for backends derived from the CPU one).
 */
export function quietCpuBackend(name?: string): void {
  try {
    const b = (name ? tf.findBackend(name) : tf.backend()) as unknown as { firstUse?: boolean } | null;
    if (b && 'firstUse' in b) b.firstUse = false;
  } catch {
    /* backend without that flag */
  }
}

/** The backend in use (initialising the default one if needed). */
export async function engineInfo(): Promise<EngineInfo> {
  return current ?? initEngine();
}

/** Synchronous view of the current engine, or null before initEngine. */
export function currentEngine(): EngineInfo | null {
  return current;
}

/**
 * y = act(conv2d(x, filter) + bias) as one fused kernel on every backend. On `native` it is one
 * oneDNN call with lazy per-input gradients (an input gradient computes no filter gradient);
 * elsewhere it is tf.fused.conv2d.
 */
export function convBiasAct(a: ConvBiasActArgs): tf.Tensor4D {
  if (backendOps.nativeConvBiasAct && tf.getBackend() === 'native') return backendOps.nativeConvBiasAct(a);
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

/**
 * y = act(conv2d(x, filter) + bias) (plain or depthwise, NHWC, dilation 1) for a CONSTANT filter
 * and bias — an imported graph's weights: only the input gradient exists, and the backward pass
 * saves the filter and (ReLU) the output, not the input (src/engine/native/fused.ts). Native
 * backend only; null elsewhere (the caller then composes tf ops).
 */
export function constConv(a: ConstConvArgs): tf.Tensor4D | null {
  if (!backendOps.nativeConstConv || tf.getBackend() !== 'native') return null;
  if (a.x.dtype !== 'float32' || a.x.rank !== 4) return null;
  return backendOps.nativeConstConv(a);
}

/**
 * dy · σ(x)·(1 + x·(1 − σ(x))), the gradient of SiLU x·σ(x), as one native pass (six tfjs ops
 * otherwise). Native backend only, float32 tensors of one shape; null elsewhere (the caller composes).
 */
export function siluGrad(dy: tf.Tensor, x: tf.Tensor): tf.Tensor | null {
  if (!backendOps.nativeSiluGrad || tf.getBackend() !== 'native') return null;
  if (dy.dtype !== 'float32' || x.dtype !== 'float32' || dy.size !== x.size) return null;
  return backendOps.nativeSiluGrad(dy, x);
}

/**
 * relu(x·scale + shift) with constant per-channel scale and shift over x's last axis — an imported
 * graph's inference batch norm followed by ReLU — as one op whose backward pass keeps only its output
 * (two native passes each way instead of three tfjs ops). Native backend only; null elsewhere.
 */
export function affineRelu(x: tf.Tensor, scale: tf.Tensor1D, shift: tf.Tensor1D): tf.Tensor | null {
  if (!backendOps.nativeAffineRelu || tf.getBackend() !== 'native') return null;
  if (x.dtype !== 'float32' || x.rank < 1 || x.shape[x.rank - 1] !== scale.size || shift.size !== scale.size)
    return null;
  return backendOps.nativeAffineRelu(x, scale, shift);
}

/**
 * tf.train.adam, with a one-pass native update per variable while the native backend is active
 * (same formula and state; src/engine/native/optim.ts). Use it wherever a model is trained.
 */
export function adamOptimizer(learningRate: number, beta1 = 0.9, beta2 = 0.999, epsilon?: number): tf.Optimizer {
  return backendOps.nativeAdam
    ? backendOps.nativeAdam(learningRate, beta1, beta2, epsilon)
    : tf.train.adam(learningRate, beta1, beta2, epsilon);
}
