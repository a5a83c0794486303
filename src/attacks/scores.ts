/**
 * Small helpers shared by the score-based query attacks (Square, SimBA, NES): one batched look at
 * the target for the images still running, and the per-row losses those attacks read from the view
 * logits v (v = log p on a softmax target, so differences of v are logit differences).
 */
import type { Rng } from '../engine/index.js';
import type { QuerySetup } from './query.js';
import { atTarget } from './goal.js';

export interface Answer {
  /** View logits, |idx| × k. */
  v: Float32Array;
  /** Margins (< 0 ⇔ adversarial), one per row. */
  m: Float64Array;
  k: number;
}

/** Query rows `xs` (row r belongs to image idx[r]); one query per row, counted by QuerySetup. */
export async function ask(s: QuerySetup, idx: number[], xs: Float32Array): Promise<Answer> {
  const v = await s.logits(idx, xs);
  const k = s.goal.k;
  return { v, m: s.goal.subset(idx).marginRows(v), k };
}

/** log Σ_j exp(v_j) of row r. */
export function logSumExp(v: Float32Array, k: number, r: number): number {
  let mx = -Infinity;
  for (let j = 0; j < k; j++) mx = Math.max(mx, v[r * k + j]);
  let s = 0;
  for (let j = 0; j < k; j++) s += Math.exp(v[r * k + j] - mx);
  return mx + Math.log(s);
}

/** log softmax(v)_c of row r. */
export function logProb(v: Float32Array, k: number, r: number, c: number): number {
  return v[r * k + c] - logSumExp(v, k, r);
}

/**
 * log(1 − softmax(v)_c) of row r, computed from the other classes so it keeps its precision when
 * p_c is within float32 rounding of 1 (a confident target answers p_y = 1 − 1e-8 as exactly 1).
 */
export function logOthers(v: Float32Array, k: number, r: number, c: number): number {
  let mx = -Infinity;
  for (let j = 0; j < k; j++) if (j !== c) mx = Math.max(mx, v[r * k + j]);
  let s = 0;
  for (let j = 0; j < k; j++) if (j !== c) s += Math.exp(v[r * k + j] - mx);
  return mx + Math.log(s) - logSumExp(v, k, r);
}

/** A uniformly random permutation of 0..n-1 (Rng's Fisher–Yates shuffle). */
export function permutation(rng: Rng, n: number): Int32Array {
  return rng.shuffle(Int32Array.from({ length: n }, (_, j) => j)) as Int32Array;
}

/** Images of the batch that an attack should start on (a targeted sample already of its target class is not). */
export function attackable(s: QuerySetup): boolean[] {
  const g = s.goal;
  return Array.from({ length: s.n }, (_, i) => !atTarget(g, i));
}

/** Call `onStep` every `every` iterations (and at the end), if given. */
export function progress(
  onStep: ((done: number, total: number) => void) | undefined,
  every = 25,
): (done: number, total: number, last?: boolean) => void {
  return (done, total, last = false) => {
    if (onStep && (last || done % every === 0)) onStep(Math.min(done, total), total);
  };
}

/** Rows of length d as one contiguous array. */
export function stack(rows: Float32Array[], d: number): Float32Array {
  const out = new Float32Array(rows.length * d);
  rows.forEach((r, j) => out.set(r, j * d));
  return out;
}
