/**
 * The success rule written once (`goalMet` in src/attacks/goal.ts), on real predictions: a CNN on real
 * RetinaMNIST fundus images (5 grades) and the shipped adversarially trained CNN on real
 * PneumoniaMNIST X-rays. Untargeted: the predicted class differs from the label; targeted: it is the
 * target and the label is not; margins from the model's logits and the prediction-based form
 * (`metByPrediction`, what adaptive attacks read from a deployed pipeline) agree image by image, and an
 * attack's reported success is the rule applied at its adversarial images.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { initEngine } from '../src/engine/index.js';
import { atTarget, goalMet, goalMetRows, makeGoal, metByPrediction } from '../src/attacks/goal.js';
import { Oracle } from '../src/attacks/targets/oracle.js';
import { getAttack } from '../src/attacks/registry.js';
import { loadClassifier } from '../src/models/io.js';
import { loadDataset } from '../src/data/dataset.js';
import { selectImages } from '../src/data/images.js';
import type { DifferentiableModel } from '../src/models/model.js';
import { retina, testImages } from './attacks-fixture.js';
import { ROOT } from './helpers.js';

await initEngine();

function argmax(z: Float32Array, k: number): number[] {
  return Array.from({ length: z.length / k }, (_, i) => {
    let b = 0;
    for (let j = 1; j < k; j++) if (z[i * k + j] > z[i * k + b]) b = j;
    return b;
  });
}

async function predictions(
  model: DifferentiableModel,
  x: Float32Array,
): Promise<{ logits: Float32Array; pred: number[] }> {
  const logits = await new Oracle(model).rawLogits(x);
  return { logits, pred: argmax(logits, model.classes.length) };
}

test('multi-class (RetinaMNIST): untargeted = prediction ≠ label; targeted = prediction is the target, label is not', async () => {
  const fx = await retina();
  const img = testImages(fx, 96, 3);
  const k = fx.model.classes.length;
  const { logits, pred } = await predictions(fx.model, img.x);
  const un = makeGoal('multiclass', k, img.labels);
  const met = goalMetRows(un, un.marginRows(un.viewRows(logits)));
  let wrong = 0;
  for (let i = 0; i < img.n; i++) {
    assert.equal(met[i], pred[i] !== img.labels[i] ? 1 : 0, `image ${i}`);
    assert.equal(metByPrediction(pred[i], img.labels[i]), met[i] === 1);
    wrong += met[i];
  }
  assert.ok(wrong > 0 && wrong < img.n, `${wrong}/${img.n} misclassified: both outcomes occur`);

  const t = 2;
  const tg = makeGoal('multiclass', k, img.labels, { kind: 'targeted', target: t });
  const m = tg.marginRows(tg.viewRows(logits));
  let hit = 0;
  let trivial = 0;
  for (let i = 0; i < img.n; i++) {
    const expected = pred[i] === t && img.labels[i] !== t;
    assert.equal(goalMet(tg, i, m[i]), expected, `image ${i}`);
    assert.equal(metByPrediction(pred[i], img.labels[i], t), expected);
    if (expected) hit++;
    if (atTarget(tg, i)) {
      trivial++;
      assert.equal(goalMet(tg, i, m[i]), false, 'a sample of the target class is never a success');
    }
  }
  assert.ok(trivial > 0, 'some images already are of the target class');
  assert.ok(
    pred.some((p, i) => p === t && img.labels[i] === t),
    'some of them are predicted as the target, and still do not count',
  );
  console.log(
    `retina: ${wrong}/${img.n} misclassified, ${hit} predicted as grade ${t} with another label, ` +
      `${trivial} of grade ${t}`,
  );
});

test('binary (PneumoniaMNIST, adversarially trained CNN): untargeted and targeted "other" are one flip', async () => {
  const model = await loadClassifier(path.join(ROOT, 'models', 'adv-cnn'));
  const data = await loadDataset('pneumoniamnist');
  const img = selectImages(data.splits.test, 128, 0);
  const { logits, pred } = await predictions(model, img.x);
  const un = makeGoal('binary', model.classes.length, img.labels);
  const other = makeGoal('binary', model.classes.length, img.labels, { kind: 'targeted', target: 'other' });
  const a = goalMetRows(un, un.marginRows(un.viewRows(logits)));
  const b = goalMetRows(other, other.marginRows(other.viewRows(logits)));
  assert.deepEqual(a, b);
  for (let i = 0; i < img.n; i++) assert.equal(a[i], pred[i] !== img.labels[i] ? 1 : 0, `image ${i}`);
  assert.ok(a.some((v) => v === 1) && a.some((v) => v === 0));
});

test("an attack's success is the rule at its adversarial images", async () => {
  const fx = await retina();
  const img = testImages(fx, 48, 5);
  const _k = fx.model.classes.length;
  for (const criterion of [{ kind: 'untargeted' as const }, { kind: 'targeted' as const, target: 0 }]) {
    const r = await getAttack('fgsm').run(fx.model, img.x, img.labels, { eps: 4 / 255, criterion });
    const { pred } = await predictions(fx.model, r.xAdv);
    const expected = Uint8Array.from(pred, (p, i) =>
      metByPrediction(p, img.labels[i], criterion.kind === 'targeted' ? criterion.target : undefined) ? 1 : 0,
    );
    assert.deepEqual(r.success, expected, criterion.kind);
  }
});
