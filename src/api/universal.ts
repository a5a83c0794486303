/**
 * The `universal` verb: one universal adversarial perturbation (Moosavi-Dezfooli et al., CVPR 2017;
 * minibatch PGD variant: Shafahi et al., AAAI 2020) fitted on a seeded sample of the training split,
 * and its fooling rate there and on held-out test images. `medshield universal` is a shell over it.
 *
 *   const r = await universal({ eps: '8/255', fitLimit: 200, data: { limit: 100 } });
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseEpsilon, checkEpsilon } from '../attacks/epsilon.js';
import { fitUniversal, foolingRate } from '../attacks/physical/universal.js';
import { selectImages } from '../data/images.js';
import { encodePng } from '../eval/examples.js';
import { engineInfo } from '../engine/index.js';
import { unsupported } from '../errors.js';
import {
  DATA_REF_SCHEMA,
  MODEL_REF_SCHEMA,
  SEED_SCHEMA,
  loadModelRef,
  openDataRef,
  progressOf,
  validateSpec,
  withImageSet,
  type DataRef,
  type ModelRef,
  type VerbOptions,
} from './common.js';

export interface UniversalSpec {
  model?: ModelRef;
  /**
   * `limit`: the hold-out sample of test images (seed + 1, as the CLI); `split` is ignored (fit: train, hold-out:
   * test).
   */
  data?: DataRef;
  eps: number | string;
  norm?: 'linf' | 'l2';
  method?: 'pgd' | 'deepfool';
  /** Fit δ on a seeded sample of N training images (default 200). */
  fitLimit?: number;
  /** Passes over the fit images (default 10); stop once this fraction is fooled (default 0.8). */
  maxIter?: number;
  foolingRate?: number;
  /** Write δ as PNG (mid-grey = 0, amplified to the full grey range). */
  save?: string;
  seed?: number;
  /** Return δ in the result. */
  returnDelta?: boolean;
}

export const UNIVERSAL_SPEC_SCHEMA = {
  $id: 'medshield/universal-spec',
  type: 'object',
  additionalProperties: false,
  required: ['eps'],
  properties: {
    model: MODEL_REF_SCHEMA,
    data: DATA_REF_SCHEMA,
    seed: SEED_SCHEMA,
    eps: {
      anyOf: [{ type: 'number', exclusiveMinimum: 0 }, { type: 'string' }],
      description: 'a number > 0 or a fraction like "8/255"',
    },
    norm: { type: 'string', enum: ['linf', 'l2'] },
    method: { type: 'string', enum: ['pgd', 'deepfool'] },
    fitLimit: { type: 'integer', minimum: 1 },
    maxIter: { type: 'integer', minimum: 1, maximum: 1000 },
    foolingRate: { type: 'number', minimum: 0.01, maximum: 1 },
    save: { type: 'string' },
    returnDelta: { type: 'boolean' },
  },
} as const;

export interface UniversalResult {
  model: string;
  dataset: string;
  eps: number;
  norm: 'linf' | 'l2';
  method: 'pgd' | 'deepfool';
  passes: number;
  fit: { n: number; foolingRate: number };
  holdout: { n: number; foolingRate: number };
  delta?: Float32Array;
  /** The CLI's JSON object. */
  json: Record<string, unknown>;
}

export async function universal(input: UniversalSpec, opts: VerbOptions = {}): Promise<UniversalResult> {
  const spec = validateSpec<UniversalSpec>(UNIVERSAL_SPEC_SCHEMA, input, 'universal spec');
  const eps = typeof spec.eps === 'number' ? spec.eps : parseEpsilon(spec.eps);
  const norm = spec.norm ?? 'linf';
  const method = spec.method ?? 'pgd';
  const seed = spec.seed ?? 0;
  const maxIter = spec.maxIter ?? 10;
  await engineInfo();
  const modelRef = spec.model ?? 'default';
  const model = await loadModelRef(modelRef);
  if (!model.differentiable)
    throw unsupported(`fitting a universal perturbation needs gradients; '${modelRef}' is a forward-only (ONNX) model`);
  const [h, w, c] = model.inputShape;
  checkEpsilon(eps, norm, h * w * c, String(spec.eps));
  const ref: DataRef = spec.data ?? {};
  const data = await openDataRef(ref, model.card, { split: ['train', 'test'], onNote: opts.onNote });
  const fit = selectImages(data.splits.train, spec.fitLimit ?? 200, seed);
  const holdout = selectImages(data.splits.test, ref.limit, ref.sampleSeed ?? seed + 1);
  const bar = progressOf(opts, 'universal', maxIter * fit.n);
  let r;
  try {
    r = await fitUniversal(model, fit, {
      eps,
      norm,
      method,
      maxIter,
      targetFoolingRate: spec.foolingRate ?? 0.8,
      seed,
      onStep: (d) => bar.update(d),
    });
  } finally {
    bar.stop();
  }
  const held = await foolingRate(model, holdout, r.delta);
  if (spec.save) {
    let m = 0;
    for (const v of r.delta) m = Math.max(m, Math.abs(v));
    const img = Float32Array.from(r.delta, (v) => 0.5 + v / (2 * (m || 1)));
    mkdirSync(path.dirname(path.resolve(spec.save)), { recursive: true });
    writeFileSync(spec.save, encodePng(img, h, w, c, Math.max(1, Math.round(112 / h))));
  }
  const out = {
    eps,
    norm,
    method,
    passes: r.passes,
    fit: { n: fit.n, foolingRate: r.foolingRate },
    holdout: { n: holdout.n, foolingRate: held },
  };
  return {
    model: model.card.name,
    dataset: data.name,
    ...out,
    ...(spec.returnDelta ? { delta: r.delta } : {}),
    json: withImageSet(out, data),
  };
}

/** The text summary of a universal perturbation (`medshield universal`); ε as the spec wrote it. */
export function universalText(r: UniversalResult, spec: Pick<UniversalSpec, 'eps' | 'save'>): string {
  return (
    `${r.model} on ${r.dataset}: universal ${r.norm} δ (${r.method}), ε=${spec.eps}, ${r.passes} pass(es)\n` +
    `  fooling rate: fit ${r.fit.foolingRate.toFixed(4)} (n=${r.fit.n}, train), ` +
    `hold-out ${r.holdout.foolingRate.toFixed(4)} (n=${r.holdout.n}, test)\n` +
    (spec.save ? `  δ: ${spec.save}\n` : '')
  );
}
