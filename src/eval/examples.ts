/**
 * Example images for people: the original, the adversarial image and the difference amplified to
 * the full grey range (0.5 + δ / (2·max|δ|), so mid-grey means "unchanged"), as PNG.
 * PNGs are 8-bit: they show the attack, they are not the exact float adversarial input.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { encodePng } from '../data/png-encode.js';

export { encodePng };
import type { SampleRecord } from './robustness.js';

/** The amplified difference image. */
export function amplifiedDifference(a: ArrayLike<number>, b: ArrayLike<number>): Float32Array {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(b[i] - a[i]));
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = m > 0 ? 0.5 + (b[i] - a[i]) / (2 * m) : 0.5;
  return out;
}

export interface Example {
  index: number;
  label: string;
  cleanPrediction: string;
  adversarialPrediction: string;
  cleanConfidence: number;
  adversarialConfidence: number;
  linf: number;
  original: Buffer;
  adversarial: Buffer;
  difference: Buffer;
}

/** Pick up to `count` examples (successful attacks first) and encode them. */
export function makeExamples(
  records: SampleRecord[],
  x: Float32Array,
  xAdv: Float32Array,
  shape: [number, number, number],
  classes: string[],
  count = 6,
  scale = 1,
): Example[] {
  const [h, w, c] = shape;
  const d = h * w * c;
  const name = (v: number | number[]): string =>
    Array.isArray(v)
      ? v
          .map((b, j) => (b ? classes[j] : null))
          .filter(Boolean)
          .join(', ') || 'none'
      : (classes[v] ?? String(v));
  const order = records
    .map((r, i) => ({ r, i }))
    .filter(({ r }) => r.attacked)
    .sort((a, b) => Number(b.r.success) - Number(a.r.success) || a.i - b.i)
    .slice(0, count);
  return order.map(({ r, i }) => {
    const a = x.subarray(i * d, (i + 1) * d);
    const b = xAdv.subarray(i * d, (i + 1) * d);
    return {
      index: r.index,
      label: name(r.label),
      cleanPrediction: name(r.cleanPrediction),
      adversarialPrediction: name(r.adversarialPrediction),
      cleanConfidence: r.cleanConfidence,
      adversarialConfidence: r.adversarialConfidence,
      linf: r.linf,
      original: encodePng(a, h, w, c, scale),
      adversarial: encodePng(b, h, w, c, scale),
      difference: encodePng(amplifiedDifference(a, b), h, w, c, scale),
    };
  });
}

/** Write examples as PNG files plus an index.json describing them. */
export function saveExamples(dir: string, examples: Example[], prefix = ''): string[] {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const index = examples.map((e) => {
    const base = `${prefix}${String(e.index).padStart(5, '0')}`;
    const names = {
      original: `${base}-original.png`,
      adversarial: `${base}-adversarial.png`,
      difference: `${base}-difference.png`,
    };
    for (const [k, f] of Object.entries(names)) {
      writeFileSync(path.join(dir, f), e[k as 'original']);
      files.push(path.join(dir, f));
    }
    const { original: _o, adversarial: _a, difference: _d, ...meta } = e;
    return { ...meta, files: names };
  });
  const idxFile = path.join(dir, `${prefix}index.json`);
  writeFileSync(idxFile, JSON.stringify(index, null, 2) + '\n');
  files.push(idxFile);
  return files;
}
