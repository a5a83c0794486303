/**
 * Stateful query-attack detection per caller, after Blacklight (Li, Shan, Wenger, Zhang, Zheng & Zhao,
 * "Blacklight: Scalable Defense for Neural Networks against Query-Based Black-Box Attacks", USENIX
 * Security 2022), in the spirit of Chen, Carlini & Wagner's stateful detection (2019).
 *
 * Fingerprint of a query x ∈ [0,1]^d (the model input, flattened row-major, d = H·W·C):
 *   1. quantise q_i = ⌊255·x_i / step⌋                          (Blacklight §4.1, step 50)
 *   2. hash every sliding window (q_i … q_{i+w-1}), stride 1      (w = 20)
 *   3. keep the K largest distinct hash values                    (K = 50)
 * Two queries are near-duplicates when their fingerprints share ≥ T hashes (T = 25). Query-based
 * attacks (Square, SimBA, HopSkipJump, …) send long runs of small perturbations of one image, so almost
 * every query matches an earlier one; independent clinical images almost never do.
 *
 * A caller is under attack when, among its last `alertWindow` queries, at least `alertFraction` matched
 * an earlier query of the same caller (looked up among its last `history` fingerprints).
 * Hashes are 32-bit FNV-1a (the paper uses truncated SHA-256; only equality matters here).
 */
export interface DetectorOptions {
  quantStep: number;
  windowSize: number;
  topK: number;
  matchThreshold: number;
  history: number;
  alertFraction: number;
  alertWindow: number;
}

export const BLACKLIGHT_DEFAULTS: DetectorOptions = {
  quantStep: 50,
  windowSize: 20,
  topK: 50,
  matchThreshold: 25,
  history: 1000,
  alertFraction: 0.5,
  alertWindow: 10,
};

/** The K largest distinct window hashes of a quantised input. */
export function fingerprint(
  x: Float32Array,
  o: Pick<DetectorOptions, 'quantStep' | 'windowSize' | 'topK'>,
): Uint32Array {
  const d = x.length;
  const q = new Uint8Array(d);
  for (let i = 0; i < d; i++) q[i] = Math.floor(Math.min(255, Math.max(0, Math.round(x[i] * 255))) / o.quantStep);
  const w = Math.min(o.windowSize, d);
  const hashes = new Set<number>();
  for (let s = 0; s + w <= d; s++) {
    let h = 0x811c9dc5;
    for (let j = 0; j < w; j++) {
      h ^= q[s + j];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    hashes.add(h);
  }
  const all = Uint32Array.from(hashes).sort();
  return all.slice(Math.max(0, all.length - o.topK));
}

interface CallerState {
  /** hash → ids of remembered queries holding it. */
  table: Map<number, number[]>;
  /** Fingerprints of remembered queries, oldest first, with their ids. */
  ring: Array<{ id: number; fp: Uint32Array }>;
  nextId: number;
  recent: boolean[];
  queries: number;
  matched: number;
  underAttack: boolean;
  /** Query count at which the caller was first declared under attack. */
  detectedAt: number | null;
}

export interface QueryVerdict {
  /** Largest number of hashes shared with one earlier query of this caller. */
  maxShared: number;
  matched: boolean;
  underAttack: boolean;
  /** True on the query that moved the caller into the under-attack state. */
  newlyDetected: boolean;
  queries: number;
}

export class QueryDetector {
  private callers = new Map<string, CallerState>();
  constructor(
    readonly opts: DetectorOptions = BLACKLIGHT_DEFAULTS,
    private maxCallers = 100_000,
  ) {}

  observe(caller: string, x: Float32Array): QueryVerdict {
    let s = this.callers.get(caller);
    if (!s) {
      if (this.callers.size >= this.maxCallers) this.callers.delete(this.callers.keys().next().value!);
      s = {
        table: new Map(),
        ring: [],
        nextId: 0,
        recent: [],
        queries: 0,
        matched: 0,
        underAttack: false,
        detectedAt: null,
      };
      this.callers.set(caller, s);
    }
    const fp = fingerprint(x, this.opts);
    const counts = new Map<number, number>();
    let maxShared = 0;
    for (const h of fp) {
      const ids = s.table.get(h);
      if (!ids) continue;
      for (const id of ids) {
        const c = (counts.get(id) ?? 0) + 1;
        counts.set(id, c);
        if (c > maxShared) maxShared = c;
      }
    }
    const matched = maxShared >= this.opts.matchThreshold;
    const id = s.nextId++;
    s.ring.push({ id, fp });
    for (const h of fp) {
      const ids = s.table.get(h);
      if (ids) ids.push(id);
      else s.table.set(h, [id]);
    }
    if (s.ring.length > this.opts.history) {
      const old = s.ring.shift()!;
      for (const h of old.fp) {
        const ids = s.table.get(h)!;
        const k = ids.indexOf(old.id);
        if (k >= 0) ids.splice(k, 1);
        if (!ids.length) s.table.delete(h);
      }
    }
    s.queries++;
    if (matched) s.matched++;
    s.recent.push(matched);
    if (s.recent.length > this.opts.alertWindow) s.recent.shift();
    const frac = s.recent.filter(Boolean).length / this.opts.alertWindow;
    const was = s.underAttack;
    if (!was && s.recent.length >= this.opts.alertWindow && frac >= this.opts.alertFraction) {
      s.underAttack = true;
      s.detectedAt = s.queries;
    }
    return { maxShared, matched, underAttack: s.underAttack, newlyDetected: !was && s.underAttack, queries: s.queries };
  }

  state(caller: string): { queries: number; matched: number; underAttack: boolean; detectedAt: number | null } | null {
    const s = this.callers.get(caller);
    return s ? { queries: s.queries, matched: s.matched, underAttack: s.underAttack, detectedAt: s.detectedAt } : null;
  }

  /** Forget a caller (e.g. after an administrator clears it). */
  reset(caller: string): void {
    this.callers.delete(caller);
  }
}
