/**
 * The shared prelude of every verb of the library API (src/api): model and data references, the
 * seeded sample and its ranges (campaign shards), ε parsing, the attack criterion, the victim of a
 * query attack, and spec validation against a JSON Schema (draft-07, ajv) with one-line exit-2 errors.
 *
 *   const model = await loadModelRef('default');
 *   const d = await loadDataRef({ dataset: 'pneumoniamnist', split: 'test', limit: 64, range: [0, 16] }, model.card,
 *   0);
 *
 * Specs are plain JSON (no functions, no class instances), so a campaign can store and replay them.
 */
import { Ajv, type ErrorObject } from 'ajv';
import { loadDataset, type Dataset, type Split, type SplitName } from '../data/dataset.js';
import { selectImages, sliceImages, type Images } from '../data/images.js';
import { imageSetSummary, isImageSetSpec, parseInputSize, parseSplitRatios } from '../data/image-set.js';
import { checkInputMatches, type ModelCard } from '../models/card.js';
import { loadModel } from '../models/io.js';
import { loadDifferentiableModel } from '../models/onnx.js';
import type { DifferentiableModel, Model } from '../models/model.js';
import { parseEpsilon, parseEpsilonList } from '../attacks/epsilon.js';
import type { Criterion, LabelChoice } from '../attacks/types.js';
import type { Target, TargetOutput } from '../attacks/targets/target.js';
import type { Task } from '../data/medmnist.js';
import { badArgument, unsupported } from '../errors.js';

export type { SplitName, Dataset, Images, ModelCard, Model, Target, TargetOutput, Task, Criterion, LabelChoice };
export type { Norm, LossName } from '../attacks/types.js';

/**
 * A model: 'default', a shipped name ('surrogate', 'adv-cnn', …), a model directory, an imported ONNX model directory
 * or a `.onnx` file.
 */
export type ModelRef = string;

/** How an image folder or labels CSV is read (ignored for MedMNIST names and `.npz` files). */
export interface ImageSetRef {
  /** train,val,test fractions of the seeded stratified split ("0.7,0.1,0.2" or [0.7, 0.1, 0.2]). */
  splitRatios?: string | [number, number, number];
  /** Seed of that split (independent of the spec's seed). */
  splitSeed?: number;
  /** Skip bad rows (missing file, unknown label, unreadable image) instead of failing. */
  skipBad?: boolean;
  /** Training only: the input size of an image folder, e.g. "64" or "64x64x1". */
  input?: string;
  /** Dataset cache directory (env MEDSHIELD_DATA). */
  dataDir?: string;
}

/**
 * The images a verb runs on. `limit` = the seeded sample of the CLI's `--limit` (seed `sampleSeed`,
 * default: the spec's seed); `range` = positions [start, end) within that sample (or the split);
 * `head` = the first N images of the split (`medshield eval --limit`).
 */
export interface DataRef extends ImageSetRef {
  /** MedMNIST name, `.npz` path, image folder or labels CSV; default: the model's own dataset. */
  dataset?: string;
  split?: SplitName;
  limit?: number;
  sampleSeed?: number;
  range?: [number, number];
  head?: number;
}

/** The victim of a query attack: the model in process (default), an ONNX file, or an HTTP endpoint. */
export interface VictimRef {
  url?: string;
  onnx?: string;
  output?: TargetOutput | 'auto';
  format?: 'json' | 'png';
  /** Sent as "Authorization: Bearer"; default env MEDSHIELD_TARGET_API_KEY. */
  apiKey?: string;
  concurrency?: number;
  paceMs?: number;
  retries?: number;
  timeoutMs?: number;
}

/** ε as users write it: 0.0314, "8/255", or a list ("2/255,8/255" or ["2/255", 0.0314]). */
export type EpsRef = number | string | Array<number | string>;

/** A progress display of one stage of work (the CLI's bar / plain lines). */
export interface ProgressSink {
  update(done: number, fields?: Record<string, string | number>): void;
  /** A line printed above the bar (e.g. an epoch summary). */
  log?(line: string): void;
  stop(): void;
}

/** Options every verb takes besides its spec. */
export interface VerbOptions {
  /** done/total of the verb's work (images × runs); `fields` carry e.g. the current ε. */
  onProgress?: (done: number, total: number, fields?: Record<string, string | number>) => void;
  /** A progress display per stage (label, total), e.g. the CLI's `progress`. */
  progress?: (label: string, total: number) => ProgressSink;
  /** One-line notes (image-set facts, caveats), e.g. to stderr. */
  onNote?: (line: string) => void;
  /** Abort between batches / runs. */
  signal?: AbortSignal;
  /** Keep loaded models and datasets for the next call (see newVerbCache). */
  cache?: VerbCache;
}

// ---------------------------------------------------------------- JSON Schema fragments

export const SPLIT_SCHEMA = { type: 'string', enum: ['train', 'val', 'test'] } as const;
export const SEED_SCHEMA = { type: 'integer', minimum: 0, maximum: 2 ** 32 - 1 } as const;
export const MODEL_REF_SCHEMA = { type: 'string', minLength: 1 } as const;
const EPS_ITEM = {
  description: 'a number > 0 or a fraction like "8/255"',
  anyOf: [
    { type: 'number', exclusiveMinimum: 0 },
    { type: 'string', pattern: '^\\s*[0-9]*\\.?[0-9]+(?:[eE]-?[0-9]+)?(?:\\s*/\\s*[0-9]*\\.?[0-9]+)?\\s*$' },
  ],
};
export const EPS_SCHEMA = {
  description: 'a number > 0, a fraction like "8/255", a comma-separated list of them, or an array',
  anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string' }, { type: 'array', minItems: 1, items: EPS_ITEM }],
} as const;
export const IMAGE_SET_PROPS = {
  splitRatios: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'number' }, minItems: 3, maxItems: 3 }] },
  splitSeed: SEED_SCHEMA,
  skipBad: { type: 'boolean' },
  input: { type: 'string' },
  dataDir: { type: 'string' },
} as const;
export const DATA_REF_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    dataset: { type: 'string', minLength: 1 },
    split: SPLIT_SCHEMA,
    limit: { type: 'integer', minimum: 1 },
    sampleSeed: SEED_SCHEMA,
    range: { type: 'array', items: { type: 'integer', minimum: 0 }, minItems: 2, maxItems: 2 },
    head: { type: 'integer', minimum: 1 },
    ...IMAGE_SET_PROPS,
  },
} as const;
export const VICTIM_REF_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    url: { type: 'string', minLength: 1 },
    onnx: { type: 'string', minLength: 1 },
    output: { type: 'string', enum: ['probabilities', 'label', 'auto'] },
    format: { type: 'string', enum: ['json', 'png'] },
    apiKey: { type: 'string' },
    concurrency: { type: 'integer', minimum: 1, maximum: 256 },
    paceMs: { type: 'integer', minimum: 0 },
    retries: { type: 'integer', minimum: 0, maximum: 100 },
    timeoutMs: { type: 'integer', minimum: 1 },
  },
} as const;

// ---------------------------------------------------------------- validation

const ajv = new Ajv({ allErrors: false, strict: false, verbose: true });
const compiled = new WeakMap<object, ReturnType<typeof ajv.compile>>();

/** The field an ajv error is about, as a dotted path ("data.split", "eps[1]"), or the spec's name. */
function fieldOf(e: ErrorObject, what: string): string {
  let p = e.instancePath
    .slice(1)
    .split('/')
    .filter(Boolean)
    .map((s) => (/^\d+$/.test(s) ? `[${s}]` : `.${s}`))
    .join('');
  if (e.keyword === 'additionalProperties') p += `.${(e.params as { additionalProperty: string }).additionalProperty}`;
  if (e.keyword === 'required') p += `.${(e.params as { missingProperty: string }).missingProperty}`;
  return p ? p.replace(/^\./, '') : what;
}

/**
 * Check `spec` against `schema`; on failure throw badArgument (exit 2) in one line naming the field:
 * "attack spec: data.split must be one of train, val, test", "attack spec: unknown field 'foo'".
 */
export function validateSpec<T>(schema: object, spec: unknown, what = 'spec'): T {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw badArgument(`${what} must be an object`);
  if (validate(spec)) return spec as T;
  const errs = validate.errors!;
  // a failed anyOf names the value it is about (the deepest one: eps[1] rather than eps); else the first error
  const alts = errs.filter((x) => x.keyword === 'anyOf' || x.keyword === 'oneOf');
  const e = alts.sort((a, b) => b.instancePath.length - a.instancePath.length)[0] ?? errs[0];
  const described = (e.parentSchema as { description?: string } | undefined)?.description;
  const field = fieldOf(e, what);
  let msg: string;
  switch (e.keyword) {
    case 'additionalProperties':
      msg = `unknown field '${field}'`;
      break;
    case 'required':
      msg = `missing field '${field}'`;
      break;
    case 'enum':
      msg = `${field} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
      break;
    case 'anyOf':
    case 'oneOf':
      msg = `${field} must be ${described ?? 'valid'}, got ${JSON.stringify(valueAt(spec, e.instancePath))}`;
      break;
    default:
      msg = `${field} ${e.message ?? 'is invalid'}`;
  }
  throw badArgument(`${what}: ${msg}`);
}

function valueAt(spec: unknown, pointer: string): unknown {
  let v: unknown = spec;
  for (const k of pointer.split('/').filter(Boolean))
    v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

// ---------------------------------------------------------------- ε

export interface Eps {
  value: number;
  text: string;
}

/** One ε: a number, or text like "8/255" / "0.0314". */
export function parseEps(v: number | string): Eps {
  if (typeof v === 'number') {
    if (!Number.isFinite(v) || v <= 0) throw badArgument(`ε must be greater than 0, got '${v}'`);
    return { value: v, text: String(v) };
  }
  return { value: parseEpsilon(v), text: v.trim() };
}

/** A list of ε (the user's spelling kept as `text`): a number, "2/255,8/255", or an array. */
export function parseEpsList(v: EpsRef): Eps[] {
  if (Array.isArray(v)) {
    if (!v.length) throw badArgument('--eps needs at least one value');
    return v.map(parseEps);
  }
  return typeof v === 'number' ? [parseEps(v)] : parseEpsilonList(v);
}

// ---------------------------------------------------------------- models

/**
 * Models and datasets kept between verb calls of one process (a campaign runner or worker running many
 * shards on the same model and data). Both are only read by the verbs. Without a cache every call loads.
 */
export interface VerbCache {
  models: Map<string, Promise<Model>>;
  datasets: Map<string, Promise<Dataset>>;
}

export function newVerbCache(): VerbCache {
  return { models: new Map(), datasets: new Map() };
}

function cached<T>(map: Map<string, Promise<T>> | undefined, key: string, load: () => Promise<T>): Promise<T> {
  if (!map) return load();
  let p = map.get(key);
  if (!p) {
    p = load();
    map.set(key, p);
    p.catch(() => map.delete(key)); // a failed load is not remembered
  }
  return p;
}

/** Load a model reference; `differentiable` refuses forward-only ONNX files (white-box work needs gradients). */
export async function loadModelRef(
  ref: ModelRef | undefined,
  opts?: { differentiable?: false; cache?: VerbCache },
): Promise<Model>;
export async function loadModelRef(
  ref: ModelRef | undefined,
  opts: { differentiable: true; cache?: VerbCache },
): Promise<DifferentiableModel>;
export async function loadModelRef(
  ref: ModelRef | undefined,
  opts: { differentiable?: boolean; cache?: VerbCache } = {},
): Promise<Model> {
  const r = ref ?? 'default';
  return cached(opts.cache?.models, `${opts.differentiable ? 'grad' : 'any'}:${r}`, () =>
    opts.differentiable ? loadDifferentiableModel(r) : loadModel(r),
  );
}

// ---------------------------------------------------------------- data

/**
 * Open the dataset of a DataRef for a model: `ref.dataset`, or the card's own dataset. An image folder
 * or CSV is resized to the card's input shape and labelled with the card's classes; the data are then
 * checked against the card. `split` (when given) must hold images.
 */
export async function openDataRef(
  ref: DataRef,
  card: ModelCard | undefined,
  opts: { split?: SplitName | SplitName[]; fallback?: string; onNote?: (line: string) => void; cache?: VerbCache } = {},
): Promise<Dataset> {
  const spec = ref.dataset ?? card?.dataset.name ?? opts.fallback;
  if (!spec) throw badArgument('give --dataset NAME|FILE|FOLDER|CSV');
  const imageSet = isImageSetSpec(spec);
  if (imageSet && !card)
    throw badArgument(`an image folder or CSV needs a model (its card gives the input size and classes)`);
  if (!imageSet && ref.skipBad) throw badArgument('--skip-bad applies to image folders and CSVs only');
  const imageSetOpts = card
    ? {
        shape: card.input.shape,
        classes: card.dataset.classes,
        task: card.dataset.task,
        splitRatios: ratios(ref.splitRatios),
        splitSeed: ref.splitSeed,
        skipBad: ref.skipBad,
      }
    : undefined;
  const key = JSON.stringify([spec, ref.dataDir ?? null, imageSetOpts ?? null]);
  const data = await cached(opts.cache?.datasets, key, () =>
    loadDataset(spec, { dataDir: ref.dataDir, imageSet: imageSetOpts }),
  );
  reportImageSet(data, opts.onNote);
  checkSplits(data, opts.split);
  if (card) {
    const t = data.splits.test;
    checkInputMatches(card, {
      height: t.height,
      width: t.width,
      channels: t.channels,
      classes: data.info.classes.length,
      task: data.info.task,
      name: data.name,
    });
  }
  return data;
}

/** Training data: an image folder / CSV resized to `input` (default 28 px), classes from its labels. */
export async function openTrainingData(ref: DataRef, onNote?: (line: string) => void): Promise<Dataset> {
  if (!ref.dataset) throw badArgument('--dataset is required');
  const imageSet = isImageSetSpec(ref.dataset);
  if (!imageSet && (ref.skipBad || ref.input))
    throw badArgument(
      `${ref.skipBad ? '--skip-bad' : '--input'} applies to image folders and ` +
        `CSVs only (a MedMNIST set has its own size: e.g. --dataset dermamnist_64)`,
    );
  const data = await loadDataset(ref.dataset, {
    dataDir: ref.dataDir,
    imageSet: {
      shape: ref.input ? parseInputSize(ref.input) : undefined,
      splitRatios: ratios(ref.splitRatios),
      splitSeed: ref.splitSeed,
      skipBad: ref.skipBad,
    },
  });
  reportImageSet(data, onNote);
  checkSplits(data, ['train', 'val', 'test']);
  if (ref.limit === undefined || ref.limit >= data.splits.train.n) return data;
  // `train --limit N`: a seeded sample of N training images (val and test unchanged) — short runs, memory measurements.
  const tr = data.splits.train;
  const sample = selectImages(tr, ref.limit, ref.sampleSeed ?? 0).indices!;
  const per = tr.height * tr.width * tr.channels;
  const images =
    tr.images instanceof Uint8Array ? new Uint8Array(sample.length * per) : new Float32Array(sample.length * per);
  const labels = new Int32Array(sample.length * tr.labelWidth);
  sample.forEach((src, j) => {
    images.set(tr.images.subarray(src * per, (src + 1) * per), j * per);
    labels.set(tr.labels.subarray(src * tr.labelWidth, (src + 1) * tr.labelWidth), j * tr.labelWidth);
  });
  return { ...data, splits: { ...data.splits, train: { ...tr, n: sample.length, images, labels } } };
}

function ratios(r: ImageSetRef['splitRatios']): [number, number, number] {
  return parseSplitRatios(Array.isArray(r) ? r.join(',') : (r ?? '0.7,0.1,0.2'));
}

function reportImageSet(data: Dataset, onNote?: (line: string) => void): void {
  const f = data.imageSet;
  if (!f || !onNote) return;
  const c = f.split.counts;
  onNote(
    `medshield: ${f.kind} ${f.source}: ${f.images} images of ${f.classes.length} classes at ` +
      `${f.input.shape.join('×')} (train ${c.train}, val ${c.val}, test ${c.test}` +
      (f.split.from === 'column'
        ? ', from the split column'
        : `, seeded stratified split ${f.split.ratios!.join('/')} seed ${f.split.seed}`) +
      `)${f.skipped.length ? `; skipped ${f.skipped.length} bad rows` : ''}`,
  );
}

function checkSplits(data: Dataset, split: SplitName | SplitName[] | undefined): void {
  if (!data.imageSet || !split) return;
  for (const s of Array.isArray(split) ? split : [split]) {
    if (data.splits[s].n === 0) {
      const how =
        data.imageSet.split.from === 'column'
          ? 'its split column names none'
          : `--split-ratios ${data.imageSet.split.ratios!.join(',')} leaves none`;
      throw badArgument(
        `the ${s} split of '${data.imageSet.source}' is empty (${how}); ` +
          (Array.isArray(split)
            ? 'train needs images in train, val and test'
            : 'choose another --split or set --split-ratios, e.g. 0,0,1 to use every image as test'),
      );
    }
  }
}

/** The data a verb runs on: the dataset, the split, and the selected images (sample, then range). */
export interface LoadedData {
  data: Dataset;
  splitName: SplitName;
  split: Split;
  images: Images;
}

/**
 * Load a DataRef: open the dataset (checked against `card`), take the seeded sample of `limit`
 * images (seed `sampleSeed`, default `seed`) — or the first `head` images — then positions `range`.
 * `images.indices` are the images' indices in the split.
 */
export async function loadDataRef(
  ref: DataRef,
  card: ModelCard | undefined,
  seed = 0,
  opts: { fallback?: string; onNote?: (line: string) => void; cache?: VerbCache } = {},
): Promise<LoadedData> {
  const splitName = ref.split ?? 'test';
  const data = await openDataRef(ref, card, {
    split: splitName,
    fallback: opts.fallback,
    onNote: opts.onNote,
    cache: opts.cache,
  });
  const split = data.splits[splitName];
  return { data, splitName, split, images: selectRef(split, ref, seed) };
}

/** The images of a split a DataRef selects (sample or head, then range). */
export function selectRef(split: Split, ref: DataRef, seed = 0): Images {
  if (ref.head !== undefined && ref.limit !== undefined)
    throw badArgument('give either limit (a seeded sample) or head (the first N images), not both');
  const images =
    ref.head !== undefined ? selectImages(split, undefined, 0) : selectImages(split, ref.limit, ref.sampleSeed ?? seed);
  const headed = ref.head !== undefined ? sliceImages(images, 0, Math.min(ref.head, images.n)) : images;
  if (!ref.range) return headed;
  const [start, end] = ref.range;
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end > start))
    throw badArgument(`range must be [start, end) with 0 ≤ start < end, got [${start}, ${end}]`);
  if (end > headed.n) throw badArgument(`range [${start}, ${end}) is beyond the ${headed.n} selected images`);
  return sliceImages(headed, start, end);
}

/** A split of the selected images only (their original dtype), for split-based evaluations. */
export function subsetSplit(split: Split, indices: number[] | undefined): Split {
  if (!indices || (indices.length === split.n && indices.every((v, i) => v === i))) return split;
  const per = split.height * split.width * split.channels;
  const n = indices.length;
  const images = split.images instanceof Uint8Array ? new Uint8Array(n * per) : new Float32Array(n * per);
  const labels = new Int32Array(n * split.labelWidth);
  indices.forEach((src, j) => {
    images.set(split.images.subarray(src * per, (src + 1) * per), j * per);
    labels.set(split.labels.subarray(src * split.labelWidth, (src + 1) * split.labelWidth), j * split.labelWidth);
  });
  return { ...split, n, images, labels };
}

/**
 * Record an image set's facts (source, split, skipped rows) in a JSON result: an object gets `imageSet`, an array's
 * items each get it.
 */
export function withImageSet<T>(out: T, data: Dataset): T {
  if (!data.imageSet) return out;
  const facts = imageSetSummary(data.imageSet);
  if (Array.isArray(out)) return out.map((x) => (x && typeof x === 'object' ? { ...x, imageSet: facts } : x)) as T;
  if (out && typeof out === 'object') return { ...out, imageSet: facts };
  return out;
}

// ---------------------------------------------------------------- victims and criteria

export function usesRemoteVictim(v: VictimRef | undefined): boolean {
  return !!(v?.url || v?.onnx);
}

/** Open the target a query attack queries: HTTP, ONNX, or the loaded model (optionally label-only). */
export async function openVictim(
  v: VictimRef = {},
  meta: { model?: Model; inputShape?: [number, number, number]; classes?: string[]; task?: Task },
): Promise<Target> {
  if (v.url && v.onnx) throw badArgument('give either --target-url or --target-onnx, not both');
  const { openTarget } = await import('../attacks/targets/open-target.js');
  return openTarget({
    url: v.url,
    onnx: v.onnx,
    model: v.url || v.onnx ? undefined : meta.model,
    output: v.output,
    format: v.format,
    apiKey: v.apiKey ?? process.env.MEDSHIELD_TARGET_API_KEY,
    concurrency: v.concurrency,
    paceMs: v.paceMs,
    retries: v.retries,
    timeoutMs: v.timeoutMs,
    inputShape: meta.inputShape,
    classes: meta.classes,
    task: meta.task,
  });
}

/**
 * How an attack judges success: untargeted, or targeted at a class ('other' on binary tasks); the label of a
 * multi-label head.
 */
export interface CriterionRef {
  targeted?: boolean;
  /** Target class index (number or its text), or 'other' on binary tasks. */
  target?: number | string;
  /** Multi-label heads: the label to attack (default all). */
  label?: number | string;
}

/**
 * The attack criterion and label choice for a victim with `classes` and `task`, with the CLI's
 * one-line errors ("--target must be a class between 0 and 1, got '7'").
 */
export function parseCriterion(
  c: CriterionRef,
  victim: { classes: string[]; task: Task },
  attack?: { name: string; targeted: boolean },
): { criterion: Criterion; label: LabelChoice } {
  const k = victim.classes.length;
  let criterion: Criterion = { kind: 'untargeted' };
  if (c.targeted || c.target !== undefined) {
    if (attack && !attack.targeted) throw unsupported(`attack '${attack.name}' has no targeted mode`);
    if (c.target === undefined || c.target === 'other') {
      if (victim.task === 'multiclass' || victim.task === 'ordinal')
        throw badArgument(`--targeted on a ${k}-class task needs --target CLASS (0..${k - 1})`);
      criterion = { kind: 'targeted', target: 'other' };
    } else {
      const s = String(c.target);
      const t = Number(s);
      const max = victim.task === 'multilabel' ? 2 : k;
      if (!/^\d+$/.test(s) || t >= max)
        throw badArgument(`--target must be a class between 0 and ${max - 1}, got '${s}'`);
      criterion = { kind: 'targeted', target: t };
    }
  }
  let label: LabelChoice = 'all';
  if (c.label !== undefined && c.label !== 'all') {
    const s = String(c.label);
    if (!/^\d+$/.test(s) || Number(s) >= k)
      throw badArgument(`--label must be 'all' or a label between 0 and ${k - 1}, got '${s}'`);
    label = Number(s);
  }
  if (victim.task === 'multilabel' && criterion.kind === 'targeted' && label === 'all')
    throw badArgument('a targeted attack on a multi-label head needs --label N');
  return { criterion, label };
}

/** Throw when the signal is aborted (verbs call it between batches and runs). */
export function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw badArgument('cancelled');
}

/** One progress sink feeding both `opts.progress` (a display) and `opts.onProgress` (a callback). */
export function progressOf(opts: VerbOptions, label: string, total: number): ProgressSink {
  const bar = opts.progress?.(label, total);
  return {
    update: (done, fields) => {
      bar?.update(done, fields);
      opts.onProgress?.(done, total, fields);
    },
    log: (line) => (bar?.log ? bar.log(line) : opts.onNote?.(line)),
    stop: () => bar?.stop(),
  };
}
