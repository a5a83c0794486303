/**
 * The adaptive attacks, one line each, and the chains the scorecard sends against a pipeline:
 * EOT for randomized defences; identity BPDA then learned BPDA for deterministic transforms; the joint
 * loss then HFC feature camouflage for detectors; the APGD ensemble for adversarially trained models.
 */
import { unsupported } from '../../errors.js';
import type { AdaptiveAttack, Pipeline } from './types.js';
import { bpda } from './bpda.js';
import { eot } from './eot.js';
import { joint } from './joint.js';
import { apgdEnsemble } from './apgd-ensemble.js';
import { hfc } from './hfc.js';
import { bpdaLearned } from './learned.js';
import { takeRows, putRows } from '../project.js';

export const ADAPTIVE_ATTACKS: Record<string, AdaptiveAttack> = {
  bpda,
  'bpda-learned': bpdaLearned,
  eot,
  joint,
  'apgd-ensemble': apgdEnsemble,
  hfc,
};

/**
 * Several adaptive attacks as one (as AutoAttack chains its parts): the first attacks every image, each
 * next one only the images the earlier ones left unsolved (not fooled, or flagged); the result keeps,
 * per image, the first success.
 */
export function chainAdaptive(name: string, parts: AdaptiveAttack[]): AdaptiveAttack {
  return {
    name, reference: parts.map((a) => a.reference).join(' ; then '),
    applies: (p) => parts.every((a) => a.applies(p)),
    async run(p, x, y, opts) {
      const d = p.model.inputShape.reduce((a, b) => a * b, 1);
      let best = await parts[0].run(p, x, y, opts);
      const queries = { ...best.queries }; const notes = [...best.notes];
      for (const a of parts.slice(1)) {
        const left = Array.from(best.success.keys()).filter((i) => !best.success[i]);
        if (!left.length) break;
        const r = await a.run(p, takeRows(x, d, left), Int32Array.from(left, (i) => y[i]), opts);
        queries.forward += r.queries.forward; queries.gradient += r.queries.gradient;
        notes.push(...r.notes.filter((n) => !notes.includes(n)));
        const won = left.map((_, j) => j).filter((j) => r.success[j]);
        const xAdv = Float32Array.from(best.xAdv); putRows(xAdv, takeRows(r.xAdv, d, won), d, won.map((j) => left[j]));
        const success = Uint8Array.from(best.success); const fooled = Uint8Array.from(best.fooled);
        const scores = best.detectorScores ? Float64Array.from(best.detectorScores) : undefined;
        for (const j of won) { success[left[j]] = 1; fooled[left[j]] = 1; if (scores && r.detectorScores) scores[left[j]] = r.detectorScores[j]; }
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

export const ADAPTIVE_NAMES = (): string[] => Object.keys(ADAPTIVE_ATTACKS);

export function getAdaptiveAttack(name: string): AdaptiveAttack {
  const a = ADAPTIVE_ATTACKS[name.toLowerCase()];
  if (!a) throw unsupported(`unknown adaptive attack '${name}' (choose ${ADAPTIVE_NAMES().join(', ')})`);
  return a;
}

/** The default adaptive attack for a pipeline (first that applies, in the order EOT, BPDA, joint, APGD ensemble). */
export function adaptiveFor(p: Pipeline): AdaptiveAttack {
  for (const a of [eot, bpda, joint, apgdEnsemble]) if (a.applies(p)) return a;
  throw unsupported('no adaptive attack applies to this pipeline');
}

export { hfc };
export type { AdaptiveAttack, AdaptiveOptions, AdaptiveResult, Pipeline, DeployedDetector } from './types.js';
export { DefenceView, straightThrough } from './view.js';
export { judgePipeline } from './pipeline.js';
