/**
 * Model card (`model-card.json`): what the model is, what it was trained on, how inputs must look,
 * and how well it did. Loading a model checks the card, and every command that feeds the model
 * data checks the data against the card.
 */
import type { Task } from '../data/medmnist.js';
import { mismatch } from '../errors.js';

export interface SplitMetrics { accuracy: number; auc: number; n: number }

export interface ModelCard {
  schema: 'medshield.model-card/1';
  name: string;
  architecture: { name: string; width: number; parameters: number; format: 'tfjs-layers' | 'onnx' };
  dataset: {
    name: string;
    size: number;
    task: Task;
    classes: string[];
    sha256: string;
    splits: { train: number; val: number; test: number };
    citation?: string;
    license?: string;
  };
  input: {
    /** [height, width, channels] */
    shape: [number, number, number];
    range: [0, 1];
    layout: 'NHWC';
    normalization: string;
    resize: string;
  };
  metrics: { val?: SplitMetrics; test?: SplitMetrics };
  /** For ONNX models: how to feed and read the graph. */
  onnx?: {
    layout: 'NCHW' | 'NHWC'; output: 'logits' | 'probs';
    /** Written by `medshield model import` (src/models/onnx-import.ts): the graph runs differentiably with tfjs ops. */
    differentiable?: boolean; file?: string; sha256?: string; opset?: number; featureLayers?: string[];
    preprocess?: { range: [number, number]; mean: number[] | null; std: number[] | null; channels: number };
  };
  training?: {
    seed: number;
    epochs: number;
    epochsRun: number;
    bestEpoch: number;
    batchSize: number;
    optimizer: string;
    learningRate: number;
    schedule: string;
    weightDecay: number;
    augment: boolean;
    classWeights: number[] | null;
    earlyStopping: { patience: number; metric: 'val.auc' | 'val.balancedRobustAccuracy' } | null;
    seconds: number;
    backend: string;
    threads: number;
    /** The command line that trained the model. */
    command?: string;
    /** Adversarial training (src/defences/adversarial-training.ts): method, ε (L∞), inner steps and step size, TRADES β, checkpoint rule. */
    adversarial?: { method: 'pgd' | 'trades'; eps: number; steps: number; stepSize: number; beta?: number; selection: string };
    /** Gaussian noise augmentation for randomized smoothing (src/defences/smoothing.ts). */
    noise?: { sigma: number };
  };
  medshieldVersion: string;
  gitCommit: string | null;
  createdAt: string;
}

export const CARD_FILE = 'model-card.json';

export function validateCard(card: unknown, where: string): ModelCard {
  const c = card as Partial<ModelCard>;
  if (!c || c.schema !== 'medshield.model-card/1') throw mismatch(`${where}: not a medshield model card (schema missing or unknown)`);
  const shape = c.input?.shape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) throw mismatch(`${where}: model card has no valid input.shape`);
  if (!c.dataset || !Array.isArray(c.dataset.classes) || c.dataset.classes.length < 2) throw mismatch(`${where}: model card lists no classes`);
  if (!c.architecture?.name) throw mismatch(`${where}: model card has no architecture`);
  return c as ModelCard;
}

/** Refuse data that does not match what the model was trained on. */
export function checkInputMatches(card: ModelCard, data: { height: number; width: number; channels: number; task?: Task; classes?: number; name?: string }): void {
  const [h, w, c] = card.input.shape;
  const what = data.name ? `dataset '${data.name}'` : 'input';
  if (data.height !== h || data.width !== w || data.channels !== c) {
    throw mismatch(`${what} has images ${data.height}×${data.width}×${data.channels} but model '${card.name}' expects ${h}×${w}×${c}`);
  }
  if (data.classes !== undefined && data.classes !== card.dataset.classes.length) {
    throw mismatch(`${what} has ${data.classes} classes but model '${card.name}' predicts ${card.dataset.classes.length}`);
  }
  if (data.task !== undefined && data.task !== card.dataset.task) {
    throw mismatch(`${what} is a ${data.task} task but model '${card.name}' was trained for ${card.dataset.task}`);
  }
}
