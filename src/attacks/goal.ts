/**
 * Goals: a criterion (untargeted / targeted) bound to a batch's labels and the model's head.
 *
 * Every head is reduced to a single-label "view" of class logits v (n × k) the attack reasons about:
 * - binary and multi-class heads: v = z (a one-logit binary head becomes v = [0, z], since σ(z) =
 *   softmax([0, z])₁);
 * - a multi-label head attacking label j: v = [0, z_j] — a binary problem on that label;
 * - a multi-label head attacking all labels: its own goal (untargeted: any label flips).
 *
 * Losses (all maximised by the attacks):
 * - CE:  untargeted  ℓ = −log softmax(v)_y;     targeted ℓ = log softmax(v)_t.
 * - CW margin (Carlini & Wagner 2017, f₆ without the κ clamp): untargeted ℓ = max_{i≠y} v_i − v_y;
 *   targeted ℓ = v_t − max_{i≠t} v_i.
 * - DLR (Croce & Hein, ICML 2020): untargeted ℓ = −(v_y − max_{i≠y} v_i) / (v_π1 − v_π3 + 1e−12);
 *   targeted ℓ = −(v_y − v_t) / (v_π1 − (v_π3 + v_π4)/2 + 1e−12), π sorting v decreasingly.
 *   Binary fallback: with k = 2 there is no π3 and DLR's denominator degenerates; any per-sample
 *   positive denominator leaves the sign-/normalised-gradient steps and APGD's per-sample loss
 *   comparisons unchanged, so medshield uses the CW margin (shift-invariant, like DLR) for k = 2,
 *   and π4 := π3 for the targeted loss with k = 3.
 *
 * Margin m (used by CW, EAD, DeepFool, FAB and every success check): m > 0 while the criterion
 * fails and m < 0 once it holds — untargeted m = v_y − max_{i≠y} v_i, targeted m = max_{i≠t} v_i − v_t.
 */
import { tf } from '../engine/index.js';
import type { Task } from '../data/medmnist.js';
import { badArgument, unsupported } from '../errors.js';
import type { Criterion, LabelChoice, LossName } from './types.js';

export interface Goal {
  readonly n: number;
  readonly targeted: boolean;
  /** Columns of the view (classes the attack reasons about). */
  readonly k: number;
  /** True class per sample in view space; null for the all-labels goal. */
  readonly y: Int32Array | null;
  /** Target class per sample in view space (targeted goals). */
  readonly target: Int32Array | null;
  /** Model logits (n × K) → view logits (n × k). */
  view(z: tf.Tensor2D): tf.Tensor2D;
  viewRows(z: Float32Array): Float32Array;
  /** Per-sample loss to maximise. */
  loss(v: tf.Tensor2D, kind: LossName): tf.Tensor1D;
  /** Per-sample margin: < 0 exactly when the criterion holds. */
  margin(v: tf.Tensor2D): tf.Tensor1D;
  marginRows(v: Float32Array): Float64Array;
  /** The same goal restricted to samples `idx`. */
  subset(idx: ArrayLike<number>): Goal;
  /** A targeted goal with these per-sample targets (APGD-T, FAB-T). */
  withTarget(target: Int32Array): Goal;
}

const BIG = 1e4;

/** Single-label view goal. */
class ClassGoal implements Goal {
  readonly n: number;
  readonly targeted: boolean;
  constructor(
    readonly k: number,
    readonly y: Int32Array,
    readonly target: Int32Array | null,
    private readonly viewKind: { type: 'identity' } | { type: 'pad'; column: number },
    private readonly K: number,
  ) {
    this.n = y.length;
    this.targeted = target !== null;
  }

  view(z: tf.Tensor2D): tf.Tensor2D {
    if (this.viewKind.type === 'identity') return z;
    const col = tf.slice(z, [0, this.viewKind.column], [-1, 1]);
    return tf.concat([tf.zerosLike(col), col], 1) as tf.Tensor2D;
  }

  viewRows(z: Float32Array): Float32Array {
    if (this.viewKind.type === 'identity') return z;
    const n = z.length / this.K;
    const out = new Float32Array(n * 2);
    for (let i = 0; i < n; i++) out[i * 2 + 1] = z[i * this.K + this.viewKind.column];
    return out;
  }

  private oneHot(c: Int32Array): tf.Tensor2D {
    return tf.oneHot(tf.tensor1d(c, 'int32'), this.k).toFloat() as tf.Tensor2D;
  }

  /** max over classes other than the one-hot `m` marks. */
  private maxOther(v: tf.Tensor2D, m: tf.Tensor2D): tf.Tensor1D {
    return tf.max(tf.sub(v, tf.mul(m, BIG)), 1) as tf.Tensor1D;
  }
  private pick(v: tf.Tensor2D, m: tf.Tensor2D): tf.Tensor1D {
    return tf.sum(tf.mul(v, m), 1) as tf.Tensor1D;
  }

  margin(v: tf.Tensor2D): tf.Tensor1D {
    if (this.target) {
      const t = this.oneHot(this.target);
      return tf.sub(this.maxOther(v, t), this.pick(v, t)) as tf.Tensor1D;
    }
    const y = this.oneHot(this.y);
    return tf.sub(this.pick(v, y), this.maxOther(v, y)) as tf.Tensor1D;
  }

  marginRows(v: Float32Array): Float64Array {
    const k = this.k;
    const out = new Float64Array(v.length / k);
    for (let i = 0; i < out.length; i++) {
      const c = this.target ? this.target[i] : this.y[i];
      let other = -Infinity;
      for (let j = 0; j < k; j++) if (j !== c && v[i * k + j] > other) other = v[i * k + j];
      out[i] = this.target ? other - v[i * k + c] : v[i * k + c] - other;
    }
    return out;
  }

  loss(v: tf.Tensor2D, kind: LossName): tf.Tensor1D {
    const y = this.oneHot(this.y);
    if (kind === 'ce') {
      const logp = tf.logSoftmax(v);
      return this.target ? this.pick(logp, this.oneHot(this.target)) : tf.neg(this.pick(logp, y));
    }
    if (kind === 'cw' || this.k === 2) return tf.neg(this.margin(v));
    // DLR with k ≥ 3. The order π is read from the values (tfjs has no TopK gradient); the masks
    // are constants, so the gradient flows through the selected values exactly as in PyTorch's sort.
    const vals = v.dataSync();
    const n = this.n;
    const k = this.k;
    const masks = [0, 2, 3].map(() => new Float32Array(n * k));
    for (let i = 0; i < n; i++) {
      const order = Array.from({ length: k }, (_, j) => j).sort((a, b) => vals[i * k + b] - vals[i * k + a]);
      [0, 2, 3].forEach((r, m) => {
        masks[m][i * k + order[Math.min(r, k - 1)]] = 1;
      });
    }
    const sorted = (m: number): tf.Tensor1D => this.pick(v, tf.tensor2d(masks[m], [n, k]));
    const vy = this.pick(v, y);
    if (this.target) {
      const den = tf.add(tf.sub(sorted(0), tf.mul(tf.add(sorted(1), sorted(2)), 0.5)), 1e-12);
      return tf.neg(tf.div(tf.sub(vy, this.pick(v, this.oneHot(this.target))), den)) as tf.Tensor1D;
    }
    const den = tf.add(tf.sub(sorted(0), sorted(1)), 1e-12);
    return tf.neg(tf.div(tf.sub(vy, this.maxOther(v, y)), den)) as tf.Tensor1D;
  }

  subset(idx: ArrayLike<number>): Goal {
    const pick = (a: Int32Array): Int32Array => Int32Array.from(Array.from(idx, (i) => a[i]));
    return new ClassGoal(this.k, pick(this.y), this.target ? pick(this.target) : null, this.viewKind, this.K);
  }

  withTarget(target: Int32Array): Goal {
    return new ClassGoal(this.k, this.y, target, this.viewKind, this.K);
  }
}

/** Multi-label head, all labels: untargeted success when any label's prediction flips. */
class AllLabelsGoal implements Goal {
  readonly n: number;
  readonly targeted = false;
  readonly y = null;
  readonly target = null;
  constructor(
    readonly k: number,
    private readonly labels: Int32Array,
  ) {
    this.n = labels.length / k;
  }
  view(z: tf.Tensor2D): tf.Tensor2D {
    return z;
  }
  viewRows(z: Float32Array): Float32Array {
    return z;
  }
  private signs(): tf.Tensor2D {
    return tf.tensor2d(
      Float32Array.from(this.labels, (l) => (l ? 1 : -1)),
      [this.n, this.k],
    );
  }
  margin(v: tf.Tensor2D): tf.Tensor1D {
    return tf.min(tf.mul(v, this.signs()), 1) as tf.Tensor1D;
  }
  marginRows(v: Float32Array): Float64Array {
    const out = new Float64Array(this.n);
    for (let i = 0; i < this.n; i++) {
      let m = Infinity;
      for (let j = 0; j < this.k; j++) m = Math.min(m, (this.labels[i * this.k + j] ? 1 : -1) * v[i * this.k + j]);
      out[i] = m;
    }
    return out;
  }
  loss(v: tf.Tensor2D, kind: LossName): tf.Tensor1D {
    if (kind === 'ce') {
      // Σ_j BCE(v_j, y_j) = Σ_j softplus(−s_j v_j)
      return tf.sum(tf.softplus(tf.neg(tf.mul(v, this.signs()))), 1) as tf.Tensor1D;
    }
    return tf.neg(this.margin(v));
  }
  subset(idx: ArrayLike<number>): Goal {
    const out = new Int32Array(idx.length * this.k);
    Array.from(idx).forEach((i, r) => out.set(this.labels.subarray(i * this.k, (i + 1) * this.k), r * this.k));
    return new AllLabelsGoal(this.k, out);
  }
  withTarget(): Goal {
    throw unsupported('targeted attacks on all labels of a multi-label head are not supported; choose one label');
  }
}

/**
 * THE success rule — "adversarial", "the goal is met", "target already met" — written once; every attack,
 * the evaluation (`eval/sweep.ts`) and the query, decision and transfer attacks decide through it.
 *
 * Sample i meets its goal iff its margin m_i (above; computed on the goal's view) is < 0 and, for a
 * targeted goal, its true class is not already the target (such a sample is never attacked and never
 * counts as a success: `atTarget`). A tie (m = 0) is not a success. Per task:
 * - binary and multi-class, untargeted: the predicted class (argmax; a one-logit head: z > 0 ⇔ class 1)
 *   differs from the true class y;
 * - binary and multi-class, targeted at t: the prediction is t (t beats every other class strictly)
 *   and y ≠ t; `target: 'other'` on a binary task is t = 1 − y;
 * - multi-label, one label j: the binary problem on label j (its decision z_j > 0 flips; targeted
 *   'other' is the same flip);
 * - multi-label, all labels: untargeted only — any label's decision differs from its true value.
 *
 * The adaptive attacks judge the deployed pipeline's predictions (`adaptive/pipeline.ts`) with the same
 * rule through `metByPrediction`.
 */
export function goalMet(goal: Goal, i: number, margin: number): boolean {
  return margin < 0 && !atTarget(goal, i);
}

/** A targeted sample whose true class already is the target: not attacked, never a success. */
export function atTarget(goal: Goal, i: number): boolean {
  return !!(goal.target && goal.y && goal.y[i] === goal.target[i]);
}

/** `goalMet` for every sample of a batch of margins (1 = success). */
export function goalMetRows(goal: Goal, margins: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(margins.length);
  for (let i = 0; i < margins.length; i++) out[i] = goalMet(goal, i, margins[i]) ? 1 : 0;
  return out;
}

/**
 * The same rule read from predicted classes of a single-label head (what a deployed, non-differentiable
 * pipeline answers): untargeted, the prediction differs from y; targeted at t, it is t and y ≠ t.
 */
export function metByPrediction(predicted: number, y: number, target?: number): boolean {
  return target === undefined ? predicted !== y : predicted === target && y !== target;
}

/**
 * Build the goal for a batch.
 * @param task the model's task; @param K the model's number of outputs;
 * @param labels n × labelWidth integer labels (labelWidth = K for multi-label tasks).
 */
export function makeGoal(
  task: Task,
  K: number,
  labels: Int32Array,
  criterion: Criterion = { kind: 'untargeted' },
  label: LabelChoice = 'all',
): Goal {
  if (task === 'multilabel') {
    const n = labels.length / K;
    if (label === 'all') {
      if (criterion.kind === 'targeted')
        throw unsupported(
          'targeted attacks on all labels of a multi-label head are not supported; choose one label with --label',
        );
      return new AllLabelsGoal(K, labels);
    }
    if (!Number.isInteger(label) || label < 0 || label >= K)
      throw badArgument(`--label must be between 0 and ${K - 1}, got ${label}`);
    const y = Int32Array.from({ length: n }, (_, i) => (labels[i * K + label] ? 1 : 0));
    return new ClassGoal(2, y, targetsFor(criterion, y, 2), { type: 'pad', column: label }, K);
  }
  const y = Int32Array.from(labels);
  if (K === 1) return new ClassGoal(2, y, targetsFor(criterion, y, 2), { type: 'pad', column: 0 }, K);
  return new ClassGoal(K, y, targetsFor(criterion, y, K), { type: 'identity' }, K);
}

function targetsFor(c: Criterion, y: Int32Array, k: number): Int32Array | null {
  if (c.kind === 'untargeted') return null;
  if (c.target === 'other') {
    if (k !== 2)
      throw badArgument(`a targeted attack on a ${k}-class task needs a target class (--target 0..${k - 1})`);
    return Int32Array.from(y, (v) => 1 - v);
  }
  if (!Number.isInteger(c.target) || c.target < 0 || c.target >= k)
    throw badArgument(`--target must be a class between 0 and ${k - 1}, got ${c.target}`);
  return new Int32Array(y.length).fill(c.target);
}
