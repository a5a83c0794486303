/**
 * ε sweeps and step sweeps: the curves of robust accuracy against perturbation budget or effort.
 *
 * Budget-bounded attacks (FGSM, PGD, APGD, ...) run once per ε. Minimum-norm attacks (CW, DeepFool,
 * FAB, EAD, JSMA) find one smallest perturbation per image whatever ε is, so the sweep runs them once
 * at the largest ε and projects that answer onto each smaller ball (Foolbox 3's "one run, many ε");
 * each point then reports the shared attack time, and says so in its notes.
 */
import type { Attack, AttackOptions } from '../attacks/types.js';
import { project } from '../attacks/project.js';
import { goalMetRows, makeGoal } from '../attacks/goal.js';
import { probsToLogits } from '../attacks/query.js';
import {
  evaluateAttack,
  probabilities,
  runAttack,
  summarize,
  type AttackEvaluation,
  type BatchHook,
  type Images,
  type Victim,
} from './robustness.js';

export interface SweepPoint {
  value: number;
  text: string;
}

export interface SweepOptions {
  batchSize?: number;
  onProgress?: (epsIndex: number, done: number, total: number) => void;
  /** After each finished batch of ε number `epsIndex`. */
  onBatch?: (epsIndex: number, ...a: Parameters<BatchHook>) => void;
  /** After each finished ε (partial results survive a later failure). */
  onResult?: (ev: AttackEvaluation) => void;
  /** Step size proportional to each ε (α = stepRatio · ε) for budget attacks, e.g. Madry's ε/4 or Ma's 2ε/20. */
  stepRatio?: number;
  /** Budget attacks: stop the sweep (ε in the given order) after the first point for which this holds. */
  stopWhen?: (ev: AttackEvaluation) => boolean;
}

export async function epsilonSweep(
  model: Victim,
  img: Images,
  attack: Attack,
  eps: SweepPoint[],
  opts: Omit<AttackOptions, 'eps'>,
  o: SweepOptions = {},
): Promise<AttackEvaluation[]> {
  const cleanProbs = await probabilities(model, img.x, img.n);
  if (!attack.minimumNorm || eps.length === 1) {
    const out: AttackEvaluation[] = [];
    for (const [i, e] of eps.entries()) {
      const step = o.stepRatio === undefined ? {} : { stepSize: o.stepRatio * e.value };
      const ev = await evaluateAttack(
        model,
        img,
        attack,
        { ...opts, ...step, eps: e.value, epsText: e.text },
        {
          batchSize: o.batchSize,
          cleanProbs,
          onProgress: (d, t) => o.onProgress?.(i, d, t),
          onBatch: (st, r) => o.onBatch?.(i, st, r),
        },
      );
      out.push(ev);
      o.onResult?.(ev);
      if (o.stopWhen?.(ev)) break;
    }
    return out;
  }
  const largest = eps.reduce((a, b) => (b.value > a.value ? b : a));
  const r = await runAttack(
    model,
    img,
    attack,
    { ...opts, eps: largest.value },
    o.batchSize,
    (d, t) => o.onProgress?.(0, d, t),
    (st, b) => o.onBatch?.(0, st, b),
  );
  const d = img.x.length / img.n;
  const norm = opts.norm ?? attack.defaultNorm;
  const goal = makeGoal(model.task, model.classes.length, img.labels, opts.criterion, opts.label ?? 'all');
  const out: AttackEvaluation[] = [];
  for (const e of eps) {
    const xAdv = project(img.x, r.xAdv, d, norm, e.value);
    const advProbs = await probabilities(model, xAdv, img.n);
    // success at this ε, from the model's logits through the same goal the attack used
    const success =
      'differentiable' in model && model.differentiable
        ? await successAt(model, goal, xAdv, img.n)
        : successFromProbs(model.task, goal, advProbs, img.n);
    const notes = [...r.notes, `minimum-norm attack run once at ε = ${largest.text} and projected onto the ε ball`];
    const { summary, records } = summarize(model, img, xAdv, cleanProbs, advProbs, success, {
      attack,
      opts: { ...opts, eps: e.value },
      eps: e.value,
      epsText: e.text,
      seconds: r.seconds,
      queries: r.queries,
      notes,
      queriesPerSample: r.queriesPerSample,
    });
    out.push({ summary, records, xAdv, cleanProbs, advProbs });
    o.onResult?.(out[out.length - 1]);
  }
  return out;
}

/** Success from a black-box target's probabilities (margins of log p, which equal logit margins for softmax heads). */
function successFromProbs(task: string, goal: ReturnType<typeof makeGoal>, probs: Float32Array, n: number): Uint8Array {
  return goalMetRows(goal, goal.marginRows(goal.viewRows(probsToLogits(probs, task)))).subarray(0, n);
}

async function successAt(
  model: Extract<Victim, { differentiable: true }>,
  goal: ReturnType<typeof makeGoal>,
  x: Float32Array,
  n: number,
): Promise<Uint8Array> {
  const { Oracle } = await import('../attacks/targets/oracle.js');
  const o = new Oracle(model);
  const out = new Uint8Array(n);
  const d = x.length / n;
  for (let s = 0; s < n; s += 256) {
    const m = Math.min(256, n - s);
    const idx = Array.from({ length: m }, (_, i) => s + i);
    const g = goal.subset(idx);
    const mg = g.marginRows(await o.logits(x.subarray(s * d, (s + m) * d), g));
    out.set(goalMetRows(g, mg), s);
  }
  return out;
}

/** Robust accuracy against the number of steps (iterative attacks), at one ε. */
export async function stepSweep(
  model: Victim,
  img: Images,
  attack: Attack,
  steps: number[],
  opts: AttackOptions & { epsText?: string },
  o: SweepOptions = {},
): Promise<AttackEvaluation[]> {
  const cleanProbs = await probabilities(model, img.x, img.n);
  const out: AttackEvaluation[] = [];
  for (const [i, s] of steps.entries()) {
    out.push(
      await evaluateAttack(
        model,
        img,
        attack,
        { ...opts, steps: s },
        {
          batchSize: o.batchSize,
          cleanProbs,
          onProgress: (d, t) => o.onProgress?.(i, d, t),
          onBatch: (st, r) => o.onBatch?.(i, st, r),
        },
      ),
    );
    o.onResult?.(out[out.length - 1]);
  }
  return out;
}
