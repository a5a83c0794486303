/**
 * Decode → model input → probabilities, with micro-batching: requests that arrive in the same turn of
 * the event loop run as one batch (up to `maxBatch`), which keeps throughput up under concurrency
 * without adding latency to a lone request. Output policy (what the caller learns) lives here too.
 */
import { decodeImage } from '../data/image.js';
import { toModelInput } from '../data/resize.js';
import type { Model } from '../models/model.js';
import type { GatewayConfig } from './config.js';

interface Job { x: Float32Array; resolve: (p: Float32Array) => void; reject: (e: Error) => void }

export class BatchedModel {
  private queue: Job[] = [];
  private running = false;
  constructor(readonly model: Model, private maxBatch = 32) {}

  predict(x: Float32Array): Promise<Float32Array> {
    return new Promise((resolve, reject) => {
      this.queue.push({ x, resolve, reject });
      if (!this.running) { this.running = true; setImmediate(() => void this.drain()); }
    });
  }

  private async drain(): Promise<void> {
    const k = this.model.classes.length;
    const d = this.model.inputShape.reduce((a, b) => a * b, 1);
    while (this.queue.length) {
      const jobs = this.queue.splice(0, this.maxBatch);
      const xs = new Float32Array(jobs.length * d);
      jobs.forEach((j, i) => xs.set(j.x, i * d));
      try {
        const p = await this.model.predictProbs(xs, jobs.length);
        jobs.forEach((j, i) => j.resolve(p.slice(i * k, (i + 1) * k)));
      } catch (e) {
        for (const j of jobs) j.reject(e instanceof Error ? e : new Error(String(e)));
      }
    }
    this.running = false;
  }
}

/** Decode PNG/JPEG/DICOM bytes into the model's input (HWC float [0,1]). */
export async function modelInput(bytes: Uint8Array, model: Model): Promise<Float32Array> {
  const img = await decodeImage(bytes, 'request body');
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
