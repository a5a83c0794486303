/** `medshield train`: a shell over the library's `train` verb (src/api/train.ts). */
import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseFloatArg, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, type DataCli } from '../data-options.js';
import {
  train,
  trainText,
  ARCHITECTURES,
  ADVERSARIAL_METHODS,
  MIN_DEFAULT_STEPS,
  type Architecture,
  type AdversarialMethod,
} from '../../api/train.js';
import { progress, note } from '../progress.js';

interface TrainCli extends CommonOptions, DataCli {
  dataset: string;
  model: string;
  epochs?: number;
  out?: string;
  width?: number;
  batchSize: number;
  microBatch?: number;
  optimizer: 'adam' | 'sgd';
  lr?: number;
  schedule: 'cosine' | 'step' | 'constant';
  weightDecay: number;
  augment: boolean;
  flip?: boolean;
  classWeights: 'auto' | 'balanced' | 'none';
  patience: number;
  name?: string;
  adv?: AdversarialMethod;
  eps?: string;
  advSteps: number;
  beta?: number;
  noiseSigma?: number;
  limit?: number;
}

export default function register(program: Command): void {
  addImageSetOptions(
    withCommon(
      program
        .command('train')
        .description('train a classifier on a MedMNIST dataset or your own images and save it with its model card'),
    )
      .requiredOption(
        '--dataset <name|path|dir|csv>',
        'MedMNIST name (optionally with size, e.g. dermamnist_64), .npz path, ' +
          'image folder (one sub-folder per class) or labels CSV (file,label[,split])',
      )
      .option(
        '--input <size>',
        `image folder / CSV: resize to SIZE, HxW or HxWxC (default 28; channels: 3 if any image is colour)`,
      )
      .option('--model <arch>', `architecture: ${ARCHITECTURES.join(', ')}`, 'cnn')
      .option(
        '--epochs <n>',
        `training epochs (default: 10, or more on small sets so that ` +
          `training makes at least ${MIN_DEFAULT_STEPS} optimiser steps)`,
        parseIntArg('--epochs', 1, 100000),
      )
      .option('--out <dir>', 'directory to write the trained model to')
      .option('--width <n>', 'base width (channels of the first stage)', parseIntArg('--width', 4, 512))
      .option('--batch-size <n>', 'batch size', parseIntArg('--batch-size', 1, 65536), 128)
      .option(
        '--micro-batch <n>',
        'accumulate gradients over micro-batches of this size',
        parseIntArg('--micro-batch', 1, 65536),
      )
      .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adam', 'sgd']).default('adam'))
      .option('--lr <x>', 'learning rate (default adam 1e-3, sgd 0.05)', parseFloatArg('--lr', 1e-9, 10))
      .addOption(
        new Option('--schedule <name>', 'learning-rate schedule')
          .choices(['cosine', 'step', 'constant'])
          .default('cosine'),
      )
      .option('--weight-decay <x>', 'L2 weight decay on kernels', parseFloatArg('--weight-decay', 0, 1), 0)
      .option('--no-augment', 'turn off the default augmentation (random ±2-px translations)')
      .option('--flip', 'also random horizontal flips')
      .addOption(
        new Option('--class-weights <mode>', 'class weights: auto = balanced for binary tasks, none otherwise')
          .choices(['auto', 'balanced', 'none'])
          .default('auto'),
      )
      .option(
        '--patience <n>',
        'stop after N epochs without better validation AUC (0: off)',
        parseIntArg('--patience', 0, 100000),
        0,
      )
      .addOption(
        new Option(
          '--adv <method>',
          'adversarial training: pgd (Madry et al. 2018) or trades (Zhang et al. 2019); needs --eps',
        ).choices(ADVERSARIAL_METHODS),
      )
      .option('--eps <x>', 'L∞ radius for --adv, e.g. 8/255')
      .option('--adv-steps <n>', 'inner PGD steps for --adv (step 2.5·ε/steps)', parseIntArg('--adv-steps', 1, 1000), 7)
      .option('--beta <x>', 'TRADES trade-off β (default 6)', parseFloatArg('--beta', 0, 1e6))
      .option(
        '--noise-sigma <x>',
        'Gaussian noise augmentation N(0,σ²) for randomized smoothing (Cohen et al. 2019)',
        parseFloatArg('--noise-sigma', 0, 100),
      )
      .option(
        '--limit <n>',
        'train on a seeded sample of N training images (validation and test sets unchanged)',
        parseIntArg('--limit', 1, 1e9),
      )
      .option('--name <name>', 'model name in the card')
      .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'),
  ).action(
    action(async (o: TrainCli) => {
      await startEngine(o);
      const r = await train(
        {
          architecture: o.model as Architecture,
          epochs: o.epochs,
          out: o.out,
          width: o.width,
          batchSize: o.batchSize,
          microBatch: o.microBatch,
          optimizer: o.optimizer,
          lr: o.lr,
          schedule: o.schedule,
          weightDecay: o.weightDecay,
          augment: o.augment,
          flip: o.flip,
          classWeights: o.classWeights,
          patience: o.patience,
          name: o.name,
          adv: o.adv,
          eps: o.eps,
          advSteps: o.advSteps,
          beta: o.beta,
          noiseSigma: o.noiseSigma,
          seed: o.seed,
          data: {
            dataset: o.dataset,
            input: o.input,
            dataDir: o.dataDir,
            splitRatios: o.splitRatios,
            splitSeed: o.splitSeed,
            skipBad: o.skipBad,
            ...(o.limit !== undefined ? { limit: o.limit } : {}),
          },
        },
        { progress, onNote: note, command: ['medshield', ...process.argv.slice(2)].join(' ') },
      );
      if (o.json) return printJson(r.json);
      process.stdout.write(trainText(r));
    }),
  );
}
