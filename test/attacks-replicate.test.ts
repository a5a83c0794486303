/**
 * Building blocks of `medshield replicate`: the paper settings, class restriction for Ma's
 * "number of classes" analysis (real RetinaMNIST labels), a Finlayson PGD sweep row, and the saliency
 * analysis of where PGD perturbations fall on real chest X-rays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { loadDataset } from '../src/data/dataset.js';
import { ATTACKS } from '../src/attacks/registry.js';
import { evaluateAttack } from '../src/eval/robustness.js';
import {
  FINLAYSON_EPS,
  FINLAYSON_STEP_RATIO,
  finlaysonRow,
  maAttackOptions,
  maEpsilon,
  replicationSettings,
  restrictClasses,
  saliencyAnalysis,
} from '../src/studies/replicate.js';
import { epsilonSweep } from '../src/eval/sweep.js';
import { renderReplication } from '../src/report/replication.js';
import { pneumonia, testImages } from './attacks-fixture.js';

await initEngine();

test('paper settings: Finlayson’s ε grid, Ma’s ε per domain', () => {
  assert.deepEqual(
    FINLAYSON_EPS.map((e) => e.text),
    ['0.5/255', '1/255', '2/255', '3/255', '4/255', '8/255', '16/255'],
  );
  assert.match(replicationSettings('finlayson', false), /α = 0\.5·ε/);
  assert.match(replicationSettings('ma', false), /CW 5 × 100/);
  assert.match(replicationSettings('ma', true), /CW 3 × 30/);
  assert.equal(maEpsilon('pneumoniamnist').text, '3/255');
  assert.equal(maEpsilon('retinamnist').text, '2/255');
  assert.equal(maEpsilon('dermamnist').text, '2/255');
  const ma = maAttackOptions(false);
  const pgd = ma('pgd', 0.1);
  const bim = ma('bim', 0.1);
  assert.ok(pgd.steps === 20 && Math.abs((pgd.stepSize ?? 0) - 0.01) < 1e-15, 'PGD 20 × 2ε/20');
  assert.ok(bim.steps === 20 && Math.abs((bim.stepSize ?? 0) - 0.005) < 1e-15, 'BIM 20 × ε/20');
  assert.deepEqual(ma('cw', 0.1), { norm: 'linf', steps: 100, binarySteps: 5 });
  assert.deepEqual(maAttackOptions(true)('deepfool', 0.1), { norm: 'linf', steps: 20 });
});

test('ε sweep with a step proportional to ε equals one run per ε at that step; stopWhen ends the walk', async () => {
  const fx = await pneumonia();
  const img = testImages(fx, 12, 3);
  const grid = FINLAYSON_EPS.slice(2, 5);
  const swept = await epsilonSweep(
    fx.model,
    img,
    ATTACKS.pgd,
    grid,
    { steps: 5, seed: 1 },
    { stepRatio: FINLAYSON_STEP_RATIO },
  );
  for (const [i, e] of grid.entries()) {
    const one = await evaluateAttack(fx.model, img, ATTACKS.pgd, {
      eps: e.value,
      epsText: e.text,
      steps: 5,
      stepSize: FINLAYSON_STEP_RATIO * e.value,
      seed: 1,
    });
    assert.deepEqual(swept[i].xAdv, one.xAdv, `ε = ${e.text}`);
    assert.equal(swept[i].summary.robustAccuracy, one.summary.robustAccuracy);
  }
  const stopped = await epsilonSweep(
    fx.model,
    img,
    ATTACKS.pgd,
    grid,
    { steps: 5, seed: 1 },
    { stepRatio: FINLAYSON_STEP_RATIO, stopWhen: (ev) => ev.summary.eps >= grid[1].value },
  );
  assert.deepEqual(
    stopped.map((e) => e.summary.epsText),
    [grid[0].text, grid[1].text],
  );
});

test('restricting RetinaMNIST to k grades keeps exactly the samples of those grades', async () => {
  const retina = await loadDataset('retinamnist');
  for (const k of [2, 3, 4]) {
    const sub = restrictClasses(retina, k);
    assert.equal(sub.info.classes.length, k);
    assert.equal(sub.info.task, k === 2 ? 'binary' : 'multiclass');
    let expected = 0;
    for (let i = 0; i < retina.splits.train.n; i++) if (retina.splits.train.labels[i] < k) expected++;
    assert.equal(sub.splits.train.n, expected);
    assert.ok(sub.splits.test.labels.every((l) => l < k));
    assert.equal(sub.splits.train.images.length, expected * 28 * 28 * 3);
  }
});

test('Finlayson row and saliency analysis on real chest X-rays; the replication page renders', async () => {
  const fx = await pneumonia();
  const img = testImages(fx, 8, 9);
  const row = await finlaysonRow(fx.model, 'pneumoniamnist', img, 0);
  assert.equal(row.runs.length, 7);
  assert.ok(row.runs[6].robustAccuracy <= row.runs[0].robustAccuracy);
  assert.ok(row.matchesAt !== null, 'PGD at 16/255 reaches ≈ 0 % on a small CNN');
  const ev = await evaluateAttack(fx.model, img, ATTACKS.pgd, { eps: 3 / 255, steps: 10, seed: 0 });
  const sal = await saliencyAnalysis(fx.model, img, ev.xAdv, 2);
  assert.ok(sal.massOnTopSalient > 0 && sal.massOnTopSalient <= 1);
  assert.ok(sal.correlation >= -1 && sal.correlation <= 1);
  assert.equal(sal.examples.length, 2);
  const html = await renderReplication({
    paper: 'finlayson',
    title: 't',
    headline: 'h',
    rows: [row],
    command: 'medshield replicate finlayson --quick',
    seconds: 1,
    quick: true,
    notes: [],
  });
  assert.ok(html.includes('<svg') && html.includes('smallest ε matching it'));
});

test('Finlayson black box on real chest X-rays: transfer beside white-box, three patch kinds beside the paper; the page renders', async () => {
  const { finlaysonBlackbox, domainOf, FINLAYSON_PATCH } = await import('../src/studies/replicate-blackbox.js');
  const { surrogate } = await import('./attacks-fixture.js');
  const fx = await pneumonia();
  const sx = await surrogate();
  const img = testImages(fx, 16, 5);
  const row = await finlaysonBlackbox(fx.model, sx.model, fx.data, img, { seed: 0, patchSteps: 30, patchLimit: 200 });
  assert.equal(row.domain, 'cxr');
  assert.equal(domainOf('retinamnist'), 'dr');
  assert.equal(domainOf('dermamnist_224'), 'derm');
  assert.deepEqual(row.paper, FINLAYSON_PATCH.cxr);
  assert.deepEqual(
    row.transfer.map((t) => t.eps),
    ['2/255', '4/255', '8/255', '16/255'],
  );
  for (const t of row.transfer)
    assert.ok(t.whiteboxRobustAccuracy <= t.robustAccuracy + 1e-9, `white-box must beat transfer at ${t.eps}`);
  assert.ok(row.transfer[3].robustAccuracy < row.cleanAccuracy, 'transfer at 16/255 fools some images');
  assert.deepEqual(
    row.patches.map((p) => p.mode),
    ['whitebox', 'blackbox', 'natural'],
  );
  const acc = Object.fromEntries(row.patches.map((p) => [p.mode, p.patchedAccuracy]));
  assert.ok(acc.whitebox < acc.natural, `white-box patch ${acc.whitebox} vs natural ${acc.natural}`);
  const html = await renderReplication({
    paper: 'finlayson',
    title: 't',
    headline: 'h',
    rows: [],
    blackbox: [row],
    command: 'medshield replicate finlayson --blackbox',
    seconds: 1,
    quick: true,
    notes: [],
  });
  assert.match(html, /transfer robust acc\./);
  assert.match(html, /<img alt="whitebox patch"/);
  assert.match(html, /<svg/);
});
