/**
 * Tamper class "adversarial perturbation produced by medshield's own attacks": FGSM and PGD
 * (src/attacks) against a small seeded linear classifier on the first frame of each signed native-pixel
 * DICOM file; the adversarial image is written back into the signed file's pixel data (same bytes
 * otherwise) and must be rejected by verification. The classifier is untrained — the point is the
 * shape of the change (a dense L∞-bounded perturbation computed by the attack code), not its effect on
 * a real model.
 *   node dist/bench/signatures/adversarial.js [--seeds 4]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { tf, initEngine } from '../../src/engine/index.js';
import { fgsm } from '../../src/attacks/algorithms/fgsm.js';
import { pgd } from '../../src/attacks/algorithms/pgd.js';
import type { Attack } from '../../src/attacks/types.js';
import type { DifferentiableModel } from '../../src/models/model.js';
import type { ModelCard } from '../../src/models/card.js';
import { MedshieldError } from '../../src/errors.js';
import { parseDicom, findElement, usValue, PIXEL_DATA } from '../../src/provenance/dicom-parse.js';
import { signDicom } from '../../src/provenance/sign.js';
import { verifyDicom } from '../../src/provenance/verify.js';
import { makePki, dicomFiles } from './runs.js';

const arg = (name: string, d: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : d;
};

function linearModel(h: number, w: number, seed: number): DifferentiableModel {
  const W = tf.randomNormal([h * w, 2], 0, 1 / Math.sqrt(h * w), 'float32', seed);
  const logits = (x: tf.Tensor4D): tf.Tensor2D => tf.matMul(tf.reshape(x, [x.shape[0], h * w]), W) as tf.Tensor2D;
  return {
    differentiable: true,
    inputShape: [h, w, 1],
    classes: ['a', 'b'],
    task: 'multiclass',
    featureNames: ['logits'],
    card: {
      input: { shape: [h, w, 1] },
      dataset: { classes: ['a', 'b'], task: 'multiclass' },
      architecture: { name: 'linear' },
    } as unknown as ModelCard,
    logits,
    probs: (x) => tf.softmax(logits(x)),
    features: (x) => logits(x),
    async predictProbs(x: Float32Array, n: number) {
      const t = tf.tidy(() => tf.softmax(logits(tf.tensor4d(x, [n, h, w, 1]))));
      const d = (await t.data()) as Float32Array;
      t.dispose();
      return d;
    },
  };
}

await initEngine({ backend: 'cpu' });
const seeds = arg('--seeds', 4);
const pki = await makePki();
let total = 0,
  rejected = 0,
  changedPixels = 0;
for (const f of dicomFiles()) {
  const signed = (await signDicom(readFileSync(f), { signer: pki.rsa })).bytes;
  const p = parseDicom(signed);
  const px = findElement(p.dataset, PIXEL_DATA);
  const rows = usValue(p, findElement(p.dataset, 0x00280010)) ?? 0;
  const cols = usValue(p, findElement(p.dataset, 0x00280011)) ?? 0;
  const bits = usValue(p, findElement(p.dataset, 0x00280100)) ?? 0;
  const spp = usValue(p, findElement(p.dataset, 0x00280002)) ?? 1;
  if (
    !px ||
    px.fragments ||
    spp !== 1 ||
    (bits !== 8 && bits !== 16) ||
    rows * cols === 0 ||
    rows * cols > 512 * 512 ||
    px.length < rows * cols * (bits / 8)
  )
    continue;
  const dv = new DataView(signed.buffer, signed.byteOffset + px.valueOffset, rows * cols * (bits / 8));
  const get = (i: number) => (bits === 16 ? dv.getUint16(i * 2, px.littleEndian) : dv.getUint8(i));
  let lo = Infinity,
    hi = -Infinity;
  for (let i = 0; i < rows * cols; i++) {
    const v = get(i);
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  const span = Math.max(1, hi - lo);
  const x = new Float32Array(rows * cols);
  for (let i = 0; i < x.length; i++) x[i] = (get(i) - lo) / span;
  for (const attack of [fgsm, pgd] as Attack[])
    for (const eps of [1 / 255, 2 / 255, 4 / 255, 8 / 255])
      for (let s = 0; s < seeds; s++) {
        const model = linearModel(rows, cols, 1000 + s);
        const res = await attack.run(model, x, Int32Array.of(s % 2), {
          eps,
          steps: attack === pgd ? 5 : undefined,
          seed: s,
          earlyStop: false,
        });
        const out = Buffer.from(signed);
        const odv = new DataView(out.buffer, out.byteOffset + px.valueOffset, rows * cols * (bits / 8));
        let changed = 0;
        for (let i = 0; i < x.length; i++) {
          const v = Math.round(lo + res.xAdv[i] * span);
          if (v === get(i)) continue;
          changed++;
          if (bits === 16) odv.setUint16(i * 2, v, px.littleEndian);
          else odv.setUint8(i, v);
        }
        if (!changed) continue;
        total++;
        changedPixels += changed;
        let ok = false;
        try {
          ok = (await verifyDicom(out, { trust: [pki.caDer], requireSignature: true })).valid;
        } catch (e) {
          if (!(e instanceof MedshieldError)) throw e;
        }
        if (!ok) rejected++;
        else console.log(`  ! accepted: ${attack.name} ε=${eps.toFixed(4)} on ${path.basename(f)}`);
      }
}
console.log(
  `adversarial tamper run: ${total} FGSM/PGD mutants of signed native-pixel files, ${rejected} rejected, ` +
    `${total - rejected} false accepts, ` +
    `${(changedPixels / Math.max(1, total)).toFixed(0)} pixels changed on average`,
);
process.exit(total - rejected ? 1 : 0);
