/**
 * The defence scorecard (issue #10): every defence and detector faces the attacker who ignores it
 * (non-adaptive) and the attacker who knows it (adaptive: BPDA, EOT, joint detector loss, APGD
 * ensemble), with the sanity checks of `sanity.ts` and a verdict by the rule in `VERDICT_RULE`.
 *
 * One `ScorecardEntry` per row: the deployed pipeline, the non-adaptive adversarial images, the
 * adaptive attack and the attacker's differentiable view. `scoreEntry` measures one row; the
 * entries for the shipped defences are built in `scorecard-entries.ts`.
 */
import type { DifferentiableModel } from '../models/model.js';
import type { AdaptiveAttack, AdaptiveOptions, Pipeline } from '../attacks/adaptive/types.js';
import { judgePipeline, type Judgement } from '../attacks/adaptive/pipeline.js';
import { detectionMetrics } from './detection.js';
import { encodePng } from './examples.js';
import { round } from '../models/metrics.js';
import { sanityChecks } from './sanity.js';
import type { Images } from './robustness.js';
import type { AttackOutcome, ScorecardRow, Verdict } from './scorecard-types.js';
import type { WorkCount, WorkCounter } from './scorecard-work.js';

export const VERDICT_RULE =
  'protected = share of originally-correct images that stay correct or are flagged (1 − ' +
  'fooled-and-undetected). broken: the adaptive attack leaves at most 10 points more protected than the same ' +
  'non-adaptive attack leaves on the undefended model; holds: the adaptive attack removes at most 10 points ' +
  'of the non-adaptive protection, the row stays more than 10 points above ' +
  'the undefended baseline, and every sanity check passes; weakened: anything ' +
  'between (including any row that fails a sanity check without being broken)';

export interface ScorecardEntry {
  defence: string;
  kind: ScorecardRow['kind'];
  reference: string;
  pipeline: Pipeline;
  /** Images crafted without knowledge of the defence (the non-adaptive attacker) and the attack's name. */
  nonAdaptive: { attack: string; xAdv: Float32Array };
  /** Images transferred from another model for the white-box-beats-transfer check (default: `nonAdaptive`). */
  transfer?: Float32Array;
  adaptive: AdaptiveAttack;
  adaptiveOptions: AdaptiveOptions;
  /** Display name of the adaptive attack with its settings (`bpda+pgd-50`). */
  adaptiveLabel: string;
  /** What the adaptive attacker differentiates (for the gradient sanity check). */
  view: DifferentiableModel;
  notes: string[];
}

export interface Measured {
  outcome: AttackOutcome;
  judgement: Judgement;
  protectedFraction: number;
}

const mean = (a: ArrayLike<number>): number => (a.length ? Array.from(a).reduce((s, v) => s + v, 0) / a.length : 0);

/** Robust accuracy, detection figures and fooled-and-undetected of adversarial images `xAdv` on the pipeline. */
export async function measure(
  p: Pipeline,
  img: Images,
  clean: Judgement,
  xAdv: Float32Array,
  attack: string,
): Promise<Measured> {
  const y = img.labels;
  const j = await judgePipeline(p, xAdv, y);
  const correct0 = Array.from(clean.fooled, (f) => 1 - f);
  const nc = correct0.reduce((s, v) => s + v, 0);
  let fu = 0;
  for (let i = 0; i < img.n; i++) if (correct0[i] && j.fooled[i] && j.undetected[i]) fu++;
  let auc: number | null = null;
  let tpr: number | null = null;
  if (p.detector && clean.scores && j.scores) {
    const succ = Array.from({ length: img.n }, (_, i) => i).filter((i) => correct0[i] && j.fooled[i]);
    const m = detectionMetrics(
      succ.map((i) => clean.scores![i]),
      succ.map((i) => j.scores![i]),
    );
    auc = m.auc;
    tpr = succ.length ? round(succ.filter((i) => j.scores![i] > p.detector!.threshold).length / succ.length) : null;
  }
  const fooledAndUndetected = nc ? fu / nc : 0;
  return {
    outcome: {
      attack,
      robustAccuracy: round(mean(Array.from(j.fooled, (f) => 1 - f))),
      detectionAuc: auc,
      tprAt5Fpr: tpr,
      fooledAndUndetected: round(fooledAndUndetected),
    },
    judgement: j,
    protectedFraction: 1 - fooledAndUndetected,
  };
}

/**
 * Whether the sanity checks can change the verdict: only for a row that would otherwise hold (not broken,
 * and the adaptive attack removes at most 10 points of the non-adaptive protection); `verdictOf` reads
 * `sanityPassed` in no other case.
 */
export function sanityDecides(protectedNon: number, protectedAdaptive: number, baselineProtected: number): boolean {
  return protectedAdaptive > baselineProtected + 0.1 && protectedAdaptive >= protectedNon - 0.1;
}

export function verdictOf(
  protectedNon: number,
  protectedAdaptive: number,
  baselineProtected: number,
  sanityPassed: boolean,
): Verdict {
  if (protectedAdaptive <= baselineProtected + 0.1) return 'broken';
  if (sanityPassed && protectedAdaptive >= protectedNon - 0.1) return 'holds';
  return 'weakened';
}

export interface ScoreOptions {
  eps: number;
  steps: number;
  /** Protected fraction of the undefended model under the non-adaptive attack (for the verdict). */
  baselineProtected: number;
  seed: number;
  examples?: number;
  /** Run the sanity checks on the first this many images (default: all). */
  sanityLimit?: number;
  /** Images per adaptive-attack batch (divided by the EOT draws). Default 128. */
  batchSize?: number;
  /**
   * Run the sanity checks only where they can change the verdict (`--quick`): a row the adaptive attack
   * already leaves `broken`, or below its non-adaptive protection by more than 10 points (`weakened`
   * whatever the checks say), gets the verdict the rule gives without them (see `sanityDecides`).
   */
  sanityOnlyWhenDeciding?: boolean;
  /**
   * Stop the adaptive attack once the row is `broken` whatever the rest of the attack does (`--quick`; see
   * `brokenDecided`): on a deterministic pipeline whose images the attack takes in one batch.
   */
  stopWhenBroken?: boolean;
  onProgress?: (what: string) => void;
  /** Counts the models' passes: read per phase into the row's `work` (the same phases as `timing`). */
  counter?: WorkCounter;
}

/** Where the adaptive attack stopped because the row was already broken (`--quick`). */
export interface StopRecord {
  /** Originally-correct images the attack had fooled, undetected, with their final images, when it stopped. */
  fooledAndUndetected: number;
  correct: number;
}

/**
 * Whether `fu` of `nc` originally-correct images fooled and undetected make a row `broken` — the protected fraction
 * computed as `measure` computes it, compared as `verdictOf` compares it. More fooled images never undo it.
 */
export function brokenAt(fu: number, nc: number, baselineProtected: number): boolean {
  return nc > 0 && 1 - fu / nc <= baselineProtected + 0.1;
}

/**
 * The stop rule of `--quick` (`AdaptiveOptions.stopWhen`): true once the images the attack has solved — whose
 * adversarial images are final, judged by the deployed pipeline on the whole set as `measure` will judge them —
 * already leave at most `baselineProtected + 0.1` of the originally-correct images protected. The rest of the
 * attack can only solve more images, so the row is `broken` whatever it does (`verdictOf`), and the same attack
 * run to its end gives `broken` too. Needs a deterministic pipeline and the whole set in one call (judging image i
 * then depends on image i alone: KD+BU's dropout masks on its position in the batch, which stays the same).
 */
export function brokenDecided(
  p: Pipeline,
  set: Images,
  clean: Judgement,
  baselineProtected: number,
  onStop: (r: StopRecord) => void,
): (success: Uint8Array, xAdv: Float32Array) => Promise<boolean> {
  const correct0 = Array.from(clean.fooled, (f) => 1 - f);
  const nc = correct0.reduce((s, v) => s + v, 0);
  const broken = (fu: number): boolean => brokenAt(fu, nc, baselineProtected);
  let seen = -1;
  let decided = false;
  return async (success, xAdv) => {
    if (decided) return true;
    if (!nc) return false;
    let solved = 0;
    for (let i = 0; i < set.n; i++) if (correct0[i] && success[i]) solved++;
    // only a larger set of solved images can decide more; and not even all of them may suffice
    if (solved <= seen || !broken(solved)) return false;
    seen = solved;
    const j = await judgePipeline(p, xAdv, set.labels);
    let fu = 0;
    for (let i = 0; i < set.n; i++) if (correct0[i] && success[i] && j.fooled[i] && j.undetected[i]) fu++;
    if (!broken(fu)) return false;
    onStop({ fooledAndUndetected: fu, correct: nc });
    decided = true;
    return true;
  };
}

/** Measure one row: clean, non-adaptive, adaptive, sanity checks, verdict, examples. */
export async function scoreEntry(e: ScorecardEntry, img: Images, o: ScoreOptions): Promise<ScorecardRow> {
  const t0 = Date.now();
  const p = e.pipeline;
  const say = (s: string): void => o.onProgress?.(`${e.defence}: ${s}`);
  const timing: Record<string, number> = {};
  const work: Record<string, Record<string, WorkCount>> = {};
  let lap = Date.now();
  const mark = (phase: string): void => {
    const now = Date.now();
    timing[phase] = round((timing[phase] ?? 0) + (now - lap) / 1000, 1);
    lap = now;
    if (o.counter) work[phase] = addWork(work[phase] ?? {}, o.counter.take());
  };
  say('clean');
  const clean = await judgePipeline(p, img.x, img.labels);
  const non = await measure(p, img, clean, e.nonAdaptive.xAdv, e.nonAdaptive.attack);
  mark('clean+nonAdaptive');
  const [h, w, c] = img.shape;
  const d = h * w * c;
  const batch = Math.max(8, Math.floor((o.batchSize ?? 128) / Math.max(1, e.adaptiveOptions.samples ?? 1)));
  let stoppedEarly: StopRecord | undefined;
  const run = async (
    set: Images,
    cleanSet: Judgement,
    eps: number,
    steps: number,
    stop = false,
  ): Promise<{ xAdv: Float32Array; m: Measured }> => {
    const xAdv = new Float32Array(set.x.length);
    // the stop rule needs the whole set in one call (its judgement is then the final one) and a pipeline
    // that judges the same images the same way every time
    const stopWhen =
      stop && set.n <= batch && !p.defence?.randomized
        ? brokenDecided(p, set, cleanSet, o.baselineProtected, (r) => {
            stoppedEarly = r;
          })
        : undefined;
    for (let s = 0; s < set.n; s += batch) {
      const m = Math.min(batch, set.n - s);
      const r = await e.adaptive.run(p, set.x.slice(s * d, (s + m) * d), set.labels.slice(s, s + m), {
        ...e.adaptiveOptions,
        eps,
        steps,
        seed: o.seed + s,
        ...(stopWhen ? { stopWhen } : {}),
      });
      xAdv.set(r.xAdv, s * d);
    }
    return { xAdv, m: await measure(p, set, cleanSet, xAdv, e.adaptiveLabel) };
  };
  say(`adaptive ${e.adaptiveLabel}`);
  const adv = await run(img, clean, o.eps, o.steps, !!o.stopWhenBroken);
  mark('adaptive');
  // The sanity checks run on the first `sanityLimit` images (all by default); every protected
  // fraction they compare is taken on that same subset.
  const k = Math.min(img.n, o.sanityLimit ?? img.n);
  const sub: Images =
    k === img.n
      ? img
      : {
          x: img.x.slice(0, k * d),
          labels: img.labels.slice(0, k),
          n: k,
          shape: img.shape,
          indices: img.indices?.slice(0, k),
        };
  const cleanSub = k === img.n ? clean : await judgePipeline(p, sub.x, sub.labels);
  const protectedOn = async (xAdv: Float32Array): Promise<number> =>
    (await measure(p, sub, cleanSub, xAdv.subarray(0, k * d), '')).protectedFraction;
  const decides = sanityDecides(non.protectedFraction, adv.m.protectedFraction, o.baselineProtected);
  let sanity: ScorecardRow['sanity'];
  if (o.sanityOnlyWhenDeciding && !decides) {
    const why = adv.m.protectedFraction <= o.baselineProtected + 0.1 ? 'broken' : 'weakened';
    sanity = {
      passed: false,
      failures: [],
      checks: [],
      skipped:
        `quick run: the adaptive attack already makes this row ${why} by the ` +
        `rule, whatever the sanity checks say (run without --quick for them)`,
    };
  } else {
    const transfer = await protectedOn(e.transfer ?? e.nonAdaptive.xAdv);
    say(`sanity checks on ${k} images`);
    mark('transfer');
    sanity = await sanityChecks(
      {
        protectedAt: async (eps, steps) => {
          say(`sanity: ε=${round(eps, 4)}, ${steps} steps`);
          const r = (await run(sub, cleanSub, eps, steps)).m.protectedFraction;
          mark(eps === o.eps ? `sanity more-steps (${steps} steps)` : `sanity large-eps (ε=${round(eps, 4)})`);
          return r;
        },
        adaptive: k === img.n ? adv.m.protectedFraction : await protectedOn(adv.xAdv),
        transfer,
        view: e.view,
        x: sub.x,
        y: sub.labels,
      },
      { eps: o.eps, steps: o.steps },
    );
    mark('sanity gradients');
  }
  const gradientMasking = !sanity.skipped && !sanity.passed && non.protectedFraction >= 0.5;
  const verdict = verdictOf(non.protectedFraction, adv.m.protectedFraction, o.baselineProtected, sanity.passed);
  const classes = p.model.classes;
  const j = adv.m.judgement;
  const examples = Array.from({ length: img.n }, (_, i) => i)
    .filter((i) => !clean.fooled[i] && j.fooled[i] && j.undetected[i])
    .slice(0, o.examples ?? 4)
    .map((i) => ({
      index: img.indices?.[i] ?? i,
      label: classes[img.labels[i]] ?? String(img.labels[i]),
      predicted: classes[j.predicted[i]] ?? String(j.predicted[i]),
      ...(j.scores ? { score: round(j.scores[i], 4) } : {}),
      clean: `data:image/png;base64,${encodePng(img.x.subarray(i * d, (i + 1) * d), h, w, c).toString('base64')}`,
      adversarial:
        `data:image/png;base64,` + `${encodePng(adv.xAdv.subarray(i * d, (i + 1) * d), h, w, c).toString('base64')}`,
    }));
  const stopped = stoppedEarly as StopRecord | undefined;
  return {
    defence: e.defence,
    kind: e.kind,
    reference: e.reference,
    cleanAccuracy: round(mean(Array.from(clean.fooled, (f) => 1 - f))),
    nonAdaptive: non.outcome,
    adaptive: adv.m.outcome,
    sanity,
    gradientMasking,
    verdict,
    examples,
    ...(stopped ? { stoppedEarly: stopped } : {}),
    notes: [
      ...e.notes,
      ...(stopped
        ? [
            `quick run: the adaptive attack stopped once ${stopped.fooledAndUndetected} of the ${stopped.correct} ` +
              'originally-correct images were fooled and undetected — already broken by the rule, whatever the rest ' +
              'of the attack does; its figures are lower bounds (run without --quick for the whole attack)',
          ]
        : []),
      ...(gradientMasking
        ? [
            'looks robust to the non-adaptive attack but fails a sanity check: gradient ' +
              'masking suspected, the non-adaptive figure is not evidence of robustness',
          ]
        : []),
    ],
    seconds: round((Date.now() - t0) / 1000, 1),
    timing,
    ...(o.counter ? { work: { phases: work } } : {}),
  };
}

function addWork(a: Record<string, WorkCount>, b: Record<string, WorkCount>): Record<string, WorkCount> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const w = out[k] ?? { gradientImages: 0, forwardImages: 0, calls: 0 };
    out[k] = {
      gradientImages: w.gradientImages + v.gradientImages,
      forwardImages: w.forwardImages + v.forwardImages,
      calls: w.calls + v.calls,
    };
  }
  return out;
}
