/**
 * `scorecard(spec)`: every defence and detector against the non-adaptive and the adaptive (informed)
 * attacker, with sanity checks and a verdict per row — the protocol of Tramèr et al., "On adaptive
 * attacks to adversarial example defenses" (NeurIPS 2020) and Carlini et al., "On evaluating
 * adversarial robustness" (2019) (src/eval/scorecard*.ts). The verb loads the model, its helper models
 * (the PGD-trained and the noise-trained one), the test / fit / calibration images, calibrates a plan,
 * runs the rows and writes the HTML report and JSON file when asked.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { initEngine } from '../engine/index.js';
import { loadClassifier, resolveModelPath } from '../models/io.js';
import type { Classifier } from '../models/model.js';
import { checkEpsilon } from '../attacks/epsilon.js';
import {
  ALL_DEFENCES,
  parseScorecardList,
  planScorecard,
  runScorecard,
  TRAINING_DEFENCE,
} from '../eval/scorecard-entries.js';
import type { Scorecard, ScorecardPlan, ScorecardRow } from '../eval/scorecard-types.js';
import { writeScorecardReport } from '../report/scorecard.js';
import { badArgument, mismatch } from '../errors.js';
import { calibrateGradient, formatDuration } from '../studies/cost.js';
import {
  validateSpec,
  checkAborted,
  loadModelRef,
  openDataRef,
  selectRef,
  parseEps,
  withImageSet,
  DATA_REF_SCHEMA,
  MODEL_REF_SCHEMA,
  SEED_SCHEMA,
  type DataRef,
  type ModelRef,
  type VerbOptions,
} from './common.js';

export { ALL_DEFENCES, type Scorecard, type ScorecardPlan, type ScorecardRow };

export interface ScorecardSpec {
  model?: ModelRef;
  /**
   * Test images: dataset (default the model's), `limit` = seeded sample (default 64 quick, 300 full), image-set
   * options.
   */
  data?: DataRef;
  /** 'all', or defence specs / detector names / adversarial-training (a ';'-separated string or an array). */
  defences?: string | string[];
  /** One L∞ budget (default 8/255). */
  eps?: number | string;
  /**
   * 64 test images, 20 adaptive steps, 4 EOT draws, sanity checks on 32 images and only where they change the verdict.
   */
  quick?: boolean;
  /** Train-split images the detectors are fitted on (default 200 quick, 500 full). */
  fitLimit?: number;
  /** Adaptive-attack iterations. */
  steps?: number;
  /** EOT draws per gradient for randomized defences. */
  eotSamples?: number;
  /** Adversarially trained model for the adversarial-training row (default the shipped 'adv-cnn' when it matches). */
  advModel?: ModelRef;
  /** Noise-trained model for the smoothing row (default the shipped 'noise-cnn' when it matches). */
  noiseModel?: ModelRef;
  seed?: number;
  /** Write the HTML report / the JSON scorecard here. */
  report?: string;
  out?: string;
  /** The command line recorded in the report. */
  command?: string;
}

export const SCORECARD_SPEC_SCHEMA = {
  $id: 'medshield:scorecard-spec',
  type: 'object',
  additionalProperties: false,
  properties: {
    model: MODEL_REF_SCHEMA,
    data: DATA_REF_SCHEMA,
    defences: {
      anyOf: [
        { type: 'string', minLength: 1 },
        { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
      ],
    },
    eps: { anyOf: [{ type: 'number' }, { type: 'string', minLength: 1 }] },
    quick: { type: 'boolean' },
    fitLimit: { type: 'integer', minimum: 10, maximum: 1e7 },
    steps: { type: 'integer', minimum: 1, maximum: 1e5 },
    eotSamples: { type: 'integer', minimum: 1, maximum: 1000 },
    advModel: MODEL_REF_SCHEMA,
    noiseModel: MODEL_REF_SCHEMA,
    seed: SEED_SCHEMA,
    report: { type: 'string', minLength: 1 },
    out: { type: 'string', minLength: 1 },
    command: { type: 'string' },
  },
} as const;

export interface ScorecardOptions extends Omit<VerbOptions, 'onProgress'> {
  /** The calibrated plan, before any row runs. */
  onPlan?: (plan: ScorecardPlan, backend: string, n: number) => void;
  /** Progress within the run (rows done of all). */
  onProgress?: (what: string, done: number, total: number) => void;
  /** A shared stage starts, with its estimated seconds. */
  onStage?: (stage: string, estimatedSeconds: number | undefined) => void;
  /** A row is done. */
  onRow?: (row: ScorecardRow) => void;
}

/** The defences of a spec ('all' by default), checked: one-line exit-2 errors before any work. */
export function scorecardDefences(spec: ScorecardSpec): string[] {
  const d = spec.defences ?? 'all';
  return parseScorecardList(Array.isArray(d) ? d.join(';') : d);
}

/** Check a spec before any work (schema, defences, ε). */
export function checkScorecardSpec(spec: ScorecardSpec): void {
  validateSpec(SCORECARD_SPEC_SCHEMA, spec, 'scorecard spec');
  scorecardDefences(spec);
  parseEps(spec.eps ?? '8/255');
}

/** A helper model for one row: the one given, else the shipped one when it was trained on this dataset. */
async function helperModel(
  ref: string | undefined,
  shipped: string,
  dataset: string,
  main: { inputShape: [number, number, number] },
): Promise<Classifier | undefined> {
  if (ref) return loadClassifier(ref);
  if (!existsSync(resolveModelPath(shipped))) return undefined;
  const m = await loadClassifier(shipped);
  const same = m.card.dataset.name === dataset && m.inputShape.join() === main.inputShape.join();
  return same ? m : undefined;
}

/** Run the scorecard of `spec`. */
export async function scorecard(spec: ScorecardSpec, opts: ScorecardOptions = {}): Promise<Scorecard> {
  checkScorecardSpec(spec);
  const defences = scorecardDefences(spec);
  const eps = parseEps(spec.eps ?? '8/255');
  const seed = spec.seed ?? 0;
  const quick = !!spec.quick;
  const engine = await initEngine();
  const model = await loadModelRef(spec.model, { differentiable: true });
  const ref: DataRef = spec.data ?? {};
  const data = await openDataRef(ref, model.card, { split: ['train', 'val', 'test'], onNote: opts.onNote });
  const te = data.splits.test;
  if (data.info.task === 'multilabel')
    throw badArgument('the scorecard covers single-label tasks (binary or multi-class)');
  checkEpsilon(eps.value, 'linf', te.height * te.width * te.channels, eps.text);
  const advModel = defences.includes(TRAINING_DEFENCE)
    ? await helperModel(spec.advModel, 'adv-cnn', data.name, model)
    : undefined;
  const noiseModel = defences.some((d) => d.startsWith('smoothing'))
    ? await helperModel(spec.noiseModel, 'noise-cnn', data.name, model)
    : undefined;
  for (const [flag, m] of [
    ['--adv-model', advModel],
    ['--noise-model', noiseModel],
  ] as const) {
    if (m && m.card.dataset.name !== data.name)
      throw mismatch(`${flag} was trained on ${m.card.dataset.name}, not ${data.name}`);
  }
  const test = selectRef(
    te,
    { ...ref, limit: ref.head === undefined ? (ref.limit ?? (quick ? 64 : 300)) : undefined },
    seed,
  );
  const fit = selectRef(data.splits.train, { limit: spec.fitLimit ?? (quick ? 200 : 500) }, seed + 1);
  const calibration = selectRef(data.splits.val, { limit: quick ? 200 : 500 }, seed + 2);
  const plan = planScorecard(await calibrateGradient(model, test, engine.backend), {
    defences,
    n: test.n,
    fitN: fit.n,
    calibrationN: calibration.n,
    quick,
    steps: spec.steps,
    samples: spec.eotSamples,
  });
  opts.onPlan?.(plan, engine.backend, test.n);
  let card = await runScorecard({
    model,
    modelDir: spec.model ?? 'default',
    advModel,
    noiseModel,
    dataset: data.name,
    split: 'test',
    test,
    fit,
    calibration,
    defences,
    eps: eps.value,
    epsText: eps.text,
    quick,
    seed,
    steps: spec.steps,
    samples: spec.eotSamples,
    plan,
    onProgress: (what, done, total) => {
      checkAborted(opts.signal);
      opts.onProgress?.(what, done, total);
    },
    onStage: opts.onStage,
    onRow: opts.onRow,
  });
  card = withImageSet(card, data);
  if (spec.report) await writeScorecardReport(spec.report, card, { command: spec.command ?? 'medshield scorecard' });
  if (spec.out) {
    mkdirSync(path.dirname(path.resolve(spec.out)), { recursive: true });
    writeFileSync(spec.out, JSON.stringify(card, null, 1));
  }
  return card;
}

/** The plan as note lines (what `medshield scorecard` prints on stderr before it starts). */
export function formatScorecardPlan(plan: ScorecardPlan, backend: string, n: number, quick: boolean): string[] {
  const lines = [
    `plan (${backend}: ${(plan.gradientSecondsPerImage * 1000).toFixed(1)}` +
      ` ms per image for one forward+backward pass): ` +
      `${plan.rows.length} rows on ${n} test images, about ${formatDuration(plan.estimatedSeconds)}`,
  ];
  for (const st of plan.shared)
    lines.push(
      `  ${st.stage.padEnd(34)} ${String(st.images).padStart(4)} images  ~${formatDuration(st.estimatedSeconds)}`,
    );
  for (const r of plan.rows)
    lines.push(
      `  ${r.defence.padEnd(34)} ${String(r.images).padStart(4)} images  ~${formatDuration(r.estimatedSeconds)}`,
    );
  if (quick) lines.push('  (quick: sanity checks only on the rows whose verdict they can change)');
  return lines;
}

/** One finished row as a progress line (the ETA is the caller's). */
export function formatScorecardRow(r: ScorecardRow, eta: string): string {
  const phases = Object.entries(r.timing ?? {})
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
  return (
    `${r.defence.padEnd(28)} ${r.verdict.padEnd(9)} fooled&undetected ` +
    `${r.nonAdaptive.fooledAndUndetected.toFixed(3)} → ` +
    `${r.adaptive.fooledAndUndetected.toFixed(3)}  (${r.seconds} s, ` +
    `estimated ${r.estimatedSeconds ?? '?'} s; ${phases}${formatWork(r)}; about ${eta} left)`
  );
}

/** A row's model passes, summed over its phases: `; passes resnet18 1234 f+b / 567 f`. */
function formatWork(r: ScorecardRow): string {
  const sum = new Map<string, [number, number]>();
  for (const phase of [r.work?.fit ?? {}, ...Object.values(r.work?.phases ?? {})])
    for (const [m, c] of Object.entries(phase)) {
      const s = sum.get(m) ?? [0, 0];
      sum.set(m, [s[0] + c.gradientImages, s[1] + c.forwardImages]);
    }
  if (!sum.size) return '';
  return `; passes ${[...sum].map(([m, [g, f]]) => `${m} ${g} f+b / ${f} f`).join(', ')}`;
}

/** The text form of a scorecard. */
export function formatScorecard(card: Scorecard): string {
  const w = Math.max(8, ...card.rows.map((r) => r.defence.length));
  let s =
    `${card.model.name} on ${card.dataset}/${card.split} (n=${card.n}` +
    `), ε = ${card.epsText} L∞${card.quick ? ', quick' : ''}\n`;
  s +=
    `  undefended: clean ${card.baseline.cleanAccuracy.toFixed(4)}, robust ` +
    `${card.baseline.robustAccuracy.toFixed(4)} under ${card.baseline.attack}\n`;
  s += `  ${'defence'.padEnd(w)}  clean   non-adaptive f&u  adaptive f&u  attack                 sanity  verdict\n`;
  for (const r of card.rows) {
    s +=
      `  ${r.defence.padEnd(w)}  ${r.cleanAccuracy.toFixed(3)}   ` +
      `${r.nonAdaptive.fooledAndUndetected.toFixed(3).padEnd(16)}  ` +
      `${r.adaptive.fooledAndUndetected.toFixed(3).padEnd(12)}  ${r.adaptive.attack.padEnd(22)} ` +
      `${(r.sanity.skipped ? 'skip' : r.sanity.passed ? 'pass' : r.sanity.failures.join(',')).padEnd(7)}` +
      ` ${r.verdict}${r.gradientMasking ? ' (gradient masking)' : ''}\n`;
  }
  for (const n of card.notes) s += `  note: ${n}\n`;
  return (
    s + `  f&u = fooled and undetected among originally-correct images; ${card.rows.length} rows in ${card.seconds} s\n`
  );
}
