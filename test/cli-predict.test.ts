import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { loadDataset } from '../src/data/dataset.js';
import { cli, DICOM_DIR } from './helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'ms-predict-'));

/** Write test-split chest X-rays of the embedded set as PNG (8-bit grey, 16-bit grey) and JPEG files. */
async function writeImages(): Promise<{ files: string[]; labels: number[] }> {
  const d = await loadDataset('pneumoniamnist');
  const te = d.splits.test;
  const files: string[] = [];
  const labels: number[] = [];
  for (let i = 0; i < 6; i++) {
    const px = (te.images as Uint8Array).subarray(i * 784, (i + 1) * 784);
    const kind = i % 3;
    let file: string;
    if (kind === 0) {
      const png = new PNG({
        width: 28,
        height: 28,
        colorType: 0,
        inputColorType: 0,
        bitDepth: 8,
        inputHasAlpha: false,
      });
      png.data = Buffer.from(px);
      file = path.join(tmp, `x${i}.png`);
      writeFileSync(file, PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false }));
    } else if (kind === 1) {
      const png = new PNG({
        width: 28,
        height: 28,
        colorType: 0,
        inputColorType: 0,
        bitDepth: 16,
        inputHasAlpha: false,
      });
      const buf = Buffer.alloc(784 * 2);
      for (let j = 0; j < 784; j++) buf.writeUInt16BE(px[j] * 257, j * 2);
      png.data = buf;
      file = path.join(tmp, `x${i}-16bit.png`);
      writeFileSync(file, PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 16, inputHasAlpha: false }));
    } else {
      const rgba = Buffer.alloc(784 * 4);
      for (let j = 0; j < 784; j++) {
        rgba[j * 4] = rgba[j * 4 + 1] = rgba[j * 4 + 2] = px[j];
        rgba[j * 4 + 3] = 255;
      }
      file = path.join(tmp, `x${i}.jpg`);
      writeFileSync(file, jpeg.encode({ data: rgba, width: 28, height: 28 }, 100).data);
    }
    files.push(file);
    labels.push(te.labels[i]);
  }
  return { files, labels };
}

test('predict classifies PNG, 16-bit PNG and JPEG chest X-rays like eval does', async () => {
  const { files, labels } = await writeImages();
  const r = cli(['predict', '--model', 'default', ...files, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  assert.equal(rows.length, files.length);
  let right = 0;
  rows.forEach((row: { file: string; label: number; className: string; probabilities: number[] }, i: number) => {
    assert.equal(row.file, files[i]);
    assert.ok(['normal', 'pneumonia'].includes(row.className));
    assert.equal(row.probabilities.length, 2);
    assert.ok(Math.abs(row.probabilities[0] + row.probabilities[1] - 1) < 1e-4);
    if (row.label === labels[i]) right++;
  });
  assert.ok(right >= 4, `${right}/6 right`);
  // The 8-bit and 16-bit PNG of the same pixels give the same answer as the lossless path in eval.
});

test('predict reads DICOM: a chest CR film without preamble and a compressed CT', () => {
  const files = ['CR-MONO1-10-chest.dcm', 'D_CLUNIE_CT1_RLE_FRAGS.dcm', 'MR_small_jp2klossless.dcm'].map((f) =>
    path.join(DICOM_DIR, f),
  );
  const r = cli(['predict', '--model', 'default', ...files, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  assert.equal(rows.length, 3);
  for (const row of rows) assert.ok(row.probabilities.every((p: number) => p >= 0 && p <= 1));
});

for (const [name, width] of [
  ['default', 64],
  ['resnet18-w32', 32],
] as const) {
  test(`the shipped model '${name}' (ResNet-18 width ${width}) meets its card on the embedded test split`, () => {
    const card = JSON.parse(readFileSync(path.join(process.cwd(), 'models', name, 'model-card.json'), 'utf8'));
    const r = cli(['eval', '--model', name, '--dataset', 'pneumoniamnist', '--split', 'test', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const o = JSON.parse(r.stdout);
    assert.equal(o.n, 624);
    assert.ok(
      Math.abs(o.accuracy - card.metrics.test.accuracy) <= 0.0017,
      `eval ${o.accuracy} vs card ${card.metrics.test.accuracy}`,
    );
    assert.ok(Math.abs(o.auc - card.metrics.test.auc) <= 0.001, `eval ${o.auc} vs card ${card.metrics.test.auc}`);
    assert.ok(o.accuracy >= 0.85 && o.auc >= 0.94, `${name} model ${o.accuracy} / ${o.auc}`);
    assert.equal(card.architecture.name, 'resnet18');
    // the default is the full-width network (#5: "retrain the shipped default at full ResNet-18 width")
    assert.equal(card.architecture.width, width);
  });
}

test('demo runs on the embedded default: clean numbers, attacks, a detector, the informed attacker, signatures', () => {
  const r = cli(['demo', '--json', '--attack-images', '12'], {
    env: { MEDSHIELD_QUIET: '0', MEDSHIELD_PROGRESS: 'plain' },
  });
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.equal(o.dataset.n, 624);
  assert.ok(o.test.accuracy >= 0.85);
  assert.deepEqual(
    o.attacks.map((a: { attack: string }) => a.attack),
    ['pgd', 'pgd', 'square', 'transfer'],
  );
  for (const a of o.attacks) {
    assert.equal(a.n, 12);
    assert.ok(a.robustAccuracy <= a.cleanAccuracy);
  }
  assert.ok(o.attacks[1].robustAccuracy <= 0.1, `PGD at 8/255 leaves ${o.attacks[1].robustAccuracy}`);
  assert.equal(o.detection.detector, 'kd_bu');
  assert.ok(
    o.adaptive.fooledAndUndetected >= o.detection.nonAdaptive.fooledAndUndetected,
    `adaptive ${o.adaptive.fooledAndUndetected} vs non-adaptive ${o.detection.nonAdaptive.fooledAndUndetected}`,
  );
  assert.equal(o.signatures.original.valid, true, o.signatures.original.reason);
  assert.equal(o.signatures.tampered.valid, false, 'the tampered film must be rejected');
  assert.ok(!('stagesPending' in o));
  // the plan printed first, and each stage's measured time beside its estimate
  assert.equal(o.plan.attackImages, 12);
  // Square and the detector act take the first min(n, 64) films: all 12 here
  assert.equal(o.plan.squareImages, 12);
  assert.equal(o.detection.films, 12);
  assert.equal(o.plan.scaled, false);
  assert.deepEqual(
    o.stages.map((s: { stage: string }) => s.stage),
    ['evaluate', 'pgd 2/255', 'pgd 8/255', 'square 8/255', 'transfer 8/255', 'detector fit', 'informed attacker'],
  );
  assert.match(r.stderr, /^plan \(/m);
  const human = cli(['demo', '--attack-images', '4']);
  assert.equal(human.code, 0);
  assert.match(human.stdout, /accuracy 0\.\d{4}, AUC 0\.\d{4}/);
  assert.match(human.stdout, /black-box Square/);
  assert.match(human.stdout, /Adaptive/);
  assert.match(human.stdout, /REJECTED/);
});
