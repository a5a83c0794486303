/**
 * The `attack` verb: an evasion attack on a seeded sample of a dataset split — robust accuracy,
 * attack success rate, perturbation sizes, and per-sample records — for one ε, an ε sweep, or a
 * step sweep at one ε. White-box attacks use the model's gradients; query attacks (Square, SimBA,
 * NES, HopSkipJump, Boundary) query a target: the model in process, an ONNX file or an HTTP endpoint
 * (`victim`); `transfer` crafts on surrogate models (Papernot et al. 2016). `medshield attack` is a
 * shell over this function; a campaign shard calls it with `data.range`.
 *
 *   const r = await attack({ attack: 'pgd', eps: ['2/255', '8/255'], data: { split: 'test', limit: 64 }, seed: 0 });
 *   r.runs[1].summary.robustAccuracy; r.runs[1].records[0].success;
 */
import { getAttack, ATTACK_NAMES } from '../attacks/registry.js';
import { parseEpsilon, checkEpsilon } from '../attacks/epsilon.js';
import type { AttackOptions, LossName, Norm } from '../attacks/types.js';
import type { Target } from '../attacks/targets/target.js';
import { resolveModelPath } from '../models/io.js';
import type { Model } from '../models/model.js';
import { checkInputMatches, type ModelCard } from '../models/card.js';
import { engineInfo } from '../engine/index.js';
import { epsilonSweep, stepSweep } from '../eval/sweep.js';
import { writeRecords } from '../eval/records.js';
import { makeExamples, saveExamples } from '../eval/examples.js';
import { saveAdversarialSet } from '../eval/adversarial-set.js';
import {
  judge,
  type AttackEvaluation,
  type AttackSummary,
  type SampleRecord,
  type Victim,
} from '../eval/robustness.js';
import { buildReport } from '../report/build.js';
import { writeHtml } from '../report/html.js';
import { badArgument, unsupported } from '../errors.js';
import {
  DATA_REF_SCHEMA,
  EPS_SCHEMA,
  MODEL_REF_SCHEMA,
  SEED_SCHEMA,
  VICTIM_REF_SCHEMA,
  loadModelRef,
  openDataRef,
  openVictim,
  parseCriterion,
  parseEpsList,
  progressOf,
  selectRef,
  usesRemoteVictim,
  validateSpec,
  withImageSet,
  type CriterionRef,
  type DataRef,
  type EpsRef,
  type Images,
  type ModelRef,
  type VerbOptions,
  type VictimRef,
} from './common.js';

export { ATTACK_NAMES };

/** What to attack, how, and on which images (JSON-serialisable). */
export interface AttackSpec extends CriterionRef {
  /** The model (white-box and in-process query attacks); default 'default'. */
  model?: ModelRef;
  data?: DataRef;
  /** An attack of the registry (fgsm, pgd, apgd-ce, square, hsj, transfer, …). */
  attack: string;
  /** One ε, or several for a sweep. */
  eps: EpsRef;
  /** Iterations; several (at one ε) for a step sweep. */
  steps?: number | number[] | string;
  stepSize?: number | string;
  norm?: Norm;
  loss?: LossName;
  restarts?: number;
  /** PGD-style attacks: start from a random point of the ε ball (the attack's default when absent). */
  randomStart?: boolean;
  batchSize?: number;
  /** Attack seed; also the sample seed unless data.sampleSeed is given. */
  seed?: number;
  maxQueries?: number;
  pInit?: number | string;
  /** Transfer: surrogate models (an ensemble averages their logits), and the white-box attack run on them. */
  surrogates?: ModelRef[] | string;
  baseAttack?: string;
  /** Query attacks: the target (default: the model in process). */
  victim?: VictimRef;
  /** Return the clean and adversarial images in the result (for stores and galleries). */
  returnImages?: boolean;
  /** Files to write: per-sample records (.json/.csv), example PNGs, the .npz adversarial set, an HTML report. */
  save?: { records?: string; examples?: string; adversarial?: string; report?: string };
}

const INT = (min: number, max = 1e9) => ({ type: 'integer', minimum: min, maximum: max });
const NUM_OR_TEXT = { anyOf: [{ type: 'number' }, { type: 'string' }], description: 'a number or its text' };

export const ATTACK_SPEC_SCHEMA = {
  $id: 'medshield/attack-spec',
  type: 'object',
  additionalProperties: false,
  required: ['attack', 'eps'],
  properties: {
    model: MODEL_REF_SCHEMA,
    data: DATA_REF_SCHEMA,
    attack: { type: 'string', minLength: 1 },
    eps: EPS_SCHEMA,
    steps: {
      anyOf: [INT(1, 1e6), { type: 'array', minItems: 1, items: INT(1, 1e6) }, { type: 'string' }],
      description: 'a positive integer or a list of them',
    },
    stepSize: NUM_OR_TEXT,
    norm: { type: 'string', enum: ['linf', 'l2', 'l1', 'l0'] },
    loss: { type: 'string', enum: ['ce', 'cw', 'dlr'] },
    restarts: INT(1, 1000),
    randomStart: { type: 'boolean' },
    batchSize: INT(1, 65536),
    seed: SEED_SCHEMA,
    maxQueries: INT(1),
    pInit: NUM_OR_TEXT,
    surrogates: {
      anyOf: [{ type: 'array', items: MODEL_REF_SCHEMA }, { type: 'string' }],
      description: 'model references',
    },
    baseAttack: { type: 'string', minLength: 1 },
    victim: VICTIM_REF_SCHEMA,
    targeted: { type: 'boolean' },
    target: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }], description: "a class index or 'other'" },
    label: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }], description: "a label index or 'all'" },
    returnImages: { type: 'boolean' },
    save: {
      type: 'object',
      additionalProperties: false,
      properties: {
        records: { type: 'string' },
        examples: { type: 'string' },
        adversarial: { type: 'string' },
        report: { type: 'string' },
      },
    },
  },
} as const;

/** One per-sample record of a run (dataset index, label, predictions, success, perturbation, queries). */
export type AttackRecord = SampleRecord;

/** One ε (or step count) of an attack. */
export interface AttackRun {
  summary: AttackSummary;
  /** The CLI's fixed JSON object of this run. */
  json: Record<string, unknown>;
  records: AttackRecord[];
  /** Images the victim classifies correctly, clean and adversarial (exact counts; campaign shards add them up). */
  cleanCorrect: number;
  robustCorrect: number;
  /** With `returnImages`: the adversarial images (n × H × W × C in [0,1]). */
  adversarial?: Float32Array;
}

export interface AttackResult {
  attack: string;
  norm: Norm;
  /** The model card's name (when known), and the target a query attack queried (kind and name). */
  model?: string;
  target?: { kind: string; name: string };
  dataset: string;
  split: string;
  /** Images attacked (after sample and range) and their dataset indices. */
  n: number;
  indices: number[];
  runs: AttackRun[];
  /** Distinct notes of all runs. */
  notes: string[];
  /** With `returnImages`: the clean images and their shape. */
  images?: { x: Float32Array; shape: [number, number, number] };
  /** Image folders / CSVs: the source facts (see withImageSet). */
  imageSet?: unknown;
  /** The CLI's JSON: one object for one run, an array for a sweep. */
  json: unknown;
}

export interface AttackVerbOptions extends VerbOptions {
  /** After every finished run, the CLI JSON objects of the runs so far (for incremental `--out` writes). */
  onRun?: (completed: Array<Record<string, unknown>>) => void;
  /** After every attacked batch: each sample's success (and queries), for partial results on failure. */
  onSample?: (s: { eps: string; index: number; success: boolean; queries?: number }) => void;
  /** The command line recorded in an HTML report. */
  command?: string;
}

/** The fixed JSON object of the CLI contract (plus notes/components/targeted success when relevant). */
export function attackJson(s: AttackSummary): Record<string, unknown> {
  const out: Record<string, unknown> = {
    attack: s.attack,
    norm: s.norm,
    eps: s.eps,
    steps: s.steps,
    n: s.n,
    cleanAccuracy: s.cleanAccuracy,
    robustAccuracy: s.robustAccuracy,
    attackSuccessRate: s.attackSuccessRate,
    meanLinf: s.meanLinf,
    meanL2: s.meanL2,
    meanSSIM: s.meanSSIM,
    meanPSNR: s.meanPSNR,
    seconds: s.seconds,
    imagesPerSecond: s.imagesPerSecond,
  };
  if (s.meanQueries !== undefined) {
    out.meanQueries = s.meanQueries;
    out.medianQueries = s.medianQueries;
    out.maxQueries = s.maxQueries;
  }
  if (s.target) out.target = s.target;
  if (s.targetedSuccessRate !== undefined) out.targetedSuccessRate = s.targetedSuccessRate;
  // minimum-norm attacks (CW, DeepFool, HSJ, Boundary, …) are compared by their median distance
  if (s.minimumNorm) {
    out.medianL2 = s.medianL2;
    out.medianLinf = s.medianLinf;
  }
  if (s.components) out.components = s.components;
  if (s.notes.length) out.notes = s.notes;
  return out;
}

function parseSteps(steps: AttackSpec['steps']): number[] {
  if (steps === undefined) return [];
  if (typeof steps === 'number') return [steps];
  if (Array.isArray(steps)) return steps;
  return steps.split(',').map((t) => {
    const v = Number(t.trim());
    if (!/^\s*\d+\s*$/.test(t) || !(v >= 1 && v <= 1e6))
      throw badArgument(`--steps must be positive integers (comma-separated for a sweep), got '${steps}'`);
    return v;
  });
}

/** Run an attack spec: validate, load the victim and the images, attack, summarise (and write `save` files). */
export async function attack(input: AttackSpec, opts: AttackVerbOptions = {}): Promise<AttackResult> {
  const spec = validateSpec<AttackSpec>(ATTACK_SPEC_SCHEMA, input, 'attack spec');
  const seed = spec.seed ?? 0;
  const atk = getAttack(spec.attack);
  const epsList = parseEpsList(spec.eps);
  const stepList = parseSteps(spec.steps);
  if (stepList.length > 1 && epsList.length > 1) throw badArgument('sweep either ε or --steps, not both at once');
  if (stepList.length > 1 && atk.threatModel !== 'whitebox')
    throw badArgument(
      'a step sweep needs a white-box iterative attack ' +
        '(query attacks: use --max-queries; the report plots success against queries)',
    );
  const stepSize =
    spec.stepSize !== undefined
      ? typeof spec.stepSize === 'number'
        ? spec.stepSize
        : parseEpsilon(spec.stepSize)
      : undefined;
  const norm: Norm = spec.norm ?? atk.defaultNorm;
  if (!atk.norms.includes(norm))
    throw unsupported(`attack '${atk.name}' does not support the ${norm} norm (choose ${atk.norms.join(', ')})`);
  const whitebox = atk.threatModel === 'whitebox';
  const v = spec.victim ?? {};
  const remote = usesRemoteVictim(v);
  if (whitebox && remote)
    throw badArgument(
      `'${atk.name}' is a white-box attack; --target-url/--target-onnx need a query attack ` +
        '(square, simba, simba-dct, nes, hsj, boundary, transfer)',
    );
  if (!whitebox && spec.maxQueries === undefined && atk.name !== 'transfer' && spec.steps !== undefined)
    throw badArgument(`query attacks are budgeted by --max-queries, not --steps`);
  const surrogateRefs =
    typeof spec.surrogates === 'string'
      ? spec.surrogates
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : spec.surrogates;
  if (atk.name === 'transfer' && !surrogateRefs?.length)
    throw badArgument('--attack transfer needs --surrogate DIR[,DIR…] (models trained independently of the target)');
  if (surrogateRefs?.length && atk.name !== 'transfer')
    throw badArgument('--surrogate is only used by --attack transfer');
  const pInit = spec.pInit !== undefined ? Number(spec.pInit) : undefined;
  if (pInit !== undefined && !(pInit > 0 && pInit <= 1))
    throw badArgument(`--p-init must be in (0, 1], got '${spec.pInit}'`);
  const dataRef: DataRef = spec.data ?? {};
  if (v.url && !dataRef.dataset)
    throw badArgument('--target-url needs --dataset NAME|FILE (the images to send to the endpoint)');
  const engine = await engineInfo();
  // The model: needed for white-box attacks and in-process targets; a remote target brings its own.
  const modelRef = spec.model ?? 'default';
  const model: Model | null = remote ? null : await loadModelRef(modelRef, { cache: opts.cache });
  if (whitebox && model && !model.differentiable)
    throw unsupported(
      `white-box attacks need gradients; '${modelRef}' is a forward-only (ONNX) model (use a query attack)`,
    );
  // Any model directory a white-box --model takes (imported ONNX models included), through the verb cache:
  // a campaign loads its surrogates once per process, not once per shard.
  const surrogates = surrogateRefs?.length
    ? await Promise.all(surrogateRefs.map((s) => loadModelRef(s, { differentiable: true, cache: opts.cache })))
    : undefined;
  let target: Target | null = null;
  try {
    if (!whitebox && v.onnx) target = await openVictim(v, {});
    const targetCard = (target as unknown as { model?: Model } | null)?.model?.card;
    const datasetSpec = dataRef.dataset ?? (model ? model.card.dataset.name : targetCard?.dataset.name);
    if (!datasetSpec) throw badArgument('give --dataset NAME|FILE for this target');
    const splitName = dataRef.split ?? 'test';
    const data = await openDataRef({ ...dataRef, dataset: datasetSpec }, model?.card ?? targetCard, {
      split: splitName,
      onNote: opts.onNote,
      cache: opts.cache,
    });
    const split = data.splits[splitName];
    const meta = {
      inputShape: [split.height, split.width, split.channels] as [number, number, number],
      classes: data.info.classes,
      task: data.info.task,
    };
    if (!whitebox && !target) target = await openVictim(v, { ...meta, model: model ?? undefined });
    const victim: Victim = whitebox ? model! : target!;
    const card = model?.card ?? targetCard;
    const d = victim.inputShape[0] * victim.inputShape[1] * victim.inputShape[2];
    for (const e of epsList) checkEpsilon(e.value, norm, d, e.text);
    const { criterion, label } = parseCriterion(spec, victim, atk);
    const dataFacts = {
      height: split.height,
      width: split.width,
      channels: split.channels,
      classes: data.info.classes.length,
      task: data.info.task,
      name: data.name,
    };
    if (card) checkInputMatches(card, dataFacts);
    else if (
      victim.inputShape.join('×') !== meta.inputShape.join('×') ||
      victim.classes.length !== meta.classes.length
    ) {
      throw badArgument(
        `target '${target!.name}' takes ${victim.inputShape.join('×')} images with ${victim.classes.length} ` +
          `classes, but ${data.name} has ${meta.inputShape.join('×')} images with ${meta.classes.length}`,
      );
    }
    for (const sm of surrogates ?? []) checkInputMatches(sm.card, dataFacts);
    const images = selectRef(split, dataRef, seed);
    const aopts: Omit<AttackOptions, 'eps'> = {
      norm,
      criterion,
      label,
      steps: stepList[0],
      stepSize,
      loss: spec.loss,
      restarts: spec.restarts,
      seed,
      maxQueries: spec.maxQueries,
      pInit,
      surrogates,
      baseAttack: spec.baseAttack, // unset: the transfer attack's own default
      ...(spec.randomStart !== undefined ? { randomStart: spec.randomStart } : {}),
    };
    const runsTotal = Math.max(epsList.length, stepList.length);
    const bar = progressOf(opts, atk.name, runsTotal * images.n);
    const finished: AttackEvaluation[] = [];
    const epsAt = (i: number): string => epsList[Math.min(i, epsList.length - 1)]?.text ?? '';
    let evals: AttackEvaluation[];
    try {
      const sweepOpts = {
        batchSize: spec.batchSize ?? 128,
        onProgress: (i: number, done: number, total: number) => {
          if (opts.signal?.aborted) throw badArgument('attack cancelled');
          bar.update(Math.round(i * images.n + (done / total) * images.n), { eps: epsAt(i) });
        },
        onResult: (ev: AttackEvaluation) => {
          finished.push(ev);
          opts.onRun?.(finished.map((e) => attackJson(e.summary)));
        },
        onBatch: (i: number, start: number, r: { success: Uint8Array; queriesPerSample?: Int32Array }) =>
          r.success.forEach((s, j) =>
            opts.onSample?.({
              eps: epsAt(i),
              index: images.indices?.[start + j] ?? start + j,
              success: !!s,
              queries: r.queriesPerSample?.[j],
            }),
          ),
      };
      evals =
        stepList.length > 1
          ? await stepSweep(
              victim,
              images,
              atk,
              stepList,
              { ...aopts, eps: epsList[0].value, epsText: epsList[0].text } as AttackOptions,
              sweepOpts,
            )
          : await epsilonSweep(victim, images, atk, epsList, aopts, sweepOpts);
    } finally {
      bar.stop();
    }
    const save = spec.save ?? {};
    if (save.records) {
      const files = data.imageSet?.files[splitName];
      const all = evals.flatMap((ev) =>
        ev.records.map((r) => ({ ...r, eps: ev.summary.eps, ...(files ? { file: files[r.index] } : {}) })),
      );
      writeRecords(save.records, all, { attack: atk.name, norm });
    }
    if (save.adversarial) saveAdversarialSet(save.adversarial, images, evals);
    if (save.examples) {
      evals.forEach((ev) =>
        saveExamples(
          save.examples!,
          makeExamples(ev.records, images.x, ev.xAdv, images.shape, victim.classes, 8, 4),
          `${atk.name}-eps${ev.summary.epsText.replace(/[^\w.]+/g, '_')}-`,
        ),
      );
    }
    if (save.report) {
      const report = buildReport({
        card: card ?? syntheticCard(victim, data.name),
        modelPath: target && target.kind === 'http' ? target.name : (v.onnx ?? resolveModelPath(modelRef)),
        dataset: { name: data.name, split: splitName, sha256: data.sha256, path: data.path, limit: dataRef.limit },
        images,
        evaluations: evals,
        seed,
        engine: engine.backend,
        command: opts.command ?? `medshield attack --attack ${atk.name}`,
      });
      await writeHtml(save.report, report);
    }
    const correct = (p: Float32Array): number =>
      judge(victim, p, images.labels, images.n, label).correct.reduce((s, c) => s + c, 0);
    const runs: AttackRun[] = evals.map((ev) => ({
      summary: ev.summary,
      json: attackJson(ev.summary),
      records: ev.records,
      cleanCorrect: correct(ev.cleanProbs),
      robustCorrect: correct(ev.advProbs),
      ...(spec.returnImages ? { adversarial: ev.xAdv } : {}),
    }));
    const jsonRuns = runs.map((r) => r.json);
    return {
      attack: atk.name,
      norm,
      model: card?.name,
      ...(target ? { target: { kind: target.kind, name: target.name } } : {}),
      dataset: data.name,
      split: splitName,
      n: images.n,
      indices: images.indices ?? Array.from({ length: images.n }, (_, i) => i),
      runs,
      notes: [...new Set(evals.flatMap((e) => e.summary.notes))],
      ...(spec.returnImages ? { images: { x: images.x, shape: images.shape } } : {}),
      ...(data.imageSet ? { imageSet: (withImageSet({}, data) as { imageSet: unknown }).imageSet } : {}),
      json: withImageSet(jsonRuns.length === 1 ? jsonRuns[0] : jsonRuns, data),
    };
  } finally {
    await target?.close?.();
  }
}

/** The human-readable lines of an attack result (what `medshield attack` prints without --json). */
export function attackText(r: AttackResult, report?: string): string {
  const lines = r.runs.map(
    ({ summary: s }) =>
      `${s.attack} ${s.norm} ε=${s.epsText}: clean ${s.cleanAccuracy.toFixed(4)} → ` +
      `robust ${s.robustAccuracy.toFixed(4)}, ` +
      `success ${s.attackSuccessRate === null ? '—' : s.attackSuccessRate.toFixed(4)}` +
      `${s.targetedSuccessRate !== undefined ? ` (targeted ${s.targetedSuccessRate?.toFixed(4)})` : ''}, ` +
      `mean L∞ ${s.meanLinf?.toFixed(4) ?? '—'}, L2 ${s.meanL2?.toFixed(4) ?? '—'}, ` +
      `SSIM ${s.meanSSIM?.toFixed(4) ?? '—'}, PSNR ${s.meanPSNR?.toFixed(2) ?? '—'} dB` +
      `${
        s.meanQueries !== undefined
          ? `, queries mean ${s.meanQueries ?? '—'} median ${s.medianQueries ?? '—'} (budget ${s.maxQueries})`
          : ''
      }, ` +
      `${s.seconds.toFixed(1)} s (${s.imagesPerSecond.toFixed(1)} img/s)`,
  );
  let out =
    `${r.target ? `${r.target.kind} target ${r.target.name}` : r.model} on ${r.dataset}/${r.split} (n=${r.n}):\n` +
    `${lines.map((l) => '  ' + l).join('\n')}\n`;
  for (const { summary: s } of r.runs)
    for (const c of s.components ?? [])
      out += `  ε=${s.epsText} after ${c.name}: robust ${c.robustAccuracy.toFixed(4)} (worst case so far)\n`;
  for (const n of r.notes) out += `  note: ${n}\n`;
  if (report) out += `  report: ${report}\n`;
  return out;
}

/** A minimal card for a remote target (its name, data and classes), so reports can be written. */
function syntheticCard(v: Victim, dataset: string): ModelCard {
  const [h, w, c] = v.inputShape;
  return {
    schema: 'medshield.model-card/1',
    name: 'name' in v ? v.name : 'target',
    architecture: { name: 'remote', width: 0, parameters: 0, format: 'remote' },
    dataset: {
      name: dataset,
      size: h,
      task: v.task,
      classes: v.classes,
      sha256: '',
      splits: { train: 0, val: 0, test: 0 },
    },
    input: { shape: [h, w, c], range: [0, 1], layout: 'NHWC', normalization: 'unknown (remote)', resize: 'unknown' },
    metrics: {},
    medshieldVersion: '',
    gitCommit: null,
    createdAt: new Date(0).toISOString(),
  } as unknown as ModelCard;
}

export type { Images };
