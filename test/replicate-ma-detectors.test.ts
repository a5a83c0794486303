/**
 * `medshield replicate ma --detectors --quick` on real PneumoniaMNIST with a small CNN: kd_bu, lid,
 * mahalanobis and deepfeature_rf fitted on PGD, tested on FGSM, BIM, PGD, CW and DeepFool at Ma's
 * ε for chest X-ray (3/255), plus the matched ε where PGD-20 fools ≥ 90 % when it does not at 3/255;
 * the AUC table appears beside the paper's > 98 % in the JSON, the text and the HTML report, and the
 * deep-feature detectors separate PGD examples from clean ones well above chance at the matched ε.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cli, isCleanError } from './helpers.js';
import { formatMaDetection, MA_DETECTORS, type MaDetection } from '../src/studies/replicate-detectors.js';
import { MA_ATTACKS } from '../src/studies/replicate.js';

test("replicate ma --detectors --quick: AUC per detector and attack beside the paper's > 98 %", () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-rep-ma-det-'));
  const report = path.join(dir, 'ma-detectors.html');
  const r = cli([
    'replicate',
    'ma',
    '--detectors',
    '--quick',
    '--dataset',
    'pneumoniamnist',
    '--models',
    'cnn',
    '--limit',
    '60',
    '--report',
    report,
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const o = JSON.parse(r.stdout) as { paper: string; detectors: MaDetection; report: string };
  assert.equal(o.paper, 'ma');
  assert.equal(o.report, report);
  const d = o.detectors;
  assert.equal(d.threshold, 0.98);
  assert.match(d.claim, /98 %/);
  assert.match(d.protocol, /successful adversarial/);
  assert.equal(d.trainAttack, 'pgd');
  assert.equal(d.limit, 60);
  assert.equal(d.fitLimit, 150);
  const paper = d.rows.filter((x) => x.epsRole === 'paper');
  assert.ok(paper.every((x) => x.epsText === '3/255' && x.dataset === 'pneumoniamnist'));
  // every detector × every test attack, once
  assert.deepEqual(
    new Set(paper.map((x) => `${x.detector}/${x.attack}`)),
    new Set(MA_DETECTORS.flatMap((det) => MA_ATTACKS.map((a) => `${det}/${a}`))),
  );
  assert.equal(paper.length, MA_DETECTORS.length * MA_ATTACKS.length);
  for (const x of d.rows) {
    assert.ok(x.n <= (x.attacked ?? 0) && (x.attacked ?? 0) <= 60, `${x.n} of ${x.attacked}`);
    assert.ok(x.fitN >= 2 && x.fitN <= (x.fitAttacked ?? 0));
    if (x.n === 0) assert.equal(x.auc, null);
    else {
      assert.ok(x.auc! >= 0 && x.auc! <= 1);
      assert.equal(x.meetsClaim, x.auc! > 0.98);
    }
  }
  // the matched ε exists exactly when PGD-20 fooled < 90 % of the fit images at 3/255
  const pgdShare = paper[0].fitN / paper[0].fitAttacked!;
  const matched = d.rows.filter((x) => x.epsRole === 'matched');
  if (pgdShare < 0.9) {
    assert.ok(matched.length === paper.length, `matched ε missing (PGD success ${pgdShare})`);
    assert.ok(matched[0].fitN / matched[0].fitAttacked! >= 0.85, 'matched ε: PGD fools most fit images');
    // the deep-feature detectors find PGD examples well above chance where PGD works
    for (const det of ['kd_bu', 'deepfeature_rf']) {
      const x = matched.find((y) => y.detector === det && y.attack === 'pgd')!;
      assert.ok(x.auc! >= 0.75, `${det} AUC on PGD at ${x.epsText}: ${x.auc}`);
    }
  } else assert.equal(matched.length, 0);
  // text: the same table with the paper's column
  const text = formatMaDetection(d);
  assert.match(text, /ε = 3\/255 \(the paper's ε\)/);
  assert.match(text, /deepfeature_rf\s+\d\.\d{3}/);
  assert.match(text, /> 0\.98/);
  // HTML: one table per ε, the paper's column, the protocol, and the data
  const html = readFileSync(report, 'utf8');
  assert.equal((html.match(/class="detection-auc"/g) ?? []).length, matched.length ? 2 : 1);
  assert.match(html, /Detection AUC beside the paper's &gt; 98 %/);
  assert.match(html, /<td>&gt; 0\.98<\/td>/);
  assert.match(html, /Protocol\./);
  const data = JSON.parse(/<script type="application\/json" id="report-data">([^<]*)<\/script>/.exec(html)![1]) as {
    detection: MaDetection;
  };
  assert.equal(data.detection.rows.length, d.rows.length);
});

test('replicate --detectors belongs to ma: other papers → exit 2, one line', () => {
  const r = cli(['replicate', 'finlayson', '--detectors', '--quick', '--dataset', 'pneumoniamnist', '--models', 'cnn']);
  assert.ok(isCleanError(r), r.stderr);
  assert.match(r.stderr, /--detectors is an option of replicate ma/);
});
