/**
 * The `evaluate` verb: a model's clean accuracy and AUC on a dataset split (the MedMNIST metrics,
 * Yang et al., Scientific Data 2023). `medshield eval` is a shell over it (`--limit` there = `data.head`).
 *
 *   const r = await evaluate({ model: 'default', data: { dataset: 'pneumoniamnist', split: 'test' } });
 */
import { evaluateSplit } from '../models/train.js';
import { round } from '../models/metrics.js';
import { engineInfo } from '../engine/index.js';
import {
  DATA_REF_SCHEMA,
  MODEL_REF_SCHEMA,
  SEED_SCHEMA,
  loadModelRef,
  openDataRef,
  selectRef,
  subsetSplit,
  validateSpec,
  withImageSet,
  type DataRef,
  type ModelRef,
  type VerbOptions,
} from './common.js';

export interface EvaluateSpec {
  model?: ModelRef;
  /** `head` = the first N images; `limit` = a seeded sample (seed `sampleSeed` or `seed`); `range` = positions. */
  data?: DataRef;
  seed?: number;
  batchSize?: number;
}

export const EVALUATE_SPEC_SCHEMA = {
  $id: 'medshield/evaluate-spec',
  type: 'object',
  additionalProperties: false,
  properties: {
    model: MODEL_REF_SCHEMA,
    data: DATA_REF_SCHEMA,
    seed: SEED_SCHEMA,
    batchSize: { type: 'integer', minimum: 1, maximum: 65536 },
  },
} as const;

export interface EvaluateResult {
  model: string;
  dataset: string;
  split: string;
  n: number;
  accuracy: number;
  auc: number;
  /** Per-image class probabilities (n × K) and the images' indices in the split. */
  probs: Float32Array;
  indices: number[];
  /** The CLI's JSON object ({dataset, split, n, accuracy, auc[, imageSet]}). */
  json: Record<string, unknown>;
}

export async function evaluate(input: EvaluateSpec, opts: VerbOptions = {}): Promise<EvaluateResult> {
  const spec = validateSpec<EvaluateSpec>(EVALUATE_SPEC_SCHEMA, input, 'evaluate spec');
  const ref = spec.data ?? {};
  const splitName = ref.split ?? 'test';
  await engineInfo();
  const model = await loadModelRef(spec.model, { differentiable: true, cache: opts.cache });
  const data = await openDataRef(ref, model.card, { split: splitName, onNote: opts.onNote, cache: opts.cache });
  const full = data.splits[splitName];
  // the first N images are a prefix of the split; other selections take their indices
  const indices =
    ref.limit === undefined && ref.range === undefined
      ? Array.from({ length: Math.min(ref.head ?? full.n, full.n) }, (_, i) => i)
      : selectRef(full, ref, spec.seed ?? 0).indices!;
  const split = subsetSplit(full, indices);
  const r = await evaluateSplit(model, split, spec.batchSize);
  const out = { dataset: data.name, split: splitName, n: r.n, accuracy: round(r.accuracy), auc: round(r.auc) };
  return { model: model.card.name, ...out, probs: r.probs, indices, json: withImageSet(out, data) };
}
