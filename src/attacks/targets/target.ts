/**
 * Targets: what a black-box attack queries. Three kinds behind one interface — an in-process
 * medshield model, an ONNX file run by onnxruntime-node, and an HTTP endpoint (`http-target.ts`).
 *
 * A target answers `predictProbs(x, n)` with n × k scores: probabilities when it exposes them
 * (`output: 'probabilities'`, score-based attacks), or the one-hot of its decision when it returns
 * labels only (`output: 'label'`, decision-based attacks; multi-label heads: 0/1 per label). Every
 * image sent counts as one query, whatever the batching, so a target's `queries` is exact.
 */
import type { Task } from '../../data/medmnist.js';
import type { Model } from '../../models/model.js';
import { unsupported } from '../../errors.js';

export type TargetKind = 'model' | 'onnx' | 'http';
export type TargetOutput = 'probabilities' | 'label';

export interface Target {
  readonly kind: TargetKind;
  /** What the target is (model name, ONNX file, URL) — for output and errors. */
  readonly name: string;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task: Task;
  readonly output: TargetOutput;
  /** Images queried so far (one image = one query). */
  readonly queries: number;
  /** n × k scores: probabilities, or one-hot decisions for label-only targets. Counts n queries. */
  predictProbs(x: Float32Array, n: number): Promise<Float32Array>;
  /** Release connections/sessions (HTTP, ONNX). */
  close?(): Promise<void>;
}

/** The one-hot decision of a probability row set (argmax; binary p₁ > 0.5; multi-label p > 0.5). */
export function decisions(probs: Float32Array, n: number, k: number, task: Task): Float32Array {
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    if (task === 'multilabel') {
      for (let j = 0; j < k; j++) out[i * k + j] = probs[i * k + j] > 0.5 ? 1 : 0;
      continue;
    }
    let c = 0;
    for (let j = 1; j < k; j++) if (probs[i * k + j] > probs[i * k + c]) c = j;
    out[i * k + c] = 1;
  }
  return out;
}

/** An in-process model (medshield or ONNX) as a target; `output: 'label'` hides its scores. */
export class ModelTarget implements Target {
  readonly kind: TargetKind;
  readonly name: string;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task: Task;
  queries = 0;
  constructor(
    readonly model: Model,
    readonly output: TargetOutput = 'probabilities',
    name?: string,
  ) {
    this.kind = model.differentiable ? 'model' : 'onnx';
    this.name = name ?? model.card.name;
    this.inputShape = model.inputShape;
    this.classes = model.classes;
    this.task = model.task;
  }
  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    this.queries += n;
    const p = await this.model.predictProbs(x, n);
    return this.output === 'label' ? decisions(p, n, this.classes.length, this.task) : p;
  }
}

/** A target, or a model wrapped as an in-process probability target. */
export function asTarget(t: Target | Model): Target {
  return 'kind' in t && 'queries' in t ? t : new ModelTarget(t as Model);
}

/** Score-based attacks need probabilities; say so plainly when the target gives labels only. */
export function requireScores(t: Target, attack: string): void {
  if (t.output !== 'probabilities')
    throw unsupported(
      `attack '${attack}' needs probabilities, but target '${t.name}' ` +
        `returns labels only (use a decision-based attack: hsj, boundary)`,
    );
}
