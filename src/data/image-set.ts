/**
 * Your own images as a dataset: a folder with one sub-folder per class, or a CSV of
 * `file,label[,split]` rows (paths relative to the CSV). Files are PNG, JPEG or DICOM, recognised
 * by their magic bytes (image.ts); DICOM is windowed by its own VOI (window or VOI LUT) exactly as
 * `medshield predict` does, then every image is resized to the model's input with `toModelInput`
 * (area-average down / bilinear up, grey↔RGB; resize.ts), so the pixels the model sees are the ones
 * `predict` would feed it.
 *
 * Labels are class names (case-insensitive) or class indices. With a model, its card's classes
 * are the label set; without (training) the classes are the sorted distinct labels. Without a split
 * column the rows are split per class (stratified) with a seeded shuffle: for class c with n_c
 * images, round(n_c·r_train) go to train, round(n_c·r_val) to val and the rest to test — the same
 * files and seed always give the same split (scikit-learn's `train_test_split(stratify=…)` idea).
 *
 * Bad rows — a missing file, an unknown label, an unreadable image, a bad split value — are all
 * collected first and reported in one error line, or skipped with `skipBad` and listed in the result.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Rng } from '../engine/random.js';
import { badArgument, badInput, notFound, oneLine, unsupported } from '../errors.js';
import type { Dataset, Split, SplitName } from './dataset.js';
import { MEDMNIST, type DatasetInfo, type Task } from './medmnist.js';
import { decodeImage } from './image.js';
import { convertChannels, toModelInput } from './resize.js';

const SPLIT_NAMES: SplitName[] = ['train', 'val', 'test'];

/** Default training input when neither a model nor `--input` says: MedMNIST's 28 px. */
export const DEFAULT_IMAGE_SIZE = 28;
export const DEFAULT_SPLIT_RATIOS: [number, number, number] = [0.7, 0.1, 0.2];

export interface ImageSetOptions {
  /** The model input [h, w, c] to resize to; `c` may be omitted (null) to take 3 if any image is colour, else 1. */
  shape?: [number, number, number | null];
  /** The model's classes: labels must name one of them (or give its index). Absent: the data's own labels. */
  classes?: string[];
  /** The model's task (binary, multiclass, ordinal). Absent: binary for 2 classes, multiclass otherwise. */
  task?: Task;
  /** Train/val/test fractions for the seeded stratified split (default 0.7, 0.1, 0.2). */
  splitRatios?: [number, number, number];
  /** Seed of the split (default 0). */
  splitSeed?: number;
  /** Skip bad rows (and report them) instead of failing. */
  skipBad?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface BadRow {
  row?: number;
  file: string;
  reason: string;
}

/** What was loaded and how: recorded in every command's JSON result. */
export interface ImageSetFacts {
  kind: 'folder' | 'csv';
  source: string;
  images: number;
  classes: string[];
  /** How the images became model input. */
  input: { shape: [number, number, number]; resize: string; dicom: string };
  split: {
    from: 'column' | 'seeded-stratified';
    ratios?: [number, number, number];
    seed?: number;
    counts: Record<SplitName, number>;
    /** Per-class counts per split. */
    classCounts: Record<SplitName, number[]>;
    /** sha256 over the sorted `split\tfile` lines: the same value means the same split. */
    sha256: string;
  };
  /** Bad rows skipped with --skip-bad (empty otherwise). */
  skipped: BadRow[];
  /** Files of each split, in the order of the split's indices (relative to the folder or CSV). */
  files: Record<SplitName, string[]>;
}

/**
 * Does `spec` name an image folder or a labels CSV (as opposed to a MedMNIST name or `.npz`)? A bare MedMNIST name
 * stays MedMNIST (write `./name` for a folder of that name).
 */
export function isImageSetSpec(spec: string): boolean {
  if (/\.csv$/i.test(spec)) return true;
  const bare = /^([a-z]+)(?:_\d+)?$/i.exec(spec);
  if (bare && MEDMNIST[bare[1].toLowerCase()]) return false;
  try {
    return statSync(spec).isDirectory();
  } catch {
    return false;
  }
}

/** Parse `0.7,0.1,0.2` (fractions or weights; normalised to sum 1). */
export function parseSplitRatios(text: string): [number, number, number] {
  const parts = text.split(',').map((t) => t.trim());
  const v = parts.map(Number);
  if (parts.length !== 3 || parts.some((t) => t === '') || v.some((x) => !Number.isFinite(x) || x < 0)) {
    throw badArgument(
      `--split-ratios must be three non-negative numbers train,val,test (e.g. 0.7,0.1,0.2), got '${text}'`,
    );
  }
  const s = v[0] + v[1] + v[2];
  if (!(s > 0)) throw badArgument(`--split-ratios must not all be zero, got '${text}'`);
  return [v[0] / s, v[1] / s, v[2] / s];
}

/** Parse `--input 28`, `224x224` or `224x224x3` into [h, w, c|null]. */
export function parseInputSize(text: string): [number, number, number | null] {
  const m = /^\s*(\d+)(?:\s*[x×]\s*(\d+))?(?:\s*[x×]\s*(\d+))?\s*$/.exec(text);
  if (!m) throw badArgument(`--input must be SIZE, HxW or HxWxC (e.g. 28, 64x64, 224x224x3), got '${text}'`);
  const h = Number(m[1]);
  const w = m[2] ? Number(m[2]) : h;
  const c = m[3] ? Number(m[3]) : null;
  if (!(h >= 4 && h <= 4096 && w >= 4 && w <= 4096))
    throw badArgument(`--input sizes must be between 4 and 4096 pixels, got '${text}'`);
  if (c !== null && c !== 1 && c !== 3) throw badArgument(`--input channels must be 1 or 3, got '${text}'`);
  return [h, w, c];
}

interface Row {
  row?: number;
  file: string;
  abs: string;
  label: string;
  split?: string;
}

/** Minimal RFC 4180 CSV: commas, double-quoted fields with "" escapes, CRLF or LF line ends. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let field = '';
  let row: string[] = [];
  let quoted = false;
  let i = 0;
  if (text.charCodeAt(0) === 0xfeff) i = 1; // byte-order mark
  for (; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else field += ch;
    } else if (ch === '"' && field === '') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  if (quoted) throw badInput('CSV ends inside a quoted field');
  if (field !== '' || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows.filter((r) => !(r.length === 1 && r[0].trim() === ''));
}

const FILE_COLS = ['file', 'path', 'filename', 'image', 'file_name', 'filepath'];
const LABEL_COLS = ['label', 'class', 'target', 'diagnosis'];

function readCsvRows(csv: string, bad: BadRow[]): Row[] {
  let text: string;
  try {
    text = readFileSync(csv, 'utf8');
  } catch (e) {
    throw badInput(`${csv}: cannot read (${oneLine(e)})`);
  }
  const shown = path.basename(csv);
  let table: string[][];
  try {
    table = parseCsv(text);
  } catch (e) {
    throw badInput(`${shown}: ${oneLine(e)}`);
  }
  if (!table.length) throw badInput(`${shown}: the CSV is empty (expected file,label[,split] rows)`);
  const head = table[0].map((h) => h.trim().toLowerCase());
  let fileCol = 0;
  let labelCol = 1;
  let splitCol = -1;
  let start = 0;
  if (
    FILE_COLS.includes(head[0]) ||
    (head.some((h) => FILE_COLS.includes(h)) && head.some((h) => LABEL_COLS.includes(h)))
  ) {
    fileCol = head.findIndex((h) => FILE_COLS.includes(h));
    labelCol = head.findIndex((h) => LABEL_COLS.includes(h));
    splitCol = head.indexOf('split');
    if (fileCol < 0 || labelCol < 0)
      throw badInput(`${shown}: the header needs a 'file' and a 'label' column, got '${table[0].join(',')}'`);
    start = 1;
  } else if (table[0].length >= 3) splitCol = 2;
  const dir = path.dirname(csv);
  const rows: Row[] = [];
  for (let r = start; r < table.length; r++) {
    const cells = table[r];
    const file = (cells[fileCol] ?? '').trim();
    const label = (cells[labelCol] ?? '').trim();
    const split = splitCol >= 0 ? (cells[splitCol] ?? '').trim() : undefined;
    const rowNo = r + 1;
    if (!file) {
      bad.push({ row: rowNo, file: '', reason: 'no file name' });
      continue;
    }
    if (!label) {
      bad.push({ row: rowNo, file, reason: 'no label' });
      continue;
    }
    rows.push({ row: rowNo, file, abs: path.resolve(dir, file), label, split });
  }
  return rows;
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  )) {
    if (e.name.startsWith('.') || e.name === 'DICOMDIR') continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...listFiles(p));
    else if (e.isFile() || e.isSymbolicLink()) out.push(p);
  }
  return out;
}

function readFolderRows(root: string): Row[] {
  const rows: Row[] = [];
  const classDirs = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (!classDirs.length)
    throw badInput(`${root}: no class sub-folders (expected one sub-folder per class, e.g. ${root}/normal/*.png)`);
  for (const c of classDirs) {
    for (const f of listFiles(path.join(root, c)))
      rows.push({ file: path.relative(root, f).split(path.sep).join('/'), abs: f, label: c });
  }
  if (!rows.length) throw badInput(`${root}: the class sub-folders (${classDirs.join(', ')}) hold no files`);
  return rows;
}

const SPLIT_ALIASES: Record<string, SplitName> = {
  train: 'train',
  training: 'train',
  val: 'val',
  valid: 'val',
  validation: 'val',
  test: 'test',
  testing: 'test',
};

function naturalSort(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/** Map labels to class indices: by name (case-insensitive) first, then by index. */
function classIndex(classes: string[]): (label: string) => number {
  const byName = new Map(classes.map((c, i) => [c.trim().toLowerCase(), i]));
  return (label) => {
    const n = byName.get(label.toLowerCase());
    if (n !== undefined) return n;
    if (/^\d+$/.test(label) && Number(label) < classes.length) return Number(label);
    return -1;
  };
}

function describeBad(bad: BadRow[], total: number, where: string): string {
  const shown = bad.slice(0, 5).map((b) => `${b.row !== undefined ? `row ${b.row} ` : ''}'${b.file}': ${b.reason}`);
  const more = bad.length > 5 ? `; and ${bad.length - 5} more` : '';
  return (
    `${where}: ${bad.length} bad row${bad.length === 1 ? '' : 's'} of ` +
    `${total} (${shown.join('; ')}${more}); fix them or pass --skip-bad`
  );
}

/** Load an image folder or labels CSV as a Dataset with train/val/test splits at the model's input size. */
export async function loadImageSet(
  spec: string,
  opts: ImageSetOptions = {},
): Promise<Dataset & { imageSet: ImageSetFacts }> {
  if (!existsSync(spec)) throw notFound(`dataset '${spec}' does not exist`);
  const st = statSync(spec);
  const kind: 'folder' | 'csv' = st.isDirectory() ? 'folder' : 'csv';
  if (kind === 'csv' && !st.isFile()) throw badInput(`dataset '${spec}' is not a file`);
  if (opts.task === 'multilabel')
    throw unsupported(
      `image folders and CSVs give one label per image; a multi-label model needs a MedMNIST-layout .npz`,
    );
  const where = kind === 'folder' ? spec : path.basename(spec);
  const bad: BadRow[] = [];
  const rows = kind === 'folder' ? readFolderRows(spec) : readCsvRows(spec, bad);
  const totalRows = rows.length + bad.length;

  // Classes: the model's, or the data's own labels in natural order.
  const classes = opts.classes ?? [...new Set(rows.map((r) => r.label))].sort(naturalSort);
  if (classes.length < 2)
    throw badInput(`${where}: found ${classes.length} class (${classes.join(', ')}); a classifier needs at least 2`);
  const toIndex = classIndex(classes);

  // Check every row before decoding: file present, label known, split value valid.
  const usable: Array<Row & { y: number; s?: SplitName }> = [];
  for (const r of rows) {
    const y = toIndex(r.label);
    if (!existsSync(r.abs)) {
      bad.push({ row: r.row, file: r.file, reason: 'file not found' });
      continue;
    }
    if (!statSync(r.abs).isFile()) {
      bad.push({ row: r.row, file: r.file, reason: 'not a file' });
      continue;
    }
    if (y < 0) {
      bad.push({ row: r.row, file: r.file, reason: `unknown label '${r.label}' (classes: ${classes.join(', ')})` });
      continue;
    }
    let s: SplitName | undefined;
    if (r.split !== undefined) {
      s = SPLIT_ALIASES[r.split.toLowerCase()];
      if (!s) {
        bad.push({ row: r.row, file: r.file, reason: `split '${r.split}' is not train, val or test` });
        continue;
      }
    }
    usable.push({ ...r, y, s });
  }

  // Decode and resize every image (at its own channel count first when the channels are not fixed).
  const [h, w, cFixed] = opts.shape ?? [DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE, null];
  const decoded: Array<{ row: (typeof usable)[number]; px: Float32Array; channels: 1 | 3; sha: string }> = [];
  let done = 0;
  for (const r of usable) {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(r.abs));
    } catch (e) {
      bad.push({ row: r.row, file: r.file, reason: `cannot read (${oneLine(e)})` });
      continue;
    }
    try {
      const img = await decodeImage(bytes, r.file);
      const c = cFixed ?? img.channels;
      decoded.push({
        row: r,
        px: toModelInput(img, [h, w, c]),
        channels: c as 1 | 3,
        sha: createHash('sha256').update(bytes).digest('hex'),
      });
    } catch (e) {
      const msg = oneLine(e);
      bad.push({
        row: r.row,
        file: r.file,
        reason: `unreadable image (${msg.startsWith(`${r.file}: `) ? msg.slice(r.file.length + 2) : msg})`,
      });
    }
    opts.onProgress?.(++done, usable.length);
  }
  bad.sort((a, b) => (a.row ?? 0) - (b.row ?? 0) || naturalSort(a.file, b.file));
  if (bad.length && !opts.skipBad) throw badInput(describeBad(bad, totalRows, where));
  if (!decoded.length) throw badInput(`${where}: no usable images (${bad.length} bad rows skipped)`);
  const channels: 1 | 3 = cFixed !== null ? (cFixed as 1 | 3) : decoded.some((d) => d.channels === 3) ? 3 : 1;
  for (const d of decoded)
    if (d.channels !== channels) {
      d.px = convertChannels(d.px, h * w, d.channels, channels);
      d.channels = channels;
    }

  // Split: from the column, or seeded and stratified by class.
  const fromColumn = decoded.some((d) => d.row.s !== undefined);
  const ratios = opts.splitRatios ?? DEFAULT_SPLIT_RATIOS;
  const seed = opts.splitSeed ?? 0;
  const assign: SplitName[] = new Array(decoded.length);
  if (fromColumn)
    decoded.forEach((d, i) => {
      assign[i] = d.row.s!;
    });
  else {
    const rng = new Rng((seed ^ 0x5eed5) >>> 0);
    for (let c = 0; c < classes.length; c++) {
      const idx = decoded.map((d, i) => (d.row.y === c ? i : -1)).filter((i) => i >= 0);
      const order = Array.from(rng.shuffle(Int32Array.from(idx)) as Int32Array);
      const nTrain = Math.round(order.length * ratios[0]);
      const nVal = Math.min(order.length - nTrain, Math.round(order.length * ratios[1]));
      order.forEach((i, j) => {
        assign[i] = j < nTrain ? 'train' : j < nTrain + nVal ? 'val' : 'test';
      });
    }
  }

  const per = h * w * channels;
  const splits = {} as Record<SplitName, Split>;
  const files = {} as Record<SplitName, string[]>;
  const classCounts = {} as Record<SplitName, number[]>;
  for (const s of SPLIT_NAMES) {
    const members = decoded
      .map((d, i) => (assign[i] === s ? d : null))
      .filter((d): d is (typeof decoded)[number] => d !== null);
    const images = new Float32Array(members.length * per);
    const labels = new Int32Array(members.length);
    members.forEach((d, j) => {
      images.set(d.px, j * per);
      labels[j] = d.row.y;
    });
    splits[s] = { name: s, n: members.length, height: h, width: w, channels, images, labels, labelWidth: 1 };
    files[s] = members.map((d) => d.row.file);
    classCounts[s] = classes.map((_, c) => members.filter((d) => d.row.y === c).length);
  }
  const splitLines = decoded.map((d, i) => `${assign[i]}\t${d.row.file}\n`).sort();
  const splitSha = createHash('sha256').update(splitLines.join('')).digest('hex');
  const dataSha = createHash('sha256')
    .update(
      decoded
        .map((d, i) => `${d.row.file}\t${d.row.y}\t${assign[i]}\t${d.sha}\n`)
        .sort()
        .join(''),
    )
    .digest('hex');

  const name = path.basename(path.resolve(spec)).replace(/\.csv$/i, '');
  const task: Task = opts.task ?? (classes.length === 2 ? 'binary' : 'multiclass');
  const info: DatasetInfo = {
    name,
    title: name,
    task,
    channels,
    license: 'unknown',
    classes,
    samples: { train: splits.train.n, val: splits.val.n, test: splits.test.n },
    md5: {},
  };
  const facts: ImageSetFacts = {
    kind,
    source: spec,
    images: decoded.length,
    classes,
    input: {
      shape: [h, w, channels],
      resize:
        'area-average downscale / bilinear upscale (half-pixel centres); grey→RGB replication, RGB→grey BT.601 luma',
      dicom:
        "as predict: Modality LUT or rescale, the file's first VOI window " +
        "or VOI LUT (else the frame's min/max), MONOCHROME1 inverted; frame 0",
    },
    split: {
      from: fromColumn ? 'column' : 'seeded-stratified',
      ...(fromColumn ? {} : { ratios: ratios.map((r) => Math.round(r * 1e6) / 1e6) as [number, number, number], seed }),
      counts: { train: splits.train.n, val: splits.val.n, test: splits.test.n },
      classCounts,
      sha256: splitSha,
    },
    skipped: bad,
    files,
  };
  return { name, size: h, path: path.resolve(spec), sha256: dataSha, info, known: false, splits, imageSet: facts };
}

/** The facts for a JSON result: everything but the per-split file lists (kept short). */
export function imageSetSummary(f: ImageSetFacts): Omit<ImageSetFacts, 'files'> {
  const { files: _files, ...rest } = f;
  return rest;
}
