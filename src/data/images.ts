/**
 * The images an evaluation, an attack or a training step runs on: a whole split, or a seeded sample of
 * it (splits can be sorted by class), as [0,1] floats with their labels.
 */
import { Rng } from '../engine/index.js';
import type { Split } from './dataset.js';

export interface Images {
  /** n × H × W × C values in [0,1]. */
  x: Float32Array;
  /** n × labelWidth labels. */
  labels: Int32Array;
  n: number;
  shape: [number, number, number];
  /** Original indices in the split (for records). */
  indices?: number[];
}

export function selectImages(split: Split, limit?: number, seed = 0): Images {
  const per = split.height * split.width * split.channels;
  let indices = Array.from({ length: split.n }, (_, i) => i);
  if (limit !== undefined && limit < split.n) {
    const rng = new Rng(seed ^ 0x1a7e);
    indices = Array.from((rng.shuffle(Int32Array.from(indices)) as Int32Array).subarray(0, limit)).sort(
      (a, b) => a - b,
    );
  }
  const x = new Float32Array(indices.length * per);
  const labels = new Int32Array(indices.length * split.labelWidth);
  const scale = split.images instanceof Uint8Array ? 1 / 255 : 1;
  indices.forEach((src, j) => {
    for (let k = 0; k < per; k++) x[j * per + k] = split.images[src * per + k] * scale;
    labels.set(split.labels.subarray(src * split.labelWidth, (src + 1) * split.labelWidth), j * split.labelWidth);
  });
  return { x, labels, n: indices.length, shape: [split.height, split.width, split.channels], indices };
}

/** Positions [start, end) of a selection of images (indices kept). */
export function sliceImages(img: Images, start: number, end: number): Images {
  if (start === 0 && end === img.n) return img;
  const per = img.shape[0] * img.shape[1] * img.shape[2];
  const lw = img.labels.length / Math.max(1, img.n);
  return {
    x: img.x.slice(start * per, end * per),
    labels: img.labels.slice(start * lw, end * lw),
    n: end - start,
    shape: img.shape,
    indices: (img.indices ?? Array.from({ length: img.n }, (_, i) => i)).slice(start, end),
  };
}
