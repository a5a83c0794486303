/**
 * The model and data a command runs on: `--model`, `--dataset` (a MedMNIST name, an `.npz`, an image
 * folder with one sub-folder per class, or a `file,label[,split]` CSV), `--split`, `--data-dir` and the
 * options of image folders (`--split-ratios`, `--split-seed`, `--skip-bad`), as flag tables
 * (src/cli/flags.ts), and `dataRef`, the library's DataRef of them (src/api/common.ts loads it).
 */
import type { DataRef, SplitName } from '../api/common.js';
import type { FlagTable } from './flags.js';

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
  split?: SplitName;
  limit?: number;
}

/** `--model` (default: the shipped model) and `--dataset`. */
export const MODEL_DATA_FLAGS: FlagTable = {
  '--model <dir>; default default': "model directory, or 'default' for the shipped model",
  '--dataset <name|path|dir|csv>': DATASET_HELP,
};
export const SPLIT_FLAG: FlagTable = { '--split <name>; one of train|val|test; default test': 'split' };
export const DATA_DIR_FLAG: FlagTable = { '--data-dir <dir>': 'dataset cache directory (env MEDSHIELD_DATA)' };

/** The image-folder options: --split-ratios, --split-seed, --skip-bad. */
export const IMAGE_SET_FLAGS: FlagTable = {
  '--split-ratios <r>; default 0.7,0.1,0.2':
    'image folder / CSV without a split column: train,val,test fractions of the seeded stratified split',
  '--split-seed <n>; int 0..4294967295; default 0': 'seed of that split (independent of --seed)',
  '--skip-bad':
    'image folder / CSV: skip bad rows (missing file, unknown label, ' +
    'unreadable image) and list them in the result, instead of failing',
};

/** The DataRef of these options (`split` only for commands that have --split; `--limit` as `limit`). */
export function dataRef(o: DataCli): DataRef {
  const { dataset, limit, dataDir, splitRatios, splitSeed, skipBad } = o;
  return { dataset, ...('split' in o ? { split: o.split } : {}), limit, dataDir, splitRatios, splitSeed, skipBad };
}
