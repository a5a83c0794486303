/**
 * Plumbing shared by the attacks: option checks, random starts, the final projection + success
 * check every attack ends with, and the per-sample bookkeeping of "best adversarial so far".
 */
import { Rng } from '../engine/index.js';
import { badArgument, unsupported } from '../errors.js';
import type { DifferentiableModel } from '../models/model.js';
import { atTarget, goalMetRows, makeGoal, type Goal } from './goal.js';
import { Oracle } from './targets/oracle.js';
import { project, perturbationSize } from './project.js';
import type { Attack, AttackOptions, AttackResult, Norm } from './types.js';

export interface Setup {
  oracle: Oracle;
  goal: Goal;
  norm: Norm;
  eps: number;
  d: number;
  n: number;
  rng: Rng;
}

/** Validate options and build the oracle and goal for a batch. */
export function setup(
  attack: Attack,
  model: DifferentiableModel,
  x: Float32Array,
  y: Int32Array,
  opts: AttackOptions,
): Setup {
  const norm = opts.norm ?? attack.defaultNorm;
  if (!attack.norms.includes(norm))
    throw unsupported(`attack '${attack.name}' does not support the ${norm} norm (choose ${attack.norms.join(', ')})`);
  if (!(opts.eps > 0) || !Number.isFinite(opts.eps)) throw badArgument(`ε must be a positive number, got ${opts.eps}`);
  if (opts.steps !== undefined && !(Number.isInteger(opts.steps) && opts.steps >= 1))
    throw badArgument(`--steps must be a positive integer, got ${opts.steps}`);
  if (opts.stepSize !== undefined && !(opts.stepSize > 0))
    throw badArgument(`--step-size must be positive, got ${opts.stepSize}`);
  if (opts.criterion?.kind === 'targeted' && !attack.targeted)
    throw unsupported(`attack '${attack.name}' has no targeted mode`);
  const oracle = new Oracle(model);
  const d = oracle.d;
  if (x.length % d !== 0)
    throw badArgument(`input has ${x.length} values, not a multiple of the model's ${d} per image`);
  const n = x.length / d;
  const K = model.classes.length;
  const goal = makeGoal(model.task, K, y, opts.criterion, opts.label ?? 'all');
  if (goal.n !== n) throw badArgument(`got ${n} images but ${goal.n} labels`);
  return { oracle, goal, norm, eps: opts.eps, d, n, rng: new Rng(opts.seed ?? 0) };
}

/**
 * A uniformly random point of the ε ball around x0 (L∞: uniform cube; L2: uniform direction, radius ε·u^(1/d)), clipped
 * to [0,1].
 */
export function randomStart(x0: Float32Array, d: number, norm: Norm, eps: number, rng: Rng): Float32Array {
  const x = new Float32Array(x0.length);
  const n = x0.length / d;
  for (let i = 0; i < n; i++) {
    const off = i * d;
    if (norm === 'linf') {
      for (let j = 0; j < d; j++) x[off + j] = x0[off + j] + eps * (2 * rng.uniform() - 1);
    } else {
      const g = new Float32Array(d);
      rng.fillNormal(g);
      const r = (eps * Math.pow(rng.uniform(), 1 / d)) / (perturbationSize(g, 'l2') || 1);
      for (let j = 0; j < d; j++) x[off + j] = x0[off + j] + r * g[j];
    }
  }
  return project(x0, x, d, norm === 'linf' ? 'linf' : 'l2', eps);
}

/** Indices where a per-sample margin says "not yet adversarial". */
export function remaining(margin: ArrayLike<number>, alsoMask?: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < margin.length; i++) if (margin[i] >= 0 && (!alsoMask || alsoMask[i])) out.push(i);
  return out;
}

/**
 * The last step of every attack: project onto [0,1] ∩ ε ball, evaluate, and report success.
 * For targeted goals a sample whose true class already is the target is never a success.
 * With `keepLogits` the raw model logits at the returned images are handed back too (`AttackResult.logits`),
 * so a deterministic model's evaluation can read its adversarial predictions without another pass.
 */
export async function finalize(
  s: Setup,
  x0: Float32Array,
  xAdv: Float32Array,
  notes: string[] = [],
  o: { keepLogits?: boolean } = {},
): Promise<AttackResult> {
  const xa = project(x0, xAdv, s.d, s.norm, s.eps);
  const raw = o.keepLogits ? await s.oracle.rawLogits(xa) : null;
  const margin = s.goal.marginRows(raw ? s.goal.viewRows(raw) : await s.oracle.logits(xa, s.goal));
  const success = goalMetRows(s.goal, margin);
  return { xAdv: xa, success, queries: s.oracle.queries(), notes, ...(raw ? { logits: raw } : {}) };
}

/** Initial margins at the clean images: samples already adversarial (e.g. misclassified) are skipped. */
export async function cleanMargins(s: Setup, x0: Float32Array): Promise<Float64Array> {
  return s.goal.marginRows(await s.oracle.logits(x0, s.goal));
}

/** Sign of a number as −1, 0, 1. */
export const sign = (v: number): number => (v > 0 ? 1 : v < 0 ? -1 : 0);

/**
 * Targeted-restart plan shared by APGD-T and FAB-T (Croce & Hein 2020): each sample's classes ranked by clean
 * logit (highest first), the number of target classes to try (the given target, else the top `targetClasses`
 * runners-up, at most k − 1), the samples still to attack, and the target of each for round `tc` (2 = runner-up).
 */
function classRanks(logits: ArrayLike<number>, n: number, k: number): number[][] {
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: k }, (_, c) => c).sort((a, b) => logits[i * k + b] - logits[i * k + a]),
  );
}

function targetCount(goal: Goal, targetClasses: number | undefined): number {
  return goal.target ? 1 : Math.min(targetClasses ?? 9, goal.k - 1);
}

export function pendingTargeted(n: number, fooled: Uint8Array, goal: Goal): number[] {
  const idx: number[] = [];
  for (let i = 0; i < n; i++) if (!fooled[i] && !atTarget(goal, i)) idx.push(i);
  return idx;
}

/** The whole plan at the clean images: which are already fooled, class ranks, target count, total steps. */
export async function targetedPlan(
  s: Setup,
  x0: Float32Array,
  targetClasses: number | undefined,
  restarts: number,
  nIter: number,
): Promise<{ fooled: Uint8Array; ranks: number[][]; nTargets: number; total: number }> {
  const fooled = goalMetRows(s.goal, await cleanMargins(s, x0));
  const ranks = classRanks(await s.oracle.logits(x0, s.goal), s.n, s.goal.k);
  const nTargets = targetCount(s.goal, targetClasses);
  return { fooled, ranks, nTargets, total: nTargets * restarts * nIter };
}

export function roundTargets(goal: Goal, idx: number[], ranks: number[][], tc: number): Int32Array {
  return goal.target ? Int32Array.from(idx, (i) => goal.target![i]) : Int32Array.from(idx, (i) => ranks[i][tc - 1]);
}
