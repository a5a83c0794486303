/**
 * Every registered attack on real chest X-rays (PneumoniaMNIST test images, a small CNN trained on
 * real images): it lowers accuracy, its adversarial images stay inside [0,1] and the ε ball of its
 * norm (checked here, not trusted), and in targeted mode it reaches the target class.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { ATTACKS } from '../src/attacks/registry.js';
import { withinBall, perturbationSize } from '../src/attacks/project.js';
import type { AttackOptions, Norm } from '../src/attacks/types.js';
import { evaluateAttack, judge, probabilities } from '../src/eval/robustness.js';
import { pneumonia, testImages } from './attacks-fixture.js';

await initEngine();
const fx = await pneumonia();
const img = testImages(fx, 24);
const d = 28 * 28;

/** Budgets per norm and fast settings per attack (the defaults are for real evaluations). */
const EPS: Record<Norm, number> = { linf: 8 / 255, l2: 1.0, l1: 12, l0: 0.06 };
const FAST: Record<string, Partial<AttackOptions>> = {
  bim: { steps: 10 },
  pgd: { steps: 10 },
  mifgsm: { steps: 10 },
  difgsm: { steps: 10 },
  cw: { steps: 20, binarySteps: 2, initialConst: 10 },
  ead: { steps: 20, binarySteps: 2, initialConst: 1 },
  deepfool: { steps: 20 },
  'apgd-ce': { steps: 20 },
  'apgd-dlr': { steps: 20 },
  'apgd-t': { steps: 20 },
  'fab-t': { steps: 20 },
  autoattack: { steps: 15, maxQueries: 300 },
  jsma: {},
  square: { maxQueries: 300 },
  simba: { maxQueries: 300 },
  'simba-dct': { maxQueries: 300 },
  nes: { maxQueries: 600 },
  hsj: { maxQueries: 600 },
  boundary: { maxQueries: 3000 },
};
/** Attacks that need more than the victim (transfer: a surrogate) have their own tests. */
const OWN_TEST = new Set(['transfer']);

const cleanProbs = await probabilities(fx.model, img.x, img.n);
const clean = judge(fx.model, cleanProbs, img.labels, img.n);
const cleanAcc = clean.correct.reduce((s, v) => s + v, 0) / img.n;

test('the fixture model is a real classifier (well above chance on the sample)', () => {
  assert.ok(cleanAcc >= 0.7, `clean accuracy ${cleanAcc}`);
});

for (const [name, attack] of Object.entries(ATTACKS).filter(([n]) => !OWN_TEST.has(n))) {
  test(`${name}: lowers accuracy on real chest X-rays and stays in [0,1] and its ε ball`, async () => {
    const norm = attack.defaultNorm;
    const eps = EPS[norm];
    const ev = await evaluateAttack(fx.model, img, attack, { eps, norm, seed: 0, ...FAST[name] }, { cleanProbs });
    assert.ok(
      withinBall(img.x, ev.xAdv, d, norm, eps),
      `${name}: adversarial images leave [0,1] or the ${norm} ball of ${eps}`,
    );
    for (let i = 0; i < img.n; i++) {
      const delta = Array.from({ length: d }, (_, j) => ev.xAdv[i * d + j] - img.x[i * d + j]);
      assert.ok(perturbationSize(delta, norm) <= eps * (1 + 1e-5) + 1e-7, `${name}: sample ${i} too far`);
    }
    const s = ev.summary;
    assert.equal(s.cleanAccuracy, Math.round(cleanAcc * 1e4) / 1e4);
    assert.ok(
      s.robustAccuracy < s.cleanAccuracy - 0.2,
      `${name}: robust ${s.robustAccuracy} vs clean ${s.cleanAccuracy}`,
    );
    assert.ok((s.attackSuccessRate ?? 0) >= 0.3, `${name}: success rate ${s.attackSuccessRate}`);
    // success flags agree with the model's own predictions on the returned images
    for (const r of ev.records)
      if (r.attacked) assert.equal(r.success, r.adversarialPrediction !== r.label, `${name}: record ${r.index}`);
    if (name === 'autoattack') {
      assert.deepEqual(
        s.components?.map((c) => c.name),
        ['apgd-ce', 'apgd-t', 'fab-t', 'square'],
      );
      assert.equal(s.components!.at(-1)!.robustAccuracy, s.robustAccuracy);
    }
  });
}

test('targeted mode reaches the target ("the other class" on a binary task, and an explicit class)', async () => {
  const img = testImages(fx, 12, 4);
  const cleanProbs = await probabilities(fx.model, img.x, img.n);
  for (const [name, attack] of Object.entries(ATTACKS)) {
    if (!attack.targeted || OWN_TEST.has(name)) continue;
    const norm = attack.defaultNorm;
    for (const target of ['other', 1] as const) {
      if (target === 1 && !['pgd', 'cw'].includes(name)) continue;
      const ev = await evaluateAttack(
        fx.model,
        img,
        attack,
        { eps: EPS[norm], norm, seed: 0, criterion: { kind: 'targeted', target }, ...FAST[name] },
        { cleanProbs },
      );
      const s = ev.summary;
      assert.ok(withinBall(img.x, ev.xAdv, d, norm, EPS[norm]), `${name} targeted: outside the ball`);
      assert.ok(
        s.targetedSuccessRate !== undefined && s.targetedSuccessRate !== null,
        `${name}: targeted success reported`,
      );
      const minRate = name === 'fgsm' ? 0.2 : 0.5;
      assert.ok(s.targetedSuccessRate! >= minRate, `${name} → ${target}: targeted success ${s.targetedSuccessRate}`);
      for (const r of ev.records) {
        if (!r.attacked || !r.success) continue;
        const want = target === 'other' ? 1 - (r.label as number) : target;
        assert.equal(
          r.adversarialPrediction,
          want,
          `${name}: sample ${r.index} predicted ${r.adversarialPrediction}, target ${want}`,
        );
      }
      if (target === 1)
        assert.ok(
          ev.records.every((r) => !(r.attacked && r.label === 1)),
          'samples already of the target class are not attacked',
        );
    }
  }
});

test('PGD: robust accuracy falls as ε grows; L2 PGD respects its ball', async () => {
  const pgd = ATTACKS.pgd;
  const accs: number[] = [];
  for (const eps of [1 / 255, 4 / 255, 16 / 255]) {
    const ev = await evaluateAttack(fx.model, img, pgd, { eps, steps: 10, seed: 0 }, { cleanProbs });
    accs.push(ev.summary.robustAccuracy);
  }
  assert.ok(accs[0] >= accs[1] && accs[1] >= accs[2], `robust accuracy not monotone: ${accs}`);
  assert.ok(accs[2] <= 0.05, `PGD at 16/255 leaves ${accs[2]}`);
  const l2 = await evaluateAttack(fx.model, img, pgd, { eps: 0.5, norm: 'l2', steps: 10, seed: 0 }, { cleanProbs });
  assert.ok(withinBall(img.x, l2.xAdv, d, 'l2', 0.5));
  assert.ok(l2.summary.meanL2! <= 0.5 + 1e-6 && l2.summary.robustAccuracy < l2.summary.cleanAccuracy);
});

test('attacks are reproducible: same seed, same adversarial images', async () => {
  const a = await ATTACKS.pgd.run(fx.model, img.x.slice(0, 8 * d), img.labels.slice(0, 8), {
    eps: 4 / 255,
    steps: 5,
    seed: 3,
  });
  const b = await ATTACKS.pgd.run(fx.model, img.x.slice(0, 8 * d), img.labels.slice(0, 8), {
    eps: 4 / 255,
    steps: 5,
    seed: 3,
  });
  assert.deepEqual(a.xAdv, b.xAdv);
});
