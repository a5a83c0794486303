/**
 * NES — A. Ilyas, L. Engstrom, A. Athalye, J. Lin, "Black-box Adversarial Attacks with Limited Queries
 * and Information", ICML 2018. Score-based; PGD on a gradient estimated by natural evolution strategies.
 *
 * Gradient estimate with antithetic sampling (Algorithm 1), n = 50 samples (25 pairs u_p ~ N(0, I)):
 *   ĝ = 1/(nσ) Σ_p [ℓ(x + σu_p) − ℓ(x − σu_p)] u_p,   σ = 0.001
 * then, as in the authors' code, momentum g ← 0.9·g + 0.1·ĝ (`--decay` overrides 0.9) and a PGD step
 *   L∞: x ← Π(x + η·sign(g)),   L2: x ← Π(x + η·g/‖g‖₂),   Π onto [0,1] ∩ the ε ball,
 * with η = ε/5 (the authors' 0.01 at ε = 0.05; `--step-size`) halved, down to η/200, when the mean
 * sample loss has not risen over 5 iterations (their plateau schedule).
 * Loss ℓ (maximised): untargeted CE, read as log(1 − p_y) from the other classes — the same
 * gradient direction as −log p_y, without float32 saturation when p_y rounds to 1; targeted log p_t
 * (the paper's); all labels of a multi-label head: −margin.
 * Queries: the clean image (1); per iteration 2·pairs sample points (every point sent is inside
 * [0,1] and the ε ball) and 1 look at the new iterate, which decides success. An image with fewer
 * than 51 queries left uses the pairs it can afford (at least one pair plus the look), then stops.
 *
 *   medshield attack --model DIR --dataset pneumoniamnist --attack nes --eps 8/255 --max-queries 5000
 */
import type { Model } from '../../models/model.js';
import { project } from '../project.js';
import { QuerySetup, type QueryAttack } from '../query.js';
import { ask, attackable, logOthers, logProb, progress, stack, type Answer } from '../scores.js';
import { requireScores, type Target } from '../targets/target.js';
import type { AttackOptions, AttackResult } from '../types.js';

/** Sample points per gradient estimate (antithetic pairs × 2). */
const NES_POPULATION = 50;
const NES_SIGMA = 0.001;
const PLATEAU = 5;

export const nes: QueryAttack = {
  name: 'nes',
  reference: 'Ilyas, Engstrom, Athalye & Lin, ICML 2018',
  threatModel: 'score',
  defaultNorm: 'linf',
  norms: ['linf', 'l2'],
  minimumNorm: false,
  targeted: true,
  defaultSteps: 5000,
  async run(target: Target | Model, x: Float32Array, y: Int32Array, opts: AttackOptions): Promise<AttackResult> {
    const s = new QuerySetup(this, target, x, y, opts);
    requireScores(s.target, this.name);
    const { d, n, eps, norm, goal } = s;
    const momentum = opts.decay ?? 0.9;
    const lr0 = opts.stepSize ?? eps / 5;
    const rngs = Array.from({ length: n }, (_, i) => s.rng(i));
    const x0 = Array.from({ length: n }, (_, i) => x.subarray(i * d, (i + 1) * d));
    const cur: Float32Array[] = x0.map((xi) => Float32Array.from(xi));
    const g = Array.from({ length: n }, () => new Float32Array(d));
    const lr = new Float64Array(n).fill(lr0);
    const history: number[][] = Array.from({ length: n }, () => []);
    const success = new Uint8Array(n);
    const lossOf = (a: Answer, r: number, i: number): number => {
      if (!goal.y) return -a.m[r];
      return goal.target ? logProb(a.v, a.k, r, goal.target[i]) : logOthers(a.v, a.k, r, goal.y[i]);
    };
    const tick = progress(opts.onStep, 5);
    const look = async (idx: number[]): Promise<void> => {
      if (!idx.length) return;
      const a = await ask(
        s,
        idx,
        stack(
          idx.map((i) => cur[i]),
          d,
        ),
      );
      idx.forEach((i, r) => {
        if (s.succeeded(i, a.m[r])) success[i] = 1;
      });
    };

    let running = attackable(s).flatMap((ok, i) => (ok ? [i] : []));
    await look(running);
    for (let it = 1; ; it++) {
      running = running.filter((i) => !success[i] && s.left(i) >= 3);
      if (!running.length) break;
      // Sample points: x ± σu for each pair, all images in one call.
      const pairs = running.map((i) => Math.min(NES_POPULATION / 2, Math.floor((s.left(i) - 1) / 2)));
      const noise = running.map((i, r) => {
        const u = new Float32Array(pairs[r] * d);
        for (let j = 0; j < u.length; j++) u[j] = rngs[i].normal();
        return u;
      });
      const idx: number[] = [];
      const pts: Float32Array[] = [];
      running.forEach((i, r) => {
        for (let p = 0; p < pairs[r]; p++) {
          for (const sg of [1, -1]) {
            const q = new Float32Array(d);
            for (let j = 0; j < d; j++) q[j] = cur[i][j] + sg * NES_SIGMA * noise[r][p * d + j];
            idx.push(i);
            pts.push(project(x0[i], q, d, norm, eps));
          }
        }
      });
      const a = await ask(s, idx, stack(pts, d));
      let row = 0;
      running.forEach((i, r) => {
        const est = new Float64Array(d);
        let mean = 0;
        for (let p = 0; p < pairs[r]; p++) {
          const lp = lossOf(a, row, i);
          const lm = lossOf(a, row + 1, i);
          row += 2;
          mean += (lp + lm) / (2 * pairs[r]);
          const f = (lp - lm) / (2 * pairs[r] * NES_SIGMA);
          for (let j = 0; j < d; j++) est[j] += f * noise[r][p * d + j];
        }
        const gi = g[i];
        for (let j = 0; j < d; j++) gi[j] = momentum * gi[j] + (1 - momentum) * est[j];
        const h = history[i];
        h.push(mean);
        if (h.length > PLATEAU) h.shift();
        if (h.length === PLATEAU && h[PLATEAU - 1] < h[0]) {
          lr[i] = Math.max(lr[i] / 2, lr0 / 200);
          h.length = 0;
        }
        let scale = 0;
        if (norm === 'l2') {
          let s2 = 0;
          for (let j = 0; j < d; j++) s2 += gi[j] * gi[j];
          scale = lr[i] / (Math.sqrt(s2) + 1e-12);
        }
        const next = new Float32Array(d);
        for (let j = 0; j < d; j++) next[j] = cur[i][j] + (norm === 'linf' ? lr[i] * Math.sign(gi[j]) : scale * gi[j]);
        cur[i] = project(x0[i], next, d, norm, eps);
      });
      await look(running.filter((i) => s.left(i) > 0));
      tick(it, Math.ceil(s.maxQueries / (NES_POPULATION + 1)));
    }
    tick(1, 1, true);
    return s.finish(x, stack(cur, d), success, []);
  },
};
