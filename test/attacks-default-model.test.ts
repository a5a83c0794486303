/**
 * Issue #7, acceptance 1, on the shipped full-width ResNet-18 and the whole PneumoniaMNIST test
 * split (624 films): default PGD-20 at 8/255 leaves at most 5 % of films correctly diagnosed, and
 * every adversarial film is within ε of its original (read from the per-sample records, not trusted).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cli } from './helpers.js';

test('default model, whole test split: PGD-20 at 8/255 with the default step leaves ≤ 5 %, every film within ε', () => {
  const out = mkdtempSync(path.join(tmpdir(), 'ms-default-pgd-'));
  const records = path.join(out, 'records.json');
  const r = cli([
    'attack',
    '--model',
    'default',
    '--dataset',
    'pneumoniamnist',
    '--split',
    'test',
    '--attack',
    'pgd',
    '--eps',
    '8/255',
    '--steps',
    '20',
    '--seed',
    '0',
    '--records',
    records,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as Record<string, number>;
  assert.equal(o.n, 624);
  assert.ok(o.cleanAccuracy >= 0.9, `clean ${o.cleanAccuracy}`);
  assert.ok(o.robustAccuracy <= 0.05, `robust accuracy ${o.robustAccuracy} at 8/255`);
  const rows = JSON.parse(readFileSync(records, 'utf8')) as Array<Record<string, number>>;
  assert.equal(rows.length, 624);
  for (const row of rows) assert.ok(row.linf <= 8 / 255 + 1e-6, `film ${row.index}: L∞ ${row.linf}`);
});
