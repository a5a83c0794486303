/**
 * The `patch` verb: adversarial patches (Brown et al., 2017) as Finlayson et al. (Science 2019) ran
 * them — white-box (trained on the model), black-box (trained on a surrogate) and the natural-patch
 * control, over a scale sweep; accuracy with each patch on held-out test images. `medshield patch`
 * is a shell over it.
 *
 *   const r = await patch({ modes: ['whitebox', 'natural'], scales: [0.1, 0.4], fitLimit: 200, steps: 50, data: {
 *   limit: 100 } });
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkInputMatches } from '../models/card.js';
import type { Model } from '../models/model.js';
import {
  patchExperiment,
  checkPatchRequest,
  PATCH_MODES,
  type PatchMode,
  type PatchResult,
} from '../attacks/physical/patch.js';
import { selectImages } from '../data/images.js';
import type { Criterion } from '../attacks/types.js';
import { encodePng } from '../eval/examples.js';
import { engineInfo } from '../engine/index.js';
import { badArgument } from '../errors.js';
import {
  DATA_REF_SCHEMA,
  MODEL_REF_SCHEMA,
  SEED_SCHEMA,
  loadModelRef,
  openDataRef,
  progressOf,
  validateSpec,
  withImageSet,
  type DataRef,
  type ModelRef,
  type VerbOptions,
} from './common.js';

export { PATCH_MODES, type PatchMode, type PatchResult };

export interface PatchSpec {
  model?: ModelRef;
  /** `limit`: the seeded sample of test images the patches are evaluated on (sample seed: seed + 1, as the CLI). */
  data?: DataRef;
  /** Patch kinds (default whitebox, natural): a list or "whitebox,natural". */
  modes?: PatchMode[] | string;
  /** Patch areas as fractions of the image (default 0.4): a list or "0.1,0.2". */
  scales?: number[] | string;
  /** The independently trained model a black-box patch is crafted on. */
  surrogate?: ModelRef;
  fitLimit?: number;
  steps?: number;
  batchSize?: number;
  /** Targeted patch: a class index, or 'other' on binary tasks (default untargeted). */
  target?: number | string;
  seed?: number;
  save?: { patch?: string; examples?: string; report?: string };
}

export const PATCH_SPEC_SCHEMA = {
  $id: 'medshield/patch-spec',
  type: 'object',
  additionalProperties: false,
  properties: {
    model: MODEL_REF_SCHEMA,
    data: DATA_REF_SCHEMA,
    seed: SEED_SCHEMA,
    surrogate: MODEL_REF_SCHEMA,
    modes: { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }], description: 'patch modes' },
    scales: {
      anyOf: [{ type: 'array', items: { type: 'number' } }, { type: 'string' }],
      description: 'fractions of the image area',
    },
    fitLimit: { type: 'integer', minimum: 1 },
    steps: { type: 'integer', minimum: 1, maximum: 1e6 },
    batchSize: { type: 'integer', minimum: 1, maximum: 4096 },
    target: { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string' }], description: "a class index or 'other'" },
    save: {
      type: 'object',
      additionalProperties: false,
      properties: { patch: { type: 'string' }, examples: { type: 'string' }, report: { type: 'string' } },
    },
  },
} as const;

export interface PatchRow {
  mode: PatchMode;
  scale: number;
  n: number;
  cleanAccuracy: number;
  patchedAccuracy: number;
  attackSuccessRate: number | null;
}

export interface PatchVerbResult {
  model: string;
  surrogate?: string;
  dataset: string;
  fitImages: number;
  rows: PatchRow[];
  runs: PatchResult[];
  /** Patch PNGs written (save.patch). */
  files: string[];
  /** The CLI's JSON (the rows, with image-set facts for folders). */
  json: unknown;
}

function parseScales(s: PatchSpec['scales']): number[] {
  const parts = Array.isArray(s)
    ? s.map(String)
    : (s ?? '0.4')
        .split(',')
        .map((p) => p.trim())
        .filter(Boolean);
  return parts.map((p) => {
    const v = Number(p);
    if (!Number.isFinite(v) || v <= 0 || v > 1)
      throw badArgument(`--scale must be fractions of the image area in (0, 1], got '${p}'`);
    return v;
  });
}

function criterionFor(model: Model, target?: number | string): Criterion {
  if (target === undefined) return { kind: 'untargeted' };
  const k = model.classes.length;
  const t = String(target);
  if (t === 'other') {
    if (model.task !== 'binary') throw badArgument(`--target other needs a binary task; give a class 0..${k - 1}`);
    return { kind: 'targeted', target: 'other' };
  }
  if (!/^\d+$/.test(t) || Number(t) >= k)
    throw badArgument(`--target must be a class between 0 and ${k - 1} or 'other', got '${t}'`);
  if (model.task === 'multilabel') throw badArgument('targeted patches on multi-label heads are not supported');
  return { kind: 'targeted', target: Number(t) };
}

export async function patch(input: PatchSpec, opts: VerbOptions & { command?: string } = {}): Promise<PatchVerbResult> {
  const spec = validateSpec<PatchSpec>(PATCH_SPEC_SCHEMA, input, 'patch spec');
  const modes = (Array.isArray(spec.modes) ? spec.modes : (spec.modes ?? 'whitebox,natural').split(','))
    .map((m) => m.trim())
    .filter(Boolean) as PatchMode[];
  for (const m of modes)
    if (!PATCH_MODES.includes(m)) throw badArgument(`unknown --mode '${m}' (choose ${PATCH_MODES.join(', ')})`);
  const scales = parseScales(spec.scales);
  if (modes.includes('blackbox') && !spec.surrogate)
    throw badArgument('--mode blackbox needs --surrogate DIR (an independently trained model to craft the patch on)');
  const seed = spec.seed ?? 0;
  const fitLimit = spec.fitLimit ?? 1000;
  await engineInfo();
  const model = await loadModelRef(spec.model ?? 'default');
  const surrogate = modes.includes('blackbox') && spec.surrogate ? await loadModelRef(spec.surrogate) : null;
  checkPatchRequest(model, surrogate, modes, scales);
  const criterion = criterionFor(model, spec.target);
  const ref: DataRef = spec.data ?? {};
  const data = await openDataRef(ref, model.card, { split: ['train', 'test'], onNote: opts.onNote });
  const split = data.splits.test;
  const shape = {
    height: split.height,
    width: split.width,
    channels: split.channels,
    classes: data.info.classes.length,
    task: data.info.task,
    name: data.name,
  };
  if (surrogate) checkInputMatches(surrogate.card, shape);
  const bar = progressOf(opts, 'patch', 100 * modes.length * scales.length);
  const test = selectImages(split, ref.limit, ref.sampleSeed ?? seed + 1);
  let runs: PatchResult[];
  try {
    runs = await patchExperiment(model, surrogate, data, {
      modes,
      scales,
      testImages: test,
      fitLimit,
      steps: spec.steps ?? 250,
      batchSize: spec.batchSize ?? 32,
      seed,
      criterion,
      onProgress: (what, done) => bar.update(Math.round(100 * done), { run: what }),
    });
  } finally {
    bar.stop();
  }
  const save = spec.save ?? {};
  const files = save.patch ? patchFiles(save.patch, runs, model.classes) : [];
  for (const f of files) {
    mkdirSync(path.dirname(path.resolve(f.file)), { recursive: true });
    writeFileSync(f.file, encodePng(f.patch, f.side, f.side, f.channels));
  }
  if (save.examples) saveExamples(save.examples, runs, test.x, test.shape, model.classes, test.labels);
  const fitImages = Math.min(fitLimit, data.splits.train.n);
  if (save.report) {
    const { writePatchReport } = await import('../report/patch.js');
    await writePatchReport(save.report, {
      model: model.card.name,
      surrogate: surrogate?.card.name,
      dataset: data.name,
      classes: model.classes,
      fitImages,
      runs,
      test,
      seed,
      command: opts.command ?? 'medshield patch',
    });
  }
  const rows = runs.map(({ mode, scale, n, cleanAccuracy, patchedAccuracy, attackSuccessRate }) => ({
    mode,
    scale,
    n,
    cleanAccuracy,
    patchedAccuracy,
    attackSuccessRate,
  }));
  return {
    model: model.card.name,
    surrogate: surrogate?.card.name,
    dataset: data.name,
    fitImages,
    rows,
    runs,
    files: files.map((f) => f.file),
    json: withImageSet(rows, data),
  };
}

/**
 * The files save.patch writes: file.png, or file-<mode>-<scale>[-on-<class>|-to-<class>].png when there are several
 * patches.
 */
function patchFiles(
  file: string,
  runs: PatchResult[],
  classes: string[],
): Array<{ file: string; patch: Float32Array; side: number; channels: number }> {
  const ext = path.extname(file) || '.png';
  const stem = path.extname(file) ? file.slice(0, -path.extname(file).length) : file;
  const many = runs.length > 1 || runs.some((r) => r.patches.length > 1);
  const tag = (v: string): string => v.replace(/[^\w.-]+/g, '_');
  return runs.flatMap((r) =>
    r.patches.map((p) => {
      const group =
        r.patches.length > 1
          ? `-${r.groupBy === 'target' ? 'to' : 'on'}-${tag(classes[p.group] ?? String(p.group))}`
          : '';
      return {
        file: many ? `${stem}-${r.mode}-${r.scale}${group}${ext}` : file,
        patch: p.patch,
        side: r.patchSize,
        channels: r.channels,
      };
    }),
  );
}

function saveExamples(
  dir: string,
  runs: PatchResult[],
  x: Float32Array,
  shape: [number, number, number],
  classes: string[],
  labels: Int32Array,
  count = 4,
): void {
  mkdirSync(dir, { recursive: true });
  const [h, w, c] = shape;
  const d = h * w * c;
  const up = Math.max(1, Math.round(112 / h));
  const name = (v: number | number[]): string =>
    Array.isArray(v)
      ? v
          .map((b, j) => (b ? classes[j] : null))
          .filter(Boolean)
          .join(', ') || 'none'
      : (classes[v] ?? String(v));
  const lw = labels.length / (x.length / d);
  const index = [];
  for (const r of runs) {
    const ev = r.evaluation;
    for (let i = 0; i < Math.min(count, ev.n); i++) {
      const base = `${r.mode}-scale${r.scale}-${String(i).padStart(3, '0')}`;
      writeFileSync(path.join(dir, `${base}-original.png`), encodePng(x.subarray(i * d, (i + 1) * d), h, w, c, up));
      writeFileSync(
        path.join(dir, `${base}-patched.png`),
        encodePng(ev.xPatched.subarray(i * d, (i + 1) * d), h, w, c, up),
      );
      index.push({
        mode: r.mode,
        scale: r.scale,
        image: i,
        label: name(lw > 1 ? Array.from(labels.subarray(i * lw, (i + 1) * lw)) : labels[i]),
        cleanPrediction: name(ev.cleanPred[i]),
        patchedPrediction: name(ev.patchedPred[i]),
        placement: ev.placements[i],
        files: [`${base}-original.png`, `${base}-patched.png`],
      });
    }
  }
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index, null, 2) + '\n');
}

/** The lines `medshield patch` prints without --json. */
export function patchText(r: PatchVerbResult): string {
  let out =
    `${r.model} on ${r.dataset}/test (n=${r.rows[0]?.n ?? 0}), patches made from ` +
    `${r.fitImages} training images${r.surrogate ? `, surrogate ${r.surrogate}` : ''}:\n`;
  for (const x of r.rows) {
    out +=
      `  ${x.mode.padEnd(8)} scale ${x.scale}: clean ${x.cleanAccuracy.toFixed(4)} → patched ` +
      `${x.patchedAccuracy.toFixed(4)}, success ` +
      `${x.attackSuccessRate === null ? '—' : x.attackSuccessRate.toFixed(4)}\n`;
  }
  if (r.files.length) out += `  patches: ${r.files.join(', ')}\n`;
  return out;
}
