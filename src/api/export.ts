/**
 * `exportModel`: write a medshield (tfjs) model as ONNX (opset 13; model.onnx + model-card.json) and check
 * it — `check` real test images of the model's own dataset (or `dataset`) go through tfjs and
 * onnxruntime-node, and the largest probability difference is returned as `maxAbsDiff`.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadClassifier, loadModel, resolveModelPath } from '../models/io.js';
import { exportOnnx, maxAbsDiff, OPSET } from '../models/onnx-export.js';
import { loadDataset } from '../data/dataset.js';
import { selectImages } from '../data/images.js';
import { checkInputMatches } from '../models/card.js';
import { badArgument, badInput } from '../errors.js';

export interface ExportSpec {
  model: string;
  out: string;
  format?: 'onnx';
  /** Test images compared between the engines (0 skips the check). */
  check?: number;
  dataset?: string;
  dataDir?: string;
  seed?: number;
}

export interface ExportResult {
  out: string;
  file: string;
  name: string;
  format: 'onnx';
  opset: number;
  maxAbsDiff: number | null;
  checked: number;
}

export async function exportModel(spec: ExportSpec): Promise<ExportResult> {
  if (!spec.out) throw badArgument('give --out DIR (or --out FILE.onnx)');
  const src = resolveModelPath(spec.model);
  const onnxDir = existsSync(path.join(src, 'model.onnx')) && !existsSync(path.join(src, 'model.json'));
  if (src.toLowerCase().endsWith('.onnx') || onnxDir) {
    throw badInput(`model '${spec.model}' is already ONNX; export needs a medshield (tfjs) model directory`);
  }
  if (path.resolve(src) === path.resolve(spec.out)) throw badArgument('--out must differ from --model');
  const model = await loadClassifier(spec.model);
  const file = await exportOnnx(model, spec.out);
  const check = spec.check ?? 64;
  let diff: number | null = null;
  if (check > 0) {
    const data = await loadDataset(spec.dataset ?? model.card.dataset.name, { dataDir: spec.dataDir });
    const split = data.splits.test;
    checkInputMatches(model.card, {
      height: split.height,
      width: split.width,
      channels: split.channels,
      classes: data.info.classes.length,
      name: data.name,
    });
    const imgs = selectImages(split, check, spec.seed ?? 0);
    const onnx = await loadModel(spec.out);
    diff = maxAbsDiff(await model.predictProbs(imgs.x, imgs.n), await onnx.predictProbs(imgs.x, imgs.n));
  }
  return { out: spec.out, file, name: model.card.name, format: 'onnx', opset: OPSET, maxAbsDiff: diff, checked: check };
}
