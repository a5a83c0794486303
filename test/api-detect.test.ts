/**
 * The library verb `detect(spec)` (src/api/detect.ts) on real data — the shipped default model and
 * the shipped PneumoniaMNIST: a spec error is a BAD_ARGUMENT (exit 2 in the CLI) naming the field; a
 * real run gives AUC rows in [0,1] equal to what `medshield detect --json` prints for the same
 * arguments, and per-sample detector scores whose ROC AUC is the row's AUC.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cliAsync, isCleanError } from './helpers.js';
import { detect, type DetectSpec } from '../src/api/detect.js';
import { MedshieldError } from '../src/errors.js';
import { loadDataset } from '../src/data/dataset.js';
import { rocAuc, round } from '../src/models/metrics.js';

// FGSM (one step) for fitting and testing keeps the run short on a loaded machine
const spec: DetectSpec = {
  model: 'default',
  data: { dataset: 'pneumoniamnist', limit: 30 },
  detectors: ['kd_bu'],
  trainAttack: 'fgsm',
  testAttacks: ['fgsm'],
  eps: '8/255',
  fitLimit: 40,
  seed: 0,
};
const args = [
  'detect',
  '--model',
  'default',
  '--dataset',
  'pneumoniamnist',
  '--detector',
  'kd_bu',
  '--train-attack',
  'fgsm',
  '--test-attacks',
  'fgsm',
  '--eps',
  '8/255',
  '--fit-limit',
  '40',
  '--limit',
  '30',
  '--seed',
  '0',
  '--json',
];

test('detect spec errors: one line naming the field (BAD_ARGUMENT), before any work; the CLI exits 2 in one line', async () => {
  const bad: Array<[unknown, RegExp]> = [
    [{ ...spec, detectors: undefined }, /detect spec: missing field 'detectors'/],
    [{ ...spec, fitSplit: 'test' }, /detect spec: fitSplit must be one of train, val/],
    [{ ...spec, data: { dataset: 'pneumoniamnist', limit: 0 } }, /detect spec: data\.limit must be >= 1/],
    [{ ...spec, colour: 'red' }, /detect spec: unknown field 'colour'/],
    [{ ...spec, eps: [] }, /detect spec: eps /],
    [{ ...spec, eps: 'abc' }, /ε must be a number or a fraction like 8\/255, got 'abc'/],
    [{ ...spec, detectors: ['nope'] }, /unknown detector 'nope'/],
    [{ ...spec, trainAttack: 'square' }, /white-box attacks; 'square' is a score attack/],
  ];
  for (const [s, re] of bad) {
    // schema errors are BAD_ARGUMENT; unknown names keep their registry's code (every MedshieldError exits 2)
    await assert.rejects(
      detect(s as DetectSpec),
      (e: unknown) =>
        e instanceof MedshieldError &&
        re.test(e.message) &&
        (!/^detect spec:/.test(e.message) || e.code === 'BAD_ARGUMENT') &&
        !e.message.includes('\n'),
      String(re),
    );
  }
  const r = await cliAsync(['detect', '--detector', 'kd_bu', '--eps', 'abc', '--json']);
  assert.equal(r.code, 2, r.stderr);
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /ε must be a number/);
});

test('detect on the shipped model: a real AUC row in [0,1], the same as the CLI prints, and per-sample scores behind it', async () => {
  const [r, c] = await Promise.all([detect(spec), cliAsync(args, { timeoutMs: 600_000 })]);
  assert.equal(c.code, 0, c.stderr);
  const printed = JSON.parse(c.stdout) as { detector: string; results: Array<Record<string, unknown>> };
  assert.equal(r.reports.length, 1);
  assert.deepEqual(r.reports[0], printed, "the verb's report is what the CLI prints");
  assert.equal(r.model, 'resnet18-pneumoniamnist');
  assert.equal(r.dataset, 'pneumoniamnist');
  assert.equal(r.rows.length, 1);
  const row = r.rows[0];
  assert.deepEqual(
    { detector: row.detector, attack: row.attack, eps: row.eps },
    { detector: 'kd_bu', attack: 'fgsm', eps: 8 / 255 },
  );
  assert.ok(row.auc !== null && row.auc >= 0 && row.auc <= 1, String(row.auc));
  assert.ok(row.tprAt5Fpr !== null && row.tprAt5Fpr >= 0 && row.tprAt5Fpr <= 1);
  assert.equal(row.auc, printed.results[0].auc);
  assert.equal(row.tprAt5Fpr, printed.results[0].tprAt5Fpr);
  assert.ok(row.n >= 2 && row.n <= 30 && row.fitN >= 2 && row.fitN <= 40, `${row.n} ${row.fitN}`);
  // one score pair per successful test example: indices in the test split, its labels, AUC recomputed
  assert.equal(r.scores.length, row.n);
  const test = (await loadDataset('pneumoniamnist')).splits.test;
  const seen = new Set<number>();
  for (const s of r.scores) {
    assert.ok(Number.isInteger(s.index) && s.index >= 0 && s.index < test.n && !seen.has(s.index));
    seen.add(s.index);
    assert.equal(s.label, test.labels[s.index]);
    assert.ok(Number.isFinite(s.clean) && Number.isFinite(s.adversarial));
  }
  const labels = [...r.scores.map(() => 0), ...r.scores.map(() => 1)];
  assert.equal(
    round(rocAuc(labels, [...r.scores.map((s) => s.clean), ...r.scores.map((s) => s.adversarial)])),
    row.auc,
  );
});
