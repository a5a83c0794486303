import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cli, isCleanError, EMBEDDED_NPZ, DICOM_DIR } from './helpers.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'ms-cli-'));

test('datasets list --json follows the contract', () => {
  const r = cli(['datasets', 'list', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout);
  assert.equal(rows.length, 12);
  for (const row of rows)
    for (const k of ['name', 'task', 'classes', 'channels', 'sizes', 'available'])
      assert.ok(k in row, `${row.name} has ${k}`);
  const p = rows.find((x: { name: string }) => x.name === 'pneumoniamnist');
  assert.equal(p.available, true);
  assert.equal(p.task, 'binary');
  assert.deepEqual(p.sizes, [28, 64, 128, 224]);
  assert.equal(rows.find((x: { name: string }) => x.name === 'chestmnist').task, 'multilabel');
});

test('info --json names the backend', () => {
  const r = cli(['info', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.ok(['native', 'wasm', 'cpu'].includes(o.backend));
  assert.equal(typeof o.threads, 'number');
  assert.equal(typeof o.simd, 'boolean');
});

test('bad input gives exit 2 and one line, never a stack trace', () => {
  const corrupt = path.join(tmp, 'corrupt.npz');
  writeFileSync(corrupt, readFileSync(EMBEDDED_NPZ).subarray(0, 5000));
  const notImage = path.join(tmp, 'notes.txt');
  writeFileSync(notImage, 'this is not an image\n');
  const truncDicom = path.join(tmp, 'trunc.dcm');
  writeFileSync(truncDicom, readFileSync(path.join(DICOM_DIR, 'CT_small.dcm')).subarray(0, 900));
  const cases: string[][] = [
    ['train', '--dataset', 'nosuchmnist', '--epochs', '1'],
    ['train', '--dataset', 'pneumoniamnist', '--model', 'vgg99', '--epochs', '1'],
    ['train', '--dataset', path.join(tmp, 'missing.npz'), '--epochs', '1'],
    ['train', '--dataset', corrupt, '--epochs', '1'],
    ['train', '--dataset', 'pneumoniamnist', '--epochs', '0'],
    ['train', '--dataset', 'pneumoniamnist', '--epochs', 'ten'],
    ['train', '--dataset', 'pneumoniamnist', '--seed', '-1'],
    ['train', '--dataset', 'pneumoniamnist', '--lr', 'fast'],
    ['train', '--frobnicate'],
    ['eval', '--model', path.join(tmp, 'nomodel'), '--dataset', 'pneumoniamnist'],
    ['eval', '--model', 'default', '--dataset', 'retinamnist'],
    ['eval', '--model', 'default', '--split', 'holdout'],
    ['predict', '--model', 'default', notImage],
    ['predict', '--model', 'default', truncDicom],
    ['predict', '--model', 'default', path.join(tmp, 'nofile.png')],
    ['nosuchcommand'],
  ];
  for (const args of cases) {
    const r = cli(args);
    assert.ok(isCleanError(r), `medshield ${args.join(' ')} → exit ${r.code}, stderr: ${r.stderr}`);
  }
});

test('a failed training leaves no output directory behind', () => {
  const out = path.join(tmp, 'never');
  const corrupt = path.join(tmp, 'corrupt2.npz');
  writeFileSync(corrupt, readFileSync(EMBEDDED_NPZ).subarray(0, 5000));
  const r = cli(['train', '--dataset', corrupt, '--epochs', '1', '--out', out]);
  assert.equal(r.code, 2);
  assert.equal(existsSync(out), false);
  assert.deepEqual(
    readdirSync(tmp).filter((f) => f.includes('never')),
    [],
  );
});
