import type { Command } from 'commander';
import { Option } from 'commander';
import { action, parseFloatArg, parseIntArg, printJson, startEngine, withCommon, type CommonOptions } from '../run.js';
import { addImageSetOptions, loadTrainingData, withImageSet, type DataCli } from '../data-options.js';
import { ARCHITECTURES, type Architecture } from '../../models/architectures.js';
import { newClassifier, fitClassifier } from '../../models/factory.js';
import { saveModel } from '../../models/io.js';
import { badArgument } from '../../errors.js';
import { progress, note } from '../progress.js';
import { ADVERSARIAL_METHODS, adversarialTraining, type AdversarialMethod } from '../../defences/adversarial-training.js';
import { noiseAugmentation } from '../../defences/smoothing.js';
import { parseEpsilon } from '../../attacks/epsilon.js';
import type { BatchHook } from '../../models/train.js';
import { defaultEpochs, trainAdvice, MIN_DEFAULT_STEPS } from '../../models/train-advice.js';

interface TrainCli extends CommonOptions, DataCli {
  dataset: string; model: string; epochs?: number; out?: string; width?: number; batchSize: number; microBatch?: number;
  optimizer: 'adam' | 'sgd'; lr?: number; schedule: 'cosine' | 'step' | 'constant'; weightDecay: number;
  augment: boolean; flip?: boolean; classWeights: 'auto' | 'balanced' | 'none'; patience: number; name?: string;
  adv?: AdversarialMethod; eps?: string; advSteps: number; beta?: number; noiseSigma?: number;
}

export default function register(program: Command): void {
  addImageSetOptions(withCommon(program.command('train').description('train a classifier on a MedMNIST dataset or your own images and save it with its model card'))
    .requiredOption('--dataset <name|path|dir|csv>', 'MedMNIST name (optionally with size, e.g. dermamnist_64), .npz path, image folder (one sub-folder per class) or labels CSV (file,label[,split])')
    .option('--input <size>', `image folder / CSV: resize to SIZE, HxW or HxWxC (default 28; channels: 3 if any image is colour)`)
    .option('--model <arch>', `architecture: ${ARCHITECTURES.join(', ')}`, 'cnn')
    .option('--epochs <n>', `training epochs (default: 10, or more on small sets so that training makes at least ${MIN_DEFAULT_STEPS} optimiser steps)`, parseIntArg('--epochs', 1, 100000))
    .option('--out <dir>', 'directory to write the trained model to')
    .option('--width <n>', 'base width (channels of the first stage)', parseIntArg('--width', 4, 512))
    .option('--batch-size <n>', 'batch size', parseIntArg('--batch-size', 1, 65536), 128)
    .option('--micro-batch <n>', 'accumulate gradients over micro-batches of this size', parseIntArg('--micro-batch', 1, 65536))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adam', 'sgd']).default('adam'))
    .option('--lr <x>', 'learning rate (default adam 1e-3, sgd 0.05)', parseFloatArg('--lr', 1e-9, 10))
    .addOption(new Option('--schedule <name>', 'learning-rate schedule').choices(['cosine', 'step', 'constant']).default('cosine'))
    .option('--weight-decay <x>', 'L2 weight decay on kernels', parseFloatArg('--weight-decay', 0, 1), 0)
    .option('--no-augment', 'turn off the default augmentation (random ±2-px translations)')
    .option('--flip', 'also random horizontal flips')
    .addOption(new Option('--class-weights <mode>', 'class weights: auto = balanced for binary tasks, none otherwise').choices(['auto', 'balanced', 'none']).default('auto'))
    .option('--patience <n>', 'stop after N epochs without better validation AUC (0: off)', parseIntArg('--patience', 0, 100000), 0)
    .addOption(new Option('--adv <method>', 'adversarial training: pgd (Madry et al. 2018) or trades (Zhang et al. 2019); needs --eps').choices(ADVERSARIAL_METHODS))
    .option('--eps <x>', 'L∞ radius for --adv, e.g. 8/255')
    .option('--adv-steps <n>', 'inner PGD steps for --adv (step 2.5·ε/steps)', parseIntArg('--adv-steps', 1, 1000), 7)
    .option('--beta <x>', 'TRADES trade-off β (default 6)', parseFloatArg('--beta', 0, 1e6))
    .option('--noise-sigma <x>', 'Gaussian noise augmentation N(0,σ²) for randomized smoothing (Cohen et al. 2019)', parseFloatArg('--noise-sigma', 0, 100))
    .option('--name <name>', 'model name in the card')
    .option('--data-dir <dir>', 'dataset cache directory (env MEDSHIELD_DATA)'))
    .action(action(async (o: TrainCli) => {
      if (!ARCHITECTURES.includes(o.model as Architecture)) throw badArgument(`unknown model '${o.model}' (choose ${ARCHITECTURES.join(', ')})`);
      if (o.flip && !o.augment) throw badArgument('--flip needs --augment');
      if (o.adv && o.eps === undefined) throw badArgument(`--adv ${o.adv} needs --eps (e.g. --eps 8/255)`);
      if (!o.adv && (o.eps !== undefined || o.beta !== undefined)) throw badArgument('--eps and --beta apply to adversarial training only (add --adv pgd|trades)');
      if (o.adv && o.noiseSigma !== undefined) throw badArgument('choose one training defence: --adv or --noise-sigma');
      if (o.noiseSigma !== undefined && !(o.noiseSigma > 0)) throw badArgument(`--noise-sigma must be greater than 0, got ${o.noiseSigma}`);
      const engine = await startEngine(o);
      const data = await loadTrainingData(o);
      const model = newClassifier(o.model as Architecture, data, { width: o.width, seed: o.seed, name: o.name });
      let batchHook: BatchHook | undefined;
      if (o.adv) batchHook = adversarialTraining({ method: o.adv, eps: parseEpsilon(o.eps!), steps: o.advSteps, beta: o.beta }, model.task);
      else if (o.noiseSigma !== undefined) batchHook = noiseAugmentation(o.noiseSigma);
      const steps = Math.ceil(data.splits.train.n / o.batchSize);
      const epochs = o.epochs ?? defaultEpochs(data.splits.train.n, o.batchSize);
      if (o.epochs === undefined && epochs > 10) note(`medshield: ${data.splits.train.n} training images are ${steps} optimiser steps per epoch at batch ${o.batchSize}: training ${epochs} epochs (≥ ${MIN_DEFAULT_STEPS} steps); set --epochs to choose`);
      const bar = progress(`train ${o.model}`, steps * epochs);
      note(`training ${o.model} (width ${model.card.architecture.width}, ${model.card.architecture.parameters} parameters) on ${data.name} (${data.splits.train.n} train images) with the ${engine.backend} backend`);
      const fit = await fitClassifier(model, data, {
        epochs, batchSize: o.batchSize, microBatch: o.microBatch, optimizer: o.optimizer, learningRate: o.lr,
        schedule: o.schedule, weightDecay: o.weightDecay, augment: o.augment, flip: !!o.flip, classWeights: o.classWeights,
        patience: o.patience, seed: o.seed, batchHook,
        onEvent: (e) => {
          if (e.type === 'step') bar.update((e.epoch - 1) * steps + e.step, { epoch: `${e.epoch}/${epochs}`, loss: e.loss.toFixed(4) });
          else bar.log(`epoch ${e.epoch}/${e.epochs}  loss ${e.loss.toFixed(4)}  val acc ${e.val.accuracy.toFixed(4)}  val auc ${e.val.auc.toFixed(4)}${e.valScore !== undefined ? `  val robust (balanced) ${e.valScore.toFixed(4)}` : ''}${e.best ? '  *best' : ''}  (${e.seconds.toFixed(1)} s)`);
        },
      });
      bar.stop();
      const advice = trainAdvice(fit.training, epochs);
      if (advice.warning) note(`medshield: warning: ${advice.warning}`);
      model.card.training!.command = ['medshield', ...process.argv.slice(2)].join(' ');
      if (o.out) await saveModel(model, o.out);
      const result = {
        dataset: data.name, model: o.model, epochs, seed: o.seed,
        val: { accuracy: fit.val.accuracy, auc: fit.val.auc }, test: { accuracy: fit.test.accuracy, auc: fit.test.auc },
        n: { train: data.splits.train.n, val: data.splits.val.n, test: data.splits.test.n },
        seconds: model.card.training!.seconds,
        ...(o.out ? { out: o.out } : {}), bestEpoch: fit.training.bestEpoch, epochsRun: fit.training.epochsRun, backend: engine.backend,
        ...(advice.warning ? { stillImproving: { reasons: advice.reasons, suggestedEpochs: advice.suggestedEpochs }, warning: advice.warning } : {}),
        ...(model.card.training!.adversarial ? { adversarial: model.card.training!.adversarial } : {}),
        ...(model.card.training!.noise ? { noise: model.card.training!.noise } : {}),
      };
      if (o.json) return printJson(withImageSet(result, data));
      process.stdout.write(`${o.model} on ${data.name}: test accuracy ${fit.test.accuracy.toFixed(4)}, AUC ${fit.test.auc.toFixed(4)} (val ${fit.val.accuracy.toFixed(4)} / ${fit.val.auc.toFixed(4)}), best epoch ${fit.training.bestEpoch}, ${result.seconds} s${o.out ? `; saved to ${o.out}` : ''}\n`);
    }));
}
