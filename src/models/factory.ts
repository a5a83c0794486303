/**
 * Library entry points tying data, architectures, training and cards together:
 * `newClassifier` builds an untrained model for a dataset; `fitClassifier` trains it, evaluates
 * on val and test, and fills in the model card.
 */
import { currentEngine } from '../engine/index.js';
import type { Dataset } from '../data/dataset.js';
import { VERSION, gitCommit } from '../version.js';
import { buildModel, DEFAULT_WIDTH, type Architecture } from './architectures.js';
import type { ModelCard } from './card.js';
import { Classifier } from './model.js';
import { evaluateSplit, train, type TrainOptions, type TrainResult } from './train.js';
import { round } from './metrics.js';

const CITATION =
  'J. Yang et al., "MedMNIST v2 - A large-scale lightweight benchmark for ' +
  '2D and 3D biomedical image classification", Scientific Data 10, 41 (2023)';

export function newClassifier(
  arch: Architecture,
  data: Dataset,
  opts: { width?: number; seed: number; name?: string },
): Classifier {
  const t = data.splits.train;
  const inputShape: [number, number, number] = [t.height, t.width, t.channels];
  const numClasses = data.info.classes.length;
  const width = opts.width ?? DEFAULT_WIDTH[arch];
  const net = buildModel({ arch, inputShape, numClasses, width, seed: opts.seed });
  const card: ModelCard = {
    schema: 'medshield.model-card/1',
    name: opts.name ?? `${arch}-${data.name}`,
    architecture: { name: arch, width, parameters: net.countParams(), format: 'tfjs-layers' },
    dataset: {
      name: data.name,
      size: data.size,
      task: data.info.task,
      classes: data.info.classes,
      sha256: data.sha256,
      splits: { train: data.splits.train.n, val: data.splits.val.n, test: data.splits.test.n },
      ...(data.known ? { citation: CITATION, license: data.info.license } : {}),
    },
    input: {
      shape: inputShape,
      range: [0, 1],
      layout: 'NHWC',
      normalization: 'x -> 2x - 1 (first layer of the network)',
      resize: 'area-average downscale / bilinear upscale to H×W; gray<->RGB by replication / ITU-R 601 luma',
    },
    metrics: {},
    medshieldVersion: VERSION,
    gitCommit: gitCommit(),
    createdAt: new Date().toISOString(),
  };
  return new Classifier(net, card);
}

export interface FitResult {
  model: Classifier;
  training: TrainResult;
  val: { accuracy: number; auc: number; n: number };
  test: { accuracy: number; auc: number; n: number };
}

export async function fitClassifier(model: Classifier, data: Dataset, opts: TrainOptions): Promise<FitResult> {
  const result = await train(model, { train: data.splits.train, val: data.splits.val }, opts);
  const v = await evaluateSplit(model, data.splits.val);
  const te = await evaluateSplit(model, data.splits.test);
  const val = { accuracy: round(v.accuracy), auc: round(v.auc), n: v.n };
  const test = { accuracy: round(te.accuracy), auc: round(te.auc), n: te.n };
  const eng = currentEngine();
  model.card.metrics = { val, test };
  model.card.training = {
    seed: opts.seed,
    epochs: opts.epochs,
    epochsRun: result.epochsRun,
    bestEpoch: result.bestEpoch,
    batchSize: opts.batchSize ?? 128,
    optimizer: opts.optimizer ?? 'adam',
    learningRate: opts.learningRate ?? (opts.optimizer === 'sgd' ? 0.05 : 1e-3),
    schedule: opts.schedule ?? 'cosine',
    weightDecay: opts.weightDecay ?? 0,
    augment: opts.augment ?? true,
    classWeights: result.classWeights,
    earlyStopping: opts.patience
      ? { patience: opts.patience, metric: opts.batchHook?.validate ? 'val.balancedRobustAccuracy' : 'val.auc' }
      : null,
    seconds: round(result.seconds, 1),
    backend: eng?.backend ?? 'unknown',
    threads: eng?.threads ?? 1,
    ...(opts.batchHook?.card ?? {}),
  };
  model.card.createdAt = new Date().toISOString();
  return { model, training: result, val, test };
}
