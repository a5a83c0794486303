/**
 * Batched probabilities and per-sample judgement (prediction, correct or not, confidence) for anything
 * that answers probabilities: an in-process model, a defended model or a remote target.
 */
import type { Task } from '../data/medmnist.js';

/** What `probabilities` and `judge` need of a model or target. */
export interface Predictor {
  readonly classes: string[];
  readonly task: Task;
  predictProbs(x: Float32Array, n: number): Promise<Float32Array>;
}

/** Probabilities for all images, in batches. */
export async function probabilities(
  model: Predictor,
  x: Float32Array,
  n: number,
  batchSize = 256,
): Promise<Float32Array> {
  const d = x.length / n;
  const k = model.classes.length;
  const out = new Float32Array(n * k);
  for (let s = 0; s < n; s += batchSize) {
    const m = Math.min(batchSize, n - s);
    out.set(await model.predictProbs(x.subarray(s * d, (s + m) * d), m), s * k);
  }
  return out;
}

export interface Judged {
  pred: Array<number | number[]>;
  correct: Uint8Array;
  confidence: Float64Array;
}

/** Predictions, correctness and confidence of the predicted class (or attacked label) per sample. */
export function judge(
  model: Predictor,
  probs: Float32Array,
  labels: Int32Array,
  n: number,
  label: number | 'all' = 'all',
): Judged {
  const k = model.classes.length;
  const pred: Array<number | number[]> = [];
  const correct = new Uint8Array(n);
  const confidence = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const p = probs.subarray(i * k, (i + 1) * k);
    if (model.task === 'multilabel') {
      const v = Array.from(p, (q) => (q > 0.5 ? 1 : 0));
      pred.push(v);
      const ok = (j: number): boolean => v[j] === (labels[i * k + j] ? 1 : 0);
      correct[i] = label === 'all' ? (v.every((_, j) => ok(j)) ? 1 : 0) : ok(label) ? 1 : 0;
      confidence[i] =
        label === 'all' ? Math.min(...Array.from(p, (q) => Math.max(q, 1 - q))) : Math.max(p[label], 1 - p[label]);
      continue;
    }
    let c = 0;
    if (model.task === 'binary' && k === 2) c = p[1] > 0.5 ? 1 : 0;
    else for (let j = 1; j < k; j++) if (p[j] > p[c]) c = j;
    pred.push(c);
    correct[i] = c === labels[i] ? 1 : 0;
    confidence[i] = p[c];
  }
  return { pred, correct, confidence };
}
