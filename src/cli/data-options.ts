/**
 * The data a command runs on: `--dataset` (a MedMNIST name, an `.npz`, an image folder with one
 * sub-folder per class, or a `file,label[,split]` CSV) and the options of image folders
 * (`--split-ratios`, `--split-seed`, `--skip-bad`). Shared by every command that loads a model and
 * then its data; the loading itself lives in src/api/common.ts (DataRef).
 */
import type { Command } from 'commander';
import { parseIntArg } from './run.js';
import {
  openDataRef,
  openTrainingData,
  withImageSet,
  type Dataset,
  type ModelCard,
  type SplitName,
} from '../api/common.js';
import { note } from './progress.js';

export const DATASET_HELP =
  'MedMNIST name, .npz path, image folder (one sub-folder per class; PNG, JPEG, ' +
  "DICOM) or labels CSV (file,label[,split]); default: the model's own dataset";

export interface DataCli {
  dataset?: string;
  dataDir?: string;
  splitRatios?: string;
  splitSeed?: number;
  skipBad?: boolean;
  input?: string;
}

/** Add the image-folder options (--split-ratios, --split-seed, --skip-bad) to a command. */
export function addImageSetOptions(cmd: Command): Command {
  return cmd
    .option(
      '--split-ratios <r>',
      'image folder / CSV without a split column: train,val,test fractions of the seeded stratified split',
      '0.7,0.1,0.2',
    )
    .option(
      '--split-seed <n>',
      'seed of that split (independent of --seed)',
      parseIntArg('--split-seed', 0, 2 ** 32 - 1),
      0,
    )
    .option(
      '--skip-bad',
      'image folder / CSV: skip bad rows (missing file, unknown label, ' +
        'unreadable image) and list them in the result, instead of failing',
    );
}

/** Load the data for a model (src/api/common.ts openDataRef), image-set facts noted on stderr. */
export async function loadDataFor(
  o: DataCli,
  card: ModelCard | undefined,
  opts: { split?: SplitName | SplitName[]; fallback?: string } = {},
): Promise<Dataset> {
  return openDataRef(o, card, { ...opts, onNote: note });
}

/** `train`: an image folder / CSV resized to `--input` (default 28 px), classes from its labels. */
export async function loadTrainingData(o: DataCli): Promise<Dataset> {
  return openTrainingData(o, note);
}

export { withImageSet };
