/**
 * `medshield scorecard` and `medshield replicate amit` (issue #10) on real PneumoniaMNIST with the
 * fixture CNN: the JSON contract per row, a verdict from the stated rule, the sanity checks, the HTML
 * report, and one-line errors for bad flags.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cli, cliAsync, isCleanError } from './helpers.js';
import { pneumonia } from './attacks-fixture.js';
import { parseScorecardList, ALL_DEFENCES } from '../src/eval/scorecard-entries.js';
import { DETECTOR_NAMES } from '../src/detectors/registry.js';
import { DEFENCE_NAMES } from '../src/defences/registry.js';

const fx = await pneumonia();
const dir = mkdtempSync(path.join(tmpdir(), 'medshield-scorecard-'));

test('`all` covers every defence and every detector of the project', () => {
  const all = parseScorecardList('all');
  for (const d of DETECTOR_NAMES) assert.ok(all.includes(d), d);
  for (const d of DEFENCE_NAMES())
    assert.ok(
      all.some((a) => a.startsWith(d)),
      d,
    );
  assert.ok(all.includes('adversarial-training'));
  assert.deepEqual(all, ALL_DEFENCES);
  assert.deepEqual(parseScorecardList('jpeg:q=50;kd_bu, at'), ['jpeg:q=50', 'kd_bu', 'adversarial-training']);
});

test('scorecard JSON contract: a transform, a detector and adversarial training, each with a verdict and sanity checks', async () => {
  const report = path.join(dir, 'card.html');
  const r = await cliAsync(
    [
      'scorecard',
      '--model',
      fx.dir,
      '--defences',
      'bitdepth:bits=3;squeeze;adversarial-training',
      '--adv-model',
      'adv-cnn',
      '--eps',
      '8/255',
      '--quick',
      '--limit',
      '24',
      '--fit-limit',
      '120',
      '--steps',
      '10',
      '--json',
      '--report',
      report,
      '--seed',
      '3',
    ],
    { timeoutMs: 900_000 },
  );
  assert.equal(r.code, 0, r.stderr);
  const card = JSON.parse(r.stdout);
  assert.equal(card.schema, 'medshield.scorecard/1');
  assert.equal(card.n, 24);
  assert.match(card.verdictRule, /broken/);
  assert.deepEqual(
    card.rows.map((x: { defence: string }) => x.defence),
    ['bitdepth:bits=3', 'squeeze', 'adversarial-training'],
  );
  for (const row of card.rows) {
    for (const k of ['defence', 'cleanAccuracy', 'nonAdaptive', 'adaptive', 'sanity', 'verdict'])
      assert.ok(k in row, `${row.defence}: ${k}`);
    for (const k of ['robustAccuracy', 'detectionAuc', 'tprAt5Fpr'])
      assert.ok(k in row.nonAdaptive, `${row.defence}: nonAdaptive.${k}`);
    for (const k of ['attack', 'robustAccuracy', 'detectionAuc', 'tprAt5Fpr', 'fooledAndUndetected'])
      assert.ok(k in row.adaptive, `${row.defence}: adaptive.${k}`);
    assert.ok(['broken', 'weakened', 'holds'].includes(row.verdict));
    assert.equal(typeof row.sanity.passed, 'boolean');
    // --quick runs the checks only where they can change the verdict (a row that would hold)
    if (row.sanity.skipped) {
      assert.equal(row.sanity.checks.length, 0);
      assert.notEqual(row.verdict, 'holds');
      assert.equal(row.gradientMasking, false);
    } else
      assert.deepEqual(
        row.sanity.checks.map((c: { name: string }) => c.name),
        ['large-eps', 'more-steps', 'whitebox-beats-transfer', 'gradients'],
      );
    assert.equal(typeof row.timing?.adaptive, 'number', `${row.defence}: timing.adaptive`);
    assert.equal(typeof row.estimatedSeconds, 'number', `${row.defence}: estimatedSeconds`);
    assert.ok(row.adaptive.fooledAndUndetected >= 0 && row.adaptive.fooledAndUndetected <= 1);
  }
  assert.equal(card.plan.rows.length, 3);
  assert.ok(card.plan.estimatedSeconds > 0);
  assert.equal(typeof card.timing['pgd-20 on the undefended model'], 'number');
  assert.equal(typeof card.rows[1].timing.fit, 'number', 'the detector row times its fit');
  const [bits, squeeze, at] = card.rows;
  assert.equal(bits.kind, 'transform');
  assert.match(bits.adaptive.attack, /^bpda/);
  assert.ok(
    bits.adaptive.fooledAndUndetected > bits.nonAdaptive.fooledAndUndetected,
    'BPDA beats the non-adaptive attacker on bit depth 3',
  );
  assert.equal(bits.nonAdaptive.detectionAuc, null);
  assert.equal(squeeze.kind, 'detector');
  assert.match(squeeze.adaptive.attack, /joint/);
  assert.equal(typeof squeeze.nonAdaptive.detectionAuc, 'number');
  assert.ok(
    squeeze.adaptive.fooledAndUndetected > squeeze.nonAdaptive.fooledAndUndetected,
    'the joint attack evades feature squeezing more than PGD',
  );
  assert.equal(at.kind, 'training');
  assert.match(at.adaptive.attack, /apgd/);
  const html = readFileSync(report, 'utf8');
  assert.match(html, /<svg/);
  assert.match(html, /dicom sign/);
  assert.match(html, /bitdepth:bits=3/);
});

test('bad flags give one clean line and exit 2', () => {
  const cases: string[][] = [
    ['scorecard', '--defences', 'nope'],
    ['scorecard', '--defences', 'jpeg:q=500'],
    ['scorecard', '--eps', 'abc'],
    ['scorecard', '--eps', '0'],
    ['scorecard', '--model', path.join(dir, 'missing')],
    ['scorecard', '--limit', '0'],
    ['replicate', 'amit', '--blackbox'],
    ['replicate', 'finlayson', '--eps', '8/255'],
  ];
  for (const args of cases) {
    const r = cli(args);
    assert.ok(isCleanError(r), `${args.join(' ')} → ${r.code} ${r.stderr}`);
  }
  assert.ok(!existsSync(path.join(dir, 'missing')));
});
