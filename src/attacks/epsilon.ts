/**
 * ε as users write it: a decimal (`0.0314`) or a fraction of the 8-bit grey scale (`8/255`).
 * Bounds: L∞ (pixel units) and L0 (fraction of values) need 0 < ε ≤ 1; L2 and L1 need ε > 0 and at
 * most the largest possible distance in [0,1]^d (√d and d).
 */
import { badArgument } from '../errors.js';
import type { Norm } from './types.js';

export function parseEpsilon(text: string): number {
  const t = text.trim();
  const m = /^(-?[0-9]*\.?[0-9]+(?:e-?[0-9]+)?)(?:\s*\/\s*([0-9]*\.?[0-9]+))?$/i.exec(t);
  if (!m) throw badArgument(`ε must be a number or a fraction like 8/255, got '${text}'`);
  const v = m[2] !== undefined ? Number(m[1]) / Number(m[2]) : Number(m[1]);
  if (!Number.isFinite(v) || v <= 0) throw badArgument(`ε must be greater than 0, got '${text}'`);
  return v;
}

export function checkEpsilon(eps: number, norm: Norm, d: number, shown = String(eps)): void {
  const max = norm === 'l2' ? Math.sqrt(d) : norm === 'l1' ? d : 1;
  if (!(eps > 0)) throw badArgument(`ε must be greater than 0, got ${shown}`);
  if (eps > max)
    throw badArgument(
      `ε must be at most ${norm === 'linf' || norm === 'l0' ? 1 : max.toFixed(2)} for the ${norm} norm, got ${shown}`,
    );
}

/** A comma-separated list of ε values, each as `parseEpsilon` reads it; keeps the user's spelling. */
export function parseEpsilonList(text: string): Array<{ value: number; text: string }> {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length);
  if (!parts.length) throw badArgument('--eps needs at least one value');
  return parts.map((p) => ({ value: parseEpsilon(p), text: p }));
}
