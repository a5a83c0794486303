import type { WorkCount } from './scorecard-work.js';

/**
 * The defence scorecard's JSON (issue #10): one row per defence or detector, the non-adaptive
 * attacker beside the adaptive one, the sanity checks of Carlini et al. 2019 / Tramer et al. 2020,
 * and a verdict. Schema `medshield.scorecard/1`.
 */

export type Verdict = 'broken' | 'weakened' | 'holds';

export interface AttackOutcome {
  /** Attack name with its key settings, e.g. `pgd-20` or `bpda+pgd-100`. */
  attack: string;
  /**
   * Fraction of the evaluated images the deployed pipeline classifies correctly after the attack (originally-wrong
   * count as wrong).
   */
  robustAccuracy: number;
  /**
   * Detector rows: ROC AUC of the detector, successful adversarial images vs their clean originals; null for defences
   * without a detector.
   */
  detectionAuc: number | null;
  /** Detector rows: fraction of successful adversarial images flagged at the 5 %-FPR threshold; null otherwise. */
  tprAt5Fpr: number | null;
  /**
   * Fraction of originally-correct images that end misclassified AND below the detector threshold (no detector: just
   * misclassified).
   */
  fooledAndUndetected: number;
}

export interface SanityCheck {
  /** `large-eps`, `more-steps`, `whitebox-beats-transfer`, `gradients`. */
  name: string;
  passed: boolean;
  /** One sentence: what was measured and what was expected. */
  detail: string;
  values: Record<string, number>;
}

export interface ScorecardRow {
  /** Defence spec (`jpeg:q=75`, `adversarial-training`, …) or detector name (`kd_bu`, …). */
  defence: string;
  kind: 'transform' | 'smoothing' | 'training' | 'detector';
  reference: string;
  cleanAccuracy: number;
  nonAdaptive: Omit<AttackOutcome, 'fooledAndUndetected'> & { attack: string; fooledAndUndetected: number };
  adaptive: AttackOutcome;
  /**
   * `skipped` (quick runs): why the checks were not run — they could not change this row's verdict; `passed` is then
   * false and `checks` empty.
   */
  sanity: { passed: boolean; failures: string[]; checks: SanityCheck[]; skipped?: string };
  /** True when the defence looked robust non-adaptively but failed a sanity check. */
  gradientMasking: boolean;
  verdict: Verdict;
  /**
   * Up to 4 adaptive examples that fooled the model and passed the detector (PNG data URLs of clean | adversarial, with
   * labels).
   */
  examples: Array<{
    index: number;
    label: string;
    predicted: string;
    score?: number;
    clean: string;
    adversarial: string;
  }>;
  /**
   * Detector rows: the alarm threshold (score > threshold is flagged; 5 % false positives on clean validation images).
   */
  detectorThreshold?: number;
  notes: string[];
  seconds: number;
  /** Seconds per phase of this row (clean+nonAdaptive, fit for detectors, adaptive, transfer, each sanity check). */
  timing?: Record<string, number>;
  /**
   * `--quick`: the adaptive attack stopped once this many of the `correct` originally-correct images were fooled
   * and undetected — the row was broken whatever the rest of the attack did (`brokenDecided`); the adaptive figures
   * are then lower bounds.
   */
  stoppedEarly?: { fooledAndUndetected: number; correct: number };
  /** The plan's estimate for this row, in seconds (see `planScorecard`). */
  estimatedSeconds?: number;
  /**
   * Images through each model (by model name): `fit` = before the row's own phases (the detector's fit and
   * threshold; for a row with its own model, the non-adaptive attack on it), `phases` = per phase of `timing`
   * (scorecard-work.ts).
   */
  work?: { fit?: Record<string, WorkCount>; phases: Record<string, Record<string, WorkCount>> };
}

export interface Scorecard {
  schema: 'medshield.scorecard/1';
  model: { name: string; architecture: string; dir: string };
  dataset: string;
  split: string;
  n: number;
  eps: number;
  epsText: string;
  norm: 'linf';
  quick: boolean;
  seed: number;
  /** The verdict rule, in words (also shown in the report). */
  verdictRule: string;
  rows: ScorecardRow[];
  /**
   * Undefended model under the same non-adaptive attack, for reference (fooledAndUndetected: share of its correct
   * diagnoses flipped).
   */
  baseline: { cleanAccuracy: number; robustAccuracy: number; attack: string; fooledAndUndetected?: number };
  seconds: number;
  /** Seconds of the work shared by the rows (PGD on the undefended model, PGD on the detectors' fit images). */
  timing?: Record<string, number>;
  /** Images through each model in the shared stages (scorecard-work.ts). */
  work?: Record<string, Record<string, WorkCount>>;
  /** The plan printed before the run: per-row estimated seconds from a calibration on this backend. */
  plan?: ScorecardPlan;
  medshieldVersion: string;
  notes: string[];
}

export interface ScorecardPlan {
  /** Seconds per image of one forward+backward pass of the model, measured before the run. */
  gradientSecondsPerImage: number;
  backend: string;
  shared: Array<{ stage: string; images: number; estimatedSeconds: number }>;
  rows: Array<{ defence: string; images: number; sanityImages: number; estimatedSeconds: number }>;
  estimatedSeconds: number;
}
