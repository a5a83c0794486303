/**
 * Plumbing shared by the query (black-box) attacks: the `QueryAttack` interface, exact per-image
 * query accounting under a budget, and the margin/loss an attack reads from a target's answers.
 *
 * Scores: a target returns probabilities p (softmax, or sigmoid per label). The attacks reason on
 * z = log p (softmax) or z = log(p / (1 − p)) (sigmoid), viewed through the same `Goal` as the
 * white-box attacks. For a softmax head log p = logits − logsumexp(logits), so every margin
 * z_i − z_j equals the logit margin exactly: Square's margin loss on a probability target is the
 * paper's. A label-only target returns one-hot decisions; their margins are ±27.6 (log 1e-12),
 * which carries exactly the decision and nothing else.
 *
 * Budget: `maxQueries` per image counts every image sent to the target by the attack, including
 * the first look at the clean image; an attack never sends an image whose budget is spent
 * (`left(i) > 0` is checked by `margins`) and reports `queriesPerSample`.
 */
import { Rng } from '../engine/index.js';
import { badArgument, unsupported } from '../errors.js';
import type { Model } from '../models/model.js';
import { goalMet, makeGoal, type Goal } from './goal.js';
import { project } from './project.js';
import { asTarget, type Target } from './targets/target.js';
import type { AttackOptions, AttackResult, Norm } from './types.js';

export interface QueryAttack {
  readonly name: string;
  readonly reference: string;
  /** score: needs probabilities; decision: labels suffice; transfer: crafted on surrogates, one query per image. */
  readonly threatModel: 'score' | 'decision' | 'transfer';
  readonly defaultNorm: Norm;
  readonly norms: Norm[];
  readonly minimumNorm: boolean;
  readonly targeted: boolean;
  /** Default query budget per image (`--max-queries`); shown as `steps` in results. */
  readonly defaultSteps: number;
  run(target: Target | Model, x: Float32Array, y: Int32Array, opts: AttackOptions): Promise<AttackResult>;
}

/**
 * Scores a margin can be read from: z = log p (softmax heads) or log(p / (1 − p)) (sigmoid per label), p clamped to
 * [1e-12, 1 − 1e-12].
 */
export function probsToLogits(probs: Float32Array, task: string): Float32Array {
  const sigmoid = task === 'multilabel';
  return Float32Array.from(probs, (p) => {
    const q = Math.min(Math.max(p, 1e-12), 1 - 1e-12);
    return sigmoid ? Math.log(q / (1 - q)) : Math.log(q);
  });
}

export class QuerySetup {
  readonly target: Target;
  readonly goal: Goal;
  readonly norm: Norm;
  readonly eps: number;
  readonly d: number;
  readonly n: number;
  readonly maxQueries: number;
  readonly seed: number;
  /** Queries spent per image. */
  readonly used: Int32Array;

  constructor(attack: QueryAttack, t: Target | Model, x: Float32Array, y: Int32Array, opts: AttackOptions) {
    this.target = asTarget(t);
    this.norm = opts.norm ?? attack.defaultNorm;
    if (!attack.norms.includes(this.norm))
      throw unsupported(
        `attack '${attack.name}' does not support the ${this.norm} norm (choose ${attack.norms.join(', ')})`,
      );
    if (!(opts.eps > 0) || !Number.isFinite(opts.eps))
      throw badArgument(`ε must be a positive number, got ${opts.eps}`);
    if (opts.criterion?.kind === 'targeted' && !attack.targeted)
      throw unsupported(`attack '${attack.name}' has no targeted mode`);
    this.maxQueries = opts.maxQueries ?? attack.defaultSteps;
    if (!(Number.isInteger(this.maxQueries) && this.maxQueries >= 1))
      throw badArgument(`--max-queries must be a positive integer, got ${opts.maxQueries}`);
    const [h, w, c] = this.target.inputShape;
    this.d = h * w * c;
    if (x.length % this.d !== 0)
      throw badArgument(`input has ${x.length} values, not a multiple of the target's ${this.d} per image`);
    this.n = x.length / this.d;
    this.goal = makeGoal(this.target.task, this.target.classes.length, y, opts.criterion, opts.label ?? 'all');
    if (this.goal.n !== this.n) throw badArgument(`got ${this.n} images but ${this.goal.n} labels`);
    this.eps = opts.eps;
    this.seed = opts.seed ?? 0;
    this.used = new Int32Array(this.n);
  }

  /** Queries image i may still spend. */
  left(i: number): number {
    return this.maxQueries - this.used[i];
  }

  /** A random stream for image i of this batch, independent of which other images are still running. */
  rng(i: number, salt = 0): Rng {
    return new Rng(((this.seed * 0x9e3779b1) ^ (i * 0x85ebca6b) ^ (salt * 0xc2b2ae35)) >>> 0);
  }

  /**
   * View logits (|idx| × goal.k) of images `xs` (one row per entry of `idx`, image idx[r] of the
   * batch), one query each. Refuses an image whose budget is spent.
   */
  async logits(idx: ArrayLike<number>, xs: Float32Array): Promise<Float32Array> {
    const m = idx.length;
    if (m === 0) return new Float32Array(0);
    for (let r = 0; r < m; r++) {
      if (this.used[idx[r]] >= this.maxQueries) throw new Error(`internal: image ${idx[r]} has no queries left`);
      this.used[idx[r]]++;
    }
    const p = await this.target.predictProbs(xs, m);
    const k = this.target.classes.length;
    if (p.length !== m * k)
      throw badArgument(`target '${this.target.name}' returned ${p.length / m} scores per image, expected ${k}`);
    return this.goal.subset(idx).viewRows(probsToLogits(p, this.target.task));
  }

  /** Margins (< 0 ⇔ adversarial under the goal) of images `xs` for rows `idx`; one query each. */
  async margins(idx: ArrayLike<number>, xs: Float32Array): Promise<Float64Array> {
    const v = await this.logits(idx, xs);
    return this.goal.subset(idx).marginRows(v);
  }

  /** The success rule (`goalMet` in goal.ts) for image i of the batch. */
  succeeded(i: number, margin: number): boolean {
    return goalMet(this.goal, i, margin);
  }

  /** Final answer: projected into [0,1] ∩ ε ball; `success` as the attack observed it through its own queries. */
  finish(x0: Float32Array, xAdv: Float32Array, success: Uint8Array, notes: string[] = []): AttackResult {
    const xa = project(x0, xAdv, this.d, this.norm, this.eps);
    const total = this.used.reduce((a, b) => a + b, 0);
    return {
      xAdv: xa,
      success,
      queries: { forward: total, gradient: 0 },
      queriesPerSample: Int32Array.from(this.used),
      notes,
    };
  }
}
