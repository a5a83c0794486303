/**
 * The `certify` verb: certified L2 accuracy of the randomized-smoothing classifier built on a model
 * (Cohen, Rosenfeld & Kolter, ICML 2019, CERTIFY): for each image n0 selection samples, n estimation
 * samples, the Clopper–Pearson lower bound p̲_A at level α and R = σ·Φ⁻¹(p̲_A); certified accuracy at
 * radius r = fraction of images certified correct with R ≥ r. `medshield certify` is a shell over it.
 *
 *   const r = await certify({ data: { dataset: 'pneumoniamnist', limit: 100 }, sigma: 0.25, n: 1000 });
 */
import { Rng, engineInfo } from '../engine/index.js';
import {
  ABSTAIN,
  certify as certifyOne,
  certifiedAccuracy,
  checkSigma,
  type Certificate,
} from '../defences/smoothing.js';
import { round } from '../models/metrics.js';
import { badArgument, unsupported } from '../errors.js';
import {
  DATA_REF_SCHEMA,
  MODEL_REF_SCHEMA,
  SEED_SCHEMA,
  loadModelRef,
  loadDataRef,
  progressOf,
  validateSpec,
  type DataRef,
  type ModelRef,
  type VerbOptions,
} from './common.js';

export interface CertifySpec {
  model?: ModelRef;
  data?: DataRef;
  /** Noise level σ of the smoothed classifier (default 0.25). */
  sigma?: number;
  /** Monte-Carlo samples for the estimate (default 1000) and for selecting the class (default 100). */
  n?: number;
  n0?: number;
  /** Failure probability α (default 0.001). */
  alpha?: number;
  /** Noise samples per forward batch (default 256). */
  batch?: number;
  /** L2 radii to report (default 0, 0.25, 0.5, 0.75, 1): numbers or "0,0.5,1". */
  radii?: number[] | string;
  seed?: number;
}

export const CERTIFY_SPEC_SCHEMA = {
  $id: 'medshield/certify-spec',
  type: 'object',
  additionalProperties: false,
  properties: {
    model: MODEL_REF_SCHEMA,
    data: DATA_REF_SCHEMA,
    seed: SEED_SCHEMA,
    sigma: { type: 'number' },
    n: { type: 'integer', minimum: 1 },
    n0: { type: 'integer', minimum: 1 },
    alpha: { type: 'number' },
    batch: { type: 'integer', minimum: 1, maximum: 65536 },
    radii: {
      anyOf: [{ type: 'array', items: { type: 'number' } }, { type: 'string' }],
      description: 'a list of L2 radii',
    },
  },
} as const;

export interface CertifyResult {
  sigma: number;
  n: number;
  n0: number;
  alpha: number;
  dataset: string;
  split: string;
  images: number;
  abstained: number;
  certifiedAccuracy: Array<{ radius: number; accuracy: number }>;
  reference: string;
  /** Per image: dataset index, label, smoothed prediction (-1 = abstain), certified radius, p̲_A. */
  certificates: Array<{ index: number; label: number; prediction: number; radius: number; pLower: number }>;
}

function parseRadii(r: CertifySpec['radii']): number[] {
  const list = Array.isArray(r)
    ? r.map((v) => String(v))
    : (r ?? '0,0.25,0.5,0.75,1')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
  const radii = list.map((s) => {
    const v = Number(s);
    if (!Number.isFinite(v) || v < 0) throw badArgument(`--radii must be non-negative numbers, got '${s}'`);
    return v;
  });
  if (!radii.length) throw badArgument('--radii needs at least one radius');
  return radii;
}

export async function certify(input: CertifySpec, opts: VerbOptions = {}): Promise<CertifyResult> {
  const spec = validateSpec<CertifySpec>(CERTIFY_SPEC_SCHEMA, input, 'certify spec');
  const sigma = spec.sigma ?? 0.25;
  const n = spec.n ?? 1000;
  const n0 = spec.n0 ?? 100;
  const alpha = spec.alpha ?? 0.001;
  const seed = spec.seed ?? 0;
  checkSigma(sigma);
  if (n < n0) throw badArgument(`--n (${n}) must be at least --n0 (${n0})`);
  if (!(alpha > 0 && alpha < 1)) throw badArgument(`--alpha must be between 0 and 1, got ${alpha}`);
  const radii = parseRadii(spec.radii);
  await engineInfo();
  const model = await loadModelRef(spec.model, { cache: opts.cache });
  if (model.task === 'multilabel') throw unsupported('certify supports single-label tasks only');
  const { data, splitName, images } = await loadDataRef(spec.data ?? {}, model.card, seed, {
    onNote: opts.onNote,
    cache: opts.cache,
  });
  const d = images.x.length / images.n;
  const bar = progressOf(opts, 'certify', images.n);
  const certs: Certificate[] = [];
  try {
    for (let i = 0; i < images.n; i++) {
      if (opts.signal?.aborted) throw badArgument('certify cancelled');
      // the noise seed follows the image's position in the whole sample, so a range gives the same certificates
      const pos = i + (spec.data?.range?.[0] ?? 0);
      certs.push(
        await certifyOne(model, images.x.subarray(i * d, (i + 1) * d), {
          sigma,
          n0,
          n,
          alpha,
          batch: spec.batch ?? 256,
          rng: new Rng((seed ^ 0xce47) + pos),
        }),
      );
      bar.update(i + 1);
    }
  } finally {
    bar.stop();
  }
  const acc = certifiedAccuracy(certs, images.labels, radii).map((r) => ({
    radius: r.radius,
    accuracy: round(r.accuracy),
  }));
  const abstained = certs.filter((c) => c.prediction === ABSTAIN).length;
  return {
    sigma,
    n,
    n0,
    alpha,
    dataset: data.name,
    split: splitName,
    images: images.n,
    abstained,
    certifiedAccuracy: acc,
    reference: 'Cohen, Rosenfeld & Kolter, ICML 2019 (CERTIFY)',
    certificates: certs.map((c, i) => ({
      index: images.indices?.[i] ?? i,
      label: images.labels[i],
      prediction: c.prediction,
      radius: c.radius,
      pLower: c.pLower,
    })),
  };
}

/** The CLI's JSON object of a certify result (without the per-image certificates). */
export function certifyJson(r: CertifyResult): Record<string, unknown> {
  const { certificates: _c, ...out } = r;
  return out;
}

/** The text summary of a certify result (`medshield certify`): the setting, then certified accuracy per radius. */
export function certifyText(r: CertifyResult): string {
  return (
    `randomized smoothing σ=${r.sigma}, n0=${r.n0}, n=${r.n}, α=${r.alpha} on ` +
    `${r.images} ${r.dataset} ${r.split} images (${r.abstained} abstained)\n` +
    r.certifiedAccuracy.map((c) => `  certified accuracy at L2 radius ${c.radius}: ${c.accuracy.toFixed(4)}\n`).join('')
  );
}
