/**
 * Every attack, one line each, in the one registry shape of `src/registry.ts`:
 * `name → { create(options), describe, schema }`. `create()` gives the attack itself; `create(options)`
 * the attack with those options as defaults (a call's own options win). The schema lists the options
 * each algorithm reads (`AttackOptions` in types.ts), so `steps` is refused for Square and `maxQueries`
 * for PGD. Model objects (`surrogates`) and callbacks (`onStep`) are passed at run time, not in a spec.
 */
import type { Attack, AttackOptions, Norm } from './types.js';
import { Registry, type JsonSchema, type RegistryEntry } from '../registry.js';
import { fgsm } from './algorithms/fgsm.js';
import { bim } from './algorithms/bim.js';
import { pgd } from './algorithms/pgd.js';
import { mifgsm } from './algorithms/mifgsm.js';
import { difgsm } from './algorithms/difgsm.js';
import { cw } from './algorithms/cw.js';
import { deepfool } from './algorithms/deepfool.js';
import { apgdCe } from './algorithms/apgd.js';
import { apgdDlr } from './algorithms/apgd-dlr.js';
import { apgdT } from './algorithms/apgd-t.js';
import { fabT } from './algorithms/fab.js';
import { ead } from './algorithms/ead.js';
import { jsma } from './algorithms/jsma.js';
import { autoattack } from './algorithms/autoattack.js';
import { square } from './algorithms/square.js';
import { simba, simbaDct } from './algorithms/simba.js';
import { nes } from './algorithms/nes.js';
import { hsj } from './algorithms/hsj.js';
import { boundary } from './algorithms/boundary.js';
import { transfer } from './algorithms/transfer.js';

/** The JSON-serialisable options of an attack (what a spec file may set). */
export type AttackParams = Omit<AttackOptions, 'eps' | 'surrogates' | 'onStep'> & { eps?: number };

const pos = (description: string): JsonSchema => ({ type: 'number', exclusiveMinimum: 0, description });
const int = (min: number, description: string): JsonSchema => ({ type: 'integer', minimum: min, description });
const num = (description: string): JsonSchema => ({ type: 'number', description });

/** Every option any attack reads, as JSON Schema. */
const OPTION: Record<string, JsonSchema> = {
  steps: int(1, 'iterations (gradient steps)'),
  stepSize: pos('step size α'),
  restarts: int(1, 'random restarts'),
  randomStart: { type: 'boolean', description: 'start from a random point of the ε ball' },
  loss: { enum: ['ce', 'cw', 'dlr'], description: 'loss maximised: cross-entropy, CW margin or DLR' },
  earlyStop: { type: 'boolean', description: 'stop a sample once it is adversarial' },
  decay: { type: 'number', minimum: 0, description: 'momentum decay µ' },
  resizeRate: {
    type: 'number',
    exclusiveMinimum: 0,
    maximum: 1,
    description: 'DI-FGSM: smallest random resize, as a fraction of the side',
  },
  diversityProb: { type: 'number', minimum: 0, maximum: 1, description: 'DI-FGSM: chance of transforming the input' },
  confidence: { type: 'number', minimum: 0, description: 'CW/EAD confidence κ' },
  learningRate: pos('Adam/ISTA learning rate'),
  initialConst: pos('initial constant c'),
  binarySteps: int(1, 'binary-search steps over c'),
  beta: { type: 'number', minimum: 0, description: 'EAD L1 weight β' },
  overshoot: { type: 'number', minimum: 0, description: 'DeepFool/FAB overshoot' },
  theta: num('JSMA change per feature θ'),
  gamma: {
    type: 'number',
    exclusiveMinimum: 0,
    maximum: 1,
    description: 'JSMA largest fraction of features changed γ',
  },
  targetClasses: int(1, 'target classes tried (most likely wrong classes first)'),
  maxQueries: int(1, 'query budget per image'),
  pInit: {
    type: 'number',
    exclusiveMinimum: 0,
    maximum: 1,
    description: 'Square: initial fraction of pixels changed per window',
  },
  baseAttack: { type: 'string', description: 'white-box attack run on the surrogates' },
};

const CRITERION: JsonSchema = {
  oneOf: [
    { type: 'object', properties: { kind: { const: 'untargeted' } }, required: ['kind'], additionalProperties: false },
    {
      type: 'object',
      required: ['kind', 'target'],
      additionalProperties: false,
      properties: {
        kind: { const: 'targeted' },
        target: { oneOf: [{ type: 'integer', minimum: 0 }, { const: 'other' }] },
      },
    },
  ],
  description: 'untargeted, or targeted at a class index (or "other" on a binary task)',
};

/** The schema of one attack: ε, norm, criterion, label and seed, plus the options it reads. */
function schemaOf(a: Attack, keys: string[]): JsonSchema {
  const properties: Record<string, JsonSchema> = {
    eps: pos('radius of the ε ball, in units of the norm'),
    norm: { enum: [...a.norms], description: `norm of the ε ball (default ${a.defaultNorm})` },
    ...(a.targeted ? { criterion: CRITERION } : {}),
    label: {
      oneOf: [{ type: 'integer', minimum: 0 }, { const: 'all' }],
      description: 'multi-label heads: which label',
    },
    seed: { type: 'integer', description: 'seed of every random choice' },
  };
  for (const k of keys) properties[k] = OPTION[k];
  return { type: 'object', properties, additionalProperties: false };
}

const SUMMARY: Record<string, string> = {
  fgsm: 'one signed-gradient step of size ε',
  bim: 'iterated FGSM steps, clipped to the ε ball (no random start)',
  pgd: 'projected gradient descent from a random start, with restarts',
  mifgsm: 'iterated FGSM with gradient momentum',
  difgsm: 'iterated FGSM on randomly resized and padded inputs (input diversity), optional momentum',
  cw: 'Carlini-Wagner: minimum-norm optimisation of the margin loss, binary search over c',
  deepfool: 'minimum-norm steps to the linearised decision boundary',
  'apgd-ce': 'auto-PGD with step-size schedule, cross-entropy loss',
  'apgd-dlr': 'auto-PGD with the difference-of-logits-ratio loss',
  'apgd-t': 'targeted auto-PGD over the most likely wrong classes (DLR)',
  'fab-t': 'targeted fast adaptive boundary: minimum-norm',
  ead: 'elastic-net (L1) minimum-norm attack',
  jsma: 'Jacobian saliency map: changes few pixels (L0)',
  autoattack: 'AutoAttack standard: APGD-CE, APGD-T, FAB-T, Square in turn',
  square: 'score-based random search with square updates',
  simba: 'score-based simple black-box attack in pixel space',
  'simba-dct': 'score-based simple black-box attack in the low-frequency DCT basis',
  nes: 'score-based gradient estimation with natural evolution strategies',
  hsj: 'decision-based HopSkipJump: boundary search with gradient-direction estimates',
  boundary: 'decision-based boundary attack: random walk along the decision boundary',
  transfer: 'crafted white-box on surrogate models, sent once to the target',
};

const WB = ['steps', 'stepSize', 'restarts', 'randomStart', 'loss', 'earlyStop'];
const CWO = ['steps', 'confidence', 'learningRate', 'initialConst', 'binarySteps'];

/** Each attack and the options it reads. */
const LIST: Array<[Attack, string[]]> = [
  [fgsm, ['loss']],
  [bim, ['steps', 'stepSize', 'loss', 'earlyStop']],
  [pgd, ['steps', 'stepSize', 'restarts', 'randomStart', 'loss', 'earlyStop']],
  [mifgsm, ['steps', 'stepSize', 'decay', 'loss', 'earlyStop']],
  [difgsm, ['steps', 'stepSize', 'decay', 'resizeRate', 'diversityProb', 'loss', 'earlyStop']],
  [cw, CWO],
  [deepfool, ['steps', 'overshoot']],
  [apgdCe, ['steps', 'restarts', 'loss']],
  [apgdDlr, ['steps', 'restarts']],
  [apgdT, ['steps', 'restarts', 'targetClasses']],
  [fabT, ['steps', 'restarts', 'overshoot', 'targetClasses']],
  [ead, [...CWO, 'beta']],
  [jsma, ['theta', 'gamma']],
  [autoattack, ['steps', 'maxQueries']],
  [square, ['maxQueries', 'pInit']],
  [simba, ['maxQueries', 'stepSize']],
  [simbaDct, ['maxQueries', 'stepSize']],
  [nes, ['maxQueries', 'stepSize', 'decay']],
  [hsj, ['maxQueries', 'earlyStop']],
  [boundary, ['maxQueries', 'earlyStop']],
  // the base attack's options pass through
  [
    transfer,
    ['baseAttack', ...WB, 'decay', 'resizeRate', 'diversityProb', ...CWO.filter((k) => k !== 'steps'), 'overshoot'],
  ],
];

/** Other spellings people type for an attack. */
const ALIASES: Record<string, string[]> = {
  mifgsm: ['mi-fgsm'],
  difgsm: ['di-fgsm', 'di2-fgsm'],
  hsj: ['hopskipjump'],
  'apgd-ce': ['apgd'],
  'fab-t': ['fab'],
};

/** The attack with `params` as default options (a run's own options win). */
function withDefaults(a: Attack, params?: AttackParams): Attack {
  if (!params || !Object.keys(params).length) return a;
  const run = a.run.bind(a) as (
    m: never,
    x: Float32Array,
    y: Int32Array,
    o: AttackOptions,
  ) => ReturnType<Attack['run']>;
  return {
    ...a,
    run: (m: never, x: Float32Array, y: Int32Array, o: AttackOptions) => run(m, x, y, { ...params, ...o }),
  } as Attack;
}

export type AttackEntry = RegistryEntry<Attack, AttackParams>;

export const attackRegistry = new Registry<Attack, AttackParams>(
  'attack',
  LIST.map(
    ([a, keys]): AttackEntry => ({
      name: a.name,
      aliases: ALIASES[a.name],
      describe: {
        summary: SUMMARY[a.name],
        reference: a.reference,
        kind: a.threatModel,
        norms: a.norms as Norm[],
        defaultNorm: a.defaultNorm,
        minimumNorm: a.minimumNorm,
        targeted: a.targeted,
        defaultSteps: a.defaultSteps,
      },
      schema: schemaOf(a, keys),
      create: (p) => withDefaults(a, p),
    }),
  ),
);

/** name → attack (the registry's entries created without options). */
export const ATTACKS: Record<string, Attack> = Object.fromEntries(
  attackRegistry.entries().map((e) => [e.name, e.create()]),
);

export const ATTACK_NAMES = attackRegistry.names();

/** The attack called `name` (any case; old spellings accepted), or a one-line exit-2 error naming the closest. */
export function getAttack(name: string): Attack {
  return attackRegistry.get(name).create();
}
