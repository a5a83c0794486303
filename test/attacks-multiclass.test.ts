/**
 * Multi-class heads on real fundus photographs (RetinaMNIST, 5 diabetic-retinopathy grades, RGB):
 * DLR without its binary fallback, APGD-T and FAB-T over several target classes, DeepFool L∞, and
 * targeted attacks towards an explicit grade.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { ATTACKS } from '../src/attacks/registry.js';
import { withinBall } from '../src/attacks/project.js';
import { evaluateAttack, probabilities } from '../src/eval/robustness.js';
import { epsilonSweep } from '../src/eval/sweep.js';
import { retina, testImages } from './attacks-fixture.js';

await initEngine();
const fx = await retina();
const img = testImages(fx, 20, 5);
const d = 28 * 28 * 3;
const cleanProbs = await probabilities(fx.model, img.x, img.n);

test('RetinaMNIST fixture: 5 classes, RGB, attacks run on the ordinal head', () => {
  assert.equal(fx.model.classes.length, 5);
  assert.deepEqual(fx.model.inputShape, [28, 28, 3]);
});

for (const [name, extra] of [
  ['apgd-dlr', { steps: 20 }],
  ['apgd-t', { steps: 15, targetClasses: 3 }],
  ['fab-t', { steps: 10, targetClasses: 2 }],
  ['deepfool', { norm: 'linf' as const, steps: 8 }],
] as const) {
  test(`${name} on 5 classes lowers accuracy within the ε ball`, async () => {
    const norm = ('norm' in extra ? extra.norm : undefined) ?? ATTACKS[name].defaultNorm;
    const eps = norm === 'linf' ? 8 / 255 : 1;
    const ev = await evaluateAttack(fx.model, img, ATTACKS[name], { eps, seed: 0, ...extra, norm }, { cleanProbs });
    assert.ok(withinBall(img.x, ev.xAdv, d, norm, eps));
    assert.ok(ev.summary.attacked > 0, 'some images are classified correctly');
    assert.ok(
      ev.summary.robustAccuracy < ev.summary.cleanAccuracy,
      `${name}: ${ev.summary.robustAccuracy} vs ${ev.summary.cleanAccuracy}`,
    );
    assert.ok(!ev.summary.notes.some((n) => n.includes('fallback')), 'no binary fallback with 5 classes');
  });
}

test('targeted PGD and CW reach an explicit grade', async () => {
  for (const [name, opts] of [
    ['pgd', { eps: 16 / 255, steps: 20 }],
    ['cw', { eps: 3, steps: 20, binarySteps: 2, initialConst: 10 }],
  ] as const) {
    const target = 4;
    const ev = await evaluateAttack(
      fx.model,
      img,
      ATTACKS[name],
      { ...opts, seed: 0, criterion: { kind: 'targeted', target } },
      { cleanProbs },
    );
    assert.ok(
      (ev.summary.targetedSuccessRate ?? 0) >= 0.5,
      `${name}: targeted success ${ev.summary.targetedSuccessRate}`,
    );
    for (const r of ev.records) if (r.success) assert.equal(r.adversarialPrediction, target);
  }
});

test('ε sweep of a minimum-norm attack runs once and projects: robust accuracy is monotone in ε', async () => {
  const evs = await epsilonSweep(
    fx.model,
    img,
    ATTACKS.deepfool,
    [
      { value: 0.1, text: '0.1' },
      { value: 0.5, text: '0.5' },
      { value: 2, text: '2' },
    ],
    { steps: 10, seed: 0 },
  );
  const acc = evs.map((e) => e.summary.robustAccuracy);
  assert.ok(acc[0] >= acc[1] && acc[1] >= acc[2], `not monotone: ${acc}`);
  for (const [i, e] of evs.entries()) assert.ok(withinBall(img.x, e.xAdv, d, 'l2', [0.1, 0.5, 2][i]));
  assert.ok(evs[0].summary.notes.some((n) => n.includes('run once')));
});
