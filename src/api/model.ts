/**
 * `importModel(spec)`: import an ONNX classifier as a differentiable medshield model directory
 * (model.onnx + model-card.json), checked against onnxruntime on real images and optionally evaluated
 * (src/models/onnx-import.ts does the work; docs/your-model.md). ONNX: https://onnx.ai/onnx/
 */
import { initEngine } from '../engine/index.js';
import type { ImportOptions, ImportResult } from '../models/onnx-import.js';
import { validateSpec } from './common.js';

export type { ImportResult };

/** One import: the ONNX file, the directory to write, and what the graph cannot say about itself. */
export type ImportModelSpec = Pick<
  ImportOptions,
  | 'file'
  | 'out'
  | 'classes'
  | 'task'
  | 'input'
  | 'layout'
  | 'mean'
  | 'std'
  | 'range'
  | 'output'
  | 'dataset'
  | 'split'
  | 'featureLayers'
  | 'name'
  | 'dataDir'
>;

const numbers = { type: 'array', items: { type: 'number' }, minItems: 1 } as const;

export const IMPORT_MODEL_SPEC_SCHEMA = {
  $id: 'medshield:import-model-spec',
  type: 'object',
  additionalProperties: false,
  required: ['file', 'out'],
  properties: {
    file: { type: 'string', minLength: 1 },
    out: { type: 'string', minLength: 1 },
    classes: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 2 },
    task: { enum: ['binary', 'multiclass', 'multilabel'] },
    input: { type: 'array', items: { type: 'integer', minimum: 1, maximum: 8192 }, minItems: 3, maxItems: 3 },
    layout: { enum: ['nchw', 'nhwc'] },
    mean: numbers,
    std: numbers,
    range: { type: 'array', items: { type: 'number' }, minItems: 2, maxItems: 2 },
    output: { enum: ['logits', 'probs'] },
    dataset: { type: 'string', minLength: 1 },
    split: { enum: ['train', 'val', 'test'] },
    featureLayers: { type: 'array', items: { type: 'string', minLength: 1 } },
    name: { type: 'string', minLength: 1 },
    dataDir: { type: 'string', minLength: 1 },
  },
} as const;

/** Import the ONNX model of `spec.file` into `spec.out`. */
export async function importModel(spec: ImportModelSpec): Promise<ImportResult> {
  validateSpec(IMPORT_MODEL_SPEC_SCHEMA, spec, 'model import spec');
  await initEngine();
  const { importOnnx } = await import('../models/onnx-import.js');
  return importOnnx(spec);
}

/** The text summary of an import (`medshield model import`). */
export function importText(file: string, r: ImportResult): string {
  return (
    `imported ${file} → ${r.out}: opset ${r.opset}, ${r.ops.length} op types, ` +
    `${r.parameters} parameters, input ${r.input.shape.join('×')} ${r.input.layout}\n` +
    `  check vs onnxruntime: ${r.check.images} images, max |Δ| ${r.check.maxAbsDiff}\n` +
    `  feature layers: ${r.featureLayers.join(', ')}\n` +
    (r.eval ? `  accuracy ${r.eval.accuracy}, AUC ${r.eval.auc}\n` : '')
  );
}
