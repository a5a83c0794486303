/**
 * HopSkipJumpAttack — a decision-based (label-only) minimum-norm attack, L2 and L∞.
 * J. Chen, M. I. Jordan, M. J. Wainwright, "HopSkipJumpAttack: A Query-Efficient Decision-Based
 * Attack", IEEE S&P 2020 (authors' code github.com/Jianbo-Lab/HSJA; ART's hop_skip_jump.py).
 *
 * Only φ(x) = [x is adversarial] is used (QuerySetup margin < 0), so a label-only target suffices.
 * From an adversarial starting point (`decision.ts`: uniform noise, batch images, or a given image of
 * the target class, blended towards x*), every iteration t = 1, 2, … does
 *   1. binary search on the segment to x* (L2: x(α) = (1−α)x* + αx; L∞: clip(x, x*−α, x*+α)) to the
 *      boundary, threshold θ = γ/d^{3/2} (L2) or γ/d² (L∞, relative: min(θ·dist, θ)), γ = 1;
 *   2. gradient-direction estimate at the boundary point x_t from B_t = min(100·√t, 10⁴) probes:
 *      u_b ~ N(0, I) (L2) or U[−1,1]^d (L∞), normalised, x_t + δ_t u_b clipped to [0,1],
 *      ∇ ≈ mean_b (φ_b − φ̄) u_b with φ_b = ±1 (the baseline φ̄ is dropped when all φ_b agree),
 *      δ_1 = 0.1, δ_t = √d·θ·dist_{t−1} (L2) or d·θ·dist_{t−1} (L∞);
 *   3. geometric step-size search: ξ = dist_t/√t, halved until x_t + ξ·v is adversarial
 *      (v = ∇/‖∇‖ for L2, sign(∇) for L∞), then back to 1.
 * It minimises the distance until the per-image budget (`--max-queries`, default 5000, counting the
 * look at the clean image and the initialisation) is spent; the answer is the closest adversarial
 * point seen, projected on the ε ball by `finish` (success only if that projection leaves it as is).
 * All running images share each target call. `earlyStop: true` stops an image once its distance is
 * within ε (then `queriesPerSample` is the cost of an ε-bounded attack; default: minimise on).
 * Usage: `medshield attack --attack hsj --norm l2 --eps 1 --max-queries 5000 --target-url URL`.
 */
import type { QueryAttack } from '../query.js';
import { QuerySetup } from '../query.js';
import { takeRows } from '../project.js';
import type { Target } from '../targets/target.js';
import type { Model } from '../../models/model.js';
import { conclude, distance, isAdversarial, openDecision, range, type DecisionOptions } from '../decision.js';

const INIT_EVALS = 100;
const MAX_EVALS = 1e4;
/** Fewest probes worth a gradient estimate; an image with less budget left stops. */
const MIN_EVALS = 10;
/** Halvings of the step size before the step is abandoned (the point stays on the boundary). */
const MAX_HALVINGS = 30;

export const hsj: QueryAttack = {
  name: 'hsj',
  reference: 'Chen, Jordan & Wainwright, IEEE S&P 2020',
  threatModel: 'decision',
  defaultNorm: 'l2',
  norms: ['l2', 'linf'],
  minimumNorm: true,
  targeted: true,
  defaultSteps: 5000,
  async run(t: Target | Model, x0: Float32Array, y: Int32Array, opts: DecisionOptions) {
    const s = new QuerySetup(this, t, x0, y, opts);
    const { n, d } = s;
    const norm = s.norm as 'l2' | 'linf';
    const { rngs, stopped, report, start } = await openDecision(s, x0, opts);
    const best = Float32Array.from(x0);
    const bestDist = new Float64Array(n).fill(Infinity);
    const adv = Uint8Array.from(start.success);
    let lost = 0;
    for (let i = 0; i < n; i++) {
      if (start.settled[i]) stopped[i] = 1;
      else if (!start.ok[i]) {
        stopped[i] = 1;
        lost++;
      }
    }
    const theta = norm === 'l2' ? 1 / (d * Math.sqrt(d)) : 1 / (d * d);
    const reserve = Math.ceil(Math.log2(1 / theta)) + 5;
    const cur = Float32Array.from(start.x);
    const dist = new Float64Array(n);

    /**
     * Binary search from the adversarial points p (rows of `idx`) towards x* to the boundary; updates cur, dist, best.
     */
    const toBoundary = async (idx: number[], p: Float32Array): Promise<void> => {
      const lo = new Float64Array(idx.length);
      const hi = new Float64Array(idx.length);
      const thr = new Float64Array(idx.length);
      idx.forEach((i, r) => {
        let m = 0;
        if (norm === 'linf') for (let j = 0; j < d; j++) m = Math.max(m, Math.abs(p[r * d + j] - x0[i * d + j]));
        hi[r] = norm === 'l2' ? 1 : m;
        thr[r] = norm === 'l2' ? theta : Math.max(Math.min(hi[r] * theta, theta), 1e-12);
      });
      const at = (out: Float32Array, o: number, r: number, a: number): void => {
        const i = idx[r];
        for (let j = 0; j < d; j++) {
          const xs = x0[i * d + j];
          const v = p[r * d + j];
          out[o * d + j] = norm === 'l2' ? (1 - a) * xs + a * v : Math.min(Math.max(v, xs - a), xs + a);
        }
      };
      for (;;) {
        const sel = range(idx.length).filter((r) => (hi[r] - lo[r]) / thr[r] > 1 && s.left(idx[r]) > 0);
        if (!sel.length) break;
        const xs = new Float32Array(sel.length * d);
        sel.forEach((r, o) => at(xs, o, r, (lo[r] + hi[r]) / 2));
        const a = await isAdversarial(
          s,
          sel.map((r) => idx[r]),
          xs,
        );
        sel.forEach((r, o) => {
          const mid = (lo[r] + hi[r]) / 2;
          if (a[o]) hi[r] = mid;
          else lo[r] = mid;
        });
        report();
      }
      idx.forEach((i, r) => {
        at(cur.subarray(i * d, (i + 1) * d), 0, r, hi[r]);
        dist[i] = distance(x0, cur, i, d, norm);
        if (dist[i] < bestDist[i]) {
          bestDist[i] = dist[i];
          best.set(cur.subarray(i * d, (i + 1) * d), i * d);
          adv[i] = 1;
        }
        if (opts.earlyStop === true && bestDist[i] <= s.eps * (1 - 1e-6)) stopped[i] = 1;
      });
    };

    let act = range(n).filter((i) => !stopped[i]);
    await toBoundary(act, takeRows(cur, d, act));
    for (let it = 1; ; it++) {
      const sched = Math.min(Math.floor(INIT_EVALS * Math.sqrt(it)), MAX_EVALS);
      const evals = new Int32Array(n);
      for (const i of act) {
        evals[i] = Math.min(sched, s.left(i) - reserve);
        if (evals[i] < MIN_EVALS) stopped[i] = 1;
      }
      act = act.filter((i) => !stopped[i]);
      if (!act.length) break;
      // 2. Gradient-direction estimate at the boundary point, probes of all images in shared calls.
      const updates = new Float32Array(act.length * d);
      const probeRows = Math.max(1, Math.floor((1 << 18) / d));
      const plan: Array<[number, number]> = act.map((i) => [i, evals[i]]);
      const sum0 = act.map(() => new Float64Array(d));
      const sum1 = act.map(() => new Float64Array(d));
      const pos = new Float64Array(act.length);
      let a = 0;
      let done = 0;
      while (a < plan.length) {
        const idx: number[] = [];
        const owner: number[] = [];
        const deltas: number[] = [];
        while (a < plan.length && idx.length < probeRows) {
          const take = Math.min(plan[a][1] - done, probeRows - idx.length);
          for (let k = 0; k < take; k++) {
            idx.push(plan[a][0]);
            owner.push(a);
          }
          done += take;
          if (done === plan[a][1]) {
            a++;
            done = 0;
          }
        }
        const xs = new Float32Array(idx.length * d);
        for (let r = 0; r < idx.length; r++) {
          const i = idx[r];
          const rng = rngs[i];
          const delta = it === 1 ? 0.1 : (norm === 'l2' ? Math.sqrt(d) : d) * theta * dist[i];
          deltas.push(delta);
          const row = xs.subarray(r * d, (r + 1) * d);
          if (norm === 'l2') rng.fillNormal(row);
          else rng.fillUniform(row, -1, 1);
          let ss = 0;
          for (let j = 0; j < d; j++) ss += row[j] * row[j];
          const f = delta / Math.sqrt(ss);
          for (let j = 0; j < d; j++) {
            const v = cur[i * d + j] + f * row[j];
            row[j] = v < 0 ? 0 : v > 1 ? 1 : v;
          }
        }
        const phi = await isAdversarial(s, idx, xs);
        for (let r = 0; r < idx.length; r++) {
          const i = idx[r];
          const o = owner[r];
          const sgn = phi[r] ? 1 : -1;
          const s0 = sum0[o];
          const s1 = sum1[o];
          if (phi[r]) pos[o]++;
          for (let j = 0; j < d; j++) {
            const u = (xs[r * d + j] - cur[i * d + j]) / deltas[r];
            s0[j] += u;
            s1[j] += sgn * u;
          }
        }
        report();
      }
      act.forEach((i, o) => {
        const m = evals[i];
        const fbar = (2 * pos[o] - m) / m;
        const g = new Float64Array(d);
        for (let j = 0; j < d; j++)
          g[j] = fbar === 1 ? sum0[o][j] : fbar === -1 ? -sum0[o][j] : sum1[o][j] - fbar * sum0[o][j];
        let gn = 0;
        for (let j = 0; j < d; j++) gn += g[j] * g[j];
        gn = Math.sqrt(gn);
        for (let j = 0; j < d; j++) updates[o * d + j] = gn > 0 ? (norm === 'l2' ? g[j] / gn : Math.sign(g[j])) : 0;
      });
      // 3. Geometric step-size search: ξ = dist/√t, halved until adversarial.
      const xi = Float64Array.from(act, (i) => dist[i] / Math.sqrt(it));
      const halvings = new Int32Array(act.length);
      const searching = Uint8Array.from(act, (_, o) =>
        updates.subarray(o * d, (o + 1) * d).some((v) => v !== 0) ? 1 : 0,
      );
      const next = takeRows(cur, d, act);
      for (;;) {
        const sel = range(act.length).filter((o) => searching[o] && s.left(act[o]) > 0);
        if (!sel.length) break;
        const xs = new Float32Array(sel.length * d);
        sel.forEach((o, r) => {
          for (let j = 0; j < d; j++) {
            const v = cur[act[o] * d + j] + xi[o] * updates[o * d + j];
            xs[r * d + j] = v < 0 ? 0 : v > 1 ? 1 : v;
          }
        });
        const ok = await isAdversarial(
          s,
          sel.map((o) => act[o]),
          xs,
        );
        sel.forEach((o, r) => {
          if (ok[r]) {
            searching[o] = 0;
            next.set(xs.subarray(r * d, (r + 1) * d), o * d);
          } else if (++halvings[o] > MAX_HALVINGS) searching[o] = 0;
          else xi[o] /= 2;
        });
        report();
      }
      // 1. Back to the boundary.
      await toBoundary(act, next);
    }
    const notes: string[] = [];
    if (lost)
      notes.push(
        `${lost} image(s): no adversarial starting point found ` +
          `within the budget (uniform noise and batch images tried)`,
      );
    report();
    return conclude(s, x0, best, adv, notes);
  },
};
