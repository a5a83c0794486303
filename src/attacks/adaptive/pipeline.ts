/**
 * Judging images against the deployed pipeline: the defended model's label and, when a detector is
 * deployed, whether it flags the image. Adaptive attacks call this to decide success with the real
 * defence (never with the attacker's differentiable surrogate), and the scorecard to score them.
 */
import { takeRows } from '../project.js';
import type { Pipeline, AdaptiveResult } from './types.js';
import type { Model } from '../../models/model.js';
import { metByPrediction } from '../goal.js';

export interface Judgement {
  /** Deployed label per image. */
  predicted: Int32Array;
  /** 1 where predicted ≠ y. */
  fooled: Uint8Array;
  /** Detector scores (when a detector is deployed). */
  scores?: Float64Array;
  /** 1 where the detector does not flag the image (always 1 without a detector). */
  undetected: Uint8Array;
}

export function argmaxRows(p: Float32Array, n: number, k: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + b]) b = j;
    out[i] = b;
  }
  return out;
}

/** Probabilities in batches of 256 (a smoothed model draws its own noise per image). */
async function probsOf(m: Model, x: Float32Array, n: number): Promise<Float32Array> {
  const d = x.length / n;
  const k = m.classes.length;
  const out = new Float32Array(n * k);
  for (let s = 0; s < n; s += 256) {
    const b = Math.min(256, n - s);
    out.set(await m.predictProbs(x.subarray(s * d, (s + b) * d), b), s * k);
  }
  return out;
}

/** The deployed label per image, and 1 where it meets the attacker's goal (≠ y, or = target). */
async function deployedLabels(
  p: Pipeline,
  xs: Float32Array,
  y: ArrayLike<number>,
  target?: number,
): Promise<{ predicted: Int32Array; fooled: Uint8Array }> {
  const n = y.length;
  const predicted = argmaxRows(await probsOf(p.deployed, xs, n), n, p.model.classes.length);
  return { predicted, fooled: Uint8Array.from(predicted, (c, i) => (metByPrediction(c, y[i], target) ? 1 : 0)) };
}

/** Whether the deployed detector lets a score through (a score above the threshold is flagged). */
const passes = (p: Pipeline, score: number): boolean => !(score > p.detector!.threshold);

/** The deployed pipeline's judgement of every image; `target`: a targeted attacker's class. */
export async function judgePipeline(
  p: Pipeline,
  xs: Float32Array,
  y: ArrayLike<number>,
  target?: number,
): Promise<Judgement> {
  const n = y.length;
  const { predicted, fooled } = await deployedLabels(p, xs, y, target);
  if (!p.detector) return { predicted, fooled, undetected: new Uint8Array(n).fill(1) };
  const scores = await p.detector.detector.score(p.model, xs, n);
  const undetected = Uint8Array.from(scores, (s) => (passes(p, s) ? 1 : 0));
  return { predicted, fooled, scores, undetected };
}

/**
 * Fooled and (with a detector) undetected, per image: an iterate's success, as `judgePipeline` decides it. A
 * detector whose scores are per image (`perImage`) scores only the fooled images — an image the deployed model still
 * classifies correctly has failed whatever the detector says.
 */
export async function judgeSuccess(
  p: Pipeline,
  xs: Float32Array,
  y: ArrayLike<number>,
  target?: number,
): Promise<{ fooled: Uint8Array; ok: Uint8Array }> {
  const n = y.length;
  const { fooled } = await deployedLabels(p, xs, y, target);
  if (!p.detector) return { fooled, ok: fooled };
  const rows = Array.from({ length: n }, (_, i) => i).filter((i) => fooled[i] || !p.detector!.detector.perImage);
  const ok = new Uint8Array(n);
  if (!rows.length) return { fooled, ok };
  const part = rows.length === n ? xs : takeRows(xs, xs.length / n, rows);
  const scores = await p.detector.detector.score(p.model, part, rows.length);
  rows.forEach((i, j) => {
    ok[i] = fooled[i] && passes(p, scores[j]) ? 1 : 0;
  });
  return { fooled, ok };
}

/**
 * The `check` of `objectiveAscent`: fooled and (if a detector is deployed) undetected, for rows `idx` of the batch
 * labelled `y`.
 */
export function pipelineCheck(p: Pipeline, y: Int32Array): (xs: Float32Array, idx: number[]) => Promise<Uint8Array> {
  return async (xs, idx) =>
    (
      await judgeSuccess(
        p,
        xs,
        idx.map((i) => y[i]),
      )
    ).ok;
}

/** Wrap up an adaptive attack: judge the final images on the pipeline. */
export async function pipelineResult(
  p: Pipeline,
  xAdv: Float32Array,
  y: Int32Array,
  queries: { forward: number; gradient: number },
  notes: string[],
): Promise<AdaptiveResult> {
  const j = await judgePipeline(p, xAdv, y);
  return {
    xAdv,
    success: j.fooled.map((f, i) => f & j.undetected[i]),
    fooled: j.fooled,
    detectorScores: j.scores,
    queries,
    notes,
  };
}
