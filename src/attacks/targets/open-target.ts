/**
 * One door to every target kind: an in-process medshield model, an ONNX file (loaded through
 * `loadModel`, run by onnxruntime-node) or an HTTP endpoint. The caller's metadata (input shape,
 * classes, task — the CLI takes them from the dataset) is checked against what the target says.
 *
 *   const t = await openTarget({ url: 'http://127.0.0.1:8500/predict', output: 'auto', ...meta });
 *   const t = await openTarget({ onnx: 'vendor.onnx', output: 'label', ...meta });
 */
import type { Task } from '../../data/medmnist.js';
import { badArgument, mismatch } from '../../errors.js';
import type { Model } from '../../models/model.js';
import { HttpTarget, type HttpFormat } from './http-target.js';
import { ModelTarget, type Target, type TargetOutput } from './target.js';

export interface TargetSpec {
  url?: string;
  onnx?: string;
  model?: Model;
  output?: TargetOutput | 'auto';
  apiKey?: string;
  apiKeyHeader?: string;
  format?: HttpFormat;
  maxBatch?: number;
  concurrency?: number;
  paceMs?: number;
  retries?: number;
  timeoutMs?: number;
  inputShape?: [number, number, number];
  classes?: string[];
  task?: Task;
}

export async function openTarget(spec: TargetSpec): Promise<Target> {
  const given = [
    spec.url !== undefined && 'a URL',
    spec.onnx !== undefined && 'an ONNX file',
    spec.model !== undefined && 'a model',
  ].filter(Boolean);
  if (given.length !== 1)
    throw badArgument(
      given.length
        ? `a target is one of a URL, an ONNX file or a model, got ${given.join(' and ')}`
        : 'no target given (a URL, an ONNX file or a model)',
    );
  if (spec.url !== undefined) {
    return HttpTarget.connect({
      url: spec.url,
      format: spec.format,
      output: spec.output,
      apiKey: spec.apiKey,
      apiKeyHeader: spec.apiKeyHeader,
      maxBatch: spec.maxBatch,
      concurrency: spec.concurrency,
      paceMs: spec.paceMs,
      retries: spec.retries,
      timeoutMs: spec.timeoutMs,
      inputShape: spec.inputShape,
      classes: spec.classes,
      task: spec.task,
    });
  }
  let model = spec.model;
  if (spec.onnx !== undefined) {
    if (!spec.onnx) throw badArgument('--target-onnx needs a file');
    const { loadModel } = await import('../../models/io.js');
    model = await loadModel(spec.onnx);
  }
  const m = model!;
  const name = spec.onnx ?? m.card.name;
  if (spec.inputShape && spec.inputShape.join() !== m.inputShape.join())
    throw mismatch(
      `target '${name}' takes ${m.inputShape.join('×')} images, but the data is ${spec.inputShape.join('×')}`,
    );
  if (spec.classes && spec.classes.length !== m.classes.length)
    throw mismatch(`target '${name}' has ${m.classes.length} classes, expected ${spec.classes.length}`);
  return new ModelTarget(m, spec.output === 'label' ? 'label' : 'probabilities', name);
}
