/**
 * The `predict` verb: classify image files (PNG, JPEG, DICOM) with a model, each decoded once and
 * resized to the model's input. `medshield predict` is a shell over it.
 *
 *   const rows = await predict({ model: 'default', files: ['xray.png'] });
 */
import { readFileSync, existsSync, statSync } from 'node:fs';
import { decodeImage } from '../data/image.js';
import { toModelInput } from '../data/resize.js';
import { predictions, round } from '../models/metrics.js';
import { engineInfo } from '../engine/index.js';
import { badArgument, badInput, notFound } from '../errors.js';
import { MODEL_REF_SCHEMA, loadModelRef, validateSpec, type ModelRef } from './common.js';

export interface PredictSpec {
  model?: ModelRef;
  files: string[];
}

export const PREDICT_SPEC_SCHEMA = {
  $id: 'medshield/predict-spec',
  type: 'object',
  additionalProperties: false,
  required: ['files'],
  properties: { model: MODEL_REF_SCHEMA, files: { type: 'array', items: { type: 'string' } } },
} as const;

/** One file's answer: the class index (multi-label: the indices above 0.5), its name(s), the probabilities. */
export interface Prediction {
  file: string;
  label: number | number[];
  className: string | string[];
  probabilities: number[];
}

export async function predict(input: PredictSpec): Promise<Prediction[]> {
  const spec = validateSpec<PredictSpec>(PREDICT_SPEC_SCHEMA, input, 'predict spec');
  const files = spec.files;
  if (!files.length) throw badArgument('give at least one image file');
  await engineInfo();
  const model = await loadModelRef(spec.model);
  const [h, w, c] = model.inputShape;
  const inputs: Float32Array[] = [];
  for (const f of files) {
    if (!existsSync(f)) throw notFound(`image '${f}' does not exist`);
    if (!statSync(f).isFile()) throw badInput(`'${f}' is not a file`);
    const img = await decodeImage(new Uint8Array(readFileSync(f)), f);
    inputs.push(toModelInput(img, [h, w, c]));
  }
  const x = new Float32Array(inputs.length * h * w * c);
  inputs.forEach((a, i) => x.set(a, i * h * w * c));
  const probs = await model.predictProbs(x, inputs.length);
  const k = model.classes.length;
  const labels = model.task === 'multilabel' ? null : predictions({ probs, n: inputs.length, k }, model.task);
  return files.map((file, i) => {
    const p = Array.from(probs.subarray(i * k, (i + 1) * k), (v) => round(v, 6));
    if (!labels) {
      const on = p.map((v, j) => (v > 0.5 ? j : -1)).filter((j) => j >= 0);
      return { file, label: on, className: on.map((j) => model.classes[j]), probabilities: p };
    }
    return { file, label: labels[i], className: model.classes[labels[i]], probabilities: p };
  });
}
