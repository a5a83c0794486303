/**
 * Your own images as `--dataset`: an image folder (one sub-folder per class) and a labels CSV, built
 * at test time from PneumoniaMNIST test films written as PNG and from the shared DICOM files, run
 * through `eval`, `attack` and `train` with the shipped models; the seeded stratified split; bad rows
 * (one error line, exit 2) and --skip-bad.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { loadDataset } from '../src/data/dataset.js';
import { loadImageSet, parseCsv, parseSplitRatios } from '../src/data/image-set.js';
import { selectImages } from '../src/data/images.js';
import { cli, isCleanError, DICOM_DIR } from './helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'ms-folder-'));
const N = 60;

function writePng(file: string, px: Uint8Array): void {
  const png = new PNG({ width: 28, height: 28, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  png.data = Buffer.from(px);
  writeFileSync(file, PNG.sync.write(png, { colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false }));
}

/**
 * The attack's seeded sample of N test films (attack --limit N --seed 0), written as PNG into class folders, plus a CSV
 * of the same files.
 */
const pneu = await loadDataset('pneumoniamnist');
const sample = selectImages(pneu.splits.test, N, 0);
const folder = path.join(tmp, 'films');
const csvRows = ['file,label'];
sample.indices!.forEach((src, j) => {
  const cls = pneu.info.classes[pneu.splits.test.labels[src]];
  mkdirSync(path.join(folder, cls), { recursive: true });
  const px = Uint8Array.from(sample.x.subarray(j * 784, (j + 1) * 784), (v) => Math.round(v * 255));
  writePng(path.join(folder, cls, `film-${src}.png`), px);
  csvRows.push(`films/${cls}/film-${src}.png,${cls}`);
});
const csv = path.join(tmp, 'labels.csv');
writeFileSync(csv, csvRows.join('\n') + '\n');

test('an image folder and a CSV of PNG films give the same accuracy and AUC as the .npz they came from', () => {
  const ref = cli([
    'attack',
    '--model',
    'default',
    '--dataset',
    'pneumoniamnist',
    '--limit',
    String(N),
    '--seed',
    '0',
    '--attack',
    'fgsm',
    '--eps',
    '2/255',
    '--json',
  ]);
  assert.equal(ref.code, 0, ref.stderr);
  const want = JSON.parse(ref.stdout);
  for (const spec of [folder, csv]) {
    const records = path.join(tmp, `records-${path.basename(spec)}.csv`);
    const r = cli([
      'attack',
      '--model',
      'default',
      '--dataset',
      spec,
      '--split-ratios',
      '0,0,1',
      '--seed',
      '0',
      '--attack',
      'fgsm',
      '--eps',
      '2/255',
      '--records',
      records,
      '--json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const got = JSON.parse(r.stdout);
    // --records names each image's file; its label is the folder's.
    const rows = parseCsv(readFileSync(records, 'utf8'));
    const fileCol = rows[0].indexOf('file');
    const labelCol = rows[0].indexOf('label');
    assert.equal(rows.length, N + 1);
    for (const row of rows.slice(1))
      assert.equal(pneu.info.classes[Number(row[labelCol])], row[fileCol].split('/').at(-2));
    assert.equal(got.n, N);
    assert.equal(got.cleanAccuracy, want.cleanAccuracy, spec);
    // FGSM is deterministic: the same films (in another order) give the same robust accuracy, within one image.
    assert.ok(
      Math.abs(got.robustAccuracy - want.robustAccuracy) <= 1 / N + 1e-9,
      `${got.robustAccuracy} vs ${want.robustAccuracy}`,
    );
    assert.ok(got.meanLinf <= 2 / 255 + 1e-6);
    assert.equal(got.imageSet.kind, spec === csv ? 'csv' : 'folder');
    assert.deepEqual(got.imageSet.classes, ['normal', 'pneumonia']);
    assert.deepEqual(got.imageSet.split.counts, { train: 0, val: 0, test: N });
    assert.deepEqual(got.imageSet.skipped, []);
  }
  const ev = cli(['eval', '--model', 'default', '--dataset', folder, '--split-ratios', '0,0,1', '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout);
  assert.equal(e.n, N);
  assert.equal(e.accuracy, want.cleanAccuracy);
  assert.ok(e.auc > 0.85, `AUC ${e.auc}`);
});

test('seeded stratified split: per-class counts, recorded, reproducible, changed by --split-seed; a split column is obeyed', async () => {
  const opts = {
    classes: ['normal', 'pneumonia'],
    shape: [28, 28, 1] as [number, number, number],
    splitRatios: parseSplitRatios('0.7,0.1,0.2'),
  };
  const a = await loadImageSet(folder, opts);
  const b = await loadImageSet(csv, opts);
  const c = await loadImageSet(folder, { ...opts, splitSeed: 7 });
  const perClass = [0, 1].map((k) => sample.labels.filter((y) => y === k).length);
  for (const s of ['train', 'val', 'test'] as const) assert.equal(a.splits[s].n, a.imageSet.split.counts[s]);
  perClass.forEach((nk, k) => {
    const tr = Math.round(nk * 0.7);
    const va = Math.round(nk * 0.1);
    assert.deepEqual(
      [
        a.imageSet.split.classCounts.train[k],
        a.imageSet.split.classCounts.val[k],
        a.imageSet.split.classCounts.test[k],
      ],
      [tr, va, nk - tr - va],
    );
  });
  assert.equal(a.imageSet.split.from, 'seeded-stratified');
  assert.deepEqual(a.imageSet.split.ratios, [0.7, 0.1, 0.2]);
  assert.equal(a.imageSet.split.seed, 0);
  // The folder and the CSV name the same files (the CSV relative to itself, under films/): same split sizes.
  assert.deepEqual(b.imageSet.split.counts, a.imageSet.split.counts);
  assert.equal((await loadImageSet(folder, opts)).imageSet.split.sha256, a.imageSet.split.sha256);
  assert.notEqual(c.imageSet.split.sha256, a.imageSet.split.sha256);
  // Labels are in the split's order and the pixels are the PNG's.
  const f0 = a.imageSet.files.test[0];
  const src = Number(/film-(\d+)\.png$/.exec(f0)![1]);
  assert.equal(a.splits.test.labels[0], pneu.splits.test.labels[src]);
  assert.equal(Math.round(a.splits.test.images[100] * 255), pneu.splits.test.images[src * 784 + 100]);
  // A split column: rows go where it says.
  const withSplit = path.join(tmp, 'split.csv');
  writeFileSync(
    withSplit,
    ['file,label,split', ...csvRows.slice(1).map((r, i) => `${r},${['train', 'validation', 'test'][i % 3]}`)].join(
      '\n',
    ),
  );
  const d = await loadImageSet(withSplit, opts);
  assert.equal(d.imageSet.split.from, 'column');
  assert.deepEqual(d.imageSet.split.counts, { train: N / 3, val: N / 3, test: N / 3 });
});

test('a folder of the shared DICOM files (windowed by their own VOI) is read exactly as predict reads each file; attack runs on it', () => {
  const files = readdirSync(DICOM_DIR)
    .filter((f) => f.endsWith('.dcm'))
    .sort();
  const pr = cli(['predict', '--model', 'default', '--json', ...files.map((f) => path.join(DICOM_DIR, f))]);
  assert.equal(pr.code, 0, pr.stderr);
  const preds = JSON.parse(pr.stdout) as Array<{ className: string }>;
  // Label every file with predict's answer: eval on the folder must then be exactly right.
  const dir = path.join(tmp, 'dicom');
  files.forEach((f, i) => {
    mkdirSync(path.join(dir, preds[i].className), { recursive: true });
    copyFileSync(path.join(DICOM_DIR, f), path.join(dir, preds[i].className, f));
  });
  const ev = cli(['eval', '--model', 'default', '--dataset', dir, '--split-ratios', '0,0,1', '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout);
  assert.equal(e.n, files.length);
  assert.equal(e.accuracy, 1);
  const at = cli([
    'attack',
    '--model',
    'models/resnet18-w32',
    '--dataset',
    dir,
    '--split-ratios',
    '0,0,1',
    '--attack',
    'pgd',
    '--eps',
    '8/255',
    '--steps',
    '10',
    '--json',
  ]);
  assert.equal(at.code, 0, at.stderr);
  const a = JSON.parse(at.stdout);
  assert.equal(a.n, files.length);
  assert.ok(a.robustAccuracy <= a.cleanAccuracy);
  assert.ok(a.meanLinf <= 8 / 255 + 1e-6);
  assert.equal(a.imageSet.images, files.length);
});

test('bad rows: one error line naming them, exit 2; --skip-bad skips and reports them', () => {
  const bad = path.join(tmp, 'bad.csv');
  writeFileSync(
    bad,
    [
      ...csvRows,
      'films/normal/no-such-film.png,normal',
      `${csvRows[1].split(',')[0]},pneumonai`,
      'labels.csv,normal',
    ].join('\n'),
  );
  const r = cli(['eval', '--model', 'default', '--dataset', bad, '--split-ratios', '0,0,1'], {
    env: { MEDSHIELD_QUIET: '1' },
  });
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /3 bad rows of 63/);
  assert.match(r.stderr, /no-such-film\.png': file not found/);
  assert.match(r.stderr, /unknown label 'pneumonai'/);
  assert.match(r.stderr, /'labels\.csv': unreadable image/);
  const s = cli(['eval', '--model', 'default', '--dataset', bad, '--split-ratios', '0,0,1', '--skip-bad', '--json']);
  assert.equal(s.code, 0, s.stderr);
  const out = JSON.parse(s.stdout);
  assert.equal(out.n, N);
  assert.deepEqual(
    out.imageSet.skipped.map((b: { row: number; reason: string }) => b.row),
    [62, 63, 64],
  );
  // An empty split and a missing CSV are refused in one line.
  assert.ok(
    isCleanError(
      cli(['eval', '--model', 'default', '--dataset', folder, '--split-ratios', '1,0,0'], {
        env: { MEDSHIELD_QUIET: '1' },
      }),
    ),
  );
  assert.ok(isCleanError(cli(['eval', '--model', 'default', '--dataset', path.join(tmp, 'none.csv')])));
});

test('train on an image folder: classes from the folder names, images resized to --input', () => {
  const out = path.join(tmp, 'model');
  const r = cli([
    'train',
    '--dataset',
    folder,
    '--model',
    'cnn',
    '--width',
    '8',
    '--epochs',
    '2',
    '--input',
    '32',
    '--out',
    out,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const res = JSON.parse(r.stdout);
  assert.deepEqual(res.n, {
    train: res.imageSet.split.counts.train,
    val: res.imageSet.split.counts.val,
    test: res.imageSet.split.counts.test,
  });
  assert.deepEqual(res.imageSet.input.shape, [32, 32, 1]);
  const ev = cli(['eval', '--model', out, '--dataset', csv, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  assert.equal(JSON.parse(ev.stdout).n, res.n.test);
});

test('CSV parsing: quotes, CRLF, a byte-order mark', () => {
  assert.deepEqual(parseCsv('\ufefffile,label\r\n"a, b.png","nor""mal"\r\n\r\nc.png,x\n'), [
    ['file', 'label'],
    ['a, b.png', 'nor"mal'],
    ['c.png', 'x'],
  ]);
});
