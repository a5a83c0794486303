/**
 * The exact adversarial set of an attack run as a NumPy `.npz` (what torchattacks' `save()` and
 * ART's arrays give): float32 images, not rounded PNGs, so the set can be re-checked elsewhere or
 * trained on. Keys (MedMNIST-style, images N×H×W×C in [0,1], channels last):
 *   clean_images       float32 (N,H,W,C)    the attacked images
 *   adv_images         float32 (N,H,W,C)    their adversarial versions (one ε), or (E,N,H,W,C) for an ε sweep
 *   labels             int64   (N,1)        true labels (N,K 0/1 for multi-label), as MedMNIST's `test_labels`
 *   indices            int64   (N,)         index of each image in its split
 *   clean_predictions  int64   (N,)         the model's predictions on clean_images ((N,K) multi-label)
 *   adv_predictions    int64   (N,)         …on adv_images ((E,N) / (E,N,K) for a sweep)
 *   success            bool    (N,)         the attack reached its goal on an originally correct image ((E,N))
 *   eps                float64 (E,)         the budget of each run (in the run's norm)
 *   steps              int64   (E,)         the iterations (or query budget) of each run
 * Images a run did not attack (already misclassified) are their clean image in adv_images.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { writeNpz, type NpyInput } from '../data/npz.js';
import type { Images } from '../data/images.js';
import type { AttackEvaluation } from './robustness.js';

/** The arrays of the `.npz` for one or several evaluations of the same images. */
export function adversarialSetArrays(images: Images, evals: AttackEvaluation[]): Record<string, NpyInput> {
  if (!evals.length) throw new Error('adversarialSetArrays: no evaluations');
  const [h, w, c] = images.shape;
  const n = images.n;
  const sweep = evals.length > 1;
  const e = evals.length;
  const lw = images.labels.length / n;
  const multi = Array.isArray(evals[0].records[0]?.cleanPrediction);
  const pred = (v: number | number[]): number[] => (Array.isArray(v) ? v : [v]);
  const pw = multi ? lw : 1;
  const cleanPred = new Int32Array(n * pw);
  evals[0].records.forEach((r, i) => cleanPred.set(pred(r.cleanPrediction), i * pw));
  const advPred = new Int32Array(e * n * pw);
  const success = new Uint8Array(e * n);
  const adv = new Float32Array(e * images.x.length);
  evals.forEach((ev, k) => {
    adv.set(ev.xAdv, k * images.x.length);
    ev.records.forEach((r, i) => {
      advPred.set(pred(r.adversarialPrediction), (k * n + i) * pw);
      success[k * n + i] = r.success ? 1 : 0;
    });
  });
  const lead = sweep ? [e] : [];
  const tail = multi ? [pw] : [];
  return {
    clean_images: { data: images.x, shape: [n, h, w, c] },
    adv_images: { data: adv, shape: [...lead, n, h, w, c] },
    labels: { data: images.labels, shape: [n, lw] },
    indices: { data: Int32Array.from(images.indices ?? Array.from({ length: n }, (_, i) => i)), shape: [n] },
    clean_predictions: { data: cleanPred, shape: [n, ...tail] },
    adv_predictions: { data: advPred, shape: [...lead, n, ...tail] },
    success: { data: success, shape: [...lead, n], dtype: 'b1' },
    eps: { data: Float64Array.from(evals.map((ev) => ev.summary.eps)), shape: [e] },
    steps: { data: Int32Array.from(evals.map((ev) => ev.summary.steps)), shape: [e] },
  };
}

/** Write the adversarial set of `evals` (same images) to `file` (.npz). */
export function saveAdversarialSet(file: string, images: Images, evals: AttackEvaluation[]): void {
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  writeFileSync(file, writeNpz(adversarialSetArrays(images, evals)));
}
