/**
 * The `defend` verb: clean and robust accuracy of input-transform defences (JPEG, bit depth, median,
 * blur, random resize-and-pad, …; Guo et al. ICLR 2018, Xu et al. NDSS 2018) under white-box attacks,
 * beside the undefended model (defence "none"). Non-adaptive protocol: adversarial images are crafted
 * on the undefended model, then classified by each defended model (src/eval/defences.ts); the
 * adaptive attacker (BPDA/EOT, Athalye et al. ICML 2018) is `scorecard`'s job.
 *
 *   const r = await defend({ defences: ['jpeg:q=75', 'median:k=3'], attacks: ['fgsm', 'pgd'], eps: ['2/255', '8/255'],
 *   data: { limit: 200 } });
 */
import { getAttack } from '../attacks/registry.js';
import { checkEpsilon } from '../attacks/epsilon.js';
import type { Norm } from '../attacks/types.js';
import { DEFENCE_NAMES, parseDefenceList } from '../defences/registry.js';
import { evaluateDefences, NON_ADAPTIVE_NOTE, type DefenceRow } from '../eval/defences.js';
import { engineInfo } from '../engine/index.js';
import { badArgument, unsupported } from '../errors.js';
import {
  DATA_REF_SCHEMA,
  EPS_SCHEMA,
  MODEL_REF_SCHEMA,
  SEED_SCHEMA,
  loadModelRef,
  openDataRef,
  parseEpsList,
  progressOf,
  selectRef,
  validateSpec,
  withImageSet,
  type DataRef,
  type EpsRef,
  type ModelRef,
  type VerbOptions,
} from './common.js';

export { DEFENCE_NAMES, NON_ADAPTIVE_NOTE, type DefenceRow };

export interface DefendSpec {
  model?: ModelRef;
  data?: DataRef;
  /**
   * Defences with parameters (jpeg:q=75, bitdepth:bits=4, median:k=3, …); ';' separates several in one string, '+'
   * chains.
   */
  defences: string[];
  /** White-box attacks crafted on the undefended model (default fgsm, pgd): a list or "fgsm,pgd". */
  attacks?: string[] | string;
  eps: EpsRef;
  steps?: number;
  /** Norm of the ε ball (default: L∞ where the attack supports it). */
  norm?: Norm;
  batchSize?: number;
  seed?: number;
}

export const DEFEND_SPEC_SCHEMA = {
  $id: 'medshield/defend-spec',
  type: 'object',
  additionalProperties: false,
  required: ['defences', 'eps'],
  properties: {
    model: MODEL_REF_SCHEMA,
    data: DATA_REF_SCHEMA,
    seed: SEED_SCHEMA,
    eps: EPS_SCHEMA,
    defences: { type: 'array', items: { type: 'string' } },
    attacks: { anyOf: [{ type: 'array', items: { type: 'string' } }, { type: 'string' }], description: 'attack names' },
    steps: { type: 'integer', minimum: 1, maximum: 1e6 },
    norm: { type: 'string', enum: ['linf', 'l2', 'l1', 'l0'] },
    batchSize: { type: 'integer', minimum: 1, maximum: 65536 },
  },
} as const;

export interface DefendResult {
  model: string;
  dataset: string;
  split: string;
  n: number;
  rows: DefenceRow[];
  /** The ε values as written, for display. */
  eps: Array<{ value: number; text: string }>;
  /** The CLI's JSON (the rows, with image-set facts for folders). */
  json: unknown;
}

export async function defend(input: DefendSpec, opts: VerbOptions = {}): Promise<DefendResult> {
  const spec = validateSpec<DefendSpec>(DEFEND_SPEC_SCHEMA, input, 'defend spec');
  if (!spec.defences.length)
    throw badArgument(`give at least one --defence (${DEFENCE_NAMES().join(', ')}, e.g. jpeg:q=75)`);
  const defences = spec.defences.flatMap(parseDefenceList);
  const names =
    typeof spec.attacks === 'string' || spec.attacks === undefined
      ? (spec.attacks ?? 'fgsm,pgd').split(',')
      : spec.attacks;
  const attacks = [...new Set(names.map((a) => a.trim()).filter(Boolean))].map(getAttack);
  if (!attacks.length) throw badArgument('--attacks needs at least one attack name');
  for (const a of attacks) {
    if (a.threatModel !== 'whitebox')
      throw unsupported(
        `defend crafts adversarial examples white-box on the ` +
          `undefended model; '${a.name}' is a ${a.threatModel} attack`,
      );
    if (spec.norm && !a.norms.includes(spec.norm))
      throw unsupported(`attack '${a.name}' does not support the ${spec.norm} norm (choose ${a.norms.join(', ')})`);
  }
  const epsList = parseEpsList(spec.eps);
  const seed = spec.seed ?? 0;
  await engineInfo();
  const modelRef = spec.model ?? 'default';
  const model = await loadModelRef(modelRef, { cache: opts.cache });
  if (!model.differentiable)
    throw unsupported(
      `defend crafts white-box attacks and needs gradients; '${modelRef}' is a forward-only (ONNX) model`,
    );
  const ref: DataRef = spec.data ?? {};
  const splitName = ref.split ?? 'test';
  const data = await openDataRef(ref, model.card, { split: splitName, onNote: opts.onNote, cache: opts.cache });
  const split = data.splits[splitName];
  const d = split.height * split.width * split.channels;
  for (const a of attacks)
    for (const e of epsList)
      checkEpsilon(e.value, spec.norm ?? (a.norms.includes('linf') ? 'linf' : a.defaultNorm), d, e.text);
  const images = selectRef(split, ref, seed);
  const bar = progressOf(opts, 'defend', attacks.length * epsList.length * images.n);
  opts.onNote?.(`note: ${NON_ADAPTIVE_NOTE}`);
  let rows: DefenceRow[];
  try {
    rows = await evaluateDefences(model, images, defences, attacks, epsList, {
      seed,
      steps: spec.steps,
      norm: spec.norm,
      batchSize: spec.batchSize ?? 128,
      onProgress: (ai, ei, done, t) => {
        if (opts.signal?.aborted) throw badArgument('defend cancelled');
        bar.update(Math.round((ai * epsList.length + ei + done / t) * images.n), {
          attack: attacks[ai].name,
          eps: epsList[Math.min(ei, epsList.length - 1)].text,
        });
      },
    });
  } finally {
    bar.stop();
  }
  return {
    model: model.card.name,
    dataset: data.name,
    split: splitName,
    n: images.n,
    rows,
    eps: epsList,
    json: withImageSet(rows, data),
  };
}

/** The table `medshield defend` prints without --json. */
export function defendText(r: DefendResult): string {
  let out = `${r.model} on ${r.dataset}/${r.split} (n=${r.n}), non-adaptive:\n`;
  const width = Math.max(7, ...r.rows.map((x) => x.defence.length));
  out += `  ${'defence'.padEnd(width)}  attack    norm  ε        clean   robust\n`;
  for (const x of r.rows) {
    const epsText = r.eps.find((e) => e.value === x.eps)?.text ?? String(x.eps);
    out +=
      `  ${x.defence.padEnd(width)}  ${x.attack.padEnd(8)}  ${x.norm.padEnd(4)}  ` +
      `${epsText.padEnd(7)}  ${x.cleanAccuracy.toFixed(4)}  ${x.robustAccuracy.toFixed(4)}\n`;
  }
  return out;
}
