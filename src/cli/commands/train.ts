/** `medshield train`: a shell over the library's `train` verb (src/api/train.ts). */
import type { Command } from 'commander';
import { action, commandLine, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addFlags, pick } from '../flags.js';
import { DATA_DIR_FLAG, IMAGE_SET_FLAGS, type DataCli } from '../data-options.js';
import {
  train,
  trainText,
  ARCHITECTURES,
  ADVERSARIAL_METHODS,
  MIN_DEFAULT_STEPS,
  type TrainSpec,
} from '../../api/train.js';
import { progress, note } from '../progress.js';

interface TrainCli extends CommonOptions, DataCli {
  model: string;
}

const FLAGS = {
  '--dataset <name|path|dir|csv>; required':
    'MedMNIST name (optionally with size, e.g. dermamnist_64), .npz path, ' +
    'image folder (one sub-folder per class) or labels CSV (file,label[,split])',
  '--input <size>': 'image folder / CSV: resize to SIZE, HxW or HxWxC (default 28; channels: 3 if any image is colour)',
  '--model <arch>; default cnn': `architecture: ${ARCHITECTURES.join(', ')}`,
  '--epochs <n>; int 1..100000':
    `training epochs (default: 10, or more on small sets so that ` +
    `training makes at least ${MIN_DEFAULT_STEPS} optimiser steps)`,
  '--out <dir>': 'directory to write the trained model to',
  '--width <n>; int 4..512': 'base width (channels of the first stage)',
  '--batch-size <n>; int 1..65536; default 128': 'batch size',
  '--micro-batch <n>; int 1..65536': 'accumulate gradients over micro-batches of this size',
  '--optimizer <name>; one of adam|sgd; default adam': 'optimizer',
  '--lr <x>; num 1e-9..10': 'learning rate (default adam 1e-3, sgd 0.05)',
  '--schedule <name>; one of cosine|step|constant; default cosine': 'learning-rate schedule',
  '--weight-decay <x>; num 0..1; default 0': 'L2 weight decay on kernels',
  '--no-augment': 'turn off the default augmentation (random ±2-px translations)',
  '--flip': 'also random horizontal flips',
  '--class-weights <mode>; one of auto|balanced|none; default auto':
    'class weights: auto = balanced for binary tasks, none otherwise',
  '--patience <n>; int 0..100000; default 0': 'stop after N epochs without better validation AUC (0: off)',
  [`--adv <method>; one of ${ADVERSARIAL_METHODS.join('|')}`]:
    'adversarial training: pgd (Madry et al. 2018) or trades (Zhang et al. 2019); needs --eps',
  '--eps <x>': 'L∞ radius for --adv, e.g. 8/255',
  '--adv-steps <n>; int 1..1000; default 7': 'inner PGD steps for --adv (step 2.5·ε/steps)',
  '--beta <x>; num 0..1e6': 'TRADES trade-off β (default 6)',
  '--noise-sigma <x>; num 0..100': 'Gaussian noise augmentation N(0,σ²) for randomized smoothing (Cohen et al. 2019)',
  '--limit <n>; int 1..1e9': 'train on a seeded sample of N training images (validation and test sets unchanged)',
  '--name <name>': 'model name in the card',
};
const SPEC =
  'epochs out width batchSize microBatch optimizer lr schedule weightDecay augment flip classWeights patience ' +
  'name adv eps advSteps beta noiseSigma seed';

export default function register(program: Command): void {
  const about = 'train a classifier on a MedMNIST dataset or your own images and save it with its model card';
  addFlags(withCommon(program.command('train').description(about)), FLAGS, DATA_DIR_FLAG, IMAGE_SET_FLAGS).action(
    action(async (o: TrainCli) => {
      await startEngine(o);
      const data = pick<TrainSpec['data']>(o, 'dataset input dataDir splitRatios splitSeed skipBad');
      if (o.limit !== undefined) data.limit = o.limit;
      const spec: TrainSpec = { architecture: o.model as TrainSpec['architecture'], ...pick(o, SPEC), data };
      const r = await train(spec, { progress, onNote: note, command: commandLine() });
      if (o.json) return printJson(r.json);
      process.stdout.write(trainText(r));
    }),
  );
}
