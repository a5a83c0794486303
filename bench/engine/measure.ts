/**
 * Timing of medshield's engine on the three workloads of the engine benchmark (issue 4 §1):
 * forward (inference mode), one SGD train step (training-mode forward, softmax cross-entropy,
 * gradients of all trainable weights, SGD update) and the gradient of the loss w.r.t. the input
 * (inference mode, as an attack computes it — both inference workloads through InferenceGraph, the
 * batch-norm-folded path of Classifier.logits), each in ms per batch. Large models can be split
 * into micro-batches (gradients accumulated, as src/models/train.ts does on wasm); BatchNorm then
 * normalises each micro-batch with its own statistics.
 */
import { tf } from '../../src/engine/index.js';
import { InferenceGraph } from '../../src/models/inference.js';

export interface Workloads {
  forward: number;
  trainStep: number;
  inputGrad: number;
}

export function medianMs(fn: () => void, iters: number, warmup = 1): number {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

/** Deterministic inputs in [0,1] and integer labels (a simple LCG: no RNG state shared with models). */
export function batchData(
  batch: number,
  shape: [number, number, number],
  classes: number,
): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const n = batch * shape[0] * shape[1] * shape[2];
  const v = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    v[i] = s / 4294967296;
  }
  const labels = Array.from({ length: batch }, (_, i) => i % classes);
  return {
    x: tf.tensor4d(v, [batch, ...shape]),
    y: tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat() as tf.Tensor2D),
  };
}

function sliceBatch<T extends tf.Tensor>(t: T, start: number, size: number): T {
  return tf.slice(t, [start, ...t.shape.slice(1).map(() => 0)], [size, ...t.shape.slice(1)]) as T;
}

/** The three workloads as closures over one model and batch (forward, trainStep, inputGrad). */
export function workloadFns(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  microBatch: number,
): Record<keyof Workloads, () => void> & { dispose(): void } {
  const batch = x.shape[0];
  const micro = Math.min(microBatch, batch);
  const optimizer = tf.train.sgd(0.01);
  const vars = model.trainableWeights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const ce = (logits: tf.Tensor, labels: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  // Inference mode as attacks run it (Classifier.logits): batch norm folded into the convs.
  const graph = new InferenceGraph(model);
  const infer = (xs: tf.Tensor) => graph.run(xs);

  const forward = () => {
    for (let m = 0; m < batch; m += micro) {
      tf.tidy(() => {
        const xs = micro === batch ? x : sliceBatch(x, m, Math.min(micro, batch - m));
        infer(xs).dataSync();
      });
    }
  };

  const trainStep = () => {
    let acc: tf.NamedTensorMap | null = null;
    for (let m = 0; m < batch; m += micro) {
      const size = Math.min(micro, batch - m);
      const { value, grads } = tf.variableGrads(
        () =>
          tf.tidy(() => {
            const xs = micro === batch ? x : sliceBatch(x, m, size);
            const ys = micro === batch ? y : sliceBatch(y, m, size);
            return tf.mul(ce(model.apply(xs, { training: true }) as tf.Tensor, ys), size / batch) as tf.Scalar;
          }),
        vars,
      );
      value.dispose();
      if (!acc) acc = grads;
      else {
        const prev: tf.NamedTensorMap = acc;
        acc = {};
        for (const k of Object.keys(grads)) {
          acc[k] = tf.add(prev[k]!, grads[k]!);
          prev[k]!.dispose();
          grads[k]!.dispose();
        }
      }
    }
    optimizer.applyGradients(acc!);
    vars[0]!.dataSync();
    tf.dispose(acc!);
  };

  const inputGrad = () => {
    for (let m = 0; m < batch; m += micro) {
      tf.tidy(() => {
        const size = Math.min(micro, batch - m);
        const xs = micro === batch ? x : sliceBatch(x, m, size);
        const ys = micro === batch ? y : sliceBatch(y, m, size);
        tf.grad((t: tf.Tensor) => ce(infer(t), ys))(xs).dataSync();
      });
    }
  };
  return {
    forward,
    trainStep,
    inputGrad,
    dispose: () => {
      optimizer.dispose();
      graph.dispose();
    },
  };
}

export function timeWorkloads(
  model: tf.LayersModel,
  x: tf.Tensor4D,
  y: tf.Tensor2D,
  iters: number,
  microBatch: number,
  warmup = 1,
): Workloads {
  const f = workloadFns(model, x, y, microBatch);
  const out = {
    forward: medianMs(f.forward, iters, warmup),
    trainStep: medianMs(f.trainStep, iters, warmup),
    inputGrad: medianMs(f.inputGrad, iters, warmup),
  };
  f.dispose();
  return out;
}

/** A conv layer's geometry, at the benchmark batch size. */
export interface ConvShape {
  b: number;
  h: number;
  w: number;
  ci: number;
  co: number;
  k: number;
  s: number;
  count: number;
}

/** Distinct Conv2D layer shapes of a model (with multiplicities), 'same' padding. */
export function convShapes(model: tf.LayersModel, batch: number): ConvShape[] {
  const map = new Map<string, ConvShape>();
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Conv2D') continue;
    const cfg = layer.getConfig() as { kernelSize: number[]; strides: number[]; filters: number };
    const inShape = (layer.input as tf.SymbolicTensor).shape as number[];
    const sh: ConvShape = {
      b: batch,
      h: inShape[1]!,
      w: inShape[2]!,
      ci: inShape[3]!,
      co: cfg.filters,
      k: cfg.kernelSize[0]!,
      s: cfg.strides[0]!,
      count: 1,
    };
    const key = `${sh.h},${sh.w},${sh.ci},${sh.co},${sh.k},${sh.s}`;
    const prev = map.get(key);
    if (prev) prev.count++;
    else map.set(key, sh);
  }
  return [...map.values()];
}

export interface ConvGflops {
  forward: number;
  backwardFilter: number;
  backwardInput: number;
}

/** Achieved GFLOP/s over the conv layers (FLOPs = 2·B·oh·ow·k²·ci·co per pass, summed with multiplicity). */
export function convGflops(shapes: ConvShape[], iters: number): ConvGflops {
  const tot = { forward: [0, 0], backwardFilter: [0, 0], backwardInput: [0, 0] } as Record<
    keyof ConvGflops,
    [number, number]
  >;
  for (const c of shapes) {
    const x = tf.randomNormal([c.b, c.h, c.w, c.ci], 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal([c.k, c.k, c.ci, c.co], 0, 1, 'float32', 2) as tf.Tensor4D;
    const yShape = tf.tidy(() => tf.conv2d(x, w, c.s, 'same').shape);
    const dy = tf.randomNormal(yShape, 0, 1, 'float32', 3);
    const flops = 2 * c.b * yShape[1] * yShape[2] * c.k * c.k * c.ci * c.co * c.count;
    const runs: Record<keyof ConvGflops, () => tf.Tensor> = {
      forward: () => tf.conv2d(x, w, c.s, 'same'),
      backwardFilter: () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropFilter',
            { x, dy },
            { strides: c.s, pad: 'same', dataFormat: 'NHWC', filterShape: [c.k, c.k, c.ci, c.co] },
          ) as tf.Tensor,
      backwardInput: () =>
        tf
          .engine()
          .runKernel(
            'Conv2DBackpropInput',
            { dy, filter: w },
            { strides: c.s, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape },
          ) as tf.Tensor,
    };
    for (const k of Object.keys(runs) as Array<keyof ConvGflops>) {
      const ms = medianMs(() => {
        const r = runs[k]();
        r.dataSync();
        r.dispose();
      }, iters);
      tot[k][0] += flops;
      tot[k][1] += ms * c.count;
    }
    tf.dispose([x, w, dy]);
  }
  const g = (k: keyof ConvGflops) => tot[k][0] / tot[k][1] / 1e6;
  return { forward: g('forward'), backwardFilter: g('backwardFilter'), backwardInput: g('backwardInput') };
}
