/**
 * Classification metrics exactly as MedMNIST v2 defines them (medmnist/evaluator.py getACC/getAUC):
 * - binary: AUC of the positive-class score; ACC with threshold 0.5 on it.
 * - multiclass and ordinal: mean one-vs-rest AUC over classes; ACC of the argmax.
 * - multilabel: mean AUC over labels; mean per-label accuracy at threshold 0.5.
 * Scores are probabilities (softmax for single-label tasks, sigmoid for multi-label).
 */
import type { Task } from '../data/medmnist.js';

/** ROC AUC with ties handled by average ranks (the Mann–Whitney U statistic), as sklearn's roc_auc_score. */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const n = labels.length;
  const idx = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a] - scores[b]);
  let pos = 0;
  let rankSumPos = 0;
  let i = 0;
  while (i < n) {
    let j = i;
    while (j + 1 < n && scores[idx[j + 1]] === scores[idx[i]]) j++;
    const avgRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++)
      if (labels[idx[k]]) {
        pos++;
        rankSumPos += avgRank;
      }
    i = j + 1;
  }
  const neg = n - pos;
  if (pos === 0 || neg === 0) return NaN;
  return (rankSumPos - (pos * (pos + 1)) / 2) / (pos * neg);
}

export interface Scores {
  /** n × k probabilities, row-major. */
  probs: Float32Array;
  n: number;
  k: number;
}

/** Predicted class per sample for single-label tasks (binary: p1 > 0.5, as MedMNIST). */
export function predictions(s: Scores, task: Task): Int32Array {
  const out = new Int32Array(s.n);
  for (let i = 0; i < s.n; i++) {
    if (task === 'binary') {
      out[i] = s.probs[i * s.k + s.k - 1] > 0.5 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let c = 1; c < s.k; c++) if (s.probs[i * s.k + c] > s.probs[i * s.k + best]) best = c;
    out[i] = best;
  }
  return out;
}

export function accuracy(s: Scores, labels: Int32Array, task: Task): number {
  if (task === 'multilabel') {
    let acc = 0;
    for (let c = 0; c < s.k; c++) {
      let right = 0;
      for (let i = 0; i < s.n; i++) if ((s.probs[i * s.k + c] > 0.5 ? 1 : 0) === labels[i * s.k + c]) right++;
      acc += right / s.n;
    }
    return acc / s.k;
  }
  const pred = predictions(s, task);
  let right = 0;
  for (let i = 0; i < s.n; i++) if (pred[i] === labels[i]) right++;
  return right / s.n;
}

export function auc(s: Scores, labels: Int32Array, task: Task): number {
  const col = (c: number): Float32Array => {
    const o = new Float32Array(s.n);
    for (let i = 0; i < s.n; i++) o[i] = s.probs[i * s.k + c];
    return o;
  };
  if (task === 'binary') return rocAuc(labels, col(s.k - 1));
  let sum = 0;
  for (let c = 0; c < s.k; c++) {
    const y = new Uint8Array(s.n);
    for (let i = 0; i < s.n; i++)
      y[i] = task === 'multilabel' ? (labels[i * s.k + c] ? 1 : 0) : labels[i] === c ? 1 : 0;
    sum += rocAuc(y, col(c));
  }
  return sum / s.k;
}

export interface ClassificationMetrics {
  accuracy: number;
  auc: number;
}

export function classificationMetrics(s: Scores, labels: Int32Array, task: Task): ClassificationMetrics {
  return { accuracy: accuracy(s, labels, task), auc: auc(s, labels, task) };
}

/** Round for display/JSON without changing stored precision elsewhere. */
export function round(x: number, digits = 4): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** Population standard deviation. */
export function stdDev(a: ArrayLike<number>): number {
  const v = Array.from(a);
  const m = v.reduce((s, x) => s + x, 0) / (v.length || 1);
  return Math.sqrt(v.reduce((s, x) => s + (x - m) ** 2, 0) / (v.length || 1));
}
