/**
 * Model card (`model-card.json`): what the model is, what it was trained on, how inputs must look,
 * and how well it did. Loading a model checks the card, and every command that feeds the model
 * data checks the data against the card.
 */
import { createHash } from 'node:crypto';
import type { Task } from '../data/medmnist.js';
import { MedshieldError, mismatch } from '../errors.js';

export interface SplitMetrics {
  accuracy: number;
  auc: number;
  n: number;
}

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
    layout: 'NCHW' | 'NHWC';
    output: 'logits' | 'probs';
    /** Written by `medshield model import` (src/models/onnx-import.ts): the graph runs differentiably with tfjs ops. */
    differentiable?: boolean;
    file?: string;
    sha256?: string;
    opset?: number;
    featureLayers?: string[];
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
    /**
     * Adversarial training (src/defences/adversarial-training.ts): method, ε (L∞), inner steps and step size, TRADES β,
     * checkpoint rule.
     */
    adversarial?: {
      method: 'pgd' | 'trades';
      eps: number;
      steps: number;
      stepSize: number;
      beta?: number;
      selection: string;
    };
    /** Gaussian noise augmentation for randomized smoothing (src/defences/smoothing.ts). */
    noise?: { sigma: number };
  };
  /**
   * What binds this card to its weights (absent in cards written before medshield recorded it):
   * `sha256` — SHA-256 of the weight bytes in a defined order: for tfjs-layers the weight files
   * concatenated in model.json's manifest order (exactly the buffer the network is loaded from), for
   * ONNX the .onnx file; `files` — those files' names in that order (informational); `binding` —
   * SHA-256 of the canonical JSON of {classes, input shape, onnx, task, weights sha256}, so editing how
   * the outputs are read (e.g. swapping `classes`) without re-training is detected at load.
   */
  weights?: { sha256: string; files: string[]; binding: string };
  medshieldVersion: string;
  gitCommit: string | null;
  createdAt: string;
}

export const CARD_FILE = 'model-card.json';

export function validateCard(card: unknown, where: string): ModelCard {
  const c = card as Partial<ModelCard>;
  if (c?.schema !== 'medshield.model-card/1')
    throw mismatch(`${where}: not a medshield model card (schema missing or unknown)`);
  const shape = c.input?.shape;
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0))
    throw mismatch(`${where}: model card has no valid input.shape`);
  if (!c.dataset || !Array.isArray(c.dataset.classes) || c.dataset.classes.length < 2)
    throw mismatch(`${where}: model card lists no classes`);
  if (!c.architecture?.name) throw mismatch(`${where}: model card has no architecture`);
  return c as ModelCard;
}

/** Refuse data that does not match what the model was trained on. */
export function checkInputMatches(
  card: ModelCard,
  data: { height: number; width: number; channels: number; task?: Task; classes?: number; name?: string },
): void {
  const [h, w, c] = card.input.shape;
  const what = data.name ? `dataset '${data.name}'` : 'input';
  if (data.height !== h || data.width !== w || data.channels !== c) {
    throw mismatch(
      `${what} has images ${data.height}×${data.width}×` +
        `${data.channels} but model '${card.name}' expects ${h}×${w}×${c}`,
    );
  }
  if (data.classes !== undefined && data.classes !== card.dataset.classes.length) {
    throw mismatch(
      `${what} has ${data.classes} classes but model '${card.name}' predicts ${card.dataset.classes.length}`,
    );
  }
  if (data.task !== undefined && data.task !== card.dataset.task) {
    throw mismatch(`${what} is a ${data.task} task but model '${card.name}' was trained for ${card.dataset.task}`);
  }
}

const HEX64 = /^[0-9a-f]{64}$/;

/** The card fields that say how the network's outputs are read, bound to the weights' hash (see ModelCard.weights). */
export function cardBinding(card: ModelCard, weightsSha256: string): string {
  const canon = JSON.stringify({
    classes: card.dataset.classes,
    input: card.input.shape,
    onnx: card.onnx ? { layout: card.onnx.layout, output: card.onnx.output } : null,
    task: card.dataset.task,
    weights: weightsSha256,
  });
  return createHash('sha256').update(canon).digest('hex');
}

/** A copy of `card` carrying the weights' hash and its binding (what `train`/`export` write). */
export function withWeightsHash(card: ModelCard, weightsSha256: string, files: string[]): ModelCard {
  const c = structuredClone(card);
  c.weights = { sha256: weightsSha256, files, binding: cardBinding(c, weightsSha256) };
  return c;
}

/**
 * Check a loaded card against the SHA-256 of the weights actually read. Returns false when the card
 * has no hash (a model saved by an older medshield): the caller decides (the gateway refuses, the CLI
 * warns). Throws CHECKSUM (exit 2, one line) when the hash or the binding of classes/input/task to it
 * does not match.
 */
export function checkWeightsHash(card: ModelCard, actualSha256: string, where: string): boolean {
  const w = card.weights;
  if (w === undefined) return false;
  if (
    !w ||
    typeof w.sha256 !== 'string' ||
    !HEX64.test(w.sha256) ||
    typeof w.binding !== 'string' ||
    !HEX64.test(w.binding)
  ) {
    throw new MedshieldError('CHECKSUM', `${where}: model card's weights.sha256/weights.binding is malformed`);
  }
  if (w.sha256 !== actualSha256)
    throw new MedshieldError(
      'CHECKSUM',
      `${where}: the weights' SHA-256 ${actualSha256.slice(0, 16)}… does not ` +
        `match the model card's ${w.sha256.slice(0, 16)}… (weights or card altered)`,
    );
  if (cardBinding(card, actualSha256) !== w.binding)
    throw new MedshieldError(
      'CHECKSUM',
      `${where}: the model card's classes/task/input do not match ` +
        `what was bound to these weights (card edited after training)`,
    );
  return true;
}
