/**
 * An ONNX graph run with tfjs ops, so tf.grad differentiates through it (white-box attacks,
 * detectors, defences and the scorecard need input gradients). Semantics: the ONNX operator specs
 * (https://onnx.ai/onnx/operators/, opsets 7–18).
 *
 * Load time: initialisers become constants; every node whose inputs are all constant is evaluated
 * once in JS (const-ops.ts) and removed; a BatchNormalization right after a Conv with constant
 * weights is folded into it (s = γ/√(σ²+ε), w' = w·s, b' = (b − μ)·s + β, inference mode), and a
 * Relu that is a Conv's only consumer becomes the conv's fused activation (`convBiasAct`, one
 * oneDNN call on the native backend). Add → Relu, PyTorch's exported GELU (Div → Erf → Add → Mul →
 * Mul), SiLU (Sigmoid → Mul) and the decomposed layer norm of opsets < 17 become one op each. An op
 * outside the supported set is refused here, naming op, node and opset — never at attack time.
 *
 * Memory of a backward pass: the weights are constants, so only input gradients exist. Convolutions
 * (`constConv`), matmuls with a constant operand, elementwise ops with a constant, reshapes and the
 * fused ops above save only what their input gradient reads (const-grad.ts) — an input gradient
 * holds about one activation per layer, like a PyTorch model whose ReLUs are in place.
 *
 * Layout: ONNX image tensors are NCHW; tfjs convolutions and pools are NHWC. A 4-D value is kept
 * physically NHWC (`nhwc: true`, logical NCHW) through layout-aware ops (conv, pools, norms,
 * element-wise, concat/split on channels, reductions, resize, pad) and transposed to its logical
 * layout only when an op needs it (Reshape, Flatten of a spatial map, MatMul …) — so a CNN runs
 * NHWC end to end and a ViT transposes once after its patch embedding.
 *
 * Run time: values that only depend on the *shape* of an activation (Shape → Gather → Concat →
 * Reshape, batch size unknown at load) are computed in JS per call, outside the gradient tape.
 */
import { tf, affineRelu, convBiasAct, constConv } from '../../engine/index.js';
import { addRelu, constBinary, constMatMul, gelu, layerNorm, reshape, silu } from './const-grad.js';
import { MedshieldError, badInput, unsupported } from '../../errors.js';
import {
  CONST_OPS,
  attrFloat,
  attrInt,
  attrInts,
  attrStr,
  broadcastShape,
  constOp,
  ints,
  mk,
  reshapeTarget,
  size,
  sliceLen,
  sliceSpec,
} from './const-ops.js';
import type { Attr, Const, OnnxModelProto, OnnxNode } from './proto.js';

interface TV {
  t: tf.Tensor;
  nhwc: boolean;
}
type V = Const | TV;
const isC = (v: V): v is Const => 'data' in v;

const TO_NHWC = [0, 2, 3, 1];
const TO_NCHW = [0, 3, 1, 2];
/** Logical (NCHW) axis → physical (NHWC) axis. */
const L2P = [0, 3, 1, 2];

const UNARY: Record<string, (t: tf.Tensor, n: OnnxNode) => tf.Tensor> = {
  Relu: (t) => tf.relu(t),
  LeakyRelu: (t, n) => tf.leakyRelu(t, attrFloat(n, 'alpha', 0.01)),
  Elu: (t, n) => {
    const a = attrFloat(n, 'alpha', 1);
    return a === 1 ? tf.elu(t) : tf.where(tf.greater(t, 0), t, tf.mul(a, tf.sub(tf.exp(t), 1)));
  },
  Selu: (t, n) =>
    tf.mul(
      attrFloat(n, 'gamma', 1.0507009873554805),
      tf.where(tf.greater(t, 0), t, tf.mul(attrFloat(n, 'alpha', 1.6732632423543772), tf.sub(tf.exp(t), 1))),
    ),
  Sigmoid: (t) => tf.sigmoid(t),
  HardSigmoid: (t, n) => tf.clipByValue(tf.add(tf.mul(t, attrFloat(n, 'alpha', 0.2)), attrFloat(n, 'beta', 0.5)), 0, 1),
  HardSwish: (t) => tf.mul(t, tf.clipByValue(tf.add(tf.mul(t, 1 / 6), 0.5), 0, 1)),
  Tanh: (t) => tf.tanh(t),
  Erf: (t) => tf.erf(t),
  Softplus: (t) => tf.softplus(t),
  Softsign: (t) => tf.div(t, tf.add(tf.abs(t), 1)),
  Gelu: (t, n) =>
    attrStr(n, 'approximate', 'none') === 'tanh'
      ? tf.mul(
          tf.mul(t, 0.5),
          tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(t, tf.mul(0.044715, tf.pow(t, 3)))))),
        )
      : tf.mul(tf.mul(t, 0.5), tf.add(1, tf.erf(tf.mul(t, Math.SQRT1_2)))),
  Sqrt: (t) => tf.sqrt(t),
  Neg: (t) => tf.neg(t),
  Abs: (t) => tf.abs(t),
  Exp: (t) => tf.exp(t),
  Log: (t) => tf.log(t),
  Reciprocal: (t) => tf.reciprocal(t),
  Floor: (t) => tf.floor(t),
  Ceil: (t) => tf.ceil(t),
  Sin: (t) => tf.sin(t),
  Cos: (t) => tf.cos(t),
  Identity: (t) => t,
  Dropout: (t) => t,
};

const BINARY: Record<string, (a: tf.Tensor, b: tf.Tensor) => tf.Tensor> = {
  Add: (a, b) => tf.add(a, b),
  Sub: (a, b) => tf.sub(a, b),
  Mul: (a, b) => tf.mul(a, b),
  Div: (a, b) => tf.div(a, b),
  Pow: (a, b) => tf.pow(a, b),
  Min: (a, b) => tf.minimum(a, b),
  Max: (a, b) => tf.maximum(a, b),
  Sum: (a, b) => tf.add(a, b),
  Mean: (a, b) => tf.add(a, b),
  Equal: (a, b) => tf.equal(a, b),
  Less: (a, b) => tf.less(a, b),
  Greater: (a, b) => tf.greater(a, b),
};

const TENSOR_OPS = new Set([
  ...Object.keys(UNARY),
  ...Object.keys(BINARY),
  'Conv',
  'ConvTranspose',
  'BatchNormalization',
  'InstanceNormalization',
  'LayerNormalization',
  'PRelu',
  'Clip',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceMin',
  'Gemm',
  'MatMul',
  'Flatten',
  'Reshape',
  'Transpose',
  'Squeeze',
  'Unsqueeze',
  'Concat',
  'Split',
  'Slice',
  'Gather',
  'Pad',
  'Resize',
  'Upsample',
  'Softmax',
  'LogSoftmax',
  'Cast',
  'Constant',
  'Shape',
  'Size',
  'Expand',
  'Where',
  'ConstantOfShape',
  'Tile',
]);

/** Every op type `model import` accepts. */
export const SUPPORTED_OPS = [...new Set([...TENSOR_OPS, ...CONST_OPS])].sort();

interface ConvPrep {
  filter: tf.Tensor4D;
  bias: tf.Tensor1D | null;
  kind: 'conv' | 'depthwise' | 'grouped';
  groups: number;
  k: [number, number];
  strides: [number, number];
}

export interface GraphInfo {
  opset: number;
  ops: string[];
  parameters: number;
  inputName: string;
  inputDims: Array<number | string>;
  outputName: string;
  nodeOutputs: string[];
}

export class OnnxGraph {
  readonly opset: number;
  readonly inputName: string;
  readonly inputDims: Array<number | string>;
  readonly outputName: string;
  /** Op types of the original graph (before folding), sorted. */
  readonly ops: string[];
  readonly parameters: number;
  private nodes: OnnxNode[];
  private consts = new Map<string, Const>();
  private tcache = new Map<Const, tf.Tensor>();
  private bcache = new Map<Const, tf.Tensor>();
  private prep = new Map<OnnxNode, ConvPrep>();
  private fusedRelu = new Set<OnnxNode>();
  /** Add nodes whose only consumer was a Relu (run as one op saving only its output). */
  private fusedAddRelu = new Set<OnnxNode>();
  private fusedBnRelu = new Set<OnnxNode>();
  /** Every value name a node produces (feature layers are chosen from these). */
  readonly nodeOutputs: string[];

  constructor(
    m: OnnxModelProto,
    readonly file: string,
    keep: string[] = [],
  ) {
    this.opset = m.opsets.get('') ?? 0;
    const g = m.graph;
    const inits = g.initializers;
    const realInputs = g.inputs.filter((i) => !inits.has(i.name));
    if (realInputs.length !== 1)
      throw badInput(
        `${file}: the graph has ${realInputs.length} inputs; medshield imports image classifiers with one input`,
      );
    if (g.outputs.length < 1) throw badInput(`${file}: the graph has no output`);
    this.inputName = realInputs[0].name;
    this.inputDims = realInputs[0].dims ?? [];
    this.outputName = g.outputs[0].name;
    this.ops = [...new Set(g.nodes.map((n) => n.op))].sort();
    for (const n of g.nodes) {
      if (n.domain && n.domain !== 'ai.onnx')
        throw unsupported(
          `${file}: node '${n.name || n.outputs[0]}' uses op ${n.domain}.${n.op} ` +
            `(opset ${m.opsets.get(n.domain) ?? '?'}), which medshield does not implement`,
        );
      if (!TENSOR_OPS.has(n.op) && !CONST_OPS.has(n.op))
        throw unsupported(
          `${file}: unsupported ONNX op ${n.op} in node '${n.name || n.outputs[0]}` +
            `' (opset ${this.opset}); supported: ${SUPPORTED_OPS.join(', ')}`,
        );
    }
    for (const [k, v] of inits) this.consts.set(k, v);
    this.parameters = [...inits.values()].filter((c) => c.dtype === 'float32').reduce((s, c) => s + size(c.shape), 0);
    // Fold constant subgraphs.
    const rest: OnnxNode[] = [];
    for (const n of g.nodes) {
      const ins = n.inputs.map((i) => (i ? this.consts.get(i) : undefined));
      const allConst = n.inputs.every((i, j) => !i || ins[j]);
      if (CONST_OPS.has(n.op) && allConst) {
        let outs: Const[];
        try {
          outs = constOp(n, ins, this.opset);
        } catch (e) {
          throw badInput(`${file}: node '${n.name}' (${n.op}): ${e instanceof Error ? e.message : e}`);
        }
        n.outputs.forEach((o, j) => {
          if (o && outs[j]) this.consts.set(o, outs[j]);
        });
      } else rest.push(n);
    }
    this.nodes = rest;
    this.nodeOutputs = rest.flatMap((n) => n.outputs.filter(Boolean));
    this.fuse(new Set([...keep, ...g.outputs.map((o) => o.name)]));
    this.compact(new Set([...keep, ...g.outputs.map((o) => o.name)]));
  }

  /** Consts only a Conv reads as its weights or bias: their data is dropped once the conv has its filter tensor. */
  private convOnly = new Set<string>();

  /**
   * Drop the initialisers folding left unread (a folded conv's original weights, batch-norm
   * statistics), and note the ones only one conv reads, whose data the conv's prepared filter
   * replaces (so a model's weights are held once, not three times).
   */
  private compact(keep: Set<string>): void {
    const reads = new Set<string>();
    // Per Const object: constant folding maps Identity outputs (PyTorch's deduplicated initialisers) to the same
    // object.
    const objReads = new Map<Const, number>();
    const convReads = new Map<Const, number>();
    for (const n of this.nodes)
      n.inputs.forEach((i, j) => {
        const c = i ? this.consts.get(i) : undefined;
        if (!i) return;
        reads.add(i);
        if (!c) return;
        objReads.set(c, (objReads.get(c) ?? 0) + 1);
        if (n.op === 'Conv' && (j === 1 || j === 2)) convReads.set(c, (convReads.get(c) ?? 0) + 1);
      });
    for (const name of [...this.consts.keys()]) if (!reads.has(name) && !keep.has(name)) this.consts.delete(name);
    for (const [name, c] of this.consts)
      if (objReads.get(c) === 1 && convReads.get(c) === 1 && !keep.has(name)) this.convOnly.add(name);
  }

  /** Fold BatchNormalization into the Conv before it, and a Relu into the Conv as its activation. */
  private fuse(keep: Set<string>): void {
    const uses = new Map<string, number>();
    for (const n of this.nodes) for (const i of n.inputs) uses.set(i, (uses.get(i) ?? 0) + 1);
    const producer = new Map<string, OnnxNode>();
    for (const n of this.nodes) for (const o of n.outputs) producer.set(o, n);
    const dropped = new Set<OnnxNode>();
    for (const n of this.nodes) {
      const p = producer.get(n.inputs[0]);
      if (p?.op !== 'Conv' || dropped.has(p) || uses.get(n.inputs[0]) !== 1 || keep.has(n.inputs[0])) continue;
      if (n.op === 'BatchNormalization' && !this.fusedRelu.has(p) && n.outputs.filter(Boolean).length === 1) {
        const w = this.consts.get(p.inputs[1]);
        const [sc, bi, mu, va] = n.inputs.slice(1, 5).map((i) => this.consts.get(i));
        if (!w || !sc || !bi || !mu || !va) continue;
        const eps = attrFloat(n, 'epsilon', 1e-5);
        const O = w.shape[0];
        const per = size(w.shape) / O;
        const b0 = p.inputs[2] ? this.consts.get(p.inputs[2]) : undefined;
        if (p.inputs[2] && !b0) continue;
        const wf = new Float32Array(w.data.length);
        const bf = new Float32Array(O);
        for (let o = 0; o < O; o++) {
          const s = sc.data[o] / Math.sqrt(va.data[o] + eps);
          for (let j = 0; j < per; j++) wf[o * per + j] = w.data[o * per + j] * s;
          bf[o] = ((b0 ? b0.data[o] : 0) - mu.data[o]) * s + bi.data[o];
        }
        const wn = `${p.outputs[0]}::folded_w`;
        const bn = `${p.outputs[0]}::folded_b`;
        this.consts.set(wn, { dtype: 'float32', shape: w.shape, data: wf });
        this.consts.set(bn, { dtype: 'float32', shape: [O], data: bf });
        p.inputs = [p.inputs[0], wn, bn];
        p.outputs = [n.outputs[0]];
        dropped.add(n);
        producer.set(n.outputs[0], p);
      } else if (n.op === 'Relu' && attrInt(p, 'group', 1) === 1) {
        this.fusedRelu.add(p);
        p.outputs = [n.outputs[0]];
        dropped.add(n);
        producer.set(n.outputs[0], p);
      }
    }
    this.nodes = this.nodes.filter((n) => !dropped.has(n));
    this.fuseBnRelu(keep);
    this.fuseAddRelu(keep);
    this.fuseGelu(keep);
    this.fuseSilu(keep);
    this.fuseLayerNorm(keep);
  }

  /**
   * The decomposed layer norm of opsets < 17 (ReduceMean → Sub → Pow 2 → ReduceMean → Add ε → Sqrt →
   * Div [→ Mul γ → Add β], over the last axis) as one LayerNormalization node.
   */
  private fuseLayerNorm(keep: Set<string>): void {
    const { uses, producer } = this.links();
    const lastAxis = (n: OnnxNode) => {
      const ax = attrInts(n, 'axes') ?? (n.inputs[1] ? Array.from(this.consts.get(n.inputs[1])?.data ?? []) : []);
      return ax.length === 1 && Number(ax[0]) === -1 && attrInt(n, 'keepdims', 1) === 1;
    };
    const only = (name: string, op: string): OnnxNode | undefined => {
      const u = uses.get(name);
      return u?.length === 1 && !keep.has(name) && u[0].op === op ? u[0] : undefined;
    };
    const dropped = new Set<OnnxNode>();
    for (const div of this.nodes) {
      if (div.op !== 'Div') continue;
      const sub = producer.get(div.inputs[0]);
      const sq = producer.get(div.inputs[1]);
      if (sub?.op !== 'Sub' || sq?.op !== 'Sqrt') continue;
      const x = sub.inputs[0];
      const mean = producer.get(sub.inputs[1]);
      if (mean?.op !== 'ReduceMean' || mean.inputs[0] !== x || !lastAxis(mean) || this.consts.has(x)) continue;
      const add = producer.get(sq.inputs[0]);
      const eps = add?.op === 'Add' ? this.consts.get(add.inputs[1]) : undefined;
      if (!add || !eps || eps.data.length !== 1) continue;
      const vmean = producer.get(add.inputs[0]);
      if (vmean?.op !== 'ReduceMean' || !lastAxis(vmean)) continue;
      const pow = producer.get(vmean.inputs[0]);
      const two = pow?.op === 'Pow' ? this.consts.get(pow.inputs[1]) : undefined;
      if (!pow || pow.inputs[0] !== sub.outputs[0] || !two || two.data.length !== 1 || Number(two.data[0]) !== 2)
        continue;
      const du = uses.get(sub.outputs[0]) ?? [];
      if (du.length !== 2 || !du.includes(pow) || !du.includes(div) || keep.has(sub.outputs[0])) continue;
      if (
        only(mean.outputs[0], 'Sub') !== sub ||
        only(pow.outputs[0], 'ReduceMean') !== vmean ||
        only(vmean.outputs[0], 'Add') !== add ||
        only(add.outputs[0], 'Sqrt') !== sq ||
        only(sq.outputs[0], 'Div') !== div
      )
        continue;
      let out = div.outputs[0];
      const ins = [x];
      const mul = only(out, 'Mul');
      const gamma = mul ? mul.inputs.find((i) => i !== out && this.consts.has(i)) : undefined;
      const mulDrop: OnnxNode[] = [];
      if (mul && gamma) {
        mulDrop.push(mul);
        out = mul.outputs[0];
        ins.push(gamma);
        const addB = only(out, 'Add');
        const beta = addB ? addB.inputs.find((i) => i !== out && this.consts.has(i)) : undefined;
        if (addB && beta) {
          mulDrop.push(addB);
          out = addB.outputs[0];
          ins.push(beta);
        }
      }
      for (const z of [mean, sub, pow, vmean, add, sq, ...mulDrop]) dropped.add(z);
      div.op = 'LayerNormalization';
      div.inputs = ins;
      div.outputs = [out];
      div.attrs = new Map<string, Attr>([
        ['axis', { kind: 'i', v: -1 }],
        ['epsilon', { kind: 'f', v: Number(eps.data[0]) }],
      ]);
    }
    this.nodes = this.nodes.filter((n) => !dropped.has(n));
  }

  /** Mul(x, Sigmoid(x)) — SiLU / swish, EfficientNet's activation — as one op keeping x alone. */
  private fuseSilu(keep: Set<string>): void {
    const { uses, producer } = this.links();
    const dropped = new Set<OnnxNode>();
    for (const m of this.nodes) {
      if (m.op !== 'Mul' || m.inputs.length !== 2) continue;
      for (const j of [0, 1]) {
        const sg = producer.get(m.inputs[j]);
        const x = m.inputs[1 - j];
        if (sg?.op !== 'Sigmoid' || sg.inputs[0] !== x || this.consts.has(x)) continue;
        if (uses.get(m.inputs[j])?.length !== 1 || keep.has(m.inputs[j])) continue;
        dropped.add(sg);
        m.op = 'Silu';
        m.inputs = [x];
        break;
      }
    }
    this.nodes = this.nodes.filter((n) => !dropped.has(n));
  }

  /** Uses per value name and the producer of each value, of the current node list. */
  private links(): { uses: Map<string, OnnxNode[]>; producer: Map<string, OnnxNode> } {
    const uses = new Map<string, OnnxNode[]>();
    const producer = new Map<string, OnnxNode>();
    for (const n of this.nodes) {
      for (const i of n.inputs) if (i) uses.set(i, [...(uses.get(i) ?? []), n]);
      for (const o of n.outputs) producer.set(o, n);
    }
    return { uses, producer };
  }

  /**
   * A batch norm no convolution absorbed (DenseNet's pre-activation norm after each concatenation)
   * → Relu as one op: engine `affineRelu` on the native backend.
   */
  private fuseBnRelu(keep: Set<string>): void {
    const { uses, producer } = this.links();
    const dropped = new Set<OnnxNode>();
    for (const n of this.nodes) {
      if (n.op !== 'Relu') continue;
      const p = producer.get(n.inputs[0]);
      if (p?.op !== 'BatchNormalization' || p.outputs.filter(Boolean).length !== 1) continue;
      if (keep.has(n.inputs[0]) || uses.get(n.inputs[0])?.length !== 1) continue;
      this.fusedBnRelu.add(p);
      p.outputs = [n.outputs[0]];
      dropped.add(n);
    }
    this.nodes = this.nodes.filter((n) => !dropped.has(n));
  }

  /** Add → Relu (a residual connection) as one op whose backward pass keeps only the output. */
  private fuseAddRelu(keep: Set<string>): void {
    const { uses, producer } = this.links();
    const dropped = new Set<OnnxNode>();
    for (const n of this.nodes) {
      if (n.op !== 'Relu') continue;
      const p = producer.get(n.inputs[0]);
      if (p?.op !== 'Add' || p.inputs.length !== 2 || keep.has(n.inputs[0]) || uses.get(n.inputs[0])?.length !== 1)
        continue;
      if (p.inputs.some((i) => this.consts.has(i))) continue;
      this.fusedAddRelu.add(p);
      p.outputs = [n.outputs[0]];
      dropped.add(n);
    }
    this.nodes = this.nodes.filter((n) => !dropped.has(n));
  }

  /**
   * PyTorch's exported exact GELU (opset < 20: Div(x, √2) → Erf → Add 1 → Mul x → Mul 0.5) as one
   * Gelu node, whose backward pass keeps x alone (const-grad.ts).
   */
  private fuseGelu(keep: Set<string>): void {
    const { uses, producer } = this.links();
    const scalar = (name: string | undefined, v: number): boolean => {
      const c = name ? this.consts.get(name) : undefined;
      return !!c && c.data.length === 1 && Math.abs(Number(c.data[0]) - v) < 1e-6 * Math.max(1, Math.abs(v));
    };
    const only = (name: string): OnnxNode | undefined => {
      const u = uses.get(name);
      return u?.length === 1 && !keep.has(name) ? u[0] : undefined;
    };
    const other = (n: OnnxNode, name: string): string | undefined =>
      n.inputs.length === 2
        ? n.inputs[0] === name
          ? n.inputs[1]
          : n.inputs[1] === name
            ? n.inputs[0]
            : undefined
        : undefined;
    const dropped = new Set<OnnxNode>();
    for (const e of this.nodes) {
      if (e.op !== 'Erf') continue;
      const d = producer.get(e.inputs[0]);
      if (!d || only(e.inputs[0]) !== e) continue;
      const x = d.inputs[0];
      const scaled =
        (d.op === 'Div' && scalar(d.inputs[1], Math.SQRT2)) || (d.op === 'Mul' && scalar(d.inputs[1], Math.SQRT1_2));
      if (!scaled || this.consts.has(x)) continue;
      const a = only(e.outputs[0]);
      if (a?.op !== 'Add' || !scalar(other(a, e.outputs[0]), 1)) continue;
      const m1 = only(a.outputs[0]);
      if (m1?.op !== 'Mul' || other(m1, a.outputs[0]) !== x) continue;
      const m2 = only(m1.outputs[0]);
      if (m2?.op !== 'Mul' || !scalar(other(m2, m1.outputs[0]), 0.5)) continue;
      for (const z of [d, e, a, m1]) dropped.add(z);
      m2.op = 'Gelu';
      m2.inputs = [x];
      m2.attrs = new Map();
    }
    this.nodes = this.nodes.filter((n) => !dropped.has(n));
  }

  info(): GraphInfo {
    return {
      opset: this.opset,
      ops: this.ops,
      parameters: this.parameters,
      inputName: this.inputName,
      inputDims: this.inputDims,
      outputName: this.outputName,
      nodeOutputs: this.nodeOutputs,
    };
  }

  /** The input of the last Gemm/MatMul (the penultimate features), else the graph output. */
  defaultFeatureLayer(): string {
    for (let i = this.nodes.length - 1; i >= 0; i--)
      if (this.nodes[i].op === 'Gemm' || this.nodes[i].op === 'MatMul') return this.nodes[i].inputs[0];
    return this.outputName;
  }

  private dense: { W: tf.Tensor2D; b: tf.Tensor1D } | null | undefined;
  /**
   * The final Gemm (or MatMul + Add) producing the output from `feature`, as W [dim,k], b [k]; null if the graph does
   * not end so.
   */
  finalDense(feature: string): { W: tf.Tensor2D; b: tf.Tensor1D } | null {
    if (this.dense !== undefined) return this.dense;
    this.dense = null;
    const last = this.nodes.find((n) => n.outputs.includes(this.outputName));
    if (last?.op === 'Gemm' && last.inputs[0] === feature && attrInt(last, 'transA', 0) === 0) {
      const B = this.consts.get(last.inputs[1]);
      const C = last.inputs[2] ? this.consts.get(last.inputs[2]) : undefined;
      if (B && B.shape.length === 2) {
        const alpha = attrFloat(last, 'alpha', 1);
        const beta = attrFloat(last, 'beta', 1);
        const k = attrInt(last, 'transB', 0) ? B.shape[0] : B.shape[1];
        const W = tf.tidy(() => {
          const w = tf.mul(tf.tensor2d(Float32Array.from(B.data), B.shape as [number, number]), alpha) as tf.Tensor2D;
          return attrInt(last, 'transB', 0) ? tf.transpose(w) : w;
        });
        const b = tf.tidy(
          () =>
            (C
              ? tf.mul(tf.reshape(tf.tensor(Float32Array.from(C.data), C.shape), [-1]), beta)
              : tf.zeros([k])) as tf.Tensor1D,
        );
        if (b.shape[0] === k) this.dense = { W, b };
        else {
          W.dispose();
          b.dispose();
        }
      }
    }
    return this.dense ?? null;
  }

  /** Whether `name` is a value the graph computes from its input. */
  hasValue(name: string): boolean {
    return name === this.inputName || this.nodes.some((n) => n.outputs.includes(name));
  }

  /**
   * Run the graph on `x` (the model's input: physically NHWC; `inputNchw` says the graph's input is
   * logically NCHW) and return the values `want` in their logical ONNX layout. Differentiable.
   */
  run(x: tf.Tensor, inputNchw: boolean, want: string[]): tf.Tensor[] {
    const vals = new Map<string, V>();
    vals.set(this.inputName, { t: x, nhwc: inputNchw && x.rank === 4 });
    const pending = new Set(want.filter((w) => !vals.has(w)));
    // Free each activation after its last reader (peak memory ≈ the live frontier, not the whole
    // graph); tensors saved for backprop are kept by tfjs' tape, so this is safe under tf.grad.
    const keepNames = new Set([this.inputName, ...want]);
    const lastUse = new Map<string, number>();
    this.nodes.forEach((n, i) => {
      for (const name of n.inputs) if (name) lastUse.set(name, i);
    });
    const refs = new Map<tf.Tensor, number>();
    const own = (v: V) => {
      if (!isC(v) && v.t !== x) refs.set(v.t, (refs.get(v.t) ?? 0) + 1);
    };
    for (let i = 0; i < this.nodes.length; i++) {
      const n = this.nodes[i];
      if (!pending.size) break;
      const ins = n.inputs.map((name): V | undefined =>
        !name ? undefined : (vals.get(name) ?? this.consts.get(name)),
      );
      n.inputs.forEach((name, j) => {
        if (name && !ins[j])
          throw badInput(`${this.file}: node '${n.name}' (${n.op}) reads '${name}', which nothing computes`);
      });
      let outs: V[] = [];
      try {
        if (ins.every((v) => !v || isC(v)) && CONST_OPS.has(n.op))
          outs = constOp(n, ins as Array<Const | undefined>, this.opset);
        else
          tf.tidy(() => {
            outs = this.exec(n, ins);
            return outs.filter((v): v is TV => !isC(v)).map((v) => v.t);
          });
      } catch (e) {
        if (e instanceof MedshieldError) throw e;
        throw badInput(
          `${this.file}: node '${n.name}' (${n.op}, opset ${this.opset}` +
            `): ${e instanceof Error ? e.message.split('\n')[0] : e}`,
        );
      }
      n.outputs.forEach((o, j) => {
        if (o && outs[j]) {
          vals.set(o, outs[j]);
          own(outs[j]);
          pending.delete(o);
        }
      });
      for (const name of new Set(n.inputs)) {
        if (!name || lastUse.get(name) !== i || keepNames.has(name)) continue;
        const v = vals.get(name);
        if (!v || isC(v)) continue;
        vals.delete(name);
        const r = (refs.get(v.t) ?? 0) - 1;
        if (r > 0) {
          refs.set(v.t, r);
          continue;
        }
        if (refs.has(v.t)) {
          refs.delete(v.t);
          if (!this.isCached(v.t)) v.t.dispose();
        }
      }
    }
    return want.map((w) => {
      const v = vals.get(w) ?? this.consts.get(w);
      if (!v) throw badInput(`${this.file}: no value named '${w}' in the graph`);
      return this.canon(v);
    });
  }

  /** Whether `t` is one of the graph's long-lived (kept) constant tensors. */
  private isCached(t: tf.Tensor): boolean {
    for (const c of [this.tcache, this.bcache]) for (const v of c.values()) if (v === t) return true;
    return false;
  }

  // ---------------------------------------------------------------- helpers

  private constTensor(c: Const): tf.Tensor {
    let t = this.tcache.get(c);
    if (!t) {
      t = tf.keep(
        c.dtype === 'float32'
          ? tf.tensor(c.data as Float32Array, c.shape, 'float32')
          : c.dtype === 'bool'
            ? tf.tensor(
                Array.from(c.data, (v) => !!v),
                c.shape,
                'bool',
              )
            : tf.tensor(Int32Array.from(c.data), c.shape, 'int32'),
      );
      this.tcache.set(c, t);
    }
    return t;
  }

  /** Logical-layout tensor. */
  private canon(v: V): tf.Tensor {
    if (isC(v)) return this.constTensor(v);
    return v.nhwc ? tf.transpose(v.t, TO_NCHW) : v.t;
  }

  /** Physical NHWC tensor of a logically NCHW 4-D value. */
  private nh(v: V): tf.Tensor {
    if (!isC(v) && v.nhwc) return v.t;
    const t = this.canon(v);
    if (t.rank !== 4) throw badInput(`expected a 4-D image tensor, got ${t.shape.join('×')}`);
    return tf.transpose(t, TO_NHWC);
  }

  private rank(v: V): number {
    return isC(v) ? v.shape.length : v.t.rank;
  }

  /** Logical shape. */
  private shape(v: V): number[] {
    return isC(v) ? v.shape : v.nhwc ? TO_NCHW.map((p) => v.t.shape[p]) : v.t.shape;
  }

  /** A value of rank ≤ 4 as a tensor broadcastable against physical NHWC tensors. */
  private nhBroadcast(v: V): tf.Tensor {
    if (!isC(v) && v.nhwc) return v.t;
    if (isC(v)) {
      let t = this.bcache.get(v);
      if (!t) {
        const s = [...Array(4 - v.shape.length).fill(1), ...v.shape];
        t = tf.keep(tf.tidy(() => tf.transpose(tf.reshape(this.constTensor(v), s), TO_NHWC)));
        this.bcache.set(v, t);
      }
      return t;
    }
    const s = [...Array(4 - v.t.rank).fill(1), ...v.t.shape];
    return tf.transpose(tf.reshape(v.t, s), TO_NHWC);
  }

  private binary(a: V, b: V, f: (x: tf.Tensor, y: tf.Tensor) => tf.Tensor): TV {
    const an = !isC(a) && a.nhwc;
    const bn = !isC(b) && b.nhwc;
    if ((an || bn) && this.rank(a) <= 4 && this.rank(b) <= 4)
      return { t: f(this.nhBroadcast(a), this.nhBroadcast(b)), nhwc: true };
    return { t: f(this.canon(a), this.canon(b)), nhwc: false };
  }

  /**
   * A binary op through const-grad.ts when that saves memory in a backward pass: a fused Add → Relu
   * of two activations, or Add/Sub/Mul/Div of an activation and a constant. Null: the plain op.
   */
  private leanBinary(n: OnnxNode, a: V, b: V): TV | null {
    if (this.fusedAddRelu.has(n)) {
      if (!isC(a) && !isC(b)) return this.binary(a, b, (p, q) => addRelu(p, q) ?? tf.relu(tf.add(p, q)));
      const sum = this.binary(a, b, BINARY.Add);
      return { t: tf.relu(sum.t), nhwc: sum.nhwc };
    }
    return n.op === 'Add' || n.op === 'Sub' || n.op === 'Mul' || n.op === 'Div' ? this.leanConst(n.op, a, b) : null;
  }

  /** Add/Sub/Mul/Div of an activation and a constant through const-grad.ts (saves nothing); null: not that case. */
  private leanConst(op: 'Add' | 'Sub' | 'Mul' | 'Div', a: V, b: V): TV | null {
    if (isC(a) === isC(b)) return null;
    const cFirst = isC(a);
    const xv = (cFirst ? b : a) as TV;
    const cv = (cFirst ? a : b) as Const;
    if (xv.t.dtype !== 'float32' || cv.dtype !== 'float32') return null;
    const nhwc = xv.nhwc && cv.shape.length <= 4;
    if (xv.nhwc && !nhwc) return null;
    const c = nhwc ? this.nhBroadcast(cv) : this.constTensor(cv);
    const t = constBinary(op, xv.t, c, cFirst);
    return t ? { t, nhwc } : null;
  }

  private float(v: V): tf.Tensor {
    const t = this.canon(v);
    return t.dtype === 'float32' ? t : tf.cast(t, 'float32');
  }

  private constOf(v: V | undefined, what: string, n: OnnxNode): Const {
    if (!v || !isC(v))
      throw unsupported(
        `${this.file}: node '${n.name}' (${n.op}): ${what} must be constant (or computed from shapes only)`,
      );
    return v;
  }

  // ---------------------------------------------------------------- ops

  private exec(n: OnnxNode, ins: Array<V | undefined>): V[] {
    const x = ins[0] as V;
    if (n.op === 'Silu') {
      const t = isC(x) ? this.constTensor(x) : x.t;
      return [{ t: t.dtype === 'float32' ? silu(t) : tf.mul(t, tf.sigmoid(t)), nhwc: !isC(x) && x.nhwc }];
    }
    if (n.op === 'Gelu' && !isC(x) && x.t.dtype === 'float32' && attrStr(n, 'approximate', 'none') === 'none')
      return [{ t: gelu(x.t), nhwc: x.nhwc }];
    const u = UNARY[n.op];
    if (u) {
      if (isC(x)) return [{ t: u(this.constTensor(x), n), nhwc: false }];
      return [{ t: u(x.t, n), nhwc: x.nhwc }];
    }
    const bin = BINARY[n.op];
    if (bin) {
      if (n.op === 'Pow' && isC(ins[1]!) && size((ins[1] as Const).shape) === 1 && (ins[1] as Const).data[0] === 2) {
        return [isC(x) ? { t: tf.square(this.constTensor(x)), nhwc: false } : { t: tf.square(x.t), nhwc: x.nhwc }];
      }
      if (ins.length === 2) {
        const lean = this.leanBinary(n, ins[0]!, ins[1]!);
        if (lean) return [lean];
      }
      let acc = this.binary(ins[0]!, ins[1] ?? ins[0]!, bin);
      for (const v of ins.slice(2)) acc = this.binary(acc, v!, bin);
      if (ins.length === 1) acc = isC(x) ? { t: this.constTensor(x), nhwc: false } : x;
      if (n.op === 'Mean' && ins.length > 1) acc = { t: tf.div(acc.t, ins.length), nhwc: acc.nhwc };
      return [acc];
    }
    switch (n.op) {
      case 'Conv':
        return [this.conv(n, x, ins)];
      case 'ConvTranspose':
        return [this.convTranspose(n, x, ins)];
      case 'BatchNormalization': {
        const [sc, bi, mu, va] = ins.slice(1, 5).map((v, i) => this.constOf(v, ['scale', 'B', 'mean', 'var'][i], n));
        const eps = attrFloat(n, 'epsilon', 1e-5);
        const r = this.rank(x);
        const C = sc.shape[0];
        const s = Array.from({ length: C }, (_, c) => sc.data[c] / Math.sqrt(va.data[c] + eps));
        const sh = Array.from({ length: C }, (_, c) => bi.data[c] - mu.data[c] * s[c]);
        const bshape = [1, C, ...Array(Math.max(r - 2, 0)).fill(1)];
        const key = `${n.outputs[0]}::bn`;
        const relu = this.fusedBnRelu.has(n);
        // Channels last in memory (NHWC activations, [N, C]): one fused op on the native backend.
        if (relu && !isC(x) && x.t.dtype === 'float32' && ((x.nhwc && r === 4) || (!x.nhwc && r === 2))) {
          const s1 = this.constTensor(this.cachedConst(key + 's1', () => mk('float32', [C], s))) as tf.Tensor1D;
          const b1 = this.constTensor(this.cachedConst(key + 'b1', () => mk('float32', [C], sh))) as tf.Tensor1D;
          const t = affineRelu(x.t, s1, b1);
          if (t) return [{ t, nhwc: x.nhwc }];
        }
        const S = this.cachedConst(key + 's', () => mk('float32', bshape, s));
        const B = this.cachedConst(key + 'b', () => mk('float32', bshape, sh));
        const scaled = this.leanConst('Mul', x, S) ?? this.binary(x, S, BINARY.Mul);
        const y = this.leanConst('Add', scaled, B) ?? this.binary(scaled, B, BINARY.Add);
        return [relu ? { t: tf.relu(y.t), nhwc: y.nhwc } : y];
      }
      case 'InstanceNormalization': {
        const sc = this.constOf(ins[1], 'scale', n);
        const bi = this.constOf(ins[2], 'B', n);
        const eps = attrFloat(n, 'epsilon', 1e-5);
        const r = this.rank(x);
        const nhwc = !isC(x) && x.nhwc;
        const t = nhwc ? (x as TV).t : this.float(x);
        const axes = nhwc ? [1, 2] : Array.from({ length: r - 2 }, (_, i) => i + 2);
        const { mean, variance } = tf.moments(t, axes, true);
        const y = tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, eps)));
        const bshape = [1, sc.shape[0], ...Array(r - 2).fill(1)];
        const S = this.cachedConst(`${n.outputs[0]}::ins`, () => mk('float32', bshape, sc.data));
        const B = this.cachedConst(`${n.outputs[0]}::inb`, () => mk('float32', bshape, bi.data));
        return [this.binary(this.binary({ t: y, nhwc }, S, BINARY.Mul), B, BINARY.Add)];
      }
      case 'LayerNormalization': {
        if (
          !isC(x) &&
          !x.nhwc &&
          x.t.dtype === 'float32' &&
          [-1, x.t.rank - 1].includes(attrInt(n, 'axis', -1)) &&
          (!ins[1] || isC(ins[1])) &&
          (!ins[2] || isC(ins[2]))
        ) {
          const g = ins[1] ? this.constTensor(ins[1] as Const) : null;
          const b = ins[2] ? this.constTensor(ins[2] as Const) : null;
          return [{ t: layerNorm(x.t, attrFloat(n, 'epsilon', 1e-5), g, b), nhwc: false }];
        }
        const t = this.float(x);
        const r = t.rank;
        let ax = attrInt(n, 'axis', -1);
        if (ax < 0) ax += r;
        const axes = Array.from({ length: r - ax }, (_, i) => ax + i);
        const { mean, variance } = tf.moments(t, axes, true);
        let y = tf.div(tf.sub(t, mean), tf.sqrt(tf.add(variance, attrFloat(n, 'epsilon', 1e-5))));
        if (ins[1]) y = tf.mul(y, this.canon(ins[1]));
        if (ins[2]) y = tf.add(y, this.canon(ins[2]));
        return [{ t: y, nhwc: false }];
      }
      case 'PRelu': {
        const slope = ins[1]!;
        const pos = isC(x) ? { t: tf.relu(this.constTensor(x)), nhwc: false } : { t: tf.relu(x.t), nhwc: x.nhwc };
        const neg = isC(x)
          ? { t: tf.neg(tf.relu(tf.neg(this.constTensor(x)))), nhwc: false }
          : { t: tf.neg(tf.relu(tf.neg(x.t))), nhwc: x.nhwc };
        return [this.binary(pos, this.binary(neg, slope, BINARY.Mul), BINARY.Add)];
      }
      case 'Clip': {
        let lo = -Infinity;
        let hi = Infinity;
        if (this.opset < 11) {
          lo = attrFloat(n, 'min', -Infinity);
          hi = attrFloat(n, 'max', Infinity);
        } else {
          if (ins[1]) lo = this.constOf(ins[1], 'min', n).data[0];
          if (ins[2]) hi = this.constOf(ins[2], 'max', n).data[0];
        }
        const t = isC(x) ? this.constTensor(x) : x.t;
        const y =
          lo === 0 && hi === Infinity ? tf.relu(t) : tf.clipByValue(t, Math.max(lo, -3.4e38), Math.min(hi, 3.4e38));
        return [{ t: y, nhwc: !isC(x) && x.nhwc }];
      }
      case 'MaxPool':
      case 'AveragePool':
        return [this.pool(n, x)];
      case 'GlobalAveragePool':
      case 'GlobalMaxPool': {
        if (this.rank(x) !== 4) throw unsupported(`${this.file}: ${n.op} '${n.name}' on a ${this.rank(x)}-D tensor`);
        const t = this.nh(x);
        return [{ t: n.op === 'GlobalAveragePool' ? tf.mean(t, [1, 2], true) : tf.max(t, [1, 2], true), nhwc: true }];
      }
      case 'ReduceMean':
      case 'ReduceSum':
      case 'ReduceMax':
      case 'ReduceMin':
        return [this.reduce(n, x, ins)];
      case 'Gemm': {
        let a = this.float(x);
        if (a.rank !== 2) a = tf.reshape(a, [a.shape[0], -1]);
        const alpha = attrFloat(n, 'alpha', 1);
        const beta = attrFloat(n, 'beta', 1);
        const B = ins[1]!;
        if (!isC(x) && isC(B) && B.dtype === 'float32' && B.shape.length === 2 && attrInt(n, 'transA', 0) === 0) {
          // Constant weights: the lean matmul and bias add (const-grad.ts).
          let y = constMatMul(a, this.constTensor(B) as tf.Tensor2D, attrInt(n, 'transB', 0) === 1);
          if (y) {
            if (alpha !== 1) y = tf.mul(y, alpha);
            const C = ins[2];
            if (C && beta !== 0) {
              const c = isC(C) && C.dtype === 'float32' ? this.constTensor(C) : null;
              y =
                (c && beta === 1 ? constBinary('Add', y, c) : null) ??
                tf.add(y, beta === 1 ? this.canon(C) : tf.mul(this.canon(C), beta));
            }
            return [{ t: y, nhwc: false }];
          }
        }
        const b = this.float(B);
        let y = tf.matMul(
          a as tf.Tensor2D,
          b as tf.Tensor2D,
          attrInt(n, 'transA', 0) === 1,
          attrInt(n, 'transB', 0) === 1,
        );
        if (alpha !== 1) y = tf.mul(y, alpha);
        if (ins[2] && beta !== 0) y = tf.add(y, beta === 1 ? this.canon(ins[2]) : tf.mul(this.canon(ins[2]), beta));
        return [{ t: y, nhwc: false }];
      }
      case 'MatMul': {
        const a = this.float(x);
        const bv = ins[1]!;
        if (!isC(x) && isC(bv) && bv.dtype === 'float32' && bv.shape.length === 2 && a.rank >= 2) {
          const y = constMatMul(a, this.constTensor(bv) as tf.Tensor2D, false);
          if (y) return [{ t: y, nhwc: false }];
        }
        const b = this.float(bv);
        if (a.rank === 2 && b.rank === 2) return [{ t: tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D), nhwc: false }];
        if (b.rank === 2 && a.rank > 2) {
          const lead = a.shape.slice(0, -1);
          return [
            {
              t: tf.reshape(tf.matMul(tf.reshape(a, [-1, a.shape[a.rank - 1]]) as tf.Tensor2D, b as tf.Tensor2D), [
                ...lead,
                b.shape[1] as number,
              ]),
              nhwc: false,
            },
          ];
        }
        if (a.rank === 1 || b.rank === 1) throw unsupported(`${this.file}: MatMul '${n.name}' with a 1-D operand`);
        // Batched: tfjs broadcasts the batch dimensions of rank-3 operands; flatten higher ranks.
        const outBatch = broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2), `MatMul '${n.name}'`);
        const A = tf.reshape(tf.broadcastTo(a, [...outBatch, ...a.shape.slice(-2)] as number[]), [
          -1,
          a.shape[a.rank - 2],
          a.shape[a.rank - 1],
        ]) as tf.Tensor3D;
        const B = tf.reshape(tf.broadcastTo(b, [...outBatch, ...b.shape.slice(-2)] as number[]), [
          -1,
          b.shape[b.rank - 2],
          b.shape[b.rank - 1],
        ]) as tf.Tensor3D;
        const y = tf.matMul(A, B);
        return [{ t: tf.reshape(y, [...outBatch, a.shape[a.rank - 2], b.shape[b.rank - 1]]), nhwc: false }];
      }
      case 'Flatten': {
        const s = this.shape(x);
        let ax = attrInt(n, 'axis', 1);
        if (ax < 0) ax += s.length;
        const target = [size(s.slice(0, ax)), size(s.slice(ax))];
        if (!isC(x) && x.nhwc && ax === 1 && s[2] === 1 && s[3] === 1)
          return [{ t: reshape(x.t, target), nhwc: false }];
        return [{ t: reshape(this.canon(x), target), nhwc: false }];
      }
      case 'Reshape': {
        const spec = ints(this.constOf(ins[1], 'the target shape', n));
        const s = this.shape(x);
        const target = reshapeTarget(s, spec, attrInt(n, 'allowzero', 0) === 1, n.name);
        if (
          !isC(x) &&
          x.nhwc &&
          s.length === 4 &&
          s[2] === 1 &&
          s[3] === 1 &&
          target.length === 2 &&
          target[0] === s[0]
        )
          return [{ t: reshape(x.t, target), nhwc: false }];
        return [{ t: reshape(this.canon(x), target), nhwc: false }];
      }
      case 'Transpose': {
        const r = this.rank(x);
        const perm = attrInts(n, 'perm') ?? Array.from({ length: r }, (_, i) => r - 1 - i);
        const nhwc = !isC(x) && x.nhwc;
        const t = isC(x) ? this.constTensor(x) : x.t;
        const c = nhwc ? perm.map((p) => L2P[p]) : perm;
        if (c.every((p, i) => p === i)) return [{ t, nhwc: false }];
        if (r === 4 && c.join() === TO_NCHW.join()) return [{ t, nhwc: true }];
        return [{ t: tf.transpose(t, c), nhwc: false }];
      }
      case 'Squeeze':
      case 'Unsqueeze': {
        const s = this.shape(x);
        const axesIn = attrInts(n, 'axes') ?? (ins[1] ? ints(this.constOf(ins[1], 'axes', n)) : undefined);
        let target: number[];
        if (n.op === 'Squeeze') {
          const ax = axesIn
            ? axesIn.map((a) => (a < 0 ? a + s.length : a))
            : s.map((d, i) => (d === 1 ? i : -1)).filter((i) => i >= 0);
          target = s.filter((_, i) => !ax.includes(i));
        } else {
          const r = s.length + (axesIn ?? []).length;
          target = [...s];
          for (const a of (axesIn ?? []).map((v) => (v < 0 ? v + r : v)).sort((p, q) => p - q)) target.splice(a, 0, 1);
        }
        return [{ t: reshape(this.canon(x), target), nhwc: false }];
      }
      case 'Concat': {
        const vs = ins.filter((v): v is V => !!v && size(this.shape(v)) > 0);
        let ax = attrInt(n, 'axis', 0);
        const r = this.rank(vs[0]);
        if (ax < 0) ax += r;
        if (r === 4 && vs.some((v) => !isC(v) && v.nhwc))
          return [
            {
              t: tf.concat(
                vs.map((v) => this.nh(v)),
                L2P[ax],
              ),
              nhwc: true,
            },
          ];
        const ts = vs.map((v) => this.canon(v));
        const dt = ts.some((t) => t.dtype === 'float32') ? 'float32' : ts[0].dtype;
        return [
          {
            t: tf.concat(
              ts.map((t) => (t.dtype === dt ? t : tf.cast(t, dt))),
              ax,
            ),
            nhwc: false,
          },
        ];
      }
      case 'Split': {
        const s = this.shape(x);
        let ax = attrInt(n, 'axis', 0);
        if (ax < 0) ax += s.length;
        const k = n.outputs.length;
        let parts = attrInts(n, 'split') ?? (ins[1] ? ints(this.constOf(ins[1], 'split', n)) : undefined);
        if (!parts) {
          const each = Math.ceil(s[ax] / k);
          parts = Array.from({ length: k }, (_, i) => Math.min(each, s[ax] - i * each));
        }
        if (!isC(x) && x.nhwc && s.length === 4) return tf.split(x.t, parts, L2P[ax]).map((t) => ({ t, nhwc: true }));
        return tf.split(this.canon(x), parts, ax).map((t) => ({ t, nhwc: false }));
      }
      case 'Slice': {
        const s = this.shape(x);
        const spec =
          this.opset < 10
            ? sliceSpec(s, attrInts(n, 'starts') ?? [], attrInts(n, 'ends') ?? [], attrInts(n, 'axes'), undefined)
            : sliceSpec(
                s,
                ints(this.constOf(ins[1], 'starts', n)),
                ints(this.constOf(ins[2], 'ends', n)),
                ins[3] ? ints(this.constOf(ins[3], 'axes', n)) : undefined,
                ins[4] ? ints(this.constOf(ins[4], 'steps', n)) : undefined,
              );
        const nhwc = !isC(x) && x.nhwc && s.length === 4;
        const t = nhwc ? (x as TV).t : this.canon(x);
        const ps = nhwc ? TO_NHWC.map((l) => spec[l]) : spec;
        if (ps.every(([, , st]) => st === 1))
          return [
            {
              t: tf.slice(
                t,
                ps.map(([b]) => b),
                ps.map(sliceLen),
              ),
              nhwc,
            },
          ];
        return [
          {
            t: tf.stridedSlice(
              t,
              ps.map(([b]) => b),
              ps.map(([, e]) => e),
              ps.map(([, , st]) => st),
            ),
            nhwc,
          },
        ];
      }
      case 'Gather': {
        const idx = this.constOf(ins[1], 'indices', n);
        const s = this.shape(x);
        let ax = attrInt(n, 'axis', 0);
        if (ax < 0) ax += s.length;
        const flat = Array.from(idx.data, (v) => (v < 0 ? v + s[ax] : v));
        const t = tf.gather(this.canon(x), tf.tensor1d(Int32Array.from(flat), 'int32'), ax);
        return [{ t: tf.reshape(t, [...s.slice(0, ax), ...idx.shape, ...s.slice(ax + 1)]), nhwc: false }];
      }
      case 'Pad':
        return [this.pad(n, x, ins)];
      case 'Resize':
      case 'Upsample':
        return [this.resize(n, x, ins)];
      case 'Softmax':
      case 'LogSoftmax': {
        const t = this.float(x);
        const r = t.rank;
        let ax = attrInt(n, 'axis', this.opset >= 13 ? -1 : 1);
        if (ax < 0) ax += r;
        const f = n.op === 'Softmax' ? tf.softmax : tf.logSoftmax;
        if (this.opset < 13) {
          const s = t.shape;
          return [
            {
              t: tf.reshape(f(tf.reshape(t, [size(s.slice(0, ax)), size(s.slice(ax))]) as tf.Tensor2D), s),
              nhwc: false,
            },
          ];
        }
        if (ax === r - 1) return [{ t: f(t), nhwc: false }];
        const perm = Array.from({ length: r }, (_, i) => i);
        perm[ax] = r - 1;
        perm[r - 1] = ax;
        return [{ t: tf.transpose(f(tf.transpose(t, perm)), perm), nhwc: false }];
      }
      case 'Cast': {
        const to = attrInt(n, 'to', 1);
        const dt = to === 1 || to === 10 || to === 11 ? 'float32' : to === 9 ? 'bool' : 'int32';
        const t = isC(x) ? this.constTensor(x) : x.t;
        return [{ t: t.dtype === dt ? t : tf.cast(t, dt), nhwc: !isC(x) && x.nhwc }];
      }
      case 'Shape':
        return constOp(n, [{ dtype: 'float32', shape: this.shape(x), data: new Float32Array(0) }], this.opset);
      case 'Size':
        return [mk('int', [], [size(this.shape(x))])];
      case 'Expand': {
        const target = broadcastShape(this.shape(x), ints(this.constOf(ins[1], 'shape', n)), `Expand '${n.name}'`);
        return [{ t: tf.broadcastTo(this.canon(x), target), nhwc: false }];
      }
      case 'Tile':
        return [{ t: tf.tile(this.canon(x), ints(this.constOf(ins[1], 'repeats', n))), nhwc: false }];
      case 'Where': {
        const c = this.canon(x);
        const a = this.canon(ins[1]!);
        const b = this.canon(ins[2]!);
        const shape = broadcastShape(broadcastShape(c.shape, a.shape), b.shape, `Where '${n.name}'`);
        return [
          {
            t: tf.where(tf.broadcastTo(tf.cast(c, 'bool'), shape), tf.broadcastTo(a, shape), tf.broadcastTo(b, shape)),
            nhwc: false,
          },
        ];
      }
      default:
        throw unsupported(
          `${this.file}: ONNX op ${n.op} in node '${n.name}' cannot run on these inputs (opset ${this.opset})`,
        );
    }
  }

  private cachedConst(key: string, make: () => Const): Const {
    let c = this.consts.get(key);
    if (!c) {
      c = make();
      this.consts.set(key, c);
    }
    return c;
  }

  /** [top, bottom, left, right] padding for a 2-D window op, from pads or auto_pad. */
  private pads2d(
    n: OnnxNode,
    inH: number,
    inW: number,
    k: [number, number],
    s: [number, number],
    d: [number, number],
  ): [number, number, number, number] {
    const auto = attrStr(n, 'auto_pad', 'NOTSET');
    if (auto === 'VALID') return [0, 0, 0, 0];
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
      const tot = (i: number, kk: number, ss: number, dd: number) =>
        Math.max((Math.ceil(i / ss) - 1) * ss + (kk - 1) * dd + 1 - i, 0);
      const th = tot(inH, k[0], s[0], d[0]);
      const tw = tot(inW, k[1], s[1], d[1]);
      const lo = (t: number) => (auto === 'SAME_UPPER' ? Math.floor(t / 2) : Math.ceil(t / 2));
      return [lo(th), th - lo(th), lo(tw), tw - lo(tw)];
    }
    const p = attrInts(n, 'pads') ?? [0, 0, 0, 0];
    if (p.length !== 4)
      throw unsupported(
        `${this.file}: ${n.op} '${n.name}' is not 2-D (pads ${p.join(',')}); medshield imports 2-D image models`,
      );
    return [p[0], p[2], p[1], p[3]];
  }

  private prepConv(n: OnnxNode, w: Const, b: Const | undefined): ConvPrep {
    let p = this.prep.get(n);
    if (p) return p;
    if (w.shape.length !== 4)
      throw unsupported(`${this.file}: Conv '${n.name}' is not 2-D (weights ${w.shape.join('×')})`);
    const [O, Ig, kh0, kw0] = w.shape;
    const g = attrInt(n, 'group', 1);
    const dil = (attrInts(n, 'dilations') ?? [1, 1]) as [number, number];
    const s = (attrInts(n, 'strides') ?? [1, 1]) as [number, number];
    // Dilation: zero-insert the kernel once (tfjs has no gradient for dilated conv2d).
    const kh = (kh0 - 1) * dil[0] + 1;
    const kw = (kw0 - 1) * dil[1] + 1;
    const wd = new Float32Array(O * Ig * kh * kw);
    for (let o = 0; o < O; o++)
      for (let i = 0; i < Ig; i++)
        for (let y = 0; y < kh0; y++)
          for (let x = 0; x < kw0; x++) {
            wd[((o * Ig + i) * kh + y * dil[0]) * kw + x * dil[1]] = w.data[((o * Ig + i) * kh0 + y) * kw0 + x];
          }
    const C = Ig * g;
    const kind: ConvPrep['kind'] = g === 1 ? 'conv' : g === C && Ig === 1 ? 'depthwise' : 'grouped';
    const filter = tf.keep(
      tf.tidy(() => {
        const t = tf.tensor4d(wd, [O, Ig, kh, kw]);
        // [kh,kw,C,mult]
        if (kind === 'depthwise') return tf.transpose(tf.reshape(t, [C, O / C, kh, kw]), [2, 3, 0, 1]) as tf.Tensor4D;
        return tf.transpose(t, [2, 3, 1, 0]) as tf.Tensor4D; // [kh,kw,Ig,O]
      }),
    );
    const bias = b ? tf.keep(tf.tensor1d(Float32Array.from(b.data))) : null;
    p = { filter, bias, kind, groups: g, k: [kh, kw], strides: s };
    this.prep.set(n, p);
    return p;
  }

  private conv(n: OnnxNode, x: V, ins: Array<V | undefined>): TV {
    const w = this.constOf(ins[1], 'the weights', n);
    const b = ins[2] ? this.constOf(ins[2], 'the bias', n) : undefined;
    const p = this.prepConv(n, w, b);
    for (const name of n.inputs.slice(1, 3)) {
      const c = name && this.convOnly.has(name) ? this.consts.get(name) : undefined;
      if (c?.data.length) c.data = new Float32Array(0); // held by p.filter / p.bias now
    }
    let t = this.nh(x);
    if (t.dtype !== 'float32') t = tf.cast(t, 'float32');
    const [, H, W] = t.shape;
    const [pt, pb, pl, pr] = this.pads2d(n, H, W, p.k, p.strides, [1, 1]);
    const relu = this.fusedRelu.has(n);
    if (p.kind !== 'grouped' && t.rank === 4) {
      // Native: explicit padding inside the kernel (no padded copy of the activation).
      const c = constConv({
        x: t as tf.Tensor4D,
        filter: p.filter,
        bias: p.bias ?? this.zeros(p.kind === 'conv' ? p.filter.shape[3] : p.filter.shape[2] * p.filter.shape[3]),
        strides: p.strides,
        pad: [
          [0, 0],
          [pt, pb],
          [pl, pr],
          [0, 0],
        ],
        activation: relu ? 'relu' : 'linear',
        depthwise: p.kind === 'depthwise',
      });
      if (c) return { t: c, nhwc: true };
    }
    let pad: 'valid' | 'same' = 'valid';
    const sameOk =
      p.strides[0] === 1 &&
      p.strides[1] === 1 &&
      p.k[0] % 2 === 1 &&
      p.k[1] % 2 === 1 &&
      pt === pb &&
      pl === pr &&
      pt === (p.k[0] - 1) / 2 &&
      pl === (p.k[1] - 1) / 2;
    if (sameOk && pt > 0) pad = 'same';
    else if (pt || pb || pl || pr)
      t = tf.pad(t, [
        [0, 0],
        [pt, pb],
        [pl, pr],
        [0, 0],
      ]);
    let y: tf.Tensor4D;
    const x4 = t as tf.Tensor4D;
    // Conv → ReLU runs as one fused kernel; a linear conv runs as conv2d + bias. Not a kernel bug (session 10):
    // fused and plain give bit-identical input gradients for every MobileNet-v2 1×1 layer shape, but oneDNN's
    // fused forward sums in another order for small maps (≤ 4×4: 3e-7 relative), and on the MobileNet-v2 fixture
    // that moved one pre-ReLU6 activation of features.17 from -1.3e-6 to +2.4e-6 — across the kink — which
    // changes the input gradient by 1.2e-2 relative L2 vs PyTorch. conv2d + add keeps PyTorch's order there.
    if (p.kind === 'conv' && relu) {
      const bias = p.bias ?? this.zeros(p.filter.shape[3]);
      return {
        t: convBiasAct({ x: x4, filter: p.filter, bias, strides: p.strides, pad, activation: 'relu' }),
        nhwc: true,
      };
    }
    if (p.kind === 'conv') y = tf.conv2d(x4, p.filter, p.strides, pad);
    else if (p.kind === 'depthwise') y = tf.depthwiseConv2d(x4, p.filter, p.strides, pad);
    else {
      const xs = tf.split(x4, p.groups, 3);
      const fs = tf.split(p.filter, p.groups, 3);
      y = tf.concat(
        xs.map((xi, i) => tf.conv2d(xi as tf.Tensor4D, fs[i] as tf.Tensor4D, p.strides, pad)),
        3,
      ) as tf.Tensor4D;
    }
    if (p.bias) y = tf.add(y, p.bias);
    if (relu) y = tf.relu(y);
    return { t: y, nhwc: true };
  }

  private zeroCache = new Map<number, tf.Tensor1D>();
  private zeros(k: number): tf.Tensor1D {
    let z = this.zeroCache.get(k);
    if (!z) {
      z = tf.keep(tf.zeros([k])) as tf.Tensor1D;
      this.zeroCache.set(k, z);
    }
    return z;
  }

  private convTranspose(n: OnnxNode, x: V, ins: Array<V | undefined>): TV {
    const w = this.constOf(ins[1], 'the weights', n);
    if (w.shape.length !== 4) throw unsupported(`${this.file}: ConvTranspose '${n.name}' is not 2-D`);
    if (attrInt(n, 'group', 1) !== 1)
      throw unsupported(`${this.file}: grouped ConvTranspose '${n.name}' is not supported`);
    const [Ci, Co, kh0, kw0] = w.shape;
    const dil = attrInts(n, 'dilations') ?? [1, 1];
    const s = (attrInts(n, 'strides') ?? [1, 1]) as [number, number];
    const kh = (kh0 - 1) * dil[0] + 1;
    const kw = (kw0 - 1) * dil[1] + 1;
    let p = this.prep.get(n);
    if (!p) {
      const wd = new Float32Array(Ci * Co * kh * kw);
      for (let i = 0; i < Ci * Co; i++)
        for (let y = 0; y < kh0; y++)
          for (let xx = 0; xx < kw0; xx++)
            wd[(i * kh + y * dil[0]) * kw + xx * dil[1]] = w.data[(i * kh0 + y) * kw0 + xx];
      const filter = tf.keep(
        tf.tidy(() => tf.transpose(tf.tensor4d(wd, [Ci, Co, kh, kw]), [2, 3, 1, 0]) as tf.Tensor4D),
      ); // [kh,kw,Co,Ci]
      const b = ins[2] ? this.constOf(ins[2], 'the bias', n) : undefined;
      p = {
        filter,
        bias: b ? tf.keep(tf.tensor1d(Float32Array.from(b.data))) : null,
        kind: 'conv',
        groups: 1,
        k: [kh, kw],
        strides: s,
      };
      this.prep.set(n, p);
    }
    const t = this.nh(x) as tf.Tensor4D;
    const [N, H, W] = t.shape;
    const fullH = (H - 1) * s[0] + kh;
    const fullW = (W - 1) * s[1] + kw;
    let y = tf.conv2dTranspose(t, p.filter, [N, fullH, fullW, Co], s, 'valid');
    const op = attrInts(n, 'output_padding') ?? [0, 0];
    let pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
    const outShape = attrInts(n, 'output_shape');
    let outH = s[0] * (H - 1) + op[0] + kh - pads[0] - pads[2];
    let outW = s[1] * (W - 1) + op[1] + kw - pads[1] - pads[3];
    if (outShape) {
      const [oh, ow] = outShape.slice(-2);
      const th = s[0] * (H - 1) + op[0] + kh - oh;
      const tw = s[1] * (W - 1) + op[1] + kw - ow;
      const upper = attrStr(n, 'auto_pad', 'NOTSET') !== 'SAME_LOWER';
      pads = [
        upper ? Math.floor(th / 2) : th - Math.floor(th / 2),
        upper ? Math.floor(tw / 2) : tw - Math.floor(tw / 2),
        0,
        0,
      ];
      outH = oh;
      outW = ow;
    }
    const needH = pads[0] + outH;
    const needW = pads[1] + outW;
    if (needH > fullH || needW > fullW)
      y = tf.pad(y, [
        [0, 0],
        [0, Math.max(needH - fullH, 0)],
        [0, Math.max(needW - fullW, 0)],
        [0, 0],
      ]);
    y = tf.slice(y, [0, pads[0], pads[1], 0], [N, outH, outW, Co]);
    if (p.bias) y = tf.add(y, p.bias);
    return { t: y, nhwc: true };
  }

  private pool(n: OnnxNode, x: V): TV {
    if (this.rank(x) !== 4) throw unsupported(`${this.file}: ${n.op} '${n.name}' is not 2-D`);
    const k = attrInts(n, 'kernel_shape') as [number, number];
    const s = (attrInts(n, 'strides') ?? [1, 1]) as [number, number];
    const dil = attrInts(n, 'dilations') ?? [1, 1];
    if (dil.some((d) => d !== 1)) throw unsupported(`${this.file}: dilated ${n.op} '${n.name}' is not supported`);
    if (n.outputs.length > 1 && n.outputs[1])
      throw unsupported(`${this.file}: MaxPool '${n.name}' with an Indices output is not supported`);
    let t = this.nh(x) as tf.Tensor4D;
    const [, H, W] = t.shape;
    const [pt, pb, pl, pr] = this.pads2d(n, H, W, k, s, [1, 1]);
    const ceil = attrInt(n, 'ceil_mode', 0) === 1;
    const outLen = (i: number, kk: number, ss: number, lo: number, hi: number) => {
      let o = (ceil ? Math.ceil : Math.floor)((i + lo + hi - kk) / ss) + 1;
      if (ceil && (o - 1) * ss >= i + lo) o -= 1;
      return o;
    };
    const oh = outLen(H, k[0], s[0], pt, pb);
    const ow = outLen(W, k[1], s[1], pl, pr);
    const eh = Math.max((oh - 1) * s[0] + k[0] - (H + pt + pb), 0);
    const ew = Math.max((ow - 1) * s[1] + k[1] - (W + pl + pr), 0);
    const padded = pt || pb || pl || pr || eh || ew;
    if (n.op === 'MaxPool') {
      if (padded && tf.getBackend() === 'native')
        // Padding inside the native kernel (padded cells never win): no padded copy, and no tfjs Pad gradient,
        // whose Slice runs on tfjs' element-by-element cpu kernel (56 s of a 224-px ResNet-50 input gradient).
        return {
          t: tf.maxPool(t, k, s, [
            [0, 0],
            [pt, pb + eh],
            [pl, pr + ew],
            [0, 0],
          ]),
          nhwc: true,
        };
      if (padded)
        t = tf.pad(
          t,
          [
            [0, 0],
            [pt, pb + eh],
            [pl, pr + ew],
            [0, 0],
          ],
          -3.4e38,
        );
      return { t: tf.maxPool(t, k, s, 'valid'), nhwc: true };
    }
    if (!padded) return { t: tf.avgPool(t, k, s, 'valid'), nhwc: true };
    const include = attrInt(n, 'count_include_pad', 0) === 1;
    t = tf.pad(t, [
      [0, 0],
      [pt, pb + eh],
      [pl, pr + ew],
      [0, 0],
    ]);
    const sum = tf.mul(tf.avgPool(t, k, s, 'valid'), k[0] * k[1]);
    const key = `${n.name}|${H}|${W}`;
    let div = this.divCache.get(key);
    if (!div) {
      const d = new Float32Array(oh * ow);
      const inRange = (v: number, len: number, lo: number, hi: number) =>
        include ? v >= -lo && v < len + hi : v >= 0 && v < len;
      for (let i = 0; i < oh; i++)
        for (let j = 0; j < ow; j++) {
          let c = 0;
          for (let a = 0; a < k[0]; a++)
            for (let b = 0; b < k[1]; b++) {
              const yy = i * s[0] - pt + a;
              const xx = j * s[1] - pl + b;
              if (inRange(yy, H, pt, pb) && inRange(xx, W, pl, pr)) c++;
            }
          d[i * ow + j] = Math.max(c, 1);
        }
      div = tf.keep(tf.tensor4d(d, [1, oh, ow, 1]));
      this.divCache.set(key, div);
    }
    return { t: tf.div(sum, div), nhwc: true };
  }

  private divCache = new Map<string, tf.Tensor>();

  private reduce(n: OnnxNode, x: V, ins: Array<V | undefined>): V {
    const s = this.shape(x);
    const r = s.length;
    const axesAttr = attrInts(n, 'axes');
    let axes = axesAttr ?? (ins[1] ? ints(this.constOf(ins[1], 'axes', n)) : undefined);
    if (!axes?.length) {
      if (attrInt(n, 'noop_with_empty_axes', 0) === 1) return x;
      axes = Array.from({ length: r }, (_, i) => i);
    }
    axes = axes.map((a) => (a < 0 ? a + r : a));
    const keep = attrInt(n, 'keepdims', 1) === 1;
    const f = { ReduceMean: tf.mean, ReduceSum: tf.sum, ReduceMax: tf.max, ReduceMin: tf.min }[n.op as 'ReduceMean']!;
    if (!isC(x) && x.nhwc && r === 4) {
      const pa = axes.map((a) => L2P[a]);
      if (keep) return { t: f(x.t, pa, true), nhwc: true };
      const remaining = [0, 1, 2, 3].filter((a) => !axes!.includes(a)).map((a) => L2P[a]);
      if (remaining.every((p, i) => i === 0 || p > remaining[i - 1])) return { t: f(x.t, pa, false), nhwc: false };
    }
    return { t: f(this.float(x), axes, keep), nhwc: false };
  }

  private pad(n: OnnxNode, x: V, ins: Array<V | undefined>): TV {
    const r = this.rank(x);
    let pads = this.opset < 11 ? (attrInts(n, 'pads') ?? []) : ints(this.constOf(ins[1], 'pads', n));
    const value =
      this.opset < 11
        ? attrFloat(n, 'value', 0)
        : ins[2]
          ? (this.constOf(ins[2], 'constant_value', n).data[0] ?? 0)
          : 0;
    if (ins[3]) {
      const axes = ints(this.constOf(ins[3], 'axes', n)).map((a) => (a < 0 ? a + r : a));
      const full = new Array(2 * r).fill(0);
      axes.forEach((a, i) => {
        full[a] = pads[i];
        full[a + r] = pads[i + axes.length];
      });
      pads = full;
    }
    const mode = attrStr(n, 'mode', 'constant');
    if (pads.some((p) => p < 0)) throw unsupported(`${this.file}: Pad '${n.name}' with negative pads is not supported`);
    const logical: Array<[number, number]> = Array.from({ length: r }, (_, i) => [pads[i], pads[i + r]]);
    const nhwc = !isC(x) && x.nhwc && r === 4;
    const t = nhwc ? (x as TV).t : this.float(x);
    const pp = nhwc ? TO_NHWC.map((l) => logical[l]) : logical;
    // PyTorch's exporter puts a Pad of zeros before every AveragePool (opset ≥ 11): no copy for it.
    if (pads.every((p) => p === 0)) return { t, nhwc };
    if (mode === 'constant') return { t: tf.pad(t, pp, value), nhwc };
    if (mode === 'reflect' || mode === 'edge') {
      // As a gather per padded axis (tfjs's MirrorPad gradient does not fold the reflected part back).
      let y = t;
      pp.forEach(([lo, hi], ax) => {
        if (!lo && !hi) return;
        const d = y.shape[ax];
        if (mode === 'reflect' && (lo >= d || hi >= d))
          throw unsupported(
            `${this.file}: Pad '${n.name}': reflect padding of ${Math.max(lo, hi)} on a dimension of ${d}`,
          );
        const idx = Array.from({ length: lo + d + hi }, (_, i) => {
          const j = i - lo;
          if (j < 0) return mode === 'reflect' ? -j : 0;
          if (j >= d) return mode === 'reflect' ? 2 * (d - 1) - j : d - 1;
          return j;
        });
        y = tf.gather(y, tf.tensor1d(idx, 'int32'), ax);
      });
      return { t: y, nhwc };
    }
    throw unsupported(`${this.file}: Pad '${n.name}' mode '${mode}' is not supported`);
  }

  private resize(n: OnnxNode, x: V, ins: Array<V | undefined>): TV {
    const s = this.shape(x);
    if (s.length !== 4)
      throw unsupported(`${this.file}: ${n.op} '${n.name}' on a ${s.length}-D tensor (2-D images only)`);
    const mode = attrStr(n, 'mode', 'nearest');
    const coord =
      n.op === 'Upsample' || this.opset < 11
        ? 'asymmetric'
        : attrStr(n, 'coordinate_transformation_mode', 'half_pixel');
    const nearestMode = attrStr(n, 'nearest_mode', 'round_prefer_floor');
    let scales: number[] | undefined;
    let sizes: number[] | undefined;
    if (n.op === 'Upsample' || this.opset < 11)
      scales = attrInts(n, 'scales') ?? (ins[1] ? Array.from(this.constOf(ins[1], 'scales', n).data) : undefined);
    else {
      const sc = ins[2] ? this.constOf(ins[2], 'scales', n) : undefined;
      const sz = ins[3] ? this.constOf(ins[3], 'sizes', n) : undefined;
      if (sz?.data.length) sizes = ints(sz);
      else if (sc?.data.length) scales = Array.from(sc.data);
    }
    if (attrInts(n, 'axes')) throw unsupported(`${this.file}: Resize '${n.name}' with axes is not supported`);
    const out = sizes ?? s.map((d, i) => Math.floor(d * (scales?.[i] ?? 1)));
    if (out[0] !== s[0] || out[1] !== s[1])
      throw unsupported(`${this.file}: Resize '${n.name}' resizes batch or channels`);
    if (mode !== 'nearest' && mode !== 'linear')
      throw unsupported(`${this.file}: Resize '${n.name}' mode '${mode}' is not supported (nearest, linear)`);
    if (
      !['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric', 'tf_half_pixel_for_nearest'].includes(coord)
    )
      throw unsupported(`${this.file}: Resize '${n.name}': coordinate mode ${coord} is not supported`);
    // Separable interpolation matrices (exact ONNX coordinate and rounding rules), applied as two matmuls.
    const key = `${n.name}|${s[2]}|${s[3]}`;
    let m = this.resizeCache.get(key);
    if (!m) {
      const mat = (len: number, outLen: number, scale: number): tf.Tensor2D => {
        const a = new Float32Array(outLen * len);
        for (let i = 0; i < outLen; i++) {
          let xo: number;
          if (coord === 'align_corners') xo = outLen === 1 ? 0 : (i * (len - 1)) / (outLen - 1);
          else if (coord === 'asymmetric') xo = i / scale;
          else if (coord === 'tf_half_pixel_for_nearest') xo = (i + 0.5) / scale;
          else if (coord === 'pytorch_half_pixel') xo = outLen > 1 ? (i + 0.5) / scale - 0.5 : 0;
          else xo = (i + 0.5) / scale - 0.5;
          if (mode === 'nearest') {
            const fl = Math.floor(xo);
            const frac = xo - fl;
            let j =
              nearestMode === 'floor'
                ? fl
                : nearestMode === 'ceil'
                  ? Math.ceil(xo)
                  : nearestMode === 'round_prefer_ceil'
                    ? frac === 0.5
                      ? fl + 1
                      : Math.round(xo)
                    : frac === 0.5
                      ? fl
                      : Math.round(xo);
            j = Math.min(Math.max(j, 0), len - 1);
            a[i * len + j] = 1;
          } else {
            const xc = Math.min(Math.max(xo, 0), len - 1);
            const j0 = Math.floor(xc);
            const j1 = Math.min(j0 + 1, len - 1);
            const w = xc - j0;
            a[i * len + j0] += 1 - w;
            a[i * len + j1] += w;
          }
        }
        return tf.keep(tf.tensor2d(a, [outLen, len]).transpose()) as tf.Tensor2D; // [len, outLen]
      };
      const sc = (i: number) => (scales ? scales[i] : out[i] / s[i]);
      m = { h: mat(s[2], out[2], sc(2)), w: mat(s[3], out[3], sc(3)) };
      this.resizeCache.set(key, m);
    }
    const t = this.nh(x) as tf.Tensor4D;
    const [N, H, W, C] = t.shape;
    let y = tf.reshape(tf.matMul(tf.reshape(tf.transpose(t, [0, 2, 3, 1]), [-1, H]), m.h), [N, W, C, out[2]]);
    y = tf.reshape(tf.matMul(tf.reshape(tf.transpose(y, [0, 3, 2, 1]), [-1, W]), m.w), [N, out[2], C, out[3]]);
    return { t: tf.transpose(y, [0, 1, 3, 2]), nhwc: true };
  }

  private resizeCache = new Map<string, { h: tf.Tensor2D; w: tf.Tensor2D }>();
}
