/**
 * Input-transform defences as models: `TransformedModel` applies an `InputTransform` to every batch,
 * then the wrapped model's `predictProbs` — x ↦ f(T(x)). It is a `ForwardModel` (no gradients
 * through T), so white-box attacks cannot run on it directly; the non-adaptive evaluation crafts
 * adversarial images on the undefended model and classifies them here (`medshield defend`).
 * Randomized transforms draw from one seeded `Rng` per wrapped model: the same seed and the same
 * sequence of calls give the same numbers.
 *
 * Also here: the parameter declarations each transform file exports (`TransformFactory`), which the
 * registry validates generically, and `chain` (T₂∘T₁, written `bitdepth:bits=4+median:k=3`).
 *
 *   const d = getDefence('jpeg:q=75'); const defended = d.wrap(model, { seed: 0 });
 *   const p = await defended.predictProbs(x, n);
 */
import type { ForwardModel, Model } from '../models/model.js';
import { Rng } from '../engine/index.js';
import type { Defence, InputTransform } from './types.js';

/** One numeric parameter of a defence spec (`q` in `jpeg:q=75`). */
export interface ParamSpec {
  default: number;
  min: number;
  max: number;
  /** Exclusive lower bound (σ > 0). */
  minExclusive?: boolean;
  integer?: boolean;
  odd?: boolean;
  help: string;
}

/** What a transform file exports: its name, parameters and constructor. */
export interface TransformFactory {
  readonly name: string;
  readonly summary: string;
  readonly reference: string;
  readonly randomized: boolean;
  readonly params: Record<string, ParamSpec>;
  make(p: Record<string, number>): InputTransform;
}

/** The canonical spec text: `name:a=1,b=2` with every parameter (defaults included). */
export function specText(name: string, p: Record<string, number>): string {
  const parts = Object.entries(p).map(([k, v]) => `${k}=${v}`);
  return parts.length ? `${name}:${parts.join(',')}` : name;
}

export class TransformedModel implements ForwardModel {
  readonly differentiable = false as const;
  readonly inputShape: [number, number, number];
  readonly classes: string[];
  readonly task: Model['task'];
  readonly card: Model['card'];
  private readonly rng: Rng;

  constructor(
    readonly base: Model,
    readonly transform: InputTransform,
    seed = 0,
  ) {
    this.inputShape = base.inputShape;
    this.classes = base.classes;
    this.task = base.task;
    this.card = base.card;
    this.rng = new Rng(seed);
  }

  async predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    const t = await this.transform.apply(x, n, this.inputShape, this.transform.randomized ? this.rng : undefined);
    return this.base.predictProbs(t, n);
  }
}

/** An input transform as a `Defence`. */
export function transformDefence(t: InputTransform): Defence {
  return {
    spec: t.spec,
    reference: t.reference,
    randomized: t.randomized,
    transform: t,
    wrap: (model, opts) => new TransformedModel(model, t, opts?.seed ?? 0),
  };
}

/** Composition: apply `ts[0]`, then `ts[1]`, … (Xu et al. combine squeezers the same way). */
export function chain(ts: InputTransform[]): InputTransform {
  return {
    spec: ts.map((t) => t.spec).join('+'),
    reference: ts.map((t) => t.reference).join('; '),
    randomized: ts.some((t) => t.randomized),
    // synchronous while every part is (BPDA evaluates transforms inside a gradient tape)
    apply(x, n, shape, rng) {
      let y: Float32Array = x;
      for (const [i, t] of ts.entries()) {
        const r = t.apply(y, n, shape, rng);
        if (r instanceof Promise) {
          return (async () => {
            let z = await r;
            for (const u of ts.slice(i + 1)) z = await u.apply(z, n, shape, rng);
            return z;
          })();
        }
        y = r;
      }
      return y === x ? Float32Array.from(x) : y;
    },
  };
}
