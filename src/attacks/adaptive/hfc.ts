/**
 * HFC — Hierarchical Feature Constraint. Q. Yao, Z. He, Y. Lin, K. Ma, Y. Zheng & S. K. Zhou,
 * "A Hierarchical Feature Constraint to Camouflage Medical Adversarial Attacks", MICCAI 2021
 * (arXiv 2012.09501).
 *
 * Medical adversarial examples are easy to detect because the attack drives deep features far out of
 * the normal distribution. HFC adds a feature term to a white-box attack that keeps every layer's
 * features inside the distribution of clean images of the class the attack moves the image to:
 * per layer l (every entry of `model.featureNames`; conv maps averaged over space, as the paper), a
 * Gaussian mixture with K components is fitted on the clean features φ_l of target-class images t;
 *   D_l(x') = min_k [ ½ (φ_l(x') − μ_{l,k})ᵀ Σ_{l,k}⁻¹ (φ_l(x') − μ_{l,k}) − ½ log|Σ_{l,k}⁻¹| − log π_k ] / p_l
 * (the negative log-likelihood under the likeliest component, per feature dimension), and
 *   maximise J(x') = m(x') − λ Σ_l max(0, D_l(x') − τ_l)     over x' ∈ B_ε(x) ∩ [0,1]^d
 * with m the Carlini–Wagner margin of `marginTerm` (clipped at κ, so a misclassified image stops
 * pulling and the feature term takes over; targeted criteria use the margin of the target class), by
 * projected gradient ascent (`objectiveAscent`). The authors' released code adds the plain sum
 * λ·Σ_l (squared Mahalanobis distance to the likeliest component)/p_l, with no threshold; the hinge at τ_l (the
 * `quantile` of the clean target-class values of D_l, default the median) is this implementation's addition: features
 * already as typical as a clean image are left alone.
 * Target class: the other class on binary tasks, the `criterion` target when targeted, and otherwise
 * the most likely wrong class of the bare model at the clean image. K = 1 by default (the authors'
 * released code defaults to one component too); `components` sets K (EM, full covariances, shrunk by
 * 1 % of their mean variance like the Mahalanobis detector).
 * Iterates are judged with the real pipeline: fooled = deployed argmax ≠ y (or = target), and, with a
 * detector, its real score below the deployed threshold; an image stops at its first such iterate.
 * Defaults: λ = 1, 50 steps, α = 2.5ε/steps. The paper fixes λ; here images no run solved are
 * re-attacked (`lambdaRounds`, default 3 runs in all) with λ×4 when their last iterate fooled the
 * model but was flagged, λ/4 when it did not fool it (`lambdaRounds: 1` = the paper's fixed λ).
 *
 * Usage: `await hfc.run(pipeline, x, y, { eps: 8/255, steps: 50, lambda: 1, reference: { x: trainX, y: trainY } })`
 */
import { tf } from '../../engine/index.js';
import type { DifferentiableModel } from '../../models/model.js';
import { fitClassGmm, pooled, type ClassGmm } from './gmm.js';
import { judgePipeline, judgeSuccess } from './pipeline.js';
import { badArgument, badInput, unsupported } from '../../errors.js';
import { marginTerm, objectiveAscent } from './objective.js';
import { putRows, takeRows } from '../project.js';
import type { AdaptiveAttack, AdaptiveOptions, AdaptiveResult, Pipeline } from './types.js';

export interface HfcOptions extends AdaptiveOptions {
  /**
   * Clean reference images (n × d) and labels the Gaussians are fitted on (the detectors' training-split clean images).
   */
  reference?: { x: Float32Array; y: Int32Array };
  /** Mixture components K per layer and class (default 1). */
  components?: number;
  /** τ_l = this quantile of the clean target-class D_l (default 0.5). */
  quantile?: number;
  /** Margin cap κ of the classifier term (default 1). */
  kappa?: number;
  /** Rounds of the per-image λ search (default 3; 1 = the paper's fixed λ). */
  lambdaRounds?: number;
  /** Judge iterates with the real pipeline every this many steps (default 1). */
  checkEvery?: number;
}

/**
 * Differentiable D_l per layer for a batch whose rows have target classes `targets` (each must be in
 * `gmms`): returns L tensors [n] (built inside the caller's tidy/grad).
 * With `mahalanobis`, the Mahalanobis distance to the likeliest component instead of D_l.
 */
function layerTerms(
  model: DifferentiableModel,
  x: tf.Tensor4D,
  targets: number[],
  gmms: Map<number, ClassGmm>,
  mahalanobis = false,
): tf.Tensor1D[] {
  const classes = [...new Set(targets)];
  const L = model.featureNames.length;
  const out: tf.Tensor1D[] = [];
  for (let l = 0; l < L; l++) {
    const f = pooled(model.features(x, model.featureNames[l]));
    let acc: tf.Tensor1D | null = null;
    for (const cls of classes) {
      const g = gmms.get(cls)!.layers[l];
      const p = g.dim;
      const per = g.components.map((cp) => {
        const z = tf.matMul(
          tf.sub(f, tf.tensor1d(Float32Array.from(cp.mean))),
          tf.tensor2d(Float32Array.from(cp.whiten), [p, p]),
        );
        const m = tf.sum(tf.square(z), 1);
        return tf.add(tf.mul(m, 0.5), -cp.halfLogDetPrec - cp.logWeight) as tf.Tensor1D;
      });
      const nll = per.length === 1 ? per[0] : (tf.min(tf.stack(per, 1), 1) as tf.Tensor1D);
      let v: tf.Tensor1D;
      if (mahalanobis) {
        // the likeliest component's squared distance: 2·(nll − its constant)
        const choice = per.length === 1 ? null : (tf.argMin(tf.stack(per, 1), 1).dataSync() as Int32Array);
        const consts = g.components.map((cp) => -cp.halfLogDetPrec - cp.logWeight);
        const off = tf.tensor1d(targets.map((_, i) => consts[choice ? choice[i] : 0]));
        v = tf.sqrt(tf.relu(tf.mul(tf.sub(nll, off), 2))) as tf.Tensor1D;
      } else v = tf.div(nll, p) as tf.Tensor1D;
      const mask = tf.tensor1d(targets.map((t) => (t === cls ? 1 : 0)));
      const part = tf.mul(v, mask) as tf.Tensor1D;
      acc = acc ? (tf.add(acc, part) as tf.Tensor1D) : part;
    }
    out.push(acc!);
  }
  return out;
}

/**
 * Mahalanobis distance of each image's layer features to the likeliest component of its target
 * class's mixture: one Float64Array [n] per feature layer (for reports and tests).
 */
export async function featureDistances(
  model: DifferentiableModel,
  gmms: Map<number, ClassGmm> | ClassGmm,
  x: Float32Array,
  targets: Int32Array | number[],
  batch = 50,
): Promise<Float64Array[]> {
  const map = gmms instanceof Map ? gmms : new Map([[gmms.cls, gmms]]);
  const [h, w, c] = model.inputShape;
  const d = h * w * c;
  const n = x.length / d;
  for (const t of targets) if (!map.has(t)) throw badArgument(`hfc: no Gaussians fitted for class ${t}`);
  const out = model.featureNames.map(() => new Float64Array(n));
  for (let s = 0; s < n; s += batch) {
    const m = Math.min(batch, n - s);
    const ts = tf.tidy(() =>
      layerTerms(
        model,
        tf.tensor4d(x.subarray(s * d, (s + m) * d), [m, h, w, c]),
        Array.from(targets).slice(s, s + m),
        map,
        true,
      ),
    );
    for (let l = 0; l < ts.length; l++) {
      out[l].set(await ts[l].data(), s);
      ts[l].dispose();
    }
  }
  return out;
}

/** Carlini–Wagner margin towards class t: z_t − max_{j≠t} z_j, capped at κ. */
function targetMargin(logits: tf.Tensor2D, t: number[], kappa: number): tf.Tensor1D {
  const k = logits.shape[1];
  const oh = tf.oneHot(tf.tensor1d(t, 'int32'), k).toFloat();
  const zt = tf.sum(tf.mul(logits, oh), 1);
  const other = tf.max(tf.sub(logits, tf.mul(oh, 1e9)), 1);
  return tf.minimum(tf.sub(zt, other), kappa) as tf.Tensor1D;
}

/** The HFC attack; `run` also takes `HfcOptions` (the clean reference images, K, the τ quantile). */
export const hfc: AdaptiveAttack & {
  run(p: Pipeline, x: Float32Array, y: Int32Array, opts: HfcOptions): Promise<AdaptiveResult>;
} = {
  name: 'hfc',
  reference:
    'Yao et al., MICCAI 2021 (HFC): max_x′ m(x′) − λ Σ_l max(0, D_l(x′) − τ_l), ' +
    'D_l = GMM negative log-likelihood of layer-l features under the target class',
  applies: (p: Pipeline) => p.detector !== undefined && p.model.task !== 'multilabel',
  async run(p: Pipeline, x: Float32Array, y: Int32Array, opts: HfcOptions): Promise<AdaptiveResult> {
    const model = p.model;
    const [h, w, c] = model.inputShape;
    const d = h * w * c;
    const k = model.classes.length;
    if (model.task === 'multilabel') throw unsupported('hfc attacks single-label classifiers, not multi-label heads');
    if (!(opts.eps > 0) || !Number.isFinite(opts.eps))
      throw badArgument(`ε must be a positive number, got ${opts.eps}`);
    const norm = opts.norm ?? 'linf';
    if (norm !== 'linf' && norm !== 'l2') throw unsupported(`hfc supports the linf and l2 norms, not ${norm}`);
    if (x.length % d !== 0)
      throw badArgument(`input has ${x.length} values, not a multiple of the model's ${d} per image`);
    const n = x.length / d;
    if (y.length !== n) throw badArgument(`got ${n} images but ${y.length} labels`);
    const ref = opts.reference;
    if (!ref)
      throw badArgument('hfc needs clean reference images to fit the feature Gaussians (options.reference: { x, y })');
    if (ref.x.length !== ref.y.length * d)
      throw badInput(`hfc: reference has ${ref.x.length} values for ${ref.y.length} labels (${d} per image expected)`);
    const lambda = opts.lambda ?? 1;
    const kappa = opts.kappa ?? 1;
    const steps = opts.steps ?? 50;
    if (!(lambda >= 0)) throw badArgument(`hfc: λ must be ≥ 0, got ${lambda}`);
    const q = opts.quantile ?? 0.5;
    if (!(q >= 0 && q <= 1)) throw badArgument(`hfc: quantile must be in [0,1], got ${q}`);
    const rounds0 = opts.lambdaRounds ?? 3;
    if (!(Number.isInteger(rounds0) && rounds0 >= 1))
      throw badArgument(`hfc: lambdaRounds must be a positive integer, got ${rounds0}`);
    const K = opts.components ?? 1;
    if (!(Number.isInteger(K) && K >= 1)) throw badArgument(`hfc: components must be a positive integer, got ${K}`);
    const crit = opts.criterion;
    const fixed = crit?.kind === 'targeted' && typeof crit.target === 'number' ? crit.target : null;
    if (fixed !== null && !(Number.isInteger(fixed) && fixed >= 0 && fixed < k))
      throw badArgument(`target class ${fixed} is not one of the model's ${k} classes`);

    // target class per image
    let targets: number[];
    if (fixed !== null) targets = Array.from(y, () => fixed);
    else if (k === 2) targets = Array.from(y, (v) => 1 - v);
    else {
      const pr = await model.predictProbs(x, n);
      targets = Array.from(y, (v, i) => {
        let b = -1;
        for (let j = 0; j < k; j++) if (j !== v && (b < 0 || pr[i * k + j] > pr[i * k + b])) b = j;
        return b;
      });
    }
    const gmms = new Map<number, ClassGmm>();
    for (const t of new Set(targets))
      gmms.set(t, await fitClassGmm(model, ref, t, { components: K, quantile: q, seed: opts.seed }));

    // per-image λ (the λ search below rescales it per image); `rows` maps a sub-batch to the original images
    const lam = new Float64Array(n).fill(lambda);
    const objectiveFor =
      (rows: number[]) =>
      (xt: tf.Tensor4D, idx: number[]): tf.Tensor1D => {
        const ids = idx.map((j) => rows[j]);
        const z = model.logits(xt);
        const cls =
          fixed !== null
            ? targetMargin(
                z,
                ids.map((i) => targets[i]),
                kappa,
              )
            : marginTerm(z, y, ids, kappa);
        if (lambda === 0) return cls;
        const terms = layerTerms(
          model,
          xt,
          ids.map((i) => targets[i]),
          gmms,
        );
        let pen: tf.Tensor = tf.zerosLike(cls);
        terms.forEach((t, l) => {
          const taus = tf.tensor1d(ids.map((i) => gmms.get(targets[i])!.layers[l].tau));
          pen = tf.add(pen, tf.relu(tf.sub(t, taus)));
        });
        return tf.sub(cls, tf.mul(pen, tf.tensor1d(ids.map((i) => lam[i])))) as tf.Tensor1D;
      };

    // λ search (an addition to the paper's fixed λ, like C&W's search over c): images no round solved
    // get λ×4 when their last iterate fooled the model but was flagged, λ/4 when it was not fooled.
    const rounds = lambda === 0 ? 1 : rounds0;
    const xAdv = Float32Array.from(x);
    let passes = 0;
    let todo = Array.from({ length: n }, (_, i) => i);
    for (let r = 0; r < rounds && todo.length; r++) {
      const rows = todo;
      const res = await objectiveAscent(
        [h, w, c],
        takeRows(x, d, rows),
        objectiveFor(rows),
        async (xs, idx) =>
          (
            await judgeSuccess(
              p,
              xs,
              idx.map((j) => y[rows[j]]),
              fixed ?? undefined,
            )
          ).ok,
        {
          eps: opts.eps,
          norm,
          steps,
          stepSize: opts.stepSize,
          restarts: opts.restarts,
          seed: (opts.seed ?? 0) + 7919 * r,
          checkEvery: opts.checkEvery,
          onStep: opts.onStep,
        },
      );
      passes += res.gradientPasses;
      const fails = rows.map((_, j) => j).filter((j) => !res.success[j]);
      const failedFooled = fails.length
        ? (
            await judgeSuccess(
              p,
              takeRows(res.xAdv, d, fails),
              fails.map((j) => y[rows[j]]),
              fixed ?? undefined,
            )
          ).fooled
        : new Uint8Array(0);
      putRows(xAdv, res.xAdv, d, rows);
      fails.forEach((j, f) => {
        lam[rows[j]] *= failedFooled[f] ? 4 : 0.25;
      });
      todo = fails.map((j) => rows[j]);
    }
    const j = await judgePipeline(p, xAdv, y, fixed ?? undefined);
    const fin = { fooled: j.fooled, scores: j.scores, ok: j.fooled.map((f, i) => f & j.undetected[i]) };
    const notes = [
      `HFC: K=${K} Gaussian component(s) per layer (${model.featureNames.join(', ')}) fitted on ` +
        `${[...gmms.values()].map((g) => `${g.n} clean ${model.classes[g.cls] ?? g.cls}`).join(', ')}` +
        ` reference image(s); τ_l = ${q} quantile of clean D_l; λ=${lambda} (per-image search over ` +
        `${rounds} round(s), ×4 or ÷4), κ=${kappa}, ${steps} steps × ${opts.restarts ?? 1} restart(s)`,
      fixed !== null
        ? `target class ${model.classes[fixed] ?? fixed}`
        : k === 2
          ? 'target class: the other class'
          : 'target class: the most likely wrong class at the clean image',
    ];
    if (p.defence)
      notes.push(
        `gradients through the bare model only (the ${p.defence.spec} defence ` +
          `is not differentiated); success is judged on the deployed pipeline`,
      );
    const out: AdaptiveResult = {
      xAdv,
      success: fin.ok,
      fooled: fin.fooled,
      queries: { forward: 0, gradient: passes },
      notes,
    };
    if (fin.scores) out.detectorScores = fin.scores;
    return out;
  },
};
