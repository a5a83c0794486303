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

interface Job<R> { x: Float32Array; resolve: (r: R) => void; reject: (e: Error) => void }

/**
 * Micro-batching of one-image calls: every image that arrives in one turn of the event loop (up to
 * `maxBatch`) goes to `run` as one batch of rows; `run` returns one result per row.
 */
export class MicroBatcher<R> {
  private queue: Array<Job<R>> = [];
  private running = false;
  constructor(private run: (xs: Float32Array, n: number) => Promise<R[]>, private maxBatch = 32) {}

  call(x: Float32Array): Promise<R> {
    return new Promise((resolve, reject) => {
      this.queue.push({ x, resolve, reject });
      if (!this.running) { this.running = true; setImmediate(() => void this.drain()); }
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      const jobs = this.queue.splice(0, this.maxBatch);
      const d = jobs[0].x.length;
      const xs = new Float32Array(jobs.length * d);
      jobs.forEach((j, i) => xs.set(j.x, i * d));
      try {
        const out = await this.run(xs, jobs.length);
        jobs.forEach((j, i) => j.resolve(out[i]));
      } catch (e) {
        for (const j of jobs) j.reject(e instanceof Error ? e : new Error(String(e)));
      }
    }
    this.running = false;
  }
}

/** The model's probabilities, micro-batched. */
export class BatchedModel {
  private batcher: MicroBatcher<Float32Array>;
  constructor(readonly model: Model, maxBatch = 32) {
    const k = model.classes.length;
    this.batcher = new MicroBatcher<Float32Array>(async (xs, n) => {
      const p = await model.predictProbs(xs, n);
      return Array.from({ length: n }, (_, i) => p.slice(i * k, (i + 1) * k));
    }, maxBatch);
  }

  predict(x: Float32Array): Promise<Float32Array> { return this.batcher.call(x); }
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

export interface Prediction { label: number; className: string; confidence?: number; probabilities?: number[] }

const round = (v: number, d: number): number => Number(v.toFixed(d));

/** Apply the output policy: label only, top-1 with a rounded confidence, or all probabilities rounded. */
export function applyOutputPolicy(p: Float32Array, classes: string[], o: GatewayConfig['output']): Prediction {
  let label = 0;
  for (let i = 1; i < p.length; i++) if (p[i] > p[label]) label = i;
  const out: Prediction = { label, className: classes[label] };
  if (o.mode === 'top1') out.confidence = round(p[label], o.decimals);
  if (o.mode === 'probs') { out.confidence = round(p[label], o.decimals); out.probabilities = Array.from(p, (v) => round(v, o.decimals)); }
  return out;
}
