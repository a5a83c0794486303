/**
 * JPEG re-compression (Dziugaite et al. 2016, "A study of the effect of JPG compression on adversarial
 * images"; Das et al. 2017, "Keeping the bad guys out: protecting and vaccinating deep learning with
 * JPEG compression"). Each image is quantised to 8 bits, encoded as baseline JPEG at quality q with the
 * maintained `jpeg-js` encoder (8×8 DCT, quality-scaled IJG tables, 4:4:4 YCbCr) and decoded again:
 * x' = D(E(round(255·x), q)) / 255. The quantisation of high-frequency DCT coefficients removes much of
 * a small L∞ perturbation. Greyscale images are encoded as R = G = B and read back as the channel mean.
 *
 * Default q = 75 (Das et al. use 20–90; ART's JpegCompression defaults to 50). Deterministic.
 * Speed: jpeg-js's `encode()` builds its Huffman and category tables (≈ 22 ms) on every call, which
 * dominates at 28 px and matters to BPDA (one transform per attack step); its `JPEGEncoder` class is not
 * exported, so it is taken from the module's own source once and one encoder is kept per quality.
 *
 *   medshield defend --model default --defence jpeg:q=75 --attacks fgsm,pgd --eps 2/255 --json
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import type { InputTransform } from './types.js';
import { specText, type TransformFactory } from './wrap.js';

const require = createRequire(import.meta.url);

type Encoder = { encode(img: { data: Uint8Array; width: number; height: number }, q: number): Uint8Array | number[] };
const encoders = new Map<number, Encoder>();

/** One reusable jpeg-js encoder per quality (falls back to the exported `encode` if the class cannot be reached). */
function encoderFor(q: number): (img: { data: Uint8Array; width: number; height: number }) => Uint8Array {
  let e = encoders.get(q);
  if (!e) {
    try {
      const file = require.resolve('jpeg-js/lib/encoder.js');
      const src = readFileSync(file, 'utf8');
      // eslint-disable-next-line @typescript-eslint/no-implied-eval
      const Ctor = new Function('module', 'exports', 'require', `${src}\nreturn JPEGEncoder;`)(
        { exports: {} },
        {},
        require,
      ) as new (
        q: number,
      ) => Encoder;
      e = new Ctor(q);
    } catch {
      const jpeg = require('jpeg-js') as typeof import('jpeg-js');
      e = { encode: (img, qq) => jpeg.encode(img, qq).data };
    }
    encoders.set(q, e);
  }
  const enc = e;
  return (img) => Uint8Array.from(enc.encode(img, q) as ArrayLike<number>);
}
const REFERENCE = "Dziugaite et al. 2016; Das et al. 2017: JPEG re-compression x' = decode(encode(x, q))";

export function jpegTransform(q = 75): InputTransform {
  const jpeg = require('jpeg-js') as typeof import('jpeg-js');
  return {
    spec: specText('jpeg', { q }),
    reference: REFERENCE,
    randomized: false,
    apply(x, n, [h, w, c]) {
      if (c !== 1 && c !== 3) throw new Error(`jpeg: ${c}-channel images are not supported`);
      const d = h * w * c;
      const encode = encoderFor(q);
      const out = new Float32Array(n * d);
      const rgba = new Uint8Array(h * w * 4);
      for (let i = 0; i < n; i++) {
        const img = x.subarray(i * d, (i + 1) * d);
        for (let p = 0; p < h * w; p++) {
          for (let k = 0; k < 3; k++)
            rgba[4 * p + k] = Math.round(255 * Math.min(Math.max(img[p * c + (c === 1 ? 0 : k)], 0), 1));
          rgba[4 * p + 3] = 255;
        }
        const bytes = encode({ data: rgba, width: w, height: h });
        const rgb = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: false }).data;
        const o = out.subarray(i * d, (i + 1) * d);
        for (let p = 0; p < h * w; p++) {
          if (c === 1) o[p] = (rgb[3 * p] + rgb[3 * p + 1] + rgb[3 * p + 2]) / (3 * 255);
          else for (let k = 0; k < 3; k++) o[p * 3 + k] = rgb[3 * p + k] / 255;
        }
      }
      return out;
    },
  };
}

export const jpeg: TransformFactory = {
  name: 'jpeg',
  summary: 'JPEG re-compression at quality q',
  reference: REFERENCE,
  randomized: false,
  params: { q: { default: 75, min: 1, max: 100, integer: true, help: 'JPEG quality 1–100' } },
  make: (p) => jpegTransform(p.q),
};
