/**
 * The small interface every attack plugs into.
 *
 * An attack takes a differentiable model, a batch of clean images `x` (NHWC, flattened, in [0,1]),
 * their labels `y` and typed options, and returns adversarial images that are — always — inside
 * [0,1] and inside the ε ball of `opts.norm` (the shared helper in `project.ts` guarantees it).
 *
 * Threat model vocabulary follows NIST AI 100-2 (evasion, white-box) and Foolbox 3 (criteria are
 * values, ε is a number in the units of the norm: pixel intensity in [0,1] for L∞, Euclidean
 * length for L2, summed absolute change for L1, fraction of pixels for L0).
 */
import type { DifferentiableModel } from '../models/model.js';
import type { QueryAttack } from './query.js';

export type Norm = 'linf' | 'l2' | 'l1' | 'l0';

/** Loss an attack maximises: cross-entropy, Carlini–Wagner margin, or Croce & Hein's DLR. */
export type LossName = 'ce' | 'cw' | 'dlr';

/**
 * What counts as success (Foolbox-style criterion objects, not flags).
 * - untargeted: the prediction leaves the true class (on a multi-label head: the chosen label flips,
 *   or any label flips with `label: 'all'`);
 * - targeted: the prediction becomes `target` — a class index, or `'other'` on a binary task
 *   (benign → malignant as in Finlayson et al.; on a multi-label head, the chosen label flips).
 */
export type Criterion = { kind: 'untargeted' } | { kind: 'targeted'; target: number | 'other' };

/** Which output of a multi-label head is attacked: one label index, or all of them. */
export type LabelChoice = number | 'all';

export interface AttackOptions {
  /** Radius of the threat model's ball in `norm` units. */
  eps: number;
  /** The norm of the ε ball (defaults to the attack's native norm). */
  norm?: Norm;
  criterion?: Criterion;
  /** Multi-label heads: which label to attack (default: all). */
  label?: LabelChoice;
  /** Iterations (gradient steps) of iterative attacks. */
  steps?: number;
  /** Step size α (default per attack, from its paper). */
  stepSize?: number;
  /** Random restarts (PGD, APGD, FAB). */
  restarts?: number;
  /** Start from a random point of the ε ball (PGD: default true). */
  randomStart?: boolean;
  loss?: LossName;
  /** Seed for every random choice of the attack. */
  seed?: number;
  /** Stop a sample as soon as it is adversarial (default true where the algorithm allows). */
  earlyStop?: boolean;
  /** MI-FGSM / DI-FGSM momentum decay µ. */
  decay?: number;
  /** DI-FGSM: smallest resize as a fraction of the side (ρ, default 0.9) and the chance p of transforming (0.5). */
  resizeRate?: number;
  diversityProb?: number;
  /** CW / EAD: confidence κ, Adam/ISTA learning rate, initial constant c and its binary-search steps. */
  confidence?: number;
  learningRate?: number;
  initialConst?: number;
  binarySteps?: number;
  /** EAD: L1 weight β. DeepFool / FAB: overshoot. JSMA: θ (change per feature) and γ (max fraction changed). */
  beta?: number;
  overshoot?: number;
  theta?: number;
  gamma?: number;
  /** APGD-T / FAB-T: number of target classes tried (the most likely wrong classes, default 9). */
  targetClasses?: number;
  /** Query attacks: the budget of images sent to the target per image (`--max-queries`). */
  maxQueries?: number;
  /** Square: initial fraction p of pixels changed per window (paper: 0.05 L∞, 0.1 L2). */
  pInit?: number;
  /** Transfer attacks: surrogate models the perturbation is crafted on, and the white-box attack used. */
  surrogates?: DifferentiableModel[];
  baseAttack?: string;
  /** Called after each step/iteration with (done, total). */
  onStep?: (done: number, total: number) => void;
}

export interface AttackResult {
  /** Adversarial images, same layout as the input, inside [0,1] and the ε ball. */
  xAdv: Float32Array;
  /** 1 where the criterion is met at `xAdv`. */
  success: Uint8Array;
  /** Model evaluations: forward passes and gradient (forward+backward) passes, counted per image. */
  queries: { forward: number; gradient: number };
  /** Remarks a reader must see (e.g. an ensemble component that is not available). */
  notes: string[];
  /** For ensembles (AutoAttack): success of each component in run order, cumulative. */
  components?: Array<{ name: string; success: Uint8Array }>;
  /** Query attacks: images sent to the target per image (exact; the budget is `maxQueries`). */
  queriesPerSample?: Int32Array;
  /** Raw model logits (n × K) at `xAdv`, when the attack's success check already computed them (FGSM). */
  logits?: Float32Array;
}

export interface WhiteBoxAttack {
  /** Registry name, as typed on the command line (`pgd`, `apgd-ce`, ...). */
  readonly name: string;
  /** Paper title and venue. */
  readonly reference: string;
  readonly threatModel: 'whitebox';
  /** The norm the algorithm works in natively; used when the caller gives none. */
  readonly defaultNorm: Norm;
  /** Norms the attack supports. */
  readonly norms: Norm[];
  /** Minimum-norm attacks find the smallest perturbation they can; ε only bounds the final answer. */
  readonly minimumNorm: boolean;
  /** Whether targeted criteria are supported. */
  readonly targeted: boolean;
  /** Default number of steps (shown in output when the user gives none). */
  readonly defaultSteps: number;
  run(model: DifferentiableModel, x: Float32Array, y: Int32Array, opts: AttackOptions): Promise<AttackResult>;
}

/** Every attack: white-box (needs gradients) or query-based (needs a target; `query.ts`). */
export type Attack = WhiteBoxAttack | QueryAttack;
