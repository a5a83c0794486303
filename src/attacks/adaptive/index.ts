/**
 * The adaptive attacks, one line each, and the chains the scorecard sends against a pipeline:
 * EOT for randomized defences; identity BPDA then learned BPDA for deterministic transforms; the joint
 * loss then HFC feature camouflage for detectors; the APGD ensemble for adversarially trained models.
 */
import { unsupported } from '../../errors.js';
import { Registry, type JsonSchema, type RegistryEntry } from '../../registry.js';
import type { AdaptiveAttack, AdaptiveOptions, Pipeline } from './types.js';
import { bpda } from './bpda.js';
import { eot } from './eot.js';
import { joint } from './joint.js';
import { apgdEnsemble } from './apgd-ensemble.js';
import { hfc } from './hfc.js';
import { bpdaLearned } from './learned.js';
import { takeRows, putRows } from '../project.js';

/** The JSON-serialisable options of an adaptive attack (HFC's reference images are passed at run time). */
export type AdaptiveParams = Omit<AdaptiveOptions, 'eps' | 'surrogates' | 'onStep' | 'stopWhen'> & { eps?: number };

const int = (min: number, description: string): JsonSchema => ({ type: 'integer', minimum: min, description });
const pos = (description: string): JsonSchema => ({ type: 'number', exclusiveMinimum: 0, description });
const COMMON: Record<string, JsonSchema> = {
  eps: pos('radius of the ε ball'),
  norm: { enum: ['linf', 'l2'], description: 'norm of the ε ball (default linf)' },
  seed: { type: 'integer' },
  earlyStop: { type: 'boolean' },
  steps: int(1, 'iterations'),
  stepSize: pos('step size α'),
  restarts: int(1, 'random restarts'),
};
const schema = (extra: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  properties: { ...COMMON, ...extra },
  additionalProperties: false,
});
const base: JsonSchema = {
  type: 'string',
  description: 'white-box attack run on the differentiable view (default pgd)',
};
const lambda: JsonSchema = { type: 'number', minimum: 0, description: 'weight of the detector (feature) term' };

/** The adaptive attack with `params` as default options (a run's own options win). */
function withDefaults(a: AdaptiveAttack, params?: AdaptiveParams): AdaptiveAttack {
  if (!params || !Object.keys(params).length) return a;
  return { ...a, run: (p, x, y, o) => a.run(p, x, y, { ...params, ...o } as AdaptiveOptions) };
}

const entry = (
  a: AdaptiveAttack,
  summary: string,
  against: string,
  extra: Record<string, JsonSchema>,
): RegistryEntry<AdaptiveAttack, AdaptiveParams> => ({
  name: a.name,
  describe: { summary, reference: a.reference, kind: 'adaptive', against, norms: ['linf', 'l2'] },
  schema: schema(extra),
  create: (p) => withDefaults(a, p),
});

/** Every adaptive attack, in the registry shape of `src/registry.ts`. */
export const adaptiveRegistry = new Registry<AdaptiveAttack, AdaptiveParams>('adaptive attack', [
  entry(
    bpda,
    'BPDA: the white-box attack through a straight-through (identity) gradient of the transform',
    'deterministic input transforms',
    { base },
  ),
  entry(
    bpdaLearned,
    'BPDA through a small network trained to imitate the transform',
    'deterministic input transforms',
    { base },
  ),
  entry(
    eot,
    "expectation over transformation: gradients averaged over the defence's randomness",
    'randomized defences',
    { base, samples: int(1, 'samples of the randomness per gradient') },
  ),
  entry(joint, 'one loss for the classifier margin and the detector score (Carlini & Wagner)', 'detectors', {
    lambda,
    confidence: { type: 'number', minimum: 0, description: 'margin clamp κ' },
  }),
  entry(apgdEnsemble, 'APGD-CE then APGD-DLR', 'adversarially trained models', {}),
  entry(hfc, 'feature camouflage: stay inside the clean feature Gaussians of every layer', 'detectors', {
    lambda,
    kappa: { type: 'number', minimum: 0 },
    quantile: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
    lambdaRounds: int(1, 'rounds of λ search'),
    components: int(1, 'Gaussian components per layer'),
    checkEvery: int(1, 'steps between checks on the pipeline'),
  }),
]);

/** name → adaptive attack (the registry's entries created without options). */
export const ADAPTIVE_ATTACKS: Record<string, AdaptiveAttack> = Object.fromEntries(
  adaptiveRegistry.entries().map((e) => [e.name, e.create()]),
);

/**
 * Several adaptive attacks as one (as AutoAttack chains its parts): the first attacks every image, each
 * next one only the images the earlier ones left unsolved (not fooled, or flagged); the result keeps,
 * per image, the first success.
 */
export function chainAdaptive(name: string, parts: AdaptiveAttack[]): AdaptiveAttack {
  return {
    name,
    reference: parts.map((a) => a.reference).join(' ; then '),
    applies: (p) => parts.every((a) => a.applies(p)),
    async run(p, x, y, opts) {
      const d = p.model.inputShape.reduce((a, b) => a * b, 1);
      let best = await parts[0].run(p, x, y, opts);
      const queries = { ...best.queries };
      const notes = [...best.notes];
      for (const a of parts.slice(1)) {
        const left = Array.from(best.success.keys()).filter((i) => !best.success[i]);
        if (!left.length) break;
        // the caller's goal may already be met by what the earlier parts solved (`stopWhen`); a later part runs
        // to its end: it judges its successes on its own images only, and the chain keeps those
        if (opts.stopWhen && (await opts.stopWhen(best.success, best.xAdv))) break;
        const r = await a.run(
          p,
          takeRows(x, d, left),
          Int32Array.from(left, (i) => y[i]),
          { ...opts, stopWhen: undefined },
        );
        queries.forward += r.queries.forward;
        queries.gradient += r.queries.gradient;
        notes.push(...r.notes.filter((n) => !notes.includes(n)));
        const won = left.map((_, j) => j).filter((j) => r.success[j]);
        const xAdv = Float32Array.from(best.xAdv);
        putRows(
          xAdv,
          takeRows(r.xAdv, d, won),
          d,
          won.map((j) => left[j]),
        );
        const success = Uint8Array.from(best.success);
        const fooled = Uint8Array.from(best.fooled);
        const scores = best.detectorScores ? Float64Array.from(best.detectorScores) : undefined;
        for (const j of won) {
          success[left[j]] = 1;
          fooled[left[j]] = 1;
          if (scores && r.detectorScores) scores[left[j]] = r.detectorScores[j];
        }
        best = { ...best, xAdv, success, fooled, detectorScores: scores };
      }
      return { ...best, queries, notes };
    },
  };
}

/** Against deterministic transforms: identity BPDA, then BPDA through a learned approximation on what it left. */
export const bpdaThenLearned = chainAdaptive('bpda+learned', [bpda, bpdaLearned]);

/** Against detectors: the joint loss, then feature camouflage (HFC) on whatever the joint loss left. */
export const jointThenHfc = chainAdaptive('joint+hfc', [joint, hfc]);

export function getAdaptiveAttack(name: string): AdaptiveAttack {
  return adaptiveRegistry.get(name).create();
}

/** The default adaptive attack for a pipeline (first that applies, in the order EOT, BPDA, joint, APGD ensemble). */
export function adaptiveFor(p: Pipeline): AdaptiveAttack {
  for (const a of [eot, bpda, joint, apgdEnsemble]) if (a.applies(p)) return a;
  throw unsupported('no adaptive attack applies to this pipeline');
}

export { hfc };
