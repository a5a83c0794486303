/**
 * A differentiable stand-in for the deep-feature random forest, for adaptive attacks (Carlini & Wagner
 * 2017). A forest has no gradient, so the attacker differentiates a "soft forest" that mimics it — the
 * same trees with every hard split z_f < θ replaced by a sigmoid (soft decision trees; Irsoy, Yildiz &
 * Alpaydin, ICPR 2012):
 *   P(left at node j) = σ((θ_j − z_{f_j}) / τ_{f_j}),   τ_f = α · std(z_f)
 *   s(x) = (1/T) Σ_trees Σ_{leaves voting "adversarial"} Π_{nodes on the path} P(branch taken)
 * with z = (φ(x) − μ) U_{:,1..c} the detector's own PCA of its deep features φ (as tensors). As
 * α → 0 it is the forest's vote fraction exactly; a larger α gives smoother, more useful gradients.
 * α is calibrated on data when given: the largest of 0.5, 0.3, 0.2, 0.1, 0.05, 0.02 whose soft
 * scores rank the fit images (and copies between and around them) as the forest does (Spearman ≥ 0.97).
 *
 * Usage: `await det.prepareAdaptive(model, fitData); tf.grad((x) => det.scoreTensor!(model, x).sum())(x)`
 */
import { tf, Rng } from '../engine/index.js';
import type { DifferentiableModel } from '../models/model.js';
import type { DetectorFitData } from './types.js';
import { concat, layerFeatureRows, layerFeatureTensor } from './common.js';

export interface SoftForest {
  model: DifferentiableModel;
  /** The detector's feature layers (spatially averaged, concatenated: `layerFeatureTensor`). */
  layers: string[];
  mean: tf.Tensor2D;
  U: tf.Tensor2D;
  /** Per tree, its internal nodes padded to `width`: global feature, threshold, 1/τ ([1, trees·width]). */
  feature: tf.Tensor1D;
  theta: tf.Tensor2D;
  invTau: tf.Tensor2D;
  /**
   * paths[t, j, l] = 1 if leaf l of tree t goes left at node j, paths[t, width + j, l] = 1 if right; leafMask marks
   * real leaves.
   */
  paths: tf.Tensor3D;
  leafMask: tf.Tensor3D;
  width: number;
  trees: number;
  alpha: number;
}

/** PCA from ml-pca's JSON: means and loadings (columns = components). */
export interface PcaJson {
  center: boolean;
  scale: boolean;
  means: number[];
  stdevs: number[] | null;
  U: { to2DArray(): number[][] } | number[][];
}

interface TreeNodeLike {
  left?: TreeNodeLike;
  right?: TreeNodeLike;
  splitColumn?: number;
  splitValue?: number;
  distribution?: { to1DArray(): number[] };
}
/** The parts of an ml-random-forest classifier the soft forest reads. */
export interface ForestLike {
  indexes: number[][];
  estimators: Array<{ root: TreeNodeLike }>;
}

interface FlatTree {
  feature: number[];
  theta: number[];
  paths: Array<Array<[number, boolean]>>;
}

/** Per tree: its internal nodes (feature, threshold) and the paths to the leaves that vote class 1. */
function flatten(forest: ForestLike): FlatTree[] {
  return forest.estimators.map((est, t) => {
    const tree: FlatTree = { feature: [], theta: [], paths: [] };
    const walk = (node: TreeNodeLike, path: Array<[number, boolean]>): void => {
      if (node.left && node.right) {
        const j = tree.feature.length;
        tree.feature.push(forest.indexes[t][node.splitColumn!]);
        tree.theta.push(node.splitValue!);
        walk(node.left, [...path, [j, true]]);
        walk(node.right, [...path, [j, false]]);
      } else {
        const dist = node.distribution!.to1DArray(); // the tree predicts the first argmax
        if (dist.length > 1 && dist[1] > dist[0]) tree.paths.push(path);
      }
    };
    walk(est.root, []);
    return tree;
  });
}

function buildSoftForest(
  model: DifferentiableModel,
  pca: PcaJson,
  components: number,
  forest: ForestLike,
  std: number[],
  alpha: number,
  layers: string[],
): SoftForest {
  const U = Array.isArray(pca.U) ? pca.U : pca.U.to2DArray();
  const dim = U.length;
  const scale = pca.center && pca.scale && pca.stdevs ? pca.stdevs : new Array<number>(dim).fill(1);
  const trees = flatten(forest);
  const T = trees.length;
  const width = Math.max(1, ...trees.map((t) => t.feature.length));
  const L = Math.max(1, ...trees.map((t) => t.paths.length));
  const feature = new Int32Array(T * width);
  const theta = new Float32Array(T * width);
  const invTau = new Float32Array(T * width);
  const paths = new Float32Array(T * 2 * width * L);
  const mask = new Float32Array(T * L);
  trees.forEach((tree, t) => {
    tree.feature.forEach((f, j) => {
      feature[t * width + j] = f;
      theta[t * width + j] = tree.theta[j];
      invTau[t * width + j] = 1 / (alpha * (std[f] || 1));
    });
    tree.paths.forEach((p, l) => {
      mask[t * L + l] = 1;
      for (const [j, left] of p) paths[(t * 2 * width + (left ? j : width + j)) * L + l] = 1;
    });
  });
  return {
    model,
    layers,
    alpha,
    width,
    trees: T,
    mean: tf.tensor2d(pca.center ? pca.means : new Array<number>(dim).fill(0), [1, dim]),
    U: tf.tidy(() =>
      tf.div<tf.Tensor2D>(tf.tensor2d(U.map((r) => r.slice(0, components))), tf.tensor2d(scale, [dim, 1])),
    ),
    feature: tf.tensor1d(feature, 'int32'),
    theta: tf.tensor2d(theta, [1, T * width]),
    invTau: tf.tensor2d(invTau, [1, T * width]),
    paths: tf.tensor3d(paths, [T, 2 * width, L]),
    leafMask: tf.tensor3d(mask, [T, 1, L]),
  };
}

/**
 * Soft vote fraction from PCA coordinates z [n, c]: leaf log-probabilities per tree by a batched matMul with the path
 * matrix.
 */
function softVotes(s: SoftForest, z: tf.Tensor2D): tf.Tensor1D {
  const n = z.shape[0];
  // > 0: goes left
  const a = tf.mul(tf.sub(s.theta, tf.gather(z, s.feature, 1)), s.invTau).reshape([n, s.trees, s.width]);
  // log σ(±a) = −softplus(∓a) (tf.logSigmoid's custom gradient fails under tf.grad here)
  // trees × n × 2·width
  const logs = tf.transpose(tf.neg(tf.concat([tf.softplus(tf.neg(a)), tf.softplus(a)], 2)), [1, 0, 2]) as tf.Tensor3D;
  const leaf = tf.mul(tf.exp(tf.matMul(logs, s.paths)), s.leafMask); // trees × n × leaves
  return tf.div(tf.sum(leaf, [0, 2]), s.trees) as tf.Tensor1D;
}

export function softForestTensor(s: SoftForest, x: tf.Tensor4D): tf.Tensor1D {
  return softVotes(s, tf.matMul(tf.sub(layerFeatureTensor(s.model, x, s.layers), s.mean), s.U));
}

export function disposeSoftForest(s?: SoftForest): void {
  if (s) tf.dispose([s.mean, s.U, s.feature, s.theta, s.invTau, s.paths, s.leafMask]);
}

/** Calibration images: the fit images, points on the segments clean → adversarial, and uniform-noise copies of both. */
export function calibrationImages(data: DetectorFitData, d: number, seed: number): { x: Float32Array; n: number } {
  const nClean = data.clean.length / d;
  const nAdv = data.adversarial.length / d;
  const pairs = Math.min(nClean, nAdv);
  const rng = new Rng(seed ^ 0x5a11);
  const extra = new Float32Array(pairs * 3 * d);
  for (let i = 0; i < pairs; i++) {
    const c = data.clean.subarray(i * d, (i + 1) * d);
    const a = data.adversarial.subarray(i * d, (i + 1) * d);
    let e = 0;
    for (let j = 0; j < d; j++) e = Math.max(e, Math.abs(a[j] - c[j]));
    e = e || 8 / 255;
    const t = rng.uniform();
    for (let j = 0; j < d; j++) {
      extra[i * 3 * d + j] = c[j] + t * (a[j] - c[j]);
      extra[(i * 3 + 1) * d + j] = Math.min(1, Math.max(0, c[j] + e * (2 * rng.uniform() - 1)));
      extra[(i * 3 + 2) * d + j] = Math.min(1, Math.max(0, a[j] + e * (2 * rng.uniform() - 1)));
    }
  }
  const x = concat(data.clean, data.adversarial, extra);
  return { x, n: x.length / d };
}

/** Spearman rank correlation (average ranks for ties). */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const ranks = (v: ArrayLike<number>): Float64Array => {
    const idx = Array.from(v, (_, i) => i).sort((p, q) => v[p] - v[q]);
    const r = new Float64Array(v.length);
    for (let i = 0; i < idx.length; ) {
      let j = i;
      while (j + 1 < idx.length && v[idx[j + 1]] === v[idx[i]]) j++;
      for (let q = i; q <= j; q++) r[idx[q]] = (i + j) / 2;
      i = j + 1;
    }
    return r;
  };
  const ra = ranks(a);
  const rb = ranks(b);
  const n = ra.length;
  const m = (n - 1) / 2;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < n; i++) {
    num += (ra[i] - m) * (rb[i] - m);
    da += (ra[i] - m) ** 2;
    db += (rb[i] - m) ** 2;
  }
  return da && db ? num / Math.sqrt(da * db) : 1;
}

/**
 * Build the soft forest; with data, pick α (largest that ranks the calibration images like the forest,
 * Spearman ≥ 0.97) and report that agreement; without, α = 0.05.
 */
export async function prepareSoftForest(
  model: DifferentiableModel,
  pca: PcaJson,
  components: number,
  forest: ForestLike,
  std: number[],
  votes: (z: number[][]) => Float64Array,
  data?: DetectorFitData,
  seed = 0,
  layers: string[] = ['penultimate'],
): Promise<{ soft: SoftForest; agreement?: number }> {
  if (!data) return { soft: buildSoftForest(model, pca, components, forest, std, 0.05, layers) };
  const [h, w, c] = model.inputShape;
  const img = calibrationImages(data, h * w * c, seed);
  const f = await layerFeatureRows(model, img.x, img.n, layers);
  let best: { soft: SoftForest; agreement: number } | undefined;
  let z: tf.Tensor2D | undefined;
  let hard: Float64Array | undefined;
  for (const alpha of [0.5, 0.3, 0.2, 0.1, 0.05, 0.02]) {
    const soft = buildSoftForest(model, pca, components, forest, std, alpha, layers);
    z ??= tf.tidy(() => tf.matMul(tf.sub(tf.tensor2d(f.data, [img.n, f.dim]), soft.mean), soft.U));
    hard ??= votes(z.arraySync());
    const sv = tf.tidy(() => softVotes(soft, z!));
    const v = sv.dataSync();
    sv.dispose();
    const agreement = spearman(hard, v);
    if (!best || agreement > best.agreement) {
      disposeSoftForest(best?.soft);
      best = { soft, agreement };
    } else disposeSoftForest(soft);
    if (agreement >= 0.97) break;
  }
  z?.dispose();
  return best!;
}
