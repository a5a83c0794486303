/**
 * The `train` verb: train a classifier on a MedMNIST dataset or an image folder / labels CSV and
 * (optionally) save it with its model card; adversarial training (PGD, Madry et al. ICLR 2018;
 * TRADES, Zhang et al. ICML 2019) or Gaussian noise augmentation (Cohen et al. ICML 2019) as the
 * training defence. `medshield train` is a shell over it.
 *
 *   const r = await train({ data: { dataset: 'pneumoniamnist' }, architecture: 'cnn', epochs: 5, out: 'models/mine' });
 */
import { ARCHITECTURES, type Architecture } from '../models/architectures.js';
import { newClassifier, fitClassifier } from '../models/factory.js';
import { saveModel } from '../models/io.js';
import type { Classifier } from '../models/model.js';
import type { BatchHook } from '../models/train.js';
import { defaultEpochs, trainAdvice, MIN_DEFAULT_STEPS } from '../models/train-advice.js';
import { ADVERSARIAL_METHODS, adversarialTraining, type AdversarialMethod } from '../defences/adversarial-training.js';
import { noiseAugmentation } from '../defences/smoothing.js';
import { parseEpsilon } from '../attacks/epsilon.js';
import { engineInfo } from '../engine/index.js';
import { badArgument } from '../errors.js';
import {
  DATA_REF_SCHEMA,
  SEED_SCHEMA,
  openTrainingData,
  progressOf,
  validateSpec,
  withImageSet,
  type DataRef,
  type VerbOptions,
} from './common.js';

export { ARCHITECTURES, ADVERSARIAL_METHODS, MIN_DEFAULT_STEPS, type Architecture, type AdversarialMethod };

export interface TrainSpec {
  /** `dataset` is required; `input` resizes an image folder / CSV. */
  data: DataRef;
  architecture?: Architecture;
  epochs?: number;
  /** Directory to write the trained model to. */
  out?: string;
  width?: number;
  batchSize?: number;
  microBatch?: number;
  optimizer?: 'adam' | 'sgd';
  lr?: number;
  schedule?: 'cosine' | 'step' | 'constant';
  weightDecay?: number;
  augment?: boolean;
  flip?: boolean;
  classWeights?: 'auto' | 'balanced' | 'none';
  patience?: number;
  name?: string;
  adv?: AdversarialMethod;
  eps?: number | string;
  advSteps?: number;
  beta?: number;
  noiseSigma?: number;
  seed?: number;
}

export const TRAIN_SPEC_SCHEMA = {
  $id: 'medshield/train-spec',
  type: 'object',
  additionalProperties: false,
  required: ['data'],
  properties: {
    data: DATA_REF_SCHEMA,
    seed: SEED_SCHEMA,
    architecture: { type: 'string' },
    epochs: { type: 'integer', minimum: 1, maximum: 100000 },
    out: { type: 'string' },
    width: { type: 'integer', minimum: 4, maximum: 512 },
    batchSize: { type: 'integer', minimum: 1, maximum: 65536 },
    microBatch: { type: 'integer', minimum: 1, maximum: 65536 },
    optimizer: { type: 'string', enum: ['adam', 'sgd'] },
    lr: { type: 'number', exclusiveMinimum: 0, maximum: 10 },
    schedule: { type: 'string', enum: ['cosine', 'step', 'constant'] },
    weightDecay: { type: 'number', minimum: 0, maximum: 1 },
    augment: { type: 'boolean' },
    flip: { type: 'boolean' },
    classWeights: { type: 'string', enum: ['auto', 'balanced', 'none'] },
    patience: { type: 'integer', minimum: 0 },
    name: { type: 'string' },
    adv: { type: 'string', enum: ['pgd', 'trades'] },
    eps: {
      anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string' }],
      description: 'a number > 0 or a fraction like "8/255"',
    },
    advSteps: { type: 'integer', minimum: 1, maximum: 1000 },
    beta: { type: 'number', minimum: 0 },
    noiseSigma: { type: 'number', minimum: 0 },
  },
} as const;

export interface TrainResult {
  /** The trained classifier (with its card). */
  model: Classifier;
  /** The CLI's JSON object. */
  json: Record<string, unknown>;
  test: { accuracy: number; auc: number };
  val: { accuracy: number; auc: number };
}

export async function train(input: TrainSpec, opts: VerbOptions & { command?: string } = {}): Promise<TrainResult> {
  const spec = validateSpec<TrainSpec>(TRAIN_SPEC_SCHEMA, input, 'train spec');
  const arch = spec.architecture ?? 'cnn';
  const augment = spec.augment ?? true;
  const batchSize = spec.batchSize ?? 128;
  const seed = spec.seed ?? 0;
  if (!ARCHITECTURES.includes(arch)) throw badArgument(`unknown model '${arch}' (choose ${ARCHITECTURES.join(', ')})`);
  if (spec.flip && !augment) throw badArgument('--flip needs --augment');
  if (spec.adv && spec.eps === undefined) throw badArgument(`--adv ${spec.adv} needs --eps (e.g. --eps 8/255)`);
  if (!spec.adv && (spec.eps !== undefined || spec.beta !== undefined))
    throw badArgument('--eps and --beta apply to adversarial training only (add --adv pgd|trades)');
  if (spec.adv && spec.noiseSigma !== undefined)
    throw badArgument('choose one training defence: --adv or --noise-sigma');
  if (spec.noiseSigma !== undefined && !(spec.noiseSigma > 0))
    throw badArgument(`--noise-sigma must be greater than 0, got ${spec.noiseSigma}`);
  const engine = await engineInfo();
  const data = await openTrainingData(spec.data, opts.onNote);
  const model = newClassifier(arch, data, { width: spec.width, seed, name: spec.name });
  let batchHook: BatchHook | undefined;
  if (spec.adv) {
    const eps = typeof spec.eps === 'number' ? spec.eps : parseEpsilon(spec.eps!);
    batchHook = adversarialTraining({ method: spec.adv, eps, steps: spec.advSteps ?? 7, beta: spec.beta }, model.task);
  } else if (spec.noiseSigma !== undefined) batchHook = noiseAugmentation(spec.noiseSigma);
  const steps = Math.ceil(data.splits.train.n / batchSize);
  const epochs = spec.epochs ?? defaultEpochs(data.splits.train.n, batchSize);
  if (spec.epochs === undefined && epochs > 10)
    opts.onNote?.(
      `medshield: ${data.splits.train.n} training images are ${steps} optimiser steps per epoch at batch ` +
        `${batchSize}: training ${epochs} epochs (≥ ${MIN_DEFAULT_STEPS} steps); set --epochs to choose`,
    );
  const bar = progressOf(opts, `train ${arch}`, steps * epochs);
  opts.onNote?.(
    `training ${arch} (width ${model.card.architecture.width}, ${model.card.architecture.parameters} ` +
      `parameters) on ${data.name} (${data.splits.train.n} train images) with the ${engine.backend} backend`,
  );
  let fit;
  try {
    fit = await fitClassifier(model, data, {
      epochs,
      batchSize,
      microBatch: spec.microBatch,
      optimizer: spec.optimizer ?? 'adam',
      learningRate: spec.lr,
      schedule: spec.schedule ?? 'cosine',
      weightDecay: spec.weightDecay ?? 0,
      augment,
      flip: !!spec.flip,
      classWeights: spec.classWeights ?? 'auto',
      patience: spec.patience ?? 0,
      seed,
      batchHook,
      onEvent: (e) => {
        if (opts.signal?.aborted) throw badArgument('train cancelled');
        if (e.type === 'step')
          bar.update((e.epoch - 1) * steps + e.step, { epoch: `${e.epoch}/${epochs}`, loss: e.loss.toFixed(4) });
        else
          bar.log?.(
            `epoch ${e.epoch}/${e.epochs}  loss ${e.loss.toFixed(4)}  val acc ${e.val.accuracy.toFixed(4)}` +
              `  val auc ${e.val.auc.toFixed(4)}` +
              `${e.valScore !== undefined ? `  val robust (balanced) ${e.valScore.toFixed(4)}` : ''}` +
              `${e.best ? '  *best' : ''}  (${e.seconds.toFixed(1)} s)`,
          );
      },
    });
  } finally {
    bar.stop();
  }
  const advice = trainAdvice(fit.training, epochs);
  if (advice.warning) opts.onNote?.(`medshield: warning: ${advice.warning}`);
  model.card.training!.command = opts.command ?? `medshield train --dataset ${spec.data.dataset}`;
  if (spec.out) await saveModel(model, spec.out);
  const result = {
    dataset: data.name,
    model: arch,
    epochs,
    seed,
    val: { accuracy: fit.val.accuracy, auc: fit.val.auc },
    test: { accuracy: fit.test.accuracy, auc: fit.test.auc },
    n: { train: data.splits.train.n, val: data.splits.val.n, test: data.splits.test.n },
    seconds: model.card.training!.seconds,
    ...(spec.out ? { out: spec.out } : {}),
    bestEpoch: fit.training.bestEpoch,
    epochsRun: fit.training.epochsRun,
    backend: engine.backend,
    ...(advice.warning
      ? {
          stillImproving: { reasons: advice.reasons, suggestedEpochs: advice.suggestedEpochs },
          warning: advice.warning,
        }
      : {}),
    ...(model.card.training!.adversarial ? { adversarial: model.card.training!.adversarial } : {}),
    ...(model.card.training!.noise ? { noise: model.card.training!.noise } : {}),
  };
  return { model, json: withImageSet(result, data), test: result.test, val: result.val };
}

/** The line `medshield train` prints without --json. */
export function trainText(r: TrainResult): string {
  const j = r.json as { model: string; dataset: string; bestEpoch: number; seconds: number; out?: string };
  return (
    `${j.model} on ${j.dataset}: test accuracy ${r.test.accuracy.toFixed(4)}, AUC ` +
    `${r.test.auc.toFixed(4)} (val ${r.val.accuracy.toFixed(4)} / ${r.val.auc.toFixed(4)}` +
    `), best epoch ${j.bestEpoch}, ${j.seconds} s${j.out ? `; saved to ${j.out}` : ''}\n`
  );
}
