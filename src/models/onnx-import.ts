/**
 * `medshield model import`: turn an ONNX classifier into a medshield model directory that every
 * white-box command can use (issue 21). Steps, each refusing with a one-line error (exit 2):
 *   1. parse the protobuf (corrupt → refused) and build the differentiable graph (an op outside the
 *      supported set → refused, naming op, node and opset);
 *   2. resolve the input: shape from the graph or `--input` (a dynamic spatial size without it →
 *      refused), layout (NCHW when the channel axis is 1 or 3, or `--layout`), declared
 *      preprocessing (pixel range, mean/std, grey → RGB replication) — all inside the
 *      differentiable path, so ε stays in [0,1] pixel units of the image the user sees;
 *   3. classes: the graph's output width must equal `--classes` / the dataset's class count;
 *   4. check: the engine's raw outputs against onnxruntime-node on real images (the dataset's split,
 *      else PneumoniaMNIST test images resized to the input): max |Δ| ≤ 1e-4 or nothing is written;
 *   5. write `model.onnx` + `model-card.json` (the file's sha256, preprocessing, feature layers)
 *      atomically; evaluate on `--dataset` when given.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { tf } from '../engine/index.js';
import { badArgument, badInput, mismatch, notFound } from '../errors.js';
import { VERSION } from '../version.js';
import { loadDataset, batchImages, type Split, type SplitName } from '../data/dataset.js';
import type { Task } from '../data/medmnist.js';
import { CARD_FILE, type ModelCard } from './card.js';
import { readOnnxModel } from './onnx-graph/proto.js';
import { OnnxGraph } from './onnx-graph/graph.js';
import { OnnxGraphModel, type OnnxPreprocess } from './onnx-graph/model.js';
import { evaluateSplit } from './train.js';

export interface ImportOptions {
  file: string;
  out: string;
  classes?: string[];
  task?: Task;
  /** [H, W, C] of the network's input. */
  input?: [number, number, number];
  layout?: 'nchw' | 'nhwc';
  mean?: number[];
  std?: number[];
  range?: [number, number];
  output?: 'logits' | 'probs';
  dataset?: string;
  split?: SplitName;
  featureLayers?: string[];
  name?: string;
  dataDir?: string;
  /** Images compared against onnxruntime (default 16). */
  checkImages?: number;
  /** Evaluate on the dataset's split when `dataset` is given (default true). */
  evaluate?: boolean;
  /** Largest accepted |engine − onnxruntime| (default 1e-4). */
  tolerance?: number;
}

export interface ImportResult {
  out: string;
  format: 'onnx';
  differentiable: true;
  opset: number;
  ops: string[];
  parameters: number;
  input: {
    shape: [number, number, number];
    layout: 'nchw' | 'nhwc';
    range: [number, number];
    mean: number[] | null;
    std: number[] | null;
  };
  featureLayers: string[];
  check: { images: number; maxAbsDiff: number };
  eval: { accuracy: number; auc: number } | null;
}

const r6 = (v: number): number => Number(v.toPrecision(6));

/** Real images for the check: the first n of `split`, resized (bilinear) to h×w and given c channels. */
function checkBatch(split: Split, n: number, h: number, w: number, c: number): tf.Tensor4D {
  return tf.tidy(() => {
    let x = batchImages(
      split,
      Array.from({ length: Math.min(n, split.n) }, (_, i) => i),
    );
    if (x.shape[1] !== h || x.shape[2] !== w) x = tf.clipByValue(tf.image.resizeBilinear(x, [h, w], false, true), 0, 1);
    if (x.shape[3] === 1 && c === 3) x = tf.concat([x, x, x], 3);
    if (x.shape[3] !== c) throw mismatch(`the check images have ${x.shape[3]} channels, the model takes ${c}`);
    return x;
  });
}

export async function importOnnx(o: ImportOptions): Promise<ImportResult> {
  if (!existsSync(o.file)) throw notFound(`ONNX file '${o.file}' does not exist`);
  if (!statSync(o.file).isFile()) throw badInput(`'${o.file}' is not a file`);
  const bytes = readFileSync(o.file);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  const proto = readOnnxModel(bytes, o.file);
  const featureLayers = o.featureLayers ?? [];
  const graph = new OnnxGraph(proto, o.file, featureLayers);
  for (const f of featureLayers)
    if (!graph.hasValue(f))
      throw badArgument(
        `--feature-layers: '${f}' is not the output of any node (e.g. ${graph.nodeOutputs.slice(-4).join(', ')})`,
      );

  // Input shape and layout.
  const dims = graph.inputDims;
  if (dims.length !== 4)
    throw badInput(
      `${o.file}: the input '${graph.inputName}' is ${dims.length}-D; ` +
        `medshield imports image classifiers with a 4-D (batch, image) input`,
    );
  const num = (d: number | string): number => (typeof d === 'number' && d > 0 ? d : -1);
  const layout =
    o.layout ??
    (num(dims[1]) === 1 || num(dims[1]) === 3 ? 'nchw' : num(dims[3]) === 1 || num(dims[3]) === 3 ? 'nhwc' : 'nchw');
  const [gh, gw, gc] =
    layout === 'nchw' ? [num(dims[2]), num(dims[3]), num(dims[1])] : [num(dims[1]), num(dims[2]), num(dims[3])];
  let shape: [number, number, number];
  if (o.input) {
    const [h, w, c] = o.input;
    if ((gh > 0 && gh !== h) || (gw > 0 && gw !== w) || (gc > 0 && gc !== c))
      throw mismatch(`--input ${h}x${w}x${c} does not match the graph's input ${dims.join('×')} (${layout})`);
    shape = o.input;
  } else {
    if (gh < 0 || gw < 0)
      throw badArgument(
        `${o.file}: the input '${graph.inputName}' has a dynamic spatial size (${dims.join('×')}); pass --input HxWxC`,
      );
    if (gc < 0)
      throw badArgument(`${o.file}: the input '${graph.inputName}' has a dynamic channel count; pass --input HxWxC`);
    shape = [gh, gw, gc];
  }
  const [H, W, C] = shape;
  if (C !== 1 && C !== 3) throw badArgument(`the model takes ${C} channels; medshield images have 1 or 3`);

  // Preprocessing.
  const range = o.range ?? [0, 1];
  if (!(range[1] > range[0])) throw badArgument(`--range ${range.join(',')}: the upper bound must exceed the lower`);
  const perChannel = (v: number[] | undefined, flag: string): number[] | null => {
    if (!v) return null;
    if (v.length === 1) return Array(C).fill(v[0]);
    if (v.length !== C) throw badArgument(`${flag} has ${v.length} values; the model takes ${C} channels`);
    return v;
  };
  const mean = perChannel(o.mean, '--mean');
  const std = perChannel(o.std, '--std');
  if (!!mean !== !!std) throw badArgument('--mean and --std go together');
  if (std?.some((s) => !(s > 0))) throw badArgument('--std values must be positive');
  const preprocess: OnnxPreprocess = { range, mean, std, channels: C };

  // Data (for the check and the optional evaluation).
  const data = await loadDataset(o.dataset ?? 'pneumoniamnist', { dataDir: o.dataDir });
  const splitName = o.split ?? 'test';
  const split = data.splits[splitName];
  if (!split) throw badArgument(`dataset '${data.name}' has no split '${splitName}'`);
  const dataChannels = o.dataset ? split.channels : C;
  if (o.dataset && !(dataChannels === C || (dataChannels === 1 && C === 3)))
    throw mismatch(`dataset '${data.name}' has ${dataChannels}-channel images; the model takes ${C}`);
  if (o.dataset && (split.height !== H || split.width !== W))
    throw mismatch(`dataset '${data.name}' has ${split.height}×${split.width} images; the model takes ${H}×${W}`);

  // Output width and classes.
  const probe = tf.tidy(() => graph.run(tf.zeros([1, H, W, C]), layout === 'nchw', [graph.outputName])[0]);
  const k = probe.size;
  probe.dispose();
  if (k < 1) throw badInput(`${o.file}: the output '${graph.outputName}' is empty`);
  let classes = o.classes ?? (o.dataset ? data.info.classes : Array.from({ length: k }, (_, i) => `class ${i}`));
  if (o.classes && o.dataset && o.classes.length !== data.info.classes.length)
    throw mismatch(
      `--classes lists ${o.classes.length} classes but dataset '${data.name}' has ${data.info.classes.length}`,
    );
  if (classes.length !== k)
    throw mismatch(
      `the graph outputs ${k} value${k === 1 ? '' : 's'} per image but ` +
        `${o.classes ? '--classes lists' : `dataset '${data.name}' has`} ${classes.length} classes`,
    );
  if (k < 2)
    throw mismatch(
      `the graph outputs one value per image; export two logits (or use --task multilabel with --classes)`,
    );
  classes = classes.map(String);
  const task: Task = o.task ?? (o.dataset ? data.info.task : k === 2 ? 'binary' : 'multiclass');

  const name = o.name ?? path.basename(o.file).replace(/\.onnx$/i, '');
  const card: ModelCard = {
    schema: 'medshield.model-card/1',
    name,
    architecture: {
      name: `onnx:${proto.producer || 'unknown'}`,
      width: 0,
      parameters: graph.parameters,
      format: 'onnx',
    },
    dataset: {
      name: o.dataset ? data.name : 'unknown',
      size: H,
      task,
      classes,
      sha256: o.dataset ? data.sha256 : '',
      splits: o.dataset
        ? { train: data.splits.train.n, val: data.splits.val.n, test: data.splits.test.n }
        : { train: 0, val: 0, test: 0 },
    },
    input: {
      shape: [H, W, dataChannels],
      range: [0, 1],
      layout: 'NHWC',
      resize: 'bilinear',
      normalization:
        `x·${range[1] - range[0]}${range[0] ? `+${range[0]}` : ''}` +
        `${dataChannels === 1 && C === 3 ? ', grey→RGB' : ''}` +
        `${mean ? `, (x−[${mean.join(',')}])/[${std!.join(',')}]` : ''}` +
        `, then the ONNX graph (${layout.toUpperCase()})`,
    },
    metrics: {},
    onnx: {
      layout: layout === 'nchw' ? 'NCHW' : 'NHWC',
      output: o.output ?? 'logits',
      differentiable: true,
      file: 'model.onnx',
      sha256,
      opset: graph.opset,
      featureLayers: featureLayers.length ? featureLayers : [graph.defaultFeatureLayer()],
      preprocess,
    },
    medshieldVersion: VERSION,
    gitCommit: null,
    createdAt: new Date().toISOString(),
  };
  const model = new OnnxGraphModel(graph, card, card.onnx!.featureLayers!);

  // Check against onnxruntime-node on real images.
  const nCheck = Math.min(o.checkImages ?? 16, split.n);
  const x = checkBatch(split, nCheck, H, W, dataChannels);
  const pre = model.preprocess(x);
  const engineOut = tf.tidy(() => tf.reshape(graph.run(pre, layout === 'nchw', [graph.outputName])[0], [nCheck, -1]));
  const ours = (await engineOut.data()) as Float32Array;
  const input = layout === 'nchw' ? tf.transpose(pre, [0, 3, 1, 2]) : pre;
  const feed = (await input.data()) as Float32Array;
  const ortDims = [nCheck, ...(layout === 'nchw' ? [C, H, W] : [H, W, C])];
  [x, pre, engineOut, input].forEach((t) => t.dispose());
  const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
  let theirs: Float32Array;
  try {
    const session = await ort.InferenceSession.create(new Uint8Array(bytes), {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
    });
    const res = await session.run({ [graph.inputName]: new ort.Tensor('float32', feed, ortDims) });
    theirs = Float32Array.from(res[session.outputNames[0]].data as Float32Array);
    await session.release();
  } catch (e) {
    throw badInput(
      `${o.file}: onnxruntime cannot run the model for the check ` +
        `(${e instanceof Error ? e.message.split('\n')[0] : e})`,
    );
  }
  if (theirs.length !== ours.length)
    throw mismatch(
      `${o.file}: the engine gives ${ours.length / nCheck} outputs per image, onnxruntime ${theirs.length / nCheck}`,
    );
  let maxAbsDiff = 0;
  for (let i = 0; i < ours.length; i++)
    maxAbsDiff = Math.max(
      maxAbsDiff,
      Math.abs(ours[i] - theirs[i]) || (Number.isNaN(ours[i] - theirs[i]) ? Infinity : 0),
    );
  const tol = o.tolerance ?? 1e-4;
  if (!(maxAbsDiff <= tol))
    throw mismatch(
      `${o.file}: the engine's outputs differ from onnxruntime's by up to ` +
        `${maxAbsDiff.toExponential(2)} on ${nCheck} real images (limit ${tol}); nothing written`,
    );

  // Evaluate, then write atomically.
  let evalOut: ImportResult['eval'] = null;
  if (o.dataset && o.evaluate !== false) {
    const r = await evaluateSplit(model, split);
    evalOut = { accuracy: r6(r.accuracy), auc: r6(r.auc) };
    card.metrics = {
      [splitName === 'test' ? 'test' : 'val']: { accuracy: evalOut.accuracy, auc: evalOut.auc, n: r.n },
    };
  }
  const out = path.resolve(o.out);
  if (existsSync(out) && !statSync(out).isDirectory())
    throw badArgument(`--out '${o.out}' exists and is not a directory`);
  mkdirSync(path.dirname(out), { recursive: true });
  const tmp = path.join(path.dirname(out), `.${path.basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    writeFileSync(path.join(tmp, 'model.onnx'), bytes);
    writeFileSync(path.join(tmp, CARD_FILE), JSON.stringify(card, null, 2) + '\n');
    if (existsSync(out)) rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return {
    out: o.out,
    format: 'onnx',
    differentiable: true,
    opset: graph.opset,
    ops: graph.ops,
    parameters: graph.parameters,
    input: { shape: [H, W, C], layout, range, mean, std },
    featureLayers: card.onnx!.featureLayers!,
    check: { images: nCheck, maxAbsDiff: Number(maxAbsDiff.toExponential(3)) },
    eval: evalOut,
  };
}
