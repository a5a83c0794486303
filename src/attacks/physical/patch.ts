/**
 * Adversarial patch (physical attack).
 * T. B. Brown, D. Mané, A. Roy, M. Abadi, J. Gilmer, "Adversarial Patch", NIPS 2017 workshop
 * (arXiv:1712.09665); used on medical images by Finlayson et al., Science 2019 (patch covering a
 * fraction `scale` of the image area; white-box, black-box and natural-patch control).
 *
 * A square patch p of side s = round(√(scale · H · W)) pixels is pasted by a random transformation
 * t = (location, rotation, size) (`patch-transform.ts`): A(p, x, t) = x ⊙ (1 − m_t) + M_t p.
 * Training maximises, by expectation over transformation (EOT),
 *   p̂ = argmax_p  E_{x∼X, t∼T} [ ℓ(f(A(p, x, t))) ]
 * with ℓ = CE of the true class (untargeted) or log-probability of the target (targeted), by Adam
 * (or signed steps) on p and clipping p to [0,1] after every step. The gradient is exact: tf.grad
 * gives ∂ℓ/∂A at the patched batch and, A being linear in p, ∂ℓ/∂p = Mᵀ ∂ℓ/∂A.
 *
 * Defaults: 250 steps of 32 images, Adam lr 0.05 (signed steps: 0.01), rotation uniform in ±22.5°
 * (ART's rotation_max), side jitter ±10 % while training (none when evaluating), centre uniform
 * such that the rotated patch stays inside the image, patch initialised uniformly at random.
 *
 * Experiments (`patchExperiment`, Finlayson's patch columns) are class-conditional, as an attacker
 * who knows the image would use them: one patch per goal — per true class (untargeted), per target
 * (targeted; `other` on a binary task = one patch per class), one for all on multi-label heads —
 * made from a seeded sample of the *train* split and evaluated on held-out *test* images at seeded
 * random places (the same for every kind). whitebox = trained on the target; blackbox = trained on
 * an independently trained surrogate, applied to the target; natural = a crop of a random real
 * training image (any class, as Finlayson et al.) — the control.
 * Usage: `medshield patch --model default --mode whitebox,natural --scale 0.4 --limit 300 --json`.
 */
import { Rng } from '../../engine/index.js';
import { badArgument, unsupported } from '../../errors.js';
import type { DifferentiableModel } from '../../models/model.js';
import { takeRows } from '../project.js';
import type { Dataset, Split } from '../../data/dataset.js';
import { judge, probabilities } from '../../models/predict.js';
import { selectImages, type Images } from '../../data/images.js';
import type { Model } from '../../models/model.js';
import { atTarget, makeGoal, metByPrediction, type Goal } from '../goal.js';
import { Oracle } from '../targets/oracle.js';
import {
  applyPatch,
  patchGradient,
  patchSide,
  placementsFor,
  randomPlacement,
  sampling,
  sideOf,
  type Placement,
} from './patch-transform.js';

export { applyPatch, patchSide, placementsFor, randomPlacement, type Placement } from './patch-transform.js';
import type { Criterion, LabelChoice } from '../types.js';

export interface PatchOptions {
  /** Fraction of the image area the patch covers (Finlayson: 0.1, 0.2, 0.4). */
  scale: number;
  steps?: number;
  batchSize?: number;
  optimizer?: 'adam' | 'sign';
  learningRate?: number;
  /** Largest rotation in degrees (default 22.5). */
  rotationMax?: number;
  /** Relative side jitter while training (default 0.1 → side × U[0.9, 1.1]). */
  scaleJitter?: number;
  criterion?: Criterion;
  label?: LabelChoice;
  seed?: number;
  onStep?: (done: number, total: number) => void;
}

export interface TrainedPatch {
  patch: Float32Array;
  side: number;
  channels: number;
  scale: number;
  steps: number;
  finalLoss: number;
}

/** Train a patch on `images` (fit set, with their labels) against a differentiable model, by EOT gradient ascent. */
export async function trainPatch(
  model: DifferentiableModel,
  images: Images,
  opts: PatchOptions,
): Promise<TrainedPatch> {
  const [h, w, ch] = images.shape;
  const d = h * w * ch;
  const [mh, mw, mc] = model.inputShape;
  if (mh !== h || mw !== w || mc !== ch)
    throw badArgument(`images are ${h}×${w}×${ch} but the model expects ${mh}×${mw}×${mc}`);
  if (!images.n) throw badArgument('no images to train the patch on');
  const s = patchSide(opts.scale, h, w);
  const steps = opts.steps ?? 250;
  const bs = Math.min(opts.batchSize ?? 32, images.n);
  const optimizer = opts.optimizer ?? 'adam';
  const lr = opts.learningRate ?? (optimizer === 'adam' ? 0.05 : 0.01);
  if (!(Number.isInteger(steps) && steps >= 1)) throw badArgument(`--steps must be a positive integer, got ${steps}`);
  const goal = makeGoal(model.task, model.classes.length, images.labels, opts.criterion, opts.label ?? 'all');
  const oracle = new Oracle(model);
  const rng = new Rng(opts.seed ?? 0);
  const patch = rng.fillUniform(new Float32Array(s * s * ch));
  const m1 = new Float32Array(patch.length);
  const m2 = new Float32Array(patch.length);
  const order = Int32Array.from({ length: images.n }, (_, i) => i);
  let cursor = images.n;
  let finalLoss = NaN;
  for (let t = 1; t <= steps; t++) {
    const batch: number[] = [];
    while (batch.length < bs) {
      if (cursor >= images.n) {
        rng.shuffle(order);
        cursor = 0;
      }
      batch.push(order[cursor++]);
    }
    const xb = new Float32Array(bs * d);
    batch.forEach((src, j) => xb.set(images.x.subarray(src * d, (src + 1) * d), j * d));
    const pl = batch.map(() => randomPlacement(rng, h, w, s, opts.rotationMax ?? 22.5, opts.scaleJitter ?? 0.1));
    const sm = sampling(pl, h, w, s);
    const g: Goal = goal.subset(batch);
    const r = await oracle.lossGrad(applyPatch(xb, patch, pl, [h, w, ch]), g, (v) => g.loss(v, 'ce'));
    const gv = patchGradient(r.grad, sm, bs, h * w, ch, s);
    finalLoss = r.loss.reduce((a, b) => a + b, 0) / bs;
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** t;
    const c2 = 1 - b2 ** t;
    for (let j = 0; j < patch.length; j++) {
      const gj = gv[j] / bs;
      let step: number;
      if (optimizer === 'adam') {
        m1[j] = b1 * m1[j] + (1 - b1) * gj;
        m2[j] = b2 * m2[j] + (1 - b2) * gj * gj;
        step = (lr * (m1[j] / c1)) / (Math.sqrt(m2[j] / c2) + 1e-8);
      } else step = lr * Math.sign(gj);
      const v = patch[j] + step; // ascent: the loss is maximised
      patch[j] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
    opts.onStep?.(t, steps);
  }
  return { patch, side: s, channels: ch, scale: opts.scale, steps, finalLoss };
}

/**
 * The natural-patch control (Finlayson et al.): an s×s crop, at a random place, of a random real
 * image of the same set (or of the images `from`) — a patch of the same size that carries no
 * adversarial optimisation.
 */
export function naturalPatch(split: Split | Images, scale: number, rng: Rng, from?: number[]): Float32Array {
  const [h, w, ch] = 'shape' in split ? split.shape : [split.height, split.width, split.channels];
  const pixels = 'shape' in split ? split.x : split.images;
  const k = pixels instanceof Uint8Array ? 1 / 255 : 1;
  if (!split.n) throw badArgument('no images to cut a natural patch from');
  const s = patchSide(scale, h, w);
  const i = from?.length ? from[rng.int(from.length)] : rng.int(split.n);
  const y0 = rng.int(h - s + 1);
  const x0 = rng.int(w - s + 1);
  const out = new Float32Array(s * s * ch);
  for (let y = 0; y < s; y++)
    for (let x = 0; x < s; x++)
      for (let c = 0; c < ch; c++) {
        out[(y * s + x) * ch + c] = pixels[((i * h + y0 + y) * w + x0 + x) * ch + c] * k;
      }
  return out;
}

export interface PatchEvaluation {
  n: number;
  cleanAccuracy: number;
  patchedAccuracy: number;
  /** Among clean-correct images (targeted: whose class is not the target): the criterion holds with the patch. */
  attackSuccessRate: number | null;
  xPatched: Float32Array;
  cleanPred: Array<number | number[]>;
  patchedPred: Array<number | number[]>;
  placements: Placement[];
}

/**
 * Accuracy of `model` (differentiable or forward-only) on `images` without and with the patch (one
 * for all, or one per image), at seeded random placements (same seed → same places for every patch, so patch kinds
 * compare fairly).
 */
export async function evaluatePatch(
  model: Model,
  images: Images,
  patch: Float32Array | Float32Array[],
  o: {
    seed?: number;
    placements?: Placement[];
    rotationMax?: number;
    criterion?: Criterion;
    label?: LabelChoice;
    batchSize?: number;
  } = {},
): Promise<PatchEvaluation> {
  const [h, w, ch] = images.shape;
  const s = sideOf(Array.isArray(patch) ? patch[0] : patch, ch);
  const n = images.n;
  const placements = o.placements ?? placementsFor(n, h, w, s, o.seed ?? 0, o.rotationMax ?? 22.5);
  const xPatched = applyPatch(images.x, patch, placements, images.shape);
  const label = o.label ?? 'all';
  const clean = judge(model, await probabilities(model, images.x, n, o.batchSize), images.labels, n, label);
  const adv = judge(model, await probabilities(model, xPatched, n, o.batchSize), images.labels, n, label);
  const crit = o.criterion ?? { kind: 'untargeted' as const };
  const goal = makeGoal(model.task, model.classes.length, images.labels, crit, label);
  let attacked = 0;
  let hit = 0;
  let c0 = 0;
  let c1 = 0;
  for (let i = 0; i < n; i++) {
    c0 += clean.correct[i];
    c1 += adv.correct[i];
    if (!clean.correct[i]) continue;
    if (goal.target && goal.y) {
      if (atTarget(goal, i)) continue;
      attacked++;
      const p = adv.pred[i];
      const v = Array.isArray(p) ? (typeof label === 'number' ? p[label] : -1) : p;
      if (metByPrediction(v, goal.y[i], goal.target[i])) hit++;
    } else {
      attacked++;
      if (!adv.correct[i]) hit++;
    }
  }
  return {
    n,
    cleanAccuracy: n ? c0 / n : 0,
    patchedAccuracy: n ? c1 / n : 0,
    attackSuccessRate: attacked ? hit / attacked : null,
    xPatched,
    cleanPred: clean.pred,
    patchedPred: adv.pred,
    placements,
  };
}

export type PatchMode = 'whitebox' | 'blackbox' | 'natural';
export const PATCH_MODES: PatchMode[] = ['whitebox', 'blackbox', 'natural'];

/** One row of the CLI contract (`mode … attackSuccessRate`) plus the patch and its evaluation. */
export interface PatchResult {
  mode: PatchMode;
  scale: number;
  n: number;
  cleanAccuracy: number;
  patchedAccuracy: number;
  attackSuccessRate: number | null;
  /** The first patch; `patches`: every patch with the goal it serves (see `patchGroups`). */
  patch: Float32Array;
  patches: Array<{ group: number; patch: Float32Array }>;
  groupBy: 'class' | 'target' | 'none';
  patchSize: number;
  channels: number;
  evaluation: PatchEvaluation;
}

/**
 * The goal each image's patch serves: its target class (targeted), its true class (untargeted), or
 * one group for all (multi-label head, all labels). In the goal's view space.
 */
function patchGroups(
  model: Model,
  labels: Int32Array,
  criterion?: Criterion,
  label: LabelChoice = 'all',
): { groups: Int32Array; by: 'class' | 'target' | 'none'; goal: Goal } {
  const goal = makeGoal(model.task, model.classes.length, labels, criterion, label);
  if (goal.target) return { groups: goal.target, by: 'target', goal };
  if (goal.y) return { groups: goal.y, by: 'class', goal };
  return { groups: new Int32Array(goal.n), by: 'none', goal };
}

function subset(img: Images, idx: number[]): Images {
  return {
    x: takeRows(img.x, img.x.length / img.n, idx),
    labels: takeRows(img.labels, img.labels.length / img.n, idx),
    n: idx.length,
    shape: img.shape,
  };
}

export interface PatchExperimentOptions {
  modes: PatchMode[];
  scales: number[];
  /** Held-out test images evaluated (default: the whole test split), or the images themselves. */
  limit?: number;
  testImages?: Images;
  /** Train images the patch is made from (default 1000). */
  fitLimit?: number;
  steps?: number;
  batchSize?: number;
  seed?: number;
  criterion?: Criterion;
  label?: LabelChoice;
  onProgress?: (what: string, done: number, total: number) => void;
}

/** Check a request before any work: modes known, scales in (0,1], gradients and a matching surrogate where needed. */
export function checkPatchRequest(target: Model, surrogate: Model | null, modes: PatchMode[], scales: number[]): void {
  for (const m of modes)
    if (!PATCH_MODES.includes(m)) throw badArgument(`unknown patch mode '${m}' (choose ${PATCH_MODES.join(', ')})`);
  if (!modes.length || !scales.length) throw badArgument('a patch experiment needs at least one mode and one scale');
  for (const s of scales) patchSide(s, target.inputShape[0], target.inputShape[1]);
  if (modes.includes('whitebox') && !target.differentiable)
    throw unsupported(
      `a white-box patch needs gradients; '${target.card.name}' is a ` +
        `forward-only (ONNX) model (use --mode blackbox with --surrogate)`,
    );
  if (!modes.includes('blackbox')) return;
  if (!surrogate)
    throw badArgument('--mode blackbox needs --surrogate DIR (an independently trained model to craft the patch on)');
  if (!surrogate.differentiable)
    throw unsupported(`the surrogate '${surrogate.card.name}' must be differentiable (a medshield model, not ONNX)`);
  const [a, b] = [target.inputShape.join('×'), surrogate.inputShape.join('×')];
  if (a !== b || target.classes.length !== surrogate.classes.length)
    throw badArgument(
      `surrogate '${surrogate.card.name}' (${b}, ${surrogate.classes.length} ` +
        `classes) does not match the target (${a}, ${target.classes.length} classes)`,
    );
}

/** Every mode × scale (mode-major): make the patches on train images, evaluate them on the target's test images. */
export async function patchExperiment(
  target: Model,
  surrogate: Model | null,
  data: Dataset,
  o: PatchExperimentOptions,
): Promise<PatchResult[]> {
  checkPatchRequest(target, surrogate, o.modes, o.scales);
  const seed = o.seed ?? 0;
  const fit = selectImages(data.splits.train, o.fitLimit ?? 1000, seed);
  const test = o.testImages ?? selectImages(data.splits.test, o.limit, seed + 1);
  const fg = patchGroups(target, fit.labels, o.criterion, o.label);
  const tg = patchGroups(target, test.labels, o.criterion, o.label);
  const keys = [...new Set(tg.groups)].sort((a, b) => a - b);
  const out: PatchResult[] = [];
  const total = o.modes.length * o.scales.length;
  for (const mode of o.modes) {
    for (const scale of o.scales) {
      const what = `${mode} patch, scale ${scale}`;
      const done = out.length;
      const rng = new Rng(seed + 7919 * (PATCH_MODES.indexOf(mode) + 1));
      const byKey = new Map<number, Float32Array>();
      for (const [gi, key] of keys.entries()) {
        const all = Array.from({ length: fit.n }, (_, i) => i);
        if (mode === 'natural') {
          byKey.set(key, naturalPatch(fit, scale, rng));
          continue;
        }
        const mine = all.filter((i) => fg.groups[i] === key);
        const tp = await trainPatch(
          (mode === 'whitebox' ? target : surrogate) as DifferentiableModel,
          mine.length ? subset(fit, mine) : fit,
          {
            scale,
            steps: o.steps,
            batchSize: o.batchSize,
            seed: rng.fork(),
            criterion: o.criterion,
            label: o.label,
            onStep: (s, t) => o.onProgress?.(what, done + (gi + s / t) / keys.length, total),
          },
        );
        byKey.set(key, tp.patch);
      }
      const perImage = Array.from(tg.groups, (k) => byKey.get(k)!);
      const ev = await evaluatePatch(target, test, perImage, { seed, criterion: o.criterion, label: o.label });
      const { n, cleanAccuracy, patchedAccuracy, attackSuccessRate } = ev;
      const patches = keys.map((group) => ({ group, patch: byKey.get(group)! }));
      out.push({
        mode,
        scale,
        n,
        cleanAccuracy,
        patchedAccuracy,
        attackSuccessRate,
        patch: patches[0]?.patch ?? new Float32Array(0),
        patches,
        groupBy: tg.by,
        patchSize: patchSide(scale, test.shape[0], test.shape[1]),
        channels: test.shape[2],
        evaluation: ev,
      });
      o.onProgress?.(what, done + 1, total);
    }
  }
  return out;
}
