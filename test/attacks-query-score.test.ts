/**
 * Score-based query attacks (Square L∞/L2, SimBA, SimBA-DCT, NES) on real images: chest X-rays
 * (PneumoniaMNIST, small CNN) and fundus photographs (RetinaMNIST, 5 grades). Checked here, not
 * trusted: images stay in [0,1] and the ε ball, query counting is exact under a small budget (a
 * wrapper counts every image the target sees), the seed fixes the answer, a label-only target is
 * refused, Square is close to white-box PGD, and targeted runs reach the asked grade.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initEngine } from '../src/engine/index.js';
import { ATTACKS } from '../src/attacks/registry.js';
import { withinBall } from '../src/attacks/project.js';
import { ModelTarget, type Target } from '../src/attacks/targets/target.js';
import type { QueryAttack } from '../src/attacks/query.js';
import { pSelection, squareAttack } from '../src/attacks/algorithms/square.js';
import { judge, probabilities } from '../src/eval/robustness.js';
import type { Classifier } from '../src/models/model.js';
import { pneumonia, retina, testImages, type Fixture } from './attacks-fixture.js';

// Query attacks send many small batches; one engine thread is the fastest for them on a busy machine.
await initEngine({ threads: 1 });
const pn = await pneumonia();
const rt = await retina();
const SCORE = ['square', 'simba', 'simba-dct', 'nes'] as const;
const attack = (name: string): QueryAttack => ATTACKS[name] as QueryAttack;

/** Correctly classified images among a seeded test sample (what an attack is measured on). */
async function correct(
  fx: Fixture,
  n: number,
  seed: number,
): Promise<{ x: Float32Array; y: Int32Array; n: number; d: number }> {
  const img = testImages(fx, n, seed);
  const d = img.x.length / img.n;
  const ok = judge(fx.model, await probabilities(fx.model, img.x, img.n), img.labels, img.n).correct;
  const idx = Array.from(ok).flatMap((v, i) => (v ? [i] : []));
  const x = new Float32Array(idx.length * d);
  idx.forEach((i, r) => x.set(img.x.subarray(i * d, (i + 1) * d), r * d));
  return { x, y: Int32Array.from(idx, (i) => img.labels[i]), n: idx.length, d };
}

/** A probability target that counts every image it is sent and checks each is inside [0,1]. */
class Counting implements Target {
  readonly inner: ModelTarget;
  images = 0;
  calls = 0;
  outside = 0;
  constructor(model: Classifier) {
    this.inner = new ModelTarget(model);
  }
  get kind() {
    return this.inner.kind;
  }
  get name() {
    return this.inner.name;
  }
  get inputShape() {
    return this.inner.inputShape;
  }
  get classes() {
    return this.inner.classes;
  }
  get task() {
    return this.inner.task;
  }
  get output() {
    return this.inner.output;
  }
  get queries() {
    return this.inner.queries;
  }
  predictProbs(x: Float32Array, n: number): Promise<Float32Array> {
    this.images += n;
    this.calls++;
    for (const v of x) if (!(v >= 0 && v <= 1)) this.outside++;
    return this.inner.predictProbs(x, n);
  }
}

/** Margin < 0 ⇔ the model's prediction meets the criterion (argmax ≠ y, or = t). */
async function predictions(model: Classifier, x: Float32Array, n: number): Promise<number[]> {
  const p = await probabilities(model, x, n);
  const k = model.classes.length;
  return Array.from({ length: n }, (_, i) => {
    let c = 0;
    for (let j = 1; j < k; j++) if (p[i * k + j] > p[i * k + c]) c = j;
    return c;
  });
}

test('Square L∞ at 8/255 with 5000 queries reaches ≥ 90 % of white-box PGD-20 success (32 chest X-rays)', async () => {
  const b = await correct(pn, 32, 1);
  const eps = 8 / 255;
  const wb = await ATTACKS.pgd.run(pn.model as never, b.x, b.y, { eps, steps: 20, seed: 0 });
  const sq = await attack('square').run(pn.model, b.x, b.y, { eps, seed: 0, maxQueries: 5000 });
  const rate = (s: Uint8Array): number => s.reduce((a, v) => a + v, 0) / b.n;
  assert.ok(b.n >= 20, `${b.n} correctly classified images`);
  assert.ok(rate(sq.success) >= 0.9 * rate(wb.success), `square ${rate(sq.success)} vs PGD ${rate(wb.success)}`);
  assert.ok(withinBall(b.x, sq.xAdv, b.d, 'linf', eps));
  // Success as the attack saw it is what the model says about xAdv.
  const pred = await predictions(pn.model, sq.xAdv, b.n);
  sq.success.forEach((s, i) => {
    if (s) assert.notEqual(pred[i], b.y[i]);
  });
  const q = Array.from(sq.queriesPerSample!).filter((_, i) => sq.success[i]);
  assert.ok(q.every((v) => v >= 1 && v <= 5000));
});

for (const [label, fx, seed] of [
  ['chest X-rays', pn, 2],
  ['fundus photographs', rt, 3],
] as const) {
  for (const name of SCORE) {
    for (const norm of attack(name).norms) {
      test(`${name} ${norm} on ${label}: exact query count under a budget of 50, in the ball, seeded`, async () => {
        const b = await correct(fx, 12, seed);
        const eps = norm === 'linf' ? 2 / 255 : 0.3;
        const run = async (): Promise<{ r: Awaited<ReturnType<QueryAttack['run']>>; t: Counting }> => {
          const t = new Counting(fx.model);
          return { r: await attack(name).run(t, b.x, b.y, { eps, norm, seed: 7, maxQueries: 50 }), t };
        };
        const { r, t } = await run();
        const per = r.queriesPerSample!;
        assert.equal(
          t.images,
          per.reduce((a, v) => a + v, 0),
          'every image sent is counted',
        );
        assert.equal(r.queries.forward, t.images);
        assert.ok(
          per.every((v) => v <= 50),
          `budget exceeded: ${Array.from(per)}`,
        );
        assert.ok(
          per.some((v, i) => !r.success[i] && v >= 48),
          `no image used up its budget: ${Array.from(per)}`,
        );
        assert.equal(t.outside, 0, 'every image sent lies in [0,1]');
        assert.ok(t.calls < 2 * 50 + 2, `images are batched: ${t.calls} target calls`);
        assert.ok(withinBall(b.x, r.xAdv, b.d, norm, eps));
        const pred = await predictions(fx.model, r.xAdv, b.n);
        r.success.forEach((s, i) => {
          if (s) assert.notEqual(pred[i], b.y[i]);
        });
        const again = await run();
        assert.deepEqual(again.r.xAdv, r.xAdv, 'same seed, same images');
        assert.deepEqual(again.r.queriesPerSample, per);
      });
    }
  }
}

test('score-based attacks refuse a label-only target with a clear error', async () => {
  const b = await correct(pn, 4, 4);
  for (const name of SCORE) {
    await assert.rejects(
      attack(name).run(new ModelTarget(pn.model, 'label'), b.x, b.y, { eps: 8 / 255, maxQueries: 10 }),
      (e: Error) => e.name === 'MedshieldError' && /needs probabilities.*labels only/.test(e.message),
      name,
    );
  }
});

test('targeted Square, SimBA-DCT and NES reach an explicit grade on fundus photographs', async () => {
  const b = await correct(rt, 24, 5);
  const t = 0;
  const keep = Array.from(b.y).flatMap((v, i) => (v !== t ? [i] : []));
  const x = new Float32Array(keep.length * b.d);
  keep.forEach((i, r) => x.set(b.x.subarray(i * b.d, (i + 1) * b.d), r * b.d));
  const y = Int32Array.from(keep, (i) => b.y[i]);
  assert.ok(keep.length >= 3, `${keep.length} images of another grade`);
  for (const [name, norm, eps, maxQueries] of [
    ['square', 'linf', 16 / 255, 1000],
    ['simba-dct', 'l2', 2, 1000],
    ['nes', 'linf', 16 / 255, 1000],
  ] as const) {
    const r = await attack(name).run(rt.model, x, y, {
      eps,
      norm,
      seed: 0,
      maxQueries,
      criterion: { kind: 'targeted', target: t },
    });
    assert.ok(withinBall(x, r.xAdv, b.d, norm, eps));
    const pred = await predictions(rt.model, r.xAdv, y.length);
    const hits = pred.filter((p, i) => r.success[i] && p === t).length;
    assert.ok(hits >= 1, `${name}: no image reached grade ${t}`);
    r.success.forEach((s, i) => {
      if (s) assert.equal(pred[i], t, name);
    });
  }
});

test("Square's p schedule: the paper's halvings on a 10 000-query scale, rescaled to the budget", () => {
  assert.equal(pSelection(0.05, 0, 10000), 0.05);
  assert.equal(pSelection(0.05, 11, 10000), 0.025);
  assert.equal(pSelection(0.05, 9999, 10000), 0.05 / 512);
  assert.equal(pSelection(0.05, 6, 5000), 0.025, 'iteration 6 of 5000 is 12 of 10 000');
  assert.equal(pSelection(0.8, 4999, 10000), 0.8 / 128, "AutoAttack's unscaled schedule at its last query");
});

test("AutoAttack's Square (p_init 0.8, unscaled schedule) runs and a bad p_init is refused", async () => {
  const b = await correct(pn, 32, 1);
  const r = await squareAttack({ rescaleSchedule: false }).run(pn.model, b.x, b.y, {
    eps: 8 / 255,
    pInit: 0.8,
    seed: 0,
    maxQueries: 1000,
  });
  assert.ok(withinBall(b.x, r.xAdv, b.d, 'linf', 8 / 255));
  assert.ok(r.success.reduce((a, v) => a + v, 0) >= b.n / 4, `${r.success.reduce((a, v) => a + v, 0)} of ${b.n}`);
  await assert.rejects(attack('square').run(pn.model, b.x, b.y, { eps: 8 / 255, pInit: 2 }), /p_init/);
});
