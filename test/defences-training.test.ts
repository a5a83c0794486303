/**
 * Training defences and randomized smoothing, on real PneumoniaMNIST images:
 * - PGD adversarial training (Madry et al. 2018) raises PGD robust accuracy over standard training
 *   with the same data, seed and budget; TRADES (Zhang et al. 2019) trains and records β;
 * - the smoothing statistics against closed forms and published values;
 * - CERTIFY (Cohen et al. 2019) on a noise-trained CNN certifies a non-zero accuracy at L2 radius
 *   0.25, and the certificates hold: random perturbations and PGD-L2 attacks (on the base classifier
 *   and on the smoothed classifier itself) inside the radius never make PREDICT answer another class;
 * - bad input exits 2 with one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initEngine, tf, Rng } from '../src/engine/index.js';
import { loadDataset, sampleSplit, type Dataset } from '../src/data/dataset.js';
import { newClassifier, fitClassifier } from '../src/models/factory.js';
import { saveModel, loadClassifier } from '../src/models/io.js';
import type { Classifier } from '../src/models/model.js';
import { selectImages } from '../src/data/images.js';
import { evaluateAttack } from '../src/eval/robustness.js';
import { pgd } from '../src/attacks/algorithms/pgd.js';
import { adversarialTraining } from '../src/defences/adversarial-training.js';
import {
  ABSTAIN,
  certify,
  noiseAugmentation,
  predictSmoothed,
  SmoothedModel,
  certifiedAccuracy,
  smoothingEntry,
} from '../src/defences/smoothing.js';
import {
  binomialTestPValue,
  clopperPearsonLower,
  logGamma,
  normalQuantile,
  regularizedBeta,
} from '../src/defences/stats.js';
import { cli, isCleanError } from './helpers.js';

await initEngine();
const data = await loadDataset('pneumoniamnist');
const small = (n: number, seed = 0): Dataset => ({
  ...data,
  splits: { ...data.splits, train: sampleSplit(data.splits.train, n, seed) },
});

/** Robust accuracy under PGD-10 (src/attacks/algorithms/pgd.ts, the CLI's attack) at ε on test images. */
async function pgdRobust(
  model: Classifier,
  eps: number,
  n = 120,
): Promise<{ clean: number; robust: number; balancedRobust: number }> {
  const img = selectImages(data.splits.test, n, 3);
  const ev = await evaluateAttack(model, img, pgd, { eps, steps: 10, seed: 0 });
  const k = model.classes.length;
  const hit = new Array(k).fill(0);
  const tot = new Array(k).fill(0);
  for (let i = 0; i < img.n; i++) {
    let b = 0;
    for (let c = 1; c < k; c++) if (ev.advProbs[i * k + c] > ev.advProbs[i * k + b]) b = c;
    tot[img.labels[i]]++;
    if (b === img.labels[i]) hit[img.labels[i]]++;
  }
  return {
    clean: ev.summary.cleanAccuracy,
    robust: ev.summary.robustAccuracy,
    balancedRobust: (hit[0] / tot[0] + hit[1] / tot[1]) / 2,
  };
}

test('smoothing statistics: Clopper–Pearson, binomial test and Φ⁻¹ against known values', () => {
  // k = n: the lower bound solves p^n = α.
  assert.ok(Math.abs(clopperPearsonLower(1000, 1000, 0.001) - Math.pow(0.001, 1 / 1000)) < 1e-12);
  assert.equal(clopperPearsonLower(0, 100, 0.001), 0);
  // The exact 90 % two-sided interval for 5/10 is (0.2224, 0.7776).
  assert.ok(Math.abs(clopperPearsonLower(5, 10, 0.05) - 0.2224) < 1e-4);
  // Definition: P[Bin(n, p̲) ≥ k] = α, by an independent sum of binomial terms.
  const tail = (k: number, n: number, p: number): number => {
    let t = 0;
    for (let j = k; j <= n; j++)
      t += Math.exp(
        logGamma(n + 1) - logGamma(j + 1) - logGamma(n - j + 1) + j * Math.log(p) + (n - j) * Math.log1p(-p),
      );
    return t;
  };
  for (const [k, n] of [
    [950, 1000],
    [520, 1000],
    [99, 100],
    [30, 40],
  ]) {
    const lo = clopperPearsonLower(k, n, 0.001);
    assert.ok(Math.abs(tail(k, n, lo) - 0.001) < 1e-9, `tail at k=${k}, n=${n}`);
  }
  assert.ok(Math.abs(regularizedBeta(0.3, 2, 3) - (1 - 0.7 ** 4 - 4 * 0.3 * 0.7 ** 3)) < 1e-13);
  // scipy.stats.binomtest(60, 100).pvalue
  assert.ok(Math.abs(binomialTestPValue(60, 100) - 0.05688793364098078) < 1e-12);
  assert.equal(binomialTestPValue(50, 100), 1);
  assert.ok(Math.abs(binomialTestPValue(10, 10) - 2 / 1024) < 1e-15);
  for (const [p, z] of [
    [0.5, 0],
    [0.975, 1.959963984540054],
    [0.999, 3.090232306167813],
    [0.025, -1.959963984540054],
    [1e-10, -6.361340902404056],
    [0.8413447460685429, 1],
  ]) {
    assert.ok(Math.abs(normalQuantile(p) - z) < 1e-8 * Math.max(1, Math.abs(z)), `Φ⁻¹(${p})`);
  }
});

test('PGD adversarial training raises PGD-10 robust accuracy over standard training at ε = 4/255', async () => {
  const eps = 4 / 255;
  const d = small(600);
  const std = newClassifier('cnn', d, { width: 8, seed: 0 });
  await fitClassifier(std, d, { epochs: 2, batchSize: 64, seed: 0 });
  const adv = newClassifier('cnn', d, { width: 8, seed: 0 });
  await fitClassifier(adv, d, {
    epochs: 2,
    batchSize: 64,
    seed: 0,
    batchHook: adversarialTraining({ method: 'pgd', eps, steps: 3, valImages: 128 }, adv.task),
  });
  assert.deepEqual(adv.card.training?.adversarial, {
    method: 'pgd',
    eps,
    steps: 3,
    stepSize: (2.5 * eps) / 3,
    selection: 'val balanced robust accuracy (PGD-10 at eps, 128 val images), ties by val AUC',
  });
  const a = await pgdRobust(std, eps);
  const b = await pgdRobust(adv, eps);
  process.stderr.write(`standard: ${JSON.stringify(a)}  adversarial: ${JSON.stringify(b)}\n`);
  assert.ok(b.robust > a.robust + 0.1, `robust accuracy ${b.robust} (adv-trained) vs ${a.robust} (standard)`);
  // Not by collapsing onto the majority class: the mean per-class robust accuracy rises too.
  assert.ok(b.balancedRobust > a.balancedRobust + 0.05, `balanced robust ${b.balancedRobust} vs ${a.balancedRobust}`);
  assert.ok(b.clean >= a.clean - 0.1, `adv-trained clean accuracy ${b.clean} vs ${a.clean}`);
});

test('TRADES trains and records β in the model card', async () => {
  const d = small(256, 1);
  const m = newClassifier('cnn', d, { width: 6, seed: 1 });
  const fit = await fitClassifier(m, d, {
    epochs: 1,
    batchSize: 64,
    seed: 1,
    batchHook: adversarialTraining({ method: 'trades', eps: 4 / 255, steps: 2, beta: 6, valImages: 64 }, m.task),
  });
  assert.ok(Number.isFinite(fit.training.history[0].loss));
  const dir = mkdtempSync(path.join(tmpdir(), 'medshield-trades-'));
  await saveModel(m, dir);
  const back = await loadClassifier(dir);
  assert.equal(back.card.training?.adversarial?.method, 'trades');
  assert.equal(back.card.training?.adversarial?.beta, 6);
  assert.equal(back.card.training?.adversarial?.steps, 2);
});

test('randomized smoothing: CERTIFY on a noise-trained CNN certifies radius 0.25 and no attack inside the radius flips a certified prediction', async () => {
  const sigma = 0.25;
  const d = small(1200, 2);
  const m = newClassifier('cnn', d, { width: 8, seed: 2 });
  await fitClassifier(m, d, { epochs: 3, batchSize: 64, seed: 2, batchHook: noiseAugmentation(sigma) });
  assert.deepEqual(m.card.training?.noise, { sigma });
  const dir = mkdtempSync(path.join(tmpdir(), 'medshield-smooth-'));
  await saveModel(m, dir);

  const img = selectImages(data.splits.test, 24, 5);
  const dd = img.x.length / img.n;
  const certs = [];
  for (let i = 0; i < img.n; i++)
    certs.push(
      await certify(m, img.x.subarray(i * dd, (i + 1) * dd), {
        sigma,
        n0: 100,
        n: 500,
        alpha: 0.001,
        rng: new Rng(100 + i),
      }),
    );
  const acc = certifiedAccuracy(certs, img.labels, [0, 0.25, 0.5]);
  process.stderr.write(`certified accuracy: ${JSON.stringify(acc)}\n`);
  assert.ok(acc[1].accuracy > 0, 'non-zero certified accuracy at radius 0.25');
  assert.ok(acc[0].accuracy >= acc[1].accuracy && acc[1].accuracy >= acc[2].accuracy);

  // Check certificates on a few certified points (radius ≥ 0.25).
  const points = certs
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => c.prediction !== ABSTAIN && c.radius >= 0.25)
    .slice(0, 3);
  assert.ok(points.length >= 1);
  const rng = new Rng(7);
  const predict = (x: Float32Array): Promise<number> => predictSmoothed(m, x, { sigma, n: 500, alpha: 0.001, rng });
  const [h, w, ch] = m.inputShape;
  for (const { c, i } of points) {
    const x = img.x.slice(i * dd, (i + 1) * dd);
    const r = 0.95 * c.radius;
    // Random directions of length r (no clipping to [0,1]: the certificate is over all of R^d).
    for (let t = 0; t < 3; t++) {
      const v = new Float32Array(dd);
      let s = 0;
      for (let j = 0; j < dd; j++) {
        v[j] = rng.normal();
        s += v[j] * v[j];
      }
      const xr = x.map((xj, j) => xj + (r * v[j]) / Math.sqrt(s));
      const p = await predict(xr);
      assert.ok(
        p === c.prediction || p === ABSTAIN,
        `random δ (‖δ‖₂ = ${r.toFixed(3)}) flipped image ${i}: ${c.prediction} → ${p}`,
      );
    }
    // PGD-L2 within r: (a) on the base classifier; (b) on the smoothed classifier's soft output,
    // E_η softmax f(x + δ + η) by 32 Monte-Carlo samples (Salman et al. 2019's SmoothAdv objective).
    for (const smoothAttack of [false, true]) {
      let delta = new Float32Array(dd);
      const label = c.prediction;
      for (let step = 0; step < 10; step++) {
        const m32 = smoothAttack ? 32 : 1;
        const noise = new Float32Array(m32 * dd);
        if (smoothAttack) for (let j = 0; j < noise.length; j++) noise[j] = sigma * rng.normal();
        const g = tf.tidy(() => {
          const xt = tf.tensor4d(
            x.map((xj, j) => xj + delta[j]),
            [1, h, w, ch],
          );
          return tf.grad((xx: tf.Tensor) => {
            const batch = tf.add(tf.tile(xx, [m32, 1, 1, 1]), tf.tensor4d(noise, [m32, h, w, ch]));
            const pMean = tf.mean(tf.softmax(m.logits(batch as tf.Tensor4D)), 0);
            return tf.neg(tf.log(tf.add(tf.gather(pMean, label), 1e-12)));
          })(xt);
        });
        const gv = (await g.data()) as Float32Array;
        g.dispose();
        let gn = 0;
        for (const gi of gv) gn += gi * gi;
        gn = Math.sqrt(gn) || 1;
        const next = delta.map((dj, j) => dj + ((2.5 * r) / 10) * (gv[j] / gn));
        let nn = 0;
        for (const v of next) nn += v * v;
        nn = Math.sqrt(nn);
        delta = nn > r ? next.map((v) => (v * r) / nn) : next;
      }
      const p = await predict(x.map((xj, j) => xj + delta[j]));
      assert.ok(
        p === c.prediction || p === ABSTAIN,
        `PGD-L2 ${smoothAttack ? 'on g' : 'on f'} flipped image ${i} within r=${r.toFixed(3)}: ${c.prediction} → ${p}`,
      );
    }
  }

  // SmoothedModel is a ForwardModel whose probabilities are class frequencies.
  const sm = smoothingEntry.create({ sigma, n: 50 }).wrap(m, { seed: 0 });
  assert.ok(sm instanceof SmoothedModel && !sm.differentiable);
  const probs = await sm.predictProbs(img.x.subarray(0, 2 * dd), 2);
  for (let i = 0; i < 2; i++) {
    assert.ok(Math.abs(probs[2 * i] + probs[2 * i + 1] - 1) < 1e-6);
    assert.ok(Math.abs(probs[2 * i] * 50 - Math.round(probs[2 * i] * 50)) < 1e-4, 'frequencies of 50 samples');
  }

  // The CLI prints the contract's JSON.
  const r = cli([
    'certify',
    '--model',
    dir,
    '--dataset',
    'pneumoniamnist',
    '--sigma',
    '0.25',
    '--n',
    '200',
    '--n0',
    '50',
    '--limit',
    '4',
    '--json',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.sigma, 0.25);
  assert.equal(out.n, 200);
  assert.deepEqual(
    out.certifiedAccuracy.map((e: { radius: number }) => e.radius),
    [0, 0.25, 0.5, 0.75, 1],
  );
});

test('bad input exits 2 with one line', () => {
  for (const args of [
    ['certify', '--dataset', 'pneumoniamnist', '--sigma', '0'],
    ['certify', '--dataset', 'pneumoniamnist', '--sigma', '-1'],
    ['certify', '--dataset', 'pneumoniamnist', '--n', '50', '--n0', '100'],
    ['certify', '--dataset', 'pneumoniamnist', '--alpha', '1.5'],
    ['train', '--dataset', 'pneumoniamnist', '--adv', 'pgd'],
    ['train', '--dataset', 'pneumoniamnist', '--adv', 'fgsm', '--eps', '8/255'],
    ['train', '--dataset', 'pneumoniamnist', '--adv', 'pgd', '--eps', 'abc'],
    ['train', '--dataset', 'pneumoniamnist', '--beta', '6'],
    ['train', '--dataset', 'pneumoniamnist', '--noise-sigma', '0'],
  ]) {
    const r = cli(args);
    assert.ok(isCleanError(r), `${args.join(' ')} → ${r.code} ${r.stderr}`);
  }
});
