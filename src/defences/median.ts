/**
 * Median filter, the second "feature squeezer" of Xu, Evans & Qi 2018 (NDSS): every value is replaced
 * by the median of its k×k neighbourhood in the same channel, x'ᵢⱼ = median{x_{i+a, j+b} : |a|,|b| ≤ ⌊k/2⌋},
 * with reflect padding at the border (scipy.ndimage 'reflect': … b a | a b c …). Sparse, large changes
 * (salt-and-pepper, L0 attacks such as JSMA) are removed; edges are kept better than by blurring.
 * Xu et al. use 2×2 and 3×3 windows; here k is odd (a centred window), default 3. Deterministic.
 *
 *   medshield defend --model default --defence median:k=3 --attacks fgsm,pgd --eps 2/255 --json
 */
import type { InputTransform } from './types.js';
import { specText, type TransformFactory } from './wrap.js';
import { medianFilter } from './ops.js';

const REFERENCE = 'Xu et al. 2018 (feature squeezing): k×k median filter, reflect padding';

export function medianTransform(k = 3): InputTransform {
  return {
    spec: specText('median', { k }),
    reference: REFERENCE,
    randomized: false,
    apply: (x, n, shape) => medianFilter(x.subarray(0, n * shape[0] * shape[1] * shape[2]), n, shape, k),
  };
}

export const median: TransformFactory = {
  name: 'median',
  summary: 'k×k median filter (odd k), reflect padding',
  reference: REFERENCE,
  randomized: false,
  params: { k: { default: 3, min: 1, max: 15, integer: true, odd: true, help: 'odd window size 1–15' } },
  make: (p) => medianTransform(p.k),
};
