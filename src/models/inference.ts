/**
 * The inference-mode forward pass of a tfjs-layers classifier with batch normalisation folded
 * into the convolutions — the path every attack, detector and the gateway run (through
 * `Classifier.logits` / `features`).
 *
 * In inference mode a BatchNormalization layer after a bias-free (or biased) linear Conv2D is an
 * affine map per output channel with its moving statistics, so it folds into the conv:
 *   s = γ / √(σ² + ε),   w' = w · s (per output channel),   b' = (b − μ) · s + β,
 * and a ReLU right after it becomes the conv's fused activation: Conv → BN → ReLU is ONE kernel
 * (`convBiasAct`, one oneDNN call with bias and ReLU post-ops on the native backend, with lazy
 * per-input gradients). Every other layer runs as itself (`layer.apply`, inference mode).
 *
 * The graph is walked from the model's symbolic tensors (independent of how the model was built
 * or loaded); a Conv/BN/ReLU chain is fused only when each intermediate output has no other
 * consumer and is not the requested output. Folded weights are cached per conv and recomputed
 * whenever one of the underlying variables changes (a tfjs Variable's `assign` — optimisers,
 * setWeights, moving-average updates — gives it a new data id), so a model being trained between
 * attack steps (adversarial training) is always run with its current weights.
 *
 * Gradients flow to the INPUT (what attacks need), not to the weights: training uses `runTraining`
 * (`net.apply(x, {training: true})` layer by layer), which stays unfused. MEDSHIELD_FOLD_BN=0 turns folding off
 * (every layer then runs as itself, as `net.apply(x, {training: false})` does).
 *
 * Both walks dispose each intermediate value after its last reader, as PyTorch's reference counting does
 * (issue 21: a batch-256 evaluation of the full-width ResNet-50 at 28 px held every activation of the pass
 * until it ended: 8.0 GB peak RSS against 6.2 GB for the optimiser steps). bench/models/train-memory.ts measures it.
 */
import { tf, convBiasAct } from '../engine/index.js';

type SymT = tf.SymbolicTensor & { inputs?: SymT[]; sourceLayer: tf.layers.Layer; id: number };
type Var = { read(): tf.Tensor } | null | undefined;

interface Step {
  out: SymT;
  layer: tf.layers.Layer;
  inputs: SymT[];
}
interface FusedConv {
  kind: 'conv';
  conv: tf.layers.Layer;
  bn: tf.layers.Layer | null;
  relu: boolean;
  input: SymT;
  out: SymT;
}
interface PlainStep {
  kind: 'layer';
  layer: tf.layers.Layer;
  inputs: SymT[];
  out: SymT;
}
interface InputStep {
  kind: 'input';
  out: SymT;
}
type PlanStep = FusedConv | PlainStep | InputStep;

interface Folded {
  key: unknown[];
  backend: string;
  filter: tf.Tensor4D;
  bias: tf.Tensor1D;
}

export function foldingEnabled(): boolean {
  return process.env.MEDSHIELD_FOLD_BN !== '0';
}

const cls = (l: tf.layers.Layer) => l.getClassName();

function isLinearConv(l: tf.layers.Layer): boolean {
  if (cls(l) !== 'Conv2D') return false;
  const c = l.getConfig() as {
    activation?: string;
    dataFormat?: string;
    dilationRate?: number | number[];
    padding?: string;
    groups?: number;
  };
  const dil = Array.isArray(c.dilationRate) ? c.dilationRate : [c.dilationRate ?? 1];
  return (
    (c.activation ?? 'linear') === 'linear' &&
    (c.dataFormat ?? 'channelsLast') === 'channelsLast' &&
    dil.every((d) => d === 1) &&
    (c.padding === 'same' || c.padding === 'valid') &&
    (c.groups ?? 1) === 1
  );
}

function isChannelBn(l: tf.layers.Layer, rank: number): boolean {
  if (cls(l) !== 'BatchNormalization') return false;
  const axis = (l.getConfig() as { axis?: number | number[] }).axis ?? -1;
  const a = Array.isArray(axis) ? axis : [axis];
  return a.length === 1 && (a[0] === -1 || a[0] === rank - 1);
}

function isRelu(l: tf.layers.Layer): boolean {
  const c = l.getConfig() as {
    maxValue?: number | null;
    activation?: string;
    negativeSlope?: number;
    threshold?: number;
  };
  if (cls(l) === 'ReLU') return c.maxValue == null;
  return cls(l) === 'Activation' && c.activation === 'relu';
}

/** Runs a LayersModel's inference pass with Conv→BN(→ReLU) chains fused. */
export class InferenceGraph {
  private plans = new Map<number, PlanStep[]>();
  private trainOrder: PlanStep[] | null = null;
  private folded = new Map<tf.layers.Layer, Folded>();

  constructor(readonly net: tf.LayersModel) {}

  /** The output for `x` (default: the model's first output; or any layer's output tensor). */
  run(x: tf.Tensor, target?: tf.SymbolicTensor): tf.Tensor {
    const out = (target ?? this.net.outputs[0]!) as SymT;
    if (!foldingEnabled()) return this.unfused(x, out);
    let plan = this.plans.get(out.id);
    if (!plan) {
      plan = this.plan(out);
      this.plans.set(out.id, plan);
    }
    return this.runPlan(x, plan, [out])[0]!;
  }

  /**
   * Walk `plan` on x and return the values of `outs`. Each intermediate value is disposed right after its last
   * reader (peak memory ≈ the live frontier of the graph, not every activation of the pass — ResNet-50 at 28 px
   * and batch 256 held 5 GB of activations until the pass ended); tensors a kernel saved for backprop are clones
   * kept by tfjs' tape, so this is safe under tf.grad. The whole walk runs in one tidy (layer temporaries).
   */
  private runPlan(x: tf.Tensor, plan: PlanStep[], outs: SymT[]): tf.Tensor[] {
    const reads = (s: PlanStep): SymT[] => (s.kind === 'input' ? [] : s.kind === 'conv' ? [s.input] : s.inputs);
    return tf.tidy(() =>
      walk(x, plan, reads, outs, (s, value) => {
        if (s.kind === 'conv') {
          const f = this.fold(s);
          const c = s.conv.getConfig() as { strides: number[] | number; padding: 'same' | 'valid' };
          return convBiasAct({
            x: value(s.input) as tf.Tensor4D,
            filter: f.filter,
            bias: f.bias,
            strides: Array.isArray(c.strides) ? [c.strides[0]!, c.strides[1]!] : c.strides,
            pad: c.padding,
            activation: s.relu ? 'relu' : 'linear',
          });
        }
        const p = s as PlainStep;
        const ins = p.inputs.map(value);
        return p.layer.apply(ins.length === 1 ? ins[0]! : ins, { training: false }) as tf.Tensor;
      }),
    );
  }

  /**
   * The training-mode forward pass (`net.apply(x, {training: true})`: batch statistics, moving-average updates,
   * unfused, differentiable w.r.t. the weights) with each intermediate freed after its last reader. tfjs-layers'
   * executor frees nothing in training mode, so every activation — including the many no gradient needs (a batch
   * norm's output once the ReLU after it has run; a residual sum) — lived until the forward pass ended; PyTorch
   * frees them at once (reference counting). Same layers, same kernels, same values as `net.apply`.
   */
  runTraining(x: tf.Tensor): tf.Tensor {
    const out = this.net.outputs[0]! as SymT;
    let order = this.trainOrder;
    if (!order) {
      const inputId = (this.net.inputs[0] as SymT).id;
      order = this.order(out).map(
        (s): PlanStep =>
          s.out.id === inputId
            ? { kind: 'input', out: s.out }
            : { kind: 'layer', layer: s.layer, inputs: s.inputs, out: s.out },
      );
      this.trainOrder = order;
    }
    const reads = (s: PlanStep): SymT[] => (s.kind === 'layer' ? s.inputs : []);
    return tf.tidy(
      () =>
        walk(x, order, reads, [out], (s, value) => {
          const ins = (s as PlainStep).inputs.map(value);
          return (s as PlainStep).layer.apply(ins.length === 1 ? ins[0]! : ins, { training: true }) as tf.Tensor;
        })[0]!,
    );
  }

  /**
   * Several outputs of ONE forward pass (the model's output and the feature layers it passes through): the same
   * values as `run(x, t)` for each target, computed once — a caller that reads several layers of the same input
   * (the HFC attack, the Mahalanobis and LID statistics) pays one pass, and its gradient flows through the
   * shared graph. A target the output's plan does not pass through is run on its own.
   */
  runMany(x: tf.Tensor, targets: tf.SymbolicTensor[]): tf.Tensor[] {
    if (!foldingEnabled()) return targets.map((t) => this.run(x, t));
    const out = this.net.outputs[0]! as SymT;
    let plan = this.plans.get(out.id);
    if (!plan) {
      plan = this.plan(out);
      this.plans.set(out.id, plan);
    }
    const have = new Set(plan.map((s) => s.out.id));
    const inPlan = targets.filter((t) => have.has((t as SymT).id));
    const shared = inPlan.length ? this.runPlan(x, plan, inPlan as SymT[]) : [];
    return targets.map((t) => (have.has((t as SymT).id) ? shared[inPlan.indexOf(t)]! : this.run(x, t)));
  }

  /** Drop the cached folded weights. */
  dispose(): void {
    for (const f of this.folded.values()) tf.dispose([f.filter, f.bias]);
    this.folded.clear();
  }

  private unfused(x: tf.Tensor, out: SymT): tf.Tensor {
    if (out === this.net.outputs[0]) return this.net.apply(x, { training: false }) as tf.Tensor;
    const m = tf.model({ inputs: this.net.inputs, outputs: out });
    return m.apply(x, { training: false }) as tf.Tensor;
  }

  /** Topological order (inputs first) of the layers the target depends on. */
  private order(target: SymT): Step[] {
    const order: Step[] = [];
    const seen = new Set<number>();
    const inputIds = new Set(this.net.inputs.map((t) => (t as SymT).id));
    if (this.net.inputs.length !== 1) throw new Error('InferenceGraph: models with one input only');
    const visit = (t: SymT): void => {
      if (seen.has(t.id)) return;
      seen.add(t.id);
      const ins = inputIds.has(t.id) ? [] : (t.inputs ?? []);
      for (const i of ins) visit(i);
      order.push({ out: t, layer: t.sourceLayer, inputs: ins });
    };
    // Iterative deepening is unnecessary for these depths (ResNet-50: ~180 layers).
    visit(target);
    return order;
  }

  /** Topological order of the layers the target depends on, with fusable chains merged. */
  private plan(target: SymT): PlanStep[] {
    const order = this.order(target);
    const inputIds = new Set(this.net.inputs.map((t) => (t as SymT).id));
    const consumers = new Map<number, Step[]>();
    for (const s of order) for (const i of s.inputs) consumers.set(i.id, [...(consumers.get(i.id) ?? []), s]);
    const only = (t: SymT): Step | null => {
      if (t.id === target.id) return null;
      const c = consumers.get(t.id) ?? [];
      return c.length === 1 ? c[0]! : null;
    };
    const absorbed = new Set<number>();
    const plan: PlanStep[] = [];
    for (const s of order) {
      if (absorbed.has(s.out.id)) continue;
      if (inputIds.has(s.out.id)) {
        plan.push({ kind: 'input', out: s.out });
        continue;
      }
      if (s.inputs.length === 1 && isLinearConv(s.layer) && s.out.shape.length === 4) {
        const bnStep = only(s.out);
        if (bnStep && bnStep.inputs.length === 1 && isChannelBn(bnStep.layer, 4)) {
          let out = bnStep.out;
          const reluStep = only(bnStep.out);
          const relu = !!reluStep && reluStep.inputs.length === 1 && isRelu(reluStep.layer);
          if (relu) {
            out = reluStep!.out;
            absorbed.add(reluStep!.out.id);
          }
          absorbed.add(bnStep.out.id);
          plan.push({ kind: 'conv', conv: s.layer, bn: bnStep.layer, relu, input: s.inputs[0]!, out });
          continue;
        }
      }
      plan.push({ kind: 'layer', layer: s.layer, inputs: s.inputs, out: s.out });
    }
    return plan;
  }

  /** The conv's filter and bias with its batch norm folded in (cached while the variables are unchanged). */
  private fold(s: FusedConv): Folded {
    const conv = s.conv as unknown as { kernel: Var; bias: Var };
    const bn = s.bn as unknown as { gamma: Var; beta: Var; movingMean: Var; movingVariance: Var; epsilon: number };
    const vars = [conv.kernel, conv.bias, bn.gamma, bn.beta, bn.movingMean, bn.movingVariance].map((v) =>
      v ? v.read() : null,
    );
    const key = vars.map((v) => (v ? v.dataId : null));
    const backend = tf.getBackend();
    const prev = this.folded.get(s.conv);
    if (prev && prev.backend === backend && prev.key.every((k, i) => k === key[i])) return prev;
    const [w, b, gamma, beta, mean, variance] = vars as [
      tf.Tensor4D,
      tf.Tensor1D | null,
      tf.Tensor1D | null,
      tf.Tensor1D | null,
      tf.Tensor1D,
      tf.Tensor1D,
    ];
    const [filter, bias] = tf.tidy(() => {
      const inv = tf.rsqrt(tf.add(variance, tf.scalar(bn.epsilon)));
      const scale = gamma ? tf.mul(inv, gamma) : inv;
      const filter = tf.mul(w, scale) as tf.Tensor4D; // broadcasts over the last (output-channel) axis
      let bias = tf.mul(b ? tf.sub(b, mean) : tf.neg(mean), scale);
      if (beta) bias = tf.add(bias, beta);
      return [tf.keep(filter), tf.keep(bias as tf.Tensor1D)];
    });
    if (prev) tf.dispose([prev.filter, prev.bias]);
    const f: Folded = { key, backend, filter, bias };
    this.folded.set(s.conv, f);
    return f;
  }
}

/**
 * Run `steps` (topological order) on x: `exec` computes a step's value from the values it `reads`; each value is
 * disposed after its last reader unless it is x or one of `outs` (a layer may return its input tensor itself, so
 * tensors are reference-counted across the names they are stored under). Returns the values of `outs`.
 */
function walk(
  x: tf.Tensor,
  steps: PlanStep[],
  reads: (s: PlanStep) => SymT[],
  outs: SymT[],
  exec: (s: PlanStep, value: (t: SymT) => tf.Tensor) => tf.Tensor,
): tf.Tensor[] {
  const keep = new Set(outs.map((o) => o.id));
  // the steps are in topological order: nothing after the last requested output is needed
  let end = steps.length;
  while (end > 0 && !keep.has(steps[end - 1]!.out.id)) end--;
  if (end < steps.length) steps = steps.slice(0, end);
  const lastRead = new Map<number, number>();
  steps.forEach((s, i) => {
    for (const t of reads(s)) lastRead.set(t.id, i);
  });
  const values = new Map<number, tf.Tensor>();
  const refs = new Map<tf.Tensor, number>();
  const value = (t: SymT): tf.Tensor => values.get(t.id)!;
  steps.forEach((s, i) => {
    const v = s.kind === 'input' ? x : exec(s, value);
    values.set(s.out.id, v);
    refs.set(v, (refs.get(v) ?? 0) + 1);
    for (const t of new Set(reads(s))) {
      if (lastRead.get(t.id) !== i || keep.has(t.id)) continue;
      const u = values.get(t.id)!;
      values.delete(t.id);
      const r = refs.get(u)! - 1;
      if (r > 0) refs.set(u, r);
      else {
        refs.delete(u);
        if (u !== x) u.dispose();
      }
    }
  });
  return outs.map((o) => values.get(o.id)!);
}
