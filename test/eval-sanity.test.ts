/**
 * Sanity checks (issue #10, Carlini et al. 2019 / Tramer et al. 2020) on real PneumoniaMNIST images:
 * a deliberately gradient-masked toy defence — the fixture CNN behind an input quantiser whose
 * gradient is zero — looks robust to the non-adaptive attack, and the checks flag it as gradient
 * masking; the same CNN without the mask passes the gradient check, and a BPDA row is not flagged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine, tf } from '../src/engine/index.js';
import { selectImages } from '../src/data/images.js';
import { runAttack } from '../src/eval/robustness.js';
import { pgd } from '../src/attacks/algorithms/pgd.js';
import { apgdEnsemble } from '../src/attacks/adaptive/apgd-ensemble.js';
import { bpda } from '../src/attacks/adaptive/bpda.js';
import { DefenceView } from '../src/attacks/adaptive/view.js';
import { getDefence } from '../src/defences/registry.js';
import { gradientNorms } from '../src/eval/sanity.js';
import { scoreEntry, verdictOf } from '../src/eval/scorecard.js';
import type { DifferentiableModel } from '../src/models/model.js';
import { pneumonia } from './attacks-fixture.js';

await initEngine({ threads: 1 });
const fx = await pneumonia();
const model = fx.model;
const img = selectImages(fx.data.splits.test, 40, 31);
const eps = 8 / 255;

/** The toy defence: x ↦ f(round(255·x)/255) with the gradient of the rounding set to zero (shattered gradients). */
function masked(base: DifferentiableModel): DifferentiableModel {
  const q = tf.customGrad(((x: tf.Tensor) => ({
    value: tf.div(tf.round(tf.mul(x, 255)), 255),
    gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
  })) as unknown as Parameters<typeof tf.customGrad>[0]);
  const logits = (x: tf.Tensor4D): tf.Tensor2D => base.logits(q(x) as tf.Tensor4D);
  return {
    ...base,
    differentiable: true,
    inputShape: base.inputShape,
    classes: base.classes,
    task: base.task,
    card: base.card,
    featureNames: base.featureNames,
    logits,
    probs: (x) => tf.tidy(() => tf.softmax(logits(x))),
    features: (x, l) => base.features(x, l),
    predictProbs: async (x, n) => {
      const t = tf.tensor4d(x, [n, ...base.inputShape]);
      const p = tf.softmax(logits(t));
      const o = (await p.data()) as Float32Array;
      t.dispose();
      p.dispose();
      return o;
    },
  };
}

test('the attacker gradient of the masked toy is zero, of the bare model non-zero', async () => {
  const g0 = await gradientNorms(model, img.x, img.labels);
  const g1 = await gradientNorms(masked(model), img.x, img.labels);
  assert.ok(
    Array.from(g0).every((v) => v > 0),
    'bare model: every gradient non-zero',
  );
  assert.ok(
    Array.from(g1).every((v) => v === 0),
    'masked toy: every gradient zero',
  );
});

test('a gradient-masked toy defence passes the non-adaptive attack but is flagged by the sanity checks', async () => {
  const toy = masked(model);
  const p = { model: toy, deployed: toy };
  const row = await scoreEntry(
    {
      defence: 'toy-gradient-mask',
      kind: 'training',
      reference: 'test fixture',
      pipeline: p,
      nonAdaptive: {
        attack: 'pgd-20',
        xAdv: (await runAttack(toy, img, pgd, { eps, norm: 'linf', steps: 20, seed: 0 })).xAdv,
      },
      transfer: (await runAttack(model, img, pgd, { eps, norm: 'linf', steps: 20, seed: 0 })).xAdv,
      adaptive: apgdEnsemble,
      adaptiveOptions: { eps, restarts: 1 },
      adaptiveLabel: 'apgd-ensemble',
      view: toy,
      notes: [],
    },
    img,
    { eps, steps: 10, baselineProtected: 0, seed: 0 },
  );
  assert.ok(
    1 - row.nonAdaptive.fooledAndUndetected >= 0.5,
    `looks robust to non-adaptive PGD (fooled ${row.nonAdaptive.fooledAndUndetected})`,
  );
  assert.equal(row.sanity.passed, false);
  assert.ok(row.sanity.failures.includes('gradients'), `failures: ${row.sanity.failures.join(', ')}`);
  assert.ok(row.sanity.failures.includes('whitebox-beats-transfer'), `failures: ${row.sanity.failures.join(', ')}`);
  assert.equal(row.gradientMasking, true);
  assert.notEqual(row.verdict, 'holds');
  assert.match(row.notes.join(' '), /gradient masking/);
});

test('a BPDA row on bit-depth reduction passes the gradient and more-steps checks', async () => {
  const def = getDefence('bitdepth:bits=3');
  const p = { model, defence: def, deployed: def.wrap(model) };
  const base = (await runAttack(model, img, pgd, { eps, norm: 'linf', steps: 20, seed: 0 })).xAdv;
  const row = await scoreEntry(
    {
      defence: def.spec,
      kind: 'transform',
      reference: def.reference,
      pipeline: p,
      nonAdaptive: { attack: 'pgd-20', xAdv: base },
      adaptive: bpda,
      adaptiveOptions: { eps },
      adaptiveLabel: 'bpda+pgd-10',
      view: new DefenceView(model, { transform: def.transform }),
      notes: [],
    },
    img,
    { eps, steps: 10, baselineProtected: 0, seed: 0 },
  );
  const byName = Object.fromEntries(row.sanity.checks.map((c) => [c.name, c]));
  assert.equal(byName.gradients.passed, true, byName.gradients.detail);
  assert.equal(byName['more-steps'].passed, true, byName['more-steps'].detail);
  assert.equal(byName['large-eps'].passed, true, byName['large-eps'].detail);
  assert.equal(row.gradientMasking, false);
  assert.ok(row.adaptive.fooledAndUndetected >= row.nonAdaptive.fooledAndUndetected);
});

test('the verdict rule', () => {
  assert.equal(verdictOf(0.9, 0.05, 0.02, true), 'broken');
  assert.equal(verdictOf(0.9, 0.85, 0.02, true), 'holds');
  assert.equal(verdictOf(0.9, 0.85, 0.02, false), 'weakened');
  assert.equal(verdictOf(0.9, 0.5, 0.02, true), 'weakened');
});
