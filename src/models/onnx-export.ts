/**
 * Export a medshield tfjs-layers classifier to ONNX (opset 13, IR version 7) so it can run under
 * onnxruntime as a black-box target or a fast inference model.
 *
 * The graph takes `input`: float NHWC [N,H,W,C] in [0,1] (dynamic batch), transposes once to NCHW,
 * and returns `logits` [N,k]; the card written beside it says `onnx: {layout: 'NHWC', output: 'logits'}`.
 * Layer mapping: Rescaling → Mul+Add; Conv2D → Conv (kernel HWIO → OIHW; TF 'same' padding made
 * explicit, asymmetric when the stride does not divide evenly) with a following BatchNormalization
 * folded in (W' = W·γ/√(σ²+ε), b' = (b−μ)·γ/√(σ²+ε)+β, in float64); a BatchNormalization that
 * follows anything else → BatchNormalization node; ReLU/LeakyReLU/Activation/Softmax → the ONNX
 * activation; Max/AveragePooling2D → MaxPool/AveragePool; Global{Average,Max}Pooling2D → Global*Pool
 * + Flatten; Flatten → Transpose back to NHWC + Flatten (tfjs flattens in H,W,C order); Dense → Gemm
 * (W [in,out], transB 0); Add/Multiply/Concatenate; Dropout-like layers → identity.
 * Any other layer fails with an `unsupported` error naming it.
 *
 * Usage: `medshield export --model default --format onnx --out /tmp/default-onnx --json`
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { tf } from '../engine/index.js';
import { badInput, unsupported } from '../errors.js';
import { VERSION } from '../version.js';
import { CARD_FILE, withWeightsHash, type ModelCard } from './card.js';
import type { Classifier } from './model.js';
import { floatTensor, graph, model as modelProto, node, valueInfo, type AttrValue, type Pb } from './onnx-proto.js';

export const OPSET = 13;
export const IR_VERSION = 7;

type Sym = tf.SymbolicTensor;
interface Val {
  name: string;
  rank: number;
}
type Cfg = Record<string, unknown>;

const IDENTITY_LAYERS = new Set([
  'Dropout',
  'SpatialDropout1D',
  'SpatialDropout2D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
]);

/** TF 'same' padding for one spatial axis: [before, after] (the extra pixel goes after). */
export function samePads(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const eff = (kernel - 1) * dilation + 1;
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + eff - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

class Exporter {
  nodes: Pb[] = [];
  inits: Pb[] = [];
  private vals = new Map<number, Val>();
  private n = 0;
  private consts = new Map<string, string>();

  fresh(hint: string): string {
    return `${hint.replace(/[^A-Za-z0-9_]/g, '_')}_${++this.n}`;
  }
  op(op: string, inputs: string[], hint: string, attrs: Record<string, AttrValue> = {}): string {
    const out = this.fresh(hint);
    this.nodes.push(node(op, inputs, [out], out, attrs));
    return out;
  }
  weight(hint: string, dims: number[], data: Float32Array): string {
    const name = this.fresh(hint);
    this.inits.push(floatTensor(name, dims, data));
    return name;
  }
  scalar(v: number): string {
    const key = `f${v}`;
    if (!this.consts.has(key)) this.consts.set(key, this.weight(`const`, [], Float32Array.of(v)));
    return this.consts.get(key)!;
  }
  get(t: Sym): Val {
    const v = this.vals.get(t.id);
    if (!v)
      throw unsupported(
        `ONNX export: tensor '${t.name}' is used before it is computed (not a plain feed-forward graph)`,
      );
    return v;
  }
  set(t: Sym, v: Val): void {
    this.vals.set(t.id, v);
  }

  activation(kind: string, x: Val, layer: string, axisLast = true): Val {
    const r = (name: string): Val => ({ name, rank: x.rank });
    switch (kind) {
      case 'linear':
        return x;
      case 'relu':
        return r(this.op('Relu', [x.name], layer));
      case 'relu6':
        return r(this.op('Clip', [x.name, this.scalar(0), this.scalar(6)], layer));
      case 'sigmoid':
        return r(this.op('Sigmoid', [x.name], layer));
      case 'hardSigmoid':
        return r(this.op('HardSigmoid', [x.name], layer, { alpha: { float: 0.2 }, beta: { float: 0.5 } }));
      case 'tanh':
        return r(this.op('Tanh', [x.name], layer));
      case 'elu':
        return r(this.op('Elu', [x.name], layer));
      case 'selu':
        return r(this.op('Selu', [x.name], layer));
      case 'softplus':
        return r(this.op('Softplus', [x.name], layer));
      case 'softsign':
        return r(this.op('Softsign', [x.name], layer));
      case 'swish':
        return r(this.op('Mul', [x.name, this.op('Sigmoid', [x.name], layer)], layer));
      case 'softmax':
        if (!axisLast) break;
        return r(this.op('Softmax', [x.name], layer, { axis: x.rank === 4 ? 1 : x.rank - 1 }));
    }
    throw unsupported(`ONNX export: activation '${kind}' (layer '${layer}') is not supported`);
  }
}

function inputsOf(layer: tf.layers.Layer): Sym[] {
  let inp: Sym | Sym[];
  try {
    inp = layer.input as Sym | Sym[];
  } catch {
    throw unsupported(`ONNX export: layer '${layer.name}' is shared (several inbound nodes)`);
  }
  return Array.isArray(inp) ? inp : [inp];
}
function outputOf(layer: tf.layers.Layer): Sym {
  const o = layer.output;
  if (Array.isArray(o)) throw unsupported(`ONNX export: layer '${layer.name}' has several outputs`);
  return o as Sym;
}
const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0], v[1] ?? v[0]] : [v as number, v as number]);
const data = (t: tf.Tensor): Float32Array => t.dataSync() as Float32Array;

/** Batch-norm parameters per channel: y = x·scale + shift. */
function bnAffine(layer: tf.layers.Layer): { scale: Float64Array; shift: Float64Array; c: number } {
  const cfg = layer.getConfig() as Cfg;
  const w = layer.getWeights();
  let i = 0;
  const gamma = cfg.scale !== false ? data(w[i++]) : null;
  const beta = cfg.center !== false ? data(w[i++]) : null;
  const mean = data(w[i++]);
  const variance = data(w[i++]);
  const eps = (cfg.epsilon as number) ?? 1e-3;
  const c = mean.length;
  const scale = new Float64Array(c),
    shift = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    scale[j] = (gamma ? gamma[j] : 1) / Math.sqrt(variance[j] + eps);
    shift[j] = (beta ? beta[j] : 0) - mean[j] * scale[j];
  }
  return { scale, shift, c };
}

function bnAxisOk(layer: tf.layers.Layer, rank: number): boolean {
  const ax = (layer.getConfig() as Cfg).axis;
  const a = Array.isArray(ax) ? (ax.length === 1 ? ax[0] : NaN) : (ax as number);
  return a === -1 || a === rank - 1;
}

function conv(e: Exporter, layer: tf.layers.Layer, x: Val, bn: tf.layers.Layer | null): Val {
  const cfg = layer.getConfig() as Cfg;
  if (cfg.dataFormat && cfg.dataFormat !== 'channelsLast')
    throw unsupported(`ONNX export: layer '${layer.name}' uses ${cfg.dataFormat}`);
  const w = layer.getWeights();
  const [kh, kw, ci, co] = w[0].shape as number[];
  const k = data(w[0]);
  const bias = cfg.useBias !== false && w[1] ? data(w[1]) : null;
  const aff = bn ? bnAffine(bn) : null;
  const W = new Float32Array(co * ci * kh * kw);
  const B = new Float32Array(co);
  for (let o = 0; o < co; o++) {
    const s = aff ? aff.scale[o] : 1;
    for (let i = 0; i < ci; i++)
      for (let y = 0; y < kh; y++)
        for (let xx = 0; xx < kw; xx++) {
          W[((o * ci + i) * kh + y) * kw + xx] = k[((y * kw + xx) * ci + i) * co + o] * s;
        }
    B[o] = (bias ? bias[o] : 0) * s + (aff ? aff.shift[o] : 0);
  }
  const [sh, sw] = pair(cfg.strides ?? 1);
  const [dh, dw] = pair(cfg.dilationRate ?? 1);
  const inShape = inputsOf(layer)[0].shape as number[];
  let pads = [0, 0, 0, 0];
  if (cfg.padding === 'same') {
    const [t, b] = samePads(inShape[1], kh, sh, dh);
    const [l, r] = samePads(inShape[2], kw, sw, dw);
    pads = [t, l, b, r];
  } else if (cfg.padding !== 'valid')
    throw unsupported(`ONNX export: padding '${cfg.padding}' (layer '${layer.name}')`);
  const inputs = [x.name, e.weight(`${layer.name}_W`, [co, ci, kh, kw], W)];
  if (bias || aff) inputs.push(e.weight(`${layer.name}_B`, [co], B));
  const y = e.op('Conv', inputs, layer.name, {
    kernel_shape: [kh, kw],
    strides: [sh, sw],
    dilations: [dh, dw],
    pads,
    group: 1,
  });
  return e.activation(String(cfg.activation ?? 'linear'), { name: y, rank: 4 }, layer.name);
}

function pool(e: Exporter, layer: tf.layers.Layer, x: Val, op: 'MaxPool' | 'AveragePool'): Val {
  const cfg = layer.getConfig() as Cfg;
  const [kh, kw] = pair(cfg.poolSize ?? 2);
  const [sh, sw] = pair(cfg.strides ?? cfg.poolSize ?? 2);
  const inShape = inputsOf(layer)[0].shape as number[];
  let pads = [0, 0, 0, 0];
  if (cfg.padding === 'same') {
    const [t, b] = samePads(inShape[1], kh, sh);
    const [l, r] = samePads(inShape[2], kw, sw);
    pads = [t, l, b, r];
  }
  return { name: e.op(op, [x.name], layer.name, { kernel_shape: [kh, kw], strides: [sh, sw], pads }), rank: 4 };
}

/** Serialise the network to ONNX bytes. */
export function onnxBytes(net: tf.LayersModel, doc = ''): Uint8Array {
  if (net.inputs.length !== 1 || net.outputs.length !== 1)
    throw unsupported('ONNX export: only single-input, single-output models are supported');
  const e = new Exporter();
  const consumers = new Map<number, tf.layers.Layer[]>();
  for (const l of net.layers)
    for (const t of l.getClassName() === 'InputLayer' ? [] : inputsOf(l))
      consumers.set(t.id, [...(consumers.get(t.id) ?? []), l]);
  const folded = new Set<tf.layers.Layer>();
  const inShape = net.inputs[0].shape as Array<number | null>;
  if (inShape.length !== 4)
    throw unsupported(`ONNX export: the model input must be an image batch [N,H,W,C], got rank ${inShape.length}`);
  const [, H, W, C] = inShape as number[];

  for (const layer of net.layers) {
    const cls = layer.getClassName();
    const out = outputOf(layer);
    if (cls === 'InputLayer') {
      e.set(out, { name: e.op('Transpose', ['input'], 'to_nchw', { perm: [0, 3, 1, 2] }), rank: 4 });
      continue;
    }
    if (folded.has(layer)) continue;
    const ins = inputsOf(layer).map((t) => e.get(t));
    const x = ins[0];
    const cfg = layer.getConfig() as Cfg;
    let y: Val;
    switch (cls) {
      case 'Rescaling': {
        const s = e.op('Mul', [x.name, e.scalar(cfg.scale as number)], layer.name);
        y = { name: e.op('Add', [s, e.scalar((cfg.offset as number) ?? 0)], layer.name), rank: x.rank };
        break;
      }
      case 'Conv2D': {
        const next = consumers.get(out.id) ?? [];
        const bn =
          next.length === 1 &&
          next[0].getClassName() === 'BatchNormalization' &&
          bnAxisOk(next[0], 4) &&
          (cfg.activation ?? 'linear') === 'linear' &&
          !net.outputs.some((o) => o.id === out.id)
            ? next[0]
            : null;
        y = conv(e, layer, x, bn);
        if (bn) {
          folded.add(bn);
          e.set(outputOf(bn), y);
          continue;
        }
        break;
      }
      case 'BatchNormalization': {
        if (!bnAxisOk(layer, x.rank))
          throw unsupported(
            `ONNX export: layer '${layer.name}' normalises axis ${JSON.stringify(cfg.axis)}, not the channels`,
          );
        const { scale, shift, c } = bnAffine(layer);
        const ones = new Float32Array(c).fill(1);
        const args = [
          x.name,
          e.weight(`${layer.name}_scale`, [c], Float32Array.from(scale)),
          e.weight(`${layer.name}_shift`, [c], Float32Array.from(shift)),
          e.weight(`${layer.name}_mean`, [c], new Float32Array(c)),
          e.weight(`${layer.name}_var`, [c], ones),
        ];
        y = { name: e.op('BatchNormalization', args, layer.name, { epsilon: { float: 0 } }), rank: x.rank };
        break;
      }
      case 'ReLU':
        y =
          cfg.maxValue == null
            ? e.activation('relu', x, layer.name)
            : { name: e.op('Clip', [x.name, e.scalar(0), e.scalar(cfg.maxValue as number)], layer.name), rank: x.rank };
        break;
      case 'LeakyReLU':
        y = {
          name: e.op('LeakyRelu', [x.name], layer.name, { alpha: { float: (cfg.alpha as number) ?? 0.3 } }),
          rank: x.rank,
        };
        break;
      case 'Activation':
        y = e.activation(String(cfg.activation), x, layer.name);
        break;
      case 'Softmax':
        y = e.activation(
          'softmax',
          x,
          layer.name,
          cfg.axis === undefined || cfg.axis === -1 || cfg.axis === x.rank - 1,
        );
        break;
      case 'MaxPooling2D':
        y = pool(e, layer, x, 'MaxPool');
        break;
      case 'AveragePooling2D':
        y = pool(e, layer, x, 'AveragePool');
        break;
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D': {
        if (cfg.keepDims) throw unsupported(`ONNX export: layer '${layer.name}' keeps dims`);
        const g = e.op(cls === 'GlobalMaxPooling2D' ? 'GlobalMaxPool' : 'GlobalAveragePool', [x.name], layer.name);
        y = { name: e.op('Flatten', [g], layer.name, { axis: 1 }), rank: 2 };
        break;
      }
      case 'Flatten':
        y =
          x.rank === 2
            ? x
            : {
                name: e.op(
                  'Flatten',
                  [x.rank === 4 ? e.op('Transpose', [x.name], layer.name, { perm: [0, 2, 3, 1] }) : x.name],
                  layer.name,
                  { axis: 1 },
                ),
                rank: 2,
              };
        break;
      case 'Dense': {
        if (x.rank !== 2) throw unsupported(`ONNX export: Dense layer '${layer.name}' on a rank-${x.rank} input`);
        const w = layer.getWeights();
        const [nin, nout] = w[0].shape as number[];
        const args = [x.name, e.weight(`${layer.name}_W`, [nin, nout], data(w[0]))];
        if (cfg.useBias !== false && w[1]) args.push(e.weight(`${layer.name}_B`, [nout], data(w[1])));
        const z = e.op(args.length === 3 ? 'Gemm' : 'MatMul', args, layer.name);
        y = e.activation(String(cfg.activation ?? 'linear'), { name: z, rank: 2 }, layer.name);
        break;
      }
      case 'Add':
        y = {
          name: e.op(
            ins.length === 2 ? 'Add' : 'Sum',
            ins.map((v) => v.name),
            layer.name,
          ),
          rank: x.rank,
        };
        break;
      case 'Multiply':
        y = { name: ins.slice(1).reduce((a, v) => e.op('Mul', [a, v.name], layer.name), x.name), rank: x.rank };
        break;
      case 'Concatenate': {
        const ax = (cfg.axis as number) ?? -1;
        if (!(ax === -1 || ax === x.rank - 1))
          throw unsupported(`ONNX export: layer '${layer.name}' concatenates along axis ${ax}`);
        y = {
          name: e.op(
            'Concat',
            ins.map((v) => v.name),
            layer.name,
            { axis: x.rank === 4 ? 1 : x.rank - 1 },
          ),
          rank: x.rank,
        };
        break;
      }
      default:
        if (!IDENTITY_LAYERS.has(cls))
          throw unsupported(`ONNX export: layer '${layer.name}' of type ${cls} is not supported`);
        y = x;
    }
    e.set(out, y);
  }
  const last = e.get(net.outputs[0]);
  if (last.rank !== 2) throw unsupported(`ONNX export: the model output must be [N,k] logits, got rank ${last.rank}`);
  const k = net.outputs[0].shape[1] as number;
  e.nodes.push(node('Identity', [last.name], ['logits'], 'logits'));
  const g = graph(
    net.name || 'medshield',
    e.nodes,
    e.inits,
    [valueInfo('input', ['N', H, W, C])],
    [valueInfo('logits', ['N', k])],
    doc,
  );
  return modelProto(g, { irVersion: IR_VERSION, opset: OPSET, producer: 'medshield', producerVersion: VERSION, doc });
}

/** The card of the exported model: the source card, format onnx, NHWC input, logits output. */
export function onnxCard(card: ModelCard): ModelCard {
  const c = JSON.parse(JSON.stringify(card)) as ModelCard;
  c.architecture.format = 'onnx';
  c.onnx = { layout: 'NHWC', output: 'logits' };
  return c;
}

/**
 * Write `model` as ONNX. `out` ending in `.onnx` → that file plus `X.card.json` beside it;
 * otherwise a directory holding `model.onnx` + `model-card.json` (written to a temporary sibling
 * and renamed into place). Returns the path of the .onnx file.
 */
export async function exportOnnx(model: Classifier, out: string): Promise<string> {
  const bytes = onnxBytes(
    model.net,
    `${model.card.name}: ${model.card.architecture.name} on ` +
      `${model.card.dataset.name} (exported by medshield ${VERSION})`,
  );
  const onnxFile = out.toLowerCase().endsWith('.onnx') ? path.basename(out) : 'model.onnx';
  const card =
    JSON.stringify(
      withWeightsHash(onnxCard(model.card), createHash('sha256').update(bytes).digest('hex'), [onnxFile]),
      null,
      2,
    ) + '\n';
  const parent = path.dirname(path.resolve(out));
  mkdirSync(parent, { recursive: true });
  if (out.toLowerCase().endsWith('.onnx')) {
    if (existsSync(out) && statSync(out).isDirectory()) throw badInput(`--out '${out}' is a directory`);
    writeFileSync(out, bytes);
    writeFileSync(out.replace(/\.onnx$/i, '.card.json'), card);
    return out;
  }
  if (existsSync(out)) {
    if (!statSync(out).isDirectory()) throw badInput(`--out '${out}' exists and is not a directory`);
    if (existsSync(path.join(out, 'model.json')))
      throw badInput(`--out '${out}' holds a tfjs model; choose another directory`);
  }
  const tmp = path.join(parent, `.${path.basename(out)}.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    writeFileSync(path.join(tmp, 'model.onnx'), bytes);
    writeFileSync(path.join(tmp, CARD_FILE), card);
    rmSync(out, { recursive: true, force: true });
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
  return path.join(out, 'model.onnx');
}

/** Largest absolute difference between two equally long arrays. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw badInput(`cannot compare ${a.length} with ${b.length} values`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
