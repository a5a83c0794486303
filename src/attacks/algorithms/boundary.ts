/**
 * Boundary attack — a decision-based (label-only) minimum-norm L2 attack.
 * W. Brendel, J. Rauber, M. Bethge, "Decision-Based Adversarial Attacks: Reliable Attacks Against
 * Black-Box Machine Learning Models", ICLR 2018 (reference implementation: Foolbox 3 BoundaryAttack).
 *
 * A random walk along the decision boundary that keeps the iterate x̃ adversarial and brings it
 * closer to the clean image x. Each step proposes, with s = x − x̃ and its direction ŝ = s/‖s‖,
 *   orthogonal (spherical) step: η ~ N(0, I), η ← η − (ŝ·η)ŝ, ‖η‖ = σ_sph·‖s‖,
 *                                x_sph = clip(x + (η − s)/√(1 + σ_sph²))      (back on the sphere of radius ‖s‖)
 *   source step:                 x_cand = clip(x_sph + λ·(x − x_sph)/‖x − x_sph‖),
 *                                λ = max(0, σ_src·‖s‖ + ‖x − x_sph‖ − ‖s‖)
 * and accepts x_cand when it is adversarial and closer to x. Step sizes adapt per image (Foolbox):
 * every 10th step the spherical candidate is queried too; over the last 100 such checks, a spherical
 * success rate > 0.5 multiplies σ_sph and σ_src by 1.5, < 0.2 divides them; over the last 30 checks
 * a candidate success rate > 0.25 multiplies σ_src by 1.5, < 0.1 divides it. An image stops when
 * σ_src < 1e−7 or its budget is spent. Defaults σ_sph = σ_src = 0.01, budget 5000 queries per image
 * (the clean-image look and the starting-point search of `decision.ts` included). The answer is the
 * closest adversarial point, projected on the ε ball by `finish` (success only if inside it).
 * `earlyStop: true` stops an image once it is within ε (default: minimise until the budget is spent).
 * Usage: `medshield attack --attack boundary --eps 1 --max-queries 5000 --target-url URL`.
 */
import type { QueryAttack } from '../query.js';
import { QuerySetup } from '../query.js';
import type { Target } from '../targets/target.js';
import type { Model } from '../../models/model.js';
import { conclude, distance, isAdversarial, openDecision, range, type DecisionOptions } from '../decision.js';

const SPHERICAL_STEP = 1e-2;
const SOURCE_STEP = 1e-2;
const CONVERGENCE = 1e-7;
const ADAPTATION = 1.5;
const CHECK_EVERY = 10;

/** The last `size` yes/no outcomes of one image. */
class Window {
  private readonly v: Uint8Array;
  private count = 0;
  private next = 0;
  constructor(readonly size: number) {
    this.v = new Uint8Array(size);
  }
  push(b: number): void {
    this.v[this.next] = b;
    this.next = (this.next + 1) % this.size;
    this.count = Math.min(this.count + 1, this.size);
  }
  get full(): boolean {
    return this.count === this.size;
  }
  mean(): number {
    let s = 0;
    for (let k = 0; k < this.count; k++) s += this.v[k];
    return s / this.count;
  }
  clear(): void {
    this.count = 0;
    this.next = 0;
  }
}

export const boundary: QueryAttack = {
  name: 'boundary',
  reference: 'Brendel, Rauber & Bethge, ICLR 2018',
  threatModel: 'decision',
  defaultNorm: 'l2',
  norms: ['l2'],
  minimumNorm: true,
  targeted: true,
  defaultSteps: 5000,
  async run(t: Target | Model, x0: Float32Array, y: Int32Array, opts: DecisionOptions) {
    const s = new QuerySetup(this, t, x0, y, opts);
    const { n, d } = s;
    const { rngs, stopped, report, start } = await openDecision(s, x0, opts);
    const best = start.x;
    const adv = Uint8Array.from(start.success);
    let lost = 0;
    for (let i = 0; i < n; i++) {
      if (start.settled[i]) stopped[i] = 1;
      else if (!start.ok[i]) {
        stopped[i] = 1;
        lost++;
        best.set(x0.subarray(i * d, (i + 1) * d), i * d);
      } else adv[i] = 1;
      if (adv[i] && opts.earlyStop === true && distance(x0, best, i, d, 'l2') <= s.eps * (1 - 1e-6)) stopped[i] = 1;
    }
    const sph = new Float64Array(n).fill(SPHERICAL_STEP);
    const src = new Float64Array(n).fill(SOURCE_STEP);
    const sphStats = range(n).map(() => new Window(100));
    const stepStats = range(n).map(() => new Window(30));
    const eta = new Float64Array(d);
    const sd = new Float64Array(d);
    for (let step = 1; ; step++) {
      for (let i = 0; i < n; i++) if (!stopped[i] && (src[i] < CONVERGENCE || s.left(i) < 1)) stopped[i] = 1;
      const act = range(n).filter((i) => !stopped[i]);
      if (!act.length) break;
      const check = step % CHECK_EVERY === 0;
      const withSph = act.filter((i) => check && s.left(i) >= 2);
      const cand = new Float32Array(act.length * d);
      const spherical = new Float32Array(withSph.length * d);
      const sourceNorm = new Float64Array(act.length);
      act.forEach((i, r) => {
        const o = i * d;
        const rng = rngs[i];
        let sn = 0;
        for (let j = 0; j < d; j++) {
          sd[j] = x0[o + j] - best[o + j];
          sn += sd[j] * sd[j];
        }
        sn = Math.sqrt(sn);
        sourceNorm[r] = sn;
        let dot = 0;
        for (let j = 0; j < d; j++) {
          eta[j] = rng.normal();
          dot += (eta[j] * sd[j]) / sn;
        }
        let en = 0;
        for (let j = 0; j < d; j++) {
          eta[j] -= (dot * sd[j]) / sn;
          en += eta[j] * eta[j];
        }
        const scale = (sph[i] * sn) / Math.sqrt(en);
        const onSphere = Math.sqrt(sph[i] * sph[i] + 1);
        const row = cand.subarray(r * d, (r + 1) * d);
        let nn = 0;
        for (let j = 0; j < d; j++) {
          const v = x0[o + j] + (eta[j] * scale - sd[j]) / onSphere;
          row[j] = v < 0 ? 0 : v > 1 ? 1 : v;
          nn += (x0[o + j] - row[j]) ** 2;
        }
        nn = Math.sqrt(nn);
        const k = withSph.indexOf(i);
        if (k >= 0) spherical.set(row, k * d);
        const len = Math.max(src[i] * sn + nn - sn, 0) / (nn || 1);
        for (let j = 0; j < d; j++) {
          const v = row[j] + len * (x0[o + j] - row[j]);
          row[j] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
      });
      const both = new Float32Array(cand.length + spherical.length);
      both.set(cand);
      both.set(spherical, cand.length);
      const res = await isAdversarial(s, [...act, ...withSph], both);
      act.forEach((i, r) => {
        const o = i * d;
        let dist = 0;
        for (let j = 0; j < d; j++) dist += (x0[o + j] - cand[r * d + j]) ** 2;
        if (res[r] && Math.sqrt(dist) < sourceNorm[r]) {
          best.set(cand.subarray(r * d, (r + 1) * d), o);
          if (opts.earlyStop === true && Math.sqrt(dist) <= s.eps * (1 - 1e-6)) stopped[i] = 1;
        }
      });
      withSph.forEach((i, k) => {
        sphStats[i].push(res[act.length + k]);
        stepStats[i].push(res[act.indexOf(i)]);
        if (sphStats[i].full) {
          const p = sphStats[i].mean();
          if (p > 0.5) {
            sph[i] *= ADAPTATION;
            src[i] *= ADAPTATION;
            sphStats[i].clear();
          } else if (p < 0.2) {
            sph[i] /= ADAPTATION;
            src[i] /= ADAPTATION;
            sphStats[i].clear();
          }
        }
        if (stepStats[i].full) {
          const p = stepStats[i].mean();
          if (p > 0.25) {
            src[i] *= ADAPTATION;
            stepStats[i].clear();
          } else if (p < 0.1) {
            src[i] /= ADAPTATION;
            stepStats[i].clear();
          }
        }
      });
      report();
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
