/**
 * Query-based attacks driven through the gateway's HTTP endpoint (PNG bodies), to evaluate the stateful
 * detector, plus benign replay. Both are deliberately simple, seeded, and bounded by a query budget:
 *
 * - Square attack (Andriushchenko, Croce, Flammarion & Hein, ECCV 2020), L∞ version, score-based: start
 *   from vertical ±ε stripes, then each step redraws one random square (side from the paper's
 *   p-schedule) to ±ε and keeps it if the true-class score drops.
 * - SimBA (Guo et al., ICML 2019), pixel basis: try x ± ε·e_i for a random pixel i, keep a step that
 *   lowers the true-class score.
 *
 * The score is the gateway's `confidence` (top-1 probability, rounded by the output policy): the
 * true-class probability is conf when the label is the true class and 1 − conf otherwise (binary task).
 */
import { Rng } from '../../src/engine/random.js';
import { pngBytes, infer } from './fixtures.js';
import { ATTACK_FLAG } from '../../src/gateway/plugins/query-guard.js';

export interface AttackRun { queries: number; detectedAt: number | null; blockedAt: number | null; success: boolean }

const toU8 = (x: Float32Array): Uint8Array => Uint8Array.from(x, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));

async function score(base: string, key: string, x: Float32Array, label: number): Promise<{ p: number; flagged: boolean; blocked: boolean }> {
  const r = await infer(base, key, pngBytes(toU8(x)), 'image/png');
  if (r.status === 429) return { p: 1, flagged: true, blocked: true };
  if (r.status !== 200) throw new Error(`gateway answered ${r.status}: ${r.body}`);
  const conf: number = r.json.confidence ?? 1;
  return { p: r.json.label === label ? conf : 1 - conf, flagged: r.json.flags.includes(ATTACK_FLAG), blocked: false };
}

function track(run: AttackRun, s: { flagged: boolean; blocked: boolean }): void {
  run.queries++;
  if (s.flagged && run.detectedAt === null) run.detectedAt = run.queries;
  if (s.blocked && run.blockedAt === null) run.blockedAt = run.queries;
}

export async function squareAttack(base: string, key: string, x0: Uint8Array, label: number, o: { eps: number; budget: number; seed: number; h?: number; w?: number; stopOnSuccess?: boolean }): Promise<AttackRun> {
  const h = o.h ?? 28, w = o.w ?? 28;
  const rng = new Rng(o.seed);
  const x = Float32Array.from(x0, (v) => v / 255);
  const clip = (v: number, i: number) => Math.min(1, Math.max(0, Math.min(x[i] + o.eps, Math.max(x[i] - o.eps, v))));
  const adv = new Float32Array(x.length);
  for (let c = 0; c < w; c++) { const s = rng.uniform() < 0.5 ? -o.eps : o.eps; for (let r = 0; r < h; r++) adv[r * w + c] = clip(x[r * w + c] + s, r * w + c); }
  const run: AttackRun = { queries: 0, detectedAt: null, blockedAt: null, success: false };
  let s = await score(base, key, adv, label); track(run, s);
  let best = s.p;
  while (run.queries < o.budget && !s.blocked && (best >= 0.5 || o.stopOnSuccess === false)) {
    const pFrac = 0.05 * Math.pow(0.5, Math.floor(Math.log2(1 + run.queries / 50)));   // p-schedule (halving)
    const side = Math.max(1, Math.round(Math.sqrt(pFrac * h * w)));
    const r0 = Math.floor(rng.uniform() * (h - side + 1)), c0 = Math.floor(rng.uniform() * (w - side + 1));
    const cand = adv.slice();
    const sign = rng.uniform() < 0.5 ? -o.eps : o.eps;
    for (let r = r0; r < r0 + side; r++) for (let c = c0; c < c0 + side; c++) cand[r * w + c] = clip(x[r * w + c] + sign, r * w + c);
    s = await score(base, key, cand, label); track(run, s);
    if (s.p < best) { best = s.p; adv.set(cand); }
  }
  run.success = best < 0.5;
  return run;
}

export async function simbaAttack(base: string, key: string, x0: Uint8Array, label: number, o: { eps: number; budget: number; seed: number; stopOnSuccess?: boolean }): Promise<AttackRun> {
  const rng = new Rng(o.seed);
  const adv = Float32Array.from(x0, (v) => v / 255);
  const order = Array.from(adv.keys());
  for (let i = order.length - 1; i > 0; i--) { const j = Math.floor(rng.uniform() * (i + 1)); [order[i], order[j]] = [order[j], order[i]]; }
  const run: AttackRun = { queries: 0, detectedAt: null, blockedAt: null, success: false };
  let s = await score(base, key, adv, label); track(run, s);
  let best = s.p;
  for (let k = 0; run.queries < o.budget && !s.blocked && (best >= 0.5 || o.stopOnSuccess === false) && k < order.length; k++) {
    const i = order[k];
    for (const d of [o.eps, -o.eps]) {
      const cand = adv.slice();
      cand[i] = Math.min(1, Math.max(0, cand[i] + d));
      s = await score(base, key, cand, label); track(run, s);
      if (s.p < best) { best = s.p; adv.set(cand); break; }
      if (s.blocked || run.queries >= o.budget) break;
    }
  }
  run.success = best < 0.5;
  return run;
}

/** Replay benign images (one caller); returns how many answers carried the attack flag. */
export async function benignReplay(base: string, key: string, images: Uint8Array[]): Promise<{ requests: number; flagged: number; firstFlagAt: number | null }> {
  let flagged = 0; let firstFlagAt: number | null = null;
  for (let i = 0; i < images.length; i++) {
    const r = await infer(base, key, pngBytes(images[i]), 'image/png');
    const f = r.status === 429 || (r.status === 200 && r.json.flags.includes(ATTACK_FLAG));
    if (f) { flagged++; firstFlagAt ??= i + 1; }
  }
  return { requests: images.length, flagged, firstFlagAt };
}

/**
 * HopSkipJumpAttack (Chen, Jordan & Wainwright, IEEE S&P 2020), untargeted L2, decision-only: find any
 * misclassified start (uniform noise), binary-search to the boundary, then repeat — estimate the boundary
 * normal from B_t = B0·√t random probes at δ_t = √d·θ·‖x_t − x*‖, step along it with geometric search,
 * binary-search back to the boundary. Uses only the returned label.
 */
export async function hopSkipJump(base: string, key: string, x0: Uint8Array, label: number, o: { budget: number; seed: number; b0?: number }): Promise<AttackRun> {
  const rng = new Rng(o.seed);
  const d = x0.length;
  const x = Float32Array.from(x0, (v) => v / 255);
  const run: AttackRun = { queries: 0, detectedAt: null, blockedAt: null, success: false };
  let blocked = false;
  const adversarial = async (z: Float32Array): Promise<boolean> => {
    const r = await infer(base, key, pngBytes(toU8(z)), 'image/png');
    const s = { flagged: r.status === 429 || (r.status === 200 && r.json.flags.includes(ATTACK_FLAG)), blocked: r.status === 429 };
    track(run, s);
    blocked ||= s.blocked;
    return r.status === 200 && r.json.label !== label;
  };
  const out = () => run.queries >= o.budget || blocked;
  const mix = (a: Float32Array, b: Float32Array, t: number) => Float32Array.from(a, (v, i) => (1 - t) * v + t * b[i]);
  const dist = (a: Float32Array) => Math.sqrt(a.reduce((s, v, i) => s + (v - x[i]) ** 2, 0));
  const theta = 1 / (Math.sqrt(d) * d);
  // Start: a misclassified noise image.
  let adv: Float32Array | null = null;
  while (!adv && !out()) { const z = Float32Array.from({ length: d }, () => rng.uniform()); if (await adversarial(z)) adv = z; }
  if (!adv) return run;
  const toBoundary = async (far: Float32Array): Promise<Float32Array> => {
    let lo = 0, hi = 1;   // mix(x, far, hi) is adversarial
    while (hi - lo > theta * 10 && !out()) { const mid = (lo + hi) / 2; if (await adversarial(mix(x, far, mid))) hi = mid; else lo = mid; }
    return mix(x, far, hi);
  };
  adv = await toBoundary(adv);
  for (let t = 1; !out(); t++) {
    const n = Math.min(Math.round((o.b0 ?? 20) * Math.sqrt(t)), 100);
    const delta = Math.sqrt(d) * theta * dist(adv) * 50;
    const grad = new Float32Array(d);
    const probes: Array<{ u: Float32Array; s: number }> = [];
    for (let b = 0; b < n && !out(); b++) {
      const u = Float32Array.from({ length: d }, () => rng.normal());
      const norm = Math.sqrt(u.reduce((s, v) => s + v * v, 0));
      for (let i = 0; i < d; i++) u[i] /= norm;
      const z = Float32Array.from(adv, (v, i) => Math.min(1, Math.max(0, v + delta * u[i])));
      probes.push({ u, s: (await adversarial(z)) ? 1 : -1 });
    }
    if (!probes.length) break;
    const mean = probes.reduce((s, p) => s + p.s, 0) / probes.length;
    for (const p of probes) for (let i = 0; i < d; i++) grad[i] += (p.s - mean) * p.u[i];
    const gn = Math.sqrt(grad.reduce((s, v) => s + v * v, 0)) || 1;
    let xi = dist(adv) / Math.sqrt(t);
    let cand = adv;
    while (!out()) {
      cand = Float32Array.from(adv, (v, i) => Math.min(1, Math.max(0, v + (xi * grad[i]) / gn)));
      if (await adversarial(cand)) break;
      xi /= 2;
      if (xi < 1e-4) { cand = adv; break; }
    }
    adv = await toBoundary(cand);
  }
  run.success = dist(adv) < Infinity;
  return run;
}
