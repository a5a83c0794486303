/**
 * The data a command runs on: `--dataset` (a MedMNIST name, an `.npz`, an image folder with one
 * sub-folder per class, or a `file,label[,split]` CSV) and the options of image folders
 * (`--split-ratios`, `--split-seed`, `--skip-bad`). Shared by every command that loads a model and
 * then its data; the loading itself lives in src/data (dataset.ts, image-set.ts).
 */
import type { Command } from 'commander';
import { parseIntArg } from './run.js';
import { loadDataset, type Dataset, type SplitName } from '../data/dataset.js';
import { imageSetSummary, isImageSetSpec, parseInputSize, parseSplitRatios } from '../data/image-set.js';
import type { ModelCard } from '../models/card.js';
import { checkInputMatches } from '../models/card.js';
import { badArgument } from '../errors.js';
import { note } from './progress.js';

export const DATASET_HELP = "MedMNIST name, .npz path, image folder (one sub-folder per class; PNG, JPEG, DICOM) or labels CSV (file,label[,split]); default: the model's own dataset";

export interface DataCli {
  dataset?: string; dataDir?: string; splitRatios?: string; splitSeed?: number; skipBad?: boolean; input?: string;
}

/** Add the image-folder options (--split-ratios, --split-seed, --skip-bad) to a command. */
export function addImageSetOptions(cmd: Command): Command {
  return cmd
    .option('--split-ratios <r>', 'image folder / CSV without a split column: train,val,test fractions of the seeded stratified split', '0.7,0.1,0.2')
    .option('--split-seed <n>', 'seed of that split (independent of --seed)', parseIntArg('--split-seed', 0, 2 ** 32 - 1), 0)
    .option('--skip-bad', 'image folder / CSV: skip bad rows (missing file, unknown label, unreadable image) and list them in the result, instead of failing');
}

/**
 * Load the data for a model: `o.dataset`, or the card's own dataset. An image folder or CSV is
 * resized to the card's input shape and labelled with the card's classes; the data are then
 * checked against the card. `split` (when given) must hold images.
 */
export async function loadDataFor(o: DataCli, card: ModelCard | undefined, opts: { split?: SplitName | SplitName[]; fallback?: string } = {}): Promise<Dataset> {
  const spec = o.dataset ?? card?.dataset.name ?? opts.fallback;
  if (!spec) throw badArgument('give --dataset NAME|FILE|FOLDER|CSV');
  const imageSet = isImageSetSpec(spec);
  if (imageSet && !card) throw badArgument(`an image folder or CSV needs a model (its card gives the input size and classes)`);
  if (!imageSet && o.skipBad) throw badArgument('--skip-bad applies to image folders and CSVs only');
  const data = await loadDataset(spec, {
    dataDir: o.dataDir,
    imageSet: card ? {
      shape: card.input.shape, classes: card.dataset.classes, task: card.dataset.task,
      splitRatios: parseSplitRatios(o.splitRatios ?? '0.7,0.1,0.2'), splitSeed: o.splitSeed, skipBad: o.skipBad,
    } : undefined,
  });
  reportImageSet(data);
  checkSplits(data, opts.split);
  if (card) {
    const t = data.splits.test;
    checkInputMatches(card, { height: t.height, width: t.width, channels: t.channels, classes: data.info.classes.length, task: data.info.task, name: data.name });
  }
  return data;
}

/** `train`: an image folder / CSV resized to `--input` (default 28 px), classes from its labels. */
export async function loadTrainingData(o: DataCli): Promise<Dataset> {
  if (!o.dataset) throw badArgument('--dataset is required');
  const imageSet = isImageSetSpec(o.dataset);
  if (!imageSet && (o.skipBad || o.input)) throw badArgument(`${o.skipBad ? '--skip-bad' : '--input'} applies to image folders and CSVs only (a MedMNIST set has its own size: e.g. --dataset dermamnist_64)`);
  const data = await loadDataset(o.dataset, {
    dataDir: o.dataDir,
    imageSet: {
      shape: o.input ? parseInputSize(o.input) : undefined,
      splitRatios: parseSplitRatios(o.splitRatios ?? '0.7,0.1,0.2'), splitSeed: o.splitSeed, skipBad: o.skipBad,
    },
  });
  reportImageSet(data);
  checkSplits(data, ['train', 'val', 'test']);
  return data;
}

function reportImageSet(data: Dataset): void {
  const f = data.imageSet;
  if (!f) return;
  const c = f.split.counts;
  note(`medshield: ${f.kind} ${f.source}: ${f.images} images of ${f.classes.length} classes at ${f.input.shape.join('×')} (train ${c.train}, val ${c.val}, test ${c.test}${f.split.from === 'column' ? ', from the split column' : `, seeded stratified split ${f.split.ratios!.join('/')} seed ${f.split.seed}`})${f.skipped.length ? `; skipped ${f.skipped.length} bad rows` : ''}`);
}

function checkSplits(data: Dataset, split: SplitName | SplitName[] | undefined): void {
  if (!data.imageSet || !split) return;
  for (const s of Array.isArray(split) ? split : [split]) {
    if (data.splits[s].n === 0) {
      const how = data.imageSet.split.from === 'column' ? 'its split column names none' : `--split-ratios ${data.imageSet.split.ratios!.join(',')} leaves none`;
      throw badArgument(`the ${s} split of '${data.imageSet.source}' is empty (${how}); ${Array.isArray(split) ? 'train needs images in train, val and test' : 'choose another --split or set --split-ratios, e.g. 0,0,1 to use every image as test'}`);
    }
  }
}

/** Record an image set's facts (source, split, skipped rows) in a JSON result: an object gets `imageSet`, an array's items each get it. */
export function withImageSet<T>(out: T, data: Dataset): T {
  if (!data.imageSet) return out;
  const facts = imageSetSummary(data.imageSet);
  if (Array.isArray(out)) return out.map((x) => (x && typeof x === 'object' ? { ...x, imageSet: facts } : x)) as T;
  if (out && typeof out === 'object') return { ...out, imageSet: facts };
  return out;
}
