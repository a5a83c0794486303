/**
 * Replication of Finlayson et al.'s black-box and patch results (Science 2019, Table 1 / Fig. 2):
 * - transfer PGD: adversarial images crafted by PGD-20 on a surrogate trained independently of
 *   the target (different seed), sent to the target — beside white-box PGD-20 at the same ε; both
 *   at the paper's step-to-ε ratio α = ε/2 (`finlaysonPgd`);
 * - adversarial patches at scale 0.4 (fraction of the image area): white-box (trained on the
 *   target), black-box (trained on the surrogate) and a natural-patch control (a patch cut from a
 *   real image of the same set).
 * The paper's patch accuracies (Derm / CXR / DR) are printed beside ours; MedMNIST's CXR analogue is
 * PneumoniaMNIST, its DR analogue RetinaMNIST, its Derm analogue DermaMNIST (downloaded by users).
 */
import type { Dataset } from '../data/dataset.js';
import type { Classifier } from '../models/model.js';
import { ATTACKS } from '../attacks/registry.js';
import { ModelTarget } from '../attacks/targets/target.js';
import type { SweepPoint } from '../eval/sweep.js';
import { judge, probabilities, type Images } from '../eval/robustness.js';
import { round } from '../models/metrics.js';
import { patchExperiment, type PatchResult } from '../attacks/physical/patch.js';
import { finlaysonPgd } from './replicate.js';

export const TRANSFER_EPS: SweepPoint[] = [2, 4, 8, 16].map((v) => ({ value: v / 255, text: `${v}/255` }));

/** Finlayson et al., Table 1: accuracy under patches of scale 0.4. */
export const FINLAYSON_PATCH = {
  derm: { whitebox: 0.0, blackbox: 0.0137, natural: 0.68 },
  cxr: { whitebox: 0.0001, blackbox: 0.0967, natural: 0.92 },
  dr: { whitebox: 0.0029, blackbox: 0.0397, natural: 0.79 },
} as const;

export type Domain = keyof typeof FINLAYSON_PATCH;

export function domainOf(dataset: string): Domain | null {
  if (/pneumonia|chest/i.test(dataset)) return 'cxr';
  if (/retina|fundus/i.test(dataset)) return 'dr';
  if (/derma/i.test(dataset)) return 'derm';
  return null;
}

export interface TransferPoint {
  eps: string;
  robustAccuracy: number;
  attackSuccessRate: number | null;
  whiteboxRobustAccuracy: number;
  whiteboxSuccessRate: number | null;
}

export interface BlackboxRow {
  dataset: string;
  domain: Domain | null;
  target: string;
  surrogate: string;
  n: number;
  cleanAccuracy: number;
  surrogateCleanAccuracy: number;
  transfer: TransferPoint[];
  patches: PatchResult[];
  paper: (typeof FINLAYSON_PATCH)[Domain] | null;
}

/** Transfer PGD over the ε sweep and the three patch kinds at `scales`, for one dataset. */
export async function finlaysonBlackbox(
  target: Classifier,
  surrogate: Classifier,
  data: Dataset,
  img: Images,
  o: { seed: number; patchLimit?: number; patchSteps?: number; scales?: number[]; onProgress?: (s: string) => void },
): Promise<BlackboxRow> {
  o.onProgress?.(
    `finlayson --blackbox: transfer PGD-20 from ${surrogate.card.name} to ${target.card.name} on ${data.name}`,
  );
  const victim = new ModelTarget(target);
  const transfer = await finlaysonPgd(
    victim,
    img,
    TRANSFER_EPS,
    { seed: o.seed, surrogates: [surrogate], baseAttack: 'pgd' },
    ATTACKS.transfer,
  );
  o.onProgress?.(`finlayson --blackbox: white-box PGD-20 on ${target.card.name} (reference)`);
  const white = await finlaysonPgd(target, img, TRANSFER_EPS, { seed: o.seed });
  const surCorrect = judge(surrogate, await probabilities(surrogate, img.x, img.n), img.labels, img.n).correct;
  o.onProgress?.(`finlayson --blackbox: patches (white-box, black-box, natural) on ${data.name}`);
  const patches = await patchExperiment(target, surrogate, data, {
    modes: ['whitebox', 'blackbox', 'natural'],
    scales: o.scales ?? [0.4],
    testImages: img,
    fitLimit: o.patchLimit,
    steps: o.patchSteps,
    seed: o.seed,
  });
  const domain = domainOf(data.name);
  return {
    dataset: data.name,
    domain,
    target: target.card.name,
    surrogate: surrogate.card.name,
    n: img.n,
    cleanAccuracy: transfer[0].summary.cleanAccuracy,
    surrogateCleanAccuracy: round(surCorrect.reduce((a, b) => a + b, 0) / img.n),
    transfer: transfer.map((t, i) => ({
      eps: t.summary.epsText,
      robustAccuracy: t.summary.robustAccuracy,
      attackSuccessRate: t.summary.attackSuccessRate,
      whiteboxRobustAccuracy: white[i].summary.robustAccuracy,
      whiteboxSuccessRate: white[i].summary.attackSuccessRate,
    })),
    patches,
    paper: domain ? FINLAYSON_PATCH[domain] : null,
  };
}
