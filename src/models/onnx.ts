/**
 * Forward-only models from ONNX files, run by onnxruntime-node (2 intra-op threads). They return
 * probabilities only — no gradients — so they serve as black-box targets and fast inference.
 *
 * Accepted forms: a directory with `model.onnx` + `model-card.json`, or a file `X.onnx` with an
 * optional `X.card.json` beside it. Without a card, the input shape and layout (NCHW when the
 * second dimension is 1 or 3, else NHWC) come from the graph, classes are numbered, and the
 * output is treated as logits (softmax applied) unless the card says `onnx.output: "probs"`.
 *
 * A directory written by `medshield model import` (card `onnx.differentiable: true`) loads instead as
 * a differentiable {@link OnnxGraphModel}: the graph runs with tfjs ops (src/models/onnx-graph/),
 * after the ONNX file's sha256 is checked against the card's.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { badInput, mismatch, notFound } from '../errors.js';
import { VERSION } from '../version.js';
import { validateCard, type ModelCard } from './card.js';
import type { DifferentiableModel, ForwardModel, Model } from './model.js';
import { CARD_FILE } from './card.js';
import type { OnnxGraphModel } from './onnx-graph/model.js';

type Ort = typeof import('onnxruntime-node');
let ortModule: Ort | null = null;
function ort(): Ort {
  if (!ortModule) ortModule = createRequire(import.meta.url)('onnxruntime-node') as Ort;
  return ortModule;
}

export class OnnxModel implements ForwardModel {
  readonly differentiable = false as const;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task;
  constructor(
    private session: import('onnxruntime-node').InferenceSession,
    readonly card: ModelCard,
    private inputName: string,
    private outputName: string,
  ) {
    this.inputShape = card.input.shape;
    this.classes = card.dataset.classes;
    this.task = card.dataset.task;
  }

  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    const [h, w, c] = this.inputShape;
    if (x.length !== n * h * w * c) throw badInput(`ONNX model expects ${n}×${h}×${w}×${c} values, got ${x.length}`);
    const layout = this.card.onnx?.layout ?? 'NCHW';
    let data = x;
    let dims = [n, h, w, c];
    if (layout === 'NCHW') {
      data = new Float32Array(x.length);
      for (let i = 0; i < n; i++)
        for (let p = 0; p < h * w; p++)
          for (let ch = 0; ch < c; ch++) data[i * h * w * c + ch * h * w + p] = x[i * h * w * c + p * c + ch];
      dims = [n, c, h, w];
    }
    const O = ort();
    const out = await this.session.run({ [this.inputName]: new O.Tensor('float32', data, dims) });
    const t = out[this.outputName];
    const k = this.classes.length;
    const raw = t.data as Float32Array;
    if (raw.length !== n * k)
      throw badInput(`ONNX model returned ${raw.length / n} values per image but its card lists ${k} classes`);
    if (this.card.onnx?.output === 'probs') return Float32Array.from(raw);
    const probs = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      if (this.task === 'multilabel') {
        for (let j = 0; j < k; j++) probs[i * k + j] = 1 / (1 + Math.exp(-raw[i * k + j]));
        continue;
      }
      let m = -Infinity;
      for (let j = 0; j < k; j++) m = Math.max(m, raw[i * k + j]);
      let s = 0;
      for (let j = 0; j < k; j++) {
        probs[i * k + j] = Math.exp(raw[i * k + j] - m);
        s += probs[i * k + j];
      }
      for (let j = 0; j < k; j++) probs[i * k + j] /= s;
    }
    return probs;
  }
}

function inferredCard(file: string, dims: ReadonlyArray<number | string>, k: number): ModelCard {
  const d = dims.map((v) => (typeof v === 'number' ? v : -1));
  if (d.length !== 4) throw badInput(`${file}: ONNX input must be 4-D (image batch), got ${dims.length}-D; add a card`);
  const nchw = d[1] === 1 || d[1] === 3;
  const [h, w, c] = nchw ? [d[2], d[3], d[1]] : [d[1], d[2], d[3]];
  if (!(h > 0 && w > 0 && c > 0))
    throw badInput(`${file}: ONNX input has symbolic image dimensions; add a card with input.shape`);
  return {
    schema: 'medshield.model-card/1',
    name: path.basename(file, '.onnx'),
    architecture: { name: 'onnx', width: 0, parameters: 0, format: 'onnx' },
    dataset: {
      name: 'unknown',
      size: h,
      task: k === 2 ? 'binary' : 'multiclass',
      classes: Array.from({ length: k }, (_, i) => `class ${i}`),
      sha256: '',
      splits: { train: 0, val: 0, test: 0 },
    },
    input: {
      shape: [h, w, c],
      range: [0, 1],
      layout: 'NHWC',
      normalization: 'unknown (inside the graph)',
      resize: 'area/bilinear',
    },
    metrics: {},
    onnx: { layout: nchw ? 'NCHW' : 'NHWC', output: 'logits' },
    medshieldVersion: VERSION,
    gitCommit: null,
    createdAt: new Date(0).toISOString(),
  };
}

/** The card of an imported (differentiable) ONNX model directory, or null when `p` is not one. */
export function importedOnnxCard(p: string): ModelCard | null {
  const cardPath = path.join(p, CARD_FILE);
  if (!existsSync(p) || !statSync(p).isDirectory() || !existsSync(cardPath)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(cardPath, 'utf8'));
  } catch {
    throw badInput(`${cardPath} is not valid JSON`);
  }
  const card = validateCard(raw, cardPath);
  return card.architecture.format === 'onnx' && card.onnx?.differentiable ? card : null;
}

/** Load an imported ONNX model directory as a differentiable model (weights' sha256 checked against the card). */
export async function loadImportedOnnx(dir: string, card = importedOnnxCard(dir)): Promise<OnnxGraphModel> {
  if (!card) throw badInput(`model '${dir}' is not an imported ONNX model directory (run 'medshield model import')`);
  const name = card.onnx?.file ?? 'model.onnx';
  if (name !== path.basename(name))
    throw badInput(`model '${dir}': card names ONNX file ${JSON.stringify(name)}, not a plain file name`);
  const file = path.join(dir, name);
  if (!existsSync(file)) throw badInput(`model '${dir}' is incomplete (${name} is missing)`);
  const bytes = readFileSync(file);
  const sha = createHash('sha256').update(bytes).digest('hex');
  if (card.onnx?.sha256 && sha !== card.onnx.sha256)
    throw mismatch(
      `model '${dir}': ${name} has sha256 ${sha.slice(0, 12)}…, the card ` +
        `says ${card.onnx.sha256.slice(0, 12)}… (the file changed after import)`,
    );
  const { readOnnxModel } = await import('./onnx-graph/proto.js');
  const { OnnxGraph } = await import('./onnx-graph/graph.js');
  const { OnnxGraphModel } = await import('./onnx-graph/model.js');
  const layers = card.onnx?.featureLayers ?? [];
  const graph = new OnnxGraph(readOnnxModel(bytes, file), file, layers);
  const feats = layers.length ? layers : [graph.defaultFeatureLayer()];
  return new OnnxGraphModel(graph, card, feats);
}

/** A model with gradients: an imported ONNX directory, else a medshield (tfjs) model directory. */
export async function loadDifferentiableModel(spec?: string): Promise<DifferentiableModel> {
  const { resolveModelPath, loadClassifier } = await import('./io.js');
  const p = resolveModelPath(spec);
  const card = importedOnnxCard(p);
  return card ? loadImportedOnnx(p, card) : loadClassifier(spec);
}

export async function loadOnnxModel(p: string): Promise<Model> {
  if (!existsSync(p)) throw notFound(`model '${p}' does not exist`);
  const imported = importedOnnxCard(p);
  if (imported) return loadImportedOnnx(p, imported);
  const dir = statSync(p).isDirectory();
  const file = dir ? path.join(p, 'model.onnx') : p;
  const cardPath = dir ? path.join(p, 'model-card.json') : p.replace(/\.onnx$/i, '.card.json');
  let session: import('onnxruntime-node').InferenceSession;
  try {
    session = await ort().InferenceSession.create(file, {
      intraOpNumThreads: 2,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (e) {
    throw badInput(`${file}: not a loadable ONNX model (${e instanceof Error ? e.message.split('\n')[0] : e})`);
  }
  const inMeta = session.inputMetadata[0];
  const outMeta = session.outputMetadata[0];
  const outDims = outMeta && 'shape' in outMeta ? outMeta.shape : [];
  const k = typeof outDims[outDims.length - 1] === 'number' ? (outDims[outDims.length - 1] as number) : -1;
  let card: ModelCard;
  if (existsSync(cardPath)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(cardPath, 'utf8'));
    } catch {
      throw badInput(`${cardPath} is not valid JSON`);
    }
    card = validateCard(raw, cardPath);
  } else {
    if (k < 2)
      throw badInput(`${file}: cannot tell the number of classes from the graph; add ${path.basename(cardPath)}`);
    card = inferredCard(file, inMeta && 'shape' in inMeta ? inMeta.shape : [], k);
  }
  if (k > 0 && k !== card.dataset.classes.length)
    throw badInput(`${file}: the graph has ${k} outputs but the card lists ${card.dataset.classes.length} classes`);
  return new OnnxModel(session, card, session.inputNames[0], session.outputNames[0]);
}
