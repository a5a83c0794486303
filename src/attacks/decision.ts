/**
 * Plumbing shared by the decision-based (label-only) attacks, HopSkipJump and Boundary: the
 * yes/no oracle φ(x) = [x is adversarial] read from `QuerySetup.margins` (margin < 0), queried in
 * batches for all running images, and the search for a first adversarial point every such attack
 * starts from.
 *
 * Starting points, per image (one query per candidate; the budget is checked before each):
 * - the clean image is looked at first: already adversarial → the answer is the clean image itself;
 * - targeted: a caller-given starting point (`startingPoints`, an image of the target class, as the
 *   authors' `target_image`), then images of the batch whose label is the target class;
 *   untargeted: uniform noise U[0,1]^d (the authors' `initialize`, Foolbox's blended uniform noise);
 * - then whatever the other kind offers (targeted: uniform noise; untargeted: batch images of another
 *   class) — a binary head often calls all noise the same class;
 * - the first adversarial candidate c is blended towards the clean image x: a binary search over
 *   α ∈ [0,1] for the smallest adversarial (1 − α)x + αc, to a tolerance of 0.001 (as the authors).
 */
import type { AttackOptions, AttackResult } from './types.js';
import type { QuerySetup } from './query.js';
import { takeRows } from './project.js';
import type { Rng } from '../engine/index.js';
import { badArgument } from '../errors.js';
import { atTarget } from './goal.js';

/** Decision-based attacks accept starting points (n × d, e.g. images of the target class). */
export interface DecisionOptions extends AttackOptions {
  startingPoints?: Float32Array;
}

/** Uniform-noise draws tried per image before (untargeted) or after (targeted) the batch images. */
const NOISE_TRIES = 100;
/** Batch images tried per image as starting points. */
const IMAGE_TRIES = 20;
/** Largest number of values sent to the target in one call (rows × d). */
const CHUNK_VALUES = 1 << 18;

/**
 * φ for rows `xs` (row r is a candidate for image idx[r]), clipped to [0,1] first: 1 = adversarial.
 * One query per row, sent in as few target calls as the chunk size allows.
 */
export async function isAdversarial(s: QuerySetup, idx: ArrayLike<number>, xs: Float32Array): Promise<Uint8Array> {
  const m = idx.length;
  const d = s.d;
  const out = new Uint8Array(m);
  const step = Math.max(1, Math.floor(CHUNK_VALUES / d));
  for (let a = 0; a < m; a += step) {
    const b = Math.min(m, a + step);
    const part = xs.slice(a * d, b * d);
    for (let j = 0; j < part.length; j++) part[j] = part[j] < 0 ? 0 : part[j] > 1 ? 1 : part[j];
    const mg = await s.margins(
      Array.from({ length: b - a }, (_, r) => idx[a + r]),
      part,
    );
    for (let r = 0; r < b - a; r++) out[a + r] = s.succeeded(idx[a + r], mg[r]) ? 1 : 0;
  }
  return out;
}

/** Distance ‖a_i − x0_i‖ (L2 or L∞) of row i. */
export function distance(x0: Float32Array, a: Float32Array, i: number, d: number, norm: 'l2' | 'linf'): number {
  let s = 0;
  for (let j = i * d; j < (i + 1) * d; j++) {
    const v = Math.abs(a[j] - x0[j]);
    if (norm === 'linf') {
      if (v > s) s = v;
    } else s += v * v;
  }
  return norm === 'l2' ? Math.sqrt(s) : s;
}

interface Starts {
  /** Adversarial starting points (rows of images with `ok`). */
  x: Float32Array;
  ok: Uint8Array;
  /** Images settled by the first look: the clean image is already adversarial (success) or of the target class. */
  settled: Uint8Array;
  success: Uint8Array;
}

/** Find an adversarial starting point for every image (see the file comment). */
async function findStarts(
  s: QuerySetup,
  x0: Float32Array,
  opts: DecisionOptions,
  rngs: Rng[],
  progress: () => void,
): Promise<Starts> {
  const { n, d, goal } = s;
  const x = Float32Array.from(x0);
  const ok = new Uint8Array(n);
  const settled = new Uint8Array(n);
  const success = new Uint8Array(n);
  if (opts.startingPoints && opts.startingPoints.length !== n * d)
    throw badArgument(`starting points have ${opts.startingPoints.length} values, expected ${n * d}`);
  // Targeted samples already of the target class are not attacked.
  for (let i = 0; i < n; i++) if (atTarget(goal, i)) settled[i] = 1;
  const look = range(n).filter((i) => !settled[i] && s.left(i) > 0);
  const clean = await isAdversarial(s, look, takeRows(x0, d, look));
  look.forEach((i, r) => {
    if (clean[r]) {
      settled[i] = 1;
      success[i] = 1;
    }
  });
  progress();

  // Candidate plan per image: a list of sources tried one query at a time.
  type Source = { kind: 'point' } | { kind: 'image'; j: number } | { kind: 'noise' };
  const plans: Source[][] = range(n).map((i) => {
    if (settled[i]) return [];
    const images: Source[] = [];
    for (let k = 1; k < n && images.length < IMAGE_TRIES; k++) {
      const j = (i + k) % n;
      const fits = goal.target
        ? goal.y !== null && goal.y[j] === goal.target[i]
        : goal.y === null || goal.y[j] !== goal.y[i];
      if (fits) images.push({ kind: 'image', j });
    }
    const noise: Source[] = Array.from({ length: NOISE_TRIES }, () => ({ kind: 'noise' }));
    if (!goal.target) return [...noise, ...images];
    return [...(opts.startingPoints ? [{ kind: 'point' } as Source] : []), ...images, ...noise];
  });
  const cand = new Float32Array(n * d);
  for (let t = 0; ; t++) {
    const idx = range(n).filter((i) => !settled[i] && !ok[i] && t < plans[i].length && s.left(i) > 0);
    if (!idx.length) break;
    const xs = new Float32Array(idx.length * d);
    idx.forEach((i, r) => {
      const src = plans[i][t];
      const row = xs.subarray(r * d, (r + 1) * d);
      if (src.kind === 'noise') rngs[i].fillUniform(row);
      else if (src.kind === 'image') row.set(x0.subarray(src.j * d, (src.j + 1) * d));
      else row.set(opts.startingPoints!.subarray(i * d, (i + 1) * d));
    });
    const adv = await isAdversarial(s, idx, xs);
    idx.forEach((i, r) => {
      if (adv[r]) {
        ok[i] = 1;
        cand.set(xs.subarray(r * d, (r + 1) * d), i * d);
        for (let j = i * d; j < (i + 1) * d; j++) cand[j] = Math.min(1, Math.max(0, cand[j]));
      }
    });
    progress();
  }
  // Blend towards the clean image: smallest adversarial α of (1 − α)x + αc.
  const lo = new Float64Array(n);
  const hi = new Float64Array(n).fill(1);
  for (;;) {
    const idx = range(n).filter((i) => ok[i] && hi[i] - lo[i] > 0.001 && s.left(i) > 0);
    if (!idx.length) break;
    const xs = new Float32Array(idx.length * d);
    idx.forEach((i, r) => {
      blendRow(xs, r, x0, cand, i, d, (lo[i] + hi[i]) / 2);
    });
    const adv = await isAdversarial(s, idx, xs);
    idx.forEach((i, r) => {
      const mid = (lo[i] + hi[i]) / 2;
      if (adv[r]) hi[i] = mid;
      else lo[i] = mid;
    });
    progress();
  }
  for (let i = 0; i < n; i++) if (ok[i]) blendRow(x, i, x0, cand, i, d, hi[i]);
  return { x, ok, settled, success };
}

/** out row r ← (1 − α)·x0_i + α·c_i. */
function blendRow(
  out: Float32Array,
  r: number,
  x0: Float32Array,
  c: Float32Array,
  i: number,
  d: number,
  alpha: number,
): void {
  for (let j = 0; j < d; j++) out[r * d + j] = (1 - alpha) * x0[i * d + j] + alpha * c[i * d + j];
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/**
 * The shared `finish`, with success as the attack observed it: image i succeeds when its best point
 * `best_i` was seen adversarial (`adv`) and lies in the ε ball, so that the projection leaves it as
 * it is (the same float32 δ and slack as `project`). A larger perturbation is shrunk onto the ball,
 * and the shrunk image was never queried: no success.
 */
export function conclude(
  s: QuerySetup,
  x0: Float32Array,
  best: Float32Array,
  adv: Uint8Array,
  notes: string[],
): AttackResult {
  const { n, d } = s;
  const success = new Uint8Array(n);
  const e = s.eps * (1 - 1e-6);
  let outside = 0;
  for (let i = 0; i < n; i++) {
    if (!adv[i]) continue;
    let r = 0;
    for (let j = i * d; j < (i + 1) * d; j++) {
      const v = Math.abs(Math.fround(best[j] - x0[j]));
      if (s.norm === 'linf') r = Math.max(r, v);
      else r += v * v;
    }
    if ((s.norm === 'linf' ? r : Math.sqrt(r)) <= e) success[i] = 1;
    else outside++;
  }
  if (outside)
    notes.push(
      `${outside} adversarial image(s) found lie outside the ε ` +
        `ball; their projection onto it is not counted as a success`,
    );
  return s.finish(x0, best, success, notes);
}

/**
 * The opening both decision attacks share: per-image random streams, the stop flags, a progress
 * report that counts a stopped image as its whole budget, and the starting points.
 */
export async function openDecision(
  s: QuerySetup,
  x0: Float32Array,
  opts: DecisionOptions,
): Promise<{ rngs: Rng[]; stopped: Uint8Array; report: () => void; start: Awaited<ReturnType<typeof findStarts>> }> {
  const rngs = range(s.n).map((i) => s.rng(i));
  const stopped = new Uint8Array(s.n);
  const report = (): void => {
    let done = 0;
    for (let i = 0; i < s.n; i++) done += stopped[i] ? s.maxQueries : s.used[i];
    opts.onStep?.(done, s.n * s.maxQueries);
  };
  const start = await findStarts(s, x0, opts, rngs, report);
  return { rngs, stopped, report, start };
}
