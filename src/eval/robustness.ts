/**
 * Robustness evaluation of one attack at one ε on a dataset split: the numbers a safety board reads.
 *
 * - clean accuracy / robust accuracy: fraction of the n images classified correctly before / after
 *   the attack (a sample the model already gets wrong counts as wrong under attack too). Single-label
 *   tasks: argmax (binary: p₁ > 0.5, as MedMNIST); multi-label: the attacked label (or all labels) right.
 * - attack success rate: among the images the model classified correctly (and, for a targeted
 *   attack, whose class is not already the target), the fraction where the criterion holds at the
 *   adversarial image — untargeted: misclassified; targeted: predicted as the target.
 * - AUC under attack (binary tasks): ROC AUC of the positive-class score on the adversarial images.
 * - perturbation sizes L0 (values changed), L2, L∞, SSIM and PSNR: mean and median over the attacked
 *   images (the clean-correct ones); wall time and images per second over the attack itself.
 * - query attacks: mean and median queries per image over the successful images (every image the
 *   attack sent to the target counts; the evaluation's own clean/adversarial look does not).
 *
 * The victim is a model (white-box attacks need a differentiable one) or a black-box `Target`
 * (in-process, ONNX, HTTP); everything here reads it only through `predictProbs`.
 */
import { Classifier, type Model } from '../models/model.js';
import { tf } from '../engine/index.js';
import type { Attack, AttackOptions, AttackResult } from '../attacks/types.js';
import type { Target } from '../attacks/targets/target.js';
import { unsupported } from '../errors.js';
import { rowNorms } from '../attacks/project.js';
import { atTarget, makeGoal } from '../attacks/goal.js';
import { rocAuc, round } from '../models/metrics.js';
import { ssim, psnr, finiteMean, median } from './image-quality.js';
import type { Images } from '../data/images.js';
import { judge, probabilities } from '../models/predict.js';

export { judge, probabilities };

export type { Images } from '../data/images.js';

export interface SampleRecord {
  index: number;
  /** ε of the run (set when records of several runs are written together). */
  eps?: number;
  label: number | number[];
  cleanPrediction: number | number[];
  adversarialPrediction: number | number[];
  cleanConfidence: number;
  adversarialConfidence: number;
  attacked: boolean;
  success: boolean;
  l0: number;
  l2: number;
  linf: number;
  ssim: number;
  psnr: number | null;
  /** Query attacks: images sent to the target for this sample. */
  queries?: number;
  /** Image folders / CSVs: the file the image came from (relative to the folder or CSV). */
  file?: string;
}

/** What an evaluation reads: a model or a black-box target. */
export type Victim = Model | Target;

export interface AttackSummary {
  attack: string;
  norm: string;
  eps: number;
  steps: number;
  n: number;
  cleanAccuracy: number;
  robustAccuracy: number;
  attackSuccessRate: number | null;
  meanLinf: number | null;
  meanL2: number | null;
  meanSSIM: number | null;
  meanPSNR: number | null;
  seconds: number;
  imagesPerSecond: number;
  /** Extras (not in the CLI's fixed object unless relevant). */
  epsText: string;
  criterion: string;
  targetedSuccessRate?: number | null;
  cleanAuc?: number;
  aucUnderAttack?: number;
  meanL0: number | null;
  medianL0: number | null;
  medianL2: number | null;
  medianLinf: number | null;
  medianSSIM: number | null;
  attacked: number;
  queries: { forward: number; gradient: number };
  notes: string[];
  components?: Array<{ name: string; robustAccuracy: number; attackSuccessRate: number | null }>;
  seed: number;
  /** Query attacks: queries per successful image (mean, median), and the query budget. */
  meanQueries?: number | null;
  medianQueries?: number | null;
  maxQueries?: number;
  /** Query attacks: success rate among attacked images against the number of queries spent. */
  queryCurve?: Array<{ queries: number; attackSuccessRate: number }>;
  /** The attack minimises the perturbation (ε only bounds the answer). */
  minimumNorm?: boolean;
  /** white-box, score, decision or transfer. */
  threatModel?: string;
  /** Black-box runs: which target answered (kind and name). */
  target?: { kind: string; name: string; output: string };
}

export interface AttackEvaluation {
  summary: AttackSummary;
  records: SampleRecord[];
  xAdv: Float32Array;
  cleanProbs: Float32Array;
  advProbs: Float32Array;
}

/** Called after each finished batch (first image index, the batch's result): lets callers keep partial results. */
export type BatchHook = (start: number, r: AttackResult) => void;

/** Run an attack over all images in batches. */
export async function runAttack(
  model: Victim,
  img: Images,
  attack: Attack,
  opts: AttackOptions,
  batchSize = 128,
  onProgress?: (done: number, total: number) => void,
  onBatch?: BatchHook,
): Promise<AttackResult & { seconds: number }> {
  const d = img.x.length / img.n;
  const lw = img.labels.length / img.n;
  if (attack.threatModel === 'whitebox' && !('differentiable' in model && model.differentiable)) {
    throw unsupported(
      `white-box attack '${attack.name}' needs gradients; '${'card' in model ? model.card.name : model.name}` +
        `' answers queries only (use square, simba, nes, hsj, boundary or transfer)`,
    );
  }
  let perSample: Int32Array | undefined;
  const xAdv = new Float32Array(img.x.length);
  const success = new Uint8Array(img.n);
  const notes: string[] = [];
  const queries = { forward: 0, gradient: 0 };
  let components: Array<{ name: string; success: Uint8Array }> | undefined;
  const K = model.classes.length;
  let logits: Float32Array | undefined = new Float32Array(img.n * K);
  const t0 = performance.now();
  for (let s = 0; s < img.n; s += batchSize) {
    const m = Math.min(batchSize, img.n - s);
    const r = await (
      attack.run as (m: Victim, x: Float32Array, y: Int32Array, o: AttackOptions) => Promise<AttackResult>
    )(model, img.x.slice(s * d, (s + m) * d), img.labels.slice(s * lw, (s + m) * lw), {
      ...opts,
      seed: (opts.seed ?? 0) + s,
      onStep: onProgress ? (done, total) => onProgress(s + (m * done) / total, img.n) : undefined,
    });
    xAdv.set(r.xAdv, s * d);
    success.set(r.success, s);
    if (logits && r.logits?.length === m * K) logits.set(r.logits, s * K);
    else logits = undefined;
    if (r.queriesPerSample) {
      perSample ??= new Int32Array(img.n);
      perSample.set(r.queriesPerSample, s);
    }
    queries.forward += r.queries.forward;
    queries.gradient += r.queries.gradient;
    for (const note of r.notes) if (!notes.includes(note)) notes.push(note);
    if (r.components) {
      components ??= r.components.map((c) => ({ name: c.name, success: new Uint8Array(img.n) }));
      r.components.forEach((c, i) => components![i].success.set(c.success, s));
    }
    onProgress?.(s + m, img.n);
    onBatch?.(s, r);
  }
  return {
    xAdv,
    success,
    queries,
    notes,
    components,
    queriesPerSample: perSample,
    ...(logits ? { logits } : {}),
    seconds: (performance.now() - t0) / 1000,
  };
}

export interface SummaryMeta {
  attack: Attack;
  opts: AttackOptions;
  eps: number;
  epsText?: string;
  seconds: number;
  queries: { forward: number; gradient: number };
  notes: string[];
  components?: Array<{ name: string; success: Uint8Array }>;
  queriesPerSample?: Int32Array;
}

/** Metrics and per-sample records from clean and adversarial images. */
export function summarize(
  model: Victim,
  img: Images,
  xAdv: Float32Array,
  cleanProbs: Float32Array,
  advProbs: Float32Array,
  success: Uint8Array,
  meta: SummaryMeta,
): { summary: AttackSummary; records: SampleRecord[] } {
  const { n } = img;
  const [h, w, c] = img.shape;
  const d = h * w * c;
  const label = meta.opts.label ?? 'all';
  const clean = judge(model, cleanProbs, img.labels, n, label);
  const adv = judge(model, advProbs, img.labels, n, label);
  const crit = meta.opts.criterion ?? { kind: 'untargeted' as const };
  const goal = makeGoal(model.task, model.classes.length, img.labels, crit, label);
  const norms = rowNorms(xAdv, img.x, d);
  const records: SampleRecord[] = [];
  const attacked: number[] = [];
  let succ = 0;
  let targetHit = 0;
  for (let i = 0; i < n; i++) {
    const sameAsTarget = atTarget(goal, i);
    const isAttacked = !!clean.correct[i] && !sameAsTarget;
    const a = img.x.subarray(i * d, (i + 1) * d);
    const b = xAdv.subarray(i * d, (i + 1) * d);
    const s = ssim(a, b, h, w, c);
    const p = psnr(a, b);
    if (isAttacked) {
      attacked.push(i);
      if (success[i]) succ++;
      if (goal.target && success[i]) targetHit++;
    }
    const lab =
      model.task === 'multilabel'
        ? Array.from(img.labels.subarray(i * model.classes.length, (i + 1) * model.classes.length))
        : img.labels[i];
    records.push({
      index: img.indices?.[i] ?? i,
      label: lab,
      cleanPrediction: clean.pred[i],
      adversarialPrediction: adv.pred[i],
      cleanConfidence: round(clean.confidence[i], 6),
      adversarialConfidence: round(adv.confidence[i], 6),
      attacked: isAttacked,
      success: isAttacked && !!success[i],
      l0: norms.l0[i],
      l2: round(norms.l2[i], 6),
      linf: round(norms.linf[i], 6),
      ssim: round(s, 6),
      psnr: Number.isFinite(p) ? round(p, 4) : null,
      ...(meta.queriesPerSample ? { queries: meta.queriesPerSample[i] } : {}),
    });
  }
  const pick = (f: (r: SampleRecord) => number | null): number[] => attacked.map((i) => f(records[i]) ?? Infinity);
  const r4 = (v: number | null): number | null => (v === null ? null : round(v, 6));
  const frac = (mask: Uint8Array): number => mask.reduce((s, v) => s + v, 0) / n;
  const steps =
    meta.attack.threatModel === 'score' || meta.attack.threatModel === 'decision'
      ? (meta.opts.maxQueries ?? meta.attack.defaultSteps)
      : (meta.opts.steps ?? meta.attack.defaultSteps);
  const summary: AttackSummary = {
    attack: meta.attack.name,
    norm: meta.opts.norm ?? meta.attack.defaultNorm,
    eps: meta.eps,
    steps,
    n,
    cleanAccuracy: round(frac(clean.correct)),
    robustAccuracy: round(frac(adv.correct)),
    attackSuccessRate: attacked.length ? round(succ / attacked.length) : null,
    meanLinf: r4(finiteMean(pick((r) => r.linf))),
    meanL2: r4(finiteMean(pick((r) => r.l2))),
    meanSSIM: r4(finiteMean(pick((r) => r.ssim))),
    meanPSNR: r4(finiteMean(pick((r) => r.psnr))),
    seconds: round(meta.seconds, 3),
    imagesPerSecond: round(meta.seconds > 0 ? n / meta.seconds : 0, 2),
    epsText: meta.epsText ?? String(meta.eps),
    criterion: crit.kind === 'untargeted' ? 'untargeted' : `targeted:${crit.target}`,
    meanL0: r4(finiteMean(pick((r) => r.l0))),
    medianL0: r4(median(pick((r) => r.l0))),
    medianL2: r4(median(pick((r) => r.l2))),
    medianLinf: r4(median(pick((r) => r.linf))),
    medianSSIM: r4(median(pick((r) => r.ssim))),
    attacked: attacked.length,
    queries: meta.queries,
    notes: meta.notes,
    seed: meta.opts.seed ?? 0,
    threatModel: meta.attack.threatModel,
    minimumNorm: meta.attack.minimumNorm,
  };
  if (goal.target) summary.targetedSuccessRate = attacked.length ? round(targetHit / attacked.length) : null;
  if (meta.queriesPerSample && meta.attack.threatModel !== 'whitebox') {
    const q = attacked.filter((i) => records[i].success).map((i) => meta.queriesPerSample![i]);
    summary.meanQueries = q.length ? round(finiteMean(q) ?? 0, 2) : null;
    summary.medianQueries = q.length ? median(q) : null;
    summary.maxQueries = meta.opts.maxQueries ?? meta.attack.defaultSteps;
    summary.queryCurve = queryCurve(q, attacked.length, summary.maxQueries);
  }
  if ('kind' in model && 'queries' in model)
    summary.target = { kind: model.kind, name: model.name, output: model.output };
  const labelOnly = 'output' in model && model.output === 'label';
  if (model.task === 'binary' && model.classes.length === 2 && !labelOnly) {
    const col = (p: Float32Array): Float32Array => Float32Array.from({ length: n }, (_, i) => p[i * 2 + 1]);
    summary.cleanAuc = round(rocAuc(img.labels, col(cleanProbs)));
    summary.aucUnderAttack = round(rocAuc(img.labels, col(advProbs)));
  }
  if (meta.components) {
    summary.components = meta.components.map((comp) => {
      let robust = 0;
      let s2 = 0;
      for (let i = 0; i < n; i++) {
        if (clean.correct[i] && !comp.success[i]) robust++;
      }
      for (const i of attacked) if (comp.success[i]) s2++;
      return {
        name: comp.name,
        robustAccuracy: round(robust / n),
        attackSuccessRate: attacked.length ? round(s2 / attacked.length) : null,
      };
    });
  }
  return { summary, records };
}

/** Attack the images at one ε and evaluate. `cleanProbs` may be passed to avoid recomputing them. */
/** Success rate among `attacked` images within q queries, at ~40 points from 1 to the budget (log-spaced). */
export function queryCurve(
  successQueries: number[],
  attacked: number,
  budget: number,
): Array<{ queries: number; attackSuccessRate: number }> {
  if (!attacked) return [];
  const sorted = [...successQueries].sort((a, b) => a - b);
  const pts = new Set<number>([1, budget]);
  for (let i = 0; i <= 40; i++) pts.add(Math.max(1, Math.round(Math.pow(budget, i / 40))));
  let j = 0;
  return [...pts]
    .sort((a, b) => a - b)
    .map((q) => {
      while (j < sorted.length && sorted[j] <= q) j++;
      return { queries: q, attackSuccessRate: round(j / attacked) };
    });
}

export async function evaluateAttack(
  model: Victim,
  img: Images,
  attack: Attack,
  opts: AttackOptions & { epsText?: string },
  o: {
    batchSize?: number;
    cleanProbs?: Float32Array;
    onProgress?: (done: number, total: number) => void;
    onBatch?: BatchHook;
  } = {},
): Promise<AttackEvaluation> {
  const cleanProbs = o.cleanProbs ?? (await probabilities(model, img.x, img.n));
  const r = await runAttack(model, img, attack, opts, o.batchSize, o.onProgress, o.onBatch);
  // a deterministic classifier's probabilities are its logits' softmax (sigmoid): read them from the
  // attack's own success check when it kept them (FGSM) instead of running x_adv again
  const advProbs =
    r.logits && model instanceof Classifier
      ? probsFromLogits(model, r.logits, img.n)
      : await probabilities(model, r.xAdv, img.n);
  const { summary, records } = summarize(model, img, r.xAdv, cleanProbs, advProbs, r.success, {
    attack,
    opts,
    eps: opts.eps,
    epsText: opts.epsText,
    seconds: r.seconds,
    queries: r.queries,
    notes: r.notes,
    components: r.components,
    queriesPerSample: r.queriesPerSample,
  });
  return { summary, records, xAdv: r.xAdv, cleanProbs, advProbs };
}

/** `Classifier.probs` applied to logits already computed (n × K). */
function probsFromLogits(model: Classifier, logits: Float32Array, n: number): Float32Array {
  return tf.tidy(() => {
    const z = tf.tensor2d(logits, [n, model.classes.length]);
    return (model.task === 'multilabel' ? tf.sigmoid(z) : tf.softmax(z)).dataSync() as Float32Array;
  });
}
