/**
 * Small shared pieces of the verbs detect, scorecard, replicate and demo (part B of the library API)
 * that the shells need besides the verbs: duration formatting, comma lists.
 */
export { formatDuration } from '../studies/cost.js';

/** A comma-separated list as trimmed, non-empty items ('a, b,,c' → ['a','b','c']). */
export const commaList = (s: string): string[] =>
  s
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);

/** The one-line exit-2 error, for shells that check their own flags. */
export { badArgument } from '../errors.js';
