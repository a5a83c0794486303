/**
 * `medshield attack`: the JSON contract (an object for one ε, an array for several), ε checked from
 * the output images' own norms, the files it writes, and bad input → exit 2 with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { cli, isCleanError } from './helpers.js';
import { pneumonia, retina } from './attacks-fixture.js';

await initEngine();
const fx = await pneumonia();
const rx = await retina();
const KEYS = [
  'attack',
  'norm',
  'eps',
  'steps',
  'n',
  'cleanAccuracy',
  'robustAccuracy',
  'attackSuccessRate',
  'meanLinf',
  'meanL2',
  'meanSSIM',
  'meanPSNR',
  'seconds',
  'imagesPerSecond',
];

test('PGD ε sweep: an array in the contract’s shape, robust accuracy falls with ε, perturbations within ε', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'ms-attack-'));
  const r = cli([
    'attack',
    '--model',
    fx.dir,
    '--dataset',
    'pneumoniamnist',
    '--split',
    'test',
    '--limit',
    '24',
    '--attack',
    'pgd',
    '--eps',
    '2/255,8/255,16/255',
    '--steps',
    '10',
    '--seed',
    '1',
    '--json',
    '--records',
    path.join(out, 'records.csv'),
    '--save-examples',
    path.join(out, 'ex'),
    '--report',
    path.join(out, 'report.html'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<Record<string, number | string>>;
  assert.equal(rows.length, 3);
  for (const [i, row] of rows.entries()) {
    for (const k of KEYS) assert.ok(k in row, `missing ${k}`);
    assert.equal(row.attack, 'pgd');
    assert.equal(row.norm, 'linf');
    assert.equal(row.steps, 10);
    assert.equal(row.n, 24);
    assert.equal(row.eps, [2, 8, 16][i] / 255);
    assert.ok((row.meanLinf as number) <= (row.eps as number) + 1e-6);
  }
  const acc = rows.map((x) => x.robustAccuracy as number);
  assert.ok(acc[0] >= acc[1] && acc[1] >= acc[2] && acc[2] <= 0.05, `robust accuracy ${acc}`);
  assert.ok(acc[0] <= (rows[0].cleanAccuracy as number));
  // per-sample records: every L∞ within its ε
  const csv = readFileSync(path.join(out, 'records.csv'), 'utf8').trim().split('\n');
  const head = csv[0].split(',');
  assert.equal(csv.length, 1 + 3 * 24);
  for (const line of csv.slice(1)) {
    const c = line.split(',');
    assert.ok(Number(c[head.indexOf('linf')]) <= Number(c[head.indexOf('eps')]) + 1e-6);
  }
  assert.ok(readdirSync(path.join(out, 'ex')).some((f) => f.endsWith('-difference.png')));
  const html = readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.ok(html.includes('<svg') && html.includes('AML.T0043') && html.includes('data:image/png;base64,'));
});

test('one ε prints one object; targeted FGSM on a binary task defaults to the other class', () => {
  const r = cli([
    'attack',
    '--model',
    fx.dir,
    '--limit',
    '16',
    '--attack',
    'fgsm',
    '--eps',
    '0.03',
    '--targeted',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout);
  assert.ok(!Array.isArray(o));
  assert.equal(o.attack, 'fgsm');
  assert.equal(o.eps, 0.03);
  assert.equal(o.n, 16);
  assert.ok(typeof o.targetedSuccessRate === 'number');
});

test('bad input: exit 2 with one line', () => {
  const base = ['attack', '--model', fx.dir, '--dataset', 'pneumoniamnist', '--limit', '4'];
  const cases: Array<[string[], RegExp]> = [
    [[...base, '--attack', 'pgd', '--eps', '0'], /greater than 0/],
    [[...base, '--attack', 'pgd', '--eps=-1/255'], /greater than 0/],
    [[...base, '--attack', 'pgd', '--eps', '1.5'], /at most 1/],
    [[...base, '--attack', 'pgd', '--eps', '2/255,abc'], /ε must be/],
    [[...base, '--attack', 'nonesuch', '--eps', '2/255'], /unknown attack 'nonesuch'/],
    [[...base, '--attack', 'pgd', '--eps', '2/255', '--steps', '0'], /--steps/],
    [[...base, '--attack', 'pgd', '--eps', '2/255', '--norm', 'l0'], /does not support/],
    [
      ['attack', '--model', rx.dir, '--limit', '4', '--attack', 'pgd', '--eps', '2/255', '--targeted'],
      /needs --target/,
    ],
    [
      ['attack', '--model', fx.dir, '--dataset', 'retinamnist', '--limit', '4', '--attack', 'pgd', '--eps', '2/255'],
      /expects 28×28×1|classes/,
    ],
    [
      ['attack', '--model', path.join(tmpdir(), 'no-such-model-dir'), '--attack', 'pgd', '--eps', '2/255'],
      /does not exist/,
    ],
  ];
  for (const [args, msg] of cases) {
    const r = cli(args);
    assert.ok(isCleanError(r), `${args.join(' ')} → code ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, msg, args.join(' '));
  }
  assert.ok(!existsSync(path.join(tmpdir(), 'no-such-model-dir')));
});

test('step sweep: --steps 1,5,20 at one ε gives one row per step count, and the report plots iterations', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'ms-steps-'));
  const r = cli([
    'attack',
    '--model',
    fx.dir,
    '--dataset',
    'pneumoniamnist',
    '--limit',
    '16',
    '--attack',
    'pgd',
    '--eps',
    '4/255',
    '--steps',
    '1,5,20',
    '--seed',
    '2',
    '--json',
    '--report',
    path.join(out, 'r.html'),
  ]);
  assert.equal(r.code, 0, r.stderr);
  const rows = JSON.parse(r.stdout) as Array<{ steps: number; robustAccuracy: number; eps: number }>;
  assert.deepEqual(
    rows.map((x) => x.steps),
    [1, 5, 20],
  );
  for (const x of rows) assert.equal(x.eps, 4 / 255);
  assert.ok(
    rows[2].robustAccuracy <= rows[0].robustAccuracy,
    `20 steps ${rows[2].robustAccuracy} vs 1 step ${rows[0].robustAccuracy}`,
  );
  assert.match(readFileSync(path.join(out, 'r.html'), 'utf8'), /id="chart-steps"/);
  const both = cli(['attack', '--model', fx.dir, '--attack', 'pgd', '--eps', '2/255,4/255', '--steps', '1,5']);
  assert.ok(isCleanError(both) && /not both/.test(both.stderr), both.stderr);
  const cw = cli([
    'attack',
    '--model',
    fx.dir,
    '--limit',
    '8',
    '--attack',
    'cw',
    '--norm',
    'l2',
    '--eps',
    '5',
    '--steps',
    '20',
    '--json',
  ]);
  assert.equal(cw.code, 0, cw.stderr);
  assert.ok('medianL2' in JSON.parse(cw.stdout), 'minimum-norm attacks report their median distance');
});
