/**
 * MedMNIST datasets: resolve a `--dataset` spec (a MedMNIST name with an optional size suffix
 * such as `dermamnist_64`, or the path of an `.npz` in MedMNIST's layout), find or download the
 * file, and load its official train/val/test splits.
 *
 * Search order for a name: the embedded default (`data/` in the repo), the shared data folder
 * beside the repo (`../shared/data/medmnist/`), then the cache (`--data-dir`, env MEDSHIELD_DATA,
 * `~/.cache/medshield`). A missing file is downloaded from the official record with an md5 check
 * unless env MEDSHIELD_OFFLINE=1.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { tf, Rng } from '../engine/index.js';
import { badArgument, badInput, notFound } from '../errors.js';
import { PACKAGE_ROOT } from '../version.js';
import { readNpz, type NpyArray } from './npz.js';
import { MEDMNIST, SIZES, downloadUrl, fileName, type DatasetInfo, type Size, type Task } from './medmnist.js';
import { cacheDir, downloadFile } from './download.js';
import { isImageSetSpec, loadImageSet, type ImageSetFacts, type ImageSetOptions } from './image-set.js';

export type SplitName = 'train' | 'val' | 'test';
export const SPLITS: SplitName[] = ['train', 'val', 'test'];

export interface Split {
  name: SplitName;
  n: number;
  height: number;
  width: number;
  channels: number;
  /** N×H×W×C pixels: uint8 (0–255) or float32 already in [0,1]. */
  images: Uint8Array | Float32Array;
  /** N×labelWidth integer labels. */
  labels: Int32Array;
  labelWidth: number;
}

export interface Dataset {
  /** MedMNIST name (or the file's base name for an unknown set given by path). */
  name: string;
  size: number;
  path: string;
  sha256: string;
  info: DatasetInfo;
  /** True when name/task/classes came from MedMNIST's metadata, false when inferred from the file. */
  known: boolean;
  splits: Record<SplitName, Split>;
  /** Set for an image folder or labels CSV (image-set.ts): how it was read, split and resized. */
  imageSet?: ImageSetFacts;
}

export interface ResolveOptions {
  dataDir?: string;
  /** Download a missing MedMNIST file (default: true unless MEDSHIELD_OFFLINE=1). */
  download?: boolean;
  onProgress?: (done: number, total: number | null) => void;
  /** Look only in the cache (not the embedded or shared folders), as `medshield datasets download` does. */
  cacheOnly?: boolean;
  /** For an image folder or labels CSV: the model's input, classes and task, the split and --skip-bad. */
  imageSet?: ImageSetOptions;
}

/** Parse `name`, `name_64` → { name, size } if it is a MedMNIST name. */
export function parseDatasetName(spec: string): { name: string; size: Size } | null {
  const m = /^([a-z]+)(?:_(\d+))?$/.exec(spec.toLowerCase());
  if (!m || !MEDMNIST[m[1]]) return null;
  const size = m[2] ? Number(m[2]) : 28;
  if (!(SIZES as readonly number[]).includes(size))
    throw badArgument(`dataset '${spec}': MedMNIST sizes are ${SIZES.join(', ')}, not ${size}`);
  return { name: m[1], size: size as Size };
}

export function embeddedDir(): string {
  return path.join(PACKAGE_ROOT, 'data');
}
export function sharedDir(): string {
  return path.join(PACKAGE_ROOT, '..', 'shared', 'data', 'medmnist');
}

/** Where a MedMNIST file would be found locally, or null. */
export function findLocal(name: string, size: Size, dataDir?: string, cacheOnly = false): string | null {
  const file = fileName(name, size);
  for (const dir of cacheOnly ? [cacheDir(dataDir)] : [embeddedDir(), sharedDir(), cacheDir(dataDir)]) {
    const p = path.join(dir, file);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Sizes of a MedMNIST set available without downloading. */
export function localSizes(name: string, dataDir?: string): Size[] {
  return SIZES.filter((s) => findLocal(name, s, dataDir) !== null);
}

function looksLikePath(spec: string): boolean {
  return spec.includes('/') || spec.includes(path.sep) || spec.toLowerCase().endsWith('.npz');
}

/** Resolve a spec to a local file, downloading a MedMNIST file if needed. */
export async function resolveDatasetFile(
  spec: string,
  opts: ResolveOptions = {},
): Promise<{ path: string; name: string; size: number | null }> {
  if (!spec) throw badArgument('--dataset is required');
  if (looksLikePath(spec)) {
    if (!existsSync(spec)) throw notFound(`dataset file '${spec}' does not exist`);
    if (!statSync(spec).isFile()) throw badInput(`dataset '${spec}' is not a file`);
    const base = path.basename(spec).replace(/\.npz$/i, '');
    const parsed = (() => {
      try {
        return parseDatasetName(base);
      } catch {
        return null;
      }
    })();
    return { path: spec, name: parsed?.name ?? base, size: parsed?.size ?? null };
  }
  const parsed = parseDatasetName(spec);
  if (!parsed)
    throw notFound(`unknown dataset '${spec}' (see 'medshield datasets list', or give the path of an .npz file)`);
  const local = findLocal(parsed.name, parsed.size, opts.dataDir, opts.cacheOnly);
  if (local) return { path: local, name: parsed.name, size: parsed.size };
  const allowed = opts.download ?? process.env.MEDSHIELD_OFFLINE !== '1';
  if (!allowed)
    throw notFound(
      `dataset '${spec}' is not available locally and downloads are off (MEDSHIELD_OFFLINE=1); ` +
        `put ${fileName(parsed.name, parsed.size)} in ${cacheDir(opts.dataDir)}`,
    );
  const dest = path.join(cacheDir(opts.dataDir), fileName(parsed.name, parsed.size));
  const md5 = MEDMNIST[parsed.name].md5[parsed.size];
  await downloadFile(downloadUrl(parsed.name, parsed.size), dest, { md5, onProgress: opts.onProgress });
  return { path: dest, name: parsed.name, size: parsed.size };
}

function toSplit(name: SplitName, images: NpyArray, labels: NpyArray, file: string): Split {
  const s = images.shape;
  if (s.length !== 3 && s.length !== 4)
    throw badInput(`${file}: ${name}_images must have shape (N,H,W) or (N,H,W,C), got (${s.join(',')})`);
  const [n, h, w] = s;
  const c = s.length === 4 ? s[3] : 1;
  if (c !== 1 && c !== 3) throw badInput(`${file}: ${name}_images has ${c} channels; 1 or 3 are supported`);
  const l = labels.shape;
  if (l[0] !== n) throw badInput(`${file}: ${name}_labels has ${l[0]} rows but ${name}_images has ${n}`);
  const labelWidth = l.length === 1 ? 1 : l.slice(1).reduce((a, b) => a * b, 1);
  let img: Uint8Array | Float32Array;
  if (images.data instanceof Uint8Array) img = images.data;
  else if (images.data instanceof Float32Array || images.data instanceof Float64Array) {
    let max = 0;
    let bad = 0;
    for (let i = 0; i < images.data.length; i++) {
      const v = images.data[i];
      if (!Number.isFinite(v)) bad++;
      else if (v > max) max = v;
    }
    // NaN would pass the clamp below unchanged and ±Inf would be clamped to 0/1: refuse rather than evaluate silently.
    if (bad)
      throw badInput(
        `${file}: split '${name}' has ${bad} NaN/Inf pixel value${bad === 1 ? '' : 's'} in ${name}_images`,
      );
    const scale = max > 1 ? 1 / 255 : 1;
    img = Float32Array.from(images.data, (v) => Math.min(1, Math.max(0, v * scale)));
  } else throw badInput(`${file}: ${name}_images has dtype ${images.dtype}; uint8 or float images are supported`);
  const lab = Int32Array.from(labels.data as ArrayLike<number>);
  return { name, n, height: h, width: w, channels: c, images: img, labels: lab, labelWidth };
}

function inferInfo(base: string, train: Split, all: Split[]): DatasetInfo {
  let max = 0;
  for (const sp of all) for (let i = 0; i < sp.labels.length; i++) max = Math.max(max, sp.labels[i]);
  const multilabel = train.labelWidth > 1;
  const k = multilabel ? train.labelWidth : max + 1;
  const task: Task = multilabel ? 'multilabel' : k === 2 ? 'binary' : 'multiclass';
  return {
    name: base,
    title: base,
    task,
    channels: train.channels as 1 | 3,
    license: 'unknown',
    classes: Array.from({ length: Math.max(k, 2) }, (_, i) => `class ${i}`),
    samples: { train: all[0].n, val: all[1].n, test: all[2].n },
    md5: {},
  };
}

/** Load a dataset by MedMNIST name or `.npz` path, or an image folder / labels CSV (image-set.ts). */
export async function loadDataset(spec: string, opts: ResolveOptions = {}): Promise<Dataset> {
  if (spec && isImageSetSpec(spec)) return loadImageSet(spec, opts.imageSet);
  const file = await resolveDatasetFile(spec, opts);
  const bytes = new Uint8Array(readFileSync(file.path));
  const shown = path.basename(file.path);
  const arrays = readNpz(bytes, shown);
  const splits = {} as Record<SplitName, Split>;
  for (const s of SPLITS) {
    const im = arrays[`${s}_images`];
    const lb = arrays[`${s}_labels`];
    if (!im || !lb)
      throw badInput(
        `${shown}: not in MedMNIST's layout (missing '${s}_images' ` +
          `or '${s}_labels'; found ${Object.keys(arrays).join(', ')})`,
      );
    splits[s] = toSplit(s, im, lb, shown);
  }
  const t = splits.train;
  for (const s of SPLITS) {
    const sp = splits[s];
    if (
      sp.height !== t.height ||
      sp.width !== t.width ||
      sp.channels !== t.channels ||
      sp.labelWidth !== t.labelWidth
    ) {
      throw badInput(
        `${shown}: split '${s}' has images ${sp.height}×${sp.width}×` +
          `${sp.channels} but train has ${t.height}×${t.width}×${t.channels}`,
      );
    }
  }
  const meta = MEDMNIST[file.name];
  let info: DatasetInfo;
  let known = false;
  if (
    meta &&
    meta.channels === t.channels &&
    (meta.task === 'multilabel' ? t.labelWidth === meta.classes.length : t.labelWidth === 1)
  ) {
    info = meta;
    known = true;
    const k = meta.classes.length;
    if (meta.task !== 'multilabel') {
      for (const sp of SPLITS.map((s) => splits[s]))
        for (let i = 0; i < sp.labels.length; i++) {
          if (sp.labels[i] < 0 || sp.labels[i] >= k)
            throw badInput(
              `${shown}: label ${sp.labels[i]} in split '${sp.name}' is outside 0..${k - 1} for ${meta.title}`,
            );
        }
    }
  } else {
    info = inferInfo(
      file.name,
      t,
      SPLITS.map((s) => splits[s]),
    );
  }
  if (file.size !== null && t.height !== file.size)
    throw badInput(
      `${shown}: images are ${t.height}×${t.width}, expected ${file.size}×${file.size} from the file name`,
    );
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { name: file.name, size: t.height, path: file.path, sha256, info, known, splits };
}

/** Images at `indices` as a float tensor [n,H,W,C] in [0,1]. */
export function batchImages(split: Split, indices: ArrayLike<number>): tf.Tensor4D {
  const per = split.height * split.width * split.channels;
  const out = new Float32Array(indices.length * per);
  const src = split.images;
  const scale = src instanceof Uint8Array ? 1 / 255 : 1;
  for (let j = 0; j < indices.length; j++) {
    const off = indices[j] * per;
    for (let k = 0; k < per; k++) out[j * per + k] = src[off + k] * scale;
  }
  return tf.tensor4d(out, [indices.length, split.height, split.width, split.channels]);
}

/** Labels at `indices` (n × labelWidth). */
export function batchLabels(split: Split, indices: ArrayLike<number>): Int32Array {
  const w = split.labelWidth;
  const out = new Int32Array(indices.length * w);
  for (let j = 0; j < indices.length; j++)
    for (let k = 0; k < w; k++) out[j * w + k] = split.labels[indices[j] * w + k];
  return out;
}

/** Count of each class label in a split (single-label tasks). */
export function labelCounts(split: Split, numClasses: number): number[] {
  const c = new Array<number>(numClasses).fill(0);
  if (split.labelWidth !== 1) {
    for (let i = 0; i < split.labels.length; i++) if (split.labels[i]) c[i % split.labelWidth]++;
    return c;
  }
  for (let i = 0; i < split.n; i++) c[split.labels[i]]++;
  return c;
}

/** Optionally keep the first `limit` samples of a split (for quick runs). */
export function limitSplit(split: Split, limit?: number): Split {
  if (limit === undefined || limit >= split.n) return split;
  if (!Number.isInteger(limit) || limit < 1) throw badArgument(`--limit must be a positive integer, got ${limit}`);
  const per = split.height * split.width * split.channels;
  return {
    ...split,
    n: limit,
    images: split.images.subarray(0, limit * per),
    labels: split.labels.subarray(0, limit * split.labelWidth),
  };
}

/**
 * A seeded random subset of `n` samples (in their original order). Splits may be sorted by class, so never take the
 * first N for training.
 */
export function sampleSplit(split: Split, n: number, seed: number): Split {
  if (n >= split.n) return split;
  const rng = new Rng(seed);
  const idx = Array.from(
    (rng.shuffle(Int32Array.from({ length: split.n }, (_, i) => i)) as Int32Array).subarray(0, n),
  ).sort((a, b) => a - b);
  const per = split.height * split.width * split.channels;
  const images = split.images instanceof Uint8Array ? new Uint8Array(n * per) : new Float32Array(n * per);
  const labels = new Int32Array(n * split.labelWidth);
  idx.forEach((src, j) => {
    images.set(split.images.subarray(src * per, (src + 1) * per), j * per);
    labels.set(split.labels.subarray(src * split.labelWidth, (src + 1) * split.labelWidth), j * split.labelWidth);
  });
  return { ...split, n, images, labels };
}
