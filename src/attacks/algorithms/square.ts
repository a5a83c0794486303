/**
 * Square attack — M. Andriushchenko, F. Croce, N. Flammarion, M. Hein, "Square Attack: a query-efficient
 * black-box adversarial attack via random search", ECCV 2020. Score-based; L∞ and L2; untargeted and targeted.
 *
 * Random search on a loss ℓ: every iteration proposes a change confined to a random s × s window of
 * the current best image and keeps it when ℓ goes down (or the image becomes adversarial).
 *   L∞: start from vertical stripes δ = ±ε (one sign per column and channel); a proposal sets the
 *       window to ±ε (one sign per channel), signs redrawn until the window actually changes.
 *   L2: start from a grid of ±η bumps (η: the paper's two-rectangle "pseudo-Gaussian" pattern)
 *       scaled to ‖δ‖₂ = ε; a proposal empties a second window and puts that mass, plus whatever
 *       budget is left, into the first window as ±η + its old content (per channel), then rescales
 *       ‖δ‖₂ = ε.
 * Loss (the authors' code): untargeted the margin v_y − max_{j≠y} v_j; targeted the cross-entropy
 * −log softmax(v)_t. On a probability target v = log p, so margins equal logit margins.
 * Window: s = round(√(p·h·w)) (L∞: 1 ≤ s < h; L2: odd, ≥ 3); p follows the paper's piecewise-constant
 * schedule, p_init halved at iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000 of a 10 000-query
 * run, rescaled to the budget Q (it ← ⌊it/Q·10 000⌋, autoattack's `p_selection`).
 * Defaults: Q = 5000 queries per image (`--max-queries`), p_init 0.05 (L∞) / 0.1 (L2) (`opts.pInit`).
 * Windows, signs and bumps are drawn per image from the image's own seeded stream. AutoAttack standard
 * runs `squareAttack({ rescaleSchedule: false })` with p_init 0.8 and 5000 queries, as autoattack does.
 * Queries: the initialisation is query 1 (the clean image is not queried, as in the paper's counts),
 * then one per iteration per running image; an image stops on success or when its budget is spent.
 *
 *   medshield attack --model DIR --dataset pneumoniamnist --attack square --eps 8/255 --max-queries 5000
 */
import type { Rng } from '../../engine/index.js';
import { badArgument } from '../../errors.js';
import type { Model } from '../../models/model.js';
import { project } from '../project.js';
import { QuerySetup, type QueryAttack } from '../query.js';
import { ask, attackable, logProb, progress, stack, type Answer } from '../scores.js';
import { requireScores, type Target } from '../targets/target.js';
import type { AttackOptions, AttackResult } from '../types.js';

/** The paper's p schedule, rescaled from 10 000 iterations to `budget`. */
export function pSelection(pInit: number, it: number, budget: number): number {
  const t = Math.floor((it / budget) * 10000);
  const marks = [10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000];
  let k = 0;
  while (k < marks.length && t > marks[k]) k++;
  return pInit / 2 ** k;
}

/** One rectangle of the pseudo-Gaussian bump: nested boxes weighted 1/(r+1)², unit L2 norm (rows × cols). */
function etaRect(rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  let r0 = Math.floor(rows / 2);
  let c0 = Math.floor(cols / 2);
  const rings = Math.max(r0, c0) + 1;
  for (let r = 0; r < rings; r++) {
    for (let a = Math.max(r0, 0); a < Math.min(r0 + 2 * r + 1, rows); a++) {
      for (let b = Math.max(c0, 0); b < Math.min(c0 + 2 * r + 1, cols); b++) out[a * cols + b] += 1 / (r + 1) ** 2;
    }
    r0--;
    c0--;
  }
  return normalise(out);
}

function normalise(a: Float64Array): Float64Array {
  let s = 0;
  for (const v of a) s += v * v;
  const f = 1 / Math.sqrt(s || 1);
  for (let j = 0; j < a.length; j++) a[j] *= f;
  return a;
}

/** η(s): upper half +rect, lower half −rect, unit norm, transposed with probability ½. */
function eta(s: number, rng: Rng): Float64Array {
  const top = etaRect(Math.floor(s / 2), s);
  const bottom = etaRect(s - Math.floor(s / 2), s);
  const e = new Float64Array(s * s);
  e.set(top);
  for (let j = 0; j < bottom.length; j++) e[top.length + j] = -bottom[j];
  normalise(e);
  if (rng.uniform() > 0.5) {
    const t = new Float64Array(s * s);
    for (let a = 0; a < s; a++) for (let b = 0; b < s; b++) t[b * s + a] = e[a * s + b];
    return t;
  }
  return e;
}

const sign = (rng: Rng): number => (rng.uniform() < 0.5 ? -1 : 1);

/** L∞ proposal: the window of x_best set to x0 ± ε, one sign per channel, redrawn until it changes. */
function proposeLinf(
  x0: Float32Array,
  xb: Float32Array,
  shape: number[],
  eps: number,
  p: number,
  rng: Rng,
): Float32Array {
  const [h, w, c] = shape;
  const s = Math.min(Math.max(Math.round(Math.sqrt(p * h * w)), 1), Math.min(h, w) - 1);
  const vh = rng.int(h - s);
  const vw = rng.int(w - s);
  const out = Float32Array.from(xb);
  for (let attempt = 0; attempt < 100; attempt++) {
    const sg = Array.from({ length: c }, () => sign(rng));
    let changed = false;
    for (let a = vh; a < vh + s; a++) {
      for (let b = vw; b < vw + s; b++) {
        for (let ch = 0; ch < c; ch++) {
          const j = (a * w + b) * c + ch;
          const v = Math.min(Math.max(x0[j] + sg[ch] * eps, 0), 1);
          out[j] = v;
          if (Math.abs(v - xb[j]) >= 1e-7) changed = true;
        }
      }
    }
    if (changed) break;
  }
  return out;
}

/** L2: x0 + ε·δ/‖δ‖₂, clipped to [0,1] (and projected, against float rounding). */
function fromDelta(x0: Float32Array, delta: Float64Array, eps: number, norm: 'l2'): Float32Array {
  let n = 0;
  for (const v of delta) n += v * v;
  const f = eps / (Math.sqrt(n) + 1e-12);
  const x = new Float32Array(x0.length);
  for (let j = 0; j < x.length; j++) x[j] = x0[j] + delta[j] * f;
  return project(x0, x, x0.length, norm, eps);
}

/** L2 initialisation: a 5 × 5 grid of ±η bumps of side ⌊h/5⌋, one sign per bump and channel. */
function initL2(x0: Float32Array, shape: number[], eps: number, rng: Rng): Float32Array {
  const [h, w, c] = shape;
  const s = Math.max(1, Math.floor(h / 5));
  const start = Math.floor((h - 5 * s) / 2);
  const delta = new Float64Array(x0.length);
  for (let vh = start; vh + s <= h; vh += s) {
    for (let vw = start; vw + s <= w; vw += s) {
      const e = eta(s, rng);
      for (let ch = 0; ch < c; ch++) {
        const sg = sign(rng);
        for (let a = 0; a < s; a++)
          for (let b = 0; b < s; b++) delta[((vh + a) * w + vw + b) * c + ch] += sg * e[a * s + b];
      }
    }
  }
  return fromDelta(x0, delta, eps, 'l2');
}

/** L2 proposal (Algorithm 3 of the paper, as in the authors' and autoattack's code). */
function proposeL2(
  x0: Float32Array,
  xb: Float32Array,
  shape: number[],
  eps: number,
  p: number,
  rng: Rng,
): Float32Array {
  const [h, w, c] = shape;
  let s = Math.max(Math.round(Math.sqrt(p * h * w)), 3);
  if (s % 2 === 0) s++;
  s = Math.min(s, Math.min(h, w) - 1);
  const vh = rng.int(h - s);
  const vw = rng.int(w - s);
  const vh2 = rng.int(h - s);
  const vw2 = rng.int(w - s);
  const delta = new Float64Array(x0.length);
  let normImage = 0;
  for (let j = 0; j < delta.length; j++) {
    delta[j] = xb[j] - x0[j];
    normImage += delta[j] * delta[j];
  }
  const in1 = (a: number, b: number): boolean => a >= vh && a < vh + s && b >= vw && b < vw + s;
  const in2 = (a: number, b: number): boolean => a >= vh2 && a < vh2 + s && b >= vw2 && b < vw2 + s;
  const normWin1 = new Float64Array(c);
  let normWindows = 0;
  for (let a = Math.min(vh, vh2); a < Math.max(vh, vh2) + s; a++) {
    for (let b = Math.min(vw, vw2); b < Math.max(vw, vw2) + s; b++) {
      const one = in1(a, b);
      if (!one && !in2(a, b)) continue;
      for (let ch = 0; ch < c; ch++) {
        const v = delta[(a * w + b) * c + ch];
        normWindows += v * v;
        if (one) normWin1[ch] += v * v;
      }
    }
  }
  const e = eta(s, rng);
  const budget = Math.sqrt(Math.max(eps * eps - normImage, 0) / c + normWindows);
  const fresh = new Float64Array(s * s * c);
  for (let ch = 0; ch < c; ch++) {
    const sg = sign(rng);
    const nw = Math.sqrt(normWin1[ch]) + 1e-12;
    let n2 = 0;
    for (let a = 0; a < s; a++) {
      for (let b = 0; b < s; b++) {
        const v = sg * e[a * s + b] + delta[((vh + a) * w + vw + b) * c + ch] / nw;
        fresh[(a * s + b) * c + ch] = v;
        n2 += v * v;
      }
    }
    const f = budget / (Math.sqrt(n2) + 1e-12);
    for (let q = 0; q < s * s; q++) fresh[q * c + ch] *= f;
  }
  for (let a = vh2; a < vh2 + s; a++)
    for (let b = vw2; b < vw2 + s; b++) for (let ch = 0; ch < c; ch++) delta[(a * w + b) * c + ch] = 0;
  for (let a = 0; a < s; a++)
    for (let b = 0; b < s; b++)
      for (let ch = 0; ch < c; ch++) delta[((vh + a) * w + vw + b) * c + ch] = fresh[(a * s + b) * c + ch];
  return fromDelta(x0, delta, eps, 'l2');
}

/**
 * Square with a choice of schedule: `rescaleSchedule: false` runs the p schedule on its native
 * 10 000-iteration scale whatever the budget — AutoAttack standard's setting (p_init 0.8, 5000 queries).
 */
export function squareAttack(config: { rescaleSchedule?: boolean } = {}): QueryAttack {
  const rescale = config.rescaleSchedule ?? true;
  return {
    name: 'square',
    reference: 'Andriushchenko, Croce, Flammarion & Hein, ECCV 2020',
    threatModel: 'score',
    defaultNorm: 'linf',
    norms: ['linf', 'l2'],
    minimumNorm: false,
    targeted: true,
    defaultSteps: 5000,
    async run(target: Target | Model, x: Float32Array, y: Int32Array, opts: AttackOptions): Promise<AttackResult> {
      const s = new QuerySetup(this, target, x, y, opts);
      requireScores(s.target, this.name);
      const { d, n, eps, norm } = s;
      const shape = s.target.inputShape;
      const pInit = opts.pInit ?? (norm === 'linf' ? 0.05 : 0.1);
      if (!(pInit > 0 && pInit <= 1)) throw badArgument(`square: p_init must be in (0, 1], got ${opts.pInit}`);
      const Q = s.maxQueries;
      const rngs = Array.from({ length: n }, (_, i) => s.rng(i));
      const x0 = Array.from({ length: n }, (_, i) => x.subarray(i * d, (i + 1) * d));
      const best: Float32Array[] = x0.map((xi) => Float32Array.from(xi));
      const lossMin = new Float64Array(n).fill(Infinity);
      const success = new Uint8Array(n);
      const targeted = s.goal.target !== null;
      const lossOf = (ans: Answer, r: number, i: number): number =>
        targeted ? -logProb(ans.v, ans.k, r, s.goal.target![i]) : ans.m[r];
      const tick = progress(opts.onStep);

      // Query 1: the initialisation (stripes for L∞, bumps for L2).
      let running = attackable(s).flatMap((ok, i) => (ok ? [i] : []));
      const init = running.map((i) => {
        if (norm === 'l2') return initL2(x0[i], shape, eps, rngs[i]);
        const [h, w, c] = shape;
        const xi = new Float32Array(d);
        const sg = Array.from({ length: w * c }, () => sign(rngs[i]));
        for (let a = 0; a < h; a++)
          for (let q = 0; q < w * c; q++)
            xi[a * w * c + q] = Math.min(Math.max(x0[i][a * w * c + q] + sg[q] * eps, 0), 1);
        return xi;
      });
      const accept = (ans: Answer, cands: Float32Array[], always: boolean): void => {
        running.forEach((i, r) => {
          const loss = lossOf(ans, r, i);
          const m = ans.m[r];
          const won = s.succeeded(i, m);
          if (always || loss < lossMin[i] || won) {
            best[i] = cands[r];
            lossMin[i] = loss;
            if (won) success[i] = 1;
          }
        });
      };
      if (running.length) accept(await ask(s, running, stack(init, d)), init, true);

      for (let it = 0; ; it++) {
        running = running.filter((i) => !success[i] && s.left(i) > 0);
        if (!running.length) break;
        const p = pSelection(pInit, it, rescale ? Q : 10000);
        const cands = running.map((i) =>
          norm === 'linf'
            ? proposeLinf(x0[i], best[i], shape, eps, p, rngs[i])
            : proposeL2(x0[i], best[i], shape, eps, p, rngs[i]),
        );
        accept(await ask(s, running, stack(cands, d)), cands, false);
        tick(it + 1, Q);
      }
      tick(Q, Q, true);
      return s.finish(x, stack(best, d), success, []);
    },
  };
}

export const square: QueryAttack = squareAttack();
