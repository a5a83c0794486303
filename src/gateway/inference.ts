/**
 * Decode → model input → probabilities, with micro-batching: requests that arrive in the same turn of
 * the event loop run as one batch (up to `maxBatch`), which keeps throughput up under concurrency
 * without adding latency to a lone request. Output policy (what the caller learns) lives here too.
 */
import { decodeImage, type DecodedImage } from '../data/image.js';
import { badInput } from '../errors.js';
import { toModelInput } from '../data/resize.js';
import type { Model } from '../models/model.js';
import type { GatewayConfig } from './config.js';

interface Job<R> {
  x: Float32Array;
  resolve: (r: R) => void;
  reject: (e: Error) => void;
  live?: () => boolean;
  times?: BatchTimes;
  queued: number;
}

/** Where a queued row's time went: waiting for its batch, and the batch's run. */
export interface BatchTimes {
  queueMs: number;
  modelMs: number;
}

/**
 * Micro-batching of one-image calls: every image that arrives in one turn of the event loop (up to
 * `maxBatch`) goes to `run` as one batch of rows; `run` returns one result per row.
 */
export class MicroBatcher<R> {
  private queue: Array<Job<R>> = [];
  private running = false;
  constructor(
    private run: (xs: Float32Array, n: number) => Promise<R[]>,
    private maxBatch = 32,
  ) {}

  /**
   * Queue one row. `live` is asked again when the batch is formed: a job whose request has been answered or
   * abandoned meanwhile (timeout, client gone) is dropped, never run.
   */
  call(x: Float32Array, live?: () => boolean, times?: BatchTimes): Promise<R> {
    if (!(x instanceof Float32Array) || x.length === 0) return Promise.reject(new Error('no model input'));
    return new Promise((resolve, reject) => {
      this.queue.push({ x, resolve, reject, live, times, queued: performance.now() });
      if (!this.running) {
        this.running = true;
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const jobs: Array<Job<R>> = [];
        for (const j of this.queue.splice(0, this.maxBatch)) {
          if (j.live && !j.live()) j.reject(new Error('request no longer waiting'));
          else jobs.push(j);
        }
        if (!jobs.length) continue;
        try {
          const d = jobs[0].x.length;
          if (jobs.some((j) => j.x.length !== d)) throw new Error('model inputs of different sizes in one batch');
          const xs = new Float32Array(jobs.length * d);
          jobs.forEach((j, i) => xs.set(j.x, i * d));
          const start = performance.now();
          const out = await this.run(xs, jobs.length);
          const end = performance.now();
          jobs.forEach((j, i) => {
            if (j.times) {
              j.times.queueMs = start - j.queued;
              j.times.modelMs = end - start;
            }
            j.resolve(out[i]);
          });
        } catch (e) {
          for (const j of jobs) j.reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
    } finally {
      this.running = false;
    }
  }
}

/** The model's probabilities, micro-batched. */
export class BatchedModel {
  private batcher: MicroBatcher<Float32Array>;
  constructor(
    readonly model: Model,
    maxBatch = 32,
  ) {
    const k = model.classes.length;
    this.batcher = new MicroBatcher<Float32Array>(async (xs, n) => {
      const p = await model.predictProbs(xs, n);
      return Array.from({ length: n }, (_, i) => p.slice(i * k, (i + 1) * k));
    }, maxBatch);
  }

  predict(x: Float32Array, live?: () => boolean, times?: BatchTimes): Promise<Float32Array> {
    return this.batcher.call(x, live, times);
  }
}

/**
 * The model's input (HWC float [0,1]) from the image the signature check decoded (image-check.ts: the
 * verified parse, by Content-Type). Raw bytes (benchmarks only) are decoded by their magic bytes.
 */
export async function modelInput(input: Uint8Array | DecodedImage | undefined, model: Model): Promise<Float32Array> {
  if (input === undefined) throw badInput('no verified image to give the model');
  const img = input instanceof Uint8Array ? await decodeImage(input, 'request body') : input;
  return toModelInput(img, model.inputShape);
}

export interface Prediction {
  label: number;
  className: string;
  confidence?: number;
  probabilities?: number[];
}

const round = (v: number, d: number): number => Number(v.toFixed(d));

/** Apply the output policy: label only, top-1 with a rounded confidence, or all probabilities rounded. */
export function applyOutputPolicy(p: Float32Array, classes: string[], o: GatewayConfig['output']): Prediction {
  let label = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[label]) label = i;
  const out: Prediction = { label, className: classes[label] };
  if (o.mode === 'top1') out.confidence = round(p[label], o.decimals);
  if (o.mode === 'probs') {
    out.confidence = round(p[label], o.decimals);
    out.probabilities = Array.from(p, (v) => round(v, o.decimals));
  }
  return out;
}
